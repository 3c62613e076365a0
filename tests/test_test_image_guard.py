"""A test image is never trained on: a correction that is one, or nearly (a grey level off, shifted by a pixel or
two, with a stroke drawn over it), is refused by App.correct and dropped by App.restore_kept; drawings
are not (mnist_core/browser/test_image_guard.py says what "close" means; bench/bench_test_image_guard.py
measures it at length).
"""

import numpy as np
import pytest

from handwriting import BRUSH, MORE_STYLES, STYLES, drawings
from mnist_core import strokes
from mnist_core.browser import App
from mnist_core.browser.test_image_guard import SHIFT, SHIFTS, nearest_test_image, refusal
from mnist_core.browser.test_image_guard import TestImageGuard as Guard  # pytest would collect Test*
from mnist_core.preprocess import downscale_canvas
from mnist_core.shipped import shipped_model_path

CANVAS_SCALE = 13  # canvas pixels per MNIST pixel (web/drawing.js paints a test image so)
# A few test images of every digit, the sparsest (fewest rim pixels) among them: the hardest to tell apart.
SAMPLE = 40


@pytest.fixture(scope="module")
def test_images(mnist_test):
    return mnist_test[0]


@pytest.fixture(scope="module")
def guard(test_images):
    return Guard(test_images)


