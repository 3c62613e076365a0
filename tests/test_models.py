"""The FC and CNN forward passes and the eval CLI against an independent implementation, on real test images."""

import re
import subprocess
import sys

import numpy as np
import pytest

import cupy_backends
import reference_impl
from conftest import SHIPPED_MODELS
from mnist_core.backend import to_host
from mnist_core.errors import ModelError
from mnist_core.formats.gguf_writer import write_gguf
from mnist_core.models import init_model, load_model, save_model

cupy_backend = cupy_backends.cupy_backend  # the fixture: the stand-in, and real CuPy where there is a GPU


def weights_for(arch, tmp_path):
    """The shipped model when it exists (trained weights), else freshly initialised ones, as a GGUF path."""
    if SHIPPED_MODELS[arch].exists():
        return SHIPPED_MODELS[arch]
    path = tmp_path / f"{arch}.gguf"
    save_model(init_model(arch, seed=7), path)
    return path


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_forward_matches_reference_on_1000_test_images(arch, mnist_test, tmp_path):
    images, _ = mnist_test
    model = load_model(weights_for(arch, tmp_path))
    ours = model.logits(images[:1000])
    reference = reference_impl.LOGITS[arch](model.host_params(), images[:1000])
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)
    assert (ours.argmax(axis=1) == reference.argmax(axis=1)).mean() >= 0.999


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_forward_on_the_cupy_path_matches_reference_on_1000_test_images(arch, mnist_test, tmp_path, cupy_backend):
    module, _ = cupy_backend
    images, _ = mnist_test
    model = load_model(weights_for(arch, tmp_path), xp=module)
    ours = to_host(model.logits(module.asarray(images[:1000])))
    reference = reference_impl.LOGITS[arch](model.host_params(), images[:1000])
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4)
    assert (ours.argmax(axis=1) == reference.argmax(axis=1)).mean() >= 0.999


def test_cnn_reads_features_in_channels_last_order():
    """A dense weight that picks feature (y=2, x=3, c=5) must see exactly that activation."""
    model = init_model("mnist-cnn", seed=1)
    model.params["dense.weight"][...] = 0
    model.params["dense.weight"][0, (2 * 7 + 3) * 16 + 5] = 1
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    reference = reference_impl.cnn_logits(model.host_params(), images)
    np.testing.assert_allclose(model.logits(images), reference, rtol=1e-4, atol=1e-5)


def test_inference_in_slices_equals_one_batch():
    model = init_model("mnist-cnn", seed=2)
    images = np.random.default_rng(1).integers(0, 256, (1203, 28, 28), dtype=np.uint8)
    whole = model.logits(images)
    one_by_one = np.concatenate([model.logits(images[i:i + 1]) for i in range(0, 1203, 97)])
    np.testing.assert_allclose(whole[::97], one_by_one, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_eval_cli_loss_and_accuracy_equal_the_reference(arch, mnist_test, mnist_test_files, tmp_path):
    path = weights_for(arch, tmp_path)
    out = subprocess.run([sys.executable, "-m", "mnist_core.eval", str(path), *map(str, mnist_test_files),
                          "--seed", "3"], capture_output=True, text=True, check=True).stdout
    images, labels = mnist_test
    loss, loss_unc, acc, acc_unc = reference_impl.ggml_scores(
        reference_impl.LOGITS[arch](load_model(path).host_params(), images), labels)
    printed = dict(re.findall(r"main: (test_\w+)=(.*)", out))
    assert printed["test_loss"] == f"{loss:.6f}+-{loss_unc:.6f}"
    assert printed["test_acc"] == f"{acc * 100:.2f}+-{acc_unc * 100:.2f}%"
    lines = out.splitlines()
    assert all(re.fullmatch(r"(##|__){28}", row) for row in lines[:28])
    assert re.fullmatch(r"main: loaded model in [\d.]+ ms", lines[28])
    assert re.fullmatch(r"mnist_model_eval: model evaluation on 10000 images took [\d.]+ ms, [\d.]+ us/image",
                        lines[29])
    assert re.fullmatch(r"main: predicted digit is \d", lines[30])


def test_model_round_trips_through_gguf_bytes(tmp_path):
    model = init_model("mnist-cnn", seed=5)
    path = tmp_path / "m.gguf"
    save_model(model, path, {"mnist_core.note": "hello"})
    for source in (path, path.read_bytes()):
        loaded = load_model(source)
        assert loaded.arch == "mnist-cnn" and loaded.metadata["mnist_core.note"] == "hello"
        for name, value in model.host_params().items():
            np.testing.assert_array_equal(loaded.params[name], value)


def test_a_cnn_saved_the_way_ggml_saves_it_loads(tmp_path):
    """ggml's GGUF writer drops trailing ne of 1: its mnist-train stores conv1.bias (ne [1, 1, 8, 1])
    with three dimensions, which reads back as (8, 1, 1). Such files must load, with the same weights."""
    model = init_model("mnist-cnn", seed=2, scheme="ggml")
    params = model.host_params()
    for name in ("conv1.bias", "conv2.bias"):
        params[name] = params[name].reshape(params[name].shape[1:])
    path = tmp_path / "ggml-style.gguf"
    write_gguf(path, {"general.architecture": "mnist-cnn"}, params)
    loaded = load_model(path)
    for name, value in model.host_params().items():
        assert loaded.params[name].shape == value.shape
        np.testing.assert_array_equal(loaded.params[name], value)


def test_a_leading_1_does_not_excuse_a_wrong_shape(tmp_path):
    params = init_model("mnist-cnn").host_params()
    params["conv1.bias"] = np.zeros((1, 1, 8, 2), np.float32)
    path = tmp_path / "bad.gguf"
    write_gguf(path, {"general.architecture": "mnist-cnn"}, params)
    with pytest.raises(ModelError, match=r"'conv1.bias' has shape \(1, 1, 8, 2\), expected \(1, 8, 1, 1\)"):
        load_model(path)


def _write_fc(path, arch="mnist-fc", drop=None, reshape=None, extra=None):
    params = init_model("mnist-fc").host_params()
    if drop:
        del params[drop]
    if reshape:
        params[reshape[0]] = np.zeros(reshape[1], np.float32)
    if extra:
        params[extra] = np.zeros(3, np.float32)
    write_gguf(path, {"general.architecture": arch}, params)
    return path


@pytest.mark.parametrize("kwargs,message", [
    ({"arch": "mnist-rnn"}, "unknown architecture 'mnist-rnn'"),
    ({"drop": "fc2.bias"}, "missing tensor 'fc2.bias'"),
    ({"reshape": ("fc1.weight", (784, 500))}, "tensor 'fc1.weight' has shape (784, 500), expected (500, 784)"),
    ({"extra": "fc3.weight"}, "unexpected tensor 'fc3.weight'"),
])
def test_load_model_rejects_wrong_models_naming_file_and_problem(tmp_path, kwargs, message):
    path = _write_fc(tmp_path / "bad.gguf", **kwargs)
    with pytest.raises(ModelError) as err:
        load_model(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_load_model_requires_an_architecture(tmp_path):
    path = tmp_path / "noarch.gguf"
    write_gguf(path, {"general.name": "x"}, init_model("mnist-fc").host_params())
    with pytest.raises(ModelError, match="no general.architecture"):
        load_model(path)
