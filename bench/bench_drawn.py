"""How well the models read digits as people draw them on the page: a drawn-digit benchmark of our own.

What it is. Digits drawn on a white canvas the size of the page's (364x364) with a round black
brush, as the page draws a stroke, then read through the page's own path (canvas bytes ->
mnist_core.preprocess.prepare_canvas -> the model; App.predict_canvas does exactly this). The
drawings come from two sources that share nothing with the training data:

  MNIST test digits (never trained on) thinned to their skeleton and traced into strokes
  (mnist_core.strokes), then drawn again: as one pen trajectory of 8 points with the pen's
  travel between strokes drawn too (as a tablet data set records a digit), or as separate strokes
  with straight pieces every few pixels; with a thin (20 px, the page's) or thick (44 px) brush;
  large, small, slanted, off-centre.

  Stroke templates, written here by hand, of the forms people draw that MNIST has few of: a 1
  with a flag (and a foot), a 7 with a crossbar, a 4 with an open top, a 9 as a loop and a tail
  in one angular stroke, open and closed loops; every point jittered, slanted, stretched.

Plus real handwriting that is not MNIST: the UCI optdigits digits shipped in scikit-learn's wheel
(bench/optdigits.py; 1,797 digits, 8x8, scaled up onto the canvas).

What it is not. These are not people drawing: the traced strokes keep MNIST's writers' shapes,
and the templates are one engineer's idea of the forms above. Real pen trajectories from other
writers are measured outside the project, so that nothing is tuned to them.

Usage: python bench/bench_drawn.py [--models assets] [--count 1000] [--seed 0] [--threshold 0.7]
       [--model PATH ...] [--no-normalise]
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from mnist_core import preprocess, strokes
from mnist_core.data import load_split
from mnist_core.models import load_model
from mnist_core.prediction import UNSURE_BELOW
from mnist_core.preprocess import prepare_canvas, resample

REPO = Path(__file__).resolve().parent.parent
CANVAS = 364          # the page's canvas
THIN, THICK = 20, 44  # the page's brush, and a fat marker

# Each MNIST condition: how the traced strokes are drawn. height: the digit's height on the canvas (px).
MNIST_CONDITIONS = {
    "pen trajectory, 8 points, 20-px brush": dict(style="trajectory", brush=THIN, height=(200, 280)),
    "separate strokes, 20-px brush": dict(style="strokes", brush=THIN, height=(200, 280)),
    "separate strokes, 44-px brush": dict(style="strokes", brush=THICK, height=(200, 280)),
    "small (80-130 px), anywhere, 20-px brush": dict(style="strokes", brush=THIN, height=(80, 130), anywhere=True),
    "slanted +-25 deg, off-centre, 20-px brush": dict(style="strokes", brush=THIN, height=(160, 240), slant=25,
                                                     anywhere=True),
}

# Stroke templates: (x, y) points in a unit box, y down; several strokes per form where a hand lifts the pen.
TEMPLATES = {
    0: {"closed loop": [[(0.5 + 0.45 * math.sin(a), 0.5 - 0.5 * math.cos(a)) for a in np.linspace(0, 6.28, 14)]],
        "open loop": [[(0.5 + 0.45 * math.sin(a), 0.5 - 0.5 * math.cos(a)) for a in np.linspace(0.5, 6.28, 12)]]},
    1: {"stem": [[(0.5, 0), (0.5, 1)]],
        "flag": [[(0.15, 0.3), (0.55, 0), (0.55, 1)]],
        "long flag": [[(0.0, 0.45), (0.6, 0), (0.5, 1)]],
        "flag and foot": [[(0.15, 0.3), (0.55, 0), (0.55, 1)], [(0.2, 1), (0.9, 1)]]},
    2: {"curve and base": [[(0.1, 0.25), (0.35, 0.02), (0.7, 0.02), (0.9, 0.25), (0.8, 0.5), (0.05, 1), (0.95, 1)]],
        "angular": [[(0.05, 0.15), (0.85, 0.05), (0.85, 0.4), (0.05, 1), (0.95, 1)]]},
    3: {"two bumps": [[(0.1, 0.1), (0.5, 0), (0.9, 0.18), (0.8, 0.42), (0.4, 0.5), (0.85, 0.6), (0.92, 0.85),
                       (0.5, 1), (0.08, 0.9)]],
        "flat top": [[(0.1, 0), (0.9, 0), (0.4, 0.45), (0.9, 0.65), (0.85, 0.9), (0.45, 1), (0.1, 0.88)]]},
    4: {"open top": [[(0.3, 0), (0.08, 0.62), (0.95, 0.62)], [(0.72, 0.25), (0.72, 1)]],
        "closed, one stroke": [[(0.72, 1), (0.72, 0), (0.05, 0.65), (0.95, 0.65)]]},
    5: {"flag apart": [[(0.2, 0), (0.15, 0.45), (0.5, 0.37), (0.85, 0.55), (0.85, 0.85), (0.5, 1), (0.1, 0.9)],
                       [(0.2, 0), (0.9, 0)]],
        "one stroke": [[(0.9, 0), (0.2, 0), (0.15, 0.45), (0.55, 0.38), (0.88, 0.6), (0.8, 0.92), (0.4, 1),
                        (0.08, 0.88)]]},
    6: {"loop at the bottom": [[(0.75, 0), (0.3, 0.3), (0.1, 0.7), (0.3, 1), (0.7, 0.97), (0.88, 0.72),
                                (0.6, 0.5), (0.2, 0.62)]]},
    7: {"bar and stem": [[(0.05, 0), (0.95, 0), (0.4, 1)]],
        "crossbar": [[(0.05, 0), (0.95, 0), (0.4, 1)], [(0.3, 0.55), (0.9, 0.5)]]},
    8: {"figure eight": [[(0.85, 0.12), (0.5, 0), (0.15, 0.15), (0.2, 0.35), (0.8, 0.65), (0.85, 0.9), (0.5, 1),
                          (0.15, 0.9), (0.2, 0.65), (0.8, 0.35), (0.85, 0.12)]],
        "two loops": [[(0.5, 0.48), (0.15, 0.25), (0.5, 0), (0.85, 0.25), (0.5, 0.48), (0.1, 0.75), (0.5, 1),
                       (0.9, 0.75), (0.5, 0.48)]]},
    9: {"loop and tail": [[(0.85, 0.25), (0.5, 0), (0.15, 0.2), (0.2, 0.45), (0.5, 0.5), (0.85, 0.3), (0.85, 0),
                           (0.85, 1)]],
        "angular, one stroke": [[(0.9, 0.08), (0.15, 0.05), (0.2, 0.45), (0.9, 0.4), (0.9, 0.05), (0.75, 1)]]},
}


def traced_strokes(images):
    """MNIST images (N, 28, 28) -> each one's strokes in 28x28 pixel coordinates, (y, x)."""
    skeletons = strokes.skeletonize(images >= 100)
    return [strokes.trace(skeleton) for skeleton in skeletons]


