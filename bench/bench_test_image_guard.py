"""What the test-image guard (mnist_core/browser/test_image_guard.py) refuses, what it lets through, and what it costs.

Refused, as it should be (each made from test images chosen at random):
  a pixel one grey level off; the image shifted by up to 2 pixels; a stroke (2 to 4 points, 1.5 to 3 px wide)
  drawn over it in 28x28; a stroke drawn over it on the page's canvas (20-px brush), read without the page's
  preparation (the "prepare like MNIST" box off) and with it (prepare_canvas crops, thickens and fits it again:
  the guard is not meant to catch all of these; the page does not offer #correct for them).
Let through, as it should be (no test image in them):
  every style of tests/handwriting.py (STYLES and MORE_STYLES) and variants of each, drawn and prepared as the
  page does; bench/bench_drawn.py's templates (separate strokes and one trajectory) and MNIST test digits traced
  and drawn again; the UCI optdigits digits (--optdigits: fetched with pip once, as bench_drawn.py does); the
  60,000 MNIST training images (real handwriting, scanned and prepared as the test images were).

For the ones let through it reports how close they came (over 6,000 of a larger set): the highest closeness
(the smallest of the three shares, each over its threshold: the guard refuses at 1), the largest share of a
test image's rim kept by an image that has that test image's ink, and the largest share of ink. Cost:
the check of one correction against the 10,000 test images, natively (median and 90th percentile), and building
the guard. Figures: docs/test-image-guard.md.

Usage: python bench/bench_test_image_guard.py [--count 400] [--variants 60] [--train 60000] [--optdigits]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "bench")]

import bench_drawn  # noqa: E402

import handwriting  # noqa: E402
from mnist_core import strokes  # noqa: E402
from mnist_core.browser.test_image_guard import INK_PRESENT, RIM_KEPT, TestImageGuard  # noqa: E402
from mnist_core.data import load_split  # noqa: E402
from mnist_core.preprocess import downscale_canvas, prepare_canvas  # noqa: E402

SCALE = 13  # canvas pixels per MNIST pixel, as the page paints a test image (web/drawing.js)
CLOSEST_FROM = 0.2  # rim shares below this are not looked for (the quick checks let them go)
CLOSEST_OF = 6000   # images of a set looked at for how close they came


def shifted(image, dy, dx):
    out = np.zeros_like(image)
    h, w = image.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def stroke_over(image, scale, rng):
    """A random stroke of 2 to 4 points inside the digit's bounding box, in (y, x) at `scale` pixels per pixel."""
    ys, xs = np.nonzero(image > 50)
    k = rng.integers(2, 5)
    points = np.stack([rng.uniform(ys.min(), ys.max(), k), rng.uniform(xs.min(), xs.max(), k)], axis=1)
    return points * scale + (scale - 1) / 2


def test_image_kinds(test_images, count, rng):
    """{kind: (images, the test image each was made from)}."""
    chosen = rng.choice(len(test_images), count, replace=False)
    kinds = {kind: [] for kind in ("one pixel one grey level off", "shifted by up to 2 pixels",
                                   "a stroke drawn over it (28x28)", "a stroke drawn over it on the canvas, unprepared",
                                   "a stroke drawn over it on the canvas, prepared")}
    for index in chosen:
        image = test_images[index]
        grey = image.astype(np.int16)
        y, x = rng.integers(0, 28, 2)
        grey[y, x] = np.clip(grey[y, x] + rng.choice([-1, 1]), 0, 255)
        kinds["one pixel one grey level off"].append(grey.astype(np.uint8))
        kinds["shifted by up to 2 pixels"].append(shifted(image, *rng.integers(-2, 3, 2)))
        ink = strokes.render([stroke_over(image, 1, rng)], (28, 28), rng.uniform(1.5, 3.0))
        kinds["a stroke drawn over it (28x28)"].append(np.maximum(image, np.rint(255 * ink)).astype(np.uint8))
        canvas = 255 - np.repeat(np.repeat(image, SCALE, axis=0), SCALE, axis=1)
        ink = strokes.render([stroke_over(image, SCALE, rng)], canvas.shape, handwriting.BRUSH)
        canvas = np.minimum(canvas, np.rint(255 * (1 - ink))).astype(np.uint8).tobytes()
        size = 28 * SCALE
        kinds["a stroke drawn over it on the canvas, unprepared"].append(downscale_canvas(canvas, size, size))
        kinds["a stroke drawn over it on the canvas, prepared"].append(prepare_canvas(canvas, size, size))
    return {kind: (np.stack(images), chosen) for kind, images in kinds.items()}


