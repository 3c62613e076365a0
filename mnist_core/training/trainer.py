"""The training loop: ggml's recipe (AdamW, logical batches of 1000, a reshuffle every epoch,
5% held out for validation), plus the choices that make our shipped models better.

Randomness comes from NumPy generators seeded by (seed, epoch) for the shuffle and by
(seed, epoch, batch) for each batch's augmentation (pipeline.py), so a run resumed from an epoch
checkpoint continues exactly as the uninterrupted run would have, and preparing batches ahead in
a background thread, in slices on the step's thread pool, changes nothing.
"""

import contextlib
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from ..backend import blas_threads, is_host, synchronize, to_host
from ..errors import MnistCoreError
from ..evaluation import evaluate
from ..layers import softmax_cross_entropy, softmax_cross_entropy_backward
from .optimizer import AdamW
from .pipeline import BatchStream, threads_available
from .redraw import redraw_bank

# Named recipes. "ggml" is the reference's; "best" made the first shipped models; "drawn" (the CLI's default)
# makes the current ones.
RECIPES = {
    "ggml": {"init": "ggml", "schedule": "constant", "augment": False,
             "learning_rate": {"mnist-fc": 1e-3, "mnist-cnn": 1e-3}},
    # Peak rates picked on the validation split (30 epochs, seed 0): with augmentation and a
    # cosine decay both models take a much higher rate than ggml's 1e-3 (see README, "Training").
    "best": {"init": "he", "schedule": "cosine", "augment": True,
             "learning_rate": {"mnist-fc": 5e-3, "mnist-cnn": 1e-2}},
    # "best" plus what makes MNIST look like drawn digits (augment.py, redraw.py), chosen on the drawn-digit
    # benchmark and MNIST validation (README, "Drawn digits").
    # The CNN (8 and 16 channels) has less room than the FC: shown as many redrawn digits it loses MNIST
    # accuracy (60 epochs, redraw 0.5 / 0.3 / 0.2: test 98.68 / 98.76 / 98.89 %), so it sees fewer, for longer.
    "drawn": {"init": "he", "schedule": "cosine", "augment": True,
              "learning_rate": {"mnist-fc": 5e-3, "mnist-cnn": 1e-2},
              "redraw": {"mnist-fc": 0.5, "mnist-cnn": 0.15}, "stroke_width": 0.5, "shear": 0.2,
              "elastic": {"mnist-fc": 2.0, "mnist-cnn": 1.5}},
}
DRAWN_KNOBS = ("redraw", "stroke_width", "shear", "elastic")  # TrainConfig fields a recipe may set


def recipe_value(recipe, knob, arch):
    """A recipe's setting for `arch`: one value for both architectures, or a dict by architecture (0 if unset)."""
    value = recipe.get(knob, 0.0)
    return value[arch] if isinstance(value, dict) else value


@dataclass
class TrainConfig:
    """Every knob of a run, with ggml's values where ggml has one."""

    epochs: int = 30
    batch_size: int = 1000        # ggml's logical batch; one gradient step per batch
    learning_rate: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    val_split: float = 0.05       # the last 5% of the training data, as ggml holds it out
    seed: int = 0
    init: str = "he"              # "he" or "ggml" (N(0, 0.01^2) everywhere)
    schedule: str = "cosine"      # "cosine" decays the learning rate to 0; "constant" is ggml's
    augment: bool = True          # random rotation (+-10 deg), scale (+-10%) and shift (+-2 px)
    # What makes MNIST look like drawn digits (augment.py; all off in ggml's and the old "best" recipe):
    redraw: float = 0.0           # share of images shown drawn again as pen strokes (redraw.py)
    stroke_width: float = 0.0     # ink thickened or thinned by up to this many pixels a side
    shear: float = 0.0            # horizontal shear factor up to +-this
    elastic: float = 0.0          # elastic displacement, pixels (sd of the field's grid values x 2)
    # How, not what: the same seed gives the same model whatever these say.
    prefetch: bool = True         # prepare the next batches in a background thread while a step trains
    threads: int = 0              # CPU threads taking a step's slices at once (0: one per core, one per slice at most)

    def as_metadata(self):
        """The config as GGUF metadata keys."""
        return {f"mnist_core.training.{key}": value for key, value in asdict(self).items()}


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


