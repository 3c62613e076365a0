"""The one place that chooses the array module (`xp`): NumPy by default, CuPy when asked for.

Kernels take `xp` as an argument and never import NumPy or CuPy themselves. CuPy is imported
only inside `get_array_module("cupy")`, so the NumPy path never pays for it.
"""

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
