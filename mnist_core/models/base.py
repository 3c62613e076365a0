"""What the two reference models share: parameters by GGUF name, input preparation, batched inference."""

import threading

import numpy as np

from ..backend import batch_slice, to_device, to_host
from ..layers import Workspace, softmax
from ..mnist import IMAGE_SIZE, N_PIXELS

INPUT_GRADIENT = "input"  # backward(..., input_grad=True) returns the gradient wrt the images under this key


class Model:
    """A model is its architecture name, its tensors (by GGUF name, in NumPy shapes) and an `xp`.

    Subclasses set `arch` and `tensor_shapes` and implement `forward(x)` -> (logits, cache),
    `backward(dlogits, cache, input_grad=False)` -> gradients keyed like `params` (and, when asked, the
    gradient wrt x under INPUT_GRADIENT), and `activations(cache)` -> the forward pass's layer outputs by name.
    """

    arch = None
    tensor_shapes = {}
    inference_batch = 1000  # on the host, inference goes through this many images at a time (a GPU takes all)
    training_slice = None   # on the host, a training batch goes through in slices of this many images

    def __init__(self, params, xp=np, metadata=None, dtype=np.float32):
        self.xp = xp
        # Always a fresh, writable copy: GGUF tensors are read-only views of the file's bytes, and
        # training updates parameters in place. float64 is for gradient checks; models run in float32.
        self.params = {name: to_device(xp, np.array(to_host(params[name]), dtype=dtype, order="C"))
                       for name in self.tensor_shapes}
        self.metadata = dict(metadata or {})

    @property
    def dtype(self):
        """The parameters' floating-point type: float32, or float64 for gradient checks."""
        return self.params[next(iter(self.tensor_shapes))].dtype

    @property
    def workspace(self):
        """The arrays the kernels reuse between batches (layers/workspace.py), made on first use: one per
        thread, so that threads can run slices of a batch through the model at once. A forward pass's
        cache is therefore valid for backward until the same thread's next forward pass."""
        if "_workspaces" not in self.__dict__:
            self._workspaces = threading.local()
        if not hasattr(self._workspaces, "arrays"):
            self._workspaces.arrays = Workspace(self.xp)
        return self._workspaces.arrays

    def batch_slices(self, n, size=None):
        """[(start, stop)] of the slices a batch of n images goes through: `size` images each (default the
        `training_slice` a training batch is prepared and trained in: pipeline.py, engine.py) on the host, for a
        CPU's caches and cores; the whole batch on a GPU (backend.batch_slice)."""
        size = batch_slice(self.xp, size or self.training_slice) or n
        return [(start, min(start + size, n)) for start in range(0, n, size)]

    def prepare_input(self, images):
        """uint8 pixels (N, 28, 28) or (N, 784), ink = 255 -> float32 in [0, 1] on `xp`.

        Float input is taken as already scaled to [0, 1].
        """
        xp = self.xp
        images = xp.asarray(images)
        if images.ndim == 2 and images.shape[1] == N_PIXELS:
            images = images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"{self.arch}: expected images of shape (N, 28, 28) or (N, 784), got {images.shape}")
        if images.dtype == np.uint8:
            x = images.astype(np.float32)
            x *= np.float32(1 / 255)
            return x
        return images.astype(np.float32, copy=False)

    def logits(self, images):
        """Logits (N, 10) for a batch of images, computed in slices of `inference_batch`."""
        x = self.prepare_input(images)
        slices = self.batch_slices(x.shape[0], self.inference_batch)
        if len(slices) == 1:
            return self.forward(x)[0]
        return self.xp.concatenate([self.forward(x[start:stop])[0] for start, stop in slices])

    def predict_proba(self, images):
        """Class probabilities (N, 10), float32, as a NumPy array."""
        return to_host(softmax(self.xp, self.logits(images)))

    def predict(self, images):
        """Predicted digits (N,) as a NumPy int array."""
        return to_host(self.logits(images).argmax(axis=1))

    def host_params(self):
        """The parameters as NumPy float32 arrays in the reference shapes (for writing GGUF)."""
        return {name: np.ascontiguousarray(to_host(value), dtype=np.float32) for name, value in self.params.items()}

    def to(self, xp):
        """The same model with its parameters on another array module."""
        return type(self)(self.host_params(), xp=xp, metadata=self.metadata)
