"""How well whole numbers are read: digits found on a canvas like the page's, then read as single digits are.

What it is. Numbers of 2 to 6 digits written on a white canvas 364 px tall (the page's height)
and CANVAS_WIDTH wide, read by mnist_core.segmentation.read_number, the code the page and
`python -m mnist_core.read` run. Each number's digits come from the MNIST *test* set (never
trained on), from two sources:

  MNIST images: the 28x28 test images themselves, scaled up to the digit's height (anti-aliased,
  their pen about as wide as the page's brush); ink only, as an image file gives.

  drawn: the same kind of digits thinned, traced into strokes (mnist_core.strokes) and drawn with
  the page's 20-px round brush, as bench/bench_drawn.py draws them; read twice, once with the
  strokes (as the page passes them) and once from the ink alone.

and in four layouts: "gap" (a visible gap between digits, 0.1 to 0.4 of the digit height),
"overlap" (each digit pushed against the one before until their inks are 3 to 15 px apart where
closest, so that their boxes overlap wherever the shapes let them: a 1 under a 7's bar), "touching"
(one pair pushed until its inks overlap by up to 10 px; the other pairs have gaps) and "slant"
(gaps, on a baseline slanted by 8 to 20 degrees either way). The digits of a number are 180 to 260
px tall, give or take 10 % each, shrunk where the number would not fit the canvas.

The drawn digits' strokes are the skeleton's pieces between its junctions, in writing order: a
digit may be several strokes where a person would draw one (a 6 as its top stroke and its loop),
which is harder for segmentation than real drawing, and a digit whose tracing falls apart into
pieces side by side is read as two.

It prints, per layout and source: number accuracy (the whole number read right) beside what a
perfect segmentation would give (the share of numbers whose digits, each prepared from its own
ink alone, are all read right: the product of the single-digit accuracies of the same digits) and
the difference, the segmentation's cost; for "touching", how often the touching pair was split
right (two digits found, each box overlapping its true digit's box by IoU >= 0.5); and the median
time to read one 5-digit number, natively. Targets (issue 16): at most 1 point of cost in "gap",
touching pairs split right at least 80 % of the time, a 5-digit number read in at most 30 ms in
the page's worker. Only the native time is measured here; run it with OPENBLAS_NUM_THREADS=1, as
the worker has one thread and no BLAS (bench/bench_web.py measures the page).

What it is not. The digits are MNIST's own writers' digits, laid out by this script: it shows
what segmentation costs on top of reading single digits, and says nothing about how other people
write numbers (their spacing, their joins, their slants). Real writers are measured outside the
project, so that nothing here is tuned to them.

Usage: OPENBLAS_NUM_THREADS=1 python bench/bench_numbers.py [--count 200] [--seed 0] [--model PATH ...]
       [--layout gap|overlap|touching|slant ...]
"""

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from mnist_core import strokes
from mnist_core.data import load_split
from mnist_core.models import load_model
from mnist_core.preprocess import centre_digit, resample
from mnist_core.segmentation import read_number

REPO = Path(__file__).resolve().parent.parent
CANVAS_HEIGHT = 364     # the page's canvas
CANVAS_WIDTH = 1456     # four times as wide: five digits 200 px tall with gaps fit
MARGIN = 24             # kept clear at the canvas edges (a brush width and a bit)
BRUSH = 20              # the page's brush, px
DIGIT_HEIGHT = (180, 260)   # a digit's height on the canvas, px, before fitting the number in
LENGTHS = range(2, 7)   # digits per number
LAYOUTS = ("gap", "overlap", "touching", "slant")
SOURCES = ("MNIST images", "drawn")
GAP = (0.1, 0.4)        # visible gaps, in digit heights
OVERLAP_INK_APART = (3, 15)    # px between the inks of two digits whose boxes overlap
TOUCH_INK_OVERLAP = (0, 10)    # px by which the inks of a touching pair overlap
SLANT_DEG = (8, 20)
TIMED_LENGTH = 5
SPLIT_IOU = 0.5


def traced(image):
    """One MNIST image -> its strokes in writing order, (K, 2) arrays of (y, x) in 28x28 pixels."""
    return strokes.writing_order(strokes.trace(strokes.skeletonize(image >= 100)))


