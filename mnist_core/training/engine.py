"""How a run's steps are carried out, as fast as the machine allows: a reader of the loop can skip this file.

Two parts, each serial where nothing else is possible (a GPU, Pyodide) and faster on a host's cores:

  StepExecutor   one gradient step: forward, loss and backward through the model's slices of the batch
                 (Model.batch_slices), their gradients summed in slice order, then AdamW. On the host a
                 thread pool takes the slices at once, with BLAS kept to one thread per pool thread
                 meanwhile (its own threads would only compete with ours).
  batch_source   the batches of a run in order: prepared when asked for, or ahead by a background
                 thread (PREFETCH_DEPTH batches), which on the host hands each batch's slices to the
                 step's own pool, so that preparing shares the cores with the steps instead of
                 competing with them.

Neither changes a result: the slices and the order their gradients are added in are the same with or
without threads (BLAS with another number of threads of its own may round differently), and each
batch's random numbers come from (seed, epoch, batch) alone (pipeline.py). `StepTimes`, when given,
records where the time goes (bench/bench_train.py prints it).
"""

import contextlib
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ..backend import can_start_threads, cpu_threads, limit_blas_threads, synchronize, to_host
from ..layers import softmax_cross_entropy, softmax_cross_entropy_backward

PREFETCH_DEPTH = 2  # batches prepared ahead: one to absorb a slow batch, one being trained on


class StepTimes:
    """Seconds spent in each phase of the training steps so far, summed; `per_step()` averages them.

    forward, backward (loss included) and optimizer are wall time of the step (forward and backward of
    slices that threads take at once are their wall time, split as the threads' own clocks split it);
    preparation is the batches' (thread time, overlapping the steps when prefetching); waiting is the loop
    idle until its next batch was ready. On a GPU every phase ends with a synchronisation, so timing
    slows the run a little.
    """

    PHASES = ("forward", "backward", "optimizer", "preparation", "waiting")

    def __init__(self, xp=None):
        self.xp = xp
        self.steps = 0
        self.seconds = dict.fromkeys(self.PHASES, 0.0)

    def sync(self):
        """Wait for the device (a no-op on NumPy)."""
        if self.xp is not None:
            synchronize(self.xp)

    def add(self, phase, seconds):
        self.seconds[phase] += seconds

    def per_step(self):
        """{phase: mean seconds per step}."""
        return {phase: seconds / max(self.steps, 1) for phase, seconds in self.seconds.items()}


class StepPool(ThreadPoolExecutor):
    """The threads that take a step's slices (and a batch's preparation, and AdamW's pieces) at once."""

    def __init__(self, threads):
        super().__init__(threads, thread_name_prefix="mnist-core-step")
        self.threads = threads


def _slice_gradients(model, x, y, share, sync=None, kept=None):
    """Forward, loss and backward of one slice -> (gradients of `share` times the slice's mean loss, [summed
    loss, number right] on the device, seconds of forward, seconds of loss and backward). `kept`, the slice's
    (logits (B, 10), weights (B,)) or None, adds weight / 2 * |logits - kept logits|^2 to each image's loss."""
    xp = model.xp
    start = time.perf_counter()
    logits, cache = model.forward(x)
    if sync is not None:
        sync()
    forwarded = time.perf_counter()
    losses, probs = softmax_cross_entropy(xp, logits, y)
    dlogits = softmax_cross_entropy_backward(xp, probs, y)   # of the slice's mean loss
    if kept is not None:
        kept_logits, weights = kept
        dlogits += weights[:, None] * (logits - kept_logits) / x.shape[0]
    if share != 1:
        dlogits *= share                                      # of its share of the batch's
    grads = model.backward(dlogits, cache)
    figures = xp.stack([losses.sum(), (logits.argmax(axis=1) == y).sum()])
    if sync is not None:
        sync()
    return grads, figures, forwarded - start, time.perf_counter() - forwarded


