"""Read GGUF files (versions 2 and 3) into Python values and NumPy arrays, distrusting every size.

Every count, length and offset in the file is checked against the bytes that are actually there
before anything is allocated or looped over, so a corrupt or hostile header fails at once with a
one-line `FileFormatError` instead of exhausting memory. Only F32 and F16 tensors are supported.
"""

import math
import os
import struct
from dataclasses import dataclass

import numpy as np

from ..errors import FileFormatError
from .gguf_constants import (
    DEFAULT_ALIGNMENT,
    GGML_TYPE_NAMES,
    GGUF_MAGIC,
    KEY_ALIGNMENT,
    MAX_ALIGNMENT,
    MAX_DIMS,
    MIN_KV_SIZE,
    MIN_TENSOR_INFO_SIZE,
    SUPPORTED_VERSIONS,
    TENSOR_DTYPES,
    VALUE_FORMATS,
    GGMLType,
    GGUFValue,
    GGUFValueType,
    padded,
)

# What a wrong file usually is, told by its first bytes; the hint goes after the magic we found.
_MAGIC_HINTS = (
    (b"\x1f\x8b", "gzip?"),
    (b"PK\x03\x04", "a zip archive, e.g. a PyTorch .pt file?"),
    (b"\x00\x00\x08", "an MNIST IDX file?"),
    (b"\x89HDF", "an HDF5 file, e.g. a Keras .h5 model?"),
    (b"\x93NUMPY", "a NumPy .npy file?"),
    (b"\x80", "a Python pickle?"),
    (b"lmgg", "a pre-GGUF ggml file?"),
    (b"tjgg", "a pre-GGUF ggml file?"),
    (b"version https://git-lfs", "a Git LFS pointer, not the file itself?"),
    (b"<", "an HTML page, e.g. a failed download?"),
)


@dataclass
class GGUFFile:
    """A parsed GGUF file: its metadata in file order, with types, and its tensors as NumPy arrays.

    A metadata value is a str, int, float or bool; an array of strings is a list of str, and an
    array of numbers or bools a 1-D NumPy array of the element type's dtype (as in gguf-py).
    `metadata_types[key]` is `(value_type, element_type)`, element_type being None unless the value
    is an array. Tensors are read-only views into the file's bytes, with NumPy shape = reversed ne.
    """

    version: int
    alignment: int
    metadata: dict
    metadata_types: dict
    tensors: dict
    tensor_types: dict

    def typed_metadata(self):
        """Return the metadata as `GGUFValue`s, so that writing it back keeps every value's type."""
        return {
            key: GGUFValue(value_type, self.metadata[key], element_type)
            for key, (value_type, element_type) in self.metadata_types.items()
        }


