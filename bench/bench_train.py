"""Seconds per training epoch of mnist-core, next to PyTorch CPU training the same architecture the same way.

    python bench/bench_train.py [--epochs 2] [--arch mnist-fc|mnist-cnn] [--backend numpy|cupy]

The data is the MNIST training set split as the train CLI splits it: 57,000 images trained on,
the last 3,000 (5%) held out. Ours is mnist_core.training.run.train with
TrainConfig(epochs=N) (He init, cosine rate, augmentation on) and with
TrainConfig(epochs=N, augment=False); an epoch's time is the trainer's own EpochStats.seconds:
the 57 steps of 1,000 images (forward, loss, backward, AdamW) plus the validation pass over the
3,000 held-out images. PyTorch (when installed) runs the same loop with the same timing: batch
1000, torch.optim.AdamW(lr=1e-3, weight_decay=0), the same augmentation (affine_grid /
grid_sample with the same random parameters), a validation pass per epoch. The two runs' epochs are
taken in turn, one of ours, one of PyTorch's, so that a machine's drifting speed weighs on both
alike. The table shows the median epoch of each run, and for the augment rows what augmentation adds to an epoch (its
target: at most 20 %). A second table splits our steps into their phases (forward, backward,
optimizer, batch preparation, waiting for the next batch); a third times the augmentation alone,
one thread: the affine warp the recipe uses, and with every opt-in transform added.
"""

import argparse
import math
import statistics
import sys
import time

import numpy as np
from bench_eval import machine_summary, print_table

from mnist_core.backend import BACKENDS, get_array_module, synchronize
from mnist_core.data import load_split
from mnist_core.layers import Workspace
from mnist_core.models import init_model
from mnist_core.training.augment import augment_batch, random_affine_params
from mnist_core.training.config import TrainConfig
from mnist_core.training.engine import StepTimes
from mnist_core.training.pipeline import batch_generator, epoch_order
from mnist_core.training.run import split_validation, train

ARCHS = ("mnist-fc", "mnist-cnn")
TARGET_S = {"mnist-fc": 1.3, "mnist-cnn": 5.0}      # what mnist-core promises per epoch on a 2-core CPU
GGML_S = {"mnist-fc": "~3", "mnist-cnn": "~44"}     # ggml's CPU training per epoch (docs/reference.md)


def ours(arch, images, labels, config, xp, seed, split=True):
    """Per-epoch seconds of mnist-core's trainer, and a StepTimes of where its steps' time went (None without
    `split`: on a GPU, timing the phases synchronises after each)."""
    times = StepTimes(xp) if split else None
    return list(our_epochs(arch, images, labels, config, xp, seed, times)), times


def our_epochs(arch, images, labels, config, xp, seed, times=None):
    """mnist-core's trainer, yielding each epoch's seconds as it ends."""
    model = init_model(arch, seed=seed, xp=xp, scheme=config.init)
    for stats in train(model, images, labels, config, times=times):
        yield stats.seconds


def pytorch(arch, images, labels, config, seed, device="cpu"):
    """Per-epoch seconds of the same training in PyTorch on `device` ("cpu" or "cuda"); None if PyTorch is missing."""
    epochs = torch_epochs(arch, images, labels, config, seed, device)
    return None if epochs is None else list(epochs)


def torch_epochs(arch, images, labels, config, seed, device="cpu"):
    """The same training in PyTorch on `device`, as a generator of each epoch's seconds; None if PyTorch is missing.

    As ours, the data go to the device once and the running loss and accuracy stay there until
    the epoch ends.
    """
    try:
        import torch
        import torch.nn.functional as F
        from torch_reference import images_to_tensor, random_affine_torch, torch_model_from
    except ImportError:
        return None
    return _torch_epochs(torch, F, images_to_tensor, random_affine_torch, torch_model_from,
                         arch, images, labels, config, seed, device)


