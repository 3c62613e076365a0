"""Drawn digits prepared the way MNIST's were, so that a digit drawn anywhere, at any size, looks like the test set.

MNIST's digits were size-normalised to fit a 20x20 box keeping their aspect ratio (with
anti-aliasing, hence the grey levels), then placed in a 28x28 field by an integer shift that puts
their centre of mass at the field's centre. Measured on the 60,000 training images: every digit's
ink bounding box has a longest side of 19 or 20 pixels, and the centre of mass sits at row and
column index 14.0 with a standard deviation of 0.29, which is what rounding the shift gives.

`prepare_canvas` does the same to a canvas (grayscale, RGB or RGBA bytes of any size, dark ink
on a white background): crop to the ink, fit into 20x20 by area averaging, scale the darkest
stroke to 255, shift the centre of mass to (14, 14). It returns the 28x28 uint8 model input
(ink = 255), or None for a canvas without ink. `downscale_canvas` is the reference demo's way
(the whole canvas shrunk to 28x28), kept to measure the difference (bench/bench_preprocess.py).
Everything here runs on single images, on the host, in NumPy; the browser runs it through Pyodide.
"""

import numpy as np

from .errors import MnistCoreError
from .mnist import IMAGE_SIZE
from .strokes import stroke_width

BOX_SIZE = 20
CENTRE = 14.0  # where MNIST's centres of mass are, in pixel indices (see above)
# Ink levels (0..255) at or below this are background when looking for the digit's extent; it
# ignores faint noise while keeping the anti-aliased rim of a stroke.
INK_THRESHOLD = 8
CHANNELS = {1: "grayscale", 3: "RGB", 4: "RGBA"}
# Strokes thinner than this once fitted into the 20x20 box are grown to it (thicken_to_pen_width);
# chosen on bench/bench_drawn.py (docs/training.md, "Drawn digits").
MIN_PEN_WIDTH = 2.8
WORK_SCALE = 4
# ITU-R BT.601 luma (0.299, 0.587, 0.114) in 1/256ths; they sum to 256, so white stays 255.
LUMA_WEIGHTS = (77, 150, 29)


class CanvasError(MnistCoreError, ValueError):
    """Canvas pixels that cannot be a width x height image (wrong length, type or size)."""


def canvas_ink(pixels, width, height):
    """Canvas bytes -> ink (height, width) uint8, 255 where the canvas is black, 0 where it is white.

    `pixels` is bytes-like or a uint8 array holding width*height grayscale, RGB or RGBA values in
    row order; the number of channels follows from its length. Transparent pixels count as the
    white background (RGBA is composited over white). The arithmetic is integer, in uint16.
    """
    width, height = _check_size(width, height)
    values = _as_uint8(pixels)
    n_pixels = width * height
    channels = values.size // n_pixels if values.size % n_pixels == 0 else 0
    if channels not in CHANNELS:
        expected = ", ".join(f"{c * n_pixels} ({name})" for c, name in CHANNELS.items())
        raise CanvasError(f"a {width}x{height} canvas needs {expected} bytes, got {values.size}")
    values = values.reshape(height, width, channels)
    if channels == 1:
        return 255 - values[:, :, 0]
    if channels == 4:
        # A drawing is a little ink on a large canvas: pixels that are opaque white (or transparent) hold none,
        # so the ink is worked out only within the box of the others (the page's canvas is 1092 x 364).
        blank = values.reshape(-1).view(np.uint32).reshape(height, width) == np.uint32(0xFFFFFFFF)
        rows, cols = np.flatnonzero(~blank.all(axis=1)), np.flatnonzero(~blank.all(axis=0))
        ink = np.zeros((height, width), dtype=np.uint8)
        if rows.size:
            box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
            ink[box] = _rgba_ink(values[box])
        return ink
    return _rgba_ink(values)


