"""3x3 convolution (cross-correlation), stride 1, zero padding 1, via im2col; and a per-channel bias.

Feature maps are laid out (C, H, W, N): channel outermost, batch innermost. Every shifted
window of a row is then one contiguous run of W*N numbers, so building the im2col matrix is
nine large block copies, and the convolution itself is one matrix product,
(Cout, 9*Cin) @ (9*Cin, H*W*N), which is where BLAS (or cuBLAS) does the work. The kernel is
kept in the reference's layout, (out, in, kh, kw).

The bias is a layer of its own so that a network can add it after max pooling: pooling
commutes with adding a per-channel constant, and the pooled map is four times smaller.

Every large array here (the im2col matrix, the output, the gradient columns) can come from a
`Workspace` (workspace.py): with 1,000 images they are 25 to 56 MB each, and reusing them saves
faulting fresh pages in on every batch.
"""

from .products import matmul
from .workspace import scratch


def _kernel_matrix(kernel):
    """(out, in, 3, 3) -> (out, 9*in), columns ordered (ky, kx, in) to match the im2col rows."""
    out_ch, in_ch = kernel.shape[:2]
    return kernel.transpose(0, 2, 3, 1).reshape(out_ch, 9 * in_ch)


def _shifts(h, w):
    """For each kernel tap (ky, kx): the output window and the input window it reads, as slices.

    Output pixel (y, x) reads input (y + ky - 1, x + kx - 1); rows and columns that would read
    the zero padding are left out of both windows (and zeroed or skipped by the caller).
    """
    for ky in range(3):
        for kx in range(3):
            out_y = slice(max(0, 1 - ky), min(h, h + 1 - ky))
            out_x = slice(max(0, 1 - kx), min(w, w + 1 - kx))
            in_y = slice(out_y.start + ky - 1, out_y.stop + ky - 1)
            in_x = slice(out_x.start + kx - 1, out_x.stop + kx - 1)
            yield ky, kx, (out_y, out_x), (in_y, in_x)


def im2col3x3(xp, x, out=None):
    """x (C, H, W, N) -> columns (9*C, H*W*N): row (ky, kx, c) is channel c shifted by (ky-1, kx-1).

    `out`, when given, is a C-contiguous (9*C, H*W*N) array to fill.
    """
    c, h, w, n = x.shape
    cols = xp.empty((3, 3, c, h, w, n), dtype=x.dtype) if out is None else out.reshape(3, 3, c, h, w, n)
    for ky, kx, (out_y, out_x), (in_y, in_x) in _shifts(h, w):
        tap = cols[ky, kx]
        tap[:, out_y, out_x] = x[:, in_y, in_x]
        # The one row and one column that fall on the padding.
        if out_y.start:
            tap[:, :out_y.start] = 0
        if out_y.stop < h:
            tap[:, out_y.stop:] = 0
        if out_x.start:
            tap[:, :, :out_x.start] = 0
        if out_x.stop < w:
            tap[:, :, out_x.stop:] = 0
    return cols.reshape(9 * c, h * w * n)


def col2im3x3(xp, cols, shape, out=None):
    """The adjoint of im2col3x3: scatter-add columns (9*C, H*W*N) back into x's shape (C, H, W, N)
    (into `out` when given)."""
    c, h, w, n = shape
    cols = cols.reshape(3, 3, c, h, w, n)
    if out is None:
        x = cols[1, 1].copy()  # the centre tap covers every pixel
    else:
        x = out
        x[...] = cols[1, 1]
    for ky, kx, (out_y, out_x), (in_y, in_x) in _shifts(h, w):
        if (ky, kx) != (1, 1):
            x[:, in_y, in_x] += cols[ky, kx][:, out_y, out_x]
    return x


def conv3x3_forward(xp, x, kernel, workspace=None):
    """x (Cin, H, W, N), kernel (Cout, Cin, 3, 3) -> y (Cout, H, W, N) and the cache for backward."""
    in_ch, h, w, n = x.shape
    out_ch = kernel.shape[0]
    cols = im2col3x3(xp, x, out=scratch(xp, workspace, "cols", (9 * in_ch, h * w * n), x.dtype))
    y = matmul(xp, _kernel_matrix(kernel), cols,
               out=scratch(xp, workspace, "y", (out_ch, h * w * n), x.dtype))         # (Cout, H*W*N)
    return y.reshape(out_ch, h, w, n), (cols, kernel, x.shape)


def conv3x3_backward(xp, dy, cache, need_dx=True, workspace=None):
    """dy (Cout, H, W, N) -> (dx (Cin, H, W, N) or None, dkernel (Cout, Cin, 3, 3)).

    The first convolution never needs dx (the gradient wrt the pixels): skipping it saves the
    largest col2im of the network.
    """
    cols, kernel, x_shape = cache
    out_ch, in_ch = kernel.shape[:2]
    dy_flat = dy.reshape(out_ch, -1)             # (Cout, H*W*N)
    dkmat = matmul(xp, dy_flat, cols.T)          # (Cout, 9*Cin)
    dkernel = xp.ascontiguousarray(dkmat.reshape(out_ch, 3, 3, in_ch).transpose(0, 3, 1, 2))
    dx = None
    if need_dx:
        dcols = matmul(xp, _kernel_matrix(kernel).T, dy_flat,
                       out=scratch(xp, workspace, "dcols", cols.shape, dy.dtype))     # (9*Cin, H*W*N)
        dx = col2im3x3(xp, dcols, x_shape, out=scratch(xp, workspace, "dx", x_shape, dy.dtype))
    return dx, dkernel


def channel_bias_forward(xp, x, bias):
    """x (C, H, W, N) + bias (C,) broadcast over every pixel, as a new array (x may be another
    layer's cache); returns (y, None)."""
    return x + bias.reshape(-1, 1, 1, 1), None


def channel_bias_backward(xp, dy):
    """The bias gradient: dy (C, H, W, N) summed over everything but the channel -> (C,)."""
    return dy.reshape(dy.shape[0], -1).sum(axis=1)
