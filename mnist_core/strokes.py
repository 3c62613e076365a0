"""Digits as pen strokes: the skeleton of an image, the strokes traced along it, and strokes drawn back as ink.

A person drawing on the page makes strokes of one width with a round brush, often with straight
pieces and sharp turns; MNIST's digits were written with a pen on paper and scanned, with ink of
varying width and smooth curves. This module turns one into the other, so that training
(mnist_core.training.augment), preparation (mnist_core.preprocess) and the drawn-digit benchmark
(bench/bench_drawn.py) can all speak in strokes:

  skeletonize(images)       (N, H, W) ink -> (N, H, W) bool one-pixel-wide centre lines (Zhang-Suen)
  trace(skeleton)           one skeleton -> its strokes, each a (K, 2) array of (y, x) points
  simplify / resample       fewer points: straight pieces and angular turns, as a tablet records them
  join(strokes)             the strokes in writing order as one trajectory, the pen's travel included
  render(strokes, ...)      strokes drawn with a round brush of a given width, anti-aliased, as ink in [0, 1]

Everything is NumPy on the host (the strokes are small, irregular per-image data); the batch
work, thinning, is vectorised over images.
"""

import numpy as np

# Zhang-Suen thinning decides from the 8 neighbours of a pixel, encoded as one byte: bit k is
# neighbour k, clockwise from north (P2..P9 in Zhang and Suen's 1984 paper).
_NEIGHBOURS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))
MAX_THINNING_PASSES = 40


