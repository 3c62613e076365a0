"""The ink of one line of writing split into parts, each a digit, a piece of one, or two digits still to tell apart.

mnist_core.segmentation reads a number from these parts. `find_parts(ink, strokes)` has two steps:

1. Marks (mnist_core.ink_marks). The ink (above preprocess.INK_THRESHOLD) is split into
   8-connected components, found on the ink's row runs. The number's height is the median height
   of its tall marks, and every size below is a fraction of it; marks smaller than SPECK_BELOW of
   it (dots, stray specks) are dropped. With the pen strokes the page records, a mark holding
   strokes that hardly overlap horizontally (two digits drawn touching) is split between them,
   each pixel to its stroke (mnist_core.ink_strokes).
2. Parts. Marks stacked one above the other (a 5's flag, a 1 written in two pieces, a broken
   MNIST digit) are one part (here). A part too wide to be sure it is one digit is cut where
   digits touch: where the water poured on it would stand deep above and below (the "water
   reservoir" of touching-numeral segmentation), along the path from top to bottom that crosses
   the least ink (mnist_core.ink_cuts). Its slices become parts.

The work is bounded on any input: the image size, the ink's runs, the marks and the strokes'
points are checked first (SegmentationError names what is too large), and there are at most
MAX_CUTS cuts per part.
"""

from typing import NamedTuple

import numpy as np

from .ink_cuts import cut_wide_parts
from .ink_marks import (
    BACKGROUND,
    DROPPED,
    FIRST_PART,
    MIN_MARK,
    Parts,
    check_ink,
    components,
    drop_specks,
    runs,
)
from .ink_strokes import split_touching_strokes, stroke_samples
from .preprocess import INK_THRESHOLD

# The parts are found on a grid of cells, one cell per pixel up to this ink height (the page's canvas is 364
# pixels tall) and coarser above it (a photo): the work is bounded, and gaps of a few pixels stay open.
ANALYSIS_HEIGHT = 256
# Stacked marks (one above the other: horizontal overlap of at least STACK_OVERLAP of the narrower,
# vertical overlap of at most STACK_VERTICAL of the shorter) are one digit: a line of digits never stacks.
STACK_OVERLAP = 0.5
STACK_VERTICAL = 0.25


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
    ink = check_ink(ink)
    inked = ink > INK_THRESHOLD
    ink_rows = np.flatnonzero(inked.any(axis=1))
    if ink_rows.size == 0:
        return None
    scale = max(1, (ink_rows[-1] - ink_rows[0] + 1) // ANALYSIS_HEIGHT)
    grid = _shrink(inked, scale)                                    # (h, w) bool
    height, width = grid.shape
    pixels = np.flatnonzero(grid)                                   # (N,) flat indices of the ink cells, in row order
    rows, starts, stops, run_of_pixel = runs(pixels, width)
    marks = components(rows, starts, stops, width)                  # (R,) component of each run
    codes, boxes, number_height = drop_specks(marks, rows, starts, stops, run_of_pixel, MIN_MARK / scale)
    # Each part's box (x0, y0, x1, y1) in cells, end exclusive, and the marks (connected inks) it holds: parts
    # that share a mark touch.
    parts = Parts(list(boxes), [frozenset([k]) for k in range(len(boxes))])
    ys, xs = np.divmod(pixels, width)
    pen = float(np.median(stops - starts))          # the pen's width: most rows cross a stroke, not run along one
    if strokes is not None:
        samples = stroke_samples(strokes, ink.shape, scale)
        codes = split_touching_strokes(codes, pixels, xs, ys, samples, width, pen, parts)
    codes, parts = _merge_stacked(codes, parts)
    codes, cuts = cut_wide_parts(codes, xs, ys, number_height, parts)
    return InkParts(ink, inked, scale, codes, xs, ys, parts, cuts, number_height)


def _shrink(inked, scale):
    """(H, W) bool -> (ceil(H / scale), ceil(W / scale)) bool: whether each scale x scale cell holds ink."""
    if scale == 1:
        return inked
    h, w = -(-inked.shape[0] // scale), -(-inked.shape[1] // scale)
    padded = np.zeros((h * scale, w * scale), dtype=bool)
    padded[:inked.shape[0], :inked.shape[1]] = inked
    return padded.reshape(h, scale, w, scale).any(axis=(1, 3))


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
