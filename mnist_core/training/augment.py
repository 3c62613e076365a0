"""Training augmentation for batches of 28x28 images, vectorised over the batch, written against `xp`.

MNIST digits vary in slant, size and position. Each training batch goes through, in order:

  stroke width  (opt-in) ink thickened or thinned by a random fraction of a pixel (a blend with the
                image's 3x3 cross-shaped grey dilation or erosion)
  warp          one bilinear resampling through a random affine map (rotation, scale, shift, and an
                opt-in shear) plus an opt-in elastic displacement field (Simard et al. 2003), drawn at
                4x4 and interpolated to 28x28, so that the costlier field costs one small product

Random numbers are drawn on the host from the batch's own generator, all of a batch's at once
(draw_augmentation -> an AugmentPlan), so a batch's images depend only on that generator,
whichever thread prepares them; the pixel work (apply_augmentation) runs on `xp`, image by
image, so a batch can be augmented in slices that threads take at once (pipeline.py).

The pixel work avoids broadcast arithmetic over (N, 28, 28), whose 28-element inner loops run
several times slower than one flat pass, and takes its scratch arrays from a Workspace (a fresh
array of a few megabytes is faulted in page by page every batch); bench/bench_train.py prints
what augmentation costs per 1,000 images.
"""

import functools

import numpy as np

from ..backend import take_unchecked
from ..layers.products import matmul
from ..layers.workspace import scratch
from ..mnist import IMAGE_SIZE

CENTRE = (IMAGE_SIZE - 1) / 2
FIELD_SIZE = 4  # elastic displacements are drawn on a FIELD_SIZE x FIELD_SIZE grid over the image


def random_affine_params(rng, n, max_degrees=10.0, max_scale=0.1, max_shift=2.0):
    """Draw n sets of (angle in radians, scale, shift_x, shift_y) on the host; each row one image."""
    angle = np.deg2rad(rng.uniform(-max_degrees, max_degrees, n))
    scale = rng.uniform(1 - max_scale, 1 + max_scale, n)
    shift = rng.uniform(-max_shift, max_shift, (n, 2))
    return np.stack([angle, scale, shift[:, 0], shift[:, 1]], axis=1).astype(np.float32)


def random_shear(rng, n, max_shear):
    """n horizontal shear factors (x moves by factor * y), uniform in +-max_shear."""
    return rng.uniform(-max_shear, max_shear, n).astype(np.float32)


def random_elastic_field(rng, n, amplitude):
    """n displacement fields (n, 2, 4, 4), (dy, dx) in pixels, each grid value normal with sd `amplitude`/2.

    Interpolated over the image (elastic_field) they make smooth, digit-sized wobbles; the 4x4
    grid plays the part of Simard's Gaussian smoothing of a per-pixel random field.
    """
    return (rng.standard_normal((n, 2, FIELD_SIZE, FIELD_SIZE)) * (amplitude / 2)).astype(np.float32)


@functools.cache
def _interpolation_matrix(xp):
    """(28, 4) weights that interpolate 4 grid values (at the image's corners and thirds) linearly to 28 pixels
    (made once per array module; never written to)."""
    grid = np.linspace(0, IMAGE_SIZE - 1, FIELD_SIZE)
    pixels = np.arange(IMAGE_SIZE)[:, None]
    spacing = grid[1] - grid[0]
    weights = np.clip(1 - np.abs(pixels - grid[None, :]) / spacing, 0, None)
    return xp.asarray(weights.astype(np.float32))


