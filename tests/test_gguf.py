"""GGUF reading and writing: agreement with the `gguf` package both ways, ggml's layout rules, broken
files, atomic writes."""

import math
import os
import stat
import struct
import sys
import tracemalloc

import numpy as np
import pytest

from conftest import skip_unless_available
from mnist_core import atomic
from mnist_core.atomic import atomic_write, atomic_write_bytes
from mnist_core.errors import FileFormatError
from mnist_core.formats.gguf_constants import GGMLType, GGUFValue, GGUFValueType
from mnist_core.formats.gguf_reader import read_gguf
from mnist_core.formats.gguf_writer import gguf_bytes, write_gguf
from test_reader_properties import fuzz_readers

try:
    import gguf  # the reference implementation, a dev dependency only
except ImportError:
    gguf = None

pytestmark = skip_unless_available(None if gguf else "the gguf package is not installed (pip install -e '.[dev]')")

T = GGUFValueType

# One scalar and one array per fixed-size value type, all exactly representable in their type.
VALUES_BY_TYPE = [
    (T.UINT8, 200, [0, 1, 255]),
    (T.INT8, -100, [-128, 0, 127]),
    (T.UINT16, 60000, [0, 65535]),
    (T.INT16, -30000, [-32768, 32767]),
    (T.UINT32, 4_000_000_000, [0, 2**32 - 1]),
    (T.INT32, -2_000_000_000, [-(2**31), 2**31 - 1]),
    (T.FLOAT32, 0.5, [-1.25, 3.0, 1e-3]),
    (T.BOOL, True, [True, False, True]),
    (T.UINT64, 2**63 + 5, [0, 2**64 - 1]),
    (T.INT64, -(2**62), [-(2**63), 2**63 - 1]),
    (T.FLOAT64, math.pi, [math.e, -0.1]),
    (T.STRING, "héllo, wörld", ["", "a", "ünïcode ✓"]),
]


def cnn_like_tensors():
    """Small tensors shaped like the CNN's, F32 and F16, with distinct values."""
    rng = np.random.default_rng(0)
    return {
        "conv1.kernel": rng.standard_normal((8, 1, 3, 3)).astype(np.float32),
        "conv1.bias": rng.standard_normal((1, 8, 1, 1)).astype(np.float32),
        "dense.weight": rng.standard_normal((10, 37)).astype(np.float16),
        "dense.bias": rng.standard_normal(10).astype(np.float32),
    }


