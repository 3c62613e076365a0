"""Training augmentation for batches of 28x28 images, vectorised over the batch, written against `xp`.

MNIST digits vary in slant, size and position; drawn digits vary more, and differently: strokes
of one width, thinner than MNIST's pen, straight pieces and sharp turns (see redraw.py). Each
training batch goes through, in order:

  redraw        a share of the images replaced by the same digits drawn again as pen strokes
                (precomputed per run by redraw.redraw_bank; passed in as `redrawn`)
  stroke width  ink thickened or thinned by a random fraction of a pixel (a blend with the
                image's 3x3 cross-shaped grey dilation or erosion)
  warp          one bilinear resampling through a random affine map (rotation, scale, shear,
                shift) plus an elastic displacement field (Simard et al. 2003), drawn at 4x4 and
                interpolated to 28x28, so that the costlier field costs one small product

Random numbers are drawn on the host from the batch's own generator, so a batch's images depend
only on that generator, whichever thread prepares them; the pixel work runs on `xp`.
"""

import numpy as np

IMAGE_SIZE = 28
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


def _interpolation_matrix(xp):
    """(28, 4) weights that interpolate 4 grid values (at the image's corners and thirds) linearly to 28 pixels."""
    grid = np.linspace(0, IMAGE_SIZE - 1, FIELD_SIZE)
    pixels = np.arange(IMAGE_SIZE)[:, None]
    spacing = grid[1] - grid[0]
    weights = np.clip(1 - np.abs(pixels - grid[None, :]) / spacing, 0, None)
    return xp.asarray(weights.astype(np.float32))


def elastic_field(xp, field):
    """Grid displacements (N, 2, 4, 4) -> per-pixel displacements (N, 2, 28, 28) on xp.

    W field W.T for every field, as two large products (along x, then along y) rather than one
    einsum, which NumPy runs as a slow loop (32 ms -> a few ms for 1,000 images).
    """
    weights = _interpolation_matrix(xp)                                    # (28, 4)
    field = xp.asarray(field, dtype=np.float32)
    n = field.shape[0]
    along_x = field.reshape(-1, FIELD_SIZE) @ weights.T                    # (N*2*4 grid y, 28 x)
    along_x = along_x.reshape(n * 2, FIELD_SIZE, IMAGE_SIZE).transpose(0, 2, 1)  # (N*2, 28 x, 4 grid y)
    full = along_x.reshape(-1, FIELD_SIZE) @ weights.T                     # (N*2*28 x, 28 y)
    return full.reshape(n, 2, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 1, 3, 2)  # (N, 2, 28 y, 28 x)


def random_affine(xp, images, params, shear=None, displacement=None):
    """Warp float images (N, 28, 28) by per-image affine `params` (N, 4) with bilinear sampling.

    `shear` (N,) adds a horizontal shear, `displacement` (N, 2, 28, 28) an elastic field (dy, dx)
    added to every output pixel's source position. Each output pixel samples the input at the
    inverse-transformed position; positions outside the image read zero (background).
    """
    n = images.shape[0]
    row = IMAGE_SIZE + 2  # width of the zero-bordered copy
    params = xp.asarray(params, dtype=np.float32)
    angle, scale, shift_x, shift_y = (params[:, i].reshape(n, 1, 1) for i in range(4))
    coords = xp.arange(IMAGE_SIZE, dtype=np.float32) - np.float32(CENTRE)
    out_y, out_x = coords.reshape(1, -1, 1), coords.reshape(1, 1, -1)
    cos, sin = xp.cos(angle) / scale, xp.sin(angle) / scale
    if shear is not None:
        out_x = out_x - xp.asarray(shear, dtype=np.float32).reshape(n, 1, 1) * out_y   # (N, 28, 28)
    # Source position of every output pixel, shifted by +1 into the bordered copy.
    src_x = cos * out_x + sin * out_y + np.float32(CENTRE + 1) - shift_x
    src_y = -sin * out_x + cos * out_y + np.float32(CENTRE + 1) - shift_y
    if displacement is not None:
        src_y = src_y + displacement[:, 0]
        src_x = src_x + displacement[:, 1]
    # Clipped onto the border, so that positions outside the image read exactly zero.
    src_x = xp.clip(src_x, 0, IMAGE_SIZE + 1)
    src_y = xp.clip(src_y, 0, IMAGE_SIZE + 1)
    # The top-left neighbour, kept one short of the last border row/column so that its
    # right/bottom neighbour exists (the weight then moves wholly onto that neighbour).
    x0, y0 = xp.minimum(xp.floor(src_x), IMAGE_SIZE), xp.minimum(xp.floor(src_y), IMAGE_SIZE)
    fx, fy = src_x - x0, src_y - y0                                       # (N, 28, 28) float32
    index = (y0 * row + x0).astype(np.int32) + (xp.arange(n, dtype=np.int32) * row * row).reshape(n, 1, 1)
    padded = xp.zeros((n, row, row), dtype=np.float32)
    padded[:, 1:-1, 1:-1] = images
    corners = padded.reshape(-1)[index[None] + xp.asarray([0, 1, row, row + 1], dtype=np.int32).reshape(4, 1, 1, 1)]
    top = corners[0] + fx * (corners[1] - corners[0])
    bottom = corners[2] + fx * (corners[3] - corners[2])
    return top + fy * (bottom - top)