def _torch_epochs(torch, F, images_to_tensor, random_affine_torch, torch_model_from,
                  arch, images, labels, config, seed, device):
    module = torch_model_from(init_model(arch, seed=seed, scheme=config.init)).to(device)
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    train_idx, val_idx = split_validation(len(images), config.val_split)
    train_images = torch.from_numpy(np.ascontiguousarray(images[train_idx])).to(device)
    train_labels = torch.from_numpy(labels[train_idx].astype(np.int64)).to(device)
    val_images = torch.from_numpy(np.ascontiguousarray(images[val_idx])).to(device)
    val_labels = torch.from_numpy(labels[val_idx].astype(np.int64)).to(device)
    n_train = len(train_idx)
    for epoch in range(config.epochs):
        start = time.perf_counter()
        order = torch.from_numpy(epoch_order(config.seed, epoch, n_train)).to(device)  # the same shuffle as ours
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        module.train()
        for b in range(math.ceil(n_train / config.batch_size)):
            batch = order[b * config.batch_size:(b + 1) * config.batch_size]
            x = images_to_tensor(train_images[batch])
            if config.augment:  # the same random parameters as ours
                x = random_affine_torch(x, random_affine_params(batch_generator(config.seed, epoch, b), len(batch)))
            y = train_labels[batch]
            logits = module(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(batch)       # the running loss and accuracy ours reports too
            correct += (logits.argmax(dim=1) == y).sum()
        float(loss_sum), int(correct)
        module.eval()
        with torch.inference_mode():
            val_logits = module(images_to_tensor(val_images))
            float(F.cross_entropy(val_logits, val_labels))
            (val_logits.argmax(dim=1) == val_labels).float().mean().item()
        yield time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed per run (default: 2)")
    parser.add_argument("--arch", choices=ARCHS, action="append",
                        help="only this architecture (repeatable; default: both)")
    parser.add_argument("--backend", choices=BACKENDS, default="numpy",
                        help="mnist-core's array backend (default: numpy)")
    parser.add_argument("--seed", type=int, default=0, help="seed for init, shuffling and augmentation")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    xp = get_array_module(args.backend)

    print(machine_summary())
    images, labels = load_split("mnist", "train")
    rows = []
    for arch in args.arch or ARCHS:
        for augment in (True, False):
            config = TrainConfig(epochs=args.epochs, seed=args.seed, augment=augment)
            what = f"{arch} {'augment' if augment else 'no-augment'}"
            times = StepTimes(xp)
            ours_seconds, torch_seconds = side_by_side(
                our_epochs(arch, images, labels, config, xp, args.seed, times),
                torch_epochs(arch, images, labels, config, args.seed))
            print(f"{what}: ours {format_epochs(ours_seconds)}", flush=True)
            if torch_seconds is not None:
                print(f"{what}: torch {format_epochs(torch_seconds)}", flush=True)
            rows.append((arch, augment, what, ours_seconds, torch_seconds, times))

    n_train = len(images) - int(round(len(images) * TrainConfig().val_split))
    print()
    print(f"seconds per epoch ({n_train} training images, batch 1000, AdamW lr 1e-3; median of {args.epochs} "
          f"epoch(s); mnist-core backend {args.backend}; PyTorch CPU, default threads)")
    header = ("what", "ours s/epoch", "torch s/epoch", "ours/torch", "augmentation adds (ours / torch)",
              "target s/epoch", "ggml s/epoch (reference)")
    plain = {(arch, augment): (statistics.median(o), statistics.median(t) if t else None)
             for arch, augment, _, o, t, _ in rows}
    table = []
    for arch, augment, what, *_ in rows:
        our_s, torch_s = plain[arch, augment]
        ok = "ok" if our_s <= TARGET_S[arch] else "MISSED"
        adds = "-"
        if augment and (arch, False) in plain:
            base_ours, base_torch = plain[arch, False]
            adds = f"{100 * (our_s / base_ours - 1):+.0f} %"
            adds += f" / {100 * (torch_s / base_torch - 1):+.0f} %" if torch_s and base_torch else ""
            adds += " (target <= +20 %: " + ("ok)" if our_s <= 1.2 * base_ours else "MISSED)")
        table.append((what, f"{our_s:.2f}", f"{torch_s:.2f}" if torch_s else "-",
                      f"{our_s / torch_s:.2f}" if torch_s else "-", adds,
                      f"<= {TARGET_S[arch]} {ok}", "-" if augment else GGML_S[arch]))
    print_table(header, table)
    print()
    print_step_split(rows)
    print()
    print_augmentation_alone(images, xp, args.seed)
    return 0


OPT_IN = {"stroke_width": 0.5, "shear": 0.2, "elastic": 2.0}  # the opt-in transforms, at typical strengths


def print_augmentation_alone(images, xp, seed, batch=1000, repeats=15):
    """ms to augment one batch of `batch` images, one thread, scratch arrays reused as the trainer reuses them."""
    x = xp.asarray(images[:batch].astype(np.float32) / 255)
    header = ("augmentation", "ms per 1,000 images (median of 15)")
    table = []
    for what, knobs in (("affine warp (the recipe's)", {}),
                        ("+ " + ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in OPT_IN.items()), OPT_IN)):
        config = TrainConfig(augment=True, **knobs)
        workspace = Workspace(xp)
        seconds = []
        for repeat in range(repeats + 1):
            start = time.perf_counter()
            augment_batch(xp, x, np.random.default_rng([seed, repeat]), config, workspace=workspace)
            synchronize(xp)
            seconds.append(time.perf_counter() - start)
        table.append((what, f"{1000 * statistics.median(seconds[1:]):.1f}"))
    print("augmentation alone (one thread, the step not running):")
    print_table(header, table)


