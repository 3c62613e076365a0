"""Write GGUF files that ggml loads: metadata with inferred or explicit types, F32/F16 tensors, aligned data.

Layout (little-endian): magic, version, tensor count, kv count, the key/value pairs, the tensor infos
(name, n_dims, ne fastest-first, type, offset), zero padding up to the alignment, then each tensor's
data padded to the alignment. ggml insists that each offset is exactly the padded end of the
previous tensor and that the last tensor's padding is present, so both are always written.

Value types, unless given with `GGUFValue`: str -> STRING, bool -> BOOL, int -> INT32 if it fits,
else INT64, else UINT64; float -> FLOAT32; NumPy scalars and 1-D arrays keep their dtype; a list or
tuple -> ARRAY of its items' type (ints widened together, ints mixed with floats -> FLOAT32).
"""

import io
import struct

import numpy as np

from ..atomic import atomic_write
from .gguf_constants import (
    DEFAULT_ALIGNMENT,
    DEFAULT_VERSION,
    GGUF_MAGIC,
    KEY_ALIGNMENT,
    KEY_ARCHITECTURE,
    MAX_ALIGNMENT,
    MAX_DIMS,
    MAX_NAME_BYTES,
    SUPPORTED_VERSIONS,
    TENSOR_DTYPES,
    VALUE_FORMATS,
    GGUFValue,
    GGUFValueType,
    padded,
)

__all__ = ["GGUFValue", "GGUFValueType", "gguf_bytes", "write_gguf"]

_INT_RANGES = (  # the types a Python int is written as, narrowest first
    (GGUFValueType.INT32, -(2**31), 2**31 - 1),
    (GGUFValueType.INT64, -(2**63), 2**63 - 1),
    (GGUFValueType.UINT64, 0, 2**64 - 1),
)
_INT_TYPES = {  # every integer value type, to tell numbers from bools and strings in a mixed list
    GGUFValueType.UINT8, GGUFValueType.INT8, GGUFValueType.UINT16, GGUFValueType.INT16,
    GGUFValueType.UINT32, GGUFValueType.INT32, GGUFValueType.UINT64, GGUFValueType.INT64,
}
_NUMPY_TYPES = {np.dtype(VALUE_FORMATS[t]): t for t in VALUE_FORMATS}  # e.g. dtype('uint16') -> UINT16
_TENSOR_TYPES = {np.dtype(dtype): tensor_type for tensor_type, dtype in TENSOR_DTYPES.items()}


def gguf_bytes(metadata, tensors, *, alignment=DEFAULT_ALIGNMENT, version=DEFAULT_VERSION):
    """Return a whole GGUF file as bytes (for Pyodide, or to write elsewhere)."""
    header, arrays = _prepare(metadata, tensors, alignment, version)
    buffer = io.BytesIO()
    _write_file(buffer, header, arrays, alignment)
    return buffer.getvalue()


def write_gguf(path, metadata, tensors, *, alignment=DEFAULT_ALIGNMENT):
    """Write a GGUF file to `path` atomically: a failure at any point leaves the previous file as it was."""
    header, arrays = _prepare(metadata, tensors, alignment, DEFAULT_VERSION)  # every check before touching the disk
    with atomic_write(path) as file:
        _write_file(file, header, arrays, alignment)


def _prepare(metadata, tensors, alignment, version):
    """Check and encode everything but the tensor data; return the header bytes and the arrays to follow it."""
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"GGUF version {version} cannot be written; choose one of {SUPPORTED_VERSIONS}")
    if not isinstance(alignment, int) or alignment < 1 or alignment & (alignment - 1) or alignment > MAX_ALIGNMENT:
        raise ValueError(f"alignment {alignment!r} must be a power of 2 no larger than {MAX_ALIGNMENT}")

    entries = _ordered_metadata(metadata, alignment)
    arrays = {name: _tensor_array(name, array) for name, array in tensors.items()}

    parts = [GGUF_MAGIC, struct.pack("<IQQ", version, len(arrays), len(entries))]
    for key, value in entries.items():
        parts += [_pack_string(key, "key"), struct.pack("<I", value.value_type), _pack_value(key, value)]
    offset = 0  # relative to the start of the data section, as ggml counts it
    for name, array in arrays.items():
        ne = array.shape[::-1]  # ggml lists dimensions fastest-varying first
        parts += [
            _pack_string(name, "tensor name"),
            struct.pack(f"<I{len(ne)}QIQ", len(ne), *ne, _TENSOR_TYPES[array.dtype], offset),
        ]
        offset += padded(array.nbytes, alignment)
    return b"".join(parts), list(arrays.values())


