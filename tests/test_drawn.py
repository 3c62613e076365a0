"""Digits as strokes: thinning, tracing, drawing; the augmentation's transforms; preparation that thickens thin ink."""

from types import SimpleNamespace

import numpy as np
import pytest

from mnist_core import strokes
from mnist_core.browser.predictions import prediction
from mnist_core.preprocess import centre_digit, prepare_canvas, thicken_to_pen_width
from mnist_core.training.augment import (
    augment_batch,
    elastic_field,
    random_affine,
    random_affine_params,
    random_elastic_field,
    vary_stroke_width,
)

EVERY_TRANSFORM = dict(augment=True, stroke_width=0.5, shear=0.2, elastic=2.0)


def line_image(width=5, size=40):
    """A thick L-shaped stroke (a vertical bar and a horizontal foot), bool (size, size)."""
    image = np.zeros((size, size), dtype=bool)
    image[5:35, 10:10 + width] = True
    image[30:30 + width, 10:32] = True
    return image


@pytest.fixture(scope="module")
def digits():
    from mnist_core.data import load_split
    images, labels = load_split("mnist", "test")
    return images[:300], labels[:300]


# ---------------------------------------------------------------- strokes


def test_skeleton_of_a_thick_stroke_is_one_pixel_wide_and_inside_it():
    image = line_image()
    skeleton = strokes.skeletonize(image)
    assert skeleton.any() and not (skeleton & ~image).any()
    rows = skeleton[8:26]                     # the straight part of the bar
    assert (rows.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(strokes.skeletonize(image[None])[0], skeleton)  # batch == one at a time


def test_trace_follows_an_l_from_end_to_end_as_one_stroke():
    traced = strokes.trace(strokes.skeletonize(line_image()))
    assert len(traced) == 1
    ends = {tuple(np.round(traced[0][0])), tuple(np.round(traced[0][-1]))}
    top_end = min(ends)
    assert top_end[0] <= 9 and abs(top_end[1] - 12) <= 1          # the top of the bar
    assert max(p[1] for p in ends) >= 28                          # the far end of the foot


def test_trace_of_a_ring_is_one_closed_stroke():
    rows, cols = np.indices((40, 40))
    ring = np.abs(np.hypot(rows - 20, cols - 20) - 12) < 2.5
    traced = strokes.trace(strokes.skeletonize(ring))
    assert len(traced) == 1 and len(traced[0]) > 40
    assert np.hypot(*(traced[0][0] - traced[0][-1])) <= 1.5


def test_render_draws_a_round_brush_of_the_given_width():
    segment = [np.float32([[20, 10], [20, 50]])]
    for width in (2.0, 4.0, 8.0):
        ink = strokes.render(segment, (40, 60), width)
        assert ink.dtype == np.float32 and ink.min() >= 0 and ink.max() == 1
        assert abs(ink[:, 30].sum() - width) < 0.6               # across the stroke: its width
        assert abs(strokes.stroke_width(ink) - width) < 0.25 * width + 0.5
        assert ink[20, 10 - int(width / 2) + 1] > 0 and ink[20, 10 - int(width / 2) - 2] == 0  # a round cap


def test_resample_keeps_the_ends_and_spaces_points_evenly():
    path = np.float32([[0, 0], [0, 10], [10, 10]])
    points = strokes.resample(path, 5)
    np.testing.assert_allclose(points[[0, -1]], path[[0, -1]])
    np.testing.assert_allclose(np.hypot(*np.diff(points, axis=0).T), 5.0, atol=1e-5)
    np.testing.assert_allclose(points[2], [0, 10], atol=1e-5)


def test_join_starts_at_the_top_and_goes_to_the_nearest_stroke_end():
    top = np.float32([[0, 5], [10, 5]])
    far = np.float32([[30, 0], [30, 20]])
    near = np.float32([[12, 20], [11, 6]])          # its second end is nearer the pen after `top`
    joined = strokes.join([far, near, top])
    np.testing.assert_array_equal(joined[:2], top)
    np.testing.assert_array_equal(joined[2:4], near[::-1])
    np.testing.assert_array_equal(joined[4:], far[::-1])      # its (30, 20) end is nearer (12, 20)


# ---------------------------------------------------------------- augmentation


def test_augment_batch_is_seeded_shaped_and_in_range(digits):
    images = digits[0][:64].astype(np.float32) / 255
    config = SimpleNamespace(**EVERY_TRANSFORM)
    a = augment_batch(np, images, np.random.default_rng(1), config)
    b = augment_batch(np, images, np.random.default_rng(1), config)
    c = augment_batch(np, images, np.random.default_rng(2), config)
    assert a.shape == images.shape and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1 + 1e-6
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_augment_batch_off_is_the_identity(digits):
    images = digits[0][:8].astype(np.float32) / 255
    off = SimpleNamespace(**{**EVERY_TRANSFORM, "augment": False})
    assert augment_batch(np, images, np.random.default_rng(0), off) is images


def test_stroke_width_change_thickens_and_thins_the_ink():
    image = strokes.render([np.float32([[4, 14], [24, 14]])], (28, 28), 3.0)[None]
    thicker = vary_stroke_width(np, image, [1.0])
    thinner = vary_stroke_width(np, image, [-1.0])
    assert thicker.sum() > image.sum() * 1.4 and thinner.sum() < image.sum() * 0.7
    np.testing.assert_array_equal(vary_stroke_width(np, image, [0.0]), image)


def test_shear_slants_a_vertical_stroke_and_zero_elastic_field_changes_nothing():
    image = strokes.render([np.float32([[4, 14], [24, 14]])], (28, 28), 2.0)[None]
    identity = np.float32([[0, 1, 0, 0]])
    np.testing.assert_allclose(random_affine(np, image, identity, displacement=np.zeros((1, 2, 28, 28), np.float32)),
                               image, atol=1e-6)
    sheared = random_affine(np, image, identity, shear=np.float32([0.3]))
    top, bottom = sheared[0, 6].argmax(), sheared[0, 22].argmax()
    assert abs(int(top) - int(bottom)) >= 3                    # the top and bottom of the stroke moved apart


def test_elastic_fields_are_smooth_and_of_the_asked_size():
    field = elastic_field(np, random_elastic_field(np.random.default_rng(0), 500, 2.0))
    assert field.shape == (500, 2, 28, 28)
    assert 0.5 < field.std() < 1.5                               # about amplitude / 2
    assert np.abs(np.diff(field, axis=3)).max() < 1.0             # neighbouring pixels move nearly alike


def bilinear_warp_by_loops(image, params, shear, displacement):
    """random_affine's definition, one pixel at a time: each output pixel reads the input at its
    inverse-mapped position, bilinearly, with zeros outside the image."""
    angle, scale, shift_x, shift_y = (float(v) for v in params)
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    centre, size = 13.5, 28
    out = np.zeros((size, size))
    for y in range(size):
        for x in range(size):
            u, v = x - centre - shear * (y - centre), y - centre
            sx = cos * u + sin * v + centre - shift_x + displacement[1, y, x]
            sy = -sin * u + cos * v + centre - shift_y + displacement[0, y, x]
            x0, y0 = int(np.floor(sx)), int(np.floor(sy))
            for yy, wy in ((y0, 1 - (sy - y0)), (y0 + 1, sy - y0)):
                for xx, wx in ((x0, 1 - (sx - x0)), (x0 + 1, sx - x0)):
                    if 0 <= yy < size and 0 <= xx < size:
                        out[y, x] += wy * wx * image[yy, xx]
    return out


def test_warp_matches_its_per_pixel_definition(digits):
    rng = np.random.default_rng(5)
    images = digits[0][:6].astype(np.float32) / 255
    params = random_affine_params(rng, 6, max_shift=6.0)          # far enough that ink leaves the image
    shear = rng.uniform(-0.3, 0.3, 6).astype(np.float32)
    displacement = elastic_field(np, random_elastic_field(rng, 6, 3.0))
    warped = random_affine(np, images, params, shear=shear, displacement=displacement)
    for image, p, s, d, w in zip(images, params, shear, displacement, warped, strict=True):
        np.testing.assert_allclose(w, bilinear_warp_by_loops(image, p, s, d), atol=2e-5)


def test_augmentation_with_a_reused_workspace_equals_fresh_arrays(digits):
    from mnist_core.layers import Workspace
    config = SimpleNamespace(**EVERY_TRANSFORM)
    workspace = Workspace(np)
    for batch in range(3):   # the workspace's arrays hold the previous batch's values each time
        images = digits[0][batch * 50:(batch + 1) * 50].astype(np.float32) / 255
        kept = images.copy()
        reused = augment_batch(np, images, np.random.default_rng(batch), config, workspace=workspace)
        fresh = augment_batch(np, images, np.random.default_rng(batch), config)
        np.testing.assert_array_equal(reused, fresh)
        np.testing.assert_array_equal(images, kept)               # the input is left as it was
    assert workspace.nbytes > 0


def test_affine_parameters_stay_in_their_ranges():
    p = random_affine_params(np.random.default_rng(1), 10000)
    assert np.abs(np.rad2deg(p[:, 0])).max() <= 10 and np.abs(p[:, 1] - 1).max() <= 0.1


# ---------------------------------------------------------------- preparation


def pen_canvas(brush, height=240):
    """A white 364x364 canvas with a '7' drawn as two strokes of a `brush`-pixel round brush."""
    seven = [np.float32([[0, 0], [0, 0.6], [1, 0.25]])]
    ink = strokes.render(seven, (364, 364), brush, scale=height, offset=(60, 100))
    return np.rint(255 * (1 - ink)).astype(np.uint8)


def test_preparation_thickens_strokes_thinner_than_mnist_s_pen_and_keeps_the_rest(digits):
    """The page's 20-px brush comes out thinner than most MNIST digits without it, and at least MNIST's median with it
    (widths measured alike, on the 28x28 images)."""
    mnist_median = np.median([strokes.stroke_width(image / 255) for image in digits[0][:200]])
    thin = pen_canvas(brush=20)
    prepared = prepare_canvas(thin.tobytes(), 364, 364)
    plain = prepare_canvas(thin.tobytes(), 364, 364, normalise_width=False)
    assert strokes.stroke_width(plain / 255) < mnist_median - 0.3
    assert strokes.stroke_width(prepared / 255) >= mnist_median - 0.1
    assert prepared.sum() > plain.sum() * 1.15
    thick = pen_canvas(brush=44)
    np.testing.assert_array_equal(prepare_canvas(thick.tobytes(), 364, 364),
                                  prepare_canvas(thick.tobytes(), 364, 364, normalise_width=False))


def test_thickened_drawing_is_still_fitted_and_centred_like_mnist():
    image = prepare_canvas(pen_canvas(brush=12).tobytes(), 364, 364)
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    assert max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) == 20
    mass = image.astype(np.float64)
    centre = (np.indices(image.shape) * mass).sum(axis=(1, 2)) / mass.sum()
    assert np.abs(centre - 14).max() <= 0.75


def test_thickening_a_dot_or_a_hairline_does_not_fail():
    dot = np.zeros((50, 50), dtype=np.float32)
    dot[25, 25] = 255
    assert thicken_to_pen_width(dot[25:26, 25:26]).shape == (1, 1)    # a dot is as wide as it is long: kept
    hairline = np.zeros((300, 300), dtype=np.uint8)
    hairline[20:280, 150] = 255
    image = centre_digit(hairline)
    assert image is not None and image.max() == 255


def test_the_page_says_not_sure_exactly_when_the_top_probability_is_low(digits):
    from mnist_core.browser import App
    from mnist_core.prediction import UNSURE_BELOW
    from mnist_core.shipped import shipped_model_path
    app = App()
    app.load_shipped_model("mnist-fc", shipped_model_path("mnist-fc").read_bytes())
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (28, 28), dtype=np.uint8) for _ in range(20)]  # scribbles: often unsure
    results = [prediction(app.models.current(), image) for image in list(digits[0][:20]) + noise]
    assert all(r["sure"] == (max(r["probabilities"]) >= UNSURE_BELOW) for r in results)
    assert any(r["sure"] for r in results) and not all(r["sure"] for r in results)
