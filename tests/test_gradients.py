"""Every layer's backward pass against central finite differences, in float64."""

import numpy as np
import pytest

import cupy_backends
from mnist_core.backend import to_host
from mnist_core.layers import (
    Workspace,
    channel_bias_backward,
    channel_bias_forward,
    conv3x3_backward,
    conv3x3_forward,
    dense_backward,
    dense_forward,
    maxpool2x2_backward,
    maxpool2x2_forward,
    relu_backward,
    relu_forward,
    softmax_cross_entropy,
    softmax_cross_entropy_backward,
)
from mnist_core.models import init_model, model_class
from mnist_core.models.base import INPUT_GRADIENT

xp = np
cupy_backend = cupy_backends.cupy_backend  # the fixture: the stand-in, and real CuPy where there is a GPU


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
    def loss():
        return float((dense_forward(xp, x, w, b)[0] * upstream).sum())
    _, cache = dense_forward(xp, x, w, b)
    dx, dw, db = dense_backward(xp, upstream, cache)
    assert_close(dx, numerical_gradient(loss, x))
    assert_close(dw, numerical_gradient(loss, w))
    assert_close(db, numerical_gradient(loss, b))


def test_relu_backward_matches_finite_differences(rng):
    x = rng.normal(size=(3, 8))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink, where the derivative is undefined
    upstream = rng.normal(size=x.shape)
    def loss():
        return float((relu_forward(xp, x)[0] * upstream).sum())
    _, cache = relu_forward(xp, x.copy())
    assert_close(relu_backward(xp, upstream, cache), numerical_gradient(loss, x))


@pytest.mark.parametrize("in_ch,out_ch,size", [(1, 3, 5), (2, 4, 6), (3, 2, 4)])
def test_conv3x3_backward_matches_finite_differences(rng, in_ch, out_ch, size):
    x = rng.normal(size=(in_ch, size, size, 2))
    kernel = rng.normal(size=(out_ch, in_ch, 3, 3))
    upstream = rng.normal(size=(out_ch, size, size, 2))
    def loss():
        return float((conv3x3_forward(xp, x, kernel)[0] * upstream).sum())
    _, cache = conv3x3_forward(xp, x, kernel)
    dx, dkernel = conv3x3_backward(xp, upstream, cache)
    assert_close(dx, numerical_gradient(loss, x))
    assert_close(dkernel, numerical_gradient(loss, kernel))
    assert conv3x3_backward(xp, upstream, cache, need_dx=False)[0] is None


def test_channel_bias_backward_matches_finite_differences(rng):
    x = rng.normal(size=(3, 4, 4, 2))
    bias = rng.normal(size=3)
    upstream = rng.normal(size=x.shape)
    def loss():
        return float((channel_bias_forward(xp, x.copy(), bias)[0] * upstream).sum())
    assert_close(channel_bias_backward(xp, upstream), numerical_gradient(loss, bias))


