"""MNIST's IDX files: 28x28 uint8 images and uint8 labels, raw or gzipped, read and written with checks.

An IDX file is a big-endian header (magic 0x0000TTDD: T = data type, 0x08 for unsigned bytes,
D = number of dimensions, then one uint32 per dimension) followed by the items in C order.
Whether a file is gzipped is decided by its first two bytes (1f 8b), never by its name. Every
size is checked against the header before anything is allocated, and a gzip stream is only
decompressed as far as the header says it needs (plus one byte to catch trailing data), so a
gzip bomb cannot make us allocate more than a well-formed file of that header would.
"""

import gzip as _gzip
import io
import math
import os
import struct
import zlib

import numpy as np

from ..errors import FileFormatError

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions: (count, rows, cols)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension: (count,)
UBYTE_TYPE = 0x08
IMAGE_ROWS = 28
IMAGE_COLS = 28
NUM_CLASSES = 10
GZIP_MAGIC = b"\x1f\x8b"
# Decompression steps: the first is small, since a read allocates its whole size up front, however
# little data the stream holds; each next one doubles up to the largest, so that the buffer stays
# within twice the data actually there and a large file still takes few reads.
GZIP_FIRST_CHUNK_BYTES = 1 << 14
GZIP_CHUNK_BYTES = 1 << 20

_KINDS = {  # kind -> (magic, what one item is called)
    "images": (IMAGES_MAGIC, "images"),
    "labels": (LABELS_MAGIC, "labels"),
}


def read_idx_images(source, name=None):
    """Read an IDX images file (path or bytes, raw or gzipped) -> uint8 array (N, 28, 28)."""
    return _read_idx(source, name, "images")


def read_idx_labels(source, name=None):
    """Read an IDX labels file (path or bytes, raw or gzipped) -> uint8 array (N,), every label in 0..9."""
    labels = _read_idx(source, name, "labels")
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        index = int(bad[0])
        raise FileFormatError(
            _source_name(source, name),
            f"label {labels[index]} at index {index} is out of range 0..{NUM_CLASSES - 1} "
            f"({bad.size} bad labels in all)",
        )
    return labels


def read_idx_pair(images_source, labels_source, images_name=None, labels_name=None):
    """Read an images file and its labels file -> (images (N, 28, 28), labels (N,)), checking both hold N items."""
    images = read_idx_images(images_source, images_name)
    labels = read_idx_labels(labels_source, labels_name)
    if len(images) != len(labels):
        raise FileFormatError(
            _source_name(labels_source, labels_name),
            f"holds {len(labels)} labels, but {_source_name(images_source, images_name)} "
            f"holds {len(images)} images",
        )
    return images, labels


def write_idx_images(path, images, gzip=False):
    """Write uint8 images (N, 28, 28) as an IDX file, gzipped if `gzip`."""
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_ROWS, IMAGE_COLS):
        raise ValueError(f"expected images of shape (N, {IMAGE_ROWS}, {IMAGE_COLS}), got {images.shape}")
    _write_idx(path, IMAGES_MAGIC, images, gzip)