def elastic_field(xp, field, workspace=None):
    """Grid displacements (N, 2, 4, 4) -> per-pixel displacements (N, 2, 28, 28) on xp.

    W field W.T for every field, as two large products (along x, then along y) rather than one
    einsum, which NumPy runs as a loop many times slower. With a
    `workspace` the result is a view of its array "elastic.full_xy", valid until the next call.
    """
    weights = _interpolation_matrix(xp)                                    # (28, 4)
    field = xp.asarray(field, dtype=np.float32)
    n = field.shape[0]
    along_x = scratch(xp, workspace, "elastic.along_x", (n * 2 * FIELD_SIZE, IMAGE_SIZE), np.float32)
    matmul(xp, field.reshape(-1, FIELD_SIZE), weights.T, out=along_x)      # (N*2*4 grid y, 28 x)
    # (N*2, 28 x, 4 grid y), contiguous for the second product.
    across = scratch(xp, workspace, "elastic.across", (n * 2, IMAGE_SIZE, FIELD_SIZE), np.float32)
    across[...] = along_x.reshape(n * 2, FIELD_SIZE, IMAGE_SIZE).transpose(0, 2, 1)
    full = scratch(xp, workspace, "elastic.full_xy", (n * 2 * IMAGE_SIZE, IMAGE_SIZE), np.float32)
    matmul(xp, across.reshape(-1, FIELD_SIZE), weights.T, out=full)       # (N*2*28 x, 28 y)
    return full.reshape(n, 2, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 1, 3, 2)  # (N, 2, 28 y, 28 x), a view


# The warp reads from a zero-bordered copy of each image: one row and column of zeros before it,
# two after, so that a source position clipped into [0, 29] has all four neighbours inside the
# copy and positions outside the image read exactly zero.
BORDERED = IMAGE_SIZE + 3


def affine_coefficients(params, shear=None):
    """Per-image affine maps from output pixel to source position, on the host: (2N, 3) float32.

    Row i (x) and row N + i (y) of image i give the source position in the bordered copy as
    c0 * u + c1 * v + c2, with (u, v) the output pixel's offset from the image centre. `params`
    (N, 4) are (angle, scale, shift_x, shift_y) from random_affine_params, `shear` (N,) a
    horizontal shear (u becomes u - shear * v before the rotation). Worked out in float64.
    """
    params = np.asarray(params, dtype=np.float64)
    n = params.shape[0]
    angle, scale, shift_x, shift_y = params.T
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    shear = np.zeros(n) if shear is None else np.asarray(shear, dtype=np.float64)
    coefficients = np.empty((2, n, 3))
    coefficients[0] = np.stack([cos, sin - cos * shear, CENTRE + 1 - shift_x], axis=1)
    coefficients[1] = np.stack([-sin, cos + sin * shear, CENTRE + 1 - shift_y], axis=1)
    return coefficients.reshape(2 * n, 3).astype(np.float32)


@functools.cache
def _pixel_offsets(xp):
    """(3, 784): every pixel's (u, v, 1), u and v its offsets from the image centre, row by row (made once per
    array module, so that a GPU gets it once, not every batch; never written to)."""
    offsets = np.arange(IMAGE_SIZE, dtype=np.float32) - np.float32(CENTRE)
    grid = np.stack([np.tile(offsets, IMAGE_SIZE), np.repeat(offsets, IMAGE_SIZE),
                     np.ones(IMAGE_SIZE * IMAGE_SIZE, np.float32)])
    return xp.asarray(grid)


