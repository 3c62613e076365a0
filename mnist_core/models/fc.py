"""mnist-fc: 784 -> 500 (ReLU) -> 10, exactly ggml's fully connected model."""

from ..layers import dense_backward, dense_forward, relu_backward
from ..mnist import IMAGE_SIZE, N_CLASSES, N_PIXELS
from .base import INPUT_GRADIENT, Model

N_HIDDEN = 500


class FCModel(Model):
    """logits = fc2.weight @ relu(fc1.weight @ x + fc1.bias) + fc2.bias, x = pixels / 255."""

    arch = "mnist-fc"
    tensor_shapes = {
        "fc1.weight": (N_HIDDEN, N_PIXELS),
        "fc1.bias": (N_HIDDEN,),
        "fc2.weight": (N_CLASSES, N_HIDDEN),
        "fc2.bias": (N_CLASSES,),
    }
    inference_batch = 10000  # two matrix products; bigger batches keep BLAS busiest
    training_slice = 500     # a training batch of 1,000 goes in two slices, which two cores take at once

    def forward(self, x):
        """x (N, 28, 28) float in [0, 1] -> logits (N, 10) and the cache for backward.

        The hidden layer's arrays live in the thread's workspace (Model.workspace): fresh ones of a
        megabyte or more would cost page faults every step.
        """
        xp, p = self.xp, self.params
        x = x.reshape(x.shape[0], N_PIXELS)
        hidden = self.workspace.array("fc1.out", (x.shape[0], N_HIDDEN), p["fc1.weight"].dtype)
        hidden, fc1_cache = dense_forward(xp, x, p["fc1.weight"], p["fc1.bias"], relu=True, out=hidden)  # (N, 500)
        relu_cache = hidden
        logits, fc2_cache = dense_forward(xp, hidden, p["fc2.weight"], p["fc2.bias"])  # (N, 10)
        return logits, (fc1_cache, relu_cache, fc2_cache)

    def activations(self, cache):
        """The layer outputs of the forward pass that made `cache`, batch first: {"fc1.relu": (N, 500)}, the hidden
        units after ReLU (valid as long as the cache is)."""
        return {"fc1.relu": cache[1]}

    def backward(self, dlogits, cache, input_grad=False):
        """dlogits (N, 10) -> gradients of every parameter, keyed by tensor name; with `input_grad`, also the
        gradient wrt x, (N, 28, 28), under INPUT_GRADIENT (training never asks: a third of fc1's backward work)."""
        xp, ws = self.xp, self.workspace
        fc1_cache, relu_cache, fc2_cache = cache
        shape, dtype = relu_cache.shape, relu_cache.dtype
        dhidden, dw2, db2 = dense_backward(xp, dlogits, fc2_cache, dx_out=ws.array("fc2.dx", shape, dtype))
        dhidden = relu_backward(xp, dhidden, relu_cache, out=dhidden, mask=ws.array("relu.mask", shape, dtype))
        dx, dw1, db1 = dense_backward(xp, dhidden, fc1_cache, need_dx=input_grad)
        grads = {"fc1.weight": dw1, "fc1.bias": db1, "fc2.weight": dw2, "fc2.bias": db2}
        if input_grad:
            grads[INPUT_GRADIENT] = dx.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)  # a fresh array, no workspace's
        return grads
