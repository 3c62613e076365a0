"""`python -m mnist_core.read`: numbers written in PNG, JPEG and PGM files, either ink on either paper, a photo's
uneven light; a file that cannot be read is one line on stderr naming it and the problem.

The images are made here with Pillow from MNIST test digits laid out as a number (tests/numbers_support.py)
and run through the real command line, as a subprocess of this checkout's package.
"""

import importlib.util
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

import numbers_support
from conftest import REPO, SHIPPED_MODELS, skip_unless_available
from mnist_core.evaluation import ascii_digit
from mnist_core.ink_marks import MAX_PIXELS
from mnist_core.models import load_model
from mnist_core.segmentation import read_number

pytestmark = skip_unless_available(None if importlib.util.find_spec("PIL") else
                                   "Pillow is not installed (pip install 'mnist-core[images]')")

NUMBER = "2026"
CLI_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def number_ink(mnist_test):
    """The ink (364, 1456) uint8 of NUMBER written with MNIST test digits both shipped models read clearly."""
    models = [load_model(path) for path in SHIPPED_MODELS.values()]
    digits = numbers_support.clear_digits(*mnist_test, models)
    return numbers_support.number_canvas([digits[int(d)] for d in NUMBER])


def save(path, gray, **options):
    """A (H, W) grey image (0..255, any float or int array) written with Pillow in the format of path's suffix."""
    from PIL import Image
    Image.fromarray(np.clip(np.rint(gray), 0, 255).astype(np.uint8)).save(path, **options)
    return path


def read_cli(*args, cwd, env=None):
    """Run `python -m mnist_core.read ARGS` on this checkout's package; return the CompletedProcess."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run([sys.executable, "-m", "mnist_core.read", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def assert_one_line_error(result, *fragments):
    """Non-zero exit, no traceback, exactly one stderr line, containing every fragment."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


# --- files that hold a number ---------------------------------------------------------------