def print_step_split(rows):
    """Where one of our steps' time goes, in ms per step, averaged over every step of the run.

    forward, backward (loss included) and optimizer are the step's wall time (on the CPU, a
    batch's slices go through forward and backward in threads at once); preparation is the
    batches' thread-seconds (gathering, scaling, augmenting), whose slices the step's own thread
    pool takes between the steps' tasks (so a step's optimizer phase may include waiting for a
    slice of the next batch). The step column is an epoch's seconds per step (validation
    included); other is what it holds beyond the step's phases and waiting: validation,
    progress, Python.
    """
    print("ms per step (ours): forward, backward and optimizer are the step's wall time; preparation is the "
          "batches' thread-seconds (its slices run on the step's thread pool, between the steps' own tasks); "
          "waiting is the training loop idle until its next batch")
    header = ("what", "step", "forward", "backward", "optimizer", "waiting", "other", "preparation")
    table = []
    for _, _, what, our_epochs, _, times in rows:
        per_step = {phase: 1000 * seconds for phase, seconds in times.per_step().items()}
        step = 1000 * sum(our_epochs) / max(times.steps, 1)
        other = step - sum(per_step[phase] for phase in ("forward", "backward", "optimizer", "waiting"))
        table.append((what, f"{step:.1f}", *(f"{per_step[p]:.1f}" for p in ("forward", "backward", "optimizer",
                                                                           "waiting")),
                      f"{other:.1f}", f"{per_step['preparation']:.1f}"))
    print_table(header, table)


def side_by_side(ours_run, torch_run):
    """Epoch seconds of both runs, their epochs taken in turn (ours, PyTorch, ours, ...): a machine whose
    speed drifts over minutes (other programs, a shared host) then weighs on both alike."""
    ours_seconds, torch_seconds = [], None if torch_run is None else []
    for seconds in ours_run:
        ours_seconds.append(seconds)
        if torch_run is not None:
            torch_seconds.append(next(torch_run))
    return ours_seconds, torch_seconds


def format_epochs(seconds):
    return ", ".join(f"{s:.2f}" for s in seconds) + " s"


if __name__ == "__main__":
    sys.exit(main())
