"""The ink of one line of writing split into parts, each a digit, a piece of one, or two digits still to tell apart.

mnist_core.segmentation reads a number from these parts. `find_parts(ink, strokes)` has two steps:

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

The work is bounded on any input: the image size, the ink's runs, the marks and the strokes'
points are checked first (SegmentationError names what is too large), and there are at most
MAX_CUTS cuts per part.
"""

from typing import NamedTuple

import numpy as np

from .errors import MnistCoreError
from .preprocess import INK_THRESHOLD

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
# The parts are found on a grid of cells, one cell per pixel up to this ink height (the page's canvas is 364
# pixels tall) and coarser above it (a photo): the work is bounded, and gaps of a few pixels stay open.
ANALYSIS_HEIGHT = 256
CUT_WIDER_THAN = 0.9       # parts wider than this get cut candidates: a touching pair is at least this wide
MIN_PIECE = 0.15           # a cut leaves at least this much on each side (a 1 is about 0.2 wide)
MAX_CUTS = 3               # cut candidates per part: enough for three digits touching in a row
CUT_ROWS = 64              # cuts are searched on this many rows of blocks: fine enough to pass between strokes
CUT_STEP = 0.1             # a cut's sideways step costs a tenth of crossing a block of ink
SEED_BAND = 0.1            # a cut stays this close (of the part's height) to the column it was seeded at
# Water poured on a part stands at least this deep, above and below together, as a fraction of its height,
# at about 90 % of touching pairs' boundaries, and anywhere in under 15 % of single wide digits
# (bench/bench_numbers.py's numbers): a cut that deep costs segmentation.CUT_FACTOR.
MIN_RESERVOIR = 0.2
# Cuts are seeded from this depth: digits touching along a side (a 1 against a 0's flank) leave only a shallow
# notch above and below; such a cut costs more (segmentation.cut_cost), as most are inside one digit.
SEED_RESERVOIR = 0.15
DEEP_RESERVOIR = 0.6       # ... and from this deep (the median at touching pairs) a cut costs least (cut_cost)
# Stacked marks (one above the other: horizontal overlap of at least STACK_OVERLAP of the narrower,
# vertical overlap of at most STACK_VERTICAL of the shorter) are one digit: a line of digits never stacks.
STACK_OVERLAP = 0.5
STACK_VERTICAL = 0.25
# Strokes within one mark whose horizontal ranges overlap by this much of the narrower are one digit
# (a 4's two strokes, a 7's crossbar); strokes that overlap less are digits drawn touching.
SAME_DIGIT_OVERLAP = 0.5

# Codes of the ink pixels: background and dropped ink, then part k is FIRST_PART + k.
BACKGROUND, DROPPED, FIRST_PART = 0, 1, 2


class SegmentationError(MnistCoreError, ValueError):
    """An ink image or a stroke list that cannot be read as a number within the bounds above."""


class InkParts(NamedTuple):
    """The parts of an ink image, on the grid it was analysed on (find_parts)."""

    ink: np.ndarray            # (H, W) the ink, checked
    inked: np.ndarray          # (H, W) bool, ink above INK_THRESHOLD
    scale: int                 # pixels a side per cell of the grid
    codes: np.ndarray          # (N,) code of each ink cell: DROPPED, or FIRST_PART + its part
    xs: np.ndarray             # (N,) column of each ink cell
    ys: np.ndarray             # (N,) row of each ink cell
    parts: "Parts"             # each part's box (cells) and the marks it holds
    cuts: list                 # (code, code, reservoirs' depth) of each cut through ink
    number_height: float       # the number's height, in cells


def find_parts(ink, strokes=None):
    """Ink (H, W) uint8 or float 0..255, ink high, and optional strokes -> its InkParts, or None without ink.

    The parts are found on a coarser grid, `scale` pixels a side per cell (the ink's height over
    ANALYSIS_HEIGHT, rounded down), where a cell is ink if any of its pixels is.
    """
    ink = _check_ink(ink)
    inked = ink > INK_THRESHOLD
    ink_rows = np.flatnonzero(inked.any(axis=1))
    if ink_rows.size == 0:
        return None
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
    codes, cuts = _cut_wide_parts(codes, xs, ys, number_height, parts)
    return InkParts(ink, inked, scale, codes, xs, ys, parts, cuts, number_height)


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
