"""A stand-in for CuPy on machines without a GPU, strict where CuPy is strict, counting transfers.

It is NumPy underneath, but its arrays are a `DeviceArray` type that, like CuPy's:
  - stays on the "device": every `fake.xyz(...)` result and every operator result is a DeviceArray;
  - comes back to the host only through `.get()`;
  - refuses to be mixed with a host (NumPy) array in an operation or an `xp` call (CuPy raises
    TypeError there rather than copying silently).
Every host-to-device copy (`asarray`/`array` of host data) and device-to-host copy (`.get()`)
is recorded in `transfers`, so tests can check that data crosses once per run, not per batch.

What it cannot catch: `np.asarray(device_array)` (a NumPy subclass converts silently), and
anything about real GPU speed or numerics.
"""

import types

import numpy as np


class DeviceArray(np.ndarray):
    transfers = None  # set by make_fake_cupy: the list transfers are recorded in

    def get(self):
        host = np.array(self.view(np.ndarray))
        DeviceArray.transfers.append(("to_host", host.dtype, host.shape))
        return host

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _refuse_host_arrays(ufunc.__name__, inputs)
        inputs = tuple(_unwrap(v) for v in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(_unwrap(v) for v in kwargs["out"])
        return _wrap(getattr(ufunc, method)(*inputs, **kwargs))


def _is_host_array(value):
    return type(value) is np.ndarray and value.ndim > 0


def _refuse_host_arrays(name, values):
    if any(_is_host_array(v) for v in values):
        raise TypeError(f"fake cupy: {name}() was given a NumPy (host) array; move it to the device first")


def _unwrap(value):
    return value.view(np.ndarray) if isinstance(value, DeviceArray) else value


def _wrap(value):
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, np.ndarray) and not isinstance(value, DeviceArray):
        return value.view(DeviceArray)
    if isinstance(value, np.generic):  # CuPy reductions give 0-d device arrays, not host scalars
        return np.asarray(value).view(DeviceArray)
    return value


def make_fake_cupy():
    """A fresh fake `cupy` module and its transfer log."""
    transfers = []
    DeviceArray.transfers = transfers
    module = types.ModuleType("cupy")
    module.transfers = transfers
    module.ndarray = DeviceArray
    module.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))

    def to_device(value, *args, **kwargs):
        if not isinstance(value, DeviceArray):
            host = np.asarray(value)
            transfers.append(("to_device", host.dtype, host.shape))
        return _wrap(np.asarray(_unwrap(value), *args, **kwargs))

    module.asarray = module.array = to_device

    def passthrough(name):
        function = getattr(np, name)

        def call(*args, **kwargs):
            _refuse_host_arrays(name, [*args, *kwargs.values()])
            return _wrap(function(*(_unwrap(a) for a in args), **{k: _unwrap(v) for k, v in kwargs.items()}))
        return call

    def module_getattr(name):
        value = getattr(np, name)
        if callable(value) and not isinstance(value, type):
            return passthrough(name)
        return value  # dtypes and constants

    module.__getattr__ = module_getattr
    return module
