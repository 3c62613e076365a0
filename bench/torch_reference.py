"""The two reference architectures as PyTorch modules that load the weights of an mnist-core model.

Used by the benchmarks (PyTorch CPU as the bar to beat) and by tests/test_torch_oracle.py (PyTorch
as an independent oracle for logits and gradients). PyTorch is not a dependency of mnist-core:
import this module only where `torch` is importable.

Two layout facts matter when the weights cross over (see docs/reference.md):
- conv biases are (1, C, 1, 1) in GGUF and (C,) in PyTorch;
- the CNN's dense layer reads the 7x7x16 map in (y, x, c) order, Keras' channels-last flatten,
  so the module permutes NCHW -> NHWC before flattening. PyTorch's plain (c, y, x) flatten
  would load without complaint and then score about 10%.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Our GGUF tensor name -> the PyTorch parameter it becomes (shapes differ only for conv biases).
TORCH_NAMES = {
    "mnist-fc": {"fc1.weight": "fc1.weight", "fc1.bias": "fc1.bias",
                 "fc2.weight": "fc2.weight", "fc2.bias": "fc2.bias"},
    "mnist-cnn": {"conv1.kernel": "conv1.weight", "conv1.bias": "conv1.bias",
                  "conv2.kernel": "conv2.weight", "conv2.bias": "conv2.bias",
                  "dense.weight": "dense.weight", "dense.bias": "dense.bias"},
}


class TorchFC(nn.Module):
    """mnist-fc: 784 -> 500 (ReLU) -> 10."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        """x (N, 28, 28) float in [0, 1] -> logits (N, 10)."""
        return self.fc2(F.relu(self.fc1(x.reshape(x.shape[0], 784))))


class TorchCNN(nn.Module):
    """mnist-cnn: conv 3x3 -> 8, ReLU, pool 2 -> conv 3x3 -> 16, ReLU, pool 2 -> dense 784 -> 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.dense = nn.Linear(7 * 7 * 16, 10)

    def forward(self, x):
        """x (N, 28, 28) float in [0, 1] -> logits (N, 10)."""
        x = x.reshape(x.shape[0], 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)       # (N, 8, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)       # (N, 16, 7, 7)
        features = x.permute(0, 2, 3, 1).flatten(1)     # (N, 784), (y, x, c) order as the reference reads it
        return self.dense(features)


MODULES = {"mnist-fc": TorchFC, "mnist-cnn": TorchCNN}


def torch_model_from(model):
    """A float32 PyTorch module of `model`'s architecture holding a copy of its weights."""
    module = MODULES[model.arch]()
    own = module.state_dict()
    state = {}
    for ours, theirs in TORCH_NAMES[model.arch].items():
        value = torch.from_numpy(model.host_params()[ours].copy())
        state[theirs] = value.reshape(own[theirs].shape)
    module.load_state_dict(state)
    return module


def grads_as_ours(module, arch):
    """The `.grad` of every parameter of `module`, as NumPy arrays keyed and shaped as mnist-core's params."""
    from mnist_core.models import model_class
    shapes = model_class(arch).tensor_shapes
    params = dict(module.named_parameters())
    return {ours: params[theirs].grad.detach().numpy().reshape(shapes[ours])
            for ours, theirs in TORCH_NAMES[arch].items()}


def images_to_tensor(images):
    """uint8 images (N, 28, 28), NumPy or a tensor on any device -> float32 tensor in [0, 1] there,
    as mnist-core's models scale them."""
    if not isinstance(images, torch.Tensor):
        images = torch.from_numpy(np.ascontiguousarray(images))
    return images.float().mul_(1 / 255)


def random_affine_torch(x, params):
    """mnist-core's random_affine (rotation, scale, shift; bilinear; zeros outside) with affine_grid/grid_sample.

    x (N, 28, 28) float; params (N, 4) = (angle rad, scale, shift_x, shift_y) as
    mnist_core.training.augment.random_affine_params draws them. With align_corners=True the
    normalised coordinate is (pixel - 13.5) / 13.5, the same centre our warp turns about.
    """
    params = torch.as_tensor(params, dtype=torch.float32, device=x.device)
    angle, scale, shift_x, shift_y = params.unbind(1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    centre = (28 - 1) / 2
    theta = torch.stack([torch.stack([cos, sin, -shift_x / centre], 1),
                         torch.stack([-sin, cos, -shift_y / centre], 1)], 1)   # (N, 2, 3)
    grid = F.affine_grid(theta, (x.shape[0], 1, 28, 28), align_corners=True)
    return F.grid_sample(x[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)[:, 0]
