"""The training loop: ggml's recipe (AdamW, logical batches of 1000, a reshuffle every epoch, 5% held out
for validation) plus the choices a TrainConfig adds (config.py).

A `TrainingRun` is the one loop. `train()` (the CLI's) advances it an epoch at a time, validating and
reporting after each; the page advances it a step at a time, so that it can answer pause, stop and
predictions in between. Both make exactly the same steps for the same config and seed, and so does a
run resumed from an epoch checkpoint: each batch depends on (seed, epoch, batch) alone (pipeline.py).
How the steps run (threads, BLAS threads, prefetching, timing) is engine.py's business.
"""

import math
import time
from dataclasses import dataclass

import numpy as np

from ..backend import is_host, to_host
from ..errors import MnistCoreError
from ..evaluation import evaluate
from ..layers.workspace import Workspace
from .engine import StepExecutor, batch_source
from .optimizer import AdamW
from .pipeline import epoch_order, prepare_batch


def split_validation(n, val_split):
    """Indices of the training part and of the held-out last `val_split` fraction."""
    n_val = int(round(n * val_split))
    if n - n_val < 1:
        raise MnistCoreError(f"--val-split {val_split:g} leaves no training images out of {n}")
    return np.arange(n - n_val), np.arange(n - n_val, n)


def learning_rate_at(config, step, total_steps):
    """The learning rate for gradient step `step` (0-based) of `total_steps`."""
    if config.schedule == "constant":
        return config.learning_rate
    if config.schedule == "cosine":
        return config.learning_rate * 0.5 * (1 + math.cos(math.pi * step / total_steps))
    raise ValueError(f"unknown learning-rate schedule {config.schedule!r}; expected 'cosine' or 'constant'")