def gradient_step(model, optimizer, x, y, lr, pool=None, times=None, kept=None):
    """One gradient step on float images x (B, 28, 28) and int labels y (B,), all on the model's `xp`; returns
    an `xp` array [summed loss, number right] of the batch before the step, left on the device (reading it
    back would make the host wait for a GPU every step).

    The batch goes through in the model's slices (Model.batch_slices), which `pool` (a StepPool, the host
    only) takes at once; the slices' gradients are summed in slice order either way. `kept` (fine-tuning's
    distillation): (logits (B, 10), weights (B,)) to keep each image's logits near, or None; the loss
    returned is the cross-entropy alone.
    """
    n = x.shape[0]
    bounds = model.batch_slices(n)
    sync = times.sync if times is not None and pool is None else None

    def one_slice(bound):
        start, stop = bound
        kept_slice = None if kept is None else (kept[0][start:stop], kept[1][start:stop])
        return _slice_gradients(model, x[start:stop], y[start:stop], (stop - start) / n, sync, kept_slice)

    started = time.perf_counter()
    results = list(pool.map(one_slice, bounds)) if pool is not None and len(bounds) > 1 else \
        [one_slice(bound) for bound in bounds]
    if times is not None:
        forward, backward = sum(r[2] for r in results), sum(r[3] for r in results)
        wall = time.perf_counter() - started
        times.add("forward", wall * forward / max(forward + backward, 1e-12))
        times.add("backward", wall * backward / max(forward + backward, 1e-12))
        started = time.perf_counter()
    grads = results[0][0]
    for slice_grads, *_ in results[1:]:
        for name, grad in slice_grads.items():
            grads[name] += grad
    optimizer.step(model.params, grads, lr=lr, pool=pool)
    if times is not None:
        times.sync()
        times.add("optimizer", time.perf_counter() - started)
        times.steps += 1
    figures = [r[1] for r in results]
    return figures[0] if len(figures) == 1 else model.xp.stack(figures).sum(axis=0)


def train_step(model, optimizer, x, y, lr, kept=None):
    """gradient_step without threads, with (summed loss, number right) as Python floats (one transfer)."""
    loss, correct = to_host(gradient_step(model, optimizer, x, y, lr, kept=kept))
    return float(loss), float(correct)


class StepExecutor:
    """gradient_step for one run's model: serial, or with `threads` (0: one per core, at most one per slice of a
    `batch_size` batch) taking the slices at once on the host. Close it (or use it as a context manager)."""

    def __init__(self, model, batch_size, threads=0, times=None):
        self.model, self.times = model, times
        self.threads = min(cpu_threads(model.xp, threads), len(model.batch_slices(batch_size)))
        self.pool = StepPool(self.threads) if self.threads > 1 else None

    def step(self, optimizer, x, y, lr):
        return gradient_step(self.model, optimizer, x, y, lr, pool=self.pool, times=self.times)

    def stepping(self):
        """A context for a series of steps: BLAS limited to its share of the cores while the pool runs."""
        if self.pool is None:
            return contextlib.nullcontext()
        return limit_blas_threads(max(1, (os.cpu_count() or 1) // self.threads))

    def close(self):
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None


class SerialBatches:
    """`prepare(step)` for each step of `steps` in order, made when asked for."""

    def __init__(self, prepare, steps, times=None):
        self._prepare, self._steps, self._times = prepare, iter(steps), times

    def next_batch(self):
        step = next(self._steps, None)
        if step is None:
            raise IndexError("no batches left in this run")
        started = time.perf_counter()
        batch = self._prepare(step)
        if self._times is not None:
            self._times.sync()
            self._times.add("preparation", time.perf_counter() - started)
        return batch

    def close(self):
        pass


class PrefetchedBatches:
    """`prepare(step)` for each step of `steps` in order, made up to PREFETCH_DEPTH ahead by a background thread
    (across epoch boundaries: the next epoch's first batches are ready while validation runs). An error in
    preparing reaches `next_batch`; `close()` stops the thread when a run ends early."""

    def __init__(self, prepare, steps, times=None):
        self._prepare, self._steps, self._times = prepare, list(steps), times
        self._taken = 0
        self._stop = threading.Event()
        self._queue = queue.Queue(maxsize=PREFETCH_DEPTH)
        self._thread = threading.Thread(target=self._produce_all, name="mnist-core-batches", daemon=True)
        self._thread.start()

    def _produce_all(self):
        for step in self._steps:
            started = time.perf_counter()
            try:
                item = ("batch", self._prepare(step))
                if self._times is not None:
                    self._times.add("preparation", time.perf_counter() - started)
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
        if self._taken >= len(self._steps):
            raise IndexError("no batches left in this run")
        self._taken += 1
        started = time.perf_counter()
        kind, value = self._queue.get()
        if self._times is not None:
            self._times.add("waiting", time.perf_counter() - started)
        if kind == "error":
            raise value
        return value

    def close(self):
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                pass
        self._thread.join()


def batch_source(prepare, steps, prefetch=True, times=None):
    """The batches `prepare(step)` of `steps`, prefetched by a thread when asked for and threads can start."""
    if prefetch and can_start_threads() and len(steps):
        return PrefetchedBatches(prepare, steps, times)
    return SerialBatches(prepare, steps, times)
