"""The one place that knows devices and runtimes: the array module (`xp`), host or GPU, Pyodide or not.

Kernels take `xp` as an argument and never import NumPy or CuPy themselves. CuPy is imported
only inside `get_array_module("cupy")`, so the NumPy path never pays for it. The few element-wise
kernels that CuPy can fuse into one GPU pass (bias + ReLU, AdamW) ask `fused_kernel` for one and
fall back to plain `xp` code when it says None: on NumPy, in Pyodide and on the CuPy stand-in.
Every other module that must act differently on a GPU, in WebAssembly or with threads asks a
question here (`is_host`, `batch_slice`, `cpu_threads`, `can_start_threads`, `IN_WEBASSEMBLY`)
rather than looking for itself.
"""

import contextlib
import os
import sys

import numpy as np

from .errors import BackendUnavailableError

BACKENDS = ("numpy", "cupy")

# Pyodide runs CPython compiled to WebAssembly: no threads, and a NumPy without BLAS.
IN_WEBASSEMBLY = sys.platform == "emscripten"

CUPY_INSTALL_HINT = (
    "install it with `pip install mnist-core[cupy]` (CUDA 12) or the cupy-cudaXXx wheel "
    "that matches your CUDA version"
)


def get_array_module(name="numpy"):
    """Return the array module for backend `name` ("numpy" or "cupy")."""
    if name == "numpy":
        return np
    if name == "cupy":
        try:
            import cupy
        except ImportError:
            raise BackendUnavailableError(f"backend 'cupy': CuPy is not installed; {CUPY_INSTALL_HINT}") from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDA driver missing or broken: CuPy raises its own runtime errors
            raise BackendUnavailableError(f"backend 'cupy': no usable CUDA GPU ({exc}); {CUPY_INSTALL_HINT}") from None
        if count < 1:
            raise BackendUnavailableError(f"backend 'cupy': no CUDA GPU is visible; {CUPY_INSTALL_HINT}")
        return cupy
    raise BackendUnavailableError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")


def to_host(array):
    """Copy an `xp` array to a NumPy array (a no-op for NumPy arrays)."""
    if type(array) is np.ndarray:
        return array
    get = getattr(array, "get", None)  # CuPy arrays copy themselves back with .get()
    return get() if get is not None else np.asarray(array)


def to_device(xp, array):
    """Move a NumPy array onto the backend `xp` (a no-op for NumPy)."""
    if xp is np:
        return array
    return xp.asarray(array)


def is_host(xp):
    """True when `xp` computes on the host (NumPy): reading a result back costs nothing and
    waits for nothing, so per-batch figures can be read as they come."""
    return xp is np


def take_unchecked(xp, flat, index, out):
    """out[...] = flat[index] for indices known to be in range. NumPy's take checks the bounds in a pass of its
    own unless told the indices wrap (they never need to here); CuPy's take checks nothing and has no mode."""
    if xp is np:
        return np.take(flat, index, out=out, mode="wrap")
    return xp.take(flat, index, out=out)


def synchronize(xp):
    """Wait until the device has finished the work queued so far (a no-op on the host), e.g. before reading a clock."""
    cuda = getattr(xp, "cuda", None)
    stream = getattr(cuda, "get_current_stream", None)  # real CuPy only; the stand-in runs eagerly
    if stream is not None:
        stream().synchronize()


_FUSED_KERNELS = {}


def fused_kernel(xp, name, in_params, out_params, operation):
    """A CuPy ElementwiseKernel doing `operation` in one pass, compiled once per name; None unless `xp` is CuPy.

    The parameters are CuPy's: `in_params` / `out_params` like "T x, T bias" / "T y" (T takes the
    arrays' dtype, arrays broadcast), `operation` one CUDA C statement per element.
    """
    factory = getattr(xp, "ElementwiseKernel", None)  # real CuPy only: not NumPy, not the stand-in
    if factory is None:
        return None
    key = (id(xp), name)
    kernel = _FUSED_KERNELS.get(key)
    if kernel is None:
        kernel = _FUSED_KERNELS[key] = factory(in_params, out_params, operation, f"mnist_core_{name}")
    return kernel


def batch_slice(xp, host_size):
    """How many images one slice of a batch takes: `host_size` on the host, where slices that fit a CPU's caches
    (and that threads take at once) are faster; None, the whole batch, on a GPU, which is busiest with the most."""
    return host_size if is_host(xp) else None


def can_start_threads():
    """False in Pyodide (WebAssembly in a browser), which has no threads to start."""
    return not IN_WEBASSEMBLY


def cpu_threads(xp, wanted=0):
    """Threads that may take slices of a step at once: `wanted` (0: one per core) on the host, 1 on a GPU (its
    own parallelism does the work) and where no thread can start."""
    if not is_host(xp) or not can_start_threads():
        return 1
    return max(1, wanted or os.cpu_count() or 1)


@contextlib.contextmanager
def limit_blas_threads(n):
    """Within the block, NumPy's BLAS uses at most `n` threads; yields whether it could be limited.

    Threads of our own that each call BLAS (the trainer's slices) would otherwise compete with
    BLAS's own threads, whose products synchronise hundreds of times each and slow down many
    times over when the cores are shared. threadpoolctl (the training extra) does the limiting;
    without it, or without a BLAS it knows (Pyodide has none), nothing is limited.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield False
        return
    with threadpool_limits(limits=n, user_api="blas") as limiter:
        yield bool(limiter.get_original_num_threads().get("blas"))
