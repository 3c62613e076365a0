"""Fully connected layer, y = x @ W.T + b, with W stored (out, in) as in ggml and PyTorch."""

from .activations import bias_relu_forward
from .products import matmul


def dense_forward(xp, x, weight, bias, relu=False, out=None):
    """x (N, in), weight (out, in), bias (out,) -> y (N, out) and the cache for backward.

    With `relu`, y is relu(x @ weight.T + bias), the bias and ReLU in one pass (one fused kernel
    on CuPy); y is then also ReLU's cache for relu_backward. `out` (N, out) receives y if given.
    """
    y = matmul(xp, x, weight.T, out=out)
    if relu:
        bias_relu_forward(xp, y, bias, out=y)
    else:
        y += bias
    return y, (x, weight)


def dense_backward(xp, dy, cache, need_dx=True, dx_out=None):
    """dy (N, out) -> (dx (N, in) or None, dweight (out, in), dbias (out,)); dx into `dx_out` if given.

    The first layer of a network never needs dx (it would be the gradient wrt the pixels),
    and skipping it saves a third of that layer's work.
    """
    x, weight = cache
    dweight = matmul(xp, dy.T, x)
    dbias = dy.sum(axis=0)
    dx = matmul(xp, dy, weight, out=dx_out) if need_dx else None
    return dx, dweight, dbias
