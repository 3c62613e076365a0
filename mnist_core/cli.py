"""What every command-line tool shares: one-line errors instead of tracebacks, and the exit codes."""

import sys

from .errors import MnistCoreError


def run_cli(main, argv=None):
    """Run `main(argv)`, turning our errors and Ctrl-C into one line on stderr and a non-zero exit."""
    try:
        code = main(argv)
    except MnistCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(f"error: {exc.filename}: no such file", file=sys.stderr)
        return 1
    except IsADirectoryError as exc:
        print(f"error: {exc.filename}: is a directory, expected a file", file=sys.stderr)
        return 1
    except PermissionError as exc:
        print(f"error: {exc.filename}: permission denied", file=sys.stderr)
        return 1
    except NotADirectoryError as exc:
        print(f"error: {exc.filename}: a path component is a file, expected a directory", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.filename is None:
            raise  # not about a file the user named: a bug, keep its traceback
        print(f"error: {exc.filename}: {exc.strerror or exc}", file=sys.stderr)  # e.g. no space left on device
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code or 0
