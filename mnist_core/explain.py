"""What a model computes for one image, shown: the page's "inside the model" view and the desktop's pictures.

`explain` gives the prediction, every layer's activations and a saliency map from one forward and one
backward pass through the model's own kernels, on its own `xp` (NumPy, CuPy, or NumPy in Pyodide).
`occlusion` asks the same question without gradients: how much erasing each patch of the image costs
the predicted digit. `layer_weights` and `unit_weights` give the parameters the page draws.

Results are plain dicts of ints, floats and lists (the page's App gives their arrays as flat float32
arrays: browser/inside.py). An array is always {"shape": [...], "values": [flat floats, C order]}. docs/explain.md
says how to read them.
"""

import operator

import numpy as np

from .backend import to_host
from .layers import softmax
from .layers.products import matmul
from .mnist import IMAGE_SIZE, N_CLASSES, N_PIXELS
from .models.base import INPUT_GRADIENT

OCCLUSION_PATCH = 4   # pixels on a side of the erased square: about a stroke's width and a bit
OCCLUSION_STRIDE = 2  # 13 x 13 squares, so 170 images in occlusion's one forward pass


def explain(model, image, versus=None):
    """One image (784 uint8 pixels, ink = 255: an array or bytes) -> what `model` makes of it:

    {"arch", "digit", "runner_up", "versus", "logits" (10 floats), "probabilities" (10 floats),
     "activations": {layer: {"shape", "values"}}, "saliency": 784 floats}

    `activations` holds the model's own layer outputs for this image (`model.activations`; mnist-fc:
    fc1.relu; mnist-cnn: conv1.relu, conv1.pool, conv2.relu, conv2.pool, dense.input), then "logits" and
    "softmax". `saliency` is d(logits[digit] - logits[versus]) / d(pixel / 255), pixel by pixel in (y, x)
    order, where `versus` is the runner-up unless given (a digit equal to `digit` gives zeros): positive
    where more ink would push toward the prediction, negative toward `versus`. The network is piecewise
    linear in its input, so this is exactly how the logit difference changes as a pixel darkens, until a
    ReLU or a max-pool window switches.
    """
    xp = model.xp
    pixels = _pixels(image)
    x = model.prepare_input(pixels[None]).astype(model.dtype, copy=False)       # (1, 28, 28) in [0, 1]
    logits, cache = model.forward(x)                                             # (1, 10)
    # Read before the backward pass, while the cache's workspace arrays still hold this forward's values.
    activations = {name: _array(values[0]) for name, values in model.activations(cache).items()}
    probabilities = softmax(xp, logits)
    host_logits = to_host(logits)[0]
    order = np.argsort(-host_logits, kind="stable")
    digit, runner_up = int(order[0]), int(order[1])
    versus = runner_up if versus is None else _digit(versus)

    dlogits = xp.zeros((1, N_CLASSES), dtype=logits.dtype)
    dlogits[0, digit] += 1
    dlogits[0, versus] -= 1
    saliency = model.backward(dlogits, cache, input_grad=True)[INPUT_GRADIENT]  # (1, 28, 28)

    activations["logits"] = _array(logits[0])
    activations["softmax"] = _array(probabilities[0])
    return {
        "arch": model.arch,
        "digit": digit,
        "runner_up": runner_up,
        "versus": versus,
        "logits": activations["logits"]["values"],
        "probabilities": activations["softmax"]["values"],
        "activations": activations,
        "saliency": to_host(saliency).ravel().tolist(),
    }


