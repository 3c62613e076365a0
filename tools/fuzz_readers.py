#!/usr/bin/env python3
"""Fuzz mnist-core's file readers: mutate valid GGUF and IDX files, and check that nothing bad comes of it.

Each case takes a valid seed file and applies one to three mutations chosen at random: truncation,
bit flips, a count, length, type, dimension or offset field of the format set to an awkward value
(0, 1, 2^31, 2^32 - 1, 2^63, 2^64 - 1, the file's size, one off), the alignment key changed, bytes
inserted or deleted (so that what follows is misaligned), a chunk duplicated, bytes appended; for
gzipped IDX files the mutation goes into the data before compression or into the compressed bytes.
The reader then runs on the result: `read_gguf` and `load_model` for GGUF, `read_idx_images` /
`read_idx_labels` for IDX. A case fails when it

  - raises anything but mnist-core's own errors (MnistCoreError: FileFormatError, ModelError),
  - takes more than MAX_CPU_SECONDS of CPU time (CPU, not wall time: the machine may be busy), or with
    --count-lines (what the test suite does: a count, the same on any machine) executes more Python
    lines than MAX_LINES_PER_BYTE times the data's size plus LINES_ALLOWANCE (a loop that a count in
    the file drives unchecked is stopped there, not waited for), or
  - allocates at its peak (tracemalloc) more than ALLOCATION_FACTOR times the data's size (the file's
    size; for gzip, the decompressed data actually present) plus ALLOCATION_ALLOWANCE.

Failing inputs are written to --out with what went wrong, and the run exits with status 1.

Usage: python tools/fuzz_readers.py [--cases 100000] [--seed 0] [--out fuzz-failures] [--count-lines]
"""

import argparse
import collections
import gzip
import re
import struct
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mnist_core.errors import MnistCoreError  # noqa: E402
from mnist_core.formats.gguf_constants import VALUE_FORMATS, GGUFValue, GGUFValueType  # noqa: E402
from mnist_core.formats.gguf_reader import read_gguf  # noqa: E402
from mnist_core.formats.gguf_writer import gguf_bytes  # noqa: E402
from mnist_core.formats.idx import read_idx_images, read_idx_labels  # noqa: E402
from mnist_core.models import init_model, load_model  # noqa: E402

MAX_CPU_SECONDS = 1.0
# Python lines a reader may execute: per byte of data and for the fixed work (the header, the model's checks).
# Measured (3,000 cases, seed 5): at most 0.73 lines per byte over files of 2 kB or more (a string array's
# loop: a few lines per string of at least 9 bytes), at most 1,541 lines for smaller ones. A loop in Python
# over the items of a number array (1 to 8 bytes each) would take 2 or more per byte.
MAX_LINES_PER_BYTE = 1.5
LINES_ALLOWANCE = 5_000
ALLOCATION_FACTOR = 8           # a metadata string array is held as Python str objects: up to ~6x its bytes
ALLOCATION_ALLOWANCE = 1 << 18  # parser state, error messages, NumPy's and Python's own small allocations
SHOWN_OUTCOMES = 30
RATIO_FLOOR = 1 << 16           # the worst peak/size reported is over files of at least this size (or as if)
T = GGUFValueType

U64_VALUES = (0, 1, 2, 7, 8, 31, 32, 33, 255, 1 << 16, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32,
              (1 << 63) - 1, 1 << 63, (1 << 64) - 1)
U32_VALUES = (0, 1, 2, 3, 4, 7, 8, 9, 10, 12, 13, 30, 31, 39, 40, 255, 1 << 16, 1 << 31, (1 << 32) - 1)
NE_VALUES = (-1, 0, 1, 2, 3, 1 << 20, (1 << 31) - 1, 1 << 31, 1 << 32, 1 << 62, (1 << 63) - 1, -(1 << 63))
ALIGNMENTS = (0, 1, 2, 3, 8, 16, 31, 64, 1 << 20, (1 << 20) + 1, 1 << 21, 1 << 31, (1 << 32) - 1)
IDX_DIMS = (0, 1, 2, 27, 28, 29, 255, 784, 1 << 16, 1 << 24, (1 << 31) - 1, 1 << 31, (1 << 32) - 1)


