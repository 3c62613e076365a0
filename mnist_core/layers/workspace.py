"""Scratch arrays that a model's kernels reuse from one batch to the next.

A fresh array of a few megabytes is expensive on a CPU: the allocator hands large blocks back
to the operating system when they are freed, and the next batch's block comes back as new
pages that the kernel faults in and zeroes. One CNN training step of 1,000 images allocates
about 250 MB of such arrays (im2col matrices of 28 and 56 MB among them), and faulting them in
is a large share of the step. A `Workspace` keeps each
of those arrays alive and hands the same one back for the next batch of the same shape.

The price is aliasing: an array from a workspace is overwritten by the next call that asks for
it, so a forward pass's outputs and cache are valid only until the next forward pass that uses
the same workspace. Kernels therefore take `workspace=None` (fresh arrays, no aliasing) by
default and only a model, which knows its forward/backward order, passes one.
"""


class Workspace:
    """Named arrays on one array module `xp`, reallocated only when the requested shape or dtype changes."""

    def __init__(self, xp):
        self.xp = xp
        self._arrays = {}

    def array(self, name, shape, dtype, zeroed=False):
        """A C-contiguous array of `shape` and `dtype`, the same one every time for `name`: uninitialised, or with
        `zeroed` filled with zeros when it is made (a caller that never writes some of its elements, such
        as a zero border, finds them still zero next time)."""
        shape = tuple(shape)
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            self._arrays.pop(name, None)  # free the old one before allocating its replacement
            make = self.xp.zeros if zeroed else self.xp.empty
            array = self._arrays[name] = make(shape, dtype=dtype)
        return array

    def scope(self, prefix):
        """The same workspace seen by one layer: its names are prefixed, so two layers never share an array."""
        return _Scope(self, prefix)

    def clear(self):
        """Drop every array (the memory goes back to the allocator)."""
        self._arrays.clear()

    @property
    def nbytes(self):
        """Bytes held."""
        return sum(a.nbytes for a in self._arrays.values())


class _Scope:
    def __init__(self, workspace, prefix):
        self._workspace, self._prefix = workspace, prefix

    def array(self, name, shape, dtype, zeroed=False):
        return self._workspace.array(f"{self._prefix}.{name}", shape, dtype, zeroed)


def scratch(xp, workspace, name, shape, dtype, zeroed=False):
    """`workspace.array(name, ...)`, or a fresh `xp.empty` (`xp.zeros` if `zeroed`) without a workspace."""
    if workspace is None:
        return (xp.zeros if zeroed else xp.empty)(shape, dtype=dtype)
    return workspace.array(name, shape, dtype, zeroed)