def write_with_gguf_package(path, arch="mnist-cnn", tensors=None, raw_shapes=None, values=VALUES_BY_TYPE):
    """Write a file with gguf.GGUFWriter: one scalar and one array key per value type, then the tensors."""
    writer = gguf.GGUFWriter(os.fspath(path), arch)
    for value_type, scalar, array in values:
        name = value_type.name.lower()
        writer.add_key_value(f"test.{name}", scalar, gguf.GGUFValueType(value_type))
        writer.add_key_value(f"test.{name}_array", array, gguf.GGUFValueType.ARRAY, gguf.GGUFValueType(value_type))
    for name, array in (tensors or {}).items():
        writer.add_tensor(name, array, raw_shape=(raw_shapes or {}).get(name))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def plain(value):
    """Metadata as lists and Python numbers: the reader gives arrays of numbers as NumPy arrays."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value.tolist() if isinstance(value, np.ndarray) else value


def expected_float(value_type, value):
    """What a float survives as after a round trip through `value_type`."""
    return float(np.float32(value)) if value_type == T.FLOAT32 else value


# --- reading files the `gguf` package wrote ---------------------------------------------------------


def test_reader_reads_every_value_type_written_by_the_gguf_package(tmp_path):
    path = tmp_path / "all-types.gguf"
    write_with_gguf_package(path)
    model = read_gguf(path)

    assert model.version == 3
    assert model.alignment == 32
    assert model.metadata["general.architecture"] == "mnist-cnn"
    for value_type, scalar, array in VALUES_BY_TYPE:
        name = value_type.name.lower()
        assert model.metadata_types[f"test.{name}"] == (value_type, None)
        assert model.metadata_types[f"test.{name}_array"] == (T.ARRAY, value_type)
        if value_type in (T.FLOAT32, T.FLOAT64):
            assert model.metadata[f"test.{name}"] == expected_float(value_type, scalar)
            assert plain(model.metadata[f"test.{name}_array"]) == [expected_float(value_type, v) for v in array]
        else:
            assert model.metadata[f"test.{name}"] == scalar
            assert plain(model.metadata[f"test.{name}_array"]) == array
        assert type(model.metadata[f"test.{name}"]) is type(scalar)


def test_reader_keeps_the_files_key_order(tmp_path):
    path = tmp_path / "order.gguf"
    write_with_gguf_package(path)
    keys = [field.name for field in gguf.GGUFReader(path).fields.values() if not field.name.startswith("GGUF.")]
    assert list(read_gguf(path).metadata) == keys


def test_reader_reads_f32_and_f16_tensors_including_keras_style_raw_shape(tmp_path):
    tensors = cnn_like_tensors()
    # As the reference's Keras script does: hand over a differently shaped array plus the shape to record.
    kernel_hwio = np.ascontiguousarray(tensors["conv1.kernel"].transpose(2, 3, 1, 0))  # Keras' (kh, kw, in, out)
    written = {
        "conv1.kernel": kernel_hwio.transpose(3, 2, 0, 1),  # not C-contiguous; gguf writes it in C order
        "conv1.bias": tensors["conv1.bias"].reshape(8),
        "dense.weight": tensors["dense.weight"],
        "dense.bias": tensors["dense.bias"],
    }
    raw_shapes = {"conv1.kernel": (8, 1, 3, 3), "conv1.bias": (1, 8, 1, 1)}
    path = tmp_path / "cnn.gguf"
    write_with_gguf_package(path, tensors=written, raw_shapes=raw_shapes)

    model = read_gguf(path)

    assert list(model.tensors) == list(tensors)
    for name, expected in tensors.items():
        assert model.tensors[name].shape == expected.shape
        assert model.tensors[name].dtype == expected.dtype
        np.testing.assert_array_equal(model.tensors[name], expected)
    assert model.tensor_types == {
        "conv1.kernel": GGMLType.F32, "conv1.bias": GGMLType.F32,
        "dense.weight": GGMLType.F16, "dense.bias": GGMLType.F32,
    }
    ne = {t.name: list(t.shape) for t in gguf.GGUFReader(path).tensors}
    assert ne["conv1.bias"] == [1, 1, 8, 1]  # the table in reference.md
    assert ne["conv1.kernel"] == [3, 3, 1, 8]


def test_reader_reads_version_2_files(tmp_path):
    path = tmp_path / "v3.gguf"
    write_with_gguf_package(path, tensors=cnn_like_tensors())
    data = bytearray(path.read_bytes())
    data[4:8] = struct.pack("<I", 2)  # v2 and v3 share the layout; v3 only added big-endian files
    v2, v3 = read_gguf(bytes(data), name="v2.gguf"), read_gguf(path)

    assert (v2.version, v3.version) == (2, 3)
    assert plain(v2.metadata) == plain(v3.metadata)
    for name in v3.tensors:
        np.testing.assert_array_equal(v2.tensors[name], v3.tensors[name])


def test_reader_accepts_paths_bytes_bytearray_and_memoryview(tmp_path):
    path = tmp_path / "m.gguf"
    write_gguf(path, {"general.architecture": "mnist-fc"}, {"fc1.bias": np.arange(5, dtype=np.float32)})
    data = path.read_bytes()
    for source in (path, os.fspath(path), data, bytearray(data), memoryview(data)):
        model = read_gguf(source)
        np.testing.assert_array_equal(model.tensors["fc1.bias"], np.arange(5))
    with pytest.raises(FileFormatError, match=r"^<bytes>: "):
        read_gguf(b"")
    with pytest.raises(FileFormatError, match=r"^upload\.gguf: "):
        read_gguf(b"", name="upload.gguf")


def test_tensors_are_read_only_views_of_the_files_bytes(tmp_path):
    data = gguf_bytes({}, {"w": np.ones((2, 3), np.float32)})
    tensor = read_gguf(bytearray(data)).tensors["w"]
    assert not tensor.flags.writeable
    assert tensor.base is not None  # a view, not a copy


# --- the `gguf` package reading files we wrote -------------------------------------------------------


def test_gguf_package_reads_our_files_tensor_for_tensor_and_key_for_key(tmp_path):
    metadata = {"general.architecture": "mnist-cnn"}
    for value_type, scalar, array in VALUES_BY_TYPE:
        name = value_type.name.lower()
        metadata[f"test.{name}"] = GGUFValue(value_type, scalar)
        metadata[f"test.{name}_array"] = GGUFValue(T.ARRAY, array, value_type)
    tensors = cnn_like_tensors()
    path = tmp_path / "ours.gguf"
    write_gguf(path, metadata, tensors)

    reader = gguf.GGUFReader(path)

    fields = {name: field for name, field in reader.fields.items() if not name.startswith("GGUF.")}
    assert list(fields) == list(metadata)
    assert fields["general.architecture"].contents() == "mnist-cnn"
    for value_type, scalar, array in VALUES_BY_TYPE:
        name = value_type.name.lower()
        scalar_field, array_field = fields[f"test.{name}"], fields[f"test.{name}_array"]
        assert scalar_field.types == [value_type]
        assert array_field.types == [T.ARRAY, value_type]
        if value_type in (T.FLOAT32, T.FLOAT64):
            assert scalar_field.contents() == pytest.approx(expected_float(value_type, scalar))
            assert array_field.contents() == pytest.approx([expected_float(value_type, v) for v in array])
        else:
            assert scalar_field.contents() == scalar
            assert array_field.contents() == array
    assert [t.name for t in reader.tensors] == list(tensors)
    for tensor in reader.tensors:
        expected = tensors[tensor.name]
        assert list(tensor.shape) == list(reversed(expected.shape))  # ggml's ne: fastest-varying first
        expected_type = "F16" if expected.dtype == np.float16 else "F32"
        assert tensor.tensor_type == gguf.GGMLQuantizationType[expected_type]
        np.testing.assert_array_equal(tensor.data.reshape(expected.shape), expected)


def test_gguf_package_reads_the_alignment_we_write(tmp_path):
    path = tmp_path / "a64.gguf"
    write_gguf(path, {"general.architecture": "mnist-fc"}, cnn_like_tensors(), alignment=64)
    reader = gguf.GGUFReader(path)
    assert reader.alignment == 64
    assert reader.fields["general.alignment"].types == [T.UINT32]
    np.testing.assert_array_equal(reader.get_tensor(1).data.reshape(1, 8, 1, 1), cnn_like_tensors()["conv1.bias"])


# --- our round trip and ggml's layout rules ----------------------------------------------------------


@pytest.mark.parametrize("alignment", [32, 64, 1, 4096])
def test_round_trip_keeps_metadata_types_and_tensors(tmp_path, alignment):
    metadata = {"general.architecture": "mnist-cnn", "test.note": "trained 30 epochs", "test.epochs": 30}
    for value_type, scalar, array in VALUES_BY_TYPE:
        metadata[f"test.{value_type.name.lower()}"] = GGUFValue(value_type, scalar)
        metadata[f"test.{value_type.name.lower()}_array"] = GGUFValue(T.ARRAY, array, value_type)
    tensors = cnn_like_tensors()
    path = tmp_path / "round.gguf"

    write_gguf(path, metadata, tensors, alignment=alignment)
    first = read_gguf(path)
    again = read_gguf(gguf_bytes(first.typed_metadata(), first.tensors, alignment=first.alignment))

    assert first.alignment == again.alignment == alignment
    assert plain(again.metadata) == plain(first.metadata)
    assert again.metadata_types == first.metadata_types
    assert first.metadata_types["test.epochs"] == (T.INT32, None)
    for name, expected in tensors.items():
        np.testing.assert_array_equal(first.tensors[name], expected)
        np.testing.assert_array_equal(again.tensors[name], expected)
        assert again.tensors[name].dtype == expected.dtype


def test_written_files_follow_ggml_layout_rules(tmp_path):
    # ggml requires each tensor's offset to be exactly the padded end of the previous one, counted
    # from the aligned start of the data section, and reads the last tensor's padding too.
    for alignment in (32, 64):
        data = gguf_bytes({"general.architecture": "mnist-fc"}, cnn_like_tensors(), alignment=alignment)
        path = tmp_path / f"layout{alignment}.gguf"
        path.write_bytes(data)
        reader = gguf.GGUFReader(path)
        expected_offset = reader.data_offset
        assert reader.data_offset % alignment == 0
        for tensor in reader.tensors:
            assert tensor.data_offset == expected_offset
            expected_offset += -(-tensor.n_bytes // alignment) * alignment
        assert len(data) == expected_offset
        assert ("general.alignment" in reader.fields) == (alignment != 32)


def test_writer_puts_the_architecture_first():
    model = read_gguf(gguf_bytes({"test.a": 1, "general.architecture": "mnist-fc", "test.b": 2}, {}, alignment=64))
    assert list(model.metadata) == ["general.architecture", "general.alignment", "test.a", "test.b"]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("mnist-fc", (T.STRING, None)),
        (True, (T.BOOL, None)),
        (7, (T.INT32, None)),
        (2**31, (T.INT64, None)),
        (-(2**40), (T.INT64, None)),
        (2**63, (T.UINT64, None)),
        (0.001, (T.FLOAT32, None)),
        (np.uint16(3), (T.UINT16, None)),
        (np.float64(0.1), (T.FLOAT64, None)),
        ([1, 2, 3], (T.ARRAY, T.INT32)),
        ([1, 2**40], (T.ARRAY, T.INT64)),
        ([0, 2**64 - 1], (T.ARRAY, T.UINT64)),
        ([1, 2.5], (T.ARRAY, T.FLOAT32)),
        (("a", "b"), (T.ARRAY, T.STRING)),
        ([True, False], (T.ARRAY, T.BOOL)),
        (np.arange(3, dtype=np.int16), (T.ARRAY, T.INT16)),
    ],
)
def test_writer_infers_value_types(value, expected):
    model = read_gguf(gguf_bytes({"test.value": value}, {}))
    assert model.metadata_types["test.value"] == expected
    expected_value = value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value
    if isinstance(expected_value, tuple):
        expected_value = list(expected_value)
    if expected[0] == T.FLOAT32 or expected[1] == T.FLOAT32:
        assert plain(model.metadata["test.value"]) == pytest.approx(expected_value, rel=1e-6)
    else:
        assert plain(model.metadata["test.value"]) == expected_value


@pytest.mark.parametrize(
    "metadata, tensors, problem",
    [
        ({}, {"w": np.zeros(3)}, "dtype float64; convert it to float32"),
        ({}, {"w": np.zeros((1, 1, 1, 1, 2), np.float32)}, "5 dimensions"),
        ({}, {"w": np.zeros((0, 3), np.float32)}, "empty"),
        ({}, {"x" * 64: np.zeros(1, np.float32)}, "longer than ggml's 63 bytes"),
        ({"test.empty": []}, {}, "empty list has no element type"),
        ({"test.nested": [[1], [2]]}, {}, "arrays of arrays"),
        ({"test.mixed": ["a", 1]}, {}, "no single GGUF type"),
        ({"test.big": 2**64}, {}, "does not fit in 64 bits"),
        ({"test.byte": GGUFValue(T.UINT8, 256)}, {}, "does not fit GGUF type UINT8"),
        ({"test.str": GGUFValue(T.STRING, 5)}, {}, "expected a str"),
        ({"test.none": None}, {}, "cannot store a NoneType"),
        ({"general.alignment": 64}, {}, "disagrees with alignment=32"),
    ],
)
def test_writer_refuses_what_ggml_could_not_load(metadata, tensors, problem):
    with pytest.raises((ValueError, TypeError), match=problem):
        gguf_bytes(metadata, tensors)


def test_writer_refuses_alignments_that_are_not_powers_of_two():
    for alignment in (0, 3, 48, 2**21):
        with pytest.raises(ValueError, match="power of 2"):
            gguf_bytes({}, {}, alignment=alignment)


# --- broken files ---------------------------------------------------------------------------------


def gguf_string(text):
    """A GGUF string: u64 length, then the bytes."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def header(n_tensors, n_kv, version=3, magic=b"GGUF"):
    """The fixed 24-byte header."""
    return magic + struct.pack("<IQQ", version, n_tensors, n_kv)


