"""Epoch checkpoints: the model, AdamW's moments and where the run stands, in one GGUF file.

The file is a valid GGUF (ggml's tools can list it) but not a model: its extra tensors
`adamw.m.<name>` / `adamw.v.<name>` hold the optimiser state. It is written atomically, so an
interrupted run always leaves the last complete checkpoint behind.
"""

import numpy as np

from ..backend import to_host
from ..errors import ModelError
from ..formats.gguf_constants import KEY_ARCHITECTURE, KEY_CHECKPOINT_EPOCH, KEY_CHECKPOINT_STEP
from ..formats.gguf_reader import read_gguf
from ..formats.gguf_writer import write_gguf
from ..models import model_class, model_gguf


def save_checkpoint(path, model, optimizer, epoch, metadata=None):
    """Write the state after `epoch` (1-based count of finished epochs)."""
    state = optimizer.state()
    keys, tensors = model_gguf(model, {**(metadata or {}), KEY_CHECKPOINT_EPOCH: int(epoch),
                                       KEY_CHECKPOINT_STEP: int(state["step"])})
    for moment in ("m", "v"):
        for name, value in state[moment].items():
            tensors[f"adamw.{moment}.{name}"] = np.ascontiguousarray(to_host(value), dtype=np.float32)
    write_gguf(path, keys, tensors)


def load_checkpoint(path, xp):
    """Read a checkpoint -> (model, epoch, step, moments {"m": {...}, "v": {...}}, metadata)."""
    gguf = read_gguf(path)
    arch = gguf.metadata.get(KEY_ARCHITECTURE)
    cls = model_class(arch, path)
    for key in (KEY_CHECKPOINT_EPOCH, KEY_CHECKPOINT_STEP):
        if key not in gguf.metadata:
            raise ModelError(path, f"not a training checkpoint: no {key} key")
    expected = list(cls.tensor_shapes) + [f"adamw.{m}.{n}" for m in ("m", "v") for n in cls.tensor_shapes]
    for name in expected:
        shape = cls.tensor_shapes[name.split(".", 2)[-1] if name.startswith("adamw.") else name]
        if name not in gguf.tensors or tuple(gguf.tensors[name].shape) != shape:
            raise ModelError(path, f"checkpoint tensor {name!r} is missing or not of shape {shape}")
    model = cls({n: gguf.tensors[n] for n in cls.tensor_shapes}, xp=xp)
    moments = {m: {n: xp.asarray(np.asarray(gguf.tensors[f"adamw.{m}.{n}"], dtype=np.float32))
                   for n in cls.tensor_shapes} for m in ("m", "v")}
    own = (KEY_ARCHITECTURE, KEY_CHECKPOINT_EPOCH, KEY_CHECKPOINT_STEP)
    metadata = {k: v for k, v in gguf.metadata.items() if k not in own}
    return model, int(gguf.metadata[KEY_CHECKPOINT_EPOCH]), int(gguf.metadata[KEY_CHECKPOINT_STEP]), moments, metadata
