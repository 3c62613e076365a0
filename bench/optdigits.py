"""Real handwriting that is not MNIST, for benchmarks only: the UCI optdigits test digits, as scikit-learn ships them.

`sklearn/datasets/data/digits.csv.gz` inside scikit-learn's wheel holds 1,797 digits (8x8, ink
counts 0..16, written by people who are not MNIST's writers), one per line: 64 values and the
label. We fetch the wheel from PyPI with pip (one pinned file, whatever Python runs this), take
that one member, check its sha256 and cache it beside the MNIST files. scikit-learn itself is
never installed or imported: this is benchmark data, not a dependency.
"""

import gzip
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from mnist_core.atomic import atomic_write_bytes
from mnist_core.data import default_data_dir
from mnist_core.errors import DataUnavailableError

WHEEL_SPEC = "scikit-learn==1.5.2"
WHEEL_FILE = "scikit_learn-1.5.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
WHEEL_SHA256 = "f8b0ccd4a902836493e026c03256e8b206656f91fbcc4fde28c57a5b752561f1"
MEMBER = "sklearn/datasets/data/digits.csv.gz"
MEMBER_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
N_DIGITS = 1797


def load_optdigits(data_dir=None):
    """The 1,797 optdigits test digits: images (N, 8, 8) uint8 in 0..16 and labels (N,) uint8."""
    path = Path(data_dir or default_data_dir("mnist").parent / "optdigits") / "digits.csv.gz"
    if not (path.is_file() and _sha256(path.read_bytes()) == MEMBER_SHA256):
        atomic_write_bytes(_mkdir(path), _fetch_member())
    rows = np.loadtxt(gzip.open(path, "rt"), delimiter=",", dtype=np.int64)
    if rows.shape != (N_DIGITS, 65):
        raise DataUnavailableError(f"{path}: expected {N_DIGITS} rows of 65 values, found {rows.shape}")
    return rows[:, :64].reshape(-1, 8, 8).astype(np.uint8), rows[:, 64].astype(np.uint8)


def _fetch_member():
    with tempfile.TemporaryDirectory() as tmp:
        # The platform and Python version are pinned so that every machine fetches the same file.
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--quiet",
                   "--disable-pip-version-check", "--platform", "manylinux2014_x86_64", "--python-version", "3.11",
                   "-d", tmp, WHEEL_SPEC]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        wheel = Path(tmp) / WHEEL_FILE
        if result.returncode != 0 or not wheel.is_file():
            raise DataUnavailableError(f"optdigits: pip download {WHEEL_SPEC} failed: {result.stderr.strip()[-300:]}")
        found = _sha256(wheel.read_bytes())
        if found != WHEEL_SHA256:
            raise DataUnavailableError(f"{WHEEL_FILE}: sha256 mismatch (expected {WHEEL_SHA256}, found {found})")
        with zipfile.ZipFile(wheel) as archive:
            member = archive.read(MEMBER)
    if _sha256(member) != MEMBER_SHA256:
        raise DataUnavailableError(f"{MEMBER}: sha256 mismatch (expected {MEMBER_SHA256}, found {_sha256(member)})")
    return member


def _mkdir(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(data):
    return hashlib.sha256(data).hexdigest()
