"""Training batches, prepared one or two steps ahead in a background thread.

Preparing a batch (gathering its images, scaling them to floats, augmenting them) needs nothing
from the model, so it can run while the previous step trains. On the host its slices go to the
training step's own thread pool (prepare_batch), so that preparing shares the cores with the
steps instead of competing with them; the background thread then draws the batch's random
numbers and hands the slices over, and a batch is ready before the step that needs it whenever
the step leaves a core idle. On CuPy the thread queues the batch's kernels while the step's own
are still running.

Results never depend on the thread or the pool. Every random number a batch uses comes from
generators seeded by the run's seed, the epoch and the batch index alone (`epoch_order`,
`batch_generator`), so a batch's images are the same whichever thread prepares them, and
whether or not one does (`TrainConfig.prefetch`, `TrainConfig.threads`).
"""

import queue
import sys
import threading
import time

import numpy as np

from ..layers.workspace import Workspace
from .augment import IMAGE_SIZE, apply_augmentation, draw_augmentation

PREFETCH_DEPTH = 2  # batches prepared ahead: one to absorb a slow batch, one being trained on


def epoch_order(seed, epoch, n):
    """The order (n,) in which epoch `epoch` (0-based) visits the n training images."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_generator(seed, epoch, batch):
    """The NumPy generator batch `batch` of epoch `epoch` draws its augmentation from: its own stream,
    independent of every other batch's and of the order in which batches are prepared."""
    return np.random.default_rng([seed, epoch, batch])


def prepare_batch(model, images, labels, redrawn, order, config, epoch, batch, times=None, workspaces=None,
                  workers=None):
    """Batch `batch` of `epoch`: (x (B, 28, 28) float32, augmented as `config` says; y (B,)) on the model's xp.

    `images` (N, 28, 28) uint8, `labels` (N,) int, `order` (N,) and `redrawn` (N, 28, 28) uint8
    or None are already on the model's xp. `times` (a StepTimes), if given, gets the seconds spent.

    The batch's random numbers are drawn first, on the host (augment.draw_augmentation). On the
    host the images are then gathered, scaled and augmented in the slices the step takes
    (Model.batch_slices), which `workers` (the training step's thread pool) take at once: a batch is
    ready in half the time on two cores, and preparing it never competes with a step for a core,
    which costs a step whose slices wait for each other more than the preparation itself. Every
    transform works image by image, so the slices, threads or not, give the batch as a whole
    would. `workspaces` (a dict) keeps each slice's scratch arrays from batch to batch.
    """
    xp = model.xp
    chosen = order[batch * config.batch_size:(batch + 1) * config.batch_size]
    n = len(chosen)
    plan = draw_augmentation(batch_generator(config.seed, epoch, batch), n, config, redrawn is not None)
    bounds = model.batch_slices(n)
    x = xp.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)

    def prepare(k):
        """Slice k into x; returns its seconds of gathering and of augmenting."""
        start, stop = bounds[k]
        began = time.perf_counter()
        rows = chosen[start:stop]
        part = model.prepare_input(images[rows])
        if times is not None:
            times.sync()  # on a GPU, so that the seconds are the kernels' and not just their launch
        gathered = time.perf_counter()
        if plan is None:
            x[start:stop] = part
        else:
            workspace = None if workspaces is None else workspaces.setdefault(k, Workspace(xp))
            apply_augmentation(xp, part, plan.rows(start, stop), None if redrawn is None else redrawn[rows],
                               workspace=workspace, out=x[start:stop])
        if times is not None:
            times.sync()
        return gathered - began, time.perf_counter() - gathered

    if workers is not None and len(bounds) > 1:
        seconds = list(workers.map(prepare, range(len(bounds))))
    else:
        seconds = [prepare(k) for k in range(len(bounds))]
    if times is not None:   # thread seconds, summed over the slices
        times.gather += sum(s[0] for s in seconds)
        times.augment += sum(s[1] for s in seconds)
    return x, labels[chosen]


def threads_available():
    """False where threads cannot start (Pyodide in a browser)."""
    return sys.platform != "emscripten"


class BatchStream:
    """The batches of epochs `start_epoch` .. `config.epochs - 1`, in order, each as prepare_batch makes it.

    With `prefetch` a background thread prepares up to PREFETCH_DEPTH batches ahead, across
    epoch boundaries (the next epoch's first batches are ready while validation runs); without
    it each batch is prepared when asked for. `workers` (the training step's thread pool, or None)
    takes each batch's slices. Use as a context manager, or call close(), so that the thread stops
    when training ends early.
    """

    def __init__(self, model, images, labels, redrawn, config, start_epoch, batches_per_epoch, prefetch=True,
                 times=None, workers=None):
        self._args = (model, images, labels, redrawn)
        self._xp, self._config, self._times = model.xp, config, times
        self._n_train = len(labels)
        self._plan = [(epoch, b) for epoch in range(start_epoch, config.epochs) for b in range(batches_per_epoch)]
        self._next = 0
        self._orders = {}
        # Batches are prepared one at a time (by the thread, or by the caller without one), so one
        # workspace per slice serves them all: each batch's augmentation reuses the previous one's scratch
        # arrays instead of faulting in fresh pages (layers/workspace.py).
        self._workspaces = {}
        self._workers = workers
        self._stop = threading.Event()
        self._queue = self._thread = None
        if prefetch and threads_available() and self._plan:
            self._queue = queue.Queue(maxsize=PREFETCH_DEPTH)
            self._thread = threading.Thread(target=self._produce_all, name="mnist-core-batches", daemon=True)
            self._thread.start()

    def _make(self, index):
        epoch, b = self._plan[index]
        if epoch not in self._orders:  # one order per epoch, moved to the device once
            self._orders = {epoch: self._xp.asarray(epoch_order(self._config.seed, epoch, self._n_train))}
        return prepare_batch(*self._args, self._orders[epoch], self._config, epoch, b, times=self._times,
                             workspaces=self._workspaces, workers=self._workers)

    def _produce_all(self):
        for index in range(len(self._plan)):
            try:
                item = ("batch", self._make(index))
            except BaseException as exc:  # handed to the training thread, which raises it
                item = ("error", exc)
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if self._stop.is_set() or item[0] == "error":
                return

    def next_batch(self):
        """The next (x, y) of the plan; raises what preparing it raised."""
        if self._next >= len(self._plan):
            raise IndexError("no batches left in this run")
        self._next += 1
        if self._thread is None:
            return self._make(self._next - 1)
        start = time.perf_counter()
        kind, value = self._queue.get()
        if self._times is not None:
            self._times.waiting += time.perf_counter() - start
        if kind == "error":
            raise value
        return value

    def close(self):
        """Stop the background thread (if any) and drop what it prepared."""
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:
                    self._queue.get(timeout=0.1)
                except queue.Empty:
                    pass
            self._thread.join()
            self._thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
