"""Layer kernels as forward/backward pairs, written against an array module `xp` (NumPy or CuPy).

Each `*_forward` returns its output and a cache; the matching `*_backward` takes the upstream
gradient and that cache and returns the gradients. Feature maps flow through the CNN as
(C, H, W, N), batch innermost; conv.py says why. Kernels that make large arrays take an optional
`Workspace` (workspace.py) to reuse them from one batch to the next.
"""

from .activations import bias_relu_forward, relu_backward, relu_forward
from .conv import channel_bias_backward, channel_bias_forward, conv3x3_backward, conv3x3_forward
from .dense import dense_backward, dense_forward
from .loss import softmax, softmax_cross_entropy, softmax_cross_entropy_backward
from .pool import maxpool2x2_backward, maxpool2x2_forward
from .workspace import Workspace

__all__ = [
    "Workspace", "bias_relu_forward", "channel_bias_backward", "channel_bias_forward",
    "conv3x3_backward", "conv3x3_forward", "dense_backward", "dense_forward",
    "maxpool2x2_backward", "maxpool2x2_forward", "relu_backward", "relu_forward",
    "softmax", "softmax_cross_entropy", "softmax_cross_entropy_backward",
]