def drawings(args, rng, test_images):
    """{set: images} of drawings and handwriting that hold no test image."""
    styles = [*handwriting.STYLES.values(), *(style for _, style in handwriting.MORE_STYLES)]
    sets = {f"handwriting: {len(styles)} styles x {args.variants} drawings":
            np.concatenate([handwriting.drawings(style, range(args.variants)) for style in styles])}
    canvases, _, _ = bench_drawn.template_drawings(args.count, rng)
    sets["bench_drawn templates, separate strokes"] = bench_drawn.prepare(canvases, True)
    canvases, _, _ = bench_drawn.template_drawings(args.count, rng, joined=True)
    sets["bench_drawn templates, one trajectory"] = bench_drawn.prepare(canvases, True)
    traced = bench_drawn.traced_strokes(test_images[rng.choice(len(test_images), args.count, replace=False)])
    for name, condition in list(bench_drawn.MNIST_CONDITIONS.items())[:2]:
        sets[f"MNIST test digits traced and drawn again: {name}"] = bench_drawn.prepare(
            bench_drawn.mnist_drawings(traced, condition, rng), True)
    if args.optdigits:
        from optdigits import load_optdigits
        sets["optdigits (real handwriting, UCI)"] = bench_drawn.prepare(
            bench_drawn.optdigits_drawings(load_optdigits()[0]), True)
    if args.train:
        sets[f"MNIST training images ({args.train:,})"] = load_split("mnist", "train")[0][:args.train]
    return sets


def closest(guard, wide, image):
    """Over the candidates of `wide` (a guard with a lower rim threshold, whose quick checks let more through):
    (the highest closeness by `guard`, which refuses at 1; the largest rim share of a test image whose ink
    `image` has; the largest ink share)."""
    indices = wide.candidates(image)
    ink, rim, outline = wide.alignments(image, indices)
    with_ink = rim[ink >= INK_PRESENT]
    return tuple(float(values.max()) if values.size else 0.0
                 for values in (guard.closeness(indices, ink, rim, outline), with_ink, ink))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=400, help="images per kind and per drawn set (default 400)")
    parser.add_argument("--variants", type=int, default=60, help="drawings per handwriting style (default 60)")
    parser.add_argument("--train", type=int, default=60_000, help="MNIST training images checked (default all)")
    parser.add_argument("--optdigits", action="store_true", help="also optdigits (pip downloads scikit-learn once)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; NumPy {np.__version__}")
    test_images, _ = load_split("mnist", "test")
    started = time.perf_counter()
    guard = TestImageGuard(test_images)
    print(f"guard built for {len(test_images):,} test images in {1000 * (time.perf_counter() - started):.0f} ms")
    wide = TestImageGuard(test_images, rim_kept=CLOSEST_FROM)
    rng = np.random.default_rng(args.seed)

    print("\n| made from test images | refused | the right test image named | its rim kept: lowest, median |")
    print("| --- | --- | --- | --- |")
    for kind, (images, sources) in test_image_kinds(test_images, args.count, rng).items():
        matches = [guard.nearest(image) for image in images]
        refused = [m is not None and m.close for m in matches]
        named = [m for m, s in zip(matches, sources, strict=True) if m is not None and m.close and m.index == s]
        kept = sorted(m.rim_kept for m in named) or [float("nan")]
        print(f"| {kind} | {sum(refused)} / {len(images)} | {len(named)} | "
              f"{kept[0]:.2f}, {statistics.median(kept):.2f} |", flush=True)

    print("\n| no test image in them | refused | closest (refused at 1) | largest rim share, its ink there | "
          "largest ink share |")
    print("| --- | --- | --- | --- | --- |")
    seconds = []
    for name, images in drawings(args, rng, test_images).items():
        refused = 0
        for image in images:
            started = time.perf_counter()
            refused += guard.refusal(image) is not None
            seconds.append(time.perf_counter() - started)
        # How close they came, over at most CLOSEST_OF of them, evenly spread (the wide checks cost more).
        looked_at = images[::max(1, len(images) // CLOSEST_OF)]
        closeness, rims, inks = zip(*(closest(guard, wide, image) for image in looked_at), strict=True)
        floor = CLOSEST_FROM / RIM_KEPT  # what the wide quick checks let go is below this
        cells = [f"< {floor:.1f}" if max(closeness) < floor else f"{max(closeness):.2f}",
                 f"< {CLOSEST_FROM}" if max(rims) < CLOSEST_FROM else f"{max(rims):.2f}", f"{max(inks):.2f}"]
        over = "" if len(looked_at) == len(images) else f" (of {len(looked_at):,})"
        print(f"| {name} | {refused} / {len(images)} | " + " | ".join(cell + over for cell in cells) + " |", flush=True)
    ms = sorted(1000 * s for s in seconds)
    print(f"\none check against {len(test_images):,} test images: median {statistics.median(ms):.2f} ms, "
          f"90th percentile {ms[int(0.9 * len(ms))]:.2f} ms, slowest {ms[-1]:.1f} ms over {len(ms):,} checks; "
          f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