def random_affine(xp, images, params, shear=None, displacement=None, workspace=None, out=None):
    """Warp float images (N, 28, 28) by per-image affine `params` (N, 4, host) with bilinear sampling.

    `shear` (N,) adds a horizontal shear, `displacement` (N, 2, 28, 28) on xp an elastic field
    (dy, dx) added to every output pixel's source position. Each output pixel samples the input
    at the inverse-transformed position; positions outside the image read zero (background).
    Returns a new array (or `out`); its intermediates come from `workspace` (a layers.Workspace) when given.

    The source positions of all N x 784 pixels are one small matrix product; the four neighbours
    are four flat gathers from the bordered copies.
    """
    n = images.shape[0]
    pixels = IMAGE_SIZE * IMAGE_SIZE
    f32 = np.float32
    src = scratch(xp, workspace, "warp.src", (2, n, pixels), f32)      # x positions, then y positions
    matmul(xp, xp.asarray(affine_coefficients(params, shear)), _pixel_offsets(xp), out=src.reshape(2 * n, pixels))
    if displacement is not None:
        src[0] += displacement[:, 1].reshape(n, pixels)
        src[1] += displacement[:, 0].reshape(n, pixels)
    xp.clip(src, f32(0), f32(IMAGE_SIZE + 1), out=src)
    corner = xp.floor(src, out=scratch(xp, workspace, "warp.corner", (2, n, pixels), f32))  # top-left neighbour
    src -= corner                                                     # fractions, in [0, 1)
    fx, fy = src
    # Flat index of the top-left neighbour, worked out in float32 while that is exact (below 2**24, so
    # for batches of up to 17,000 images), then cast once; larger batches add the images' offsets as integers.
    flat_index = xp.multiply(corner[1], f32(BORDERED), out=corner[1])
    flat_index += corner[0]
    starts = xp.arange(0, n * BORDERED * BORDERED, BORDERED * BORDERED, dtype=np.intp).reshape(n, 1)
    exact = n * BORDERED * BORDERED < 2 ** 24
    if exact:
        flat_index += starts.astype(f32)
    index = scratch(xp, workspace, "warp.index", (n, pixels), np.intp)
    index[...] = flat_index
    if not exact:
        index += starts
    bordered = scratch(xp, workspace, "warp.bordered", (n, BORDERED, BORDERED), f32, zeroed=True)  # borders stay 0
    bordered[:, 1:IMAGE_SIZE + 1, 1:IMAGE_SIZE + 1] = images
    flat = bordered.reshape(-1)
    c00, c01, c10, c11 = (scratch(xp, workspace, f"warp.c{i}", (n, pixels), f32) for i in range(4))
    # The other three neighbours: the same indices into the copy shifted by 1, a row, a row and 1 (every
    # image's block ends in two zero rows, so they stay inside it).
    for corner_values, shift in ((c00, 0), (c01, 1), (c10, BORDERED), (c11, BORDERED + 1)):
        take_unchecked(xp, flat[shift:], index, corner_values)
    c01 -= c00                                                         # top: c00 + fx (c01 - c00)
    c01 *= fx
    c01 += c00
    c11 -= c10                                                         # bottom: c10 + fx (c11 - c10)
    c11 *= fx
    c11 += c10
    c11 -= c01                                                         # top + fy (bottom - top)
    c11 *= fy
    if out is None:
        out = xp.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=f32)
    shape = (n, IMAGE_SIZE, IMAGE_SIZE)
    return xp.add(c01.reshape(shape), c11.reshape(shape), out=out)


def vary_stroke_width(xp, images, amounts, workspace=None):
    """Thicken (amount > 0) or thin (amount < 0) the ink of float images (N, 28, 28) by |amount| in [0, 1].

    The image is blended with its grey dilation (or erosion) by a 3x3 cross: amount 1 grows (or
    shrinks) every stroke by a pixel on each side, fractions by a share of that. Returns a new
    array, or with a `workspace` its array "stroke.out" (valid until the next call), and takes its
    intermediates from there too.

    The work runs on the zero-bordered images laid end to end as one flat array, where a pixel's
    neighbours are the elements 1 and 30 away: every pass is one long contiguous loop (passes over
    (N, 28, 28) views run 28 elements at a time, about twice as slow). The borders' own results
    mix neighbouring images and are dropped.
    """
    n = images.shape[0]
    side = IMAGE_SIZE + 2
    length = n * side * side
    dtype = images.dtype
    # The bordered images, with `side` + 1 zeros before and after so that every shifted slice exists.
    flat = scratch(xp, workspace, "stroke.flat", (length + 2 * (side + 1),), dtype, zeroed=True)  # borders stay 0
    padded = flat[side + 1:side + 1 + length]
    padded.reshape(n, side, side)[:, 1:-1, 1:-1] = images
    neighbours = [flat[side + 1 + shift:side + 1 + shift + length] for shift in (-side, side, -1, 1)]
    dilated = xp.maximum(padded, neighbours[0], out=scratch(xp, workspace, "stroke.dilated", (length,), dtype))
    eroded = xp.minimum(padded, neighbours[0], out=scratch(xp, workspace, "stroke.eroded", (length,), dtype))
    for neighbour in neighbours[1:]:
        xp.maximum(dilated, neighbour, out=dilated)
        xp.minimum(eroded, neighbour, out=eroded)
    # images + a (dilated - images) where a > 0, images + |a| (eroded - images) where a < 0.
    amounts = np.asarray(amounts, dtype=np.float32)
    dilated -= padded
    dilated.reshape(n, -1)[...] *= xp.asarray(np.maximum(amounts, 0)).reshape(n, 1)
    eroded -= padded
    eroded.reshape(n, -1)[...] *= xp.asarray(np.maximum(-amounts, 0)).reshape(n, 1)
    dilated += eroded
    dilated += padded
    out = scratch(xp, workspace, "stroke.out", (n, IMAGE_SIZE, IMAGE_SIZE), dtype)
    out[...] = dilated.reshape(n, side, side)[:, 1:-1, 1:-1]
    return out


