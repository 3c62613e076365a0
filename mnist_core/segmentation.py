"""Finding the digits of a written number in an ink image, and reading them with one batch of the model.

A number is one line of digits, written left to right on the page's canvas or on paper (an image
file: mnist_core.images). `read_number(model, ink, strokes)` finds each digit as a box of ink,
prepares it exactly as a single digit is prepared (mnist_core.preprocess.centre_digit) and reads
it; a lone digit gives exactly what the single-digit path gives. Finding the digits has three steps:

1. Marks. The ink (above preprocess.INK_THRESHOLD) is split into 8-connected components, found
   on the ink's row runs. The number's height is the median height of its tall marks, and every
   size below is a fraction of it; marks smaller than SPECK_BELOW of it (dots, stray specks) are
   dropped. With the pen strokes the page records, a mark holding strokes that hardly overlap
   horizontally (two digits drawn touching) is split between them, each pixel to its stroke.
2. Parts. Marks stacked one above the other (a 5's flag, a 1 written in two pieces, a broken
   MNIST digit) are one part. A part too wide to be sure it is one digit is cut where digits
   touch: where the water poured on it would stand deep above and below (the "water reservoir"
   of touching-numeral segmentation), along the path from top to bottom that crosses the least
   ink. Its slices become parts.
3. Digits. Ordered left to right, every run of up to MAX_PARTS consecutive parts that could be
   one digit (not too wide, tall enough, its parts touching or overlapping) is a candidate, and
   all candidates are prepared and read in one batch. Dynamic programming then picks the
   grouping whose digits the model is surest of, as postcode readers choose among segmentation
   hypotheses: the highest product of the digits' top probabilities, times priors from MNIST's
   digit shapes (a digit read as a 4 but as wide as two is implausible; so is a digit whose ink
   spans a third of the number's height), CUT_FACTOR per cut through ink and JOIN_FACTOR per
   join of inks that do not touch. Small parts may be left out (SKIP_PROBABILITY), so that a
   dash or a stray stroke does not become a digit.

Candidates are few where digits are apart: one per digit when gaps separate them, so that a
number costs little more than its digits read one by one. The work is bounded on any input: the
image size, the ink's runs, the marks and the strokes' points are checked first
(SegmentationError names what is too large), there are at most MAX_CUTS cuts per part and
MAX_PARTS parts per candidate. What this cannot read: digits joined by one cursive stroke are cut
only where water would stand between them, and a number over several lines is read as one line.
"""

import numpy as np

from .errors import MnistCoreError
from .mnist import IMAGE_SIZE
from .prediction import describe
from .preprocess import INK_THRESHOLD, centre_digit

# Bounds, so that a hostile image or stroke list fails with one line instead of exhausting memory.
MAX_PIXELS = 1 << 24       # 16.7 million: a 12-megapixel photo fits; per-pixel arrays stay under 100 MB
MAX_RUNS = 1 << 18         # row runs of ink; a canvas of writing has a few thousand, noise has millions
MAX_MARKS = 96             # marks after dropping specks: a 20-digit number of broken digits fits
MAX_STROKES = 1024         # a number of 20 digits drawn in 50 strokes each
MAX_STROKE_POINTS = 1 << 16  # the page records one point per pointer event: a minute of drawing
MAX_STROKE_SAMPLES = 1 << 20  # centre-line samples of all strokes (1 px apart, coarser beyond this)
NEAREST_CHUNK = 1 << 22    # pixel-to-sample distances computed at once when strokes split a mark (32 MB)

# Sizes relative to the number's height (the median height of its tall marks).
TALL_MARK = 0.5            # marks at least this fraction of the tallest one set the number's height
SPECK_BELOW = 0.12         # a mark whose longer side is shorter than this is a dot or a speck
MIN_MARK = 8               # ... and so is one under 8 pixels: a digit is read at 20 (MNIST's), noise is a few
# The digits are found on a grid of cells, one cell per pixel up to this ink height (the page's canvas is 364
# pixels tall) and coarser above it (a photo): the work is bounded, and gaps of a few pixels stay open.
ANALYSIS_HEIGHT = 256
MIN_DIGIT_HEIGHT = 0.4     # a candidate digit shorter than this is a piece (a flag, a crossbar), not a digit
PIECE_HEIGHT = 0.6         # parts shorter than this may be pieces: they join digits near them, or are left out
MAX_DIGIT_WIDTH = 1.8      # MNIST's widest 1 % of 2s and 5s are 1.67 times as wide as tall
CUT_WIDER_THAN = 0.9       # parts wider than this get cut candidates: a touching pair is at least this wide
MIN_PIECE = 0.15           # a cut leaves at least this much on each side (a 1 is about 0.2 wide)
MAX_CUTS = 3               # cut candidates per part: enough for three digits touching in a row
CUT_ROWS = 64              # cuts are searched on this many rows of blocks: fine enough to pass between strokes
CUT_STEP = 0.1             # a cut's sideways step costs a tenth of crossing a block of ink
SEED_BAND = 0.1            # a cut stays this close (of the part's height) to the column it was seeded at
# Water poured on a part stands at least this deep, above and below together, as a fraction of its height,
# at about 90 % of touching pairs' boundaries, and anywhere in under 15 % of single wide digits
# (bench/bench_numbers.py's numbers): a cut that deep costs CUT_FACTOR.
MIN_RESERVOIR = 0.2
# Cuts are seeded from this depth: digits touching along a side (a 1 against a 0's flank) leave only a shallow
# notch above and below; such a cut costs down to SHALLOW_CUT_FACTOR (cut_cost), as most are inside one digit.
SEED_RESERVOIR = 0.15
DEEP_RESERVOIR = 0.6       # ... and from this deep (the median at touching pairs) a cut costs DEEP_CUT_FACTOR
# Parts that do not touch may be one digit when they overlap horizontally by this much of the narrower
# (a 7's crossbar, a broken digit's pieces); digits side by side overlap less.
JOIN_OVERLAP = 0.5
SMALL_REACH = 0.25         # how far from a digit a piece too small to be one (a flag, a dash) may lie and join it
# Stacked marks (one above the other: horizontal overlap of at least STACK_OVERLAP of the narrower,
# vertical overlap of at most STACK_VERTICAL of the shorter) are one digit: a line of digits never stacks.
STACK_OVERLAP = 0.5
STACK_VERTICAL = 0.25
# Strokes within one mark whose horizontal ranges overlap by this much of the narrower are one digit
# (a 4's two strokes, a 7's crossbar); strokes that overlap less are digits drawn touching.
SAME_DIGIT_OVERLAP = 0.5
MAX_PARTS = 5              # parts per digit: a broken digit's pieces, or a wide digit's slices

