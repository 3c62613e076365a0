"""Write a file so that it is either the old one or the complete new one, never half of either.

Models and training checkpoints are overwritten in place; a crash, a full disk or a Ctrl-C in the
middle of `open(path, "wb")` would leave a truncated file where a good one was. Instead we write a
temporary file in the same directory (so that the rename stays on one filesystem), flush and fsync
it, and `os.replace` it over the target, which POSIX and Windows both do atomically. On any
exception, KeyboardInterrupt included, the temporary file is removed and the target is untouched.

A process killed outright (SIGKILL, a power cut) cannot remove its temporary file: it stays next to
the target, hidden (".NAME.XXXXXXXX.tmp"), until the next write of that target removes it. To tell
such a leftover from the file of a writer still at work, each writer holds a lock (flock) on its
temporary file until it has renamed it, and the next write removes only those it can lock: the
system drops a killed process's locks. Without flock (Windows) leftovers stay.
"""

import contextlib
import os
import secrets
import stat

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

TEMP_SUFFIX = ".tmp"
TEMP_TOKEN_BYTES = 4  # the random part of a temporary file's name: 8 hex digits


@contextlib.contextmanager
def atomic_write(path):
    """Yield a binary file whose contents replace `path` only if the `with` block completes."""
    path = os.fspath(path)
    directory, base = os.path.split(os.path.abspath(path))
    remove_stale_temps(directory, base)
    temp_path, fd = _create_temp(directory, base)
    try:
        with os.fdopen(fd, "wb", closefd=False) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())  # the data must be on disk before the rename makes it the file
        _copy_mode(path, temp_path)
        if fcntl is None:  # Windows renames no open file; there is no lock to keep either
            os.close(fd)
            fd = None
        os.replace(temp_path, path)  # (POSIX: still locked, so that no other write takes it for a leftover)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        raise
    finally:
        if fd is not None:
            os.close(fd)
    _fsync_directory(directory)


def atomic_write_bytes(path, data):
    """Replace the file at `path` with `data`, atomically."""
    with atomic_write(path) as file:
        file.write(data)


def remove_stale_temps(directory, base):
    """Remove the temporary files of writes of `base` in `directory` whose writer is gone (see above); returns
    their names. A file that cannot be locked, opened or removed is left alone."""
    if fcntl is None:
        return []
    try:
        names = os.listdir(directory)
    except OSError:
        return []  # the write itself will name the problem
    removed = []
    for name in names:
        if not _is_temp_name(name, base):
            continue
        temp_path = os.path.join(directory, name)
        try:
            fd = os.open(temp_path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its writer lives
            os.unlink(temp_path)
            removed.append(name)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _is_temp_name(name, base):
    """Whether `name` is one of _create_temp's names for a write of `base`: ".BASE.XXXXXXXX.tmp"."""
    prefix = f".{base}."
    token = name[len(prefix):-len(TEMP_SUFFIX)]
    return (name.startswith(prefix) and name.endswith(TEMP_SUFFIX) and len(token) == 2 * TEMP_TOKEN_BYTES
            and all(c in "0123456789abcdef" for c in token))


def _create_temp(directory, base):
    """Create a new, empty, hidden temporary file next to the target, locked where flock exists; return its path
    and descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp_path = os.path.join(directory, f".{base}.{secrets.token_hex(TEMP_TOKEN_BYTES)}{TEMP_SUFFIX}")
        try:
            # Mode 0o666 lets the umask decide, as it would for a plain open(path, "wb").
            fd = os.open(temp_path, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            # Name the directory the user chose (missing, read-only), not our temporary file.
            raise type(exc)(exc.errno, exc.strerror, directory) from None
        if fcntl is None:
            return temp_path, fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_nlink > 0:
                return temp_path, fd
        except OSError:
            pass
        # Another write took it for a leftover between its creation and our lock, and removed it: a new name.
        os.close(fd)


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
