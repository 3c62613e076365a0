"""PyTorch as an independent oracle: our logits and gradients against torch's, on the same weights.

PyTorch (the CPU build, torch==2.13.0) is in the dev extra, not a dependency of mnist-core; without it these
tests skip, and under the README's test command they fail. The PyTorch modules live in
bench/torch_reference.py, shared with the benchmarks.
"""

import sys

import numpy as np
import pytest

from conftest import REPO, SHIPPED_MODELS, skip_unless_available
from mnist_core.layers import softmax_cross_entropy, softmax_cross_entropy_backward
from mnist_core.models import init_model, load_model

try:
    import torch
except ImportError:
    torch = None
pytestmark = skip_unless_available(None if torch else "PyTorch is not installed (pip install torch==2.13.0: dev extra)")
if torch is not None:
    sys.path.insert(0, str(REPO / "bench"))
    from torch_reference import grads_as_ours, images_to_tensor, torch_model_from


def model_for(arch):
    """The shipped model when it exists (trained weights), else freshly initialised weights."""
    if SHIPPED_MODELS[arch].exists():
        return load_model(SHIPPED_MODELS[arch])
    return init_model(arch, seed=11)


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_logits_match_pytorch_on_1000_test_images(arch, mnist_test):
    images, _ = mnist_test
    model = model_for(arch)
    with torch.inference_mode():
        expected = torch_model_from(model)(images_to_tensor(images[:1000])).numpy()
    np.testing.assert_allclose(model.logits(images[:1000]), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("arch", ["mnist-cnn", "mnist-fc"])
def test_gradients_of_mean_cross_entropy_match_pytorch_autograd(arch, mnist_test):
    images, labels = mnist_test
    images, labels = images[:64], labels[:64].astype(np.int64)
    model = init_model(arch, seed=5)  # untrained: gradients are large and every unit is alive

    logits, cache = model.forward(model.prepare_input(images))
    _, probs = softmax_cross_entropy(np, logits, labels)
    ours = model.backward(softmax_cross_entropy_backward(np, probs, labels), cache)

    module = torch_model_from(model)
    loss = torch.nn.functional.cross_entropy(module(images_to_tensor(images)), torch.from_numpy(labels))
    loss.backward()
    expected = grads_as_ours(module, arch)

    assert ours.keys() == expected.keys()
    for name, grad in expected.items():
        scale = float(np.abs(grad).max())
        np.testing.assert_allclose(ours[name], grad, rtol=1e-4, atol=1e-4 * scale, err_msg=name)
