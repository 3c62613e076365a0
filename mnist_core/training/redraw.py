"""MNIST digits drawn again as a person draws on the page: pen strokes of one width, straight pieces, sharp turns.

MNIST's digits were written with a pen on paper and scanned: the ink's width varies along a
stroke and curves are smooth. A digit drawn on the page with a mouse or a finger is a few
strokes of one width, often angular, and a data set of pen trajectories stores a digit as one
trajectory of a handful of points, the pen's travel between strokes included. A model trained
on MNIST alone reads those poorly (the drawn-digits issue: 99 % on MNIST, about 75 % on pen
strokes). Here each training digit is thinned to its skeleton, traced into strokes
(mnist_core.strokes), and drawn again in one of two styles:

  strokes     each stroke re-sampled every 2-5 pixels (curves become chords) and drawn separately
  trajectory  all strokes joined in writing order into one trajectory of 6-14 points, the pen's
              travel between strokes drawn too

with a round brush 1.2 to 3.2 pixels wide (the page's 20-pixel brush on a digit drawn 240 pixels
tall is 1.7 pixels after preparation). Forms people write that MNIST has few of are added where
they keep the label: a flag at the top of a 1 (and sometimes a foot under it), a crossbar on a 7.

Drawing a digit takes milliseconds of Python, too slow for every image of every epoch, so
`redraw_bank` draws each training image once per run and keeps the result on disk; training then
shows a random share of the images in their redrawn form, warped afresh every epoch
(mnist_core.training.augment).
"""

import hashlib
from pathlib import Path

import numpy as np

from .. import strokes
from ..atomic import atomic_write
from ..data import default_data_dir

IMAGE_SIZE = 28
INK_LEVEL = 100                 # pixels at or above this (of 255) are ink when thinning
WIDTH_RANGE = (1.2, 3.2)        # brush diameters, pixels at 28x28
SPACING_RANGE = (2.0, 5.0)      # "strokes" style: pixels between kept points
POINTS_RANGE = (6, 14)          # "trajectory" style: points per digit (a common tablet data set keeps 8)
TRAJECTORY_SHARE = 0.5          # of the redrawn digits, the share drawn as one joined trajectory
FLAG_SHARE = 0.7                # of the 1s, the share given a flag at the top (a 1 so written reads as 7)
FOOT_SHARE = 0.25               # of the flagged 1s, the share also given a foot
CROSSBAR_SHARE = 0.35           # of the 7s drawn as separate strokes, the share given a crossbar
BANK_VERSION = "2"              # part of the bank's cache key: bump when drawing changes


def redraw_digit(image, label, rng):
    """One MNIST digit (28, 28) uint8, ink = 255, and its label -> the digit drawn again as strokes, (28, 28) uint8.

    Returns the image unchanged when it has no ink to trace.
    """
    skeleton = strokes.skeletonize(np.asarray(image) >= INK_LEVEL)
    traced = strokes.trace(skeleton)
    if not traced or not skeleton.any():
        return np.asarray(image, dtype=np.uint8)
    width = rng.uniform(*WIDTH_RANGE)
    joined = rng.random() < TRAJECTORY_SHARE
    extra = []
    if label == 1 and rng.random() < FLAG_SHARE:
        extra = _flag_and_foot(traced, rng, foot=rng.random() < FOOT_SHARE)
    elif label == 7 and not joined and rng.random() < CROSSBAR_SHARE:
        extra = _crossbar(traced, rng)
    if joined:
        trajectory = strokes.join(extra[:1] + traced + extra[1:])  # a flag is where a hand starts a 1
        drawn = [strokes.resample(trajectory, int(rng.integers(POINTS_RANGE[0], POINTS_RANGE[1] + 1)))]
    else:
        spacing = rng.uniform(*SPACING_RANGE)
        drawn = [strokes.resample(s, max(2, round(strokes.path_length(s) / spacing) + 1)) for s in traced + extra]
    ink = strokes.render(drawn, (IMAGE_SIZE, IMAGE_SIZE), width)
    return np.rint(ink * 255).astype(np.uint8)


def _extent(traced):
    points = np.concatenate(traced)
    return points.min(axis=0), points.max(axis=0)


def _flag_and_foot(traced, rng, foot):
    """A flag from the top of a 1 down to the left (and a foot across its bottom): extra strokes, flag first."""
    points = np.concatenate(traced)
    (top, _), (bottom, _) = _extent(traced)
    height = max(bottom - top, 1.0)
    tip = points[points[:, 0].argmin()]
    angle = np.deg2rad(rng.uniform(20, 60))                   # below the horizontal, towards the left
    length = height * rng.uniform(0.2, 0.55)
    flag = np.stack([tip + length * np.float32([np.sin(angle), -np.cos(angle)]), tip]).astype(np.float32)
    extra = [flag]
    if foot:
        base = points[points[:, 0].argmax()]
        half = height * rng.uniform(0.15, 0.3)
        extra.append(np.float32([[base[0], base[1] - half], [base[0], base[1] + half]]))
    return extra


def _crossbar(traced, rng):
    """A short horizontal bar across the stem of a 7, a little below its middle."""
    points = np.concatenate(traced)
    (top, _), (bottom, _) = _extent(traced)
    y = top + (bottom - top) * rng.uniform(0.45, 0.6)
    near = points[np.abs(points[:, 0] - y) <= 1.0]
    x = float(near[:, 1].mean()) if len(near) else float(points[:, 1].mean())
    half = (bottom - top) * rng.uniform(0.15, 0.25)
    return [np.float32([[y, x - half], [y, x + half]])]


def redraw_bank(images, labels, seed, cache_dir=None):
    """Every image (N, 28, 28) uint8 drawn again once (uint8, same shape), from `seed`; cached on disk.

    The cache file's name is a hash of the images, labels, seed and BANK_VERSION, so a bank is
    reused only for exactly the same inputs; it is written atomically. cache_dir None means
    redrawn/ beside the MNIST cache ($MNIST_CORE_DATA or ~/.cache/mnist-core).
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    key = hashlib.sha256(images.tobytes() + labels.tobytes() + f"{seed}:{BANK_VERSION}".encode()).hexdigest()[:24]
    path = _cache_dir(cache_dir) / f"redrawn-{key}.npy"
    if path.is_file():
        try:
            bank = np.load(path)
            if bank.shape == images.shape and bank.dtype == np.uint8:
                return bank
        except (OSError, ValueError, EOFError):
            pass  # a damaged or truncated cache file is drawn again and replaced
    rng = np.random.default_rng([seed, 0x5EED])
    bank = np.stack([redraw_digit(image, int(label), rng) for image, label in zip(images, labels, strict=True)]) \
        if len(images) else images.copy()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as file:
            np.save(file, bank)
    except OSError:
        pass  # no writable cache: the bank is drawn again next time
    return bank


def _cache_dir(cache_dir):
    return Path(cache_dir) if cache_dir is not None else default_data_dir("mnist").parent / "redrawn"
