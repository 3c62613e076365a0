"""Predictions as the page shows them: a drawing or a 28x28 image through a model -> the digit, a probability per
digit, the top three, whether the model is sure, and the 28x28 image it saw."""

import numpy as np

from ..mnist import IMAGE_SIZE, N_PIXELS
from ..prediction import describe
from ..preprocess import downscale_canvas, prepare_canvas
from .convert import to_bytes, to_py

EMPTY = {"empty": True, "digit": None, "probabilities": [], "top": [], "image28": bytes(N_PIXELS)}


def image28(data):
    """784 uint8 pixels (bytes, a JavaScript typed array or a NumPy array, ink = 255) -> (28, 28) uint8."""
    image = data if isinstance(data, np.ndarray) else np.frombuffer(to_bytes(data), dtype=np.uint8)
    if image.size != N_PIXELS or image.dtype != np.uint8:
        raise ValueError(f"expected {N_PIXELS} uint8 pixels (28x28), got {image.size} of {image.dtype}")
    return image.reshape(IMAGE_SIZE, IMAGE_SIZE)


def prepare_drawing(pixels, width, height, centre=True):
    """Canvas bytes (RGBA or grayscale, any size) -> the 28x28 image the model reads, or None for an empty canvas.

    centre=True prepares the drawing as MNIST's digits were (mnist_core.preprocess); centre=False shrinks
    the whole canvas to 28x28 as the reference demo does.
    """
    pixels = to_py(pixels)
    if centre:
        return prepare_canvas(pixels, width, height)
    image = downscale_canvas(pixels, width, height)
    return image if image.any() else None


def prediction(model, image):
    """A 28x28 uint8 image (ink = 255) through `model` -> {"empty", "digit", "probabilities", "top", "sure",
    "image28"}."""
    probabilities = model.predict_proba(image.reshape(1, IMAGE_SIZE, IMAGE_SIZE))[0]   # (10,) float32
    return {"empty": False, **describe(probabilities), "image28": image.tobytes()}
