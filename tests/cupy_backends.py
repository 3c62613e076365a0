"""The CuPy modules the CuPy-path tests run on: the strict stand-in (tests/fake_cupy.py) everywhere,
and real CuPy where it imports and sees a CUDA GPU (scripts/gpu-check.sh runs those with `-m gpu`).

Test modules import the fixture: `from cupy_backends import cupy_backend  # noqa: F401`.
"""

import sys

import pytest

from mnist_core import backend

_REAL_CUPY = []


def real_cupy():
    """The `cupy` module when it imports and a CUDA GPU is visible, else None (decided once per session)."""
    if not _REAL_CUPY:
        try:
            import cupy
            module = cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
        except Exception:  # not installed, or no driver / no GPU: CuPy raises its own runtime errors
            module = None
        _REAL_CUPY.append(module)
    return _REAL_CUPY[0]


@pytest.fixture(params=["stand-in", pytest.param("cupy", marks=pytest.mark.gpu)])
def cupy_backend(request, monkeypatch):
    """(module, transfers): what get_array_module("cupy") returns, and the stand-in's transfer log
    (None on real CuPy, which counts nothing)."""
    if request.param == "cupy":
        module = real_cupy()
        if module is None:
            pytest.skip("real CuPy with a CUDA GPU is not available on this machine")
        assert backend.get_array_module("cupy") is module
        return module, None
    from fake_cupy import make_fake_cupy
    module = make_fake_cupy()
    monkeypatch.setitem(sys.modules, "cupy", module)
    assert backend.get_array_module("cupy") is module
    return module, module.transfers