# The segmentation's score besides the model's probabilities (chosen on bench/bench_numbers.py).
CUT_FACTOR = 0.7           # separating touching ink needs the model 1.4 times as sure as keeping it whole
DEEP_CUT_FACTOR = 0.75     # ... a little less where water would stand deep between the two (cut_cost)
SHALLOW_CUT_FACTOR = 0.5   # ... and twice as sure where it would stand only SEED_RESERVOIR deep
JOIN_FACTOR = 0.5          # joining inks that do not touch into one digit needs it twice as sure
SKIP_PROBABILITY = 0.01    # leaving a small part out: only when no digit takes it in at even 1 %
# Width over height of each digit's ink box in MNIST's 60,000 training images (ink above INK_THRESHOLD):
# the median, and the standard deviation of its logarithm. Two digits read as one are wider than one.
MNIST_ASPECT = ((0.95, 0.18), (0.40, 0.43), (1.00, 0.19), (0.80, 0.20), (0.80, 0.20),
                (1.00, 0.23), (0.75, 0.21), (0.80, 0.20), (0.80, 0.21), (0.70, 0.20))
WIDTH_SPREAD = 2.0         # drawn digits vary more than MNIST's: their prior is this much wider
# The middle 80 % of a digit's ink spans at least 0.56 of the number's height in 99 % of MNIST test digits
# and of drawn ones (bench/bench_numbers.py's "gap" numbers); below INK_SPAN a digit is less plausible.
INK_SPAN = 0.6
SPAN_SPREAD = 0.15         # ... in the log: a digit whose ink spans 0.4 of the height is 0.03 times as plausible

# Codes of the ink pixels: background and dropped ink, then part k is FIRST_PART + k.
BACKGROUND, DROPPED, FIRST_PART = 0, 1, 2


class SegmentationError(MnistCoreError, ValueError):
    """An ink image or a stroke list that cannot be read as a number within the bounds above."""


def read_number(model, ink, strokes=None):
    """Ink (H, W) 0..255, ink high -> the number written in it, read by `model`, digits left to right.

    `strokes` (optional): the pen strokes in drawing order, each a sequence of (x, y) points in the
    ink's pixels, or a flat x0, y0, x1, y1, ... sequence (Python or NumPy: convert JavaScript arrays
    first). Returns {"text": "2026", "digits": [{"digit", "probabilities" (10 floats), "sure",
    "box": [x0, y0, x1, y1] (pixels, end exclusive), "image28" (784 bytes, what the model read)}]};
    an image without ink gives {"text": "", "digits": []}.
    """
    return read(model, segment(ink, strokes))


def read(model, hypotheses):
    """The Hypotheses of an ink image, read by `model` in one batch -> read_number's result."""
    if not hypotheses.candidates:
        return {"text": "", "digits": []}
    probabilities = model.predict_proba(hypotheses.images)      # (C, 10) float32, one batch
    digits = []
    for index in hypotheses.choose(probabilities):
        digits.append({**describe(probabilities[index]), "box": list(hypotheses.boxes[index]),
                       "image28": hypotheses.images[index].tobytes()})
    return {"text": "".join(str(d["digit"]) for d in digits), "digits": digits}


