"""ggml itself loads the models we write and predicts what mnist_core predicts.

tools/ggml_check/check_with_ggml.py builds ggml's CPU library from the llama-cpp-python sdist
on PyPI (pinned by sha256) and runs our ggml_eval.cpp: ggml's GGUF parser reads the file, the
architecture and every tensor's name, type and shape are checked as ggml's mnist example checks
them, and the 10,000 test images go through a graph of ggml ops; then ggml's GGUF writer saves
the weights again and our reader must get every tensor back. Slow the first time (a 77 MB
download and a build of about a minute), cached after that.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHIPPED_MODELS, skip_unless_available

TOOL = Path(__file__).resolve().parent.parent / "tools" / "ggml_check" / "check_with_ggml.py"
MISSING = [tool for tool in ("cmake", "g++") if shutil.which(tool) is None]

pytestmark = [pytest.mark.slow,
              skip_unless_available(f"{', '.join(MISSING)} not found: apt-get install cmake g++" if MISSING else None)]


def test_ggml_loads_our_models_agrees_with_mnist_core_and_its_files_load_in_ours(tmp_path):
    fresh = tmp_path / "fresh-cnn.gguf"
    subprocess.run([sys.executable, "-m", "mnist_core.train", "mnist-cnn", str(fresh), "--limit", "2000",
                    "--epochs", "1", "--batch-size", "100", "--no-augment"],
                   check=True, capture_output=True, timeout=600)
    models = [*SHIPPED_MODELS.values(), fresh]
    # A barely trained model has near-ties that float summation order may break either way.
    result = subprocess.run([sys.executable, str(TOOL), *map(str, models), "--min-agreement", "0.999"],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for model in models:
        assert f"{model}: mnist-{'fc' if 'fc' in model.name else 'cnn'} loaded by ggml" in result.stdout
    agreement = re.findall(r"agree on (\d+) of 10000 test images; accuracy ggml ([\d.]+)%, mnist_core ([\d.]+)%",
                           result.stdout)
    assert len(agreement) == 3
    # The shipped models must agree exactly; the fresh one (third) only to --min-agreement.
    for (same, ggml_acc, ours_acc), model in zip(agreement[:2], models[:2], strict=True):
        assert same == "10000" and ggml_acc == ours_acc, model
    # Each model written again by ggml's GGUF writer (as mnist-train saves) reads back identical.
    assert result.stdout.count("written by ggml, read by mnist_core as mnist-") == 3
    assert result.stdout.count("every tensor identical") == 3