class StepTimes:
    """Seconds spent in each phase of the training steps so far, summed; `per_step()` averages them.

    forward, backward (loss included) and optimizer are wall time of the step (forward and
    backward of slices that threads take at once are their wall time, split as the threads' own
    clocks split it); gather (images picked and scaled to floats) and augment are the batch
    preparation's, which overlaps the steps when prefetching; waiting is the training loop idle
    until its next batch was ready. On a GPU every phase ends with a synchronisation, so timing
    slows the run a little.
    """

    PHASES = ("forward", "backward", "optimizer", "gather", "augment", "waiting")

    def __init__(self, xp=None):
        self.xp = xp
        self.steps = 0
        for phase in self.PHASES:
            setattr(self, phase, 0.0)
        self._mark = None

    def sync(self):
        """Wait for the device (a no-op on NumPy)."""
        if self.xp is not None:
            synchronize(self.xp)

    def start(self):
        self._mark = time.perf_counter()

    def lap(self, phase):
        """Add the seconds since the last start/lap to `phase`."""
        self.sync()
        now = time.perf_counter()
        setattr(self, phase, getattr(self, phase) + now - self._mark)
        self._mark = now

    def per_step(self):
        """{phase: mean seconds per step}."""
        return {phase: getattr(self, phase) / max(self.steps, 1) for phase in self.PHASES}


def _slice_gradients(model, x, y, share, sync=None):
    """Forward, loss and backward of one slice of a batch -> (gradients of `share` times the slice's mean loss,
    [summed loss, number right], seconds of forward, seconds of loss and backward)."""
    xp = model.xp
    start = time.perf_counter()
    logits, cache = model.forward(x)
    if sync is not None:
        sync()
    forwarded = time.perf_counter()
    losses, probs = softmax_cross_entropy(xp, logits, y)
    dlogits = softmax_cross_entropy_backward(xp, probs, y)   # of the slice's mean loss
    if share != 1:
        dlogits *= share                                      # of its share of the batch's
    grads = model.backward(dlogits, cache)
    figures = xp.stack([losses.sum(), (logits.argmax(axis=1) == y).sum()])
    if sync is not None:
        sync()
    return grads, figures, forwarded - start, time.perf_counter() - forwarded


def gradient_step(model, optimizer, x, y, lr, times=None, workers=None):
    """One gradient step (forward, loss, backward, AdamW) on float images x (B, 28, 28) and int labels y (B,),
    all on the model's `xp`.

    On the host, a model with a `training_slice` goes through the batch that many images at a time and sums
    the slices' gradients, in order, into the batch's: the same step, with intermediate arrays
    small enough to stay in the CPU's caches, and slices that `workers` (a thread pool; the
    host only) can take at the same time. Threads or not, the slices and the order their
    gradients are added in are the same, so the step is too (for the same number of BLAS
    threads: BLAS may round differently with another). Returns an `xp` array [summed loss,
    number right] of the batch before the step, left on the device: reading it back would make
    the host wait for the GPU every step.
    """
    n = x.shape[0]
    bounds = model.batch_slices(n)

    def one_slice(bound, sync=None):
        start, stop = bound
        return _slice_gradients(model, x[start:stop], y[start:stop], (stop - start) / n, sync)

    started = time.perf_counter()
    if workers is not None and len(bounds) > 1:
        results = list(workers.map(one_slice, bounds))
    else:
        results = [one_slice(bound, times.sync if times is not None else None) for bound in bounds]
    if times is not None:
        # Wall time, split between forward and backward as the slices' own clocks split it.
        forward, backward = sum(r[2] for r in results), sum(r[3] for r in results)
        wall = time.perf_counter() - started
        times.forward += wall * forward / max(forward + backward, 1e-12)
        times.backward += wall * backward / max(forward + backward, 1e-12)
        times.start()
    grads = results[0][0]
    for slice_grads, *_ in results[1:]:
        for name, grad in slice_grads.items():
            grads[name] += grad
    if workers is not None:
        optimizer.step(model.params, grads, lr=lr, workers=workers)
    else:
        optimizer.step(model.params, grads, lr=lr)  # the optimiser may be another that takes no workers
    if times is not None:
        times.lap("optimizer")
        times.steps += 1
    figures = [r[1] for r in results]
    return figures[0] if len(figures) == 1 else model.xp.stack(figures).sum(axis=0)


def train_step(model, optimizer, x, y, lr):
    """gradient_step, with (summed loss, number right) of the batch before the step as Python floats
    (one transfer from the device)."""
    loss, correct = to_host(gradient_step(model, optimizer, x, y, lr))
    return float(loss), float(correct)


def step_threads(model, config):
    """How many threads take a training step's slices at once: on the host, `config.threads` (0: one per
    core), at most one per slice of a batch (the model's `training_slice`); 1 on a GPU or without threads."""
    if not is_host(model.xp) or not threads_available():
        return 1
    size = model.training_slice or config.batch_size
    return max(1, min(config.threads or os.cpu_count() or 1, math.ceil(config.batch_size / size)))


