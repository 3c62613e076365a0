"""Numbers on the page's canvas: a drawing read as the digits of a number, and a random number of test images.

Reading is mnist_core.segmentation's, the code the desktop's `python -m mnist_core.read` runs; what
this adds is the page's side. A drawing that holds one digit is read exactly as the single-digit
path reads it (the whole canvas prepared as one digit, specks and all), so that one digit behaves
on the wide canvas as it did on the square one; the segmentation decides only how many digits
there are.
"""

import numpy as np

from ..mnist import IMAGE_SIZE
from ..preprocess import canvas_ink, centre_digit
from ..segmentation import read, segment
from .convert import to_py
from .predictions import prediction

MIN_DIGITS, MAX_DIGITS = 2, 5   # a random number's length, as many as the canvas holds comfortably
GAP = 3                         # MNIST pixels between two random digits' inks: a visible gap
DIGIT_HEIGHT = 0.7              # a random number's digits span this much of the canvas's height at most
MARGIN = 0.05                   # of the canvas's width, kept clear at either end


def read_drawing(model, pixels, width, height, strokes=None):
    """Canvas bytes and the pen strokes drawn on it -> {"text", "digits": [{"digit", "probabilities", "top", "sure",
    "box" (canvas pixels, end exclusive), "image28"}]}: the number `model` reads, digits left to right."""
    ink = canvas_ink(to_py(pixels), width, height)
    hypotheses = segment(ink, to_py(strokes))  # JavaScript's arrays of Float32Array: a list of memoryviews
    result = read(model, hypotheses)
    if len(result["digits"]) == 1:
        # The whole canvas as one digit, predicted alone, as predict_canvas does (its image is the candidate's
        # when all of the ink made that one candidate).
        image = hypotheses.images[0] if hypotheses.whole else centre_digit(ink)
        result["digits"] = [{**_without_empty(prediction(model, image)), "box": result["digits"][0]["box"]}]
    return result


def _without_empty(found):
    return {key: value for key, value in found.items() if key != "empty"}


def lay_out_number(images, labels, indices, width, height):
    """Test images (28x28 each) -> where the page paints them on a `width` x `height` canvas to show them as one
    number: each image's top-left corner (x, y) and the canvas pixels per MNIST pixel (`scale`, a whole number,
    so that its pixels stay crisp as Random's single digit's are), their inks a visible GAP apart, centred.

    -> {"text" (the true digits), "scale", "digits": [{"index", "label", "image28", "x", "y", "box"}]} where
    "box" is the ink's box on the canvas (x0, y0, x1, y1, end exclusive)."""
    boxes = [_ink_box(image) for image in images]                        # (top, left, bottom, right) each
    inked_width = sum(right - left for _, left, _, right in boxes) + GAP * (len(boxes) - 1)
    tallest = max(bottom - top for top, _, bottom, _ in boxes)
    scale = int(min(DIGIT_HEIGHT * height / tallest, (1 - 2 * MARGIN) * width / inked_width))
    if scale < 1:
        raise ValueError(f"a {width}x{height} canvas is too small for a number of {len(images)} test images")
    x = (width - inked_width * scale) // 2
    digits = []
    for image, label, index, (top, left, bottom, right) in zip(images, labels, indices, boxes, strict=True):
        y = (height - (bottom - top) * scale) // 2
        digits.append({"index": int(index), "label": int(label), "image28": image.tobytes(),
                       "x": x - left * scale, "y": y - top * scale,
                       "box": [x, y, x + (right - left) * scale, y + (bottom - top) * scale]})
        x += (right - left + GAP) * scale
    return {"text": "".join(str(d["label"]) for d in digits), "scale": scale, "digits": digits}


def _ink_box(image):
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    if rows.size == 0:
        return 0, 0, IMAGE_SIZE, IMAGE_SIZE
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1