def kv(key, value_type, payload):
    """One metadata entry with an already encoded value."""
    return gguf_string(key) + struct.pack("<I", value_type) + payload


def tensor_info(name, ne, type_id=0, offset=0):
    """One tensor info: name, n_dims, ne, type, offset."""
    return gguf_string(name) + struct.pack(f"<I{len(ne)}qIQ", len(ne), *ne, type_id, offset)


def with_data(head, data, alignment=32):
    """`head`, zero-padded to the alignment, then `data`."""
    return head + bytes(-len(head) % alignment) + data


ARCH_KV = kv("general.architecture", T.STRING, gguf_string("mnist-fc"))
GOOD_DATA = np.arange(4, dtype=np.float32).tobytes()


def good_file():
    """A valid tiny file: one key, two F32 tensors of 4 elements, and the section boundaries."""
    infos = tensor_info("a", [4], offset=0) + tensor_info("b", [2, 2], offset=32)
    head = header(2, 2) + ARCH_KV + kv("test.list", T.ARRAY, struct.pack("<IQ3i", T.INT32, 3, 1, 2, 3)) + infos
    data = with_data(head, GOOD_DATA + bytes(16) + GOOD_DATA + bytes(16))
    return data, {"kv": 24, "infos": len(head) - len(infos), "data": len(head) + (-len(head) % 32)}


