"""mnist_core.preprocess: canvases of any size and format in, MNIST-style 28x28 digits out; bad input refused."""

import numpy as np
import pytest

from mnist_core.browser import App
from mnist_core.errors import MnistCoreError, ModelError
from mnist_core.models import init_model, save_model
from mnist_core.preprocess import (
    BOX_SIZE,
    CENTRE,
    INK_THRESHOLD,
    CanvasError,
    canvas_ink,
    centre_digit,
    downscale_canvas,
    prepare_canvas,
    resample,
)


def blank_canvas(height=364, width=364):
    return np.full((height, width), 255, dtype=np.uint8)  # white, grayscale


def as_rgba(gray):
    return np.dstack([gray, gray, gray, np.full_like(gray, 255)])


def centre_of_mass(image):
    image = image.astype(np.float64)
    rows, cols = np.indices(image.shape)
    return (rows * image).sum() / image.sum(), (cols * image).sum() / image.sum()


def ink_box(image):
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def mnist_like_digit(seed=0):
    """A blobby 'digit' on a 28x28 frame, ink = 255, for tests that need no data set."""
    rng = np.random.default_rng(seed)
    image = np.zeros((28, 28), dtype=np.float64)
    rows, cols = np.indices(image.shape)
    for _ in range(6):
        cy, cx = rng.uniform(6, 21, size=2)
        image += np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2) / 6.0)
    return np.clip(image / image.max() * 300, 0, 255).astype(np.uint8)


def test_empty_canvas_gives_none_not_an_error():
    for pixels, width, height in [
        (blank_canvas().tobytes(), 364, 364),
        (as_rgba(blank_canvas()).tobytes(), 364, 364),
        (np.zeros((50, 80, 4), dtype=np.uint8), 80, 50),  # fully transparent RGBA = background
        (np.full((5, 5, 3), 255, dtype=np.uint8), 5, 5),
    ]:
        assert prepare_canvas(pixels, width, height) is None


def test_app_reports_an_empty_canvas_as_a_result():
    app = App()
    app.models.put("mnist-fc", init_model("mnist-fc"))
    result = app.predict_canvas(as_rgba(blank_canvas()).tobytes(), 364, 364)
    assert result["empty"] is True and result["digit"] is None
    assert len(result["image28"]) == 784


@pytest.mark.parametrize("pixels, width, height, message", [
    (b"\x00" * 99, 10, 10, "needs 100 (grayscale), 300 (RGB), 400 (RGBA) bytes, got 99"),
    (b"\x00" * 200, 10, 10, "got 200"),
    (np.zeros(100, dtype=np.float32), 10, 10, "must be uint8, got float32"),
    (np.zeros(100, dtype=np.int64), 10, 10, "must be uint8, got int64"),
    ("0" * 100, 10, 10, "must be bytes or a uint8 array, got str"),
    ([0] * 100, 10, 10, "must be bytes or a uint8 array, got list"),
    (b"\x00" * 100, 0, 10, "width must be a positive integer, got 0"),
    (b"\x00" * 100, 10, -1, "height must be a positive integer, got -1"),
    (b"\x00" * 100, 10.0, 10, "width must be a positive integer, got 10.0"),
    (b"\x00" * 100, True, 100, "width must be a positive integer, got True"),
])
def test_odd_canvas_input_is_refused_with_a_clear_message(pixels, width, height, message):
    with pytest.raises(CanvasError, match=message.replace("(", r"\(").replace(")", r"\)")):
        prepare_canvas(pixels, width, height)


def test_canvas_errors_are_mnist_core_errors_and_value_errors():
    with pytest.raises(MnistCoreError):
        prepare_canvas(b"", 1, 1)
    with pytest.raises(ValueError):
        prepare_canvas(b"", 1, 1)


def test_grayscale_rgb_rgba_and_every_bytes_like_type_give_the_same_image():
    gray = blank_canvas(100, 140)
    gray[20:80, 60:75] = 0
    expected = prepare_canvas(gray, 140, 100)
    rgb = np.dstack([gray, gray, gray])
    for pixels in (gray.tobytes(), bytearray(gray.tobytes()), memoryview(gray.tobytes()), gray.reshape(-1),
                   rgb, rgb.tobytes(), as_rgba(gray), as_rgba(gray).tobytes()):
        np.testing.assert_array_equal(prepare_canvas(pixels, 140, 100), expected)


