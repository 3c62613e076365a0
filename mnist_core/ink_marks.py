"""The marks of an ink image (its 8-connected pieces, specks dropped), and what the steps after them share.

mnist_core.ink_parts finds a line of writing's parts from these marks; mnist_core.ink_strokes splits
a mark between the pen strokes on it, mnist_core.ink_cuts cuts a wide part where digits touch. Here:
the bounds that keep the work finite on any image, the codes the ink cells are given, the parts'
bookkeeping (Parts), and the marks themselves, found on the ink's row runs (runs, components) with
the dots and stray specks dropped (drop_specks).
"""

import numpy as np

from .errors import MnistCoreError

# Bounds, so that a hostile image fails with one line instead of exhausting memory.
MAX_PIXELS = 1 << 24       # 16.7 million: a 12-megapixel photo fits; per-pixel arrays stay under 100 MB
MAX_RUNS = 1 << 18         # row runs of ink; a canvas of writing has a few thousand, noise has millions
MAX_MARKS = 96             # marks after dropping specks: a 20-digit number of broken digits fits

# Sizes relative to the number's height (the median height of its tall marks).
TALL_MARK = 0.5            # marks at least this fraction of the tallest one set the number's height
SPECK_BELOW = 0.12         # a mark whose longer side is shorter than this is a dot or a speck
MIN_MARK = 8               # ... and so is one under 8 pixels: a digit is read at 20 (MNIST's), noise is a few

# Codes of the ink pixels: background and dropped ink, then part k is FIRST_PART + k.
BACKGROUND, DROPPED, FIRST_PART = 0, 1, 2


class SegmentationError(MnistCoreError, ValueError):
    """An ink image or a stroke list that cannot be read as a number within the bounds (above, and ink_strokes')."""


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


def box_of(xs, ys):
    """The box (x0, y0, x1, y1), end exclusive, of cells at columns xs and rows ys."""
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def check_ink(ink):
    ink = np.asarray(ink)
    if ink.ndim != 2 or ink.size == 0:
        raise SegmentationError(f"expected a 2-D ink image, got shape {ink.shape}")
    if ink.size > MAX_PIXELS:
        raise SegmentationError(f"a {ink.shape[1]}x{ink.shape[0]} image has {ink.size:,} pixels, more than the "
                                f"{MAX_PIXELS:,} a number is read from; scale it down")
    if ink.dtype != np.uint8 and not np.issubdtype(ink.dtype, np.floating):
        raise SegmentationError(f"ink must be uint8 or float (0..255), got {ink.dtype}")
    return ink


def runs(pixels, width):
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


def components(rows, starts, stops, width):
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


def drop_specks(marks, rows, starts, stops, run_of_pixel, min_mark):
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
