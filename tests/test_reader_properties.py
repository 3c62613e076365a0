"""Properties of the GGUF and IDX readers over generated input (hypothesis): whatever the bytes, a reader
returns what was written or refuses with a one-line FileFormatError naming the file, executing a number of
Python lines bounded by the data's size and without allocating much more than the data.
tools/fuzz_readers.py runs the same checks over mutated real files at length; a short run of it is part of
this file.
"""

import gzip
import importlib.util
import struct
import tracemalloc
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_core.errors import FileFormatError
from mnist_core.formats.gguf_constants import KEY_ALIGNMENT
from mnist_core.formats.gguf_reader import read_gguf
from mnist_core.formats.gguf_writer import gguf_bytes
from mnist_core.formats.idx import read_idx_images, read_idx_labels, write_idx_images, write_idx_labels

FUZZER = Path(__file__).resolve().parent.parent / "tools" / "fuzz_readers.py"
# Deterministic (the same examples each run, nothing saved to disk) and bounded: seconds per test.
PROPERTIES = settings(max_examples=150, deadline=None, database=None, derandomize=True)


def load_fuzzer():
    spec = importlib.util.spec_from_file_location("fuzz_readers", FUZZER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fuzz_readers = load_fuzzer()


def read_or_refuse(reader, data, name):
    """reader(data, name): the result, or None when it refused as it should (one line, naming the file).
    Also checks its work (the Python lines it executes: stopped past the budget) and its peak allocation, as
    tools/fuzz_readers.py --count-lines does."""
    counter = fuzz_readers.LineCounter(fuzz_readers.line_budget(data))
    tracemalloc.start()
    try:
        result = counter.run(lambda: reader(data, name))
    except FileFormatError as error:
        message = str(error)
        assert message.startswith(f"{name}: ") and "\n" not in message, message
        result = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    size = fuzz_readers.data_size(data)
    assert peak <= fuzz_readers.ALLOCATION_FACTOR * size + fuzz_readers.ALLOCATION_ALLOWANCE, (peak, size)
    return result


def plain(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


# --- GGUF ------------------------------------------------------------------------------------------------

# Any key but the alignment's, which the writer takes as its `alignment` argument (a value that disagrees with it
# is refused); hypothesis draws key names from the code it has seen too, so it does find that one.
KEYS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20).filter(
    lambda key: key != KEY_ALIGNMENT)
VALUES = st.one_of(
    st.text(max_size=30), st.booleans(), st.integers(-(2**63), 2**64 - 1),
    st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=8),
    st.lists(st.text(max_size=5), min_size=1, max_size=5).map(tuple),
)
TENSORS = st.dictionaries(
    st.text("abcdefghij.", min_size=1, max_size=12),
    st.tuples(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.sampled_from([np.float32, np.float16]),
              st.integers(0, 2**32 - 1)).map(lambda t: np.random.default_rng(t[2]).standard_normal(t[0]).astype(t[1])),
    max_size=4,
)


@PROPERTIES
@given(metadata=st.dictionaries(KEYS, VALUES, max_size=6), tensors=TENSORS, version=st.sampled_from([2, 3]),
       alignment=st.sampled_from([1, 8, 32, 64]))
def test_a_written_gguf_file_reads_back_as_written(metadata, tensors, version, alignment):
    data = gguf_bytes(metadata, tensors, alignment=alignment, version=version)
    read = read_or_refuse(read_gguf, data, "written.gguf")
    assert read is not None and read.version == version and read.alignment == alignment
    assert {key: plain(read.metadata[key]) for key in metadata} == \
        {key: list(value) if isinstance(value, tuple) else value for key, value in metadata.items()}
    assert list(read.tensors) == list(tensors)
    for name, array in tensors.items():
        assert read.tensors[name].dtype == array.dtype
        np.testing.assert_array_equal(read.tensors[name], array)


@PROPERTIES
@given(data=st.binary(max_size=400),
       prefix=st.sampled_from([b"", b"GGUF", b"GGUF\x03\x00\x00\x00", b"GGUF\x02\x00\x00\x00"]))
