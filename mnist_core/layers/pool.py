"""2x2 max pooling with stride 2 on (C, H, W, N) feature maps (see conv.py for the layout)."""


def _quadrants(x):
    """The four 2x2-window positions of x (C, H, W, N) as strided views, each (C, H/2, W/2, N).

    With the batch innermost, each view is a set of contiguous runs of N numbers, which is what
    keeps these elementwise passes fast.
    """
    return (x[:, 0::2, 0::2, :], x[:, 0::2, 1::2, :], x[:, 1::2, 0::2, :], x[:, 1::2, 1::2, :])


def maxpool2x2_forward(xp, x):
    """x (C, H, W, N) with even H and W -> y (C, H/2, W/2, N) and the cache for backward."""
    a, b, c, d = _quadrants(x)
    y = xp.maximum(a, b)
    xp.maximum(y, c, out=y)
    xp.maximum(y, d, out=y)
    return y, (x, y)


def maxpool2x2_backward(xp, dy, cache):
    """Route each window's gradient to its maximum; on ties only the first position gets it,
    so that the gradient is that of one well-defined function (as PyTorch does)."""
    x, y = cache
    dx = xp.zeros_like(x)
    unclaimed = xp.ones(y.shape, dtype=bool)
    for x_part, dx_part in zip(_quadrants(x), _quadrants(dx)):
        winner = (x_part == y) & unclaimed
        xp.multiply(dy, winner, out=dx_part)
        unclaimed &= ~winner
    return dx