def _write_file(file, header, arrays, alignment):
    """Write the header, then each tensor's bytes, each followed by zero padding to the alignment."""
    file.write(header)
    file.write(bytes(padded(len(header), alignment) - len(header)))
    for array in arrays:
        file.write(array.tobytes())
        file.write(bytes(padded(array.nbytes, alignment) - array.nbytes))


def _ordered_metadata(metadata, alignment):
    """Type every value and order the keys: architecture first, then alignment, then the caller's order."""
    entries = {key: _typed_value(key, value) for key, value in metadata.items()}
    if KEY_ALIGNMENT in entries:
        given = entries[KEY_ALIGNMENT]
        if given.value_type == GGUFValueType.ARRAY or given.value != alignment:
            raise ValueError(f"metadata {KEY_ALIGNMENT}={given.value!r} disagrees with alignment={alignment}")
    if KEY_ALIGNMENT in entries or alignment != DEFAULT_ALIGNMENT:
        # ggml reads the alignment with gguf_get_val_u32, which refuses any other type.
        entries[KEY_ALIGNMENT] = GGUFValue(GGUFValueType.UINT32, alignment)
    first = [key for key in (KEY_ARCHITECTURE, KEY_ALIGNMENT) if key in entries]
    return {key: entries[key] for key in first + [key for key in entries if key not in first]}


def _typed_value(key, value):
    """Return `value` as a GGUFValue, inferring its type unless it already is one."""
    if not isinstance(key, str):
        raise TypeError(f"metadata key {key!r} must be a str")
    if isinstance(value, GGUFValue):
        value_type = GGUFValueType(value.value_type)
        if value_type == GGUFValueType.ARRAY:
            if value.element_type is None or GGUFValueType(value.element_type) == GGUFValueType.ARRAY:
                raise ValueError(f"metadata key '{key}': an ARRAY needs a non-array element_type")
            return GGUFValue(value_type, list(value.value), GGUFValueType(value.element_type))
        return GGUFValue(value_type, value.value)
    if isinstance(value, (list, tuple, np.ndarray)):
        items = value.tolist() if isinstance(value, np.ndarray) else list(value)
        return GGUFValue(GGUFValueType.ARRAY, items, _element_type(key, value))
    return GGUFValue(_scalar_type(key, value), value)


def _scalar_type(key, value):
    """Infer the GGUF type of one str, bool, int, float or NumPy scalar."""
    if isinstance(value, (bool, np.bool_)):  # before int: bool is a subclass of int
        return GGUFValueType.BOOL
    if isinstance(value, str):
        return GGUFValueType.STRING
    if isinstance(value, np.generic) and value.dtype in _NUMPY_TYPES:
        return _NUMPY_TYPES[value.dtype]
    if isinstance(value, int):
        return _int_type(key, [value])
    if isinstance(value, float):
        return GGUFValueType.FLOAT32
    raise TypeError(f"metadata key '{key}': cannot store a {type(value).__name__} in GGUF; wrap it in GGUFValue")


