"""The one place that chooses the array module (`xp`): NumPy by default, CuPy when asked for.

Kernels take `xp` as an argument and never import NumPy or CuPy themselves. CuPy is imported
only inside `get_array_module("cupy")`, so the NumPy path never pays for it. The few element-wise
kernels that CuPy can fuse into one GPU pass (bias + ReLU, AdamW) ask `fused_kernel` for one and
fall back to plain `xp` code when it says None: on NumPy, in Pyodide and on the CuPy stand-in.
On the host, `blas_threads` sets how many threads NumPy's BLAS may use (the trainer runs its own).
"""

import contextlib
import threading

import numpy as np

from .errors import BackendUnavailableError

BACKENDS = ("numpy", "cupy")

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


# OpenBLAS's thread-count functions, as NumPy's own wheels (scipy-openblas, 64-bit ints) and other builds name them.
_OPENBLAS_SETTERS = tuple(f"{prefix}_set_num_threads{suffix}"
                          for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "")))
_OPENBLAS_GETTERS = tuple(name.replace("_set_", "_get_") for name in _OPENBLAS_SETTERS)
_blas_lock = threading.Lock()
_blas_controls = []


def _openblas_controls():
    """(get, set) of the OpenBLAS loaded in this process, or None: found through /proc/self/maps (Linux), where
    NumPy's wheels load it; elsewhere (macOS's Accelerate, Pyodide without BLAS) there is nothing to set."""
    if not _blas_controls:
        import ctypes  # here: only a host trainer needs it
        found = None
        try:
            with open("/proc/self/maps") as maps:
                paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
        except OSError:
            paths = set()
        for path in sorted(paths):
            try:
                library = ctypes.CDLL(path)
            except OSError:
                continue
            getter = next((getattr(library, name) for name in _OPENBLAS_GETTERS if hasattr(library, name)), None)
            setter = next((getattr(library, name) for name in _OPENBLAS_SETTERS if hasattr(library, name)), None)
            if getter is not None and setter is not None:
                getter.restype, setter.argtypes = ctypes.c_int, [ctypes.c_int]
                found = (getter, setter)
                break
        _blas_controls.append(found)
    return _blas_controls[0]


@contextlib.contextmanager
def blas_threads(n):
    """Within the block, NumPy's BLAS (OpenBLAS) uses at most `n` threads, in the whole process; yields whether
    it could be set (False where NumPy's BLAS is not an OpenBLAS this can find).

    The trainer runs slices of a batch in threads of its own, each calling BLAS: OpenBLAS's own
    threads would then only compete with them, and its threaded products, which synchronise
    their threads hundreds of times per product, slow down many times over on a machine whose
    cores other programs are using.
    """
    controls = _openblas_controls()
    if controls is None:
        yield False
        return
    get, set_threads = controls
    with _blas_lock:
        previous = get()
        set_threads(n)
    try:
        yield True
    finally:
        with _blas_lock:
            set_threads(previous)
