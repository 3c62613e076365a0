"""The page's model list: every model the page can select, by the name #model shows, and the selected one.

The shipped models are named by their architecture ("mnist-fc", "mnist-cnn"); a file the user opens
by its file name ("my-fc.gguf", then "my-fc.gguf (2)" if that name is taken or is an architecture's);
a model trained in the page by what the trainer calls it. The registry owns the list: every part that
adds, replaces, selects or removes a model asks it.
"""

from ..errors import ModelError
from ..formats.gguf_constants import KEY_TRAINING_COMMAND
from ..models import ARCHITECTURES


class ModelRegistry:
    """Models by list name, in the order they joined the list, and the name of the selected one (or None)."""

    def __init__(self):
        self._models = {}
        self.selected = None

    def __contains__(self, name):
        return name in self._models

    def names(self):
        return list(self._models)

    def get(self, name):
        if name not in self._models:
            raise ValueError(f"model {name!r} is not in the list")
        return self._models[name]

    def current(self):
        """The selected model."""
        if self.selected is None:
            raise ValueError("no model is loaded")
        return self._models[self.selected]

    def put(self, name, model):
        """Keep `model` under exactly `name`, replacing what had it (a shipped model, or a fine-tuned one coming
        back after a reload); the selection stays as it is, or becomes `name` when nothing was selected."""
        self._models[name] = model
        if self.selected is None:
            self.selected = name

    def add(self, name, model, select=True):
        """Put `model` in the list under `name`, or `name (2)`, `name (3)`... when that is taken (an architecture's
        name stays the shipped model's, loaded or not), and return its name. It is selected, unless `select` is
        False and another model already is."""
        unique, copy = name, 1
        while unique in self._models or unique in ARCHITECTURES:
            copy += 1
            unique = f"{name} ({copy})"
        self._models[unique] = model
        if select or self.selected is None:
            self.selected = unique
        return unique

    def select(self, name):
        if name not in self._models:
            raise ValueError(f"model {name!r} is not loaded (the list holds {', '.join(self._models) or 'none'})")
        self.selected = name

    def remove(self, name):
        """Take a model out of the list; the selected one becomes the first left when it was this one."""
        self.get(name)  # a name not in the list is an error, as everywhere
        del self._models[name]
        if self.selected == name:
            self.selected = next(iter(self._models), None)

    def describe(self, name):
        """{"name", "arch", "parameters", "command" (None when the model carries none)} of a model in the list."""
        model = self.get(name)
        command = model.metadata.get(KEY_TRAINING_COMMAND)
        return {"name": name, "arch": model.arch, "parameters": int(sum(int(p.size) for p in model.params.values())),
                "command": command if isinstance(command, str) else None}


def check_architecture(model, arch, source):
    """A ModelError unless `model` is an `arch` model (source names the file)."""
    if model.arch != arch:
        raise ModelError(source, f"holds a {model.arch} model, expected {arch}")
