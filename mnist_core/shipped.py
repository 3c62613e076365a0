"""The shipped models: package data of an installed mnist-core, or assets/ of a source checkout.

assets/ at the repository root is the one copy of the models in the repo. The wheel carries it
as the package data folder mnist_core/assets/ (see setup.py), read through importlib.resources;
an editable install or a plain checkout has no such folder and reads the repository's assets/.
"""

from importlib.resources import files
from pathlib import Path

from .errors import MnistCoreError

SHIPPED_FILES = {"mnist-fc": "mnist-fc-f32.gguf", "mnist-cnn": "mnist-cnn-f32.gguf"}
CHECKOUT_ASSETS = Path(__file__).resolve().parent.parent / "assets"


def assets_dir():
    """The folder holding the shipped models: the installed package's data, else the checkout's assets/."""
    packaged = files(__package__) / "assets"
    # A wheel installed by pip is unpacked, so its data are real files; load_model and the
    # command lines name files by path (a zip import would need importlib.resources.as_file).
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    if CHECKOUT_ASSETS.is_dir():
        return CHECKOUT_ASSETS
    raise MnistCoreError(f"the shipped models are missing: no {packaged} (an installed mnist-core) and no "
                         f"{CHECKOUT_ASSETS} (a source checkout); reinstall mnist-core or give a model file")


def shipped_model_path(arch):
    """Path of the shipped model of `arch` ("mnist-fc" or "mnist-cnn")."""
    if arch not in SHIPPED_FILES:
        raise MnistCoreError(f"no shipped model for {arch!r}; there are {', '.join(SHIPPED_FILES)}")
    return assets_dir() / SHIPPED_FILES[arch]
