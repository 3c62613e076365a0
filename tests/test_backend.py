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
