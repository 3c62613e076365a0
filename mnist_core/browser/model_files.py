"""GGUF models the user brings (file picker or drag and drop), read by the desktop's reader and checks, and the
page's models as files to download or keep.

A file that is not a model we can run is one line naming it and the problem; the model list is
then left as it was. A saved file is what `python -m mnist_core.train` writes: ggml's architecture
key, tensor names and shapes, plus the model's metadata (its training command, and for a model
fine-tuned on corrections how many it learned).
"""

import re

from ..errors import ModelError
from ..formats.gguf_constants import KEY_CORRECTIONS, KEY_TRAINING_COMMAND
from ..models import load_model, model_file_bytes
from .convert import to_bytes

# The largest model file opened: the shipped FC model is 1.6 MB; a file ten times that is not an
# mnist-fc or mnist-cnn model, and is refused before the browser reads it into memory.
MAX_MODEL_FILE_BYTES = 16 * 2**20


def size_refusal(file_name, size):
    """None, or why a file of `size` bytes is not opened (refused before its bytes are read)."""
    if int(size) > MAX_MODEL_FILE_BYTES:
        return (f"{file_name}: {int(size):,} bytes is too large for an mnist-fc or mnist-cnn model "
                f"(at most {MAX_MODEL_FILE_BYTES:,})")
    return None


def read_model_file(data, file_name):
    """A model from a file's bytes: size, GGUF, architecture, every shape and finite weights checked; a
    MnistCoreError (one line naming the file) otherwise."""
    data = to_bytes(data)
    refusal = size_refusal(file_name, len(data))
    if refusal:
        raise ModelError(file_name, refusal.split(": ", 1)[1])
    model = load_model(data, name=file_name)
    xp = model.xp
    for tensor, values in model.params.items():
        bad = int(values.size - xp.count_nonzero(xp.isfinite(values)))
        if bad:
            raise ModelError(file_name, f"tensor {tensor!r} holds {bad} NaN or infinite values")
    return model


def file_name_for(name, corrections=0):
    """A model's list name -> a file name for it: "mnist-fc" -> "mnist-fc.gguf" ("mnist-fc-3-corrections.gguf")."""
    stem = re.sub(r"\.gguf$", "", name, flags=re.IGNORECASE)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "model"
    return f"{stem}-{corrections}-corrections.gguf" if corrections else f"{stem}.gguf"


def model_file(name, model):
    """{"name", "arch", "file_name", "bytes" (the GGUF file), "command", "corrections"} of a model in the list."""
    corrections = int(model.metadata.get(KEY_CORRECTIONS, 0))
    command = model.metadata.get(KEY_TRAINING_COMMAND)
    return {"name": name, "arch": model.arch, "file_name": file_name_for(name, corrections),
            "bytes": model_file_bytes(model), "command": command if isinstance(command, str) else None,
            "corrections": corrections}