def test_any_bytes_are_read_or_refused_as_gguf(data, prefix):
    read_or_refuse(read_gguf, prefix + data, "any.gguf")


VALID_GGUF = fuzz_readers.gguf_seeds()["every value type"]


@PROPERTIES
@given(st.data())
def test_a_valid_file_changed_anywhere_or_cut_anywhere_is_read_or_refused(data):
    position = data.draw(st.integers(0, len(VALID_GGUF) - 1), label="position")
    if data.draw(st.booleans(), label="cut"):
        changed = VALID_GGUF[:position]
    else:
        changed = bytearray(VALID_GGUF)
        changed[position] = data.draw(st.integers(0, 255).filter(lambda b: b != VALID_GGUF[position]), label="byte")
        changed = bytes(changed)
    read_or_refuse(read_gguf, changed, "changed.gguf")


@PROPERTIES
@given(field=st.sampled_from(fuzz_readers.gguf_fields(VALID_GGUF)[0]), value=st.integers(0, 2**64 - 1))
def test_any_count_length_type_dimension_or_offset_is_read_or_refused(field, value):
    offset, fmt, _ = field
    changed = bytearray(VALID_GGUF)
    bits = 8 * struct.calcsize(fmt)
    value %= 1 << bits
    if fmt[-1].islower() and value >= 1 << (bits - 1):  # a signed field
        value -= 1 << bits
    struct.pack_into(fmt, changed, offset, float(value) if fmt[-1] in "fd" else value)
    read_or_refuse(read_gguf, bytes(changed), "field.gguf")


# --- IDX ------------------------------------------------------------------------------------------------


@PROPERTIES
@given(count=st.integers(0, 6), seed=st.integers(0, 2**32 - 1), compress=st.booleans())
def test_written_idx_files_read_back_as_written(tmp_path_factory, count, seed, compress):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, count, dtype=np.uint8)
    directory = tmp_path_factory.mktemp("idx")
    write_idx_images(directory / "images", images, gzip=compress)
    write_idx_labels(directory / "labels", labels, gzip=compress)
    np.testing.assert_array_equal(read_or_refuse(read_idx_images, (directory / "images").read_bytes(), "i"), images)
    np.testing.assert_array_equal(read_or_refuse(read_idx_labels, (directory / "labels").read_bytes(), "l"), labels)


IDX_HEADERS = st.sampled_from([b"", b"\x00\x00\x08\x03", b"\x00\x00\x08\x01", b"\x00\x00\x08\x03\x00\x00\x00\x02"])


@PROPERTIES
@given(head=IDX_HEADERS, data=st.binary(max_size=300), compress=st.booleans())
def test_any_bytes_are_read_or_refused_as_idx(head, data, compress):
    raw = head + data
    raw = gzip.compress(raw, mtime=0) if compress else raw
    read_or_refuse(read_idx_images, raw, "images")
    labels = read_or_refuse(read_idx_labels, raw, "labels")
    assert labels is None or (labels < 10).all()


@PROPERTIES
@given(dims=st.tuples(*[st.integers(0, 2**32 - 1)] * 3), present=st.integers(0, 5000), compress=st.booleans())
def test_an_idx_header_s_claims_cost_nothing_beyond_the_data_present(dims, present, compress):
    raw = struct.pack(">IIII", 0x803, *dims) + bytes(present)
    read_or_refuse(read_idx_images, gzip.compress(raw, mtime=0) if compress else raw, "claims")


# --- the fuzzer --------------------------------------------------------------------------------------------


def test_the_fuzzer_finds_nothing_in_a_short_run():
    summary = fuzz_readers.fuzz(300, seed=12, report_every=0, lines=True)
    assert summary["failures"] == []
    assert any(outcome.startswith("model: read") for outcome in summary["outcomes"])
    assert sum(count for outcome, count in summary["outcomes"].items() if "refused" in outcome) > 150