class Hypotheses:
    """The candidate digits of one ink image, their 28x28 images, and the choice among them.

    candidates: (first, last) positions of the parts (left to right) each candidate joins;
    boxes: its box (x0, y0, x1, y1); spans: (C,) the rows the middle 80 % of its ink spans;
    images: (C, 28, 28) uint8, prepared by centre_digit;
    number_height: the number's height in pixels; joins: (C,) how many separate inks each
    candidate joins (its parts' touching groups, less one); cuts: the cuts through ink, each as the
    first and last boundary it lies across (boundary k between part positions k and k + 1) and its
    reservoirs' depth; small: (P,) bool, parts short enough to be pieces; whole: True when every
    piece of ink is in one part and none was dropped as a speck (the one candidate's image is then
    the whole image's, as centre_digit prepares it).
    """

    def __init__(self, candidates, boxes, spans, images, number_height, joins, cuts, small, whole=False):
        self.candidates = candidates
        self.boxes = boxes
        self.spans = spans
        self.images = images
        self.number_height = number_height
        self.joins = joins
        self.cuts = cuts
        self.small = small
        self.whole = whole

    def choose(self, probabilities):
        """The model's probabilities for the candidates (C, 10) -> indices of the candidates that make the
        best reading, left to right.

        Dynamic programming over the candidates in order of their last part: best[c] is the highest
        log-score of a reading of the parts up to c's that ends with c. A digit adds the log of its
        top probability and of its priors (width for the digit read, height against the number's),
        and log(JOIN_FACTOR) per separate ink it joins; each cut through ink between two digits adds
        cut_cost (touching strokes split apart cost nothing: the pen lifted between them);
        small parts between digits may be left out at SKIP_PROBABILITY each.
        """
        n, count = len(self.small), len(self.candidates)
        digits = probabilities.argmax(axis=1)
        score = np.log(np.maximum(probabilities.max(axis=1).astype(np.float64), 1e-30))
        score += [width_prior(int(digit), box) + height_prior(span, self.number_height)
                  for digit, box, span in zip(digits, self.boxes, self.spans, strict=True)]
        score += self.joins * np.log(JOIN_FACTOR)
        first = np.array([c[0] for c in self.candidates])
        last = np.array([c[1] for c in self.candidates])
        best = np.full(count, -np.inf)
        back = np.full(count, -1)
        for c in np.argsort(last, kind="stable"):
            best[c] = self._between(0, first[c]) + score[c]
            for p in np.flatnonzero(last < first[c]):
                value = best[p] + self._between(last[p] + 1, first[c]) + score[c]
                if value > best[c]:
                    best[c], back[c] = value, p
        ends = [best[c] + self._between(last[c] + 1, n) for c in range(count)]
        chosen = []
        c = int(np.argmax(ends))
        while c >= 0:
            chosen.append(c)
            c = back[c]
        return chosen[::-1]

    def _between(self, start, stop):
        """log-score of what lies between two digits (or a digit and an end) when parts start..stop-1 are
        left out: -inf unless all are small, SKIP_PROBABILITY each, and cut_cost for each cut between the digits."""
        if not self.small[start:stop].all():
            return -np.inf
        first, last = start - 1, stop - 1                               # the boundaries between the two digits
        crossed = sum(cut_cost(depth) for low, high, depth in self.cuts if low <= last and high >= first)
        return (stop - start) * np.log(SKIP_PROBABILITY) + crossed


def width_prior(digit, box):
    """log of how plausible a box's width is for `digit`: 0 up to MNIST's median width-to-height ratio for
    that digit, then a Gaussian in the log ratio with WIDTH_SPREAD times MNIST's spread. Narrower is not
    penalised: a 1 drawn as one straight stroke is far narrower than MNIST's."""
    median, spread = MNIST_ASPECT[digit]
    excess = max(0.0, np.log((box[2] - box[0]) / (box[3] - box[1]) / median))
    return -0.5 * (excess / (WIDTH_SPREAD * spread)) ** 2


def height_prior(span, number_height):
    """log of how plausible a digit whose ink spans `span` rows (the middle 80 % of its ink) is in the number:
    0 from INK_SPAN of the number's height up, a Gaussian in the log ratio below it. The digits of one
    number are about as tall, and a piece (a 2's base cut off, a flag) has its ink in a few rows."""
    shortfall = max(0.0, np.log(INK_SPAN * number_height / max(span, 1.0)))
    return -0.5 * (shortfall / SPAN_SPREAD) ** 2