def test_png_jpeg_and_pgm_files_each_print_their_number(number_ink, tmp_path):
    paper = 255 - number_ink.astype(np.float32)
    names = [save(tmp_path / "scan.png", paper).name, save(tmp_path / "scan.jpg", paper, quality=75).name,
             save(tmp_path / "scan.pgm", paper).name]
    result = read_cli(*names, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{name}: {NUMBER}" for name in names]
    assert result.stderr == ""


def test_light_ink_on_dark_paper_reads_the_same(number_ink, tmp_path):
    save(tmp_path / "chalk.png", 30 + 0.8 * number_ink)           # light grey ink on a dark board
    result = read_cli("chalk.png", cwd=tmp_path)
    assert result.stdout == f"chalk.png: {NUMBER}\n", result.stderr


def test_a_photo_with_uneven_light_and_noise_reads_right(number_ink, tmp_path):
    """A lamp on one side (the paper's grey goes from 95 to 235 across the page), a shadow's gentle wave, noise,
    JPEG: the paper's level is estimated at a large scale, so neither the dark side nor the noise becomes ink."""
    height, width = number_ink.shape
    rows, cols = np.mgrid[0:height, 0:width]
    light = 95 + 140 * cols / width + 15 * np.sin(rows / 50 + cols / 300)
    noise = np.random.default_rng(0).normal(0, 6, number_ink.shape)
    save(tmp_path / "photo.jpg", light * (1 - 0.7 * number_ink / 255) + noise, quality=85)
    result = read_cli("photo.jpg", cwd=tmp_path)
    assert result.stdout == f"photo.jpg: {NUMBER}\n", result.stderr


def test_show_prints_each_digit_as_the_model_read_it(number_ink, tmp_path):
    from mnist_core.images import load_ink
    save(tmp_path / "scan.png", 255 - number_ink)
    result = read_cli("scan.png", "--show", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    digits = read_number(load_model(SHIPPED_MODELS["mnist-cnn"]), load_ink(tmp_path / "scan.png"))["digits"]
    assert len(digits) == len(NUMBER)
    for digit in digits:
        assert ascii_digit(np.frombuffer(digit["image28"], dtype=np.uint8)) in result.stdout
    assert result.stdout.count("\n") == 1 + len(NUMBER) * (1 + 28)   # the number, then a title and 28 rows each


@pytest.mark.parametrize("model", ["mnist-fc", "mnist-cnn", str(SHIPPED_MODELS["mnist-fc"])])
def test_model_picks_a_shipped_architecture_or_a_model_file(model, number_ink, tmp_path):
    save(tmp_path / "scan.png", 255 - number_ink)
    result = read_cli("scan.png", "--model", model, cwd=tmp_path)
    assert result.stdout == f"scan.png: {NUMBER}\n", result.stderr


# --- files that do not ---------------------------------------------------------------------

def png_header_claiming(width, height):
    """A PNG's signature, its IHDR chunk for an 8-bit greyscale width x height image, and an IDAT chunk of no pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")))


def test_an_empty_page_says_no_digits_were_found(tmp_path):
    save(tmp_path / "blank.png", np.full((300, 400), 250))
    noise = np.random.default_rng(1).normal(200, 8, (300, 400))   # a blank sheet, photographed
    save(tmp_path / "blank.jpg", noise)
    for name in ("blank.png", "blank.jpg"):
        assert_one_line_error(read_cli(name, cwd=tmp_path), name, "no digits found")


BROKEN = {
    "truncated": (lambda good: good[:len(good) // 3], ".png", ["cannot decode the PNG image", "truncated"]),
    "not an image": (lambda good: b"Dear diary, today I wrote 2026.\n", ".png", ["not a PNG, JPEG or PGM image"]),
    "empty file": (lambda good: b"", ".jpg", ["not a PNG, JPEG or PGM image"]),
    "a GIF": (None, ".gif", ["not a PNG, JPEG or PGM image"]),
    "huge dimensions": (lambda good: png_header_claiming(50000, 50000), ".png", ["too large", "2500000000 pixels"]),
    "dimensions over our limit": (lambda good: png_header_claiming(5000, 4000), ".png",
                                  ["5000x4000", f"more than the {MAX_PIXELS:,}"]),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_file_that_is_not_a_readable_image_is_one_line_naming_it(case, number_ink, tmp_path):
    make, suffix, fragments = BROKEN[case]
    good = save(tmp_path / "good.png", 255 - number_ink).read_bytes()
    bad = tmp_path / f"bad{suffix}"
    if make is None:
        save(bad, 255 - number_ink)
    else:
        bad.write_bytes(make(good))
    assert_one_line_error(read_cli(bad.name, cwd=tmp_path), bad.name, *fragments)


def test_a_missing_file_or_a_folder_is_one_line_naming_it(tmp_path):
    assert_one_line_error(read_cli("nowhere.png", cwd=tmp_path), "nowhere.png", "no such file")
    (tmp_path / "folder.png").mkdir()
    assert_one_line_error(read_cli("folder.png", cwd=tmp_path), "folder.png", "is a directory")


def test_the_other_files_are_still_read_when_one_fails(number_ink, tmp_path):
    save(tmp_path / "a.png", 255 - number_ink)
    save(tmp_path / "c.pgm", 255 - number_ink)
    result = read_cli("a.png", "missing.png", "c.pgm", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"a.png: {NUMBER}", f"c.pgm: {NUMBER}"]
    assert_one_line_error(result, "missing.png", "no such file")


def test_a_bad_model_is_one_line_naming_it(number_ink, tmp_path):
    save(tmp_path / "scan.png", 255 - number_ink)
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    assert_one_line_error(read_cli("scan.png", "--model", "model.gguf", cwd=tmp_path), "model.gguf")
    assert_one_line_error(read_cli("scan.png", "--model", "mnist-rnn", cwd=tmp_path), "mnist-rnn", "no such file")


def test_without_pillow_the_reader_says_how_to_install_it(number_ink, tmp_path):
    fake = tmp_path / "no-pillow" / "PIL"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named PIL')\n")
    save(tmp_path / "scan.png", 255 - number_ink)
    env = dict(os.environ, PYTHONPATH=str(fake.parent))
    assert_one_line_error(read_cli("scan.png", cwd=tmp_path, env=env), "Pillow", "pip install 'mnist-core[images]'")
