"""A run's batches: which images each one holds and how they are augmented, from the seed alone.

Every random number a batch uses comes from generators seeded by the run's seed, the epoch and the
batch index alone (`epoch_order`, `batch_generator`), so a batch's images are the same whichever
thread prepares it and whenever: prefetching, threads and resuming from a checkpoint give the same run.
"""

import numpy as np

from ..mnist import IMAGE_SIZE
from .augment import apply_augmentation, draw_augmentation


def epoch_order(seed, epoch, n):
    """The order (n,) in which epoch `epoch` (0-based) visits the n training images."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_generator(seed, epoch, batch):
    """The NumPy generator batch `batch` of epoch `epoch` draws its augmentation from: its own stream,
    independent of every other batch's and of the order in which batches are prepared."""
    return np.random.default_rng([seed, epoch, batch])


def prepare_batch(model, images, labels, order, config, epoch, batch, workspace=None, pool=None):
    """Batch `batch` of `epoch`: (x (B, 28, 28) float32, augmented as `config` says; y (B,)) on the model's xp.

    `images` (N, 28, 28) uint8, `labels` (N,) int and `order` (N,) are already on the model's xp.

    The batch's random numbers are drawn first, on the host (augment.draw_augmentation); then the
    images are gathered, scaled and augmented in the slices the step takes (Model.batch_slices), which
    `pool` (the step's thread pool) takes at once. Every transform works image by image, so the slices,
    threads or not, give what the batch as a whole would. `workspace` (a layers.Workspace) keeps each
    slice's scratch arrays from batch to batch.
    """
    xp = model.xp
    chosen = order[batch * config.batch_size:(batch + 1) * config.batch_size]
    n = len(chosen)
    plan = draw_augmentation(batch_generator(config.seed, epoch, batch), n, config)
    bounds = model.batch_slices(n)
    x = xp.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)

    def prepare(k):
        start, stop = bounds[k]
        part = model.prepare_input(images[chosen[start:stop]])
        if plan is None:
            x[start:stop] = part
        else:
            scope = None if workspace is None else workspace.scope(f"slice{k}")
            apply_augmentation(xp, part, plan.rows(start, stop), workspace=scope, out=x[start:stop])

    if pool is not None and len(bounds) > 1:
        list(pool.map(prepare, range(len(bounds))))
    else:
        for k in range(len(bounds)):
            prepare(k)
    return x, labels[chosen]
