"""PNG files from uint8 pixel arrays, with the standard library's zlib and struct (no imaging library).

What is written is the plainest valid PNG: 8 bits per channel, grey, RGB or RGBA, no interlacing, one
IDAT chunk, every row with filter type 0 (none). The format's numbers are named here, once.
"""

import struct
import zlib

import numpy as np

from ..atomic import atomic_write_bytes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BIT_DEPTH = 8
COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type: grey, RGB (truecolour), RGBA
FILTER_NONE = 0
COMPRESSION_LEVEL = 9  # the pictures are small; the smallest file costs nothing noticeable


def png_bytes(pixels):
    """pixels: uint8 (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA -> the bytes of a PNG file."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise ValueError(f"PNG pixels must be uint8, got {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in COLOUR_TYPES or min(pixels.shape[:2]) < 1:
        raise ValueError(f"PNG pixels must be (H, W), (H, W, 3) or (H, W, 4) with H, W >= 1, got {pixels.shape}")
    height, width, channels = pixels.shape
    header = struct.pack(">IIBBBBB", width, height, BIT_DEPTH, COLOUR_TYPES[channels], 0, 0, 0)
    rows = np.empty((height, 1 + width * channels), dtype=np.uint8)  # each row: its filter byte, then the pixels
    rows[:, 0] = FILTER_NONE
    rows[:, 1:] = pixels.reshape(height, width * channels)
    return (PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), COMPRESSION_LEVEL))
            + _chunk(b"IEND", b""))


def write_png(path, pixels):
    """Write `pixels` (as png_bytes takes them) to `path` as a PNG file, atomically."""
    atomic_write_bytes(path, png_bytes(pixels))


def _chunk(kind, data):
    """One chunk: length, type, data, and the CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