class AugmentPlan:
    """The random numbers of one batch's augmentation, drawn on the host, one row per image.

    Every transform works image by image, so rows(start, stop) augments a slice of the batch
    exactly as the whole batch would have it: the pipeline prepares a batch's slices in threads
    at once (pipeline.prepare_batch). Fields are None where the transform is off.
    """

    def __init__(self, affine, stroke=None, shear=None, field=None):
        self.affine, self.stroke, self.shear, self.field = affine, stroke, shear, field

    def rows(self, start, stop):
        """The plan of images start .. stop - 1."""
        def cut(a):
            return None if a is None else a[start:stop]
        return AugmentPlan(cut(self.affine), cut(self.stroke), cut(self.shear), cut(self.field))


def draw_augmentation(rng, n, config):
    """The plan (AugmentPlan) of n images' augmentation as `config` (a TrainConfig) says, every number from
    `rng`; None when `config.augment` is off. `stroke_width` (largest change, pixels a side), `shear` and
    `elastic` (pixels) add their transforms when above 0."""
    if not config.augment:
        return None
    stroke = rng.uniform(-config.stroke_width, config.stroke_width, n) if config.stroke_width > 0 else None
    affine = random_affine_params(rng, n)
    shear = random_shear(rng, n, config.shear) if config.shear > 0 else None
    field = random_elastic_field(rng, n, config.elastic) if config.elastic > 0 else None
    return AugmentPlan(affine, stroke, shear, field)


def apply_augmentation(xp, images, plan, workspace=None, out=None):
    """Augment float images (N, 28, 28) in [0, 1] on `xp` as `plan` (from draw_augmentation) says.

    `images` is left as it is; the result is a new array, or `out`. `workspace` (a
    layers.Workspace, used by one thread at a time) keeps the intermediates from call to call.
    """
    n = images.shape[0]
    if plan.stroke is not None:
        images = vary_stroke_width(xp, images, plan.stroke, workspace=workspace)
    displacement = None if plan.field is None else elastic_field(xp, plan.field, workspace=workspace)
    images = random_affine(xp, images, plan.affine, shear=plan.shear, displacement=displacement,
                           workspace=workspace, out=out)
    if plan.stroke is not None:
        # Thinning dims thin strokes and resampling softens them; the page stretches every drawing's contrast
        # so that its darkest ink is 255 (mnist_core.preprocess), so the digits shown in training do too.
        peak = images.reshape(n, -1).max(axis=1).reshape(n, 1, 1)
        images /= xp.maximum(peak, np.float32(1e-3))   # random_affine's new array (or `out`)
    return images


def augment_batch(xp, images, rng, config, workspace=None):
    """The training augmentation of one batch: float images (N, 28, 28) in [0, 1] on `xp` -> augmented, same shape.

    draw_augmentation's plan from `rng` (the batch's own generator) and `config`, applied by
    apply_augmentation; `images` itself when `config.augment` is off.
    """
    plan = draw_augmentation(rng, images.shape[0], config)
    if plan is None:
        return images
    return apply_augmentation(xp, images, plan, workspace=workspace)
