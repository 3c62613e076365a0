"""Fully connected layer, y = x @ W.T + b, with W stored (out, in) as in ggml and PyTorch."""


def dense_forward(xp, x, weight, bias):
    """x (N, in), weight (out, in), bias (out,) -> y (N, out) and the cache for backward."""
    y = x @ weight.T
    y += bias
    return y, (x, weight)


def dense_backward(xp, dy, cache, need_dx=True):
    """dy (N, out) -> (dx (N, in) or None, dweight (out, in), dbias (out,)).

    The first layer of a network never needs dx (it would be the gradient wrt the pixels),
    and skipping it saves a third of that layer's work.
    """
    x, weight = cache
    dweight = dy.T @ x
    dbias = dy.sum(axis=0)
    dx = dy @ weight if need_dx else None
    return dx, dweight, dbias
