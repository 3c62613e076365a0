"""A part too wide to be sure it is one digit, cut where digits touch.

Where two digits touch, the ink's outline dips between them from above and from below: water
poured on the part would stand deep there (the "water reservoir" of touching-numeral
segmentation). Each cut follows the path from top to bottom that crosses the least ink near such
a place, and the part's slices become parts (cut_wide_parts); mnist_core.segmentation weighs each
cut by its reservoirs' depth. There are at most MAX_CUTS cuts per part.
"""

import numpy as np

from .ink_marks import FIRST_PART, box_of

# Sizes relative to the number's height (the median height of its tall marks).
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


def cut_wide_parts(codes, xs, ys, number_height, parts):
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
            box = box_of(xs[in_slice], ys[in_slice])
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