def occlusion(model, image, patch=OCCLUSION_PATCH, stride=OCCLUSION_STRIDE):
    """How much erasing each `patch` x `patch` square (every `stride` pixels, the last flush with the edge) lowers
    the predicted digit's probability:

    {"digit", "probability" (of the digit, unerased), "patch", "stride", "drop": 784 floats}

    drop[pixel] is the mean, over the squares that cover the pixel, of probability - probability with the square
    set to background: positive where the ink supports the prediction, zero where erasing changes nothing.
    One batched forward pass of the image and all its erased copies, through `model.predict_proba`.
    """
    pixels = _pixels(image)
    patch, stride = operator.index(patch), operator.index(stride)
    if not 1 <= patch <= IMAGE_SIZE or not 1 <= stride <= patch:
        raise ValueError(f"occlusion: need 1 <= stride <= patch <= {IMAGE_SIZE}, got patch {patch}, stride {stride}")
    starts = np.array(sorted({*range(0, IMAGE_SIZE - patch + 1, stride), IMAGE_SIZE - patch}))[:, None]
    rows = np.arange(IMAGE_SIZE)
    inside = (rows >= starts) & (rows < starts + patch)                 # (S, 28): whether square s covers row r
    covered = inside[:, None, :, None] & inside[None, :, None, :]                             # (S, S, 28, 28)
    erased = np.where(covered, np.uint8(0), pixels).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)        # (S*S, 28, 28)
    probabilities = model.predict_proba(np.concatenate([pixels[None], erased])).astype(np.float64)
    digit = int(np.argmax(probabilities[0]))
    drop = probabilities[0, digit] - probabilities[1:, digit].reshape(len(starts), len(starts))  # (S, S)
    # Each pixel's mean over the squares covering it: inside.T @ drop @ inside sums them, the counts divide.
    weight = inside.astype(np.float64)
    total = matmul(np, matmul(np, weight.T, drop), weight)                                      # (28, 28)
    counts = np.outer(weight.sum(axis=0), weight.sum(axis=0))
    return {
        "digit": digit,
        "probability": float(probabilities[0, digit]),
        "patch": patch,
        "stride": stride,
        "drop": (total / counts).ravel().tolist(),
    }


def layer_weights(model, layer):
    """A layer's parameters by the last part of their GGUF names, e.g. layer_weights(cnn, "conv1") ->
    {"kernel": {"shape": [8, 1, 3, 3], "values": 72 floats}, "bias": {"shape": [1, 8, 1, 1], ...}}.
    Layers: mnist-fc fc1, fc2; mnist-cnn conv1, conv2, dense."""
    prefix = f"{layer}."
    found = {name[len(prefix):]: _array(value) for name, value in model.params.items() if name.startswith(prefix)}
    if not found:
        layers = ", ".join(dict.fromkeys(name.split(".")[0] for name in model.params))
        raise ValueError(f"{model.arch} has no layer {layer!r}; its layers are {layers}")
    return found


def unit_weights(model, unit):
    """mnist-fc's hidden unit `unit` (0..499): {"unit", "input": {"shape": [28, 28], "values"}, "bias",
    "output": {"shape": [10], "values"}}: the 784 weights from the pixels, its bias, the 10 weights to the logits."""
    if "fc1.weight" not in model.params:
        raise ValueError(f"{model.arch} has no hidden units to show one by one (mnist-fc has)")
    n_hidden = model.params["fc1.weight"].shape[0]
    unit = operator.index(unit)
    if not 0 <= unit < n_hidden:
        raise ValueError(f"{model.arch}: hidden unit {unit} is out of range 0..{n_hidden - 1}")
    return {
        "unit": unit,
        "input": _array(model.params["fc1.weight"][unit].reshape(IMAGE_SIZE, IMAGE_SIZE)),
        "bias": float(to_host(model.params["fc1.bias"][unit])),
        "output": _array(model.params["fc2.weight"][:, unit]),
    }


def _pixels(image):
    """784 uint8 pixels (an array of any shape, or bytes-like) -> a (28, 28) uint8 NumPy array."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        image = np.frombuffer(image, dtype=np.uint8)
    image = to_host(image)
    if image.size != N_PIXELS or image.dtype != np.uint8:
        raise ValueError(f"expected 784 uint8 pixels (28x28), got {image.size} of {image.dtype}")
    return image.reshape(IMAGE_SIZE, IMAGE_SIZE)


def _digit(value):
    digit = operator.index(value)
    if not 0 <= digit < N_CLASSES:
        raise ValueError(f"expected a digit 0..9 to compare against, got {digit}")
    return digit


def _array(values):
    """An `xp` array -> {"shape": [...], "values": [flat floats]}, on the host."""
    values = to_host(values)
    return {"shape": list(values.shape), "values": values.ravel().tolist()}