def _element_type(key, values):
    """Infer the one element type of a list, tuple or 1-D NumPy array."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise ValueError(f"metadata key '{key}': arrays must be 1-D, got shape {values.shape}")
        if values.dtype.kind == "U":
            return GGUFValueType.STRING
        if values.dtype.newbyteorder("=") not in _NUMPY_TYPES:
            raise TypeError(f"metadata key '{key}': no GGUF type for dtype {values.dtype}")
        return _NUMPY_TYPES[values.dtype.newbyteorder("=")]
    if not values:
        raise ValueError(
            f"metadata key '{key}': an empty list has no element type; "
            "pass GGUFValue(GGUFValueType.ARRAY, [], element_type=...)"
        )
    if any(isinstance(item, (list, tuple, np.ndarray)) for item in values):
        raise ValueError(f"metadata key '{key}': arrays of arrays cannot be loaded by ggml")
    types = {_scalar_type(key, item) for item in values}
    if all(isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)) for item in values):
        return _int_type(key, values)  # one type must hold them all, so ints are widened together
    if len(types) == 1:
        return types.pop()
    if types <= _INT_TYPES | {GGUFValueType.FLOAT32, GGUFValueType.FLOAT64}:
        return GGUFValueType.FLOAT64 if GGUFValueType.FLOAT64 in types else GGUFValueType.FLOAT32
    names = sorted({type(item).__name__ for item in values})
    raise TypeError(f"metadata key '{key}': a list mixing {', '.join(names)} has no single GGUF type; use GGUFValue")


def _int_type(key, values):
    """Return the narrowest of INT32, INT64, UINT64 that holds every int in `values`."""
    low, high = int(min(values)), int(max(values))
    for value_type, type_low, type_high in _INT_RANGES:
        if type_low <= low and high <= type_high:
            return value_type
    raise ValueError(f"metadata key '{key}': {low if low < 0 else high} does not fit in 64 bits")


def _pack_value(key, typed):
    """Encode a typed value (without its type tag, which the caller writes)."""
    if typed.value_type == GGUFValueType.STRING:
        return _pack_string(typed.value, f"metadata key '{key}'")
    if typed.value_type != GGUFValueType.ARRAY:
        return _pack_numbers(key, typed.value_type, [typed.value])
    items = typed.value
    head = struct.pack("<IQ", typed.element_type, len(items))
    if typed.element_type == GGUFValueType.STRING:
        return head + b"".join(_pack_string(item, f"metadata key '{key}'") for item in items)
    return head + _pack_numbers(key, typed.element_type, items)


def _pack_numbers(key, value_type, items):
    """Encode numbers or bools of one fixed-size type, refusing values that do not fit it."""
    if value_type == GGUFValueType.BOOL and not all(
        isinstance(item, (bool, np.bool_)) or item in (0, 1) for item in items
    ):
        raise ValueError(f"metadata key '{key}': BOOL values must be True/False (or 0/1)")
    try:
        return struct.pack(f"<{len(items)}{VALUE_FORMATS[value_type]}", *items)
    except (struct.error, OverflowError, TypeError) as exc:
        raise ValueError(f"metadata key '{key}': value does not fit GGUF type {value_type.name} ({exc})") from None


def _pack_string(text, what):
    """Encode a string as GGUF does: u64 byte length, then UTF-8 without a terminator."""
    if not isinstance(text, str):
        raise TypeError(f"{what}: expected a str, got {type(text).__name__}")
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what}: {text!r} cannot be encoded as UTF-8 ({exc.reason})") from None
    return struct.pack("<Q", len(raw)) + raw


def _tensor_array(name, array):
    """Check a tensor is something ggml can load and return it little-endian and C-contiguous."""
    if not isinstance(name, str):
        raise TypeError(f"tensor name {name!r} must be a str")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise ValueError(f"tensor name '{name}' is longer than ggml's {MAX_NAME_BYTES} bytes")
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder("<")
    if dtype not in _TENSOR_TYPES:
        raise ValueError(f"tensor '{name}' has dtype {array.dtype}; convert it to float32 or float16")
    if array.ndim > MAX_DIMS:
        raise ValueError(f"tensor '{name}' has {array.ndim} dimensions; GGUF allows at most {MAX_DIMS}")
    if 0 in array.shape:
        raise ValueError(f"tensor '{name}' of shape {array.shape} is empty, which ggml cannot load")
    return np.asarray(array, dtype=dtype, order="C")  # unlike ascontiguousarray, keeps a 0-d shape

