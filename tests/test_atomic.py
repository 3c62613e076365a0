"""Atomic writes (mnist_core.atomic) against a process killed for real: a child writes a 16 MB model file over and
over and is sent SIGKILL at random points, again and again. Each time the file is a complete one, byte for byte
(the one before or the one being written), no file appears that a user would see, and the hidden temporary
file a killed writer could not remove is gone after the next write. (test_gguf.py interrupts a write in the
process itself: an exception, Ctrl-C, a failing fsync or rename.)
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO
from mnist_core.atomic import atomic_write_bytes, remove_stale_temps
from mnist_core.formats.gguf_reader import read_gguf
from mnist_core.formats.gguf_writer import gguf_bytes, write_gguf

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX")

KILLS = 20
WEIGHTS = 4 * 2**20          # float32 values: a 16 MB file, long enough to be killed in the middle of
CHILD_TIMEOUT_S = 120        # a hang guard only
VERSION_KEY = "test.version"

# The child: write version after version of the file, saying after each that it is written.
WRITER = f"""
import itertools, sys
import numpy as np
from mnist_core.formats.gguf_writer import write_gguf
path, first = sys.argv[1], int(sys.argv[2])
weights = np.empty({WEIGHTS}, dtype=np.float32)
print("ready", flush=True)
for version in itertools.count(first):
    weights.fill(version)
    write_gguf(path, {{"general.architecture": "mnist-fc", "{VERSION_KEY}": version}}, {{"w": weights}})
    print(version, flush=True)
"""


def version_bytes(version):
    """The complete file of `version`, as the child writes it."""
    weights = np.full(WEIGHTS, version, dtype=np.float32)
    return gguf_bytes({"general.architecture": "mnist-fc", VERSION_KEY: version}, {"w": weights})


def hidden_temps(directory, name):
    return sorted(entry for entry in os.listdir(directory) if entry.startswith(f".{name}.") and entry.endswith(".tmp"))


def test_a_writer_killed_at_random_points_never_leaves_a_broken_file_or_one_a_user_sees(tmp_path):
    path = tmp_path / "model.gguf"
    started = time.perf_counter()
    write_gguf(path, {"general.architecture": "mnist-fc", VERSION_KEY: 0}, {"w": np.zeros(WEIGHTS, np.float32)})
    write_seconds = time.perf_counter() - started  # to spread the kills over a write (nothing is asserted on it)
    assert path.read_bytes() == version_bytes(0)
    rng = np.random.default_rng(0)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    version, left_behind = 0, 0
    for _ in range(KILLS):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(version + 1)], env=env,
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "ready"
            # Kill it at a random point of its first, second or third write.
            written = [int(child.stdout.readline()) for _ in range(int(rng.integers(0, 3)))]
            time.sleep(rng.uniform(0, 1.2 * write_seconds))
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=CHILD_TIMEOUT_S)
            written += [int(line) for line in child.stdout.read().split()]  # the rest of what it said
        finally:
            if child.poll() is None:
                child.kill()
            child.stdout.close()
        found = read_gguf(path).metadata[VERSION_KEY]
        # The last version it said it wrote, or the next one if it was killed after the rename.
        last = max([version, *written])
        assert found in (last, last + 1)
        assert path.read_bytes() == version_bytes(found)
        version = found
        visible = [entry for entry in os.listdir(tmp_path) if not entry.startswith(".")]
        assert visible == ["model.gguf"]
        leftovers = hidden_temps(tmp_path, "model.gguf")
        assert len(leftovers) <= 1, leftovers  # each write removes what the one killed before it left
        left_behind += len(leftovers)
    assert left_behind > 0, "no kill landed in the middle of a write"
    atomic_write_bytes(path, b"a last write")
    assert os.listdir(tmp_path) == ["model.gguf"]


def test_a_temporary_file_whose_writer_is_alive_is_left_alone(tmp_path):
    """Only a dead writer's file is removed: one held by a live writer (here: this process) stays."""
    path = tmp_path / "model.gguf"
    atomic_write_bytes(path, b"previous")
    from mnist_core import atomic

    temp_path, fd = atomic._create_temp(str(tmp_path), "model.gguf")  # a write under way
    try:
        stale = tmp_path / ".model.gguf.0123abcd.tmp"
        stale.write_bytes(b"left by a killed writer")
        unrelated = tmp_path / ".other.gguf.0123abcd.tmp"
        unrelated.write_bytes(b"another file's")
        assert remove_stale_temps(str(tmp_path), "model.gguf") == [stale.name]
        assert os.path.exists(temp_path) and unrelated.exists()
    finally:
        os.close(fd)
        os.unlink(temp_path)
    assert path.read_bytes() == b"previous"