# --- seeds -------------------------------------------------------------------------------------------------


def gguf_seeds():
    """name -> bytes: the shipped models (when present), fresh models in F32 and F16, and small files that
    hold every metadata value type, version 2, an alignment key and an empty file's worth of tensors."""
    seeds = {}
    for arch in ("mnist-cnn", "mnist-fc"):
        path = REPO / "assets" / f"{arch}-f32.gguf"
        if path.is_file():
            seeds[f"shipped {arch}"] = path.read_bytes()
    cnn = init_model("mnist-cnn", seed=0).host_params()
    seeds["cnn f16"] = gguf_bytes({"general.architecture": "mnist-cnn", "note": "f16"},
                                  {name: value.astype(np.float16) for name, value in cnn.items()})
    every_type = {"general.architecture": "mnist-cnn"}
    for value_type, fmt in VALUE_FORMATS.items():
        scalar = True if value_type == T.BOOL else 1.5 if fmt in "fd" else 7
        every_type[f"test.{value_type.name.lower()}"] = GGUFValue(value_type, scalar)
        every_type[f"test.{value_type.name.lower()}_array"] = GGUFValue(T.ARRAY, [scalar] * 3, value_type)
    every_type["test.string"] = "héllo"
    every_type["test.strings"] = GGUFValue(T.ARRAY, ["", "a", "ünï"], T.STRING)
    small = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(5, np.float16)}
    seeds["every value type"] = gguf_bytes(every_type, small)
    seeds["version 2, alignment 64"] = gguf_bytes({"general.architecture": "mnist-fc"}, small, alignment=64, version=2)
    seeds["metadata only"] = gguf_bytes({"general.architecture": "mnist-fc", "x": [1, 2, 3]}, {})
    # Arrays whose Python objects would outweigh their bytes many times over (ints outside the small-int
    # cache, short strings), for the allocation check to see.
    seeds["large arrays"] = gguf_bytes({
        "general.architecture": "mnist-fc",
        "test.int8s": GGUFValue(T.ARRAY, [-100] * 20_000, T.INT8),
        "test.uint16s": GGUFValue(T.ARRAY, [1000] * 10_000, T.UINT16),
        "test.strings": GGUFValue(T.ARRAY, ["ab", "cde"] * 2_000, T.STRING),
    }, small)
    return seeds


def idx_seeds(rng):
    """name -> (kind, raw bytes): small images and labels files (gzip is applied by the mutation step)."""
    images = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 7, dtype=np.uint8)
    return {
        "images": ("images", struct.pack(">IIII", 0x803, 3, 28, 28) + images.tobytes()),
        "labels": ("labels", struct.pack(">II", 0x801, 7) + labels.tobytes()),
        "no images": ("images", struct.pack(">IIII", 0x803, 0, 28, 28)),
    }


# --- where the fields are ----------------------------------------------------------------------------------


def gguf_fields(data):
    """(offset, struct format, kind) of every header field of a valid GGUF file, walking it as the format says."""
    fields = [(4, "<I", "version"), (8, "<Q", "count"), (16, "<Q", "count")]
    n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)
    pos = 24

    def string(pos):
        fields.append((pos, "<Q", "length"))
        return pos + 8 + struct.unpack_from("<Q", data, pos)[0]

    def value(pos, value_type):
        if value_type == T.STRING:
            return string(pos)
        size = struct.calcsize(VALUE_FORMATS[value_type])
        fields.append((pos, "<" + VALUE_FORMATS[value_type].replace("?", "B"), "value"))
        return pos + size

    for _ in range(n_kv):
        pos = string(pos)
        fields.append((pos, "<I", "type"))
        value_type = struct.unpack_from("<I", data, pos)[0]
        pos += 4
        if value_type == T.ARRAY:
            fields += [(pos, "<I", "type"), (pos + 4, "<Q", "count")]
            element_type, count = struct.unpack_from("<IQ", data, pos)
            pos += 12
            for _ in range(count):
                pos = value(pos, element_type)
        else:
            pos = value(pos, value_type)
    for _ in range(n_tensors):
        pos = string(pos)
        fields.append((pos, "<I", "dims"))
        n_dims = struct.unpack_from("<I", data, pos)[0]
        fields += [(pos + 4 + 8 * i, "<q", "ne") for i in range(n_dims)]
        pos += 4 + 8 * n_dims
        fields += [(pos, "<I", "type"), (pos + 4, "<Q", "offset")]
        pos += 12
    return fields, pos


