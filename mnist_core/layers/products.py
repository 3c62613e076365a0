"""The layers' matrix product, in the formulation that is fastest where the code runs.

Natively (and on CuPy) `a @ b` calls BLAS. NumPy in Pyodide (WebAssembly) has no BLAS: `@` falls
back to a plain loop, while `einsum`'s float32 sum-of-products loop runs two to four times
faster there, transposed views included (measured under Node on the 2-core machine, machine busy,
500 images: the FC layer's forward product 267 -> 123 ms, its weight gradient 706 -> 133 ms, the
CNN's second convolution 308 -> 109 ms). The choice is made once, at import, from the platform.
"""

import sys

IN_WEBASSEMBLY = sys.platform == "emscripten"


def _blas_matmul(xp, a, b, out=None):
    """a (M, K) @ b (K, N) -> (M, N) through BLAS (into `out` when given); either may be a transposed view."""
    return a @ b if out is None else xp.matmul(a, b, out=out)


def _einsum_matmul(xp, a, b, out=None):
    """a (M, K) @ b (K, N) -> (M, N) through einsum's loops (into `out` when given); either may be a transposed view."""
    return xp.einsum("ij,jk->ik", a, b, out=out)


matmul = _einsum_matmul if IN_WEBASSEMBLY else _blas_matmul
