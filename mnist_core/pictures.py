"""What mnist_core.explain finds, drawn as RGB pictures, and written as PNG files for test images.

The page draws the same results in its canvas; this is the desktop's way to see them
(`python -m mnist_core.eval --explain N`). One colour language throughout, on white paper: a digit's
ink is dark grey; signed values (saliency, occlusion, weights) are red when positive and blue when
negative; activations, never negative after ReLU, darken from white. Each picture is scaled to its own
largest magnitude (each activation layer to its largest value, so its maps compare), so it shows where,
not how much. docs/explain.md says how to read them.
"""

import math
import os

import numpy as np

from .explain import explain, layer_weights, occlusion
from .formats.png import write_png
from .mnist import IMAGE_SIZE

SCALE = 8                  # picture pixels per MNIST pixel: the 28x28 pictures are 224x224
MAP_SIZE = 56              # about this many pixels on a side for each feature map in a grid
GAP = 2                    # pixels between the tiles of a grid
PAPER = np.array([255, 255, 255], dtype=np.float64)
INK = np.array([40, 40, 40], dtype=np.float64)
POSITIVE = np.array([214, 39, 40], dtype=np.float64)    # red
NEGATIVE = np.array([31, 119, 180], dtype=np.float64)   # blue
GAP_COLOUR = (190, 190, 190)
UNDER_SALIENCY = 0.25      # how dark the digit shows under its saliency and occlusion maps
BAR_WIDTH, BAR_GAP, BAR_HEIGHT = 20, 4, 120
MAX_BARS = 10              # a 1-D layer this short (logits, softmax) is drawn as bars, a longer one as a grid


def blend(base, colour, amount):
    """base (..., 3) mixed toward `colour` (3,) by `amount` (...) in [0, 1]."""
    amount = np.clip(amount, 0.0, 1.0)[..., None]
    return base * (1 - amount) + colour * amount


def diverging(values, base=None):
    """Signed values (...) -> RGB (..., 3) float: red for positive, blue for negative, `base` (white paper) at zero,
    full colour at the largest magnitude."""
    values = np.asarray(values, dtype=np.float64)
    base = np.broadcast_to(PAPER, (*values.shape, 3)) if base is None else base
    t = values / _largest(np.abs(values))
    return np.where((t >= 0)[..., None], blend(base, POSITIVE, t), blend(base, NEGATIVE, -t))


def sequential(values, largest=None):
    """Values >= 0 (...) -> RGB (..., 3) float: white at zero, ink at `largest` (default: the largest value)."""
    values = np.asarray(values, dtype=np.float64)
    largest = _largest(values) if largest is None else largest or 1.0
    return blend(np.broadcast_to(PAPER, (*values.shape, 3)), INK, values / largest)


def digit_picture(pixels, darkness=1.0):
    """uint8 pixels (28, 28), ink = 255 -> RGB (28, 28, 3) float: dark ink on white, `darkness` 1 for full ink."""
    return sequential(np.asarray(pixels).reshape(IMAGE_SIZE, IMAGE_SIZE) * darkness, largest=255.0)


def enlarge(picture, factor):
    """Each pixel of (H, W, 3) as a factor x factor square."""
    return np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