def draw(stroke_list, brush, height_px, rng, slant_deg=0.0, anywhere=False):
    """Strokes ((K, 2) arrays of (y, x), any units) -> a white CANVAS x CANVAS grayscale canvas with them in black."""
    points = np.concatenate(stroke_list)
    if slant_deg:
        angle = np.deg2rad(rng.uniform(-slant_deg, slant_deg))
        centre = points.mean(axis=0)
        rotation = np.float32([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        stroke_list = [(s - centre) @ rotation.T + centre for s in stroke_list]
        points = np.concatenate(stroke_list)
    low, high = points.min(axis=0), points.max(axis=0)
    scale = height_px / max(float(high[0] - low[0]), float(high[1] - low[1]) * 0.8, 1e-3)
    size = (high - low) * scale
    margin = brush
    if anywhere:
        room = np.maximum(CANVAS - 2 * margin - size, 0)
        corner = margin + rng.uniform(0, 1, 2) * room
    else:
        corner = (CANVAS - size) / 2 + rng.uniform(-20, 20, 2)
    ink = strokes.render(stroke_list, (CANVAS, CANVAS), brush, scale=scale, offset=corner - low * scale)
    return np.rint(255 * (1 - ink)).astype(np.uint8)


def mnist_drawings(traced, condition, rng):
    canvases = []
    for stroke_list in traced:
        if condition["style"] == "trajectory":
            drawn = [strokes.resample(strokes.join(stroke_list), 8)]
        else:
            drawn = [strokes.resample(s, max(2, round(strokes.path_length(s) / 3) + 1)) for s in stroke_list]
        height = rng.uniform(*condition["height"])
        canvases.append(draw(drawn, condition["brush"], height, rng, condition.get("slant", 0.0),
                             condition.get("anywhere", False)))
    return canvases


def template_drawings(count, rng, joined=False):
    """`count` drawings of random template forms, each jittered, slanted and stretched; with their labels and forms.

    joined: each drawing is one trajectory of 8 points, the pen's travel between strokes included."""
    forms = [(digit, name, form) for digit, variants in TEMPLATES.items() for name, form in variants.items()]
    canvases, labels, names = [], [], []
    for i in range(count):
        digit, name, form = forms[i % len(forms)]
        aspect = rng.uniform(0.35, 0.9)
        shear = rng.uniform(-0.3, 0.3)
        drawn = []
        for stroke in form:
            xy = np.float32(stroke) + rng.normal(0, 0.06, (len(stroke), 2)).astype(np.float32)
            y, x = xy[:, 1], (xy[:, 0] - 0.5) * aspect + shear * (0.5 - xy[:, 1])
            drawn.append(np.stack([y, x], axis=1))
        if joined:
            drawn = [strokes.resample(np.concatenate(drawn), 8)]
        canvases.append(draw(drawn, THIN, rng.uniform(180, 280), rng, anywhere=True))
        labels.append(digit)
        names.append(f"{digit} {name}")
    return canvases, np.array(labels), names


def optdigits_drawings(images):
    """optdigits (N, 8, 8) in 0..16 -> canvases: each digit scaled up smoothly to 256x256, centred."""
    canvases = []
    for image in images:
        big = np.clip(resample(image.astype(np.float32) * (255 / 16), 256, 256), 0, 255)
        canvas = np.full((CANVAS, CANVAS), 255, dtype=np.uint8)
        offset = (CANVAS - 256) // 2
        canvas[offset:offset + 256, offset:offset + 256] = np.rint(255 - big).astype(np.uint8)
        canvases.append(canvas)
    return canvases


def prepare(canvases, normalise):
    """The page's preparation of each canvas -> (N, 28, 28) uint8."""
    return np.stack([prepare_canvas(c.tobytes(), CANVAS, CANVAS, normalise_width=normalise) for c in canvases])


THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def score(models, images, labels):
    """Per model: accuracy, which answers were right, and the top probability of each."""
    results = {}
    for arch, model in models.items():
        probabilities = model.predict_proba(images)
        right = probabilities.argmax(axis=1) == labels
        results[arch] = dict(accuracy=right.mean(), right=right, top=probabilities.max(axis=1))
    return results


def print_unsure_table(pooled, chosen):
    """How a 'not sure' threshold on the top probability splits wrong and right answers, over all drawn sets."""
    print("\n'not sure' when the top probability is below the threshold (all drawn sets pooled): "
          "share of wrong answers flagged / share of right answers flagged")
    print("| threshold | " + " | ".join(pooled) + " |")
    print("| --- |" + " --- |" * len(pooled))
    for threshold in sorted(set(THRESHOLDS) | {chosen}):
        cells = []
        for right, top in pooled.values():
            unsure = top < threshold
            cells.append(f"{100 * (unsure & ~right).sum() / max(1, (~right).sum()):.0f}% / "
                         f"{100 * (unsure & right).sum() / max(1, right.sum()):.1f}%")
        mark = " (the page's)" if threshold == chosen else ""
        print(f"| {threshold:.2f}{mark} | " + " | ".join(cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=REPO / "assets",
                        help="directory with mnist-fc-f32.gguf and mnist-cnn-f32.gguf (default: assets/)")
    parser.add_argument("--model", type=Path, action="append", help="score these model files instead")
    parser.add_argument("--count", type=int, default=1000, help="drawings per condition (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=UNSURE_BELOW,
                        help="top probability under which the page says 'not sure' (default: the page's, %(default)s)")
    parser.add_argument("--no-normalise", dest="normalise", action="store_false",
                        help="prepare without stroke-width normalisation (the page before it)")
    parser.add_argument("--pen-width", type=float, help="thicken strokes to this width in the 20x20 box "
                        "(default: mnist_core.preprocess.MIN_PEN_WIDTH)")
    parser.add_argument("--no-optdigits", dest="optdigits", action="store_false", help="skip optdigits")
    args = parser.parse_args(argv)
    if args.pen_width is not None:
        preprocess.MIN_PEN_WIDTH = args.pen_width

    paths = args.model or [args.models / f"{arch}-f32.gguf" for arch in ("mnist-fc", "mnist-cnn")]
    models = {str(path.name): load_model(path) for path in paths}
    rng = np.random.default_rng(args.seed)
    test_images, test_labels = load_split("mnist", "test")
    chosen = rng.choice(len(test_labels), size=min(args.count, len(test_labels)), replace=False)
    traced = traced_strokes(test_images[chosen])
    labels = test_labels[chosen]

    started = time.perf_counter()
    sets = {}
    for name, condition in MNIST_CONDITIONS.items():
        sets[name] = (prepare(mnist_drawings(traced, condition, rng), args.normalise), labels)
    canvases, template_labels, forms = template_drawings(args.count, rng)
    sets["templates: 21 forms, separate strokes, 20-px brush"] = (prepare(canvases, args.normalise), template_labels)
    canvases, _, _ = template_drawings(args.count, rng, joined=True)
    sets["templates as one 8-point trajectory, 20-px brush"] = (prepare(canvases, args.normalise), template_labels)
    if args.optdigits:
        from optdigits import load_optdigits
        digits, digit_labels = load_optdigits()
        sets["optdigits (real handwriting, UCI, 1,797)"] = (prepare(optdigits_drawings(digits), args.normalise),
                                                            digit_labels)
    sets["MNIST test as stored (reference)"] = (test_images[chosen], labels)

    print(f"drawn-digit benchmark: {args.count} drawings per condition, seed {args.seed}, preparation "
          f"{f'thickening strokes to {preprocess.MIN_PEN_WIDTH:g} px' if args.normalise else 'without thickening'}; "
          f"page's 'not sure' below {args.threshold:.2f}")
    names = list(models)
    print("| set | " + " | ".join(names) + " |")
    print("| --- |" + " --- |" * len(names))
    pooled = {arch: [] for arch in names}
    per_form, per_digit = {}, {}
    for set_name, (images, set_labels) in sets.items():
        results = score(models, images, set_labels)
        cells = []
        for arch in names:
            r = results[arch]
            error = math.sqrt(r["accuracy"] * (1 - r["accuracy"]) / max(1, len(set_labels) - 1))
            cells.append(f"{100 * r['accuracy']:.1f} +- {100 * error:.1f} %")
            if not set_name.startswith("MNIST"):
                pooled[arch].append((r["right"], r["top"]))
        print(f"| {set_name} | " + " | ".join(cells) + " |", flush=True)
        if set_name.startswith("templates as one"):
            per_form = {arch: results[arch]["right"] for arch in names}
        if set_name.startswith("pen trajectory"):
            per_digit = {arch: [results[arch]["right"][set_labels == d].mean() for d in range(10)] for arch in names}
    print("\nper digit, pen trajectory set (accuracy, digits 0..9):")
    for arch in names:
        print(f"  {arch:28s} " + " ".join(f"{d}:{100 * a:.0f}" for d, a in enumerate(per_digit[arch])))
    print("\nper template form, as one 8-point trajectory (accuracy): ")
    for form in sorted(set(forms)):
        mask = np.array([f == form for f in forms])
        print(f"  {form:28s} " + "  ".join(f"{arch.split('-f32')[0]} {100 * per_form[arch][mask].mean():5.1f}%"
                                            for arch in names))
    print_unsure_table({arch: tuple(np.concatenate(parts) for parts in zip(*pooled[arch], strict=True))
                        for arch in names}, args.threshold)
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