def test_maxpool_backward_matches_finite_differences(rng):
    x = rng.normal(size=(2, 6, 4, 3))  # distinct values: no ties, so the max is differentiable
    upstream = rng.normal(size=(2, 3, 2, 3))
    def loss():
        return float((maxpool2x2_forward(xp, x)[0] * upstream).sum())
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
    def loss():
        return float(softmax_cross_entropy(xp, logits, labels)[0].mean())
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


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_model_input_gradient_matches_finite_differences(rng, arch):
    """backward(..., input_grad=True): the gradient wrt the images (a sample of pixels of each), from the layers'
    own backward passes; the parameters' gradients are the same as without it, and without it there is none."""
    model = init_model(arch, seed=3)
    model.params = {k: (v + rng.normal(0, 0.1, v.shape) if k.endswith(".bias") else v).astype(np.float64)
                    for k, v in model.params.items()}
    images = rng.random((3, 28, 28))
    upstream = rng.normal(size=(3, 10))

    def loss():
        return float((model.forward(images)[0] * upstream).sum())

    grads = model.backward(upstream, model.forward(images)[1], input_grad=True)
    plain = model.backward(upstream, model.forward(images)[1])
    assert INPUT_GRADIENT not in plain and set(grads) == {*plain, INPUT_GRADIENT}
    for name, grad in plain.items():
        np.testing.assert_array_equal(grads[name], grad, err_msg=name)
    dx = grads[INPUT_GRADIENT]
    assert dx.shape == images.shape
    eps = 1e-6
    flat = images.reshape(-1)
    for i in rng.choice(flat.size, size=40, replace=False):
        old = flat[i]
        flat[i] = old + eps
        plus = loss()
        flat[i] = old - eps
        minus = loss()
        flat[i] = old
        numeric = (plus - minus) / (2 * eps)
        assert abs(dx.reshape(-1)[i] - numeric) <= 1e-6 + 1e-5 * abs(numeric), (i, dx.reshape(-1)[i], numeric)


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_an_input_gradient_outlives_the_next_backward_pass(rng, arch):
    """The input gradient is the caller's own array, not a workspace's that the next pass overwrites."""
    model = init_model(arch, seed=2)
    first, second = rng.random((1, 28, 28)).astype(np.float32), rng.random((1, 28, 28)).astype(np.float32)
    upstream = np.ones((1, 10), np.float32)
    dx = model.backward(upstream, model.forward(first)[1], input_grad=True)[INPUT_GRADIENT]
    kept = dx.copy()
    model.backward(upstream, model.forward(second)[1], input_grad=True)
    np.testing.assert_array_equal(dx, kept)


def test_maxpool_backward_gives_each_tied_window_to_its_first_position():
    """Whole windows of equal values (MNIST's blank background) and partial ties, in every position."""
    x = np.zeros((1, 4, 4, 2))
    x[0, 0, 1, 0] = x[0, 1, 0, 0] = 5.0          # window (0, 0), image 0: tie between positions 1 and 2
    x[0, 3, 3, 1] = 2.0                          # window (1, 1), image 1: the last position alone
    y, cache = maxpool2x2_forward(xp, x)
    dx = maxpool2x2_backward(xp, np.arange(1.0, 9.0).reshape(y.shape), cache)
    expected = np.zeros_like(x)
    expected[0, 0, 1, 0] = 1.0                    # the tie goes to position 1 (top-right), not 2
    expected[0, 0, 0, 1] = 2.0                    # all-zero windows: top-left
    expected[0, 0, 2, 0], expected[0, 0, 2, 1] = 3.0, 4.0
    expected[0, 2, 0, 0], expected[0, 2, 0, 1] = 5.0, 6.0
    expected[0, 2, 2, 0], expected[0, 3, 3, 1] = 7.0, 8.0
    np.testing.assert_array_equal(dx, expected)


