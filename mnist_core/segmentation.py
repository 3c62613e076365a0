"""Finding the digits of a written number in an ink image, and reading them with one batch of the model.

A number is one line of digits, written left to right on the page's canvas or on paper (an image
file: mnist_core.images). `read_number(model, ink, strokes)` finds each digit as a box of ink,
prepares it exactly as a single digit is prepared (mnist_core.preprocess.centre_digit) and reads
it; a lone digit gives exactly what the single-digit path gives. The ink is first split into parts
(mnist_core.ink_parts: marks, specks dropped, stacked marks joined, touching digits cut); then:

Digits. Ordered left to right, every run of up to MAX_PARTS consecutive parts that could be one
digit (not too wide, tall enough, its parts touching or overlapping) is a candidate, and all
candidates are prepared and read in one batch. Dynamic programming then picks the grouping whose
digits the model is surest of, as postcode readers choose among segmentation hypotheses: the
highest product of the digits' top probabilities, times priors from MNIST's digit shapes (a digit
read as a 4 but as wide as two is implausible; so is a digit whose ink spans a third of the
number's height), CUT_FACTOR per cut through ink and JOIN_FACTOR per join of inks that do not
touch. Small parts may be left out (SKIP_PROBABILITY), so that a dash or a stray stroke does not
become a digit.

Candidates are few where digits are apart: one per digit when gaps separate them, so that a
number costs little more than its digits read one by one. The work is bounded on any input (the
parts' bounds, and at most MAX_PARTS parts per candidate). What this cannot read: digits joined by
one cursive stroke are cut only where water would stand between them, and a number over several
lines is read as one line.
"""

import numpy as np

from .ink_cuts import DEEP_RESERVOIR, MIN_RESERVOIR, SEED_RESERVOIR
from .ink_marks import BACKGROUND, DROPPED, FIRST_PART, SegmentationError
from .ink_parts import STACK_VERTICAL, find_parts
from .mnist import IMAGE_SIZE
from .prediction import describe
from .preprocess import centre_digit

# Sizes relative to the number's height (the median height of its tall marks).
MIN_DIGIT_HEIGHT = 0.4     # a candidate digit shorter than this is a piece (a flag, a crossbar), not a digit
PIECE_HEIGHT = 0.6         # parts shorter than this may be pieces: they join digits near them, or are left out
MAX_DIGIT_WIDTH = 1.8      # MNIST's widest 1 % of 2s and 5s are 1.67 times as wide as tall
# Parts that do not touch may be one digit when they overlap horizontally by this much of the narrower
# (a 7's crossbar, a broken digit's pieces); digits side by side overlap less.
JOIN_OVERLAP = 0.5
SMALL_REACH = 0.25         # how far from a digit a piece too small to be one (a flag, a dash) may lie and join it
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
    """Ink (H, W) uint8 or float 0..255, ink high, and optional strokes -> the Hypotheses (not yet read): the
    parts ink_parts.find_parts finds, and every run of them that could be a digit, cut from the ink itself at
    full resolution."""
    found = find_parts(ink, strokes)
    if found is None:
        return Hypotheses([], [], np.zeros(0), np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8), 0.0,
                          np.zeros(0, np.int64), [], np.zeros(0, bool))
    hypotheses = _candidates(*found)
    hypotheses.whole = len(found.parts.boxes) == 1 and not (found.codes == DROPPED).any()
    return hypotheses


def cut_cost(depth):
    """log-score of a cut whose seed's reservoirs are `depth` of the part's height deep: log(CUT_FACTOR) at
    MIN_RESERVOIR, rising to log(DEEP_CUT_FACTOR) at DEEP_RESERVOIR (water that deep stands between digits
    more often than inside one), and falling to log(SHALLOW_CUT_FACTOR) at SEED_RESERVOIR."""
    if depth < MIN_RESERVOIR:
        shallow = min(1.0, (MIN_RESERVOIR - depth) / (MIN_RESERVOIR - SEED_RESERVOIR))
        return (1 - shallow) * np.log(CUT_FACTOR) + shallow * np.log(SHALLOW_CUT_FACTOR)
    deep = float(np.clip((depth - MIN_RESERVOIR) / (DEEP_RESERVOIR - MIN_RESERVOIR), 0, 1))
    return (1 - deep) * np.log(CUT_FACTOR) + deep * np.log(DEEP_CUT_FACTOR)


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


__all__ = ["SegmentationError", "read", "read_number", "segment"]