def test_rgba_transparency_counts_as_white_background():
    rgba = np.zeros((60, 60, 4), dtype=np.uint8)       # transparent black everywhere
    rgba[10:50, 25:35] = (0, 0, 0, 255)                # an opaque black bar
    opaque = as_rgba(blank_canvas(60, 60))
    opaque[10:50, 25:35] = (0, 0, 0, 255)
    np.testing.assert_array_equal(prepare_canvas(rgba, 60, 60), prepare_canvas(opaque, 60, 60))


def test_ink_is_inverted_luma():
    pixels = np.array([[[255, 255, 255, 255], [0, 0, 0, 255], [255, 0, 0, 255], [0, 0, 0, 0]]], dtype=np.uint8)
    ink = canvas_ink(pixels, 4, 1)
    assert ink.dtype == np.uint8
    assert ink[0, 0] == 0 and ink[0, 1] == 255 and ink[0, 3] == 0
    assert abs(int(ink[0, 2]) - round(255 * (1 - 0.299))) <= 1


def test_a_small_digit_in_a_corner_comes_back_centred_and_20_pixels_tall():
    canvas = blank_canvas()
    canvas[10:70, 300:330] = 0                          # 60 x 30 stroke block in the top right corner
    image = prepare_canvas(canvas, 364, 364)
    assert image.shape == (28, 28) and image.dtype == np.uint8
    assert ink_box(image) == (BOX_SIZE, BOX_SIZE // 2)  # aspect ratio kept: 2:1
    cy, cx = centre_of_mass(image)
    assert abs(cy - CENTRE) <= 0.5 and abs(cx - CENTRE) <= 0.5
    assert image.max() == 255


def test_a_wide_drawing_is_fitted_by_its_width():
    canvas = blank_canvas()
    canvas[150:170, 20:340] = 0                         # a long horizontal stroke
    height, width = ink_box(prepare_canvas(canvas, 364, 364))
    assert width == BOX_SIZE and 1 <= height <= 3


def test_a_tiny_drawing_is_enlarged_smoothly():
    canvas = blank_canvas(28, 28)
    canvas[12:16, 13:15] = [[0, 200], [0, 0], [100, 0], [0, 0]]  # a 4 x 2 blot with grey pixels
    image = prepare_canvas(canvas, 28, 28)
    assert ink_box(image) == (BOX_SIZE, BOX_SIZE // 2)
    assert len(np.unique(image)) > 6                    # interpolated, not 5x blocks of 3 levels


def test_mnist_digits_pass_through_nearly_unchanged_when_not_thickened():
    """(Thin strokes are thickened by default: tests/test_drawn.py checks that keeps digits fitted and centred.)"""
    digits = [mnist_like_digit(seed) for seed in range(20)]
    for digit in digits:
        fitted = centre_digit(digit, normalise_width=False)                    # ink already
        assert ink_box(fitted)[0] == BOX_SIZE or ink_box(fitted)[1] == BOX_SIZE
        cy, cx = centre_of_mass(fitted)
        assert abs(cy - CENTRE) <= 0.5 and abs(cx - CENTRE) <= 0.5


def test_same_digit_anywhere_and_at_any_size_gives_nearly_the_same_image():
    digit = mnist_like_digit(3)
    images = []
    for scale, top, left in [(13, 0, 0), (5, 200, 10), (8, 20, 140), (3, 280, 280)]:
        big = np.kron(digit, np.ones((scale, scale), dtype=np.uint8))
        canvas = blank_canvas()
        canvas[top:top + big.shape[0], left:left + big.shape[1]] = 255 - big
        images.append(prepare_canvas(canvas, 364, 364).astype(int))
    for image in images[1:]:
        assert np.abs(image - images[0]).mean() < 8     # out of 255


def test_downscale_canvas_is_the_reference_whole_canvas_shrink():
    digit = mnist_like_digit(1)
    canvas = 255 - np.kron(digit, np.ones((13, 13), dtype=np.uint8))
    np.testing.assert_array_equal(downscale_canvas(canvas, 364, 364), digit)


@pytest.mark.parametrize("left", [0, 300, 728])
def test_downscale_canvas_of_a_wide_canvas_shrinks_the_square_the_digit_was_drawn_in(left):
    """The page's canvas is three times as wide as tall: the reference's square is the one around the ink."""
    digit = mnist_like_digit(1)
    canvas = np.full((364, 1092), 255, dtype=np.uint8)
    canvas[:, left:left + 364] = 255 - np.kron(digit, np.ones((13, 13), dtype=np.uint8))
    image = downscale_canvas(canvas, 1092, 364)
    assert abs(int(image.sum()) - int(digit.sum())) < 0.02 * digit.sum()   # all of the ink
    inked, drawn = image > INK_THRESHOLD, digit > INK_THRESHOLD
    for axis in (0, 1):                                                  # neither squeezed nor cut
        assert abs(int(inked.any(axis=axis).sum()) - int(drawn.any(axis=axis).sum())) <= 1


def test_rgba_ink_is_worked_out_only_around_what_is_not_white_and_equals_every_pixel_s():
    """canvas_ink's short cut for RGBA (the ink of the box of non-white pixels) against the luma of every pixel."""
    rng = np.random.default_rng(0)
    for trial in range(300):
        height, width = (int(n) for n in rng.integers(1, 40, 2))
        rgba = np.full((height, width, 4), 255, dtype=np.uint8)
        for _ in range(int(rng.integers(0, 6))):                       # a few marks of any colour and alpha
            rgba[rng.integers(height), rng.integers(width)] = rng.integers(0, 256, 4)
        if trial % 7 == 0:
            rgba = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
        if trial % 11 == 0:
            rgba[..., 3] = 0                                             # transparent: no ink at all
        luma = rgba[..., :3].astype(np.int64) @ np.array([77, 150, 29])
        expected = ((255 - ((luma + 128) >> 8)) * rgba[..., 3] + 127) // 255
        np.testing.assert_array_equal(canvas_ink(rgba.tobytes(), width, height), expected.astype(np.uint8))
    unaligned = memoryview(bytes(1) + bytes([255]) * 40)[1:]             # bytes at an odd address, all white
    assert not canvas_ink(unaligned, 5, 2).any()


def test_resample_area_average_keeps_the_mean_and_matches_the_overlap_matrix():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, size=(97, 61)).astype(np.float32)
    small = resample(image, 20, 13)
    assert abs(small.mean() - image.mean()) < 1e-2

    def overlap_matrix(n_in, n_out):
        ratio = n_in / n_out
        low = np.arange(n_out)[:, None] * ratio
        j = np.arange(n_in)[None, :]
        return np.clip(np.minimum(low + ratio, j + 1) - np.maximum(low, j), 0, None) / ratio

    expected = overlap_matrix(97, 20) @ image @ overlap_matrix(61, 13).T
    np.testing.assert_allclose(small, expected, rtol=1e-4, atol=1e-3)


def test_resample_to_the_same_size_is_the_identity():
    image = np.arange(35, dtype=np.float32).reshape(5, 7)
    np.testing.assert_allclose(resample(image, 5, 7), image, atol=1e-4)


def test_app_predicts_a_canvas_with_a_saved_and_reloaded_model(tmp_path):
    path = tmp_path / "mnist-cnn-f32.gguf"
    save_model(init_model("mnist-cnn", seed=1), path)
    app = App(seed=0)
    app.load_shipped_model("mnist-cnn", path.read_bytes())
    canvas = blank_canvas()
    canvas[60:300, 170:190] = 0
    result = app.predict_canvas(as_rgba(canvas).tobytes(), 364, 364)
    image = np.frombuffer(result["image28"], dtype=np.uint8).reshape(1, 28, 28)
    expected = app.models.get("mnist-cnn").predict_proba(image)[0]
    assert result["digit"] == int(expected.argmax())
    np.testing.assert_allclose(result["probabilities"], expected, rtol=0, atol=1e-7)
    assert [d for d, _ in result["top"]] == list(np.argsort(-expected, kind="stable")[:3])
    plain = app.predict_canvas(as_rgba(canvas).tobytes(), 364, 364, centre=False)
    assert plain["image28"] != result["image28"]


def test_app_refuses_a_model_of_another_architecture(tmp_path):
    path = tmp_path / "fc.gguf"
    save_model(init_model("mnist-fc"), path)
    with pytest.raises(ModelError, match="^models/mnist-cnn-f32.gguf: holds a mnist-fc model, expected mnist-cnn$"):
        App().load_shipped_model("mnist-cnn", path.read_bytes())
