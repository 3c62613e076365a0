"""Written numbers for the tests: MNIST test digits scaled up and laid out on a canvas like the page's, and pen
strokes drawn with the page's brush (tests/test_numbers.py, tests/test_read_cli.py)."""

import math

import numpy as np

from mnist_core import strokes
from mnist_core.preprocess import INK_THRESHOLD, prepare_canvas, resample

HEIGHT, WIDTH = 364, 1456     # the page's canvas height, four times as wide
DIGIT_HEIGHT = 200
BRUSH = 20                    # the page's brush


def clear_digits(images, labels, models):
    """For each digit 0..9, the first MNIST test image all `models` read right, with 0.99, once scaled up."""
    chosen = {}
    for index in range(len(labels)):
        digit = int(labels[index])
        if digit in chosen:
            continue
        canvas = number_canvas([images[index]], width=HEIGHT)
        if all(model.predict_proba(prepare_canvas(255 - canvas, HEIGHT, HEIGHT)[None])[0][digit] >= 0.99
               for model in models):
            chosen[digit] = images[index]
        if len(chosen) == 10:
            return chosen
    raise AssertionError("MNIST's test set has no clear image of some digit")


def digit_ink(image, height=DIGIT_HEIGHT):
    """A 28x28 MNIST image -> its ink box scaled up to `height` px, uint8 (ink = 255)."""
    rows = np.flatnonzero(image.max(axis=1) > 0)
    cols = np.flatnonzero(image.max(axis=0) > 0)
    crop = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)
    scale = height / crop.shape[0]
    size = (height, max(1, round(crop.shape[1] * scale)))
    return np.rint(np.clip(resample(crop, *size), 0, 255)).astype(np.uint8)


def number_canvas(images, gap=0.25, width=WIDTH, slant_deg=0.0, touch_at=None, overlap_px=6, boxes=None,
                  digit_height=DIGIT_HEIGHT):
    """MNIST images -> one ink canvas (HEIGHT, width) uint8 holding them as a number, centred.

    gap: between digits, in digit heights; slant_deg: the baseline's slant (positive: rising to
    the right); touch_at: index i such that digits i and i+1 touch, their inks overlapping by
    `overlap_px` where they are closest. Each digit's ink box is appended to `boxes` if given."""
    inks = [digit_ink(image, digit_height) for image in images]
    xs = [0]
    for i in range(1, len(inks)):
        if i - 1 == touch_at:
            xs.append(xs[-1] + touching_offset(inks[i - 1], inks[i], overlap_px))
        else:
            xs.append(xs[-1] + inks[i - 1].shape[1] + round(gap * digit_height))
    total = xs[-1] + inks[-1].shape[1]
    rise = math.tan(math.radians(slant_deg))
    tops = [round((HEIGHT - digit_height) / 2 - rise * (x + ink.shape[1] / 2 - total / 2))
            for x, ink in zip(xs, inks, strict=True)]
    left = (width - total) // 2
    canvas = np.zeros((HEIGHT, width), dtype=np.uint8)
    for x, top, ink in zip(xs, tops, inks, strict=True):
        region = canvas[top:top + ink.shape[0], left + x:left + x + ink.shape[1]]
        np.maximum(region, ink, out=region)
        if boxes is not None:
            boxes.append((left + x, top, left + x + ink.shape[1], top + ink.shape[0]))
    return canvas


def touching_offset(left, right, overlap_px):
    """Where `right` starts relative to `left` (same top) for their inks to overlap by overlap_px where closest."""
    inked_left, inked_right = left > INK_THRESHOLD, right > INK_THRESHOLD
    rows = inked_left.any(axis=1) & inked_right.any(axis=1)
    right_edge = left.shape[1] - 1 - inked_left[rows, ::-1].argmax(axis=1)
    left_edge = inked_right[rows].argmax(axis=1)
    return int((right_edge - left_edge).max()) - overlap_px + 1


def drawn(stroke_list, width=WIDTH):
    """Strokes (lists of (x, y) canvas points) drawn with the page's brush -> ink canvas uint8, and the strokes."""
    yx = [np.asarray(stroke, dtype=np.float32)[:, ::-1] for stroke in stroke_list]
    ink = strokes.render(yx, (HEIGHT, width), BRUSH)
    return np.rint(255 * ink).astype(np.uint8), stroke_list


def shifted(stroke_list, dx):
    return [[(x + dx, y) for x, y in stroke] for stroke in stroke_list]


