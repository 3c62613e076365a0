"""Model files: GGUF models the user brings (file picker or drag and drop), read by the desktop's reader and checks.

The page's model list is `App.models`: name -> Model, the name being what the page's #model list
shows and selects. The shipped models are named by their architecture ("mnist-fc", "mnist-cnn");
a file the user opens is named by its file name ("my-fc.gguf", then "my-fc.gguf (2)" if that name
is taken or is an architecture's). Whatever else wants to join the list (a model fine-tuned in
the page, say) calls `add_model(name, model)`, which picks a free name, selects it and returns
what `describe_model` says; a model's training command, if it has one, is its metadata's
COMMAND_KEY, as `python -m mnist_core.train` writes it.
"""

from ..errors import MnistCoreError, ModelError
from ..models import ARCHITECTURES, load_model
from .convert import to_bytes

COMMAND_KEY = "mnist_core.training.command"  # what mnist_core/train.py stores (its COMMAND_KEY)
# The largest model file opened: the shipped FC model is 1.6 MB; a file ten times that is not an
# mnist-fc or mnist-cnn model, and is refused before the browser reads it into memory.
MAX_MODEL_FILE_BYTES = 16 * 2**20


class ModelFiles:
    """Opening the user's GGUF files into the model list, and describing what the list holds."""

    def check_model_file(self, file_name, size):
        """Refuse a file too large to be a model before its bytes are read; returns {"ok": True} or {"error": ...}."""
        if int(size) > MAX_MODEL_FILE_BYTES:
            return {"error": f"{file_name}: {int(size):,} bytes is too large for an mnist-fc or mnist-cnn model "
                             f"(at most {MAX_MODEL_FILE_BYTES:,})"}
        return {"ok": True}

    def open_model_file(self, data, file_name):
        """Load a GGUF model from a file's bytes, add it to the list under its file name and select it.

        Returns `describe_model` of the new entry, or {"error": "FILE: problem"} (one line) when the
        file is not a model we can run; the list and the selected model are then left as they were.
        """
        data = to_bytes(data)
        checked = self.check_model_file(file_name, len(data))
        if "error" in checked:
            return checked
        try:
            model = load_model(data, name=file_name)
            _check_finite(model, file_name)
        except MnistCoreError as exc:
            return {"error": str(exc)}
        return self.add_model(file_name, model)

    def add_model(self, name, model):
        """Put `model` in the list under `name` (" (2)", " (3)"... added if taken), select it, describe it."""
        unique, copy = name, 1
        # An architecture's name stays the shipped model's, loaded or not yet.
        while unique in self.models or unique in ARCHITECTURES:
            copy += 1
            unique = f"{name} ({copy})"
        self.models[unique] = model
        self.arch = unique
        return self.describe_model(unique)

    def describe_model(self, name):
        """{"name", "arch", "parameters", "command" (None when the file carries none)} of a model in the list."""
        model = self.models[name]
        command = model.metadata.get(COMMAND_KEY)
        return {
            "name": name,
            "arch": model.arch,
            "parameters": int(sum(int(p.size) for p in model.params.values())),
            "command": command if isinstance(command, str) else None,
        }

    def model_list(self):
        """`describe_model` of every model in the list, in the order they joined it."""
        return [self.describe_model(name) for name in self.models]


def _check_finite(model, file_name):
    """A model whose weights hold NaN or infinity predicts nothing useful: say which tensor, as a ModelError."""
    xp = model.xp
    for tensor, values in model.params.items():
        bad = int(values.size - xp.count_nonzero(xp.isfinite(values)))
        if bad:
            raise ModelError(file_name, f"tensor {tensor!r} holds {bad} NaN or infinite values")
