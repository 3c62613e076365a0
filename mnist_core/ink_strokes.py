"""A mark split between the pen strokes drawn on it: two digits drawn touching are one mark, but not one stroke.

The page records the strokes as they are drawn (mnist_core.ink_parts passes them on). Their centre
lines are sampled about a cell apart (stroke_samples); the strokes on one mark are grouped by how
much their horizontal ranges overlap, and a mark with several groups gives each ink cell to one of
them (split_touching_strokes). The strokes' count and points are bounded first.
"""

import numpy as np

from .ink_marks import BACKGROUND, FIRST_PART, SegmentationError, box_of

# Bounds, so that a hostile stroke list fails with one line instead of exhausting memory.
MAX_STROKES = 1024         # a number of 20 digits drawn in 50 strokes each
MAX_STROKE_POINTS = 1 << 16  # the page records one point per pointer event: a minute of drawing
MAX_STROKE_SAMPLES = 1 << 20  # centre-line samples of all strokes (1 px apart, coarser beyond this)
NEAREST_CHUNK = 1 << 22    # pixel-to-sample distances computed at once when strokes split a mark (32 MB)
# Strokes within one mark whose horizontal ranges overlap by this much of the narrower are one digit
# (a 4's two strokes, a 7's crossbar); strokes that overlap less are digits drawn touching.
SAME_DIGIT_OVERLAP = 0.5


def stroke_samples(strokes, shape, scale):
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


def split_touching_strokes(codes, pixels, xs, ys, samples, width, pen, parts):
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
            box = box_of(xs[mine], ys[mine])
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
