"""The layers' matrix product, in the formulation that is fastest where the code runs.

Natively (and on CuPy) `a @ b` calls BLAS. NumPy in Pyodide (WebAssembly) has no BLAS: `@` falls
back to a plain loop, while `einsum`'s float32 sum-of-products loop is several times faster there,
transposed views included (`bench/bench_pyodide.py` compares them; docs/benchmarks.md has the
figures). The choice is made once, at import.
"""

from ..backend import IN_WEBASSEMBLY


def _blas_matmul(xp, a, b, out=None):
    """a (M, K) @ b (K, N) -> (M, N) through BLAS (into `out` when given); either may be a transposed view."""
    return a @ b if out is None else xp.matmul(a, b, out=out)


def _einsum_matmul(xp, a, b, out=None):
    """a (M, K) @ b (K, N) -> (M, N) through einsum's loops (into `out` when given); either may be a transposed view."""
    return xp.einsum("ij,jk->ik", a, b, out=out)


matmul = _einsum_matmul if IN_WEBASSEMBLY else _blas_matmul
