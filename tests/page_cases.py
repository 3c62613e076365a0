"""What the page's evaluation and model-file tests share: the CLI's figures for a model, and model
files a user could bring to the page, good ones written by other tools and each kind of bad one.

Shared by tests/test_browser_eval.py (App natively and in Pyodide) and tests/test_web_eval.py
(the page in Chromium). Every file is made from a real model file (the site's or the shipped one),
so that a good file predicts as the CLI does with it.
"""

import re
import struct
import subprocess
import sys

import numpy as np

from mnist_core.formats.gguf_writer import gguf_bytes
from mnist_core.models import load_model

MAX_FILE_BYTES = 16 * 2**20  # mnist_core.browser.model_files.MAX_MODEL_FILE_BYTES (a test checks they agree)


def cli_figures(model_path, images_path, labels_path):
    """What `python -m mnist_core.eval MODEL IMAGES LABELS` prints, as strings: {"loss", "loss_uncertainty",
    "accuracy", "accuracy_uncertainty"} (accuracy in percent, e.g. "99.02")."""
    command = [sys.executable, "-m", "mnist_core.eval", str(model_path), str(images_path), str(labels_path)]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    loss = re.search(r"^main: test_loss=([\d.]+)\+-([\d.]+)$", out, re.M)
    accuracy = re.search(r"^main: test_acc=([\d.]+)\+-([\d.]+)%$", out, re.M)
    return {"loss": loss[1], "loss_uncertainty": loss[2], "accuracy": accuracy[1], "accuracy_uncertainty": accuracy[2]}


def ggml_style_cnn(cnn_path):
    """The CNN as ggml's own GGUF writer saves it (mnist-train): trailing ne of 1 dropped, so each conv
    bias has 3 dimensions, (8, 1, 1), instead of Keras' (1, 8, 1, 1)."""
    model = load_model(cnn_path)
    params = model.host_params()
    for name in ("conv1.bias", "conv2.bias"):
        params[name] = params[name].reshape(params[name].shape[1:])
    return gguf_bytes({"general.architecture": "mnist-cnn"}, params)


def gguf_package_fc(fc_path, out_path):
    """The FC model written by the `gguf` package's GGUFWriter (as the reference's PyTorch script does)."""
    import gguf

    params = load_model(fc_path).host_params()
    writer = gguf.GGUFWriter(str(out_path), "mnist-fc")
    for name, array in params.items():
        writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_path.read_bytes()


def bad_model_files(fc_path):
    """(kind, file name, bytes, fragment the one-line error must hold) for each kind of bad file."""
    good = fc_path.read_bytes()
    params = load_model(fc_path).host_params()
    wrong_shape = dict(params, **{"fc1.weight": np.ascontiguousarray(params["fc1.weight"].T)})
    with_nan = dict(params)
    with_nan["fc2.bias"] = params["fc2.bias"].copy()
    with_nan["fc2.bias"][3] = np.nan
    # A header that claims 2^60 tensors; then one that claims a tensor of 2^40 x 2^40 floats.
    absurd_count = b"GGUF" + struct.pack("<IQQ", 3, 2**60, 0) + bytes(64)
    name = b"fc1.weight"
    absurd_dims = (b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + struct.pack("<Q", len(name)) + name
                   + struct.pack("<I2qIQ", 2, 2**40, 2**40, 0, 0) + bytes(64))
    return [
        ("empty", "empty.gguf", b"", "empty file"),
        ("truncated", "truncated.gguf", good[:-100], "runs past the end of the file"),
        ("not GGUF", "digits.png", b"\x89PNG\r\n\x1a\n" + bytes(100), "expected magic GGUF"),
        ("wrong shapes", "transposed.gguf", gguf_bytes({"general.architecture": "mnist-fc"}, wrong_shape),
         "'fc1.weight' has shape (784, 500), expected (500, 784)"),
        ("unknown architecture", "rnn.gguf", gguf_bytes({"general.architecture": "mnist-rnn"}, params),
         "unknown architecture 'mnist-rnn'"),
        ("absurd count", "count.gguf", absurd_count, "tensor count 1152921504606846976 cannot fit"),
        ("absurd dimensions", "dims.gguf", absurd_dims, "more than the file's"),
        ("absurd file size", "huge.gguf", bytes(MAX_FILE_BYTES + 1), "too large for an mnist-fc or mnist-cnn model"),
        ("NaN weights", "nan.gguf", gguf_bytes({"general.architecture": "mnist-fc"}, with_nan),
         "'fc2.bias' holds 1 NaN or infinite values"),
    ]
