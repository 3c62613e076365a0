"""Training batches, prepared one or two steps ahead in a background thread.

Preparing a batch (gathering its images, scaling them to floats, augmenting them) needs nothing
from the model, so it can run while the previous step trains: NumPy releases the GIL inside its
array operations, and the preparing thread then keeps the second core busy while the training
thread runs single-threaded element-wise work. On CuPy the thread queues the batch's kernels
while the step's own are still running.

Results never depend on the thread. Every random number a batch uses comes from generators
seeded by the run's seed, the epoch and the batch index alone (`epoch_order`,
`batch_generator`), so a batch's images are the same whichever thread prepares them, and
whether or not one does (`TrainConfig.prefetch`).
"""

import queue
import sys
import threading
import time

import numpy as np

from ..layers.workspace import Workspace
from .augment import augment_batch

PREFETCH_DEPTH = 2  # batches prepared ahead: one to absorb a slow batch, one being trained on


def epoch_order(seed, epoch, n):
    """The order (n,) in which epoch `epoch` (0-based) visits the n training images."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_generator(seed, epoch, batch):
    """The NumPy generator batch `batch` of epoch `epoch` draws its augmentation from: its own stream,
    independent of every other batch's and of the order in which batches are prepared."""
    return np.random.default_rng([seed, epoch, batch])


def prepare_batch(model, images, labels, redrawn, order, config, epoch, batch, times=None, workspace=None):
    """Batch `batch` of `epoch`: (x (B, 28, 28) float32, augmented as `config` says; y (B,)) on the model's xp.

    `images` (N, 28, 28) uint8, `labels` (N,) int, `order` (N,) and `redrawn` (N, 28, 28) uint8
    or None are already on the model's xp. `times` (a StepTimes), if given, gets the seconds spent;
    `workspace` (a layers.Workspace) keeps the augmentation's intermediates from batch to batch.
    """
    xp = model.xp
    start = time.perf_counter()
    chosen = order[batch * config.batch_size:(batch + 1) * config.batch_size]
    x = model.prepare_input(images[chosen])                                  # (B, 28, 28) float32
    gathered = time.perf_counter()
    x = augment_batch(xp, x, batch_generator(config.seed, epoch, batch), config,
                      None if redrawn is None else redrawn[chosen], workspace=workspace)
    if times is not None:
        times.sync()  # on a GPU, so that the seconds are the kernels' and not just their launch
        end = time.perf_counter()
        times.gather += gathered - start
        times.augment += end - gathered
    return x, labels[chosen]


def threads_available():
    """False where threads cannot start (Pyodide in a browser)."""
    return sys.platform != "emscripten"


class BatchStream:
    """The batches of epochs `start_epoch` .. `config.epochs - 1`, in order, each as prepare_batch makes it.

    With `prefetch` a background thread prepares up to PREFETCH_DEPTH batches ahead, across
    epoch boundaries (the next epoch's first batches are ready while validation runs); without
    it each batch is prepared when asked for. Use as a context manager, or call close(), so that
    the thread stops when training ends early.
    """

    def __init__(self, model, images, labels, redrawn, config, start_epoch, batches_per_epoch, prefetch=True,
                 times=None):
        self._args = (model, images, labels, redrawn)
        self._xp, self._config, self._times = model.xp, config, times
        self._n_train = len(labels)
        self._plan = [(epoch, b) for epoch in range(start_epoch, config.epochs) for b in range(batches_per_epoch)]
        self._next = 0
        self._orders = {}
        # Batches are prepared one at a time (by the thread, or by the caller without one), so one
        # workspace serves them all: each batch's augmentation reuses the previous one's scratch arrays
        # instead of faulting in fresh pages (layers/workspace.py).
        self._workspace = Workspace(model.xp)
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
                             workspace=self._workspace)

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
