"""ReLU, alone and fused with the bias add before it."""

from ..backend import fused_kernel


def relu_forward(xp, x, out=None):
    """max(x, 0) elementwise; the output itself is the cache (its positive entries are the mask)."""
    y = xp.maximum(x, x.dtype.type(0), out=out)
    return y, y


def relu_backward(xp, dy, cache, out=None, mask=None):
    """Pass the gradient where the forward output was positive; `out=dy` overwrites dy in place. `mask`,
    an array shaped and typed like dy, is scratch space for the mask (else a new one is made)."""
    y = cache
    # A float mask: NumPy multiplies float32 by float32 about twice as fast as by bool.
    mask = (y > 0).astype(dy.dtype) if mask is None else xp.greater(y, 0, out=mask)
    return xp.multiply(dy, mask, out=out)


def bias_relu_forward(xp, x, bias, out=None):
    """max(x + bias, 0), bias broadcast against x (e.g. (C, 1, 1, 1) for (C, H, W, N) maps, (K,) for
    (N, K) rows); `out=x` works in place. Returns (y, y): the output is ReLU's cache as in relu_forward.

    On CuPy one fused kernel reads x once and writes y once; elsewhere it is two passes.
    """
    kernel = fused_kernel(xp, "bias_relu", "T x, T bias", "T y", "y = max(x + bias, (T)0)")
    if kernel is not None:
        y = kernel(x, bias) if out is None else kernel(x, bias, out)
        return y, y
    y = xp.add(x, bias, out=out)
    return relu_forward(xp, y, out=y)