def idx_fields(data):
    ndim = data[3]
    return [(0, ">I", "magic")] + [(4 + 4 * i, ">I", "dim") for i in range(ndim)], 4 + 4 * ndim


# --- mutations ---------------------------------------------------------------------------------------------


def awkward_value(rng, fmt, kind, original, size):
    if kind == "ne":
        pool = NE_VALUES + (original * 2, original + 1, original - 1)
    elif kind == "dim":
        pool = IDX_DIMS + (original + 1, original - 1)
    elif fmt.endswith("Q") or fmt.endswith("q"):
        pool = U64_VALUES + (size, size - 1, size + 1, original + 1, original - 1, original * 2)
    else:
        pool = U32_VALUES + (original + 1, original - 1)
    if rng.random() < 0.1:
        return int(rng.integers(0, 1 << 62))
    return int(pool[rng.integers(len(pool))])


def set_field(rng, data, fields):
    offset, fmt, kind = fields[rng.integers(len(fields))]
    if offset + struct.calcsize(fmt) > len(data):
        return data, f"set {kind}: beyond the end"
    original = struct.unpack_from(fmt, data, offset)[0]
    new = awkward_value(rng, fmt, kind, int(original), len(data))
    bits = struct.calcsize(fmt) * 8
    new = new % (1 << bits) if fmt[-1].isupper() else (new + (1 << (bits - 1))) % (1 << bits) - (1 << (bits - 1))
    if fmt[-1] in "fd":
        new = float(new)
    data = bytearray(data)
    struct.pack_into(fmt, data, offset, new)
    return bytes(data), f"set {kind} at {offset}"


def mutate(rng, data, fields, header_end):
    """One mutation of `data`, and a few words saying which."""
    choice = rng.integers(9)
    n = len(data)
    hot = min(n, header_end + 64) or 1  # most of the structure is in the first bytes
    if choice <= 2 and fields:
        return set_field(rng, data, fields)
    if choice == 3:
        cut = int(rng.integers(0, n + 1)) if rng.random() < 0.5 else int(rng.integers(0, hot + 1))
        return data[:cut], f"truncated to {cut}"
    if choice == 4:
        data = bytearray(data)
        for _ in range(int(rng.integers(1, 9))):
            position = int(rng.integers(hot if rng.random() < 0.8 else max(n, 1)))
            if position < n:
                data[position] ^= 1 << int(rng.integers(8))
        return bytes(data), "bit flips"
    if choice == 5:
        position, count = int(rng.integers(0, hot + 1)), int(rng.integers(1, 9))
        if rng.random() < 0.5:
            return data[:position] + bytes(rng.integers(0, 256, count, dtype=np.uint8)) + data[position:], "inserted"
        return data[:position] + data[position + count:], "deleted"
    if choice == 6:
        start = int(rng.integers(0, hot + 1))
        chunk = data[start:start + int(rng.integers(1, 64))]
        at = int(rng.integers(0, n + 1))
        return data[:at] + chunk + data[at:], "duplicated a chunk"
    if choice == 7:
        return data + bytes(rng.integers(0, 256, int(rng.integers(1, 100)), dtype=np.uint8)), "appended"
    # Overwrite a byte with an awkward value.
    data = bytearray(data)
    if n:
        data[int(rng.integers(hot))] = int(rng.choice([0, 1, 0x7F, 0x80, 0xFF]))
    return bytes(data), "byte set"


def gguf_case(rng, seed_bytes):
    data = seed_bytes
    fields, header_end = gguf_fields(seed_bytes)
    if b"general.alignment" in data and rng.random() < 0.05:
        at = data.index(b"general.alignment") + len(b"general.alignment") + 4
        data = data[:at] + struct.pack("<I", int(rng.choice(ALIGNMENTS)) % (1 << 32)) + data[at + 4:]
    steps = []
    for _ in range(int(rng.integers(1, 4))):
        data, step = mutate(rng, data, fields if data[:4] == seed_bytes[:4] else [], header_end)
        steps.append(step)
    return data, steps


