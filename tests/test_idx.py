"""IDX reading and writing: raw and gzip told apart by content, and every broken file refused with its name."""

import gzip
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

from mnist_core.errors import FileFormatError
from mnist_core.formats.idx import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    read_idx_images,
    read_idx_labels,
    read_idx_pair,
    write_idx_images,
    write_idx_labels,
)


def _images(count=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(count, 28, 28), dtype=np.uint8)


def _labels(count=5):
    return (np.arange(count) % 10).astype(np.uint8)


def _images_header(count, rows=28, cols=28, magic=IMAGES_MAGIC):
    return struct.pack(">IIII", magic, count, rows, cols)


def _labels_header(count, magic=LABELS_MAGIC):
    return struct.pack(">II", magic, count)


def _write(path, data):
    path.write_bytes(data)
    return path


def _refused(read, path, *fragments):
    """Assert that reading `path` raises FileFormatError naming the file and containing every fragment."""
    with pytest.raises(FileFormatError) as info:
        read(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_raw_images_and_labels_read_back_as_written(tmp_path):
    images, labels = _images(), _labels()
    write_idx_images(tmp_path / "images", images)
    write_idx_labels(tmp_path / "labels", labels)
    got_images, got_labels = read_idx_pair(tmp_path / "images", tmp_path / "labels")
    assert got_images.dtype == np.uint8 and got_images.shape == (5, 28, 28)
    assert got_labels.dtype == np.uint8 and got_labels.shape == (5,)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_gzipped_images_and_labels_read_back_as_written(tmp_path):
    images, labels = _images(), _labels()
    write_idx_images(tmp_path / "images.gz", images, gzip=True)
    write_idx_labels(tmp_path / "labels.gz", labels, gzip=True)
    assert (tmp_path / "images.gz").read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx_images(tmp_path / "images.gz"), images)
    np.testing.assert_array_equal(read_idx_labels(tmp_path / "labels.gz"), labels)


def test_bytes_are_read_like_files_raw_or_gzipped():
    images = _images(3)
    raw = _images_header(3) + images.tobytes()
    np.testing.assert_array_equal(read_idx_images(raw), images)
    np.testing.assert_array_equal(read_idx_images(gzip.compress(raw)), images)
    np.testing.assert_array_equal(read_idx_labels(bytearray(_labels_header(3) + b"\x01\x02\x03")), [1, 2, 3])


def test_read_images_are_writable_arrays(tmp_path):
    write_idx_images(tmp_path / "images.gz", _images(), gzip=True)
    assert read_idx_images(tmp_path / "images.gz").flags.writeable
    assert read_idx_images(_images_header(1) + bytes(784)).flags.writeable


def test_gzip_file_named_without_gz_is_decompressed(tmp_path):
    images = _images()
    write_idx_images(tmp_path / "t10k-images-idx3-ubyte", images, gzip=True)
    np.testing.assert_array_equal(read_idx_images(tmp_path / "t10k-images-idx3-ubyte"), images)


