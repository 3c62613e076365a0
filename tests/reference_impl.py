"""An independent implementation of the two reference models, for tests only.

Written differently on purpose: float64, channels-first (N, C, H, W), convolution as explicit
loops over kernel taps and channels on a padded image, pooling by reshape, einsum for the dense
layers, and the loss per 500-image batch by a loop. It shares no code with mnist_core's kernels.
"""

import math

import numpy as np


def fc_logits(params, images):
    x = images.reshape(len(images), 784).astype(np.float64) / 255.0
    w1, b1 = params["fc1.weight"].astype(np.float64), params["fc1.bias"].astype(np.float64)
    w2, b2 = params["fc2.weight"].astype(np.float64), params["fc2.bias"].astype(np.float64)
    hidden = np.maximum(np.einsum("hi,ni->nh", w1, x) + b1, 0.0)
    return np.einsum("oh,nh->no", w2, hidden) + b2


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


def _relu_pool(x):
    x = np.maximum(x, 0.0)
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def cnn_logits(params, images):
    p = {k: v.astype(np.float64) for k, v in params.items()}
    x = images.reshape(len(images), 1, 28, 28).astype(np.float64) / 255.0
    x = _relu_pool(_conv_same(x, p["conv1.kernel"], p["conv1.bias"].reshape(-1)))
    x = _relu_pool(_conv_same(x, p["conv2.kernel"], p["conv2.bias"].reshape(-1)))
    flat = x.transpose(0, 2, 3, 1).reshape(len(images), 7 * 7 * 16)  # Keras order: (y, x, c)
    return np.einsum("of,nf->no", p["dense.weight"], flat) + p["dense.bias"]


LOGITS = {"mnist-fc": fc_logits, "mnist-cnn": cnn_logits}


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
