"""The package as pip installs it: the wheel carries the shipped models, and works outside the checkout.

The wheel is built as a user would (`pip wheel --no-deps .`, from a copy of the sources so that no
build/ appears in the checkout), installed into a fresh plain venv (NumPy from pip's cache or
index, nothing from this environment) and run from a folder outside the checkout. The site's own
wheel (build_wasm.py) is checked to leave the models out: the page fetches them separately.
"""

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, SHIPPED_MODELS
from mnist_core.shipped import SHIPPED_FILES, shipped_model_path
from web_support import build_wasm_module

# What `pip wheel .` reads from the checkout (setup.py maps assets/ into the package).
WHEEL_SOURCES = ("pyproject.toml", "setup.py", "README.md", "mnist_core", "assets")
SITE_WHEEL_MAX_BYTES = 300_000  # the models alone are 1.6 MB


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    shown = " ".join(map(str, command))
    assert result.returncode == 0, f"{shown} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """mnist_core-*.whl built by `pip wheel --no-deps .` from (a copy of) the checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in WHEEL_SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, src / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", str(tmp), "."],
        cwd=src, timeout=600)
    (built,) = tmp.glob("mnist_core-*-py3-none-any.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory, mnist_test_files):
    """(python of a fresh venv holding the wheel and NumPy only, its environment, a folder outside the checkout)."""
    tmp = tmp_path_factory.mktemp("installed")
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    python = venv / "bin" / "python"
    # The same NumPy as here, so that pip's cache (or the local index) serves it.
    run([python, "-m", "pip", "install", "--disable-pip-version-check", "-q", f"numpy=={np.__version__}", str(wheel)],
        timeout=600)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    # The verified MNIST files this session uses ($MNIST_CORE_DATA/mnist/...), so that nothing is fetched again.
    env["MNIST_CORE_DATA"] = str(Path(mnist_test_files[0]).parent.parent)
    workdir = tmp / "elsewhere"
    workdir.mkdir()
    return python, env, workdir


def test_the_wheel_carries_the_shipped_models_byte_for_byte(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for arch, path in SHIPPED_MODELS.items():
            member = f"mnist_core/assets/{SHIPPED_FILES[arch]}"
            assert member in names, sorted(names)
            assert archive.read(member) == path.read_bytes(), member
    assert not any(name.startswith("assets/") for name in names), "models must live inside the package"


def test_the_installed_package_finds_its_models_and_evaluates_with_no_arguments(installed):
    python, env, workdir = installed
    where = run([python, "-c", "import mnist_core.shipped as s; print(s.assets_dir())"], cwd=workdir, env=env,
                timeout=120)
    assets_dir = Path(where.strip())
    assert assets_dir.is_relative_to(python.parent.parent), f"models not from the installed package: {assets_dir}"
    assert not assets_dir.is_relative_to(REPO)
    out = run([python, "-m", "mnist_core.eval"], cwd=workdir, env=env, timeout=600)
    assert re.search(r"main: test_acc=99\.\d\d\+-0\.\d\d%", out), out[-2000:]


def test_the_installed_package_trains_and_resumes_with_the_default_checkpoint(installed):
    python, env, workdir = installed
    common = [python, "-m", "mnist_core.train", "mnist-fc", "fc.gguf", "--limit", "600", "--batch-size", "100",
              "--resume"]
    run([*common, "--epochs", "1"], cwd=workdir, env=env, timeout=600)
    assert (workdir / "fc.gguf").is_file() and (workdir / "fc.gguf.ckpt").is_file()
    out = run([*common, "--epochs", "2"], cwd=workdir, env=env, timeout=600)
    assert "main: resuming from fc.gguf.ckpt after epoch 1" in out, out[-2000:]


def test_in_the_checkout_the_shipped_models_are_assets():
    # The editable install (what the scripts make) has no package copy: assets/ is the one source.
    for arch, path in SHIPPED_MODELS.items():
        assert shipped_model_path(arch) == path


def test_the_site_wheel_leaves_the_models_out_and_stays_small():
    build_wasm = build_wasm_module()
    cache_dir = Path(os.environ.get("MNIST_CORE_WASM_CACHE") or Path.home() / ".cache" / "mnist-core" / "wasm")
    site_wheel, _ = build_wasm.build_mnist_core_wheel(cache_dir)
    with zipfile.ZipFile(site_wheel) as archive:
        names = archive.namelist()
    assert "mnist_core/eval.py" in names
    assert not [name for name in names if name.endswith(".gguf")], names
    assert site_wheel.stat().st_size < SITE_WHEEL_MAX_BYTES, site_wheel.stat().st_size
