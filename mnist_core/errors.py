"""The errors mnist-core raises on purpose; the CLIs print them as one line, without a traceback."""

import os


class MnistCoreError(Exception):
    """Base class: something the user can act on (bad file, missing backend, no data)."""


class FileFormatError(MnistCoreError):
    """A file (or byte buffer) that is not what it claims to be.

    The message always starts with the file's name so that the user knows which one is bad:
    ``t10k-images-idx3-ubyte: expected magic 0x00000803, found 0x1f8b0808``.
    """

    def __init__(self, source, problem):
        # One line, whatever a hostile file puts in the names it quotes (or a user in a file's name).
        self.source = _one_line(os.fspath(source)) if source is not None else "<bytes>"
        self.problem = _one_line(problem)
        super().__init__(f"{self.source}: {self.problem}")


class ModelError(FileFormatError):
    """A GGUF file that parses but is not a model we know (architecture, tensor names, shapes)."""


class BackendUnavailableError(MnistCoreError):
    """The requested array backend (CuPy) cannot be used on this machine."""


class DataUnavailableError(MnistCoreError):
    """No source could provide a dataset; the message says what was tried and how to fix it."""


def _one_line(text):
    """`text` with control characters (newlines, escapes...) written as \\xNN."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"
                   for c in text)