@pytest.fixture(scope="module")
def sample(mnist_test):
    """Indices of SAMPLE test images, 4 of each digit, spread over the set."""
    _, labels = mnist_test
    return np.concatenate([np.flatnonzero(labels == digit)[::250][:SAMPLE // 10] for digit in range(10)])


def moved(image, dy, dx):
    """`image` moved by (dy, dx) pixels, zero-filled: pixel (y, x) goes to (y + dy, x + dx)."""
    out = np.zeros_like(image)
    out[max(dy, 0):28 + min(dy, 0), max(dx, 0):28 + min(dx, 0)] = \
        image[max(-dy, 0):28 + min(-dy, 0), max(-dx, 0):28 + min(-dx, 0)]
    return out


def stroke_over(image, seed, scale=1.0, width=2.5):
    """A straight stroke across the middle of the digit's ink (28x28 pixels, or canvas pixels at `scale`)."""
    ys, xs = np.nonzero(image > 50)
    rng = np.random.default_rng(seed)
    y = rng.uniform(ys.min(), ys.max())
    points = np.array([[y, xs.min()], [y + rng.uniform(-3, 3), xs.max()]], dtype=np.float32)
    return strokes.render([points * scale + (scale - 1) / 2], (int(28 * scale),) * 2, width)


def exhaustive_nearest(guard, image):
    """Indices of the test images that the pixel-by-pixel comparison with every one (no quick checks) finds close."""
    every = np.arange(len(guard.images))
    close = guard.closeness(every, *guard.alignments(image, every)) >= 1
    return set(np.flatnonzero(close.any(axis=1)).tolist())


# ---------------------------------------------------------------- what is refused


def test_a_test_image_as_it_is_is_refused_naming_it(guard, test_images):
    message = guard.refusal(test_images[7])
    assert message == "that is MNIST test image 7: the test images are never trained on"
    assert refusal(test_images[7], test_images) == message
    match = nearest_test_image(test_images[7], test_images)
    assert (match.index, match.shift, match.ink_present, match.rim_kept, match.outline_kept, match.close) == \
        (7, (0, 0), 1, 1, 1, True)


def test_one_grey_level_anywhere_or_two_everywhere_changes_nothing(guard, test_images, sample):
    rng = np.random.default_rng(0)
    for index in sample:
        image = test_images[index].astype(np.int16)
        one = image.copy()
        y, x = rng.integers(0, 28, 2)
        one[y, x] = np.clip(one[y, x] + rng.choice([-1, 1]), 0, 255)
        everywhere = np.clip(image + rng.integers(-2, 3, image.shape), 0, 255)
        for changed in (one, everywhere):
            match = guard.nearest(changed.astype(np.uint8))
            assert match.close and match.index == index


@pytest.mark.parametrize("shift", [(0, 1), (-1, 0), (1, -1), (2, 2), (-2, 1), (0, -2)])
def test_a_test_image_shifted_by_a_pixel_or_two_is_refused(guard, test_images, sample, shift):
    for index in sample:
        image = test_images[index]
        if moved(moved(image, *shift), -shift[0], -shift[1]).sum() != image.sum():
            continue  # the shift pushed ink off the frame: another image
        match = guard.nearest(moved(image, *shift))
        assert match.close and match.index == index, (index, match)
        assert match.shift == shift
        assert f"shifted by ({shift[0]}, {shift[1]}) pixels" in guard.refusal(moved(image, *shift))


def test_a_test_image_with_a_stroke_drawn_over_it_is_refused(guard, test_images, sample):
    for seed, index in enumerate(sample):
        image = test_images[index]
        over = np.maximum(image, np.rint(255 * stroke_over(image, seed))).astype(np.uint8)
        assert (over != image).sum() > 10  # the stroke is there
        match = guard.nearest(over)
        assert match.close and match.index == index, (index, match)
        assert match.ink_present == 1 and match.rim_kept < 1
        assert "(or nearly: it has its ink and" in guard.refusal(over)


def test_a_test_image_drawn_over_on_the_canvas_is_refused_as_the_page_reads_it_unprepared(guard, test_images, sample):
    """Random puts the test image on the canvas (13 canvas pixels per pixel); a stroke of the page's brush over it,
    read with "prepare like MNIST" off (the canvas shrunk to 28x28, as the reference demo reads it)."""
    size = 28 * CANVAS_SCALE
    for seed, index in enumerate(sample):
        canvas = 255 - np.repeat(np.repeat(test_images[index], CANVAS_SCALE, axis=0), CANVAS_SCALE, axis=1)
        ink = stroke_over(test_images[index], seed, scale=CANVAS_SCALE, width=BRUSH)
        canvas = np.minimum(canvas, np.rint(255 * (1 - ink))).astype(np.uint8)
        match = guard.nearest(downscale_canvas(canvas.tobytes(), size, size))
        assert match.close and match.index == index, (index, match)


# ---------------------------------------------------------------- what is not


def test_no_drawing_of_any_handwriting_style_is_refused(guard):
    styles = [*STYLES.values(), *(style for _, style in MORE_STYLES)]
    for style in styles:
        for image in drawings(style, range(4)):
            assert guard.refusal(image) is None


def test_mnist_training_images_are_let_through_but_for_those_that_share_a_test_image_s_edge(guard, mnist_train):
    """Real handwriting by other writers, scanned and prepared as the test images were: the hardest to tell apart
    from them by their grey levels. Of all 60,000 (bench/bench_test_image_guard.py) 3 are refused, 1s whose
    edge has a test 1's grey levels: training image 21984 is test image 3126 pixel for pixel over half its
    height."""
    images, _ = mnist_train
    for image in images[::120]:  # 500 of them
        assert guard.refusal(image) is None
    match = guard.nearest(images[21984])
    assert match.close and match.index == 3126


# ---------------------------------------------------------------- how it decides


def test_the_quick_checks_never_drop_a_test_image_the_exact_comparison_finds_close(guard, test_images, sample):
    """candidates() is a necessary condition: every test image that the pixel-by-pixel comparison at some shift
    finds close is among them (checked against all 10,000, for copies, shifted, drawn over, and drawings)."""
    drawn_over = np.maximum(test_images[sample[2]], np.rint(255 * stroke_over(test_images[sample[2]], 0)))
    images = [test_images[sample[0]], moved(test_images[sample[1]], 2, -1), drawn_over.astype(np.uint8),
              drawings(STYLES[1], (0,))[0], drawings(STYLES[8], (3,))[0]]
    for image in images:
        close = exhaustive_nearest(guard, image)
        assert close <= set(guard.candidates(image).tolist())
    assert exhaustive_nearest(guard, images[1]) == {int(sample[1])}


def test_the_exact_comparison_is_made_with_few_test_images(guard, test_images):
    """What keeps a check cheap is how many test images pass the quick checks to the pixel-by-pixel one:
    a handful for a drawing, out of 10,000 (counted, not timed: bench/bench_test_image_guard.py times it)."""
    counts = [guard.candidates(image).size for digit in STYLES for image in drawings(digit, range(3))]
    assert np.median(counts) <= 10 and max(counts) <= 100, counts
    assert len(SHIFTS) == (2 * SHIFT + 1) ** 2


def test_the_guard_refuses_bad_input(test_images):
    with pytest.raises(ValueError, match="28x28 uint8"):
        Guard(test_images).refusal(np.zeros(783, dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8 test images"):
        Guard(test_images.astype(np.float32))
    with pytest.raises(ValueError, match="thresholds"):
        Guard(test_images, rim_kept=0)


# ---------------------------------------------------------------- in the page's App


@pytest.fixture
def app(mnist_test, mnist_train):
    from sitebuild.training_data import replay_indices

    app = App()
    app.test_set.images, app.test_set.labels = mnist_test
    chosen = replay_indices(mnist_train[1])
    app.learning.replay_images, app.learning.replay_labels = mnist_train[0][chosen], mnist_train[1][chosen]
    app.load_shipped_model("mnist-fc", shipped_model_path("mnist-fc").read_bytes())
    return app


def test_correct_refuses_a_test_image_a_grey_level_off_or_drawn_over_and_learns_nothing(app):
    weights = app.models.get("mnist-fc").params["fc1.weight"].copy()
    lighter = app.test_set.images[7].copy()
    lighter[0, 0] = 1  # a background pixel one grey level lighter: the probe
    over = np.maximum(app.test_set.images[9], np.rint(255 * stroke_over(app.test_set.images[9], 0))).astype(np.uint8)
    for image, index in ((lighter, 7), (over, 9)):
        with pytest.raises(ValueError, match=f"MNIST test image {index}\\b.*never trained on"):
            app.correct(image.tobytes(), int(app.test_set.labels[index]))
    assert app.learning.count == 0
    np.testing.assert_array_equal(app.models.get("mnist-fc").params["fc1.weight"], weights)


def test_restoring_kept_corrections_drops_stored_test_images_and_keeps_the_others(app):
    drawn = drawings(STYLES[3], (0, 1))
    shifted = moved(app.test_set.images[21], 1, 0)
    images = np.stack([drawn[0], shifted, drawn[1]])
    result = app.restore_kept(images.tobytes(), bytes([3, int(app.test_set.labels[21]), 3]))
    assert result["count"] == 2 and len(result["refused"]) == 1
    assert result["refused"][0].startswith("stored correction 2: that is MNIST test image 21 ")
    np.testing.assert_array_equal(app.learning.images, drawn)
    assert app.learning.labels.tolist() == [3, 3]
    again = app.restore_kept(drawn.tobytes(), bytes([3, 3]))
    assert again["count"] == 2 and again["refused"] == []
