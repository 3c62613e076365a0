#!/usr/bin/env python3
"""Check that ggml itself loads our GGUF models and predicts what mnist_core predicts.

ggml's examples are not on PyPI, npm or Debian, but ggml's library is: the source distribution
of llama-cpp-python carries it (vendor/llama.cpp/ggml). This script

  1. fetches that sdist with `pip download` (version and sha256 pinned below) into the cache,
  2. builds ggml's CPU library with CMake (once; about 1.5 min on 2 cores),
  3. compiles ggml_eval.cpp (ours) against it: the model is parsed by ggml's gguf_init_from_file,
     its architecture, tensor names, types and shapes checked as ggml's mnist example checks
     them, and the test set run through a graph of ggml ops (mul_mat, conv_2d, pool_2d, ...),
  4. compares ggml's prediction for every test image with mnist_core's,
  5. has ggml's GGUF writer save the weights again (as ggml's mnist-train saves a model) and loads
     that file with mnist_core: every tensor must come back identical.

Usage: python tools/ggml_check/check_with_ggml.py [MODEL.gguf ...]   (default: the shipped models)
Needs cmake, g++ and the network access pip has. Exit status 0 when every model loads and the
predictions agree (on every image, or on --min-agreement of them).
"""

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

from mnist_core.data import DEFAULT_CACHE_ROOT, dataset_files
from mnist_core.formats.idx import read_idx_pair
from mnist_core.models import ARCHITECTURES, load_model
from mnist_core.shipped import shipped_model_path

HERE = Path(__file__).resolve().parent
SDIST = "llama_cpp_python-0.3.36.tar.gz"
SDIST_REQUIREMENT = "llama-cpp-python==0.3.36"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
GGML_DIR = "llama_cpp_python-0.3.36/vendor/llama.cpp/ggml"


def run(*command, quiet=False):
    """Run a command, echoing it; with quiet, its output is shown only if it fails (ggml's build warns a lot)."""
    print("+", " ".join(map(str, command)), flush=True)
    result = subprocess.run(command, capture_output=quiet, text=True)
    if result.returncode:
        sys.exit(f"failed with exit status {result.returncode}: {' '.join(map(str, command))}\n"
                 + ((result.stdout or "") + (result.stderr or ""))[-5000:])


def fetch_sdist(cache):
    path = cache / SDIST
    if not path.exists():
        run(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
            "--dest", cache, SDIST_REQUIREMENT)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        sys.exit(f"{path}: sha256 {digest}, expected {SDIST_SHA256}; refusing it")
    return path


def build_ggml(cache):
    """The path of the ggml_eval binary, building ggml and it where needed."""
    source = cache / GGML_DIR
    build = cache / "build"
    if not source.exists():
        with tarfile.open(fetch_sdist(cache)) as tar:
            # The "data" filter refuses links and paths outside `cache`; Pythons before 3.10.12 lack it.
            tar.extractall(cache, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        # ggml's CMake wants its pkg-config template, which the sdist leaves out; we need no .pc file.
        (source / "ggml.pc.in").touch()
    libraries = [build / "src" / name for name in ("libggml.a", "libggml-cpu.a", "libggml-base.a")]
    if not all(lib.exists() for lib in libraries):
        run("cmake", "-S", source, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF",
            "-DGGML_BUILD_TESTS=OFF", "-DGGML_BUILD_EXAMPLES=OFF", "-DGGML_OPENMP=OFF", "-DGGML_NATIVE=ON",
            quiet=True)
        run("cmake", "--build", build, "-j2", quiet=True)
    binary = cache / "ggml_eval"
    program = HERE / "ggml_eval.cpp"
    if not binary.exists() or binary.stat().st_mtime < program.stat().st_mtime:
        run("g++", "-O2", "-std=c++17", "-I", source / "include", program, *libraries, "-lpthread", "-lm", "-o", binary)
    return binary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=[shipped_model_path(arch) for arch in ARCHITECTURES])
    default_cache = Path(os.environ.get("MNIST_CORE_GGML_CACHE") or DEFAULT_CACHE_ROOT.expanduser() / "ggml")
    parser.add_argument("--cache", type=Path, default=default_cache,
                        help="where the sdist and the build go ($MNIST_CORE_GGML_CACHE, default: %(default)s)")
    parser.add_argument("--min-agreement", type=float, default=1.0,
                        help="fraction of test images on which predictions must agree (default: all)")
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    binary = build_ggml(args.cache)
    images_path, labels_path = dataset_files("mnist", "test")
    images, labels = read_idx_pair(images_path, labels_path)
    ok = True
    for model_path in args.models:
        predictions_path, resaved_path = args.cache / "predictions.bin", args.cache / "resaved-by-ggml.gguf"
        run(binary, model_path, images_path, labels_path, predictions_path, resaved_path)
        ggml_predictions = np.fromfile(predictions_path, dtype=np.uint8)
        ours_model = load_model(model_path)
        ours = ours_model.predict(images)
        same = int((ggml_predictions == ours).sum())
        print(f"{model_path}: ggml and mnist_core agree on {same} of {len(labels)} test images; "
              f"accuracy ggml {100 * (ggml_predictions == labels).mean():.2f}%, "
              f"mnist_core {100 * (ours == labels).mean():.2f}%")
        ok &= same >= args.min_agreement * len(labels)
        # The other direction: the file ggml's writer made, through our reader.
        resaved = load_model(resaved_path)
        resaved_params = resaved.host_params()
        identical = resaved.arch == ours_model.arch and all(
            np.array_equal(resaved_params[name], value) for name, value in ours_model.host_params().items())
        print(f"{resaved_path}: written by ggml, read by mnist_core as {resaved.arch}: "
              f"{'every tensor identical' if identical else 'TENSORS DIFFER'}")
        ok &= identical
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