def digit_layer(image, height, source):
    """One digit at `height` px -> (ink layer (h, w) uint8, its strokes as (x, y) in the layer's pixels or None).

    MNIST images are scaled so that their ink box is `height` tall; drawn digits are their traced
    strokes scaled the same way and drawn with the page's brush."""
    rows = np.flatnonzero(image.max(axis=1) > 0)
    cols = np.flatnonzero(image.max(axis=0) > 0)
    scale = height / (rows[-1] - rows[0] + 1)
    if source == "MNIST images":
        crop = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)
        size = (max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale)))
        return np.rint(np.clip(resample(crop, *size), 0, 255)).astype(np.uint8), None
    lines = [strokes.resample(s, max(2, round(strokes.path_length(s) / 3) + 1)) for s in traced(image)]
    low = np.concatenate(lines).min(axis=0)
    high = np.concatenate(lines).max(axis=0)
    scale = (height - BRUSH) / max(float(high[0] - low[0]), 1.0)
    offset = BRUSH - low * scale
    shape = (int(np.ceil((high[0] - low[0]) * scale + 2 * BRUSH)), int(np.ceil((high[1] - low[1]) * scale + 2 * BRUSH)))
    ink = strokes.render(lines, shape, BRUSH, scale=scale, offset=offset)
    layer = np.rint(255 * ink).astype(np.uint8)
    rows = np.flatnonzero(layer.max(axis=1) > 0)
    cols = np.flatnonzero(layer.max(axis=0) > 0)
    layer = layer[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    shift = np.array([cols[0], rows[0]], dtype=np.float64)
    return layer, [np.asarray(s, np.float64)[:, ::-1] * scale + offset[::-1] - shift for s in lines]


def row_extents(layer):
    """Per row of a layer: leftmost and rightmost ink column (inf / -inf where the row is empty)."""
    inked = layer > 8
    any_ink = inked.any(axis=1)
    left = np.where(any_ink, inked.argmax(axis=1), np.inf)
    right = np.where(any_ink, layer.shape[1] - 1 - inked[:, ::-1].argmax(axis=1), -np.inf)
    return left, right


def ink_distance(left_layer, left_top, left_x, right_layer, right_top, right_x):
    """The smallest horizontal distance (px) from the left layer's ink to the right layer's, row by row."""
    _, right_edge = row_extents(left_layer)
    left_edge, _ = row_extents(right_layer)
    top, bottom = max(left_top, right_top), min(left_top + len(left_layer), right_top + len(right_layer))
    if top >= bottom:
        return np.inf
    a = right_edge[top - left_top:bottom - left_top] + left_x
    b = left_edge[top - right_top:bottom - right_top] + right_x
    return float(np.min(b - a))


def compose(images, layout, source, rng):
    """Digit images -> (canvas ink (CANVAS_HEIGHT, CANVAS_WIDTH) uint8, strokes or None, each digit's own ink,
    their boxes on the canvas, the touching pair's index or None)."""
    n = len(images)
    touch = int(rng.integers(n - 1)) if layout == "touching" else None
    slant = math.radians(rng.uniform(*SLANT_DEG)) * rng.choice([-1, 1]) if layout == "slant" else 0.0
    height = rng.uniform(*DIGIT_HEIGHT)
    sizes = rng.uniform(0.9, 1.1, n)
    for _ in range(8):       # shrink until the number fits the canvas
        layers = [digit_layer(image, height * size, source) for image, size in zip(images, sizes, strict=True)]
        tops = [-(layer.shape[0] // 2) for layer, _ in layers]         # one line, each digit centred on it
        xs = [0]
        for i in range(1, n):
            previous, layer = layers[i - 1][0], layers[i][0]
            if layout == "overlap" or i - 1 == touch:
                wanted = rng.uniform(*OVERLAP_INK_APART) if layout == "overlap" else -rng.uniform(*TOUCH_INK_OVERLAP)
                apart = ink_distance(previous, tops[i - 1], xs[i - 1], layer, tops[i], xs[i - 1])
                xs.append(xs[i - 1] + int(round(wanted - apart)))
            else:
                xs.append(xs[i - 1] + previous.shape[1] + int(round(rng.uniform(*GAP) * height)))
        if slant:
            tops = [int(round(-math.tan(slant) * (x + layer.shape[1] / 2) - layer.shape[0] / 2))
                    for x, (layer, _) in zip(xs, layers, strict=True)]
        x_lo, y_lo = min(xs), min(tops)
        x_hi = max(x + layer.shape[1] for x, (layer, _) in zip(xs, layers, strict=True))
        y_hi = max(t + layer.shape[0] for t, (layer, _) in zip(tops, layers, strict=True))
        room = min((CANVAS_WIDTH - 2 * MARGIN) / (x_hi - x_lo), (CANVAS_HEIGHT - 2 * MARGIN) / (y_hi - y_lo))
        if room >= 1:
            break
        height *= 0.98 * room
    dx = (CANVAS_WIDTH - (x_hi - x_lo)) // 2 - x_lo
    dy = (CANVAS_HEIGHT - (y_hi - y_lo)) // 2 - y_lo
    canvas = np.zeros((CANVAS_HEIGHT, CANVAS_WIDTH), dtype=np.uint8)
    boxes, alone, drawn = [], [], []
    for (layer, lines), x, top in zip(layers, xs, tops, strict=True):
        x0, y0 = x + dx, top + dy
        h, w = layer.shape
        region = canvas[y0:y0 + h, x0:x0 + w]
        np.maximum(region, layer, out=region)
        boxes.append((x0, y0, x0 + w, y0 + h))
        alone.append(layer)
        if lines is not None:
            drawn += [[(float(px + x0), float(py + y0)) for px, py in line] for line in lines]
    return canvas, (drawn if source == "drawn" else None), alone, boxes, touch


def iou(a, b):
    across = min(a[2], b[2]) - max(a[0], b[0])
    down = min(a[3], b[3]) - max(a[1], b[1])
    if across <= 0 or down <= 0:
        return 0.0
    inter = across * down
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def pair_split_right(found, boxes, pair):
    """Whether the digits found include one for each digit of the touching pair (IoU >= SPLIT_IOU), distinct."""
    matches = []
    for truth in (boxes[pair], boxes[pair + 1]):
        scores = [iou(d["box"], truth) for d in found]
        best = int(np.argmax(scores)) if scores else -1
        if best < 0 or scores[best] < SPLIT_IOU:
            return False
        matches.append(best)
    return matches[0] != matches[1]


def run_layout(models, test_images, test_labels, layout, source, count, rng):
    """`count` numbers of one layout and source -> {(model name, reading): [read right, perfect segmentation right,
    touching pair split right, seconds per TIMED_LENGTH-digit number]}, each a list over the numbers."""
    readings = ("with strokes", "ink only") if source == "drawn" else ("ink only",)
    results = {(name, reading): ([], [], [], []) for name in models for reading in readings}
    for k in range(count):
        length = LENGTHS[k % len(LENGTHS)]
        chosen = rng.choice(len(test_labels), size=length, replace=False)
        canvas, drawn_strokes, alone, boxes, touch = compose(test_images[chosen], layout, source, rng)
        truth = "".join(str(int(d)) for d in test_labels[chosen])
        prepared = np.stack([centre_digit(layer) for layer in alone])
        for name, model in models.items():
            oracle = bool((model.predict(prepared) == test_labels[chosen]).all())
            for reading in readings:
                right, perfect, split, times = results[(name, reading)]
                started = time.perf_counter()
                result = read_number(model, canvas, drawn_strokes if reading == "with strokes" else None)
                elapsed = time.perf_counter() - started
                right.append(result["text"] == truth)
                perfect.append(oracle)
                if touch is not None:
                    split.append(pair_split_right(result["digits"], boxes, touch))
                if length == TIMED_LENGTH:
                    times.append(elapsed)
    return results


def machine_line():
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return (f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, NumPy {np.__version__}, "
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, action="append",
                        help="model files to read with (default: the shipped mnist-fc and mnist-cnn)")
    parser.add_argument("--count", type=int, default=200, help="numbers per layout and source (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layout", choices=LAYOUTS, action="append", help="only these layouts")
    args = parser.parse_args(argv)
    paths = args.model or [REPO / "assets" / f"{arch}-f32.gguf" for arch in ("mnist-fc", "mnist-cnn")]
    models = {path.name: load_model(path) for path in paths}
    test_images, test_labels = load_split("mnist", "test")
    print(f"number benchmark: {args.count} numbers of {LENGTHS.start}-{LENGTHS.stop - 1} digits per layout and "
          f"source, seed {args.seed}; {machine_line()}")
    print("| layout | digits | " + " | ".join(f"{name}: read / perfect segmentation (cost)" for name in models)
          + " | touching pairs split right | ms per 5-digit number (median) |")
    print("| --- | --- |" + " --- |" * len(models) + " --- | --- |")
    started = time.perf_counter()
    for layout in args.layout or LAYOUTS:
        for source in SOURCES:
            rng = np.random.default_rng([args.seed, LAYOUTS.index(layout), SOURCES.index(source)])
            results = run_layout(models, test_images, test_labels, layout, source, args.count, rng)
            for reading in ("with strokes", "ink only"):
                rows = [results.get((name, reading)) for name in models]
                if rows[0] is None:
                    continue
                cells = [f"{100 * np.mean(right):.1f} / {100 * np.mean(perfect):.1f} % "
                         f"({100 * (np.mean(perfect) - np.mean(right)):+.1f})" for right, perfect, _, _ in rows]
                splits = " / ".join(f"{100 * np.mean(split):.0f} %" for _, _, split, _ in rows if split) or "-"
                times = " / ".join(f"{1000 * statistics.median(t):.1f}" for _, _, _, t in rows if t) or "-"
                print(f"| {layout} | {source}, {reading} | " + " | ".join(cells) + f" | {splits} | {times} |",
                      flush=True)
    print(f"({time.perf_counter() - started:.0f} s; {machine_line()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