def _rgba_ink(values):
    """(h, w, 3 or 4) uint8 RGB(A) -> ink (h, w) uint8, integer arithmetic in uint16."""
    red, green, blue = (values[:, :, c].astype(np.uint16) for c in range(3))
    luma = red * LUMA_WEIGHTS[0] + green * LUMA_WEIGHTS[1] + blue * LUMA_WEIGHTS[2]  # <= 256 * 255, fits
    ink = 255 - ((luma + 128) >> 8)
    if values.shape[2] == 4:
        ink *= values[:, :, 3]                               # alpha 0 = background; <= 255 * 255, fits
        ink = (ink + 127) // 255
    return ink.astype(np.uint8)


def prepare_canvas(pixels, width, height, normalise_width=True):
    """Canvas bytes -> the 28x28 uint8 image MNIST would have made of the drawing, or None if it is empty."""
    return centre_digit(canvas_ink(pixels, width, height), normalise_width=normalise_width)


def centre_digit(ink, normalise_width=True):
    """Ink (H, W), any size, values 0..255 -> 28x28 uint8 MNIST-style image, or None when there is no ink.

    Crop to the ink's bounding box, (normalise_width) thicken strokes thinner than MNIST's pen,
    fit it into 20x20 keeping the aspect ratio, stretch the contrast so the darkest stroke is 255,
    and shift it so that its centre of mass is at (14, 14) (clamped so that no ink leaves the frame).
    """
    ink = np.asarray(ink)
    if ink.ndim != 2 or ink.size == 0:
        raise CanvasError(f"expected a 2-D ink image, got shape {ink.shape}")
    crop = _crop_to_ink(ink)
    if crop is None:
        return None
    if normalise_width:
        crop = thicken_to_pen_width(crop)
    height, width = crop.shape
    scale = BOX_SIZE / max(height, width)
    box_h = min(BOX_SIZE, max(1, round(height * scale)))
    box_w = min(BOX_SIZE, max(1, round(width * scale)))
    digit = resample(crop, box_h, box_w)                         # (box_h, box_w)
    np.clip(digit, 0, None, out=digit)
    digit *= 255.0 / digit.max()
    mass = digit.sum()
    centre_y = (digit.sum(axis=1) @ np.arange(box_h, dtype=np.float32)) / mass
    centre_x = (digit.sum(axis=0) @ np.arange(box_w, dtype=np.float32)) / mass
    top = int(np.clip(round(CENTRE - centre_y), 0, IMAGE_SIZE - box_h))
    left = int(np.clip(round(CENTRE - centre_x), 0, IMAGE_SIZE - box_w))
    image = np.zeros((IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    image[top:top + box_h, left:left + box_w] = np.rint(digit)
    return image


def _crop_to_ink(ink):
    """The bounding box of the ink (values above INK_THRESHOLD) as float32, or None when there is none."""
    inked = ink > INK_THRESHOLD
    rows = np.flatnonzero(inked.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(inked.any(axis=0))
    return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)


def thicken_to_pen_width(crop):
    """A cropped drawing (h, w) float, 0..255 -> the same drawing with strokes at least MIN_PEN_WIDTH wide once fitted.

    The page's brush is 20 canvas pixels; on a digit drawn 240 pixels tall that is 1.7 pixels
    once fitted into MNIST's 20x20 box, where MNIST's pen is 1.7 to 3.4 pixels (10th to 90th
    percentile, median 2.3). Strokes that thin read worse, so they are grown by the missing width
    (the width was chosen on bench/bench_drawn.py: docs/training.md, "Drawn digits"). The work
    is done at WORK_SCALE times the 20x20 box: fine enough for fractions of a pixel, small enough
    to stay cheap. Strokes at least that wide are left as they are.
    """
    height, width = crop.shape
    fit = BOX_SIZE / max(height, width)                  # canvas pixels -> 20x20-box pixels
    pen = stroke_width(crop / 255.0) * fit
    if pen <= 0 or pen >= MIN_PEN_WIDTH:
        return crop
    fine = WORK_SCALE * fit                               # canvas pixels -> working pixels
    radius = (MIN_PEN_WIDTH - pen) / 2 * WORK_SCALE        # growth on each side, working pixels
    reach = int(np.ceil(radius))
    work = resample(crop, max(1, round(height * fine)), max(1, round(width * fine)))
    # Room for the growth, and as much again so that every shifted view below is a plain slice.
    padded = np.pad(work, 2 * reach)
    grown = padded[reach:-reach, reach:-reach].copy()
    h, w = grown.shape
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            weight = min(1.0, radius + 0.5 - float(np.hypot(dy, dx)))  # a disc with a soft, sub-pixel edge
            if weight <= 0 or (dy == 0 and dx == 0):
                continue
            view = padded[reach + dy:reach + dy + h, reach + dx:reach + dx + w]
            np.maximum(grown, view if weight == 1.0 else view * np.float32(weight), out=grown)
    return _crop_to_ink(grown)


def downscale_canvas(pixels, width, height):
    """Canvas bytes -> the whole canvas shrunk to 28x28 uint8 (ink = 255): the reference demo's input. Its canvas
    is square; of one wider than tall, the square as tall as the canvas around the ink's middle is shrunk."""
    ink = canvas_ink(pixels, width, height)
    if width > height:
        columns = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
        middle = (columns[0] + columns[-1]) // 2 if columns.size else width // 2
        left = int(np.clip(middle - height // 2, 0, width - height))
        ink = ink[:, left:left + height]
    image = resample(ink, IMAGE_SIZE, IMAGE_SIZE)
    return np.rint(np.clip(image, 0, 255)).astype(np.uint8)


def resample(image, out_height, out_width):
    """Resize a 2-D image to float32: area averaging where it shrinks, linear interpolation where it grows."""
    image = np.asarray(image, dtype=np.float32)
    rows = _resample_axis0(image, out_height)                  # (out_h, W)
    return _resample_axis0(rows.T, out_width).T                 # (out_h, out_w)


def _resample_axis0(image, n_out):
    """Resample the rows of `image` (n_in, W) to (n_out, W)."""
    n_in = image.shape[0]
    if n_out <= n_in:
        return _area_average_axis0(image, n_out)
    # Growing: output row i's centre sits at input coordinate (i+0.5)*n_in/n_out - 0.5; tent weights.
    source = (np.arange(n_out)[:, None] + 0.5) * (n_in / n_out) - 0.5
    weights = np.clip(1 - np.abs(source - np.arange(n_in)[None, :]), 0, None)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights.astype(np.float32) @ image                   # (n_out, n_in) @ (n_in, W)


def _area_average_axis0(image, n_out):
    """Shrink rows (n_in, W) -> (n_out, W), each output row the mean over its share of the input.

    Output row i covers input rows [i*r, (i+1)*r), r = n_in/n_out, fractional ends included. The
    integral of the rows up to a fractional position p is cumsum[floor p] + frac(p) * row[floor p],
    so the whole shrink is one cumulative sum and a difference: O(n_in * W), not n_out times that.
    """
    n_in = image.shape[0]
    ratio = n_in / n_out
    cumulative = np.zeros((n_in + 1,) + image.shape[1:], dtype=np.float64)
    np.cumsum(image, axis=0, out=cumulative[1:])
    edges = np.arange(n_out + 1) * ratio                        # (n_out + 1,) fractional row positions
    whole = np.minimum(edges.astype(np.int64), n_in - 1)
    fraction = (edges - whole)[:, None]
    integral = cumulative[whole] + fraction * image[whole]      # (n_out + 1, W)
    return (np.diff(integral, axis=0) / ratio).astype(np.float32)


def _check_size(width, height):
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise CanvasError(f"canvas {name} must be a positive integer, got {value!r}")
    return int(width), int(height)


def _as_uint8(pixels):
    """Bytes-like or uint8 array -> flat uint8 array (no copy where possible)."""
    if isinstance(pixels, np.ndarray):
        if pixels.dtype != np.uint8:
            raise CanvasError(f"canvas pixels must be uint8, got {pixels.dtype}")
        return pixels.reshape(-1)
    try:
        view = memoryview(pixels)
    except TypeError:
        raise CanvasError(f"canvas pixels must be bytes or a uint8 array, got {type(pixels).__name__}") from None
    if view.itemsize != 1:
        raise CanvasError(f"canvas pixels must be bytes (1 byte per value), got items of {view.itemsize} bytes")
    return np.frombuffer(view.cast("B") if view.format != "B" else view, dtype=np.uint8)