def assert_rejected_cheaply(tmp_path, data, *fragments):
    """Reading `data` from model.gguf fails with a one-line FileFormatError naming the file and the problem, having
    executed few Python lines (fuzz_readers.line_budget: a loop the file's counts drive is stopped there) and
    allocated little."""
    path = tmp_path / "model.gguf"
    path.write_bytes(data)
    counter = fuzz_readers.LineCounter(fuzz_readers.line_budget(data))
    tracemalloc.start()
    try:
        with pytest.raises(FileFormatError) as failure:
            counter.run(lambda: read_gguf(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(failure.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert peak < 2 * 2**20, f"peak allocation {peak} bytes for a {len(data)}-byte file"
    return message


def test_good_crafted_file_reads():
    data, _ = good_file()
    model = read_gguf(data)
    assert plain(model.metadata) == {"general.architecture": "mnist-fc", "test.list": [1, 2, 3]}
    assert model.metadata["test.list"].dtype == np.int32
    np.testing.assert_array_equal(model.tensors["b"], [[0, 1], [2, 3]])


def test_empty_file(tmp_path):
    assert_rejected_cheaply(tmp_path, b"", "empty file")


@pytest.mark.parametrize(
    "where, cut, expected",
    [
        ("magic", lambda s: 2, "expected the magic (4 bytes) at offset 0, but the file ends at 2"),
        ("version", lambda s: 6, "the version"),
        ("header counts", lambda s: 20, "the kv count"),
        ("first key", lambda s: s["kv"] + 10, "tensor count 2 cannot fit in a file of 34 bytes"),
        ("array value", lambda s: s["infos"] - 2, "key 'test.list'"),
        ("tensor infos", lambda s: s["data"] - 20, "tensor"),
        ("tensor data", lambda s: s["data"] + 40, "tensor 'b' data"),
    ],
)
def test_truncated_file(tmp_path, where, cut, expected):
    data, sections = good_file()
    message = assert_rejected_cheaply(tmp_path, data[: cut(sections)], expected)
    assert any(words in message for words in ("truncated", "runs past the end of the file", "cannot fit")), where


def test_wrong_magic_says_what_was_found(tmp_path):
    message = assert_rejected_cheaply(tmp_path, b"\x1f\x8b\x08\x00" + bytes(40), "expected magic GGUF")
    assert r"found b'\x1f\x8b\x08\x00' (gzip?)" in message


def test_idx_file_given_as_model_is_recognised(tmp_path):
    assert_rejected_cheaply(tmp_path, struct.pack(">IIII", 0x803, 1, 28, 28), "(an MNIST IDX file?)")


@pytest.mark.parametrize("version", [0, 1, 4, 2**31])
def test_unsupported_version(tmp_path, version):
    assert_rejected_cheaply(tmp_path, header(0, 0, version=version), f"unsupported GGUF version {version}")


def test_big_endian_file_is_named_as_such(tmp_path):
    data = b"GGUF" + struct.pack(">IQQ", 3, 0, 0)
    assert_rejected_cheaply(tmp_path, data, "big-endian")


def test_absurd_tensor_count(tmp_path):
    data = header(2**60, 0) + bytes(1210)
    assert_rejected_cheaply(
        tmp_path, data, "tensor count 1152921504606846976 cannot fit in a file of 1234 bytes")


def test_absurd_kv_count(tmp_path):
    assert_rejected_cheaply(tmp_path, header(0, 2**63) + bytes(100), f"kv count {2**63} cannot fit")


def test_absurd_string_length(tmp_path):
    data = header(0, 1) + struct.pack("<Q", 2**40) + b"general.architecture" + bytes(50)
    assert_rejected_cheaply(tmp_path, data, f"string length {2**40} of key #0 cannot fit")


def test_absurd_string_length_in_a_value(tmp_path):
    data = header(0, 1) + gguf_string("general.name") + struct.pack("<IQ", T.STRING, 2**62) + bytes(50)
    assert_rejected_cheaply(tmp_path, data, f"string length {2**62} of the value of key 'general.name'")


@pytest.mark.parametrize("element_type", [T.UINT8, T.FLOAT64, T.STRING])
def test_absurd_array_length(tmp_path, element_type):
    data = header(0, 1) + kv("test.big", T.ARRAY, struct.pack("<IQ", element_type, 2**50)) + bytes(64)
    assert_rejected_cheaply(tmp_path, data, f"array length {2**50} of key 'test.big' cannot fit")


def test_absurd_n_dims(tmp_path):
    data = header(1, 0) + gguf_string("fc1.weight") + struct.pack("<I", 2**31) + bytes(64)
    assert_rejected_cheaply(tmp_path, data, "tensor 'fc1.weight' has 2147483648 dimensions", "at most 4")


def test_absurd_dimensions(tmp_path):
    data = with_data(header(1, 0) + tensor_info("fc1.weight", [2**40, 2**40]), bytes(64))
    assert_rejected_cheaply(tmp_path, data, "tensor 'fc1.weight'", "needs", "more than the file's")


def test_a_huge_dimension_beside_a_zero_one(tmp_path):
    """The product of ne is 0, so the size check passes; found by tools/fuzz_readers.py (NumPy refused the shape)."""
    data = with_data(header(1, 0) + tensor_info("fc1.weight", [2**61, 0]), b"")
    assert_rejected_cheaply(tmp_path, data, "tensor 'fc1.weight' has a dimension larger than the file's")


def test_negative_dimension(tmp_path):
    data = with_data(header(1, 0) + tensor_info("fc1.weight", [4, -1]), bytes(64))
    assert_rejected_cheaply(tmp_path, data, "tensor 'fc1.weight' has a negative dimension")


def test_tensor_offset_beyond_the_file(tmp_path):
    data = with_data(header(1, 0) + tensor_info("fc1.bias", [4], offset=2**40), GOOD_DATA)
    assert_rejected_cheaply(tmp_path, data, "tensor 'fc1.bias' data", "runs past the end of the file")


def test_misaligned_tensor_offset(tmp_path):
    data = with_data(header(1, 0) + tensor_info("fc1.bias", [4], offset=4), GOOD_DATA + bytes(32))
    assert_rejected_cheaply(tmp_path, data, "offset 4 is not a multiple of the alignment 32")


def test_overlapping_tensors(tmp_path):
    infos = tensor_info("a", [8], offset=0) + tensor_info("b", [4], offset=0)
    data = with_data(header(2, 0) + infos, bytes(64))
    message = assert_rejected_cheaply(tmp_path, data, "overlap in the data section")
    assert "'a'" in message and "'b'" in message


def test_unknown_value_type(tmp_path):
    data = header(0, 1) + kv("test.odd", 13, bytes(8))
    assert_rejected_cheaply(tmp_path, data, "key 'test.odd' has unknown value type 13")


def test_array_of_arrays(tmp_path):
    data = header(0, 1) + kv("test.nested", T.ARRAY, struct.pack("<IQ", T.ARRAY, 1)) + bytes(32)
    assert_rejected_cheaply(tmp_path, data, "key 'test.nested' is an array of arrays")


def test_unsupported_tensor_type_is_named(tmp_path):
    data = with_data(header(1, 0) + tensor_info("fc1.weight", [32], type_id=2), bytes(18))
    assert_rejected_cheaply(
        tmp_path, data, "tensor fc1.weight has type Q4_0; only F32 and F16 are supported")


def test_unknown_tensor_type(tmp_path):
    data = with_data(header(1, 0) + tensor_info("fc1.weight", [4], type_id=99), GOOD_DATA)
    assert_rejected_cheaply(tmp_path, data, "tensor fc1.weight has unknown type 99")


def test_duplicate_key(tmp_path):
    assert_rejected_cheaply(
        tmp_path, header(0, 2) + ARCH_KV + ARCH_KV, "duplicate key 'general.architecture'")


def test_duplicate_tensor_name(tmp_path):
    infos = tensor_info("a", [4], offset=0) + tensor_info("a", [4], offset=32)
    data = with_data(header(2, 0) + infos, GOOD_DATA + bytes(16) + GOOD_DATA)
    assert_rejected_cheaply(tmp_path, data, "duplicate tensor name 'a'")


def test_invalid_utf8(tmp_path):
    data = header(0, 1) + gguf_string(b"general.\xff") + struct.pack("<I", T.UINT8) + b"\x01"
    assert_rejected_cheaply(tmp_path, data, "key #0 is not valid UTF-8")


def test_invalid_alignment_value(tmp_path):
    data = header(0, 1) + kv("general.alignment", T.UINT32, struct.pack("<I", 48))
    assert_rejected_cheaply(tmp_path, data, "general.alignment is 48; it must be a power of 2")


def test_alignment_of_the_wrong_type(tmp_path):
    data = header(0, 1) + kv("general.alignment", T.INT32, struct.pack("<i", 64))
    assert_rejected_cheaply(tmp_path, data, "general.alignment must be a UINT32, found INT32")


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_gguf(tmp_path / "absent.gguf")


def test_directory_raises_an_os_error(tmp_path):
    with pytest.raises((IsADirectoryError, PermissionError)):
        read_gguf(tmp_path)


# --- atomic writes ---------------------------------------------------------------------------------


def leftovers(directory, keep):
    """Files in `directory` other than `keep`: a temp file left behind would show up here."""
    return sorted(set(os.listdir(directory)) - set(keep))


class InterruptingFile:
    """A file object that raises KeyboardInterrupt on its Nth write, as Ctrl-C mid-save would."""

    written = 0  # bytes that reached the temporary file before the interrupt

    def __init__(self, file, interrupt_at):
        self.file, self.writes, self.interrupt_at = file, 0, interrupt_at

    def write(self, data):
        self.writes += 1
        if self.writes == self.interrupt_at:
            raise KeyboardInterrupt
        InterruptingFile.written += len(data)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.file.__exit__(*exc)


def interrupt_on_write(monkeypatch, interrupt_at):
    """Make atomic_write's temporary file raise KeyboardInterrupt on its Nth write."""
    InterruptingFile.written = 0
    real_fdopen = os.fdopen
    monkeypatch.setattr(atomic.os, "fdopen", lambda *a, **k: InterruptingFile(real_fdopen(*a, **k), interrupt_at))


def test_interrupted_write_leaves_the_previous_file_byte_identical(tmp_path, monkeypatch):
    path = tmp_path / "model.gguf"
    write_gguf(path, {"general.architecture": "mnist-fc"}, {"fc1.bias": np.ones(500, np.float32)})
    before = path.read_bytes()

    interrupt_on_write(monkeypatch, 5)  # header, its padding, first tensor, its padding, then Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        write_gguf(path, {"general.architecture": "mnist-cnn"}, cnn_like_tensors())

    assert InterruptingFile.written > 8 * 9 * 4  # the header and the first tensor had been written
    assert path.read_bytes() == before
    assert leftovers(tmp_path, ["model.gguf"]) == []


def test_interrupted_first_write_leaves_no_file(tmp_path, monkeypatch):
    interrupt_on_write(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        write_gguf(tmp_path / "new.gguf", {}, cnn_like_tensors())
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "failing, error",
    [
        ("fsync", OSError(28, "No space left on device")),
        ("fsync", KeyboardInterrupt()),
        ("replace", OSError(13, "Access denied")),
    ],
)
def test_failure_at_fsync_or_rename_keeps_the_previous_file(tmp_path, monkeypatch, failing, error):
    path = tmp_path / "model.gguf"
    atomic_write_bytes(path, b"previous contents")

    def fail(*args):
        raise error

    monkeypatch.setattr(atomic.os, failing, fail)
    with pytest.raises(type(error)):
        write_gguf(path, {}, cnn_like_tensors())
    monkeypatch.undo()

    assert path.read_bytes() == b"previous contents"
    assert leftovers(tmp_path, ["model.gguf"]) == []


def test_exception_inside_atomic_write_block_discards_the_partial_file(tmp_path):
    path = tmp_path / "checkpoint.bin"
    atomic_write_bytes(path, b"epoch 1")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as file:
            file.write(b"epoch 2, half")
            raise RuntimeError("training crashed")
    assert path.read_bytes() == b"epoch 1"
    assert leftovers(tmp_path, ["checkpoint.bin"]) == []


def test_invalid_tensor_is_refused_before_the_disk_is_touched(tmp_path):
    path = tmp_path / "model.gguf"
    atomic_write_bytes(path, b"previous contents")
    with pytest.raises(ValueError, match="float64"):
        write_gguf(path, {}, {"w": np.zeros(3)})
    assert path.read_bytes() == b"previous contents"
    assert leftovers(tmp_path, ["model.gguf"]) == []


def test_atomic_write_replaces_the_file_and_keeps_its_permissions(tmp_path):
    path = tmp_path / "model.gguf"
    atomic_write_bytes(path, b"old")
    if sys.platform != "win32":
        os.chmod(path, 0o640)
    write_gguf(path, {"general.architecture": "mnist-fc"}, {"fc1.bias": np.ones(3, np.float32)})
    assert read_gguf(path).metadata["general.architecture"] == "mnist-fc"
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert leftovers(tmp_path, ["model.gguf"]) == []


def test_atomic_write_gives_a_new_file_the_usual_permissions(tmp_path):
    if sys.platform == "win32":
        pytest.skip("POSIX permissions")
    umask = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "new.bin", b"x")
        with open(tmp_path / "plain.bin", "wb") as file:
            file.write(b"x")
    finally:
        os.umask(umask)
    assert os.stat(tmp_path / "new.bin").st_mode == os.stat(tmp_path / "plain.bin").st_mode


def test_writing_into_a_missing_directory_names_that_directory(tmp_path):
    with pytest.raises(FileNotFoundError) as failure:
        atomic_write_bytes(tmp_path / "no-such-dir" / "model.gguf", b"x")
    assert failure.value.filename == os.fspath(tmp_path / "no-such-dir")
