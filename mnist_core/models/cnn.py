"""mnist-cnn: conv 3x3 -> 8, ReLU, maxpool 2 -> conv 3x3 -> 16, ReLU, maxpool 2 -> dense 784 -> 10.

Inside, feature maps are (C, H, W, N), batch innermost (see layers/conv.py for why). Before
the dense layer the final (16, 7, 7, N) map is flattened in (y, x, c) order, feature index
(y*7 + x)*16 + c: the Keras (channels-last) order the reference's dense layer expects.
"""

from ..layers import (
    bias_relu_forward,
    channel_bias_backward,
    conv3x3_backward,
    conv3x3_forward,
    dense_backward,
    dense_forward,
    maxpool2x2_backward,
    maxpool2x2_forward,
    relu_backward,
)
from ..mnist import IMAGE_SIZE, N_CLASSES
from .base import INPUT_GRADIENT, Model

N_CHANNELS_1 = 8
N_CHANNELS_2 = 16
N_FEATURES = (IMAGE_SIZE // 4) ** 2 * N_CHANNELS_2  # 7 * 7 * 16 = 784


class CNNModel(Model):
    """ggml's (and Keras') small CNN, with the reference's tensor names and shapes.

    Its large intermediate arrays live in a `Workspace` reused from one batch to the next, so a
    forward pass's cache is valid for backward until the same thread's next forward pass.
    """

    arch = "mnist-cnn"
    tensor_shapes = {
        "conv1.kernel": (N_CHANNELS_1, 1, 3, 3),
        "conv1.bias": (1, N_CHANNELS_1, 1, 1),
        "conv2.kernel": (N_CHANNELS_2, N_CHANNELS_1, 3, 3),
        "conv2.bias": (1, N_CHANNELS_2, 1, 1),
        "dense.weight": (N_CLASSES, N_FEATURES),
        "dense.bias": (N_CLASSES,),
    }
    inference_batch = 500          # on the host: bounds the im2col buffers (cols of conv2: 28 MB)
    # Training goes through a batch this many images at a time on the host (engine.gradient_step sums the
    # gradients): the im2col matrices of 250 images (7 and 14 MB) stay in a CPU's caches, which saves
    # CPU time over all 1,000 at once. A GPU takes the batch whole.
    training_slice = 250

    def forward(self, x):
        """x (N, 28, 28) float in [0, 1] -> logits (N, 10) and the cache for backward.

        Each block runs conv -> max pool -> bias -> ReLU rather than the reference's
        conv + bias -> ReLU -> max pool. Max pooling commutes with adding a per-channel
        constant and with ReLU (both monotonic), so the output is the same, gradients included,
        and the bias and ReLU then touch a quarter of the values.
        """
        xp, p = self.xp, self.params
        n = x.shape[0]
        # One transposing copy up front; im2col would otherwise gather from it nine times.
        x = xp.ascontiguousarray(x.reshape(n, IMAGE_SIZE, IMAGE_SIZE).transpose(1, 2, 0))[None]  # (1, 28, 28, N)
        a1, block1_cache = self._block_forward(x, p["conv1.kernel"], p["conv1.bias"], "block1")   # (8, 14, 14, N)
        a2, block2_cache = self._block_forward(a1, p["conv2.kernel"], p["conv2.bias"], "block2")  # (16, 7, 7, N)
        features = a2.transpose(3, 1, 2, 0).reshape(n, N_FEATURES)              # (N, 784), (y, x, c) order
        logits, dense_cache = dense_forward(xp, features, p["dense.weight"], p["dense.bias"])  # (N, 10)
        return logits, (block1_cache, block2_cache, dense_cache)

    def _block_forward(self, x, kernel, bias, name):
        """conv 3x3 -> max pool 2x2 -> bias -> ReLU on (C, H, W, N) maps."""
        xp, ws = self.xp, self.workspace
        y, conv_cache = conv3x3_forward(xp, x, kernel, workspace=ws.scope(f"{name}.conv"))
        z, pool_cache = maxpool2x2_forward(xp, y, workspace=ws.scope(f"{name}.pool"))
        # In place: the pooling cache keeps which position won, not the pooled values.
        a, relu_cache = bias_relu_forward(xp, z, bias.reshape(-1, 1, 1, 1), out=z)
        # The conv output y is kept for activations() only; backward needs no more than the winners.
        return a, (conv_cache, pool_cache, relu_cache, name, y)

    def _block_backward(self, da, cache, need_dx=True):
        """Gradients of one block: (dx or None, dkernel, dbias (C,))."""
        xp, ws = self.xp, self.workspace
        conv_cache, pool_cache, relu_cache, name, _ = cache
        dz = relu_backward(xp, da, relu_cache, out=ws.array(f"{name}.relu.dx", da.shape, da.dtype))
        dbias = channel_bias_backward(xp, dz)
        dz = maxpool2x2_backward(xp, dz, pool_cache, workspace=ws.scope(f"{name}.pool"))
        dx, dkernel = conv3x3_backward(xp, dz, conv_cache, need_dx=need_dx, workspace=ws.scope(f"{name}.conv"))
        return dx, dkernel, dbias

    def activations(self, cache):
        """The layer outputs of the forward pass that made `cache`, batch first (valid as long as the cache is):
        conv1.relu (N, 8, 28, 28), conv1.pool (N, 8, 14, 14), conv2.relu (N, 16, 14, 14), conv2.pool (N, 16, 7, 7)
        and dense.input (N, 784), the (y, x, c)-ordered features.

        The forward pools before bias and ReLU, so the maps after ReLU at full resolution never exist there: they
        are relu(conv output + bias), one elementwise pass over the conv output the cache keeps (8*28*28 and
        16*14*14 values an image, no second convolution). Their 2x2 maxima are the pooled maps (forward's docstring).
        """
        xp, p = self.xp, self.params
        maps = {}
        for layer, block_cache in (("conv1", cache[0]), ("conv2", cache[1])):
            _, _, pooled, _, conv_out = block_cache
            full, _ = bias_relu_forward(xp, conv_out, p[f"{layer}.bias"].reshape(-1, 1, 1, 1))   # (C, H, W, N)
            maps[f"{layer}.relu"] = full.transpose(3, 0, 1, 2)
            maps[f"{layer}.pool"] = pooled.transpose(3, 0, 1, 2)
        maps["dense.input"] = cache[2][0]
        return maps

    def backward(self, dlogits, cache, input_grad=False):
        """dlogits (N, 10) -> gradients of every parameter, keyed by tensor name; with `input_grad`, also the
        gradient wrt x, (N, 28, 28), under INPUT_GRADIENT (training never asks: conv1's col2im, the largest)."""
        xp = self.xp
        block1_cache, block2_cache, dense_cache = cache
        dfeatures, dw_dense, db_dense = dense_backward(xp, dlogits, dense_cache)
        c2, h2, w2, n = block2_cache[2].shape
        da2 = dfeatures.reshape(n, h2, w2, c2).transpose(3, 1, 2, 0)            # (16, 7, 7, N)
        da1, dk2, db2 = self._block_backward(da2, block2_cache)
        dx, dk1, db1 = self._block_backward(da1, block1_cache, need_dx=input_grad)
        grads = {
            "conv1.kernel": dk1, "conv1.bias": db1.reshape(self.tensor_shapes["conv1.bias"]),
            "conv2.kernel": dk2, "conv2.bias": db2.reshape(self.tensor_shapes["conv2.bias"]),
            "dense.weight": dw_dense, "dense.bias": db_dense,
        }
        if input_grad:
            # dx (1, 28, 28, N) is a workspace array, which the next backward overwrites: a copy, batch first
            grads[INPUT_GRADIENT] = dx[0].transpose(2, 0, 1).copy()
        return grads
