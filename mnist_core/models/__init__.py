"""The reference's two architectures, and loading, saving and initialising them as GGUF models."""

import numpy as np

from ..errors import ModelError
from ..formats.gguf_constants import KEY_ARCHITECTURE
from ..formats.gguf_reader import read_gguf
from .base import Model
from .cnn import CNNModel
from .fc import FCModel

ARCHITECTURES = {cls.arch: cls for cls in (FCModel, CNNModel)}


def model_class(arch, source=None):
    """The model class for an architecture name, or a ModelError naming the known ones."""
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        known = ", ".join(ARCHITECTURES)
        raise ModelError(source, f"unknown architecture {arch!r}; expected one of {known}") from None


def load_model(source, name=None, xp=np):
    """Read a GGUF model (path or bytes), checking its architecture and every tensor's shape."""
    gguf = read_gguf(source, name=name)
    label = name if name is not None else (source if not isinstance(source, (bytes, bytearray, memoryview)) else None)
    arch = gguf.metadata.get(KEY_ARCHITECTURE)
    if arch is None:
        raise ModelError(label, f"no {KEY_ARCHITECTURE} key; not an mnist-core/ggml model")
    if not isinstance(arch, str):
        raise ModelError(label, f"{KEY_ARCHITECTURE} must be a string, found {type(arch).__name__}")
    cls = model_class(arch, label)
    for tensor, shape in cls.tensor_shapes.items():
        if tensor not in gguf.tensors:
            raise ModelError(label, f"{arch} model is missing tensor {tensor!r} (shape {shape})")
        found = tuple(gguf.tensors[tensor].shape)
        if _ggml_dims(found) != _ggml_dims(shape):
            raise ModelError(label, f"tensor {tensor!r} has shape {found}, expected {shape} for {arch}")
    extra = sorted(set(gguf.tensors) - set(cls.tensor_shapes))
    if extra:
        raise ModelError(label, f"unexpected tensor {extra[0]!r} in a {arch} model")
    metadata = {k: v for k, v in gguf.metadata.items() if k != KEY_ARCHITECTURE}
    return cls({t: gguf.tensors[t].reshape(shape) for t, shape in cls.tensor_shapes.items()}, xp=xp, metadata=metadata)


def _ggml_dims(shape):
    """A NumPy shape as ggml sees it: without leading 1s. ggml's own GGUF writer stores only the
    dimensions up to the last one above 1 (ne [1, 1, 8, 1] becomes [1, 1, 8]), so a CNN bias saved
    by ggml's mnist-train reads back as (8, 1, 1) where Keras' file has (1, 8, 1, 1)."""
    shape = tuple(shape)
    while len(shape) > 1 and shape[0] == 1:
        shape = shape[1:]
    return shape


def model_gguf(model, metadata=None):
    """What a GGUF file of `model` holds: (metadata keys: ggml's architecture key, the model's own metadata,
    then `metadata`; tensors by the reference's names, float32 in its shapes)."""
    return {KEY_ARCHITECTURE: model.arch, **model.metadata, **(metadata or {})}, model.host_params()


def save_model(model, path, metadata=None):
    """Write `model` as a GGUF file ggml's tools load, atomically; extra metadata keys are kept."""
    # Imported here: the web page only reads models until one is saved, and this keeps its start-up leaner.
    from ..formats.gguf_writer import write_gguf
    write_gguf(path, *model_gguf(model, metadata))


def model_file_bytes(model, metadata=None):
    """The bytes of the GGUF file save_model would write."""
    from ..formats.gguf_writer import gguf_bytes
    return gguf_bytes(*model_gguf(model, metadata))


def init_model(arch, seed=0, xp=np, scheme="he"):
    """A model with fresh random weights.

    scheme "ggml" draws every tensor from N(0, 0.01^2) as ggml's trainer does; "he" draws
    weights from N(0, 2/fan_in) (fan_in = inputs per output unit) and sets biases to zero,
    which trains faster and better with ReLU networks.
    """
    cls = model_class(arch)
    rng = np.random.default_rng(seed)
    params = {}
    for tensor, shape in cls.tensor_shapes.items():
        if scheme == "ggml":
            params[tensor] = rng.normal(0.0, 0.01, size=shape)
        elif scheme == "he":
            is_bias = tensor.endswith(".bias")
            fan_in = int(np.prod(shape[1:])) if not is_bias else 1
            params[tensor] = np.zeros(shape) if is_bias else rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
        else:
            raise ValueError(f"unknown init scheme {scheme!r}; expected 'he' or 'ggml'")
    return cls(params, xp=xp)


__all__ = ["ARCHITECTURES", "CNNModel", "FCModel", "Model", "init_model", "load_model", "model_class",
           "model_file_bytes", "model_gguf", "save_model"]
