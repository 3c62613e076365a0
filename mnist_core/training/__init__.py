"""Training: the run (run.py, the one loop), its config (config.py), AdamW, augmentation, fine-tuning on
corrections, checkpoints; how the steps use the cores is engine.py's."""

from .augment import random_affine
from .config import DEFAULT_RECIPE, RECIPES, TrainConfig, command_line, resolve_config
from .optimizer import AdamW
from .run import TrainingRun, train

__all__ = ["AdamW", "DEFAULT_RECIPE", "RECIPES", "TrainConfig", "TrainingRun", "command_line", "random_affine",
           "resolve_config", "train"]
