"""scripts/gpu-check.sh, the one-run check of the CuPy backend on a real GPU: here, without a GPU, its dry run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "gpu-check.sh"


def run_check(args, tmp_path):
    """The script as the issue runs it (from the repository root, PYTHONPATH=.), with any CuPy hidden, so
    that it means the same on a machine that has one."""
    hide = tmp_path / "hide-cupy"
    hide.mkdir(exist_ok=True)
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['cupy'] = None\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{hide}:.", "PYTHON": sys.executable, "HOME": str(tmp_path)}
    return subprocess.run([str(SCRIPT), *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def mnist_dir():
    """The folder holding the four verified MNIST files (raw; the script takes .gz or raw)."""
    from mnist_core.data import dataset_files
    test_images, _ = dataset_files("mnist", "test")
    dataset_files("mnist", "train")
    return test_images.parent


def test_without_a_gpu_it_checks_its_arguments_says_so_and_exits_0(mnist_dir, tmp_path):
    out = tmp_path / "out" / "gpu"
    result = run_check([mnist_dir, out], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no GPU is present" in result.stdout and "dry run" in result.stdout
    written = json.loads((out / "gpu-check.json").read_text())
    assert written["dry_run"] is True and "CuPy is not installed" in written["reason"]


@pytest.mark.parametrize("problem", ["no folder", "missing file", "wrong file"])
def test_bad_arguments_are_one_line_naming_the_file_and_exit_2(problem, mnist_dir, tmp_path):
    data = tmp_path / "mnist"
    if problem != "no folder":
        data.mkdir()
        for path in mnist_dir.iterdir():
            if path.name.endswith("ubyte") and not (problem == "missing file" and path.name.startswith("t10k-l")):
                (data / path.name).symlink_to(path)
    if problem == "wrong file":
        (data / "t10k-labels-idx1-ubyte").unlink()
        (data / "t10k-labels-idx1-ubyte").write_bytes(b"\0" * 10008)
    result = run_check([data, tmp_path / "out"], tmp_path)
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    expected = {"no folder": f"{data}: no such folder",
                "missing file": f"{data}: missing t10k-labels-idx1-ubyte.gz",
                "wrong file": f"{data / 't10k-labels-idx1-ubyte'}: not MNIST's t10k-labels-idx1-ubyte"}[problem]
    assert expected in message and "Traceback" not in result.stderr