def idx_case(rng, raw):
    fields, header_end = idx_fields(raw)
    data, steps = raw, []
    compress = rng.random() < 0.3
    for _ in range(int(rng.integers(1, 4))):
        data, step = mutate(rng, data, fields, header_end)
        steps.append(step)
    if compress:
        data = gzip.compress(data, mtime=0)
        if rng.random() < 0.5:  # then damage the gzip layer itself
            data, step = mutate(rng, data, [], 20)
            steps.append("gzip, then " + step)
        else:
            steps.append("gzipped")
    return data, steps


def data_size(data):
    """The size allocations are measured against: the file's, or for gzip the decompressed data present."""
    if data[:2] != b"\x1f\x8b":
        return len(data)
    stream, total = zlib.decompressobj(16 + zlib.MAX_WBITS), 0
    try:
        for start in range(0, len(data), 1 << 16):
            total += len(stream.decompress(data[start:start + (1 << 16)]))
    except zlib.error:
        pass
    return max(len(data), total)


# --- running -----------------------------------------------------------------------------------------------


class TooMuchWork(BaseException):
    """More Python lines executed than allowed (a BaseException: no `except Exception` of a reader stops it)."""


def line_budget(data):
    """How many Python lines reading `data` may take."""
    return int(MAX_LINES_PER_BYTE * data_size(data)) + LINES_ALLOWANCE


class LineCounter:
    """Counts the Python lines executed under `run`; past `limit` it stops them with TooMuchWork."""

    def __init__(self, limit):
        self.limit, self.lines = limit, 0

    def trace(self, frame, event, arg):
        if event == "line":
            self.lines += 1
            if self.lines > self.limit:
                raise TooMuchWork(f"more than {self.limit} Python lines executed")
        return self.trace

    def run(self, function):
        previous = sys.gettrace()
        sys.settrace(self.trace)
        try:
            return function()
        finally:
            sys.settrace(previous)


def run_case(reader, data, lines_limit=None):
    """Run `reader(data)` (counting its Python lines, up to `lines_limit`, when given); return (outcome, cpu
    seconds, wall seconds, peak bytes, lines or None)."""
    counter = LineCounter(lines_limit) if lines_limit is not None else None
    tracemalloc.start()
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        if counter is None:
            reader(data)
        else:
            counter.run(lambda: reader(data))
        outcome = "read"
    except MnistCoreError as exc:
        message = str(exc)
        outcome = f"CRASH a message of several lines: {message!r}" if "\n" in message else "refused: " + category(exc)
    except TooMuchWork as exc:
        outcome = f"TOO MUCH WORK: {exc}"
    except Exception as exc:  # noqa: BLE001 (the point: anything else is a finding)
        outcome = f"CRASH {type(exc).__name__}: {exc}"
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return outcome, cpu, wall, peak, counter.lines if counter is not None else None


def category(error):
    """The kind of problem an error reports, without its numbers and names: "tensor … has unknown type N"."""
    problem = getattr(error, "problem", str(error))
    problem = re.sub(r"'[^']*'|\btensor (?!count)\S+", lambda m: "tensor …" if m[0].startswith("tensor") else "'…'",
                     problem)
    problem = re.sub(r"b'.*'|\(.*\)", "(…)", problem)
    return re.sub(r"\d+", "N", problem)[:70]


READERS = {
    "gguf": lambda data: read_gguf(data, name="fuzz.gguf"),
    "model": lambda data: load_model(data, name="fuzz.gguf"),
    "images": lambda data: read_idx_images(data, name="fuzz-images"),
    "labels": lambda data: read_idx_labels(data, name="fuzz-labels"),
}


