"""Write a file so that it is either the old one or the complete new one, never half of either.

Models and training checkpoints are overwritten in place; a crash, a full disk or a Ctrl-C in the
middle of `open(path, "wb")` would leave a truncated file where a good one was. Instead we write a
temporary file in the same directory (so that the rename stays on one filesystem), flush and fsync
it, and `os.replace` it over the target, which POSIX and Windows both do atomically. On any
exception, KeyboardInterrupt included, the temporary file is removed and the target is untouched.
"""

import contextlib
import os
import secrets
import stat


@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file whose contents replace `path` only if the `with` block completes."""
    path = os.fspath(path)
    directory, base = os.path.split(os.path.abspath(path))
    temp_path, fd = _create_temp(directory, base)
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())  # the data must be on disk before the rename makes it the file
        _copy_mode(path, temp_path)
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        raise
    _fsync_directory(directory)


def atomic_write_bytes(path, data):
    """Replace the file at `path` with `data`, atomically."""
    with atomic_write(path) as file:
        file.write(data)


def _create_temp(directory, base):
    """Create a new, empty, hidden temporary file next to the target; return its path and descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp_path = os.path.join(directory, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            # Mode 0o666 lets the umask decide, as it would for a plain open(path, "wb").
            return temp_path, os.open(temp_path, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            # Name the directory the user chose (missing, read-only), not our temporary file.
            raise type(exc)(exc.errno, exc.strerror, directory) from None


def _copy_mode(path, temp_path):
    """Give the new file the permissions of the one it replaces, as overwriting in place would."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return  # no previous file: the umask already chose
    os.chmod(temp_path, mode)


def _fsync_directory(directory):
    """Persist the rename itself (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the data itself is already safe
    finally:
        os.close(fd)