def grid(tiles, columns, gap=GAP):
    """tiles (K, h, w, 3) -> one RGB picture, `columns` tiles a row, `gap` pixels between them."""
    k, h, w, _ = tiles.shape
    rows = math.ceil(k / columns)
    picture = np.empty((rows * (h + gap) - gap, columns * (w + gap) - gap, 3))
    picture[...] = GAP_COLOUR
    for i, tile in enumerate(tiles):
        top, left = (i // columns) * (h + gap), (i % columns) * (w + gap)
        picture[top:top + h, left:left + w] = tile
    return picture


def bars(values):
    """A few values (logits, probabilities) -> RGB bars from a zero line: red up for positive, blue down."""
    values = np.asarray(values, dtype=np.float64)
    up, down = max(values.max(), 0.0), max(-values.min(), 0.0)
    span = (up + down) or 1.0
    zero = round(BAR_HEIGHT * up / span)   # the zero line's row
    picture = np.broadcast_to(PAPER, (BAR_HEIGHT + 1, len(values) * (BAR_WIDTH + BAR_GAP) - BAR_GAP, 3)).copy()
    picture[zero] = GAP_COLOUR
    for i, value in enumerate(values):
        left, length = i * (BAR_WIDTH + BAR_GAP), round(BAR_HEIGHT * abs(value) / span)
        rows = slice(zero - length, zero) if value >= 0 else slice(zero + 1, zero + 1 + length)
        picture[rows, left:left + BAR_WIDTH] = POSITIVE if value >= 0 else NEGATIVE
    return picture


def activation_picture(entry):
    """One layer of explain()'s activations ({"shape", "values"}) -> RGB: (C, H, W) maps as a grid of C maps,
    a short vector as bars, a long one (hidden units, features) as a grid of one square per unit."""
    values = np.asarray(entry["values"], dtype=np.float64).reshape(entry["shape"])
    if values.ndim == 3:
        maps = sequential(values)                                        # (C, H, W, 3), one scale for the layer
        factor = max(1, MAP_SIZE // values.shape[1])
        maps = np.stack([enlarge(m, factor) for m in maps])
        return grid(maps, columns=min(len(maps), 8))
    if values.size <= MAX_BARS:
        return bars(values)
    columns = math.ceil(math.sqrt(values.size))
    cell = max(2, SCALE * IMAGE_SIZE // columns - 1)
    squares = np.broadcast_to(sequential(values)[:, None, None, :], (values.size, cell, cell, 3))
    return grid(squares, columns, gap=1)


def saliency_picture(pixels, saliency):
    """The saliency map (784 values) in red and blue over the digit, faint underneath."""
    under = digit_picture(pixels, UNDER_SALIENCY)
    return enlarge(diverging(np.reshape(saliency, (IMAGE_SIZE, IMAGE_SIZE)), base=under), SCALE)


def weights_pictures(model):
    """{layer: RGB} of the first layer's weights, as the page draws them, each tile scaled to its own largest:
    mnist-fc: fc1, each hidden unit's 784 input weights as a 28x28 tile; mnist-cnn: conv1 and conv2, the 3x3
    kernels, one row per output channel (conv1's eight in one row)."""
    pictures = {}
    for name in ("fc1.weight", "conv1.kernel", "conv2.kernel"):
        if name not in model.params:
            continue
        layer, kind = name.split(".")
        weights = layer_weights(model, layer)[kind]
        values = np.asarray(weights["values"]).reshape(weights["shape"])
        if layer == "fc1":
            tiles = values.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)                   # (500, 28, 28)
            columns = math.ceil(math.sqrt(len(tiles)))
        else:
            out_ch, in_ch = values.shape[:2]
            tiles = values.reshape(-1, 3, 3)                                     # (out * in, 3, 3), row by row
            columns = in_ch if in_ch > 1 else out_ch
        factor = max(1, MAP_SIZE // 2 // tiles.shape[1])
        pictures[layer] = grid(np.stack([enlarge(diverging(tile), factor) for tile in tiles]), columns)
    return pictures


def explanation_pictures(model, pixels):
    """{file stem: RGB} for one image (uint8 (28, 28)): input, saliency-D-vs-R, occlusion, and each layer's
    activations by its name (fc1.relu, conv1.relu, ..., logits, softmax)."""
    found = explain(model, pixels)
    occluded = occlusion(model, pixels)
    under = digit_picture(pixels, UNDER_SALIENCY)
    pictures = {
        "input": enlarge(digit_picture(pixels), SCALE),
        f"saliency-{found['digit']}-vs-{found['versus']}": saliency_picture(pixels, found["saliency"]),
        "occlusion": enlarge(diverging(np.reshape(occluded["drop"], (IMAGE_SIZE, IMAGE_SIZE)), base=under), SCALE),
    }
    pictures.update({name: activation_picture(entry) for name, entry in found["activations"].items()})
    return pictures


def explain_order(labels, predictions):
    """Test image indices, the misclassified first (in index order), then the rest."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    wrong = labels != predictions
    return np.concatenate([np.flatnonzero(wrong), np.flatnonzero(~wrong)])


def write_explanations(model, images, labels, predictions, directory, count):
    """PNG pictures for `count` of the images (uint8 (N, 28, 28)), misclassified first: in `directory`, the first
    layer's weights (weights-fc1.png or weights-conv1.png, weights-conv2.png) and a folder per image,
    RANK-testINDEX-labelL-predictedP/, holding explanation_pictures' pictures. Returns the folders written."""
    os.makedirs(directory, exist_ok=True)
    for layer, picture in weights_pictures(model).items():
        write_png(os.path.join(directory, f"weights-{layer}.png"), to_uint8(picture))
    folders = []
    for rank, index in enumerate(explain_order(labels, predictions)[:count]):
        folder = os.path.join(directory, f"{rank:03d}-test{index:05d}-label{labels[index]}-"
                                         f"predicted{predictions[index]}")
        os.makedirs(folder, exist_ok=True)
        for stem, picture in explanation_pictures(model, images[index]).items():
            write_png(os.path.join(folder, f"{stem}.png"), to_uint8(picture))
        folders.append(folder)
    return folders


def to_uint8(picture):
    """An RGB float picture in [0, 255] -> uint8, rounded."""
    return np.rint(np.clip(picture, 0, 255)).astype(np.uint8)


def _largest(values):
    """The largest value of `values` (>= 0), or 1 where all are zero (a blank picture, not a division by zero)."""
    largest = float(np.max(values)) if np.size(values) else 0.0
    return largest if largest > 0 else 1.0