def fuzz(cases, seed=0, out=None, report_every=10_000, log=lambda line: print(line, flush=True), lines=False):
    """Run `cases` cases; return a summary dict (counts, worst times, lines and allocation, failures).

    lines: bound each case's work by the Python lines it executes (line_budget) instead of its CPU time."""
    rng = np.random.default_rng(seed)
    gguf = list(gguf_seeds().items())
    idx = list(idx_seeds(rng).items())
    outcomes = collections.Counter()
    worst = {"cpu": (0.0, ""), "wall": (0.0, ""), "ratio": (0.0, ""), "lines per byte": (0.0, "")}
    failures = []
    started = time.perf_counter()
    for case in range(cases):
        if rng.random() < 0.7:
            seed_name, seed_bytes = gguf[rng.integers(len(gguf))]
            data, steps = gguf_case(rng, seed_bytes)
            target = "model" if rng.random() < 0.5 else "gguf"
        else:
            seed_name, (target, raw) = idx[rng.integers(len(idx))]
            data, steps = idx_case(rng, raw)
        size = data_size(data)
        outcome, cpu, wall, peak, executed = run_case(READERS[target], data, line_budget(data) if lines else None)
        ratio = peak / max(size, RATIO_FLOOR)
        per_byte = (executed or 0) / max(size, 1)
        label = f"case {case}: {target} from '{seed_name}' ({'; '.join(steps)})"
        outcomes[f"{target}: {outcome if not outcome.startswith(('CRASH', 'TOO')) else outcome[:5]}"] += 1
        for key, value in (("cpu", cpu), ("wall", wall), ("ratio", ratio), ("lines per byte", per_byte)):
            if value > worst[key][0]:
                worst[key] = (value, label)
        problems = []
        if outcome.startswith(("CRASH", "TOO MUCH WORK")):
            problems.append(outcome)
        if not lines and cpu > MAX_CPU_SECONDS:
            problems.append(f"{cpu:.2f} s of CPU time")
        if peak > ALLOCATION_FACTOR * size + ALLOCATION_ALLOWANCE:
            problems.append(f"peak allocation {peak} bytes for {size} bytes of data")
        if problems:
            failures.append(f"{label}: {', '.join(problems)}")
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                (out / f"case-{case}.{target}").write_bytes(data)
                (out / f"case-{case}.txt").write_text(failures[-1] + "\n")
        if report_every and (case + 1) % report_every == 0:
            log(f"{case + 1} cases in {time.perf_counter() - started:.0f} s, {len(failures)} failures")
    return {"cases": cases, "seconds": time.perf_counter() - started, "outcomes": outcomes, "worst": worst,
            "failures": failures}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"), help="where failing inputs are written")
    parser.add_argument("--report-every", type=int, default=10_000)
    parser.add_argument("--count-lines", action="store_true",
                        help="bound each case by the Python lines it executes instead of its CPU time (slower)")
    args = parser.parse_args(argv)
    summary = fuzz(args.cases, args.seed, args.out, args.report_every, lines=args.count_lines)
    outcomes = sorted(summary["outcomes"].items(), key=lambda item: -item[1])
    print(f"{summary['cases']} cases in {summary['seconds']:.0f} s (seed {args.seed}); the commonest outcomes:")
    for outcome, count in outcomes[:SHOWN_OUTCOMES]:
        print(f"  {count:7d}  {outcome}")
    if len(outcomes) > SHOWN_OUTCOMES:
        print(f"  {sum(count for _, count in outcomes[SHOWN_OUTCOMES:]):7d}  in {len(outcomes) - SHOWN_OUTCOMES} "
              "other kinds of outcome")
    worst = summary["worst"]
    print(f"slowest case: {worst['cpu'][0] * 1000:.1f} ms of CPU ({worst['cpu'][1]}); "
          f"{worst['wall'][0] * 1000:.1f} ms of wall time at worst")
    print(f"largest peak allocation: {worst['ratio'][0]:.2f}x the data's size, or {RATIO_FLOOR} bytes if smaller "
          f"({worst['ratio'][1]})")
    if args.count_lines:
        print(f"most Python lines per byte of data: {worst['lines per byte'][0]:.2f} ({worst['lines per byte'][1]})")
    print(f"{len(summary['failures'])} failures" + (f", inputs in {args.out}" if summary["failures"] else ""))
    for failure in summary["failures"][:20]:
        print("  " + failure)
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