def write_idx_labels(path, labels, gzip=False):
    """Write uint8 labels (N,) as an IDX file, gzipped if `gzip`."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"expected labels of shape (N,), got {labels.shape}")
    _write_idx(path, LABELS_MAGIC, labels, gzip)


def _write_idx(path, magic, items, compress):
    if items.dtype != np.uint8:
        if items.size and (items.min() < 0 or items.max() > 255):
            raise ValueError("IDX unsigned-byte items must lie in 0..255")
        items = items.astype(np.uint8)
    header = struct.pack(f">I{items.ndim}I", magic, *items.shape)
    payload = np.ascontiguousarray(items).tobytes()
    if compress:
        # no file name and mtime 0 in the gzip header: the same items always give the same bytes
        with open(path, "wb") as raw, _gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as f:
            f.write(header)
            f.write(payload)
    else:
        with open(path, "wb") as f:
            f.write(header)
            f.write(payload)


def _source_name(source, name):
    if name is not None:
        return name
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return os.fspath(source)


def _read_idx(source, name, kind):
    """Parse one IDX file of `kind` ("images" or "labels") -> uint8 array shaped as its header says."""
    name = _source_name(source, name)
    if isinstance(source, (bytes, bytearray, memoryview)):
        stored = io.BytesIO(source)
    else:
        stored = open(source, "rb")  # FileNotFoundError names the path; run_cli prints it
    with stored:
        stored_bytes = stored.seek(0, io.SEEK_END)
        if stored_bytes == 0:
            raise FileFormatError(name, f"file is empty (0 bytes), expected an IDX {kind} file")
        stored.seek(0)
        compressed = stored.read(2) == GZIP_MAGIC
        stored.seek(0)
        if compressed:
            with _gzip.GzipFile(fileobj=stored, mode="rb") as stream:
                try:
                    return _parse(stream, name, kind, None)
                except (_gzip.BadGzipFile, zlib.error) as exc:
                    raise FileFormatError(name, f"corrupt gzip data ({exc})") from None
                except EOFError:
                    raise FileFormatError(
                        name, "gzip stream is truncated (it ends before its end-of-stream marker)") from None
        return _parse(stored, name, kind, stored_bytes)


def _parse(stream, name, kind, stored_bytes):
    """Read header and items from `stream`; `stored_bytes` is the total size when known (raw), None for gzip."""
    expected_magic, item_word = _KINDS[kind]
    ndim = expected_magic & 0xFF
    where = "decompressed data" if stored_bytes is None else "file"

    head = stream.read(4)
    if len(head) < 4:
        raise FileFormatError(name, f"{where} is only {len(head)} bytes, too short for an IDX {kind} header")
    (magic,) = struct.unpack(">I", head)
    if magic != expected_magic:
        raise FileFormatError(
            name, f"expected magic 0x{expected_magic:08x}, found 0x{magic:08x}{_magic_hint(head, expected_magic)}"
        )
    header_bytes = 4 + 4 * ndim
    dims_raw = stream.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise FileFormatError(
            name,
            f"{where} is only {4 + len(dims_raw)} bytes, too short for an IDX {kind} header ({header_bytes} bytes)",
        )
    dims = struct.unpack(f">{ndim}I", dims_raw)
    count = dims[0]
    if kind == "images" and dims[1:] != (IMAGE_ROWS, IMAGE_COLS):
        raise FileFormatError(name, f"expected {IMAGE_ROWS}x{IMAGE_COLS} images, found {dims[1]}x{dims[2]}")

    data_bytes = math.prod(dims)
    expected_total = header_bytes + data_bytes
    what = f"header says {count} {item_word}" + (f" of {IMAGE_ROWS}x{IMAGE_COLS}" if kind == "images" else "")

    if stored_bytes is not None:
        if stored_bytes != expected_total:
            trailing = stored_bytes - expected_total
            problem = "truncated" if trailing < 0 else f"{trailing} trailing bytes"
            raise FileFormatError(name, f"{what}: expected {expected_total} bytes, found {stored_bytes} ({problem})")
        items = np.empty(data_bytes, dtype=np.uint8)
        if stream.readinto(memoryview(items)) != data_bytes:
            raise FileFormatError(name, "file changed while it was being read")
    else:
        items = _read_bounded(stream, data_bytes, name, what, header_bytes)
    return items.reshape(dims)


def _read_bounded(stream, data_bytes, name, what, header_bytes):
    """Decompress exactly `data_bytes` from a gzip stream, the buffer growing only as data arrives; check it ends."""
    buffer = bytearray()
    while len(buffer) < data_bytes:
        step = min(GZIP_CHUNK_BYTES, max(GZIP_FIRST_CHUNK_BYTES, len(buffer)))
        chunk = stream.read(min(step, data_bytes - len(buffer)))
        if not chunk:
            raise FileFormatError(
                name,
                f"{what}: expected {header_bytes + data_bytes} bytes of decompressed data, "
                f"found {header_bytes + len(buffer)} (truncated)",
            )
        buffer += chunk
    if stream.read(1):
        raise FileFormatError(
            name,
            f"{what}: expected {header_bytes + data_bytes} bytes of decompressed data, "
            f"found more (trailing data)",
        )
    return np.frombuffer(buffer, dtype=np.uint8)


def _magic_hint(head, expected_magic):
    """A guess at what the file is instead, for the error message."""
    if head[:2] == GZIP_MAGIC:
        return " (gzip?)"
    if head[:2] != b"\x00\x00":
        return " (not an IDX file)"
    if head[2] != UBYTE_TYPE:
        return f" (IDX data type 0x{head[2]:02x}, expected 0x{UBYTE_TYPE:02x} unsigned bytes)"
    found = int.from_bytes(head, "big")
    if found == LABELS_MAGIC:
        return " (a labels file?)"
    if found == IMAGES_MAGIC:
        return " (an images file?)"
    return f" (an IDX file with {head[3]} dimensions, expected {expected_magic & 0xFF})"