def test_raw_file_named_gz_is_read_as_raw(tmp_path):
    labels = _labels()
    write_idx_labels(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    np.testing.assert_array_equal(read_idx_labels(tmp_path / "t10k-labels-idx1-ubyte.gz"), labels)


def test_gzip_writes_are_reproducible(tmp_path):
    write_idx_images(tmp_path / "a.gz", _images(), gzip=True)
    write_idx_images(tmp_path / "b.gz", _images(), gzip=True)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


def test_empty_file_is_refused(tmp_path):
    _refused(read_idx_images, _write(tmp_path / "images", b""), "empty")


def test_empty_gzip_content_is_refused(tmp_path):
    _refused(read_idx_labels, _write(tmp_path / "labels", gzip.compress(b"")), "decompressed data is only 0 bytes")


def test_header_cut_short_is_refused(tmp_path):
    _refused(read_idx_images, _write(tmp_path / "images", _images_header(1)[:10]), "too short", "16 bytes")


def test_labels_file_read_as_images_says_expected_and_found_magic(tmp_path):
    path = _write(tmp_path / "t10k-images-idx3-ubyte", _labels_header(2) + b"\x00\x01")
    _refused(read_idx_images, path, "expected magic 0x00000803, found 0x00000801 (a labels file?)")


def test_images_file_read_as_labels_says_expected_and_found_magic(tmp_path):
    path = _write(tmp_path / "labels", _images_header(1) + bytes(784))
    _refused(read_idx_labels, path, "expected magic 0x00000801, found 0x00000803 (an images file?)")


def test_doubly_gzipped_file_is_called_gzip(tmp_path):
    path = _write(tmp_path / "images.gz", gzip.compress(gzip.compress(_images_header(1) + bytes(784))))
    _refused(read_idx_images, path, "expected magic 0x00000803, found 0x1f8b", "(gzip?)")


def test_wrong_number_of_dimensions_is_refused(tmp_path):
    path = _write(tmp_path / "images", struct.pack(">III", 0x00000802, 1, 784) + bytes(784))
    _refused(read_idx_images, path, "found 0x00000802", "2 dimensions, expected 3")


def test_non_byte_data_type_is_refused(tmp_path):
    path = _write(tmp_path / "images", _images_header(1, magic=0x00000D03) + bytes(4 * 784))
    _refused(read_idx_images, path, "found 0x00000d03", "data type 0x0d")


def test_images_that_are_not_28x28_are_refused(tmp_path):
    path = _write(tmp_path / "images", _images_header(2, 32, 32) + bytes(2 * 32 * 32))
    _refused(read_idx_images, path, "expected 28x28 images, found 32x32")


def test_truncated_raw_file_says_expected_and_found_bytes(tmp_path):
    path = _write(tmp_path / "images", _images_header(3) + bytes(2 * 784))
    _refused(read_idx_images, path, "header says 3 images", "expected 2368 bytes, found 1584", "truncated")


def test_raw_file_with_trailing_bytes_says_expected_and_found_bytes(tmp_path):
    path = _write(tmp_path / "labels", _labels_header(3) + b"\x01\x02\x03\x04\x05")
    _refused(read_idx_labels, path, "header says 3 labels", "expected 11 bytes, found 13", "2 trailing bytes")


def test_gzip_with_too_little_data_says_expected_and_found_bytes(tmp_path):
    path = _write(tmp_path / "images.gz", gzip.compress(_images_header(3) + bytes(784)))
    _refused(read_idx_images, path, "expected 2368 bytes of decompressed data, found 800", "truncated")


def test_gzip_with_trailing_data_is_refused(tmp_path):
    path = _write(tmp_path / "labels.gz", gzip.compress(_labels_header(2) + b"\x01\x02\x03"))
    _refused(read_idx_labels, path, "expected 10 bytes of decompressed data, found more", "trailing data")


def test_labels_out_of_range_name_the_first_bad_index_and_value(tmp_path):
    path = _write(tmp_path / "labels", _labels_header(6) + bytes([1, 2, 3, 12, 4, 200]))
    _refused(read_idx_labels, path, "label 12 at index 3 is out of range 0..9", "2 bad labels")


def test_images_and_labels_with_different_counts_are_refused(tmp_path):
    write_idx_images(tmp_path / "images", _images(5))
    write_idx_labels(tmp_path / "labels", _labels(4))
    with pytest.raises(FileFormatError, match=r"labels: holds 4 labels, but .*images holds 5 images"):
        read_idx_pair(tmp_path / "images", tmp_path / "labels")


def test_corrupt_gzip_data_is_refused(tmp_path):
    compressed = bytearray(gzip.compress(_images_header(2) + bytes(2 * 784)))
    compressed[10] = 0xFF  # first deflate block header, right after the 10-byte gzip header: reserved block type
    _refused(read_idx_images, _write(tmp_path / "images.gz", bytes(compressed)), "corrupt gzip data")


def test_gzip_with_bad_crc_is_refused(tmp_path):
    compressed = bytearray(gzip.compress(_labels_header(2) + b"\x01\x02"))
    compressed[-8] ^= 0xFF  # the CRC-32 in the trailer
    _refused(read_idx_labels, _write(tmp_path / "labels.gz", bytes(compressed)), "corrupt gzip data", "CRC")


def test_truncated_gzip_stream_is_refused(tmp_path):
    compressed = gzip.compress(_images_header(2) + _images(2).tobytes())
    path = _write(tmp_path / "images.gz", compressed[: len(compressed) // 2])
    _refused(read_idx_images, path, "gzip stream is truncated")


def test_missing_file_raises_file_not_found_naming_it(tmp_path):
    path = tmp_path / "no-such-file"
    with pytest.raises(FileNotFoundError) as info:
        read_idx_images(path)
    assert info.value.filename == str(path)


def test_name_argument_replaces_the_path_in_messages():
    with pytest.raises(FileFormatError, match=r"^digits\.idx: file is empty"):
        read_idx_images(b"", name="digits.idx")


def _peak_bytes_while(read, source):
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError) as info:
            read(source)
        return tracemalloc.get_traced_memory()[1], str(info.value)
    finally:
        tracemalloc.stop()


def test_raw_header_claiming_a_billion_images_is_refused_without_allocating(tmp_path):
    path = _write(tmp_path / "images", _images_header(10**9) + bytes(784))
    peak, message = _peak_bytes_while(read_idx_images, path)
    assert "expected 784000000016 bytes, found 800" in message
    assert peak < 1 << 20


def test_gzip_header_claiming_a_billion_images_allocates_only_what_arrives(tmp_path):
    compressed = gzip.compress(_images_header(10**9) + bytes(2 << 20))
    peak, message = _peak_bytes_while(read_idx_images, _write(tmp_path / "images.gz", compressed))
    assert "truncated" in message
    assert peak < 8 << 20  # 2 MiB arrived; 784 GB were claimed


def test_gzip_bomb_is_decompressed_only_as_far_as_the_header_needs(tmp_path):
    # 10 images claimed, then 64 MiB of zeros that compress to about 64 KB
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(_images_header(10) + bytes(7840))]
    zeros = bytes(1 << 20)
    parts += [compressor.compress(zeros) for _ in range(64)]
    parts.append(compressor.flush())
    path = _write(tmp_path / "images.gz", b"".join(parts))
    peak, message = _peak_bytes_while(read_idx_images, path)
    assert "trailing data" in message
    assert peak < 4 << 20


def test_writers_refuse_wrong_shapes_and_values(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        write_idx_images(tmp_path / "x", np.zeros((2, 784), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        write_idx_labels(tmp_path / "x", np.zeros((2, 1), np.uint8))
    with pytest.raises(ValueError, match="0..255"):
        write_idx_labels(tmp_path / "x", np.array([1, 256]))