def read_gguf(source, name=None):
    """Parse a GGUF file from a path or from bytes (as Pyodide passes them) into a `GGUFFile`."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = memoryview(source)
        if data.ndim != 1 or data.itemsize != 1:
            data = data.cast("B")
        name = "<bytes>" if name is None else name
    elif isinstance(source, (str, os.PathLike)):
        name = os.fspath(source) if name is None else name
        # One read, no mmap: tensors become views of these bytes, and an mmap would keep the file
        # locked on Windows, where a checkpoint could then not be replaced while a model is loaded.
        with open(source, "rb") as file:
            data = memoryview(file.read())
    else:
        raise TypeError(f"read_gguf expects a path or bytes, not {type(source).__name__}")
    return _Parser(data, name).parse()


class _Parser:
    """A read position in the file's bytes that refuses to read, allocate or loop past the end."""

    def __init__(self, data, name):
        self.data = data
        self.size = len(data)
        self.name = name
        self.pos = 0

    def error(self, problem):
        """Build the one-line error that names this file."""
        return FileFormatError(self.name, problem)

    def parse(self):
        """Parse the header, the metadata, the tensor infos and the tensor data, in file order."""
        version = self.read_header()
        n_tensors = self.read_count("tensor count")
        n_kv = self.read_count("kv count")
        # The smallest possible entries must fit before we loop over either count.
        self.check_fits(n_tensors, MIN_TENSOR_INFO_SIZE, "tensor count")
        self.check_fits(n_kv, MIN_KV_SIZE, "kv count")

        metadata, metadata_types = {}, {}
        for index in range(n_kv):
            key = self.read_string(f"key #{index}")
            if key in metadata:
                raise self.error(f"duplicate key '{key}'")
            value_type, element_type, value = self.read_value(key)
            metadata[key] = value
            metadata_types[key] = (value_type, element_type)
        alignment = self.alignment(metadata, metadata_types)

        infos, seen = [], set()
        for index in range(n_tensors):
            info = self.read_tensor_info(index)
            if info[0] in seen:
                raise self.error(f"duplicate tensor name '{info[0]}'")
            seen.add(info[0])
            infos.append(info)

        tensors, tensor_types = self.read_tensor_data(infos, alignment)
        return GGUFFile(version, alignment, metadata, metadata_types, tensors, tensor_types)

    def read_header(self):
        """Check the magic and the version, and return the version."""
        if self.size == 0:
            raise self.error("empty file, expected a GGUF model")
        head = bytes(self.data[:4])
        if head != GGUF_MAGIC:
            if len(head) < 4 and GGUF_MAGIC.startswith(head):
                self.take(4, "the magic")  # raises: a GGUF file cut short
            raise self.error(f"expected magic GGUF, found {head!r}{_magic_hint(bytes(self.data[:32]))}")
        self.pos = 4
        version = self.unpack("I", "the version")
        if version in SUPPORTED_VERSIONS:
            return version
        swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
        if swapped in SUPPORTED_VERSIONS:
            raise self.error(f"big-endian GGUF (version {swapped} byte-swapped) is not supported")
        supported = " and ".join(map(str, SUPPORTED_VERSIONS))
        raise self.error(f"unsupported GGUF version {version}; mnist-core reads versions {supported}")

    def read_count(self, what):
        """Read one of the header's u64 counts (checked by the caller once both are known)."""
        return self.unpack("Q", f"the {what}")

    def read_value(self, key):
        """Read one metadata value and return (value_type, element_type, value)."""
        value_type = self.value_type(self.unpack("I", f"the type of key '{key}'"), key)
        if value_type != GGUFValueType.ARRAY:
            return value_type, None, self.read_scalar(value_type, f"the value of key '{key}'")
        element_type = self.value_type(self.unpack("I", f"the element type of key '{key}'"), key)
        if element_type == GGUFValueType.ARRAY:
            raise self.error(f"key '{key}' is an array of arrays, which ggml does not support")
        count = self.unpack("Q", f"the array length of key '{key}'")
        if element_type == GGUFValueType.STRING:
            self.check_fits(count, 8, "array length", f"key '{key}'")  # each string has at least its 8-byte length
            return value_type, element_type, [self.read_string(f"item {i} of key '{key}'") for i in range(count)]
        fmt = VALUE_FORMATS[element_type]
        self.check_fits(count, struct.calcsize(fmt), "array length", f"key '{key}'")
        # Bools are read as bytes: like ggml, any nonzero byte is true.
        dtype = np.dtype("<u1" if element_type == GGUFValueType.BOOL else "<" + fmt)
        values = np.frombuffer(self.data, dtype, count, self.pos)
        self.pos += values.nbytes
        # A NumPy array, not a list: a list costs 8 bytes a number and more for each int object, up to
        # 40 times what the file holds (an int8 array of -100s), which a hostile file would exploit. A
        # copy, so that a model's metadata does not keep the whole file's bytes alive.
        return value_type, element_type, values != 0 if element_type == GGUFValueType.BOOL else values.copy()

    def read_scalar(self, value_type, what):
        """Read one string or fixed-size value as a Python str, int, float or bool."""
        if value_type == GGUFValueType.STRING:
            return self.read_string(what)
        if value_type == GGUFValueType.BOOL:
            return self.unpack("B", what) != 0
        return self.unpack(VALUE_FORMATS[value_type], what)

    def read_string(self, what):
        """Read a u64-length-prefixed UTF-8 string."""
        length = self.unpack("Q", f"the length of {what}")
        self.check_fits(length, 1, "string length", what)
        raw = self.take(length, what)
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as exc:
            raise self.error(f"{what} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None

    def read_tensor_info(self, index):
        """Read one tensor's name, shape, type and data offset, and check its size against the file."""
        name = self.read_string(f"the name of tensor #{index}")
        n_dims = self.unpack("I", f"the dimension count of tensor '{name}'")
        if n_dims > MAX_DIMS:
            raise self.error(f"tensor '{name}' has {n_dims} dimensions; GGUF allows at most {MAX_DIMS}")
        ne = struct.unpack_from(f"<{n_dims}q", self.take(8 * n_dims, f"the dimensions of tensor '{name}'"))
        if any(n < 0 for n in ne):
            raise self.error(f"tensor '{name}' has a negative dimension: ne = {list(ne)}")
        type_id = self.unpack("I", f"the type of tensor '{name}'")
        if type_id not in TENSOR_DTYPES:
            if type_id in GGML_TYPE_NAMES:
                raise self.error(f"tensor {name} has type {GGML_TYPE_NAMES[type_id]}; only F32 and F16 are supported")
            raise self.error(f"tensor {name} has unknown type {type_id}")
        tensor_type = GGMLType(type_id)
        offset = self.unpack("Q", f"the data offset of tensor '{name}'")
        # Python ints do not overflow, so a product of huge dimensions is simply too big to fit.
        nbytes = math.prod(ne) * np.dtype(TENSOR_DTYPES[tensor_type]).itemsize
        if nbytes > self.size:
            shape = tuple(reversed(ne))
            raise self.error(f"tensor '{name}' of shape {shape} needs {nbytes} bytes, more than the file's {self.size}")
        # A dimension beyond the file's size gets here only beside a 0 (an empty tensor), and NumPy
        # would then refuse the shape: refuse it here, by name.
        if any(n > self.size for n in ne):
            raise self.error(f"tensor '{name}' has a dimension larger than the file's {self.size} bytes: "
                             f"ne = {list(ne)}")
        return name, ne, tensor_type, offset, nbytes

    def read_tensor_data(self, infos, alignment):
        """Check every tensor's data lies aligned, inside the file and apart from the others; return views of it."""
        if not infos:
            return {}, {}
        data_start = padded(self.pos, alignment)
        extents = []
        for name, _ne, _type, offset, nbytes in infos:
            if offset % alignment:
                raise self.error(f"tensor '{name}' data offset {offset} is not a multiple of the alignment {alignment}")
            start = data_start + offset
            if start + nbytes > self.size:
                raise self.error(
                    f"tensor '{name}' data (bytes {start} to {start + nbytes}) runs past the end of the file "
                    f"({self.size} bytes)"
                )
            if nbytes:
                extents.append((offset, offset + nbytes, name))
        extents.sort()
        for (_, end, first), (start, _, second) in zip(extents[:-1], extents[1:], strict=True):
            if start < end:
                raise self.error(f"tensors '{first}' and '{second}' overlap in the data section")

        tensors, tensor_types = {}, {}
        for name, ne, tensor_type, offset, _nbytes in infos:
            dtype = np.dtype(TENSOR_DTYPES[tensor_type])
            array = np.frombuffer(self.data, dtype, math.prod(ne), data_start + offset)
            array = array.reshape(tuple(reversed(ne)))  # ggml's ne is fastest-first; NumPy's shape is slowest-first
            array.flags.writeable = False  # a view of the file's bytes (possibly a caller's bytearray)
            tensors[name] = array
            tensor_types[name] = tensor_type
        return tensors, tensor_types

    def alignment(self, metadata, metadata_types):
        """Return the file's data alignment, checked as ggml checks it."""
        if KEY_ALIGNMENT not in metadata:
            return DEFAULT_ALIGNMENT
        value_type = metadata_types[KEY_ALIGNMENT][0]
        if value_type != GGUFValueType.UINT32:
            raise self.error(f"{KEY_ALIGNMENT} must be a UINT32, found {value_type.name}")
        alignment = metadata[KEY_ALIGNMENT]
        if alignment == 0 or alignment & (alignment - 1) or alignment > MAX_ALIGNMENT:
            raise self.error(f"{KEY_ALIGNMENT} is {alignment}; it must be a power of 2 no larger than {MAX_ALIGNMENT}")
        return alignment

    def value_type(self, type_id, key):
        """Turn a raw value-type id into a GGUFValueType, or fail naming the key."""
        try:
            return GGUFValueType(type_id)
        except ValueError:
            raise self.error(f"key '{key}' has unknown value type {type_id}") from None

    def check_fits(self, count, item_size, label, owner=None):
        """Fail unless `count` items of at least `item_size` bytes fit in what is left of the file."""
        left = self.size - self.pos
        if count * item_size > left:
            of = f" of {owner}" if owner else ""
            raise self.error(
                f"{label} {count}{of} cannot fit in a file of {self.size} bytes ({left} left at offset {self.pos})"
            )

    def take(self, nbytes, what):
        """Return the next `nbytes` bytes as a memoryview and move past them."""
        if nbytes > self.size - self.pos:
            raise self.error(
                f"file is truncated: expected {what} ({nbytes} bytes) at offset {self.pos}, "
                f"but the file ends at {self.size}"
            )
        start, self.pos = self.pos, self.pos + nbytes
        return self.data[start:self.pos]

    def unpack(self, fmt, what):
        """Read one little-endian value of struct format `fmt`."""
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))[0]


def _magic_hint(head):
    """Guess what a non-GGUF file is from its first bytes, as " (gzip?)" or ""."""
    for prefix, hint in _MAGIC_HINTS:
        if head.startswith(prefix):
            return f" ({hint})"
    return ""
