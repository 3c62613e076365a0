"""The array-backend switch: NumPy by default, CuPy only when asked for, one clear line when it cannot be had."""

import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import cupy_backends
from mnist_core import backend
from mnist_core.errors import BackendUnavailableError

cupy_backend = cupy_backends.cupy_backend  # the fixture: the stand-in, and real CuPy where there is a GPU

PACKAGE = Path(backend.__file__).resolve().parent


def test_numpy_is_the_default():
    assert backend.get_array_module() is np
    assert backend.get_array_module("numpy") is np


def test_missing_cupy_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(BackendUnavailableError, match=r"CuPy is not installed.*pip install mnist-core\[cupy\]"):
        backend.get_array_module("cupy")


def test_cupy_without_a_gpu_is_one_clear_error(monkeypatch):
    def no_driver():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_driver)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(BackendUnavailableError, match="no usable CUDA GPU.*cudaErrorNoDevice"):
        backend.get_array_module("cupy")


def test_unknown_backend_names_the_choices():
    with pytest.raises(BackendUnavailableError, match="unknown backend 'torch'.*numpy, cupy"):
        backend.get_array_module("torch")


@pytest.mark.parametrize("tool", ["eval", "train"])
def test_cli_backend_cupy_without_cupy_is_one_line(tool, tmp_path):
    """Both CLIs: non-zero exit, one line on stderr with the install hint, no traceback."""
    # A sitecustomize that hides any installed CuPy, so the test means the same on every machine.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['cupy'] = None\n")
    args = ["mnist-fc", str(tmp_path / "out.gguf")] if tool == "train" else []
    result = subprocess.run([sys.executable, "-m", f"mnist_core.{tool}", *args, "--backend", "cupy"],
                            capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr + result.stdout
    assert re.search(r"pip install mnist-core\[cupy\]", result.stderr)


def test_numpy_path_never_imports_cupy():
    code = ("import sys, mnist_core.eval, mnist_core.train, mnist_core.browser, mnist_core.training;"
            "from mnist_core.models import init_model;"
            "init_model('mnist-cnn').predict(__import__('numpy').zeros((2, 28, 28), 'uint8'));"
            "print('cupy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_kernels_and_models_never_call_numpy_directly():
    """Kernels take `xp`; only backend.py (and host-side helpers) may name NumPy."""
    for path in [*(PACKAGE / "layers").glob("*.py"), PACKAGE / "models" / "fc.py", PACKAGE / "models" / "cnn.py"]:
        source = path.read_text()
        assert not re.search(r"^\s*(import numpy|from numpy)", source, re.M), path
        assert not re.search(r"\bnp\.", source), path


# --- The CuPy code path, end to end: on a strict stand-in everywhere (CI has neither CuPy nor a GPU),
# and on real CuPy where it is importable (tests/cupy_backends.py; scripts/gpu-check.sh).

def image_transfers(transfers, direction):
    """The transfers in `direction` of whole image batches (uint8 (N, 28, 28) or float (N, 28, 28))."""
    return [t for t in transfers if t[0] == direction and len(t[2]) == 3 and t[2][1:] == (28, 28)]


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_eval_on_the_cupy_path_matches_numpy_and_moves_the_images_once(arch, cupy_backend, mnist_test):
    from mnist_core.evaluation import evaluate
    from mnist_core.models import init_model
    module, transfers = cupy_backend
    images, labels = mnist_test[0][:1200], mnist_test[1][:1200]
    host_model = init_model(arch, seed=3)
    device_model = host_model.to(module)
    assert all(isinstance(p, module.ndarray) for p in device_model.params.values())
    if transfers is not None:
        transfers.clear()
    on_device, on_host = evaluate(device_model, images, labels), evaluate(host_model, images, labels)
    # The stand-in computes with NumPy itself; a GPU sums in another order, which may flip a near-tie
    # of this untrained model's logits.
    assert (on_device.predictions != on_host.predictions).sum() <= (0 if transfers is not None else 2)
    assert on_device.loss == pytest.approx(on_host.loss, rel=1e-6 if transfers is not None else 1e-4)
    if transfers is not None:
        assert on_device.accuracy == on_host.accuracy
        assert len(image_transfers(transfers, "to_device")) == 1   # not once per slice of 500
        assert all(t[0] == "to_device" or len(t[2]) == 1 for t in transfers)  # back: predictions, losses


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_training_on_the_cupy_path_equals_numpy_and_keeps_the_data_on_the_device(arch, cupy_backend):
    from mnist_core.models import init_model
    from mnist_core.training import TrainConfig, train
    from test_training import synthetic_digits
    module, transfers = cupy_backend
    images, labels = synthetic_digits(400)
    config = TrainConfig(epochs=2, batch_size=50, learning_rate=0.005, seed=2, augment=True,
                         stroke_width=0.5, shear=0.2, elastic=2.0)  # every warp the augmentation has
    host_model, device_model = init_model(arch, seed=1), init_model(arch, seed=1, xp=module)
    if transfers is not None:
        transfers.clear()
    device_history = train(device_model, images, labels, config)
    host_history = train(host_model, images, labels, config)
    if transfers is not None:
        # Training and validation images go over once per run. What comes back is, per epoch, one
        # (8 steps, 2) array of the steps' losses and right answers (not one read per step), and
        # what evaluate() reads of the 20 validation images (predictions, losses, labels).
        assert len(image_transfers(transfers, "to_device")) == 2
        back = [t[2] for t in transfers if t[0] == "to_host"]
        assert sorted(back) == sorted([(8, 2), (20,), (20,), (20,)] * 2)
    tolerance = dict(rtol=1e-5, atol=1e-6) if transfers is not None else dict(rtol=1e-3, atol=1e-4)
    for name, value in host_model.params.items():
        np.testing.assert_allclose(backend.to_host(device_model.params[name]), value, **tolerance)
    for on_device, on_host in zip(device_history, host_history, strict=True):
        assert on_device.val_accuracy == pytest.approx(on_host.val_accuracy, abs=0 if transfers is not None else 0.05)
        assert on_device.train_loss == pytest.approx(on_host.train_loss, rel=1e-5 if transfers is not None else 1e-3)


def test_training_reports_every_batch_on_the_cupy_path_too(cupy_backend):
    """On a device the per-batch figures come back once per epoch, but the reporter still gets
    every batch, with the same numbers as on NumPy."""
    from mnist_core.models import init_model
    from mnist_core.training import TrainConfig, train
    from mnist_core.training.run import SilentReporter
    from test_training import synthetic_digits
    module, _ = cupy_backend

    class Recorder(SilentReporter):
        def __init__(self):
            self.calls = []

        def batch(self, n_images, loss, accuracy):
            self.calls.append((n_images, loss, accuracy))

    images, labels = synthetic_digits(230)
    config = TrainConfig(epochs=1, batch_size=50, seed=5, augment=False)
    on_device, on_host = Recorder(), Recorder()
    train(init_model("mnist-fc", seed=2, xp=module), images, labels, config, reporter=on_device)
    train(init_model("mnist-fc", seed=2), images, labels, config, reporter=on_host)
    assert [c[0] for c in on_device.calls] == [50, 50, 50, 50, 18]   # 218 training images
    for (n, loss, accuracy), (_, host_loss, host_accuracy) in zip(on_device.calls, on_host.calls, strict=True):
        assert loss == pytest.approx(host_loss, rel=1e-4) and accuracy == pytest.approx(host_accuracy, abs=1 / n)


def test_fused_kernels_are_used_only_on_real_cupy_and_equal_the_plain_code(cupy_backend):
    """bias + ReLU and AdamW: one fused ElementwiseKernel on real CuPy, plain `xp` passes on NumPy and the
    stand-in; both give what NumPy gives."""
    from mnist_core.layers import bias_relu_forward
    from mnist_core.training import AdamW
    module, transfers = cupy_backend
    assert (backend.fused_kernel(module, "test_copy", "T x", "T y", "y = x") is None) == (transfers is not None)
    assert backend.fused_kernel(np, "test_copy", "T x", "T y", "y = x") is None
    rng = np.random.default_rng(0)
    x, bias = rng.normal(size=(3, 4, 5, 6)).astype(np.float32), rng.normal(size=(3, 1, 1, 1)).astype(np.float32)
    y, cache = bias_relu_forward(module, module.asarray(x), module.asarray(bias))
    np.testing.assert_allclose(backend.to_host(y), np.maximum(x + bias, 0), rtol=1e-6)
    in_place = module.asarray(x)
    bias_relu_forward(module, in_place, module.asarray(bias), out=in_place)
    np.testing.assert_array_equal(backend.to_host(in_place), backend.to_host(y))

    params = {"w": rng.normal(size=(7, 5)).astype(np.float32), "b": rng.normal(size=5).astype(np.float32)}
    device_params = {name: module.asarray(p) for name, p in params.items()}
    on_host = AdamW(params, lr=0.01, weight_decay=0.1, xp=np)
    on_device = AdamW(device_params, lr=0.01, weight_decay=0.1, xp=module)
    for _ in range(3):
        grads = {name: rng.normal(size=p.shape).astype(np.float32) for name, p in params.items()}
        on_host.step(params, grads, lr=0.02)
        on_device.step(device_params, {name: module.asarray(g) for name, g in grads.items()}, lr=0.02)
    for name, p in params.items():
        np.testing.assert_allclose(backend.to_host(device_params[name]), p, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(backend.to_host(on_device.v[name]), on_host.v[name], rtol=1e-5, atol=1e-9)


def test_train_and_eval_clis_run_on_the_cupy_path(cupy_backend, tmp_path, capsys):
    from mnist_core.eval import main as eval_main
    from mnist_core.formats.idx import write_idx_images, write_idx_labels
    from mnist_core.train import main as train_main
    from test_training import synthetic_digits
    images, labels = synthetic_digits(300)
    write_idx_images(tmp_path / "images", images)
    write_idx_labels(tmp_path / "labels", labels)
    data = [str(tmp_path / "images"), str(tmp_path / "labels")]
    out = tmp_path / "model.gguf"
    assert train_main(["mnist-cnn", str(out), *data, "--epochs", "1", "--batch-size", "50", "--backend", "cupy",
                       "--test-images", data[0], "--test-labels", data[1]]) == 0
    trained = capsys.readouterr().out
    assert eval_main([str(out), *data, "--backend", "cupy"]) == 0
    evaluated = capsys.readouterr().out
    for line in ("test_loss", "test_acc"):
        assert re.search(rf"{line}=\S+", trained).group() == re.search(rf"{line}=\S+", evaluated).group()
