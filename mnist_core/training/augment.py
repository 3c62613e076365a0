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
    row = IMAGE_SIZE + 2  # width of the zero-bordered copy
    params = xp.asarray(params, dtype=np.float32)
    angle, scale, shift_x, shift_y = (params[:, i].reshape(n, 1, 1) for i in range(4))
    coords = xp.arange(IMAGE_SIZE, dtype=np.float32) - np.float32(CENTRE)
    out_y, out_x = coords.reshape(1, -1, 1), coords.reshape(1, 1, -1)
    cos, sin = xp.cos(angle) / scale, xp.sin(angle) / scale
    # Source position of every output pixel, shifted by +1 into the bordered copy and clipped
    # onto its border, so that positions outside the image read exactly zero.
    src_x = xp.clip(cos * out_x + sin * out_y + np.float32(CENTRE + 1) - shift_x, 0, IMAGE_SIZE + 1)
    src_y = xp.clip(-sin * out_x + cos * out_y + np.float32(CENTRE + 1) - shift_y, 0, IMAGE_SIZE + 1)
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