def segment(ink, strokes=None):
    """Ink (H, W) uint8 or float 0..255, ink high, and optional strokes -> the Hypotheses (not yet read).

    The digits are found on a coarser grid, `scale` pixels a side per cell (the ink's height over
    ANALYSIS_HEIGHT, rounded down), where a cell is ink if any of its pixels is; each candidate is
    then cut from the ink itself at full resolution.
    """
    ink = _check_ink(ink)
    inked = ink > INK_THRESHOLD
    ink_rows = np.flatnonzero(inked.any(axis=1))
    if ink_rows.size == 0:
        return Hypotheses([], [], np.zeros(0), np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8), 0.0,
                          np.zeros(0, np.int64), [], np.zeros(0, bool))
    scale = max(1, (ink_rows[-1] - ink_rows[0] + 1) // ANALYSIS_HEIGHT)
    grid = _shrink(inked, scale)                                    # (h, w) bool
    height, width = grid.shape
    pixels = np.flatnonzero(grid)                                   # (N,) flat indices of the ink cells, in row order
    rows, starts, stops, run_of_pixel = _runs(pixels, width)
    marks = _components(rows, starts, stops, width)                 # (R,) component of each run
    codes, boxes, number_height = _drop_specks(marks, rows, starts, stops, run_of_pixel, MIN_MARK / scale)
    # Each part's box (x0, y0, x1, y1) in cells, end exclusive, and the marks (connected inks) it holds: parts
    # that share a mark touch.
    parts = Parts(list(boxes), [frozenset([k]) for k in range(len(boxes))])
    ys, xs = np.divmod(pixels, width)
    pen = float(np.median(stops - starts))          # the pen's width: most rows cross a stroke, not run along one
    if strokes is not None:
        samples = _stroke_samples(strokes, ink.shape, scale)
        codes = _split_touching_strokes(codes, pixels, xs, ys, samples, width, pen, parts)
    codes, parts = _merge_stacked(codes, parts)
    codes, cut = _cut_wide_parts(codes, xs, ys, number_height, parts)
    hypotheses = _candidates(ink, inked, scale, codes, xs, ys, parts, cut, number_height)
    hypotheses.whole = len(parts.boxes) == 1 and not (codes == DROPPED).any()
    return hypotheses


class Parts:
    """The parts found so far, by part number (its code less FIRST_PART): boxes, in cells, and marks held."""

    def __init__(self, boxes, marks):
        self.boxes = boxes      # [x0, y0, x1, y1] each
        self.marks = marks      # frozenset of mark numbers each

    def add(self, box, marks):
        """A new part -> its code."""
        self.boxes.append(box)
        self.marks.append(marks)
        return FIRST_PART + len(self.boxes) - 1


def _box_of(xs, ys):
    """The box (x0, y0, x1, y1), end exclusive, of cells at columns xs and rows ys."""
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def _shrink(inked, scale):
    """(H, W) bool -> (ceil(H / scale), ceil(W / scale)) bool: whether each scale x scale cell holds ink."""
    if scale == 1:
        return inked
    h, w = -(-inked.shape[0] // scale), -(-inked.shape[1] // scale)
    padded = np.zeros((h * scale, w * scale), dtype=bool)
    padded[:inked.shape[0], :inked.shape[1]] = inked
    return padded.reshape(h, scale, w, scale).any(axis=(1, 3))


def _check_ink(ink):
    ink = np.asarray(ink)
    if ink.ndim != 2 or ink.size == 0:
        raise SegmentationError(f"expected a 2-D ink image, got shape {ink.shape}")
    if ink.size > MAX_PIXELS:
        raise SegmentationError(f"a {ink.shape[1]}x{ink.shape[0]} image has {ink.size:,} pixels, more than the "
                                f"{MAX_PIXELS:,} a number is read from; scale it down")
    if ink.dtype != np.uint8 and not np.issubdtype(ink.dtype, np.floating):
        raise SegmentationError(f"ink must be uint8 or float (0..255), got {ink.dtype}")
    return ink


def _runs(pixels, width):
    """Flat ink indices (N,), sorted -> the row runs of ink (rows, starts, stops: (R,) int64, stop exclusive)
    and the run of each ink pixel (N,)."""
    new_run = np.ones(pixels.size, dtype=bool)
    new_run[1:] = (np.diff(pixels) != 1) | (pixels[1:] % width == 0)
    n_runs = int(new_run.sum())
    if n_runs > MAX_RUNS:
        raise SegmentationError(f"the ink breaks into {n_runs:,} runs, more than the {MAX_RUNS:,} of a page of "
                                "writing: is it an image of noise, or a photo whose background became ink?")
    run_of_pixel = np.cumsum(new_run) - 1
    firsts = np.flatnonzero(new_run)
    rows, starts = np.divmod(pixels[firsts], width)
    stops = starts + np.diff(np.append(firsts, pixels.size))
    return rows, starts, stops, run_of_pixel


def _components(rows, starts, stops, width):
    """Row runs -> the 8-connected component of each run (R,), numbered 0.. from the top.

    Run b on the next row touches run a when b.start <= a.stop and b.stop >= a.start (8-neighbours
    reach one column further each way); those b are one contiguous range of the runs, found by
    binary search on (row, column) keys. The components are then union-find on the runs, hooking
    each tree's root onto a smaller neighbouring root and compressing paths, all vectorised: each
    round at least halves the trees left in a component, so it takes O(log R) rounds.
    """
    stride = width + 2  # keys row * stride + column stay in row order even one column past either edge
    key_start, key_last = rows * stride + starts, rows * stride + stops - 1
    first = np.searchsorted(key_last, (rows + 1) * stride + starts - 1, side="left")
    end = np.searchsorted(key_start, (rows + 1) * stride + stops, side="right")
    counts = np.maximum(end - first, 0)
    a = np.repeat(np.arange(rows.size), counts)
    b = first[a] + np.arange(a.size) - np.repeat(np.cumsum(counts) - counts, counts)
    parent = np.arange(rows.size)
    while True:
        root_a, root_b = parent[a], parent[b]
        differ = root_a != root_b
        if not differ.any():
            break
        # Each root with a smaller neighbouring root hooks onto one of them (which one does not matter).
        parent[np.maximum(root_a[differ], root_b[differ])] = np.minimum(root_a[differ], root_b[differ])
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return np.unique(parent, return_inverse=True)[1]


def _drop_specks(marks, rows, starts, stops, run_of_pixel, min_mark):
    """Components of the runs -> each ink cell's code (N,), the boxes (K, 4) of the marks kept, the number's
    height in cells.

    Specks (smaller than SPECK_BELOW of the height, or than `min_mark` cells) are DROPPED; the marks
    left are parts FIRST_PART.. in order of their first run.
    """
    order = np.argsort(marks, kind="stable")
    firsts = np.flatnonzero(np.diff(marks[order], prepend=-1))     # each component's first run in `order`
    top = np.minimum.reduceat(rows[order], firsts)
    bottom = np.maximum.reduceat(rows[order], firsts) + 1
    left = np.minimum.reduceat(starts[order], firsts)
    right = np.maximum.reduceat(stops[order], firsts)
    heights, widths = bottom - top, right - left
    number_height = float(np.median(heights[heights >= TALL_MARK * heights.max()]))
    kept = np.maximum(heights, widths) >= max(SPECK_BELOW * number_height, min_mark)
    n_kept = int(kept.sum())
    if n_kept > MAX_MARKS:
        raise SegmentationError(f"the ink holds {n_kept} separate marks, more than the {MAX_MARKS} a number is "
                                "read from: is it one line of digits?")
    code_of_mark = np.where(kept, FIRST_PART + np.cumsum(kept) - 1, DROPPED).astype(np.int32)
    boxes = np.stack([left, top, right, bottom], axis=1)[kept]
    return code_of_mark[marks[run_of_pixel]], boxes.astype(np.int64), number_height


def _stroke_samples(strokes, shape, scale):
    """Strokes (lists of (x, y) pixels) -> their centre lines sampled about a cell apart, in cells of `scale`
    pixels: (stroke index (S,), cell row (S,), cell column (S,)).

    Points are clipped to the image (of `shape` pixels); a stroke of one point is a dot.
    """
    try:
        arrays = [np.asarray(stroke, dtype=np.float64).reshape(-1, 2) for stroke in strokes]
    except (TypeError, ValueError):
        raise SegmentationError("strokes must be lists of (x, y) points") from None
    if len(arrays) > MAX_STROKES:
        raise SegmentationError(f"{len(arrays):,} strokes, more than the {MAX_STROKES:,} of a written number")
    n_points = sum(len(a) for a in arrays)
    if n_points > MAX_STROKE_POINTS:
        raise SegmentationError(f"the strokes hold {n_points:,} points, more than the {MAX_STROKE_POINTS:,} read")
    arrays = [a for a in arrays if len(a)]
    if not arrays or not all(np.isfinite(a).all() for a in arrays):
        if arrays:
            raise SegmentationError("stroke points must be finite numbers")
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    limit = np.array([shape[1] - 1, shape[0] - 1], dtype=np.float64)
    starts, ends, owners = [], [], []
    for index, points in enumerate(arrays):
        points = np.clip(points, 0, limit) / scale
        points = np.vstack([points, points]) if len(points) == 1 else points
        starts.append(points[:-1])
        ends.append(points[1:])
        owners.append(np.full(len(points) - 1, index))
    starts, ends, owners = np.concatenate(starts), np.concatenate(ends), np.concatenate(owners)
    lengths = np.hypot(*(ends - starts).T)
    spacing = max(1.0, float(lengths.sum()) / MAX_STROKE_SAMPLES)
    counts = (np.ceil(lengths / spacing) + 1).astype(np.intp)            # each segment's ends included
    piece = np.repeat(np.arange(len(lengths)), counts)                  # the segment of each sample
    step = np.arange(piece.size) - np.repeat(np.cumsum(counts) - counts, counts)
    points = starts[piece] + (step / np.maximum(counts - 1, 1)[piece])[:, None] * (ends - starts)[piece]
    cells = np.floor(points + 0.5 / scale).astype(np.int64)            # the cell holding each sample's pixel
    return owners[piece], cells[:, 1], cells[:, 0]


def _split_touching_strokes(codes, pixels, xs, ys, samples, width, pen, parts):
    """Split each mark that holds strokes of several digits between them -> the new codes (new parts in `parts`).

    The strokes on one mark are grouped: two whose horizontal ranges (their samples on the mark,
    widened by half the pen) overlap by SAME_DIGIT_OVERLAP of the narrower are one digit. A mark
    with several groups gives each ink pixel to the group whose range alone holds its column, and
    where ranges overlap, to the group with the nearest centre-line sample.
    """
    owner, ys_s, xs_s = samples
    if owner.size == 0:
        return codes
    flat = ys_s * width + xs_s
    found = np.minimum(np.searchsorted(pixels, flat), pixels.size - 1)
    sample_code = np.where(pixels[found] == flat, codes[found], BACKGROUND)          # the mark under each sample
    codes = codes.copy()
    for mark in np.unique(sample_code[sample_code >= FIRST_PART]):
        on_mark = sample_code == mark
        stroke_ids = np.unique(owner[on_mark])
        if stroke_ids.size < 2:
            continue
        order = np.argsort(owner[on_mark], kind="stable")
        firsts = np.flatnonzero(np.diff(owner[on_mark][order], prepend=-1))        # each stroke's first sample
        x_on_mark = xs_s[on_mark][order]
        ranges = np.stack([np.minimum.reduceat(x_on_mark, firsts), np.maximum.reduceat(x_on_mark, firsts)],
                          axis=1).astype(np.float64) + np.array([-pen / 2, pen / 2])
        groups = _overlap_groups(ranges)
        if groups.max() == 0:
            continue
        in_mark = np.flatnonzero(codes == mark)
        group_ranges = np.array([[ranges[groups == g, 0].min(), ranges[groups == g, 1].max()]
                                 for g in range(groups.max() + 1)])
        x = xs[in_mark]
        inside = (x[:, None] >= group_ranges[None, :, 0]) & (x[:, None] <= group_ranges[None, :, 1])   # (M, G)
        centres = group_ranges.mean(axis=1)
        group_of_pixel = np.where(inside.sum(axis=1) == 1, inside.argmax(axis=1),
                                  np.abs(x[:, None] - centres[None, :]).argmin(axis=1))
        ambiguous = np.flatnonzero(inside.sum(axis=1) > 1)
        if ambiguous.size:
            group_of_sample = groups[np.searchsorted(stroke_ids, owner[on_mark])]
            sy, sx = ys_s[on_mark], xs_s[on_mark]
            near = (sx >= x[ambiguous].min() - pen) & (sx <= x[ambiguous].max() + pen)
            if near.any():
                sy, sx, sg = sy[near], sx[near], group_of_sample[near]
                group_of_pixel[ambiguous] = sg[_nearest(ys[in_mark][ambiguous], x[ambiguous], sy, sx)]
        held = parts.marks[mark - FIRST_PART]
        for g in range(groups.max() + 1):
            mine = in_mark[group_of_pixel == g]
            if mine.size == 0:
                continue
            box = _box_of(xs[mine], ys[mine])
            if g == 0:
                parts.boxes[mark - FIRST_PART] = box
            else:
                codes[mine] = parts.add(box, held)
    return codes


def _overlap_groups(ranges):
    """(K, 2) horizontal ranges -> (K,) group of each, 0.. from the left: ranges overlapping by at least
    SAME_DIGIT_OVERLAP of the narrower one are in the same group (transitively)."""
    k = len(ranges)
    group = np.arange(k)
    for i in range(k):
        for j in range(i + 1, k):
            overlap = min(ranges[i, 1], ranges[j, 1]) - max(ranges[i, 0], ranges[j, 0])
            narrower = min(ranges[i, 1] - ranges[i, 0], ranges[j, 1] - ranges[j, 0])
            if overlap >= SAME_DIGIT_OVERLAP * narrower:
                group[group == group[j]] = group[i]
    order = np.argsort([ranges[group == g, 0].min() for g in np.unique(group)])
    renumber = dict(zip(np.unique(group)[order].tolist(), range(len(order)), strict=True))
    return np.array([renumber[g] for g in group.tolist()])


def _nearest(py, px, sy, sx):
    """For each point (py, px), the index of the nearest of the samples (sy, sx): in chunks of points, so that a
    chunk's distances are at most NEAREST_CHUNK numbers whatever the count of samples."""
    out = np.empty(py.size, dtype=np.int64)
    chunk = max(1, NEAREST_CHUNK // max(sy.size, 1))
    for start in range(0, py.size, chunk):
        d = (py[start:start + chunk, None] - sy[None, :]) ** 2 + (px[start:start + chunk, None] - sx[None, :]) ** 2
        out[start:start + chunk] = d.argmin(axis=1)
    return out


def _merge_stacked(codes, parts):
    """Parts stacked one above the other become one part -> (codes renumbered FIRST_PART.. without gaps, the Parts)."""
    boxes = np.array(parts.boxes, dtype=np.int64).reshape(-1, 4)
    n = len(boxes)
    group = np.arange(n)
    for i in range(n):
        for j in range(i + 1, n):
            across = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
            down = min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1])
            narrower = min(boxes[i, 2] - boxes[i, 0], boxes[j, 2] - boxes[j, 0])
            shorter = min(boxes[i, 3] - boxes[i, 1], boxes[j, 3] - boxes[j, 1])
            if across >= STACK_OVERLAP * narrower and down <= STACK_VERTICAL * shorter:
                group[group == group[j]] = group[i]
    groups, renumber = np.unique(group, return_inverse=True)
    merged = Parts([], [])
    for g in range(len(groups)):
        members = np.flatnonzero(renumber == g)
        merged.add([int(boxes[members, 0].min()), int(boxes[members, 1].min()), int(boxes[members, 2].max()),
                    int(boxes[members, 3].max())], frozenset().union(*(parts.marks[m] for m in members)))
    table = np.concatenate([[BACKGROUND, DROPPED], FIRST_PART + renumber]).astype(codes.dtype)
    return table[codes], merged


def _cut_wide_parts(codes, xs, ys, number_height, parts):
    """Parts wider than CUT_WIDER_THAN get up to MAX_CUTS cuts (_cut_paths); each slice becomes a part.

    Returns the new codes (new parts in `parts`) and, for each cut, the slices next to each other across it
    and the depth of its reservoirs: (code, code, depth).
    """
    codes = codes.copy()
    cut = []
    for part, (x0, y0, x1, y1) in enumerate(list(parts.boxes)):
        if x1 - x0 <= CUT_WIDER_THAN * number_height:
            continue
        mine = np.flatnonzero(codes == FIRST_PART + part)
        local_y, local_x = ys[mine] - y0, xs[mine] - x0
        mask = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        mask[local_y, local_x] = True
        paths, depths = _cut_paths(mask, MIN_PIECE * number_height)
        slice_of_pixel = sum((local_x >= path[local_y]).astype(np.int64) for path in paths)
        previous = None
        for k in range(len(paths) + 1):
            in_slice = mine[slice_of_pixel == k]
            if in_slice.size == 0:                  # a cut at a gap in the ink leaves no empty slice behind
                continue
            box = _box_of(xs[in_slice], ys[in_slice])
            if previous is None:
                parts.boxes[part] = box
                code = FIRST_PART + part
            else:
                code = parts.add(box, parts.marks[part])
                codes[in_slice] = code
                cut.append((previous, code, depths[k - 1]))
            previous = code
    return codes, cut


def cut_cost(depth):
    """log-score of a cut whose seed's reservoirs are `depth` of the part's height deep: log(CUT_FACTOR) at
    MIN_RESERVOIR, rising to log(DEEP_CUT_FACTOR) at DEEP_RESERVOIR (water that deep stands between digits
    more often than inside one), and falling to log(SHALLOW_CUT_FACTOR) at SEED_RESERVOIR."""
    if depth < MIN_RESERVOIR:
        shallow = min(1.0, (MIN_RESERVOIR - depth) / (MIN_RESERVOIR - SEED_RESERVOIR))
        return (1 - shallow) * np.log(CUT_FACTOR) + shallow * np.log(SHALLOW_CUT_FACTOR)
    deep = float(np.clip((depth - MIN_RESERVOIR) / (DEEP_RESERVOIR - MIN_RESERVOIR), 0, 1))
    return (1 - deep) * np.log(CUT_FACTOR) + deep * np.log(DEEP_CUT_FACTOR)


def _cut_paths(mask, piece):
    """A part's ink (h, w) bool -> up to MAX_CUTS cuts, left to right, each (h,) int: the first column right of
    the cut, per row; and the depth of each cut's reservoirs as a fraction of the part's height.

    Where two digits touch, the ink's outline dips between them from above and from below: water
    poured on the part would stand deep there (the "water reservoir" of touching-numeral
    segmentation). The columns where the reservoirs above and below are deepest together, at least
    SEED_RESERVOIR of the part's height, are the seeds, at least `piece` from the part's ends and
    from each other. Each cut is then the path
    through its seed's neighbourhood (SEED_BAND) from the top to the bottom that crosses the least
    ink, found by dynamic programming over rows as seam carving does (each row the path moves at
    most one column, a sideways step costing CUT_STEP). All of it is done on about CUT_ROWS rows of
    square blocks, with the ink's fraction in each block.
    """
    h, w = mask.shape
    block = max(1, -(-h // CUT_ROWS))                                 # rows and columns per block
    hb, wb = -(-h // block), -(-w // block)
    padded = np.zeros((hb * block, wb * block), dtype=np.float32)
    padded[:h, :w] = mask
    cost = padded.reshape(hb, block, wb, block).mean(axis=(1, 3))     # (hb, wb) ink fraction per block
    margin = int(np.ceil(piece / block))
    if wb - 2 * margin < 1:
        return [], []
    inked = cost > 0
    top = np.where(inked.any(axis=0), inked.argmax(axis=0), hb)                  # (wb,) outline from above
    bottom = np.where(inked.any(axis=0), hb - 1 - inked[::-1].argmax(axis=0), -1)  # ... and from below
    # Water level over each column: the lower of the highest outline on its left and on its right.
    depth_above = top - np.maximum(np.minimum.accumulate(top), np.minimum.accumulate(top[::-1])[::-1])
    depth_below = np.minimum(np.maximum.accumulate(bottom), np.maximum.accumulate(bottom[::-1])[::-1]) - bottom
    depth = (depth_above + depth_below).astype(np.float64)
    depth[:margin] = depth[wb - margin:] = -1
    seeds = []
    for column in np.argsort(-depth, kind="stable"):
        if depth[column] < SEED_RESERVOIR * hb or len(seeds) == MAX_CUTS:
            break
        if all(abs(column - seed) * block >= piece for seed in seeds):
            seeds.append(int(column))
    if not seeds:
        return [], []
    band = max(1, int(round(SEED_BAND * h / block)))
    columns = np.array(seeds)[:, None] + np.arange(-band, band + 1)[None, :]       # (K, B) block columns
    allowed = (columns >= margin) & (columns < wb - margin)
    columns = np.clip(columns, 0, wb - 1)
    total = np.where(allowed, cost[0, columns], np.inf)
    step = np.zeros((hb, *columns.shape), dtype=np.int8)              # where each path came from: -1, 0, +1
    edge = np.full((len(seeds), 1), np.inf)
    for row in range(1, hb):
        options = np.stack([np.hstack([edge, total[:, :-1]]) + CUT_STEP, total,
                            np.hstack([total[:, 1:], edge]) + CUT_STEP])
        choice = options.argmin(axis=0)
        step[row] = choice - 1
        total = np.take_along_axis(options, choice[None], axis=0)[0] + np.where(allowed, cost[row, columns], np.inf)
    paths = []
    for k in range(len(seeds)):
        index = np.empty(hb, dtype=np.int64)
        index[-1] = int(total[k].argmin())
        for row in range(hb - 1, 0, -1):
            index[row - 1] = index[row] + step[row, k, index[row]]
        path = columns[k, index]
        paths.append((np.repeat(path, block)[:h]) * block + block // 2)   # back in the part's pixels
    order = np.argsort([path.mean() for path in paths], kind="stable")
    return [paths[k] for k in order], [float(depth[seeds[k]]) / hb for k in order]


def _candidates(ink, inked, scale, codes, xs, ys, parts, cut, number_height):
    """Parts (codes of the grid's ink cells), and the pairs of them a cut separates -> the candidate digits
    (runs of consecutive parts, left to right), each cut from the ink at full resolution and prepared as a digit."""
    height, width = -(-ink.shape[0] // scale), -(-ink.shape[1] // scale)
    boxes = np.array(parts.boxes, dtype=np.int64).reshape(-1, 4)   # in cells
    n = len(boxes)
    kept = codes >= FIRST_PART
    mass = np.bincount(codes[kept] - FIRST_PART, minlength=n)
    centre_x = np.bincount(codes[kept] - FIRST_PART, weights=xs[kept], minlength=n) / np.maximum(mass, 1)
    order = np.argsort(centre_x, kind="stable")                   # position -> part
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    owner = np.zeros((height, width), dtype=np.int32)              # the code of each cell, as an image
    owner.reshape(-1)[ys * width + xs] = codes
    marks = [parts.marks[part] for part in order]
    touching = np.array([[bool(a & b) for b in marks] for a in marks], dtype=bool).reshape(n, n)
    boxes = boxes[order]
    joinable = _joinable(boxes, touching, number_height)
    cuts = []                                                       # (first, last boundary a cut lies across, depth)
    for a, b, depth in cut:
        low, high = sorted((position[a - FIRST_PART], position[b - FIRST_PART]))
        cuts.append((low, high - 1, depth))
    small = (boxes[:, 3] - boxes[:, 1]) < PIECE_HEIGHT * number_height
    ink_rows = np.bincount((codes[kept] - FIRST_PART) * height + ys[kept], minlength=n * height).reshape(n, height)
    ink_rows = ink_rows[order]                                      # (P, h) ink cells per row of each part
    candidates, spans, joins = [], [], []
    for first in range(n):
        for last in range(first, min(n, first + MAX_PARTS)):
            box = _union_box(boxes[first:last + 1])
            if last > first and box[2] - box[0] > MAX_DIGIT_WIDTH * number_height:
                break
            run = slice(first, last + 1)
            if box[3] - box[1] < MIN_DIGIT_HEIGHT * number_height or _groups(joinable[run, run]) > 1:
                continue
            candidates.append((first, last))
            joins.append(_groups(touching[run, run]) - 1)
            spans.append(_ink_span(ink_rows[run].sum(axis=0)) * scale)
    images = np.zeros((len(candidates), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    pixel_boxes = []
    for index, (first, last) in enumerate(candidates):
        keep = np.zeros(FIRST_PART + n, dtype=bool)
        keep[BACKGROUND] = True                                    # faint ink (anti-aliased rims) stays as it is
        keep[FIRST_PART + order[first:last + 1]] = True
        x0, y0, x1, y1 = _union_box(boxes[first:last + 1])
        crop, box = _crop(ink, inked, keep[owner[y0:y1, x0:x1]], scale, x0, y0)
        images[index] = centre_digit(crop)
        pixel_boxes.append(box)
    return Hypotheses(candidates, pixel_boxes, np.array(spans, dtype=np.float64), images, number_height * scale,
                      np.array(joins, dtype=np.int64), cuts, small)


def _ink_span(ink_per_row):
    """How many rows the middle 80 % of the ink spans, from its count of ink cells per row."""
    cumulative = np.cumsum(ink_per_row)
    low, high = np.searchsorted(cumulative, [0.1 * cumulative[-1], 0.9 * cumulative[-1]])
    return float(high - low + 1)


def _crop(ink, inked, keep, scale, x0, y0):
    """The ink of the cells `keep` (h, w) bool, whose corner is cell (y0, x0) -> (its ink, cropped to it and with
    every other part's ink zeroed; its box (x0, y0, x1, y1) in pixels, end exclusive)."""
    if scale > 1:
        keep = keep.repeat(scale, axis=0).repeat(scale, axis=1)
    top, left = y0 * scale, x0 * scale
    keep = keep[:ink.shape[0] - top, :ink.shape[1] - left]
    region = (slice(top, top + keep.shape[0]), slice(left, left + keep.shape[1]))
    crop = np.where(keep, ink[region], 0)
    mine = keep & inked[region]
    rows, cols = np.flatnonzero(mine.any(axis=1)), np.flatnonzero(mine.any(axis=0))
    crop = crop[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return crop, (int(left + cols[0]), int(top + rows[0]), int(left + cols[-1] + 1), int(top + rows[-1] + 1))


def _joinable(boxes, touching, number_height):
    """(P, P) bool: which parts may be pieces of one digit. Parts whose ink touches (slices of a cut,
    strokes split apart); parts that overlap horizontally by JOIN_OVERLAP of the narrower, or at all
    when one is above the other; and a part too small to be a digit with any part at most SMALL_REACH
    away horizontally (a 5's flag written apart). Digits side by side are not joined otherwise."""
    x0, y0, x1, y1 = boxes.T
    across = np.minimum(x1[:, None], x1[None, :]) - np.maximum(x0[:, None], x0[None, :])
    down = np.minimum(y1[:, None], y1[None, :]) - np.maximum(y0[:, None], y0[None, :])
    narrower = np.minimum((x1 - x0)[:, None], (x1 - x0)[None, :])
    shorter = np.minimum((y1 - y0)[:, None], (y1 - y0)[None, :])
    small = (y1 - y0) < PIECE_HEIGHT * number_height
    near = (small[:, None] | small[None, :]) & (across >= -SMALL_REACH * number_height)
    return touching | near | (across >= JOIN_OVERLAP * narrower) | ((across > 0) & (down <= STACK_VERTICAL * shorter))


def _groups(linked):
    """How many connected groups the parts of a (k, k) bool matrix of links form."""
    unreached = np.ones(len(linked), dtype=bool)
    groups = 0
    while unreached.any():
        groups += 1
        reached = np.zeros(len(linked), dtype=bool)
        reached[int(unreached.argmax())] = True
        while True:
            grown = linked[reached].any(axis=0) | reached
            if (grown == reached).all():
                break
            reached = grown
        unreached &= ~reached
    return groups


def _union_box(boxes):
    return (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
