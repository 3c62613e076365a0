"""Saving models: the selected model as the GGUF file #save-model downloads (and the page keeps in IndexedDB),
and models made in the page put back into the list after a reload.

The file is what `python -m mnist_core.train` writes: ggml's architecture key, tensor names and
shapes, plus the model's metadata, among it the training command (COMMAND_KEY) and, for a model
fine-tuned on corrections, how many it learned (learning.CORRECTIONS_KEY).
"""

import re

from ..formats.gguf_writer import gguf_bytes
from ..models import ARCH_KEY, load_model
from .convert import to_bytes
from .learning import CORRECTIONS_KEY
from .model_files import COMMAND_KEY


def file_name_for(name, corrections=0):
    """A model's list name -> a file name for it: "mnist-fc" -> "mnist-fc.gguf" ("mnist-fc-3-corrections.gguf")."""
    stem = re.sub(r"\.gguf$", "", name, flags=re.IGNORECASE)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "model"
    return f"{stem}-{corrections}-corrections.gguf" if corrections else f"{stem}.gguf"


class Saving:
    """The selected model as GGUF bytes, and stored models back into the list."""

    def model_file(self, name=None):
        """{"name", "arch", "file_name", "bytes" (the GGUF file), "command", "corrections"} of a model in the list
        (the selected one when `name` is None)."""
        name = self.arch if name is None else name
        if name not in self.models:
            raise ValueError(f"model {name!r} is not in the list")
        model = self.models[name]
        corrections = int(model.metadata.get(CORRECTIONS_KEY, 0))
        data = gguf_bytes({ARCH_KEY: model.arch, **model.metadata}, model.host_params())
        command = model.metadata.get(COMMAND_KEY)
        return {"name": name, "arch": model.arch, "file_name": file_name_for(name, corrections), "bytes": data,
                "command": command if isinstance(command, str) else None, "corrections": corrections}

    def restore_model(self, name, gguf_bytes):
        """Put a model made in the page (kept by the page across a reload) back into the list, without
        selecting it; returns `describe_model` of it (its name may get " (2)" if taken)."""
        model = load_model(to_bytes(gguf_bytes), name=f"{name} (stored in this browser)")
        selected = self.arch
        described = self.add_model(name, model)
        self.arch = selected if selected is not None else described["name"]
        return described

    def remove_model(self, name):
        """Take a model out of the list (a model made in the page that the user forgets); the selected one
        becomes the first left. Returns {"removed", "selected"}."""
        if name not in self.models:
            raise ValueError(f"model {name!r} is not in the list")
        del self.models[name]
        for store in (self.finetuners, self.original_params):
            store.pop(name, None)
        if self.arch == name:
            self.arch = next(iter(self.models), None)
        return {"removed": name, "selected": self.arch}
