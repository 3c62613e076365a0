"""The GGUF format's numbers, in one place: magic, versions, value types, tensor types, alignment.

The values are ggml's (`ggml/include/gguf.h`, `ggml.h`); the reader and the writer share them.
"""

from enum import IntEnum
from typing import Any, NamedTuple, Optional

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)  # v1 used 32-bit lengths and counts; v2 and v3 share one little-endian layout
DEFAULT_VERSION = 3

DEFAULT_ALIGNMENT = 32
MAX_ALIGNMENT = 1 << 20  # ggml refuses larger alignments so that padding cannot be used to exhaust memory

KEY_ALIGNMENT = "general.alignment"  # must be a UINT32 (ggml reads it with gguf_get_val_u32)
KEY_ARCHITECTURE = "general.architecture"  # "mnist-fc" or "mnist-cnn": the one key ggml's mnist example reads

# mnist-core's own metadata keys (ggml ignores keys it does not know).
KEY_TRAINING_PREFIX = "mnist_core.training."                    # + each TrainConfig field
KEY_TRAINING_COMMAND = KEY_TRAINING_PREFIX + "command"          # the command line that makes the model again
KEY_TEST_ACCURACY = KEY_TRAINING_PREFIX + "test_accuracy"       # on the test set, when the trainer had one
KEY_STEPS_DONE = KEY_TRAINING_PREFIX + "steps_done"             # a run stopped early in the page
KEY_STARTED_FROM = KEY_TRAINING_PREFIX + "started_from"         # the model a page run continued
KEY_FINETUNE_PREFIX = "mnist_core.finetune."                    # + each FinetuneConfig field
KEY_CORRECTIONS = KEY_FINETUNE_PREFIX + "corrections"           # how many corrections the model has learned
KEY_CHECKPOINT_EPOCH = "mnist_core.checkpoint.epoch"            # epochs finished (checkpoints only)
KEY_CHECKPOINT_STEP = "mnist_core.checkpoint.step"              # AdamW steps made (checkpoints only)

MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_NAME_BYTES = 63  # GGML_MAX_NAME is 64 including the terminating NUL; ggml refuses longer tensor names

# key length(u64) + value type(u32) + the smallest value (one byte): lets a kv count be checked up front
MIN_KV_SIZE = 8 + 4 + 1
# name length(u64) + n_dims(u32) + type(u32) + offset(u64): lets a tensor count be checked up front
MIN_TENSOR_INFO_SIZE = 8 + 4 + 4 + 8


class GGUFValueType(IntEnum):
    """The type tag in front of every metadata value (enum gguf_type)."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


# struct format (little-endian) of each fixed-size value type; NumPy dtypes are derived from these.
VALUE_FORMATS = {
    GGUFValueType.UINT8: "B",
    GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I",
    GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f",
    GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}


class GGMLType(IntEnum):
    """The tensor data types mnist-core stores (enum ggml_type); all others are only named in errors."""

    F32 = 0
    F16 = 1


# Every ggml type id, so that an error can say "Q4_0" rather than "2" (ids 4, 5, 31-33, 36-38 were retired).
GGML_TYPE_NAMES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K",
    16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S",
    23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16",
    34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
}

# Little-endian NumPy dtype of each supported tensor type.
TENSOR_DTYPES = {
    GGMLType.F32: "<f4",
    GGMLType.F16: "<f2",
}


class GGUFValue(NamedTuple):
    """A metadata value with its GGUF type spelled out (element_type only for arrays)."""

    value_type: GGUFValueType
    value: Any
    element_type: Optional[GGUFValueType] = None


def padded(offset, alignment):
    """Round `offset` up to a multiple of `alignment`: where the data section and each tensor's data start."""
    return (offset + alignment - 1) // alignment * alignment
