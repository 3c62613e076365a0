"""An independent implementation of the two reference models, for tests only.

Written differently on purpose: float64, channels-first (N, C, H, W), convolution as explicit
loops over kernel taps and channels on a padded image, pooling by reshape, einsum for the dense
layers, and the loss per 500-image batch by a loop. It shares no code with mnist_core's kernels.
"""

import math

import numpy as np


def fc_layers(params, x):
    """x (N, 28, 28) float in [0, 1] -> every layer's values, float64: fc1 (before ReLU) and fc1.relu (N, 500),
    logits (N, 10)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), 784)
    w1, b1 = params["fc1.weight"].astype(np.float64), params["fc1.bias"].astype(np.float64)
    w2, b2 = params["fc2.weight"].astype(np.float64), params["fc2.bias"].astype(np.float64)
    pre = np.einsum("hi,ni->nh", w1, x) + b1
    hidden = np.maximum(pre, 0.0)
    return {"fc1": pre, "fc1.relu": hidden, "logits": np.einsum("oh,nh->no", w2, hidden) + b2}


def fc_logits(params, images):
    return fc_layers(params, images.astype(np.float64) / 255.0)["logits"]


def _conv_same(x, kernel, bias):
    n, c_in, h, w = x.shape
    c_out = kernel.shape[0]
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, c_out, h, w))
    for o in range(c_out):
        for c in range(c_in):
            for i in range(3):
                for j in range(3):
                    out[:, o] += kernel[o, c, i, j] * padded[:, c, i:i + h, j:j + w]
        out[:, o] += bias[o]
    return out


def _pool(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def cnn_layers(params, x):
    """x (N, 28, 28) float in [0, 1] -> every layer's values, float64, in the reference's order (conv + bias, ReLU,
    then pool), channels first: conv1 (before ReLU) and conv1.relu (N, 8, 28, 28), conv1.pool (N, 8, 14, 14),
    conv2 and conv2.relu (N, 16, 14, 14), conv2.pool (N, 16, 7, 7), dense.input (N, 784), logits (N, 10)."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    layers = {}
    a = np.asarray(x, dtype=np.float64).reshape(len(x), 1, 28, 28)
    for name in ("conv1", "conv2"):
        layers[name] = _conv_same(a, p[f"{name}.kernel"], p[f"{name}.bias"].reshape(-1))
        layers[f"{name}.relu"] = np.maximum(layers[name], 0.0)
        a = layers[f"{name}.pool"] = _pool(layers[f"{name}.relu"])
    flat = a.transpose(0, 2, 3, 1).reshape(len(x), 7 * 7 * 16)  # Keras order: (y, x, c)
    layers["dense.input"] = flat
    layers["logits"] = np.einsum("of,nf->no", p["dense.weight"], flat) + p["dense.bias"]
    return layers


def cnn_logits(params, images):
    return cnn_layers(params, images.astype(np.float64) / 255.0)["logits"]


LOGITS = {"mnist-fc": fc_logits, "mnist-cnn": cnn_logits}
LAYERS = {"mnist-fc": fc_layers, "mnist-cnn": cnn_layers}


def ggml_scores(logits, labels, batch=500):
    """(loss, loss uncertainty, accuracy, accuracy uncertainty) as ggml's mnist-eval defines them."""
    batch_means = []
    for start in range(0, len(labels), batch):
        z = logits[start:start + batch]
        y = labels[start:start + batch]
        log_sum = np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1)
        batch_means.append(float(np.mean(log_sum - z[np.arange(len(y)), y])))
    mean = sum(batch_means) / len(batch_means)
    var = sum((b - mean) ** 2 for b in batch_means) / len(batch_means)
    accuracy = float(np.mean(logits.argmax(axis=1) == labels))
    accuracy_unc = math.sqrt(accuracy * (1 - accuracy) / (len(labels) - 1))
    return mean, math.sqrt(var / (len(batch_means) - 1)), accuracy, accuracy_unc
