"""How much MNIST-style preparation of drawn digits helps: accuracy with and without it, on simulated drawings.

ggml's web demo shrinks the whole 364x364 canvas to 28x28, so a digit drawn small, large or in a
corner reaches the model unlike anything in MNIST (centred, 20x20 box). This script takes MNIST
test images, redraws each one on a white canvas the size of the page's at another size and place
(as a hand would), and scores the shipped models on the canvas prepared two ways:

  without: the whole canvas shrunk to 28x28 (the reference demo; mnist_core.preprocess.downscale_canvas)
  with:    crop to the ink, fit 20x20, centre the mass (mnist_core.preprocess.prepare_canvas, the page's default)

Usage: python bench/bench_preprocess.py [--models assets] [--count 2000] [--canvas 364] [--seed 0]
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from mnist_core.data import load_split
from mnist_core.models import load_model
from mnist_core.preprocess import BOX_SIZE, downscale_canvas, prepare_canvas, resample

REPO = Path(__file__).resolve().parent.parent
ARCHS = ("mnist-fc", "mnist-cnn")

# How each digit is redrawn: its longest side as a fraction of the canvas, and where it goes.
# MNIST's own layout is a 20-pixel digit in a 28-pixel frame: 20/28 of the canvas, centred.
MNIST_FRACTION = BOX_SIZE / 28
CONDITIONS = {
    "as in MNIST (centred, 20/28 of the canvas)": dict(size=(MNIST_FRACTION, MNIST_FRACTION), place="centre"),
    "same size, off-centre": dict(size=(MNIST_FRACTION, MNIST_FRACTION), place="anywhere"),
    "small (1/4-1/3 of the canvas), anywhere": dict(size=(0.25, 0.33), place="anywhere"),
    "large (85-95% of the canvas), centred": dict(size=(0.85, 0.95), place="centre"),
    "any size (1/4-95%), anywhere": dict(size=(0.25, 0.95), place="anywhere"),
}


def redraw(image, canvas_size, fraction, place, rng):
    """A 28x28 MNIST image (ink = 255) redrawn on a white canvas_size^2 grayscale canvas."""
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    digit = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    longest = round(fraction * canvas_size)
    height = max(1, round(digit.shape[0] * longest / max(digit.shape)))
    width = max(1, round(digit.shape[1] * longest / max(digit.shape)))
    drawn = np.clip(resample(digit, height, width), 0, 255)
    if place == "centre":
        top, left = (canvas_size - height) // 2, (canvas_size - width) // 2
    else:
        top = int(rng.integers(0, canvas_size - height + 1))
        left = int(rng.integers(0, canvas_size - width + 1))
    canvas = np.full((canvas_size, canvas_size), 255, dtype=np.uint8)
    canvas[top:top + height, left:left + width] = np.rint(255 - drawn).astype(np.uint8)
    return canvas


def accuracy(model, images, labels):
    correct = (model.predict(images) == labels).mean()
    return correct, math.sqrt(correct * (1 - correct) / (len(labels) - 1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, default=REPO / "assets",
                        help="directory with mnist-fc-f32.gguf and mnist-cnn-f32.gguf (default: assets/)")
    parser.add_argument("--count", type=int, default=2000, help="test images per condition (default 2000)")
    parser.add_argument("--canvas", type=int, default=364, help="canvas side in pixels (default 364, the page's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    models = {arch: load_model(args.models / f"{arch}-f32.gguf") for arch in ARCHS}
    images, labels = load_split("mnist", "test")
    rng = np.random.default_rng(args.seed)
    chosen = rng.choice(len(labels), size=min(args.count, len(labels)), replace=False)
    images, labels = images[chosen], labels[chosen]
    size = args.canvas

    print(f"{len(labels)} MNIST test images per condition, redrawn on a {size}x{size} canvas; "
          f"models from {args.models}")
    header = "| condition | model | without (canvas shrunk to 28x28) | with (MNIST-style preparation) | change |"
    print(header)
    print("| --- | --- | --- | --- | --- |")
    started = time.perf_counter()
    for name, condition in CONDITIONS.items():
        low, high = condition["size"]
        without, prepared = [], []
        for image in images:
            canvas = redraw(image, size, rng.uniform(low, high), condition["place"], rng)
            pixels = canvas.tobytes()
            without.append(downscale_canvas(pixels, size, size))
            prepared.append(prepare_canvas(pixels, size, size))
        without, prepared = np.stack(without), np.stack(prepared)
        for arch, model in models.items():
            a, a_err = accuracy(model, without, labels)
            b, b_err = accuracy(model, prepared, labels)
            print(f"| {name} | {arch} | {100 * a:.2f} +- {100 * a_err:.2f} % | {100 * b:.2f} +- {100 * b_err:.2f} % "
                  f"| {100 * (b - a):+.2f} points |", flush=True)
    native = {arch: accuracy(model, images, labels)[0] for arch, model in models.items()}
    print("\nreference: the same images as stored in MNIST: "
          + ", ".join(f"{arch} {100 * acc:.2f} %" for arch, acc in native.items()))
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