def test_kernels_give_the_same_results_with_a_workspace_and_reuse_its_arrays(rng):
    workspace = Workspace(xp)
    x = rng.normal(size=(3, 6, 4, 5)).astype(np.float32)
    kernel = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    upstream = rng.normal(size=(4, 6, 4, 5)).astype(np.float32)
    fresh_y, fresh_cache = conv3x3_forward(xp, x, kernel)
    fresh_dx, fresh_dk = conv3x3_backward(xp, upstream, fresh_cache)
    for round_ in range(2):  # the second round gets the same memory back
        y, cache = conv3x3_forward(xp, x, kernel, workspace=workspace.scope("conv"))
        dx, dk = conv3x3_backward(xp, upstream, cache, workspace=workspace.scope("conv"))
        np.testing.assert_array_equal(y, fresh_y)
        np.testing.assert_array_equal(dx, fresh_dx)
        np.testing.assert_array_equal(dk, fresh_dk)
        pooled, pool_cache = maxpool2x2_forward(xp, y, workspace=workspace.scope("pool"))
        dpool = maxpool2x2_backward(xp, pooled, pool_cache, workspace=workspace.scope("pool"))
        np.testing.assert_array_equal(dpool, maxpool2x2_backward(xp, pooled, maxpool2x2_forward(xp, y)[1]))
        if round_ == 0:
            first = (y, dx, pooled, dpool)
    assert all(np.shares_memory(a, b) for a, b in zip(first, (y, dx, pooled, dpool), strict=True))
    held = workspace.nbytes
    conv3x3_forward(xp, x[:, :, :, :2], kernel, workspace=workspace.scope("conv"))   # another batch size
    assert workspace.nbytes < held  # replaced, not added


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_a_model_reusing_its_workspace_gives_the_same_gradients_batch_after_batch(rng, arch):
    model = init_model(arch, seed=2)
    first_batch, second_batch = rng.random((6, 28, 28)).astype(np.float32), rng.random((4, 28, 28)).astype(np.float32)
    labels = {6: np.arange(6) % 10, 4: np.arange(4) % 10}

    def gradients(images):
        logits, cache = model.forward(images)
        _, probs = softmax_cross_entropy(xp, logits, labels[len(images)])
        return model.backward(softmax_cross_entropy_backward(xp, probs, labels[len(images)]), cache)

    first, _, again = (gradients(images) for images in (first_batch, second_batch, first_batch))
    for name in first:
        np.testing.assert_array_equal(again[name], first[name])


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_model_gradients_on_the_cupy_path_equal_numpys(rng, arch, cupy_backend):
    """Forward and backward in float64 on the CuPy backend give NumPy's logits and gradients."""
    module, _ = cupy_backend
    cls = model_class(arch)
    weights = init_model(arch, seed=3).host_params()
    weights = {k: v + rng.normal(0, 0.1, v.shape).astype(np.float32) if k.endswith(".bias") else v
               for k, v in weights.items()}
    on_host, on_device = cls(weights, dtype=np.float64), cls(weights, xp=module, dtype=np.float64)
    images, labels = rng.random((5, 28, 28)), np.array([1, 7, 3, 0, 9])
    results = []
    for model, images_there, labels_there in ((on_host, images, labels),
                                              (on_device, module.asarray(images), module.asarray(labels))):
        logits, cache = model.forward(images_there)
        _, probs = softmax_cross_entropy(model.xp, logits, labels_there)
        grads = model.backward(softmax_cross_entropy_backward(model.xp, probs, labels_there), cache)
        results.append((to_host(logits), {name: to_host(g) for name, g in grads.items()}))
    (host_logits, host_grads), (device_logits, device_grads) = results
    np.testing.assert_allclose(device_logits, host_logits, rtol=1e-10, atol=1e-12)
    for name, grad in host_grads.items():
        np.testing.assert_allclose(device_grads[name], grad, rtol=1e-9, atol=1e-12, err_msg=name)


def test_a_training_step_taken_in_slices_equals_the_step_on_the_whole_batch(rng):
    """gradient_step sums the slices' gradients (each scaled by its share) into the batch's gradient."""
    from mnist_core.training.engine import gradient_step

    class Recorder:  # an optimiser that keeps the gradients it is given
        def step(self, params, grads, lr, pool=None):
            self.grads = {name: grad.copy() for name, grad in grads.items()}

    images, labels = rng.random((10, 28, 28)), rng.integers(0, 10, 10)
    results = []
    for training_slice in (None, 4):   # the whole batch; slices of 4, 4 and 2
        model = model_class("mnist-cnn")(init_model("mnist-cnn", seed=5).host_params(), dtype=np.float64)
        model.training_slice = training_slice
        recorder = Recorder()
        results.append((gradient_step(model, recorder, images, labels, lr=0.01), recorder.grads))
    (whole_figures, whole_grads), (sliced_figures, sliced_grads) = results
    np.testing.assert_allclose(sliced_figures, whole_figures, rtol=1e-12)
    for name, grad in whole_grads.items():
        np.testing.assert_allclose(sliced_grads[name], grad, rtol=1e-9, atol=1e-15, err_msg=name)
