"""The array-backend switch: NumPy by default, CuPy only when asked for, one clear line when it cannot be had."""

import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from mnist_core import backend
from mnist_core.errors import BackendUnavailableError

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
            "from mnist_core.models import init_model; init_model('mnist-cnn').predict(__import__('numpy').zeros((2, 28, 28), 'uint8'));"
            "print('cupy' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_kernels_and_models_never_call_numpy_directly():
    """Kernels take `xp`; only backend.py (and host-side helpers) may name NumPy."""
    for path in [*(PACKAGE / "layers").glob("*.py"), PACKAGE / "models" / "fc.py", PACKAGE / "models" / "cnn.py"]:
        source = path.read_text()
        assert not re.search(r"^\s*(import numpy|from numpy)", source, re.M), path
        assert not re.search(r"\bnp\.", source), path


# --- The CuPy code path, end to end, on a strict stand-in (CI has neither CuPy nor a GPU) ---

@pytest.fixture
def fake_cupy(monkeypatch):
    from fake_cupy import make_fake_cupy
    module = make_fake_cupy()
    monkeypatch.setitem(sys.modules, "cupy", module)
    assert backend.get_array_module("cupy") is module
    return module


def image_transfers(transfers, direction):
    """The transfers in `direction` of whole image batches (uint8 (N, 28, 28) or float (N, 28, 28))."""
    return [t for t in transfers if t[0] == direction and len(t[2]) == 3 and t[2][1:] == (28, 28)]


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_eval_on_the_cupy_path_matches_numpy_and_moves_the_images_once(arch, fake_cupy, mnist_test):
    from fake_cupy import DeviceArray
    from mnist_core.evaluation import evaluate
    from mnist_core.models import init_model
    images, labels = mnist_test[0][:1200], mnist_test[1][:1200]
    host_model = init_model(arch, seed=3)
    device_model = host_model.to(fake_cupy)
    assert all(isinstance(p, DeviceArray) for p in device_model.params.values())
    fake_cupy.transfers.clear()
    on_device, on_host = evaluate(device_model, images, labels), evaluate(host_model, images, labels)
    assert np.array_equal(on_device.predictions, on_host.predictions)
    assert (on_device.loss, on_device.accuracy) == pytest.approx((on_host.loss, on_host.accuracy), rel=1e-6)
    assert len(image_transfers(fake_cupy.transfers, "to_device")) == 1   # not once per slice of 500
    assert all(t[0] == "to_device" or len(t[2]) == 1 for t in fake_cupy.transfers)  # back: predictions, losses


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_training_on_the_cupy_path_equals_numpy_and_keeps_the_data_on_the_device(arch, fake_cupy):
    from test_training import synthetic_digits
    from mnist_core.models import init_model
    from mnist_core.training import TrainConfig, train
    images, labels = synthetic_digits(400)
    config = TrainConfig(epochs=2, batch_size=50, learning_rate=0.005, seed=2, augment=True)
    host_model, device_model = init_model(arch, seed=1), init_model(arch, seed=1, xp=fake_cupy)
    fake_cupy.transfers.clear()
    device_history = train(device_model, images, labels, config)
    host_history = train(host_model, images, labels, config)
    # Training and validation images go over once per run; 7 steps x 2 epochs bring back only scalars.
    assert len(image_transfers(fake_cupy.transfers, "to_device")) == 2
    assert not [t for t in fake_cupy.transfers if t[0] == "to_host" and len(t[2]) > 1]
    for name, value in host_model.params.items():
        np.testing.assert_allclose(backend.to_host(device_model.params[name]), value, rtol=1e-5, atol=1e-6)
    assert [h.val_accuracy for h in device_history] == [h.val_accuracy for h in host_history]


def test_train_and_eval_clis_run_on_the_cupy_path(fake_cupy, tmp_path, capsys):
    from test_training import synthetic_digits
    from mnist_core.eval import main as eval_main
    from mnist_core.formats.idx import write_idx_images, write_idx_labels
    from mnist_core.train import main as train_main
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
