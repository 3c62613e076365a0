"""A training run taken one gradient step at a time, for callers that must keep control between steps.

`train()` (trainer.py) runs a whole training in one call. The web worker cannot: between steps
it has to answer pause, stop and predictions, and report progress for the page's charts. A
`TrainingRun` makes exactly the same steps as `train()` with the same config and seed (the same
validation split, reshuffle per epoch and per-batch augmentation generators of pipeline.py,
learning-rate schedule and AdamW, through trainer.train_step), but the caller decides when the
next few happen: `run.advance(n)`.
"""

import time

from ..evaluation import evaluate
from .pipeline import epoch_order, prepare_batch
from .trainer import RunData, learning_rate_at, train_step


class TrainingRun:
    """`config.epochs` epochs of `config.batch_size`-image steps on uint8 `images` (N, 28, 28), `labels` (N,).

    The model is trained in place. `step` counts the gradient steps made; `epoch` is the
    0-based epoch the next step belongs to; `done` is True after the last step.
    """

    def __init__(self, model, images, labels, config, optimizer=None):
        self.xp = model.xp
        self.model, self.config = model, config
        data = RunData(model, images, labels, config, optimizer)
        self.train_images, self.train_labels = data.train_images, data.train_labels
        self.val_images, self.val_labels = data.val_images, data.val_labels
        self.redrawn, self.optimizer = data.redrawn, data.optimizer
        self.n_train, self.steps_per_epoch, self.total_steps = data.n_train, data.steps_per_epoch, data.total_steps
        self.step = 0
        self.seconds = 0.0         # spent in advance(), validation excluded
        self._order = None  # this epoch's order of the training images, on the model's xp

    @property
    def epoch(self):
        return self.step // self.steps_per_epoch

    @property
    def done(self):
        return self.step >= self.total_steps

    def advance(self, n_steps=1):
        """Make up to `n_steps` gradient steps, never past the end of the current epoch.

        Returns a dict: "losses" and "accuracies" (mean per step, of the batch before its step),
        "images" (how many were trained on), "epoch_end" (True when the last step finished an
        epoch), and where the run stands ("step", "epoch", "done").
        """
        xp, config = self.xp, self.config
        started = time.perf_counter()
        losses, accuracies, images = [], [], 0
        for _ in range(n_steps):
            if self.done:
                break
            epoch, b = divmod(self.step, self.steps_per_epoch)
            if b == 0 or self._order is None:  # a new epoch: its own order, as train() shuffles it
                self._order = xp.asarray(epoch_order(config.seed, epoch, self.n_train))
            # The same batch as train() makes (pipeline.py): its augmentation has its own generator.
            x, y = prepare_batch(self.model, self.train_images, self.train_labels, self.redrawn, self._order,
                                 config, epoch, b)
            lr = learning_rate_at(config, self.step, self.total_steps)
            loss, correct = train_step(self.model, self.optimizer, x, y, lr)
            losses.append(loss / len(y))
            accuracies.append(correct / len(y))
            images += len(y)
            self.step += 1
            if self.step % self.steps_per_epoch == 0:
                break
        self.seconds += time.perf_counter() - started
        return {"losses": losses, "accuracies": accuracies, "images": images, "step": self.step,
                "epoch": self.epoch, "epoch_end": bool(losses) and self.step % self.steps_per_epoch == 0,
                "done": self.done}

    def validate(self):
        """The model on the held-out validation images (an EvalResult), or None when none are held out."""
        if len(self.val_labels) == 0:
            return None
        return evaluate(self.model, self.val_images, self.val_labels)