def vary_stroke_width(xp, images, amounts):
    """Thicken (amount > 0) or thin (amount < 0) the ink of float images (N, 28, 28) by |amount| in [0, 1].

    The image is blended with its grey dilation (or erosion) by a 3x3 cross: amount 1 grows (or
    shrinks) every stroke by a pixel on each side, fractions by a share of that.
    """
    n = images.shape[0]
    padded = xp.zeros((n, IMAGE_SIZE + 2, IMAGE_SIZE + 2), dtype=images.dtype)
    padded[:, 1:-1, 1:-1] = images
    shifted = (padded[:, :-2, 1:-1], padded[:, 2:, 1:-1], padded[:, 1:-1, :-2], padded[:, 1:-1, 2:])
    dilated, eroded = images.copy(), images.copy()
    for neighbour in shifted:
        xp.maximum(dilated, neighbour, out=dilated)
        xp.minimum(eroded, neighbour, out=eroded)
    amounts = xp.asarray(amounts, dtype=images.dtype).reshape(n, 1, 1)
    target = xp.where(amounts > 0, dilated, eroded)
    return images + xp.abs(amounts) * (target - images)


def augment_batch(xp, images, rng, config, redrawn=None):
    """The training augmentation of one batch: float images (N, 28, 28) in [0, 1] on `xp` -> augmented, same shape.

    `redrawn` (N, 28, 28) uint8 on `xp` holds the same digits drawn as pen strokes (or None).
    Every random number comes from `rng`, the batch's own generator. `config` is the run's
    TrainConfig: `augment` switches it all, `redraw` (share of images redrawn), `stroke_width`
    (largest change, pixels of a side), `shear` and `elastic` (pixels) the drawn-digit parts.
    """
    if not config.augment:
        return images
    n = images.shape[0]
    redraw = getattr(config, "redraw", 0.0)
    if redraw > 0 and redrawn is not None:
        chosen = xp.asarray(rng.random(n) < redraw).reshape(n, 1, 1)
        images = xp.where(chosen, redrawn.astype(np.float32) * np.float32(1 / 255), images)
    width = getattr(config, "stroke_width", 0.0)
    if width > 0:
        images = vary_stroke_width(xp, images, rng.uniform(-width, width, n))
    params = random_affine_params(rng, n)
    shear = getattr(config, "shear", 0.0)
    elastic = getattr(config, "elastic", 0.0)
    shear_factors = random_shear(rng, n, shear) if shear > 0 else None
    displacement = elastic_field(xp, random_elastic_field(rng, n, elastic)) if elastic > 0 else None
    images = random_affine(xp, images, params, shear=shear_factors, displacement=displacement)
    if width > 0 or redraw > 0:
        # Thinning dims thin strokes and resampling softens them; the page stretches every drawing's contrast
        # so that its darkest ink is 255 (mnist_core.preprocess), so the digits shown in training do too.
        peak = images.reshape(n, -1).max(axis=1).reshape(n, 1, 1)
        images = images / xp.maximum(peak, np.float32(1e-3))
    return images