class RunData:
    """What a training run sets up once, shared by train() and run.TrainingRun: the split (held-out images last,
    as ggml holds them out), the data on the model's xp, the digits redrawn as pen strokes when the config
    shows them (cached on disk), the optimizer, and the step counts."""

    def __init__(self, model, images, labels, config, optimizer=None):
        xp = model.xp
        train_idx, val_idx = split_validation(len(images), config.val_split)
        self.train_images = xp.asarray(images[train_idx])
        self.train_labels = xp.asarray(labels[train_idx].astype(np.int64))
        self.val_images, self.val_labels = xp.asarray(images[val_idx]), labels[val_idx]
        self.redrawn = (xp.asarray(redraw_bank(images[train_idx], labels[train_idx], config.seed))
                        if config.augment and getattr(config, "redraw", 0.0) > 0 else None)
        self.optimizer = optimizer or AdamW(model.params, config.learning_rate, config.beta1, config.beta2,
                                            config.eps, config.weight_decay, xp=xp)
        self.n_train = len(train_idx)
        self.steps_per_epoch = math.ceil(self.n_train / config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs


def train(model, images, labels, config, reporter=None, start_epoch=0, optimizer=None, on_epoch_end=None,
          times=None):
    """Train `model` in place on uint8 `images` (N, 28, 28) and `labels` (N,); return the EpochStats list.

    Data goes to the model's device once; on a GPU, the per-batch loss and accuracy come back
    once per epoch, so the reporter gets each epoch's batches together at its end. `start_epoch`,
    `optimizer` and `on_epoch_end` (called with (stats, optimizer) after each epoch) are what
    checkpointing uses; `times` (a StepTimes) collects where the steps' time went.
    """
    xp = model.xp
    reporter = reporter or SilentReporter()
    data = RunData(model, images, labels, config, optimizer)
    train_images, train_labels, val_images, val_labels = (data.train_images, data.train_labels, data.val_images,
                                                          data.val_labels)
    redrawn, optimizer, n_train = data.redrawn, data.optimizer, data.n_train
    batches_per_epoch = data.steps_per_epoch
    batch_sizes = [min(config.batch_size, n_train - b * config.batch_size) for b in range(batches_per_epoch)]
    total_steps = data.total_steps
    report_each_batch = is_host(xp)  # reading per-batch figures back costs nothing on the host
    history = []
    n_threads = step_threads(model, config)
    with contextlib.ExitStack() as context:
        workers = None
        if n_threads > 1:
            workers = context.enter_context(ThreadPoolExecutor(n_threads, thread_name_prefix="mnist-core-step"))
        batches = context.enter_context(BatchStream(model, train_images, train_labels, redrawn, config, start_epoch,
                                                    batches_per_epoch, prefetch=config.prefetch, times=times,
                                                    workers=workers))
        for epoch in range(start_epoch, config.epochs):
            start = time.perf_counter()
            reporter.start_epoch(epoch, batches_per_epoch)
            figures = []  # per batch, on the device: [summed loss, number right]
            # While the pool's threads run the steps, BLAS threads of its own would only compete with them
            # (backend.blas_threads); validation below has BLAS to itself again.
            with blas_threads(max(1, (os.cpu_count() or 1) // n_threads)) if workers else contextlib.nullcontext():
                for b in range(batches_per_epoch):
                    x, y = batches.next_batch()
                    lr = learning_rate_at(config, epoch * batches_per_epoch + b, total_steps)
                    figures.append(gradient_step(model, optimizer, x, y, lr, times=times, workers=workers))
                    if report_each_batch:
                        loss, correct = (float(v) for v in figures[-1])
                        reporter.batch(batch_sizes[b], loss / batch_sizes[b], correct / batch_sizes[b])
            figures = to_host(xp.stack(figures)).astype(np.float64)   # (batches, 2), one transfer an epoch
            if not report_each_batch:
                for n_images, (loss, correct) in zip(batch_sizes, figures, strict=True):
                    reporter.batch(n_images, loss / n_images, correct / n_images)
            loss_sum, correct = figures.sum(axis=0)
            val = evaluate(model, val_images, val_labels) if len(val_labels) else None
            stats = EpochStats(epoch + 1, float(loss_sum) / n_train, float(correct) / n_train,
                               val.loss if val else math.nan, val.accuracy if val else math.nan,
                               time.perf_counter() - start)
            history.append(stats)
            reporter.end_epoch(stats)
            if on_epoch_end:
                on_epoch_end(stats, optimizer)
    return history
