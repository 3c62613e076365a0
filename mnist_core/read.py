"""`python -m mnist_core.read IMAGE [IMAGE ...]`: the numbers written in image files, one line per file.

Each file (PNG, JPEG or PGM: a scan, a photo, a screenshot; dark ink on light paper or light on
dark) is decoded and its ink separated from the paper (mnist_core.images), its digits found and
read in one batch (mnist_core.segmentation.read_number, the code the page runs): `IMAGE: 2026`.
`--show` prints each digit as the 28x28 image the model read, as the eval CLI prints a digit.
A file that cannot be read, or holds no digits, gets one line on stderr naming it and the problem;
the others are still read, and the exit status is 1 if any failed.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from .cli import run_cli
from .errors import FileFormatError
from .eval import DEFAULT_ARCH
from .evaluation import ascii_digit
from .images import load_ink
from .models import load_model
from .segmentation import read_number
from .shipped import SHIPPED_FILES, shipped_model_path


class NoDigitsError(FileFormatError):
    """An image that decodes but holds no digits (a blank page, ink too faint or too small)."""

    def __init__(self, path):
        super().__init__(path, "no digits found")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m mnist_core.read",
        description="Read the numbers written in image files (PNG, JPEG, PGM) with an mnist-fc or mnist-cnn model.")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files, each holding one written number")
    parser.add_argument("--model", default=DEFAULT_ARCH, metavar="PATH_OR_ARCH",
                        help=f"a GGUF model file, or {' or '.join(SHIPPED_FILES)} for a shipped one "
                             f"(default: the shipped {DEFAULT_ARCH})")
    parser.add_argument("--show", action="store_true", help="print each digit as the 28x28 image the model read")
    return parser


def model_path(name):
    """The file --model names: a shipped model by its architecture, or a path."""
    return shipped_model_path(name) if name in SHIPPED_FILES and not Path(name).exists() else Path(name)


def main(argv=None):
    args = build_parser().parse_args(argv)
    model = load_model(model_path(args.model))
    failed = 0
    for path in args.images:
        code = run_cli(lambda _argv, path=path: read_file(model, path, args.show))
        if code == 130:                              # Ctrl-C: stop, whatever is left
            return code
        failed += code != 0
    return 1 if failed else 0


def read_file(model, path, show=False):
    """Read one image file and print `PATH: NUMBER` (and, with `show`, each digit the model read)."""
    result = read_number(model, load_ink(path))
    if not result["digits"]:
        raise NoDigitsError(path)
    print(f"{path}: {result['text']}", flush=True)
    if show:
        for position, digit in enumerate(result["digits"], start=1):
            top = max(digit["probabilities"])
            x0, y0, x1, y1 = digit["box"]
            print(f"digit {position} of {len(result['digits'])}: {digit['digit']} ({100 * top:.1f} %"
                  f"{'' if digit['sure'] else ', not sure'}), at x {x0}..{x1 - 1}, y {y0}..{y1 - 1}")
            print(ascii_digit(np.frombuffer(digit["image28"], dtype=np.uint8)))
    return 0


def console_main():
    """Entry point of the console script and of `python -m`: errors as one line, exit code."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    console_main()
