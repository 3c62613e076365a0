"""2x2 max pooling with stride 2 on (C, H, W, N) feature maps (see conv.py for the layout).

The forward pass records which of the four positions won each window (0 to 3, one byte per
output value), so that the backward pass is four masked copies that write every input
position exactly once: no zero-filled gradient array, no comparisons against the input, and
the input itself need not be kept.
"""

from .workspace import scratch


def _quadrants(x):
    """The four 2x2-window positions of x (C, H, W, N) as strided views, each (C, H/2, W/2, N).

    With the batch innermost, each view is a set of contiguous runs of N numbers, which is what
    keeps these elementwise passes fast.
    """
    return (x[:, 0::2, 0::2, :], x[:, 0::2, 1::2, :], x[:, 1::2, 0::2, :], x[:, 1::2, 1::2, :])


def maxpool2x2_forward(xp, x, workspace=None):
    """x (C, H, W, N) with even H and W -> y (C, H/2, W/2, N) and the cache for backward.

    Ties go to the first position in (top-left, top-right, bottom-left, bottom-right) order, so
    that the gradient is that of one well-defined function (as PyTorch does): MNIST's blank
    background makes whole windows of equal values common.
    """
    c, h, w, n = x.shape
    pooled_shape = (c, h // 2, w // 2, n)
    first, second, *rest = _quadrants(x)
    y = xp.maximum(first, second, out=scratch(xp, workspace, "y", pooled_shape, x.dtype))
    winner = xp.greater(second, first, out=scratch(xp, workspace, "winner", pooled_shape, bool)).view(xp.uint8)
    for position, part in enumerate(rest, start=2):
        beats = xp.greater(part, y)            # strictly greater: an equal later value does not take the window
        xp.maximum(y, part, out=y)
        winner += beats * (position - winner)  # uint8: winner < position, so no wrap-around
    return y, (winner, x.shape)


def maxpool2x2_backward(xp, dy, cache, workspace=None):
    """dy (C, H/2, W/2, N) -> dx (C, H, W, N): each window's gradient at the position that won it, zero elsewhere."""
    winner, x_shape = cache
    dx = scratch(xp, workspace, "dx", x_shape, dy.dtype)
    for position, dx_part in enumerate(_quadrants(dx)):
        xp.multiply(dy, winner == position, out=dx_part)
    return dx
