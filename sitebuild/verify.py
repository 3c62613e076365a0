"""Checksums and atomic installs: every file the site serves is checked before it is used."""

import base64
import hashlib
import shutil

from mnist_core.atomic import atomic_write


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
