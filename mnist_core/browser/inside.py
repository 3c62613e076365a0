"""The page's "inside the model" view, in numbers: mnist_core.explain's results with their arrays as float32 arrays.

explain's results are plain lists, which Pyodide converts into JavaScript one float at a time; the
CNN's activations alone are 13,000 floats a prediction. A flat NumPy float32 array crosses as one
copy instead: Pyodide's toJs makes it a Float32Array, which web/inside-model.js draws from
(bench/bench_web.py times the whole in the worker). Every {"shape", "values"} array and each
784-pixel map (saliency, occlusion's drop) is one; a few numbers (the ten logits and
probabilities, a bias) stay as they are.
"""

import operator

import numpy as np

from ..backend import to_host
from ..explain import explain, layer_weights, occlusion, unit_weights
from ..mnist import IMAGE_SIZE

TRAINING_UNITS = 64  # mnist-fc hidden units whose input weights the page redraws while a model trains (8 x 8)


def float32_array(values):
    """Floats (a list or an array, on the host) -> a flat float32 copy (never a view of a model's live weights):
    a Float32Array once in JavaScript."""
    return np.array(values, dtype=np.float32).ravel()


def explanation(model, image, versus=None):
    """explain(model, image, versus) with "saliency" and every activation's values as float32 arrays."""
    found = explain(model, image, versus)
    return {**found, "activations": {name: _packed(array) for name, array in found["activations"].items()},
            "saliency": float32_array(found["saliency"])}


def occluded(model, image):
    """occlusion(model, image) with "drop" as a float32 array."""
    found = occlusion(model, image)
    return {**found, "drop": float32_array(found["drop"])}


def weights(model, layer):
    """layer_weights(model, layer), each parameter's values as a float32 array: {"kernel": {"shape", "values"}, ...}."""
    return {kind: _packed(array) for kind, array in layer_weights(model, layer).items()}


def unit(model, index):
    """unit_weights(model, index) with its "input" (28x28) and "output" (10) weights as float32 arrays."""
    found = unit_weights(model, index)
    return {**found, "input": _packed(found["input"]), "output": _packed(found["output"])}


def first_layer(model, units=TRAINING_UNITS):
    """The first layer's weights, as the page redraws them while a model trains, as a float32 array:
    mnist-fc: {"layer": "fc1", "weights": {"shape": [units, 28, 28], ...}}, the input weights of the first
    `units` hidden units (not all 392,000 weights, a few times a second); mnist-cnn: {"layer": "conv1",
    "weights": {"shape": [8, 1, 3, 3], ...}}, its kernels."""
    if "fc1.weight" not in model.params:
        return {"layer": "conv1", "weights": _packed(layer_weights(model, "conv1")["kernel"])}
    hidden = model.params["fc1.weight"]                                        # (500, 784)
    units = operator.index(units)
    if not 1 <= units <= hidden.shape[0]:
        raise ValueError(f"{model.arch}: expected 1..{hidden.shape[0]} hidden units to show, got {units}")
    values = to_host(hidden[:units])
    return {"layer": "fc1", "weights": {"shape": [units, IMAGE_SIZE, IMAGE_SIZE], "values": float32_array(values)}}


def _packed(array):
    return {"shape": array["shape"], "values": float32_array(array["values"])}
