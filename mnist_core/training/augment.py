"""Random affine augmentation (rotation, scale, shift) for batches of 28x28 images, vectorised over the batch.

MNIST digits vary in slant, size and position; showing the network slightly rotated, scaled
and shifted copies makes it generalise better with the same architecture.
"""

import numpy as np

IMAGE_SIZE = 28
CENTRE = (IMAGE_SIZE - 1) / 2


def random_affine_params(rng, n, max_degrees=10.0, max_scale=0.1, max_shift=2.0):
    """Draw n sets of (angle in radians, scale, shift_x, shift_y) on the host; each row one image."""
    angle = np.deg2rad(rng.uniform(-max_degrees, max_degrees, n))
    scale = rng.uniform(1 - max_scale, 1 + max_scale, n)
    shift = rng.uniform(-max_shift, max_shift, (n, 2))
    return np.stack([angle, scale, shift[:, 0], shift[:, 1]], axis=1).astype(np.float32)


def random_affine(xp, images, params):
    """Warp float images (N, 28, 28) by per-image affine `params` (N, 4) with bilinear sampling.

    Each output pixel samples the input at the inverse-transformed position; positions outside
    the image read zero (background).
    """
    n = images.shape[0]
    params = xp.asarray(params)
    angle, scale, shift_x, shift_y = (params[:, i].reshape(n, 1, 1) for i in range(4))
    coords = xp.arange(IMAGE_SIZE, dtype=np.float32) - np.float32(CENTRE)
    out_y, out_x = coords.reshape(1, -1, 1), coords.reshape(1, 1, -1)
    cos, sin = xp.cos(angle) / scale, xp.sin(angle) / scale
    src_x = cos * out_x + sin * out_y + np.float32(CENTRE) - shift_x    # (N, 28, 28)
    src_y = -sin * out_x + cos * out_y + np.float32(CENTRE) - shift_y
    # A one-pixel zero border lets every neighbour index be clipped into range and still read 0.
    padded = xp.zeros((n, IMAGE_SIZE + 2, IMAGE_SIZE + 2), dtype=images.dtype)
    padded[:, 1:-1, 1:-1] = images
    src_x = xp.clip(src_x, -1, IMAGE_SIZE) + 1
    src_y = xp.clip(src_y, -1, IMAGE_SIZE) + 1
    x0 = xp.minimum(xp.floor(src_x), IMAGE_SIZE).astype(np.int32)
    y0 = xp.minimum(xp.floor(src_y), IMAGE_SIZE).astype(np.int32)
    fx, fy = src_x - x0, src_y - y0
    flat = padded.reshape(-1)
    base = (xp.arange(n, dtype=np.int32) * (IMAGE_SIZE + 2) ** 2).reshape(n, 1, 1) + y0 * (IMAGE_SIZE + 2) + x0
    top = flat[base] * (1 - fx) + flat[base + 1] * fx
    bottom = flat[base + IMAGE_SIZE + 2] * (1 - fx) + flat[base + IMAGE_SIZE + 3] * fx
    return (top * (1 - fy) + bottom * fy).astype(images.dtype, copy=False)
