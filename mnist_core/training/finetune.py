"""Fine-tuning on a person's corrected drawings, with replay of MNIST training images so that MNIST is not forgotten.

When the page misreads a drawing and the user says which digit it was, the model should read
that drawing, and others drawn the same way, right from then on, without getting worse at MNIST.
A correction is learnt in two phases of AdamW steps (engine.train_step, the step every training run
makes), each step on one batch of

  the user's examples    the newest always, then the others newest first, up to `user_batch`; fewer
                         than `min_user_batch` are repeated up to it (each copy warped anew), so that
                         a first correction weighs as much as a few
  replay images          MNIST training images drawn at random

both warped by the training augmentation (so that the model learns the style, not the pixels):

  learn        steps with a few replay images (`replay_batch`) until the newest example is read
               right with at least `target_probability` (at most `max_steps`): quick, so that the
               page shows the corrected prediction at once
  consolidate  `consolidation_steps` steps with many replay images (`consolidation_replay`) at a
               lower rate, while the user's examples stay in the batch; the page runs them one at
               a time after showing the prediction

A style that resembles another digit (a 7 drawn like a Z, a 9 closed like a g) moves that digit's
MNIST images with it, and their labels alone hold them back poorly: a replay image read right with
a high probability gives almost no gradient, however far its logits move. So each replay image
also keeps its logits near those the model gave it before the Finetuner's first correction (the
frozen `reference`, a copy of the model run on the same warped image): `distillation` / 2 *
|logits - reference logits|^2 is added to its loss, the logit matching of Dark Experience Replay
(Buzzega et al., 2020). The settings below were chosen on training images that neither the
shipped models nor the replay set contain (the trainer's validation split) and on drawings of
styles that resemble another digit (bench/bench_finetune.py); docs/finetune.md has the figures.
One Finetuner serves one model across corrections: AdamW's moments and the reference carry over.
"""

from dataclasses import asdict, dataclass

import numpy as np

from ..formats.gguf_constants import KEY_FINETUNE_PREFIX
from ..layers import softmax
from ..layers.workspace import Workspace
from ..mnist import IMAGE_SIZE, N_CLASSES
from .augment import augment_batch
from .config import TrainConfig
from .engine import train_step
from .optimizer import AdamW


@dataclass
class FinetuneConfig:
    """The knobs of fine-tuning on corrections, chosen on held-out MNIST training images (docs/finetune.md)."""

    learning_rate: float = 1e-3
    max_steps: int = 12
    user_batch: int = 16          # the user's examples per step at most (the newest first)
    min_user_batch: int = 8       # ... and at least: fewer examples are repeated up to it
    replay_batch: int = 32        # MNIST training images per learning step
    target_probability: float = 0.9
    consolidation_steps: int = 6
    consolidation_replay: int = 256
    consolidation_learning_rate: float = 2e-4
    distillation: float = 0.1     # weight of the replay images' logits kept near the reference's (0: off)
    augment: bool = True          # warp the user's examples and the replay images as training does

    def as_metadata(self):
        return {KEY_FINETUNE_PREFIX + key: value for key, value in asdict(self).items()}


class Finetuner:
    """Fine-tunes `model` in place on corrections, replaying uint8 `replay_images` (N, 28, 28) with `replay_labels`."""

    def __init__(self, model, replay_images, replay_labels, config=None, seed=0):
        if len(replay_images) != len(replay_labels) or len(replay_labels) == 0:
            raise ValueError(f"replay needs images and as many labels, got {len(replay_images)} and "
                             f"{len(replay_labels)}")
        self.model, self.config = model, config or FinetuneConfig()
        xp = model.xp
        self.replay_images = xp.asarray(replay_images)
        self.replay_labels = xp.asarray(np.asarray(replay_labels, dtype=np.int64))
        self.optimizer = AdamW(model.params, self.config.learning_rate, xp=xp)
        self.reference = model.to(xp) if self.config.distillation else None  # frozen: the model before any correction
        self.rng = np.random.default_rng(seed)
        # The training augmentation as TrainConfig's defaults have it (the affine warp): what is
        # learnt is the user's style, not the exact pixels of one drawing.
        self._warp = TrainConfig(augment=self.config.augment)
        self._workspace = Workspace(xp)  # the warp's scratch arrays, reused from step to step
        self.steps = 0                  # AdamW steps made, both phases
        self.consolidation_left = 0     # consolidation steps still to make for the last correction
        self._user = None               # (x (B, 28, 28) float32, y (B,)) of the last correction's examples

    def learn(self, images, labels):
        """Learn the user's examples: uint8 `images` (K, 28, 28), `labels` (K,), the newest last; then
        `consolidate` has `consolidation_steps` to make.

        Returns {"steps", "probability" (of the newest example's label after the last step),
        "digit" (what the model now reads in it)}.
        """
        config, xp, model = self.config, self.model.xp, self.model
        images = np.asarray(images, dtype=np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(images) == 0 or len(images) != len(labels):
            raise ValueError(f"expected K >= 1 images and K labels, got {len(images)} and {len(labels)}")
        newest = model.prepare_input(images[-1:])                           # (1, 28, 28)
        chosen = np.arange(len(images) - 1, max(-1, len(images) - 1 - config.user_batch), -1)
        chosen = np.resize(chosen, max(len(chosen), config.min_user_batch))  # repeated, newest first
        self._user = (model.prepare_input(images[chosen]), xp.asarray(labels[chosen]))
        probability, steps = self._probability(newest, labels[-1]), 0
        # At least one step: a correction of a drawing already read right still teaches its style.
        while steps < config.max_steps and (steps == 0 or probability < config.target_probability):
            self._step(config.replay_batch, config.learning_rate)
            steps += 1
            probability = self._probability(newest, labels[-1])
        self.consolidation_left = config.consolidation_steps
        return {"steps": steps, "probability": probability, "digit": int(model.predict(newest)[0])}

    def consolidate(self, n_steps=None):
        """Make up to `n_steps` (None: all) of the consolidation steps left; returns how many are left."""
        n_steps = self.consolidation_left if n_steps is None else min(int(n_steps), self.consolidation_left)
        for _ in range(n_steps):
            self._step(self.config.consolidation_replay, self.config.consolidation_learning_rate)
            self.consolidation_left -= 1
        return self.consolidation_left

    def _step(self, n_replay, learning_rate):
        """One AdamW step on the last correction's examples and `n_replay` replay images."""
        xp, model = self.model.xp, self.model
        user_x, user_y = self._user
        replay = xp.asarray(self.rng.integers(len(self.replay_labels), size=n_replay))
        x = xp.concatenate([user_x, model.prepare_input(self.replay_images[replay])])     # (B, 28, 28)
        x = augment_batch(xp, x, self.rng, self._warp, workspace=self._workspace)
        y = xp.concatenate([user_y, self.replay_labels[replay]])
        kept = None
        if self.reference is not None:
            n_user = len(user_y)
            kept_logits = xp.concatenate([xp.zeros((n_user, N_CLASSES), dtype=x.dtype),
                                          self.reference.logits(x[n_user:])])                # (B, 10)
            weights = xp.concatenate([xp.zeros(n_user, dtype=x.dtype),
                                      xp.full(n_replay, self.config.distillation, dtype=x.dtype)])  # (B,)
            kept = (kept_logits, weights)
        train_step(model, self.optimizer, x, y, learning_rate, kept=kept)
        self.steps += 1

    def _probability(self, x, label):
        return float(softmax(self.model.xp, self.model.logits(x))[0, int(label)])