def _thinning_tables():
    """Two lookup tables (256,) bool: may the centre pixel go, in the first and in the second sub-pass."""
    codes = np.arange(256)
    bits = (codes[:, None] >> np.arange(8)) & 1                     # (256, 8): P2..P9
    count = bits.sum(axis=1)
    transitions = ((bits == 0) & (np.roll(bits, -1, axis=1) == 1)).sum(axis=1)
    p2, p4, p6, p8 = bits[:, 0], bits[:, 2], bits[:, 4], bits[:, 6]
    common = (count >= 2) & (count <= 6) & (transitions == 1)
    first = common & (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
    second = common & (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
    return first, second


_FIRST_PASS, _SECOND_PASS = _thinning_tables()


def _neighbour_codes(mask):
    """mask (N, H, W) bool -> (N, H, W) uint8: each pixel's 8 neighbours as bits (outside the image is empty)."""
    n, h, w = mask.shape
    padded = np.zeros((n, h + 2, w + 2), dtype=np.uint8)
    padded[:, 1:-1, 1:-1] = mask
    codes = np.zeros((n, h, w), dtype=np.uint8)
    for bit, (dy, dx) in enumerate(_NEIGHBOURS):
        codes |= padded[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] << np.uint8(bit)
    return codes


def skeletonize(mask):
    """Binary images (N, H, W) (or one (H, W)) -> their skeletons, one pixel wide, 8-connected, as bool.

    Zhang-Suen thinning, both sub-passes table-driven and vectorised over the whole batch; it
    stops when a pass removes nothing (a stroke w pixels wide needs about w/2 passes).
    """
    mask = np.asarray(mask, dtype=bool)
    single = mask.ndim == 2
    skeleton = mask[None].copy() if single else mask.copy()
    for _ in range(MAX_THINNING_PASSES):
        changed = False
        for table in (_FIRST_PASS, _SECOND_PASS):
            remove = skeleton & table[_neighbour_codes(skeleton)]
            if remove.any():
                skeleton &= ~remove
                changed = True
        if not changed:
            break
    return skeleton[0] if single else skeleton


def _adjacency(points):
    """Neighbours of each skeleton pixel: 4-neighbours always, diagonal ones only where no 4-neighbour
    links the two already (so that an L-shaped corner is one path, not a triangle)."""
    present = set(points)
    adjacent = {}
    for y, x in points:
        found = [(y + dy, x + dx) for dy, dx in ((-1, 0), (0, 1), (1, 0), (0, -1)) if (y + dy, x + dx) in present]
        for dy, dx in ((-1, 1), (1, 1), (1, -1), (-1, -1)):
            if (y + dy, x + dx) in present and (y + dy, x) not in present and (y, x + dx) not in present:
                found.append((y + dy, x + dx))
        adjacent[(y, x)] = found
    return adjacent


def trace(skeleton, min_length=2.0):
    """One skeleton (H, W) bool -> its strokes: a list of (K, 2) float arrays of (y, x) pixel centres.

    The skeleton is cut at its ends and junctions into paths; a closed loop with neither is one
    stroke that returns to its start. Spurs shorter than `min_length` pixels that end in nothing
    (thinning leaves them at corners) are dropped.
    """
    points = list(zip(*np.nonzero(skeleton), strict=True))
    if not points:
        return []
    adjacent = _adjacency(points)
    nodes = {p for p, found in adjacent.items() if len(found) != 2}
    used = set()  # undirected edges walked so far
    strokes = []

    def walk(start, first):
        path = [start, first]
        used.add(frozenset((start, first)))
        while path[-1] not in nodes:
            following = [q for q in adjacent[path[-1]] if frozenset((path[-1], q)) not in used]
            if not following:
                break
            used.add(frozenset((path[-1], following[0])))
            path.append(following[0])
            if following[0] == start:
                break
        return path

    for node in sorted(nodes):
        for neighbour in adjacent[node]:
            if frozenset((node, neighbour)) not in used:
                strokes.append(walk(node, neighbour))
    for p in points:  # what is left are loops without ends or junctions (a 0, the loop of a 6)
        for neighbour in adjacent[p]:
            if frozenset((p, neighbour)) not in used:
                strokes.append(walk(p, neighbour))
    if len(nodes) == 1 and not strokes:
        strokes.append([next(iter(nodes))])  # a lone dot
    degree = {p: len(found) for p, found in adjacent.items()}
    kept = []
    for path in strokes:
        array = np.asarray(path, dtype=np.float32)
        spur = len(strokes) > 1 and (degree[path[0]] == 1 or degree[path[-1]] == 1)
        if spur and path_length(array) < min_length:
            continue
        kept.append(array)
    return kept or [np.asarray(points[:1], dtype=np.float32)]


def path_length(points):
    """Length of the polyline through (K, 2) points."""
    return float(np.sqrt((np.diff(points, axis=0) ** 2).sum(axis=1)).sum()) if len(points) > 1 else 0.0


def simplify(points, tolerance):
    """Ramer-Douglas-Peucker: the fewest of `points` (K, 2) whose polyline stays within `tolerance` of them all."""
    points = np.asarray(points, dtype=np.float32)
    if len(points) < 3:
        return points
    keep = np.zeros(len(points), dtype=bool)
    keep[[0, -1]] = True
    todo = [(0, len(points) - 1)]
    while todo:
        first, last = todo.pop()
        if last - first < 2:
            continue
        start, end = points[first], points[last]
        inner = points[first + 1:last]
        chord = end - start
        norm = float(np.hypot(*chord))
        if norm == 0:  # a closed loop: distance to the start point
            distance = np.sqrt(((inner - start) ** 2).sum(axis=1))
        else:
            distance = np.abs(chord[0] * (inner[:, 1] - start[1]) - chord[1] * (inner[:, 0] - start[0])) / norm
        worst = int(distance.argmax())
        if distance[worst] > tolerance:
            middle = first + 1 + worst
            keep[middle] = True
            todo += [(first, middle), (middle, last)]
    return points[keep]


def resample(points, count):
    """`count` points spaced evenly by arc length along the polyline through `points` (K, 2), ends included.

    This is how a pen tablet that keeps a fixed number of points per digit records it: curves
    become chords, and turns between them become corners.
    """
    points = np.asarray(points, dtype=np.float32)
    if len(points) < 2 or count < 2:
        return points[:1] if count < 2 else np.repeat(points[:1], count, axis=0)
    steps = np.sqrt((np.diff(points, axis=0) ** 2).sum(axis=1))
    along = np.concatenate([[0.0], np.cumsum(steps)])
    if along[-1] == 0:
        return np.repeat(points[:1], count, axis=0)
    wanted = np.linspace(0.0, along[-1], count)
    return np.stack([np.interp(wanted, along, points[:, 0]), np.interp(wanted, along, points[:, 1])],
                    axis=1).astype(np.float32)


def writing_order(strokes):
    """The strokes in the order a hand would draw them: start at the top-most (then left-most) end, then
    always go on to the nearest end of a stroke not drawn yet (reversing it when its far end is nearer)."""
    if not strokes:
        return []
    remaining = list(strokes)
    ends = [min((s[0], s[-1]), key=lambda p: (round(float(p[0])), float(p[1]))) for s in remaining]
    first = min(range(len(remaining)), key=lambda i: (round(float(ends[i][0])), float(ends[i][1])))
    current = remaining.pop(first)
    if not np.array_equal(current[0], ends[first]):
        current = current[::-1]
    ordered = [current]
    while remaining:
        pen = ordered[-1][-1]
        distances = [(float(np.sum((s[0] - pen) ** 2)), i, False) for i, s in enumerate(remaining)]
        distances += [(float(np.sum((s[-1] - pen) ** 2)), i, True) for i, s in enumerate(remaining)]
        _, index, reverse = min(distances)
        stroke = remaining.pop(index)
        ordered.append(stroke[::-1] if reverse else stroke)
    return ordered


def join(strokes):
    """The strokes in writing order as one trajectory (M, 2): the pen's travel between strokes becomes ink,
    as in a data set that records each digit as one pen trajectory."""
    ordered = writing_order(strokes)
    return np.concatenate(ordered) if ordered else np.zeros((0, 2), dtype=np.float32)


def render(strokes, shape, width, scale=1.0, offset=(0.0, 0.0)):
    """Strokes drawn with a round brush of diameter `width` (output pixels) -> ink (H, W) float32 in [0, 1].

    Each stroke is a (K, 2) array of (y, x) points in source coordinates; a point p lands at
    p * scale + offset in the output, whose pixel (i, j) has its centre at (i, j). The brush is
    round at the ends and joins, as the page's canvas draws (lineCap and lineJoin "round"), and
    the edge is anti-aliased over one pixel. Only the bounding box of the ink is computed.
    """
    h, w = shape
    ink = np.zeros((h, w), dtype=np.float32)
    segments = []
    for stroke in strokes:
        points = np.asarray(stroke, dtype=np.float32) * np.float32(scale) + np.asarray(offset, dtype=np.float32)
        if len(points) == 1:
            points = np.repeat(points, 2, axis=0)  # a dot
        segments.append(np.stack([points[:-1], points[1:]], axis=1))
    if not segments:
        return ink
    segments = np.concatenate(segments)                                   # (S, 2 ends, 2 coords)
    reach = width / 2 + 1
    top = max(0, int(np.floor(segments[:, :, 0].min() - reach)))
    bottom = min(h, int(np.ceil(segments[:, :, 0].max() + reach)) + 1)
    left = max(0, int(np.floor(segments[:, :, 1].min() - reach)))
    right = min(w, int(np.ceil(segments[:, :, 1].max() + reach)) + 1)
    if top >= bottom or left >= right:
        return ink
    ys = np.arange(top, bottom, dtype=np.float32)[:, None, None]
    xs = np.arange(left, right, dtype=np.float32)[None, :, None]
    start, direction = segments[:, 0], segments[:, 1] - segments[:, 0]   # (S, 2)
    length2 = np.maximum((direction ** 2).sum(axis=1), 1e-12)
    # Closest point of each segment to each pixel centre, as a fraction t in [0, 1] along it.
    t = np.clip(((ys - start[:, 0]) * direction[:, 0] + (xs - start[:, 1]) * direction[:, 1]) / length2, 0, 1)
    distance2 = (ys - start[:, 0] - t * direction[:, 0]) ** 2 + (xs - start[:, 1] - t * direction[:, 1]) ** 2
    distance = np.sqrt(distance2.min(axis=2))                            # (h', w')
    ink[top:bottom, left:right] = np.clip(width / 2 - distance + 0.5, 0, 1)
    return ink


def stroke_width(ink, threshold=0.5):
    """Estimated stroke width of the ink (H, W) in [0, 1], in pixels: twice the area over the outline length.

    A stroke of length L and width w covers about L*w pixels and has an outline of about 2L, so
    2 * area / outline is w, whatever the digit. The outline is counted as the pixel edges between
    ink and background, scaled by pi/4 (the mean ratio of a curve's length to its staircase length).
    """
    mask = np.asarray(ink) > threshold
    area = int(mask.sum())
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1)
    edges = int((padded[1:, :] != padded[:-1, :]).sum() + (padded[:, 1:] != padded[:, :-1]).sum())
    return 2.0 * area / (edges * np.pi / 4)
