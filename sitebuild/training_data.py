"""The MNIST training images the page learns from, next to the test set in web/data/ (never the test images).

  train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz
      all 60,000 training images, for training in the page; gzipped here (47 MB -> 10 MB), and
      fetched only when the user starts training. Checked: they decompress to exactly the files
      mnist_core.data pins (its CHECKSUMS).
  replay-images-idx3-ubyte, replay-labels-idx1-ubyte
      6,000 of them, 600 of each digit drawn (seed REPLAY_SEED) from the part the trainer trains
      on (not its validation split), replayed while fine-tuning on the user's corrections; small
      enough to fetch as soon as the page is ready. Checked against the sha256 pinned below.

What is made is cached under the build cache (training-data/), so a second build only checks it.
"""

import gzip
import hashlib

import numpy as np

from .verify import BuildError, install_file, log

TRAIN_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
REPLAY_NAMES = ("replay-images-idx3-ubyte", "replay-labels-idx1-ubyte")
REPLAY_PER_DIGIT = 600
REPLAY_SEED = 0
TRAINED_PART = 57_000  # the trainer holds out the last 5 % (3,000) of the 60,000 for validation
REPLAY_SHA256 = {
    "replay-images-idx3-ubyte": "343608c2de9f48b0e3513cd11cdbb1e490ed9a36e601298fb0f840a1dbe44036",
    "replay-labels-idx1-ubyte": "2c799f4d84c1cae093131c26fea2aa2b732dd84aabe8cb162696b9d8df0ea096",
}


def replay_indices(labels):
    """Which training images are replayed: REPLAY_PER_DIGIT of each digit from the trained part, shuffled."""
    rng = np.random.default_rng(REPLAY_SEED)
    chosen = [rng.choice(np.flatnonzero(labels[:TRAINED_PART] == digit), REPLAY_PER_DIGIT, replace=False)
              for digit in range(10)]
    return rng.permutation(np.concatenate(chosen))


def idx_bytes(items, magic):
    """uint8 items as IDX bytes: the magic, each dimension (big-endian u32), then the items."""
    header = np.array([magic, *items.shape], dtype=">u4").tobytes()
    return header + np.ascontiguousarray(items, dtype=np.uint8).tobytes()


def training_data_files(cache_dir):
    """{file name: path} of the four files above, made (or found) in the cache and checked."""
    from mnist_core.data import CHECKSUMS, dataset_files
    from mnist_core.formats.idx import read_idx_pair

    sources = dataset_files("mnist", "train")  # fetched if needed and checked against mnist_core.data's pins
    directory = cache_dir / "training-data"
    files = {}
    for source in sources:
        gz_path = directory / f"{source.name}.gz"
        pinned = CHECKSUMS["mnist"][source.name].sha256
        if not gz_path.is_file() or _gunzipped_sha256(gz_path) != pinned:
            log(f"gzip: {source.name} for the page")
            install_file(gzip.compress(source.read_bytes(), compresslevel=9, mtime=0), gz_path)
            if _gunzipped_sha256(gz_path) != pinned:
                raise BuildError(f"{gz_path}: does not decompress to the pinned {source.name}")
        files[gz_path.name] = gz_path

    images, labels = read_idx_pair(*sources)
    chosen = replay_indices(labels)
    made = {REPLAY_NAMES[0]: idx_bytes(images[chosen], 0x0803), REPLAY_NAMES[1]: idx_bytes(labels[chosen], 0x0801)}
    for name, data in made.items():
        found = hashlib.sha256(data).hexdigest()
        if found != REPLAY_SHA256[name]:
            raise BuildError(f"{name}: sha256 {found}, expected {REPLAY_SHA256[name]} (the training set or the "
                             "replay selection changed)")
        path = directory / name
        if not path.is_file() or path.read_bytes() != data:
            install_file(data, path)
        files[name] = path
    return files


def _gunzipped_sha256(path):
    try:
        return hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()
    except (OSError, EOFError):
        return None
