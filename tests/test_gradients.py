"""Every layer's backward pass against central finite differences, in float64."""

import numpy as np
import pytest

from mnist_core.layers import (channel_bias_backward, channel_bias_forward, conv3x3_backward, conv3x3_forward,
                               dense_backward, dense_forward, maxpool2x2_backward, maxpool2x2_forward,
                               relu_backward, relu_forward, softmax_cross_entropy,
                               softmax_cross_entropy_backward)
from mnist_core.models import init_model

xp = np


def numerical_gradient(f, x, eps=1e-6):
    """d f(x) / dx by central differences, one element at a time (f returns a scalar)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        plus = f()
        x[i] = old - eps
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def assert_close(analytic, numeric):
    err = np.abs(analytic - numeric).max() / max(1e-8, np.abs(numeric).max())
    assert err < 1e-6, f"relative error {err:.2e}"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_dense_backward_matches_finite_differences(rng):
    x, w, b = rng.normal(size=(4, 7)), rng.normal(size=(5, 7)), rng.normal(size=5)
    upstream = rng.normal(size=(4, 5))
    loss = lambda: float((dense_forward(xp, x, w, b)[0] * upstream).sum())
    _, cache = dense_forward(xp, x, w, b)
    dx, dw, db = dense_backward(xp, upstream, cache)
    assert_close(dx, numerical_gradient(loss, x))
    assert_close(dw, numerical_gradient(loss, w))
    assert_close(db, numerical_gradient(loss, b))


def test_relu_backward_matches_finite_differences(rng):
    x = rng.normal(size=(3, 8))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink, where the derivative is undefined
    upstream = rng.normal(size=x.shape)
    loss = lambda: float((relu_forward(xp, x)[0] * upstream).sum())
    _, cache = relu_forward(xp, x.copy())
    assert_close(relu_backward(xp, upstream, cache), numerical_gradient(loss, x))


@pytest.mark.parametrize("in_ch,out_ch,size", [(1, 3, 5), (2, 4, 6), (3, 2, 4)])
def test_conv3x3_backward_matches_finite_differences(rng, in_ch, out_ch, size):
    x = rng.normal(size=(in_ch, size, size, 2))
    kernel = rng.normal(size=(out_ch, in_ch, 3, 3))
    upstream = rng.normal(size=(out_ch, size, size, 2))
    loss = lambda: float((conv3x3_forward(xp, x, kernel)[0] * upstream).sum())
    _, cache = conv3x3_forward(xp, x, kernel)
    dx, dkernel = conv3x3_backward(xp, upstream, cache)
    assert_close(dx, numerical_gradient(loss, x))
    assert_close(dkernel, numerical_gradient(loss, kernel))
    assert conv3x3_backward(xp, upstream, cache, need_dx=False)[0] is None


def test_channel_bias_backward_matches_finite_differences(rng):
    x = rng.normal(size=(3, 4, 4, 2))
    bias = rng.normal(size=3)
    upstream = rng.normal(size=x.shape)
    loss = lambda: float((channel_bias_forward(xp, x.copy(), bias)[0] * upstream).sum())
    assert_close(channel_bias_backward(xp, upstream), numerical_gradient(loss, bias))


def test_maxpool_backward_matches_finite_differences(rng):
    x = rng.normal(size=(2, 6, 4, 3))  # distinct values: no ties, so the max is differentiable
    upstream = rng.normal(size=(2, 3, 2, 3))
    loss = lambda: float((maxpool2x2_forward(xp, x)[0] * upstream).sum())
    _, cache = maxpool2x2_forward(xp, x)
    assert_close(maxpool2x2_backward(xp, upstream, cache), numerical_gradient(loss, x))


def test_maxpool_backward_gives_a_tied_window_gradient_once():
    x = np.zeros((1, 2, 2, 1))
    y, cache = maxpool2x2_forward(xp, x)
    dx = maxpool2x2_backward(xp, np.ones_like(y), cache)
    assert dx.sum() == 1 and dx[0, 0, 0, 0] == 1


def test_softmax_cross_entropy_backward_matches_finite_differences(rng):
    logits = rng.normal(size=(5, 10)) * 3
    labels = rng.integers(0, 10, size=5)
    loss = lambda: float(softmax_cross_entropy(xp, logits, labels)[0].mean())
    _, probs = softmax_cross_entropy(xp, logits, labels)
    assert_close(softmax_cross_entropy_backward(xp, probs, labels), numerical_gradient(loss, logits))


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0]])
    losses, probs = softmax_cross_entropy(xp, logits, np.array([2]))
    assert np.isfinite(losses).all() and np.isclose(losses[0], 2000.0)
    assert np.isclose(probs.sum(), 1.0)


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_model_backward_matches_finite_differences(rng, arch):
    """The whole network, every parameter, on a small batch (a sample of entries per tensor)."""
    model = init_model(arch, seed=3)
    # Non-zero biases: with zero biases a layer that corrupts another's cache can go unnoticed.
    model.params = {k: (v + rng.normal(0, 0.1, v.shape) if k.endswith(".bias") else v).astype(np.float64)
                    for k, v in model.params.items()}
    images = rng.random((3, 28, 28))
    labels = np.array([1, 7, 3])

    def loss():
        logits, _ = model.forward(images)
        return float(softmax_cross_entropy(xp, logits, labels)[0].mean())

    logits, cache = model.forward(images)
    _, probs = softmax_cross_entropy(xp, logits, labels)
    grads = model.backward(softmax_cross_entropy_backward(xp, probs, labels), cache)
    assert set(grads) == set(model.params)
    eps = 1e-6
    for name, param in model.params.items():
        assert grads[name].shape == param.shape, name
        flat = param.reshape(-1)
        for i in rng.choice(flat.size, size=min(12, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + eps
            plus = loss()
            flat[i] = old - eps
            minus = loss()
            flat[i] = old
            numeric = (plus - minus) / (2 * eps)
            analytic = grads[name].reshape(-1)[i]
            assert abs(analytic - numeric) <= 1e-6 + 1e-5 * abs(numeric), (name, i, analytic, numeric)