class TrainingRun:
    """`config.epochs` epochs of `config.batch_size`-image steps on uint8 `images` (N, 28, 28), `labels` (N,),
    training `model` in place from epoch `start_epoch` (with `optimizer`'s state, when resuming).

    `step` counts the gradient steps made; `epoch` is the 0-based epoch the next step belongs to; `done`
    is True after the last step. `threads`, `prefetch` and `times` say how the steps run (engine.py), never
    what they compute. Use it as a context manager, or call close(), so that its threads stop.
    """

    def __init__(self, model, images, labels, config, optimizer=None, start_epoch=0, threads=0, prefetch=True,
                 times=None):
        xp = model.xp
        self.model, self.config, self.xp = model, config, xp
        train_idx, val_idx = split_validation(len(images), config.val_split)
        self.images = xp.asarray(images[train_idx])                        # on the model's device, once
        self.labels = xp.asarray(labels[train_idx].astype(np.int64))
        self.val_images, self.val_labels = xp.asarray(images[val_idx]), labels[val_idx]
        self.n_train = len(train_idx)
        self.optimizer = optimizer or AdamW(model.params, config.learning_rate, config.beta1, config.beta2,
                                            config.eps, config.weight_decay, xp=xp)
        self.steps_per_epoch = math.ceil(self.n_train / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.step = start_epoch * self.steps_per_epoch
        self.seconds = 0.0                         # spent in advance()
        self._order = (None, None)                 # (epoch, its order of the training images on xp)
        self._workspace = Workspace(xp)            # the batches' augmentation scratch, batch after batch
        self.executor = StepExecutor(model, config.batch_size, threads, times)
        self.batches = batch_source(self._batch, range(self.step, self.total_steps), prefetch, times)

    @property
    def epoch(self):
        return self.step // self.steps_per_epoch

    @property
    def done(self):
        return self.step >= self.total_steps

    def _batch(self, step):
        """The images and labels of gradient step `step`, augmented (called by the batch source, in step order)."""
        epoch, batch = divmod(step, self.steps_per_epoch)
        if self._order[0] != epoch:
            self._order = (epoch, self.xp.asarray(epoch_order(self.config.seed, epoch, self.n_train)))
        return prepare_batch(self.model, self.images, self.labels, self._order[1], self.config, epoch, batch,
                             self._workspace, self.executor.pool)

    def advance(self, n_steps=1, on_step=None):
        """Make up to `n_steps` gradient steps, never past the end of the current epoch.

        `on_step(images, mean loss, accuracy)` hears of each step's batch (before its update): as it goes on
        the host, all at the end of the call on a GPU, where reading a step's figures back would make the
        host wait for it. Returns {"losses", "accuracies" (per step), "images" (trained on), "loss" and
        "accuracy" (over those images), "step", "epoch", "epoch_end" (the last step finished an epoch), "done"}.
        """
        started = time.perf_counter()
        figures, sizes = [], []                      # per step: [summed loss, number right] on the device
        live = on_step is not None and is_host(self.xp)
        with self.executor.stepping():
            while len(figures) < n_steps and not self.done:
                x, y = self.batches.next_batch()
                lr = learning_rate_at(self.config, self.step, self.total_steps)
                figures.append(self.executor.step(self.optimizer, x, y, lr))
                sizes.append(len(y))
                self.step += 1
                if live:
                    on_step(sizes[-1], float(figures[-1][0]) / sizes[-1], float(figures[-1][1]) / sizes[-1])
                if self.step % self.steps_per_epoch == 0:
                    break
        sums = to_host(self.xp.stack(figures)).astype(np.float64) if figures else np.zeros((0, 2))  # one transfer
        losses, accuracies = sums[:, 0] / sizes, sums[:, 1] / sizes
        if on_step is not None and not live:
            for size, loss, accuracy in zip(sizes, losses, accuracies, strict=True):
                on_step(size, float(loss), float(accuracy))
        self.seconds += time.perf_counter() - started
        images = int(sum(sizes))
        loss, correct = sums.sum(axis=0) / max(images, 1)
        return {"losses": losses.tolist(), "accuracies": accuracies.tolist(), "images": images,
                "loss": float(loss), "accuracy": float(correct), "step": self.step, "epoch": self.epoch,
                "epoch_end": bool(figures) and self.step % self.steps_per_epoch == 0, "done": self.done}

    def validate(self):
        """The model on the held-out validation images (an EvalResult), or None when none are held out."""
        if len(self.val_labels) == 0:
            return None
        return evaluate(self.model, self.val_images, self.val_labels)

    def close(self):
        self.batches.close()
        self.executor.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


@dataclass
class EpochStats:
    """What one epoch achieved."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float


class SilentReporter:
    """Receives progress; the CLI passes one that draws progress bars."""

    def start_epoch(self, epoch, n_batches):
        pass

    def batch(self, n_images, loss, accuracy):
        pass

    def end_epoch(self, stats):
        pass


def train(model, images, labels, config, reporter=None, start_epoch=0, optimizer=None, on_epoch_end=None, **how):
    """Train `model` in place on uint8 `images` (N, 28, 28) and `labels` (N,); return the EpochStats list.

    `start_epoch`, `optimizer` and `on_epoch_end` (called with (stats, optimizer) after each epoch) are
    what checkpointing uses; `how` goes to TrainingRun (threads, prefetch, times).
    """
    reporter = reporter or SilentReporter()
    history = []
    with TrainingRun(model, images, labels, config, optimizer, start_epoch, **how) as run:
        while not run.done:
            started = time.perf_counter()
            reporter.start_epoch(run.epoch, run.steps_per_epoch)
            steps = run.advance(run.steps_per_epoch, on_step=reporter.batch)
            val = run.validate()
            stats = EpochStats(run.epoch, steps["loss"], steps["accuracy"], val.loss if val else math.nan,
                               val.accuracy if val else math.nan, time.perf_counter() - started)
            history.append(stats)
            reporter.end_epoch(stats)
            if on_epoch_end:
                on_epoch_end(stats, run.optimizer)
    return history
