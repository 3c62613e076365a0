"""Training: AdamW, data augmentation and the epoch loop, all against the array module `xp`."""

from .augment import random_affine
from .optimizer import AdamW
from .trainer import RECIPES, TrainConfig, train

__all__ = ["AdamW", "RECIPES", "TrainConfig", "random_affine", "train"]
