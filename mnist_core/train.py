"""`python -m mnist_core.train ARCH OUT.gguf [TRAIN_IMAGES TRAIN_LABELS]`: ggml's mnist-train, in Python.

With no data arguments it trains on the fetched MNIST training set and, at the end, reports
the result on the fetched test set. The model file's metadata holds every setting and the command
line that makes the same model (training.config.command_line).
"""

import argparse
import sys
import time
from pathlib import Path

from .backend import BACKENDS, get_array_module
from .cli import run_cli
from .errors import MnistCoreError
from .eval import parse_backend
from .evaluation import evaluate
from .formats.gguf_constants import KEY_TEST_ACCURACY, KEY_TRAINING_COMMAND
from .formats.idx import read_idx_pair
from .models import ARCHITECTURES, init_model, save_model
from .training.checkpoint import load_checkpoint, save_checkpoint
from .training.config import DEFAULT_RECIPE, RECIPES, TrainConfig, command_line, resolve_config
from .training.optimizer import AdamW
from .training.run import SilentReporter, train


class ProgressReporter(SilentReporter):
    """A progress bar per epoch (tqdm when installed) and one line per epoch with the validation result.

    One tqdm bar serves every epoch (made at the first, reset at each later one, cleared at each end): Ctrl-C landing
    inside tqdm's constructor, as it could with a bar made each epoch, leaves a half-made bar whose collection at exit
    prints a traceback after "interrupted".
    """

    def __init__(self, epochs, n_train):
        self.epochs, self.n_train = epochs, n_train
        try:
            from tqdm import tqdm
        except ImportError:  # the training extra brings tqdm; without it, plain lines
            tqdm = None
        self.tqdm = tqdm
        self.bar = None

    def start_epoch(self, epoch, n_batches):
        self.seen = self.loss_sum = self.correct = 0
        self.epoch = epoch + 1
        if not self.tqdm:
            return
        desc = f"epoch {self.epoch}/{self.epochs}"
        if self.bar is None:
            self.bar = self.tqdm(total=self.n_train, desc=desc, unit="img", leave=False, dynamic_ncols=True,
                                 mininterval=0.5)
        else:
            self.bar.set_description(desc, refresh=False)
            self.bar.set_postfix_str("", refresh=False)
            self.bar.reset(total=self.n_train)

    def batch(self, n_images, loss, accuracy):
        self.seen += n_images
        self.loss_sum += loss * n_images
        self.correct += accuracy * n_images
        if self.bar:
            self.bar.set_postfix_str(f"loss={self.loss_sum / self.seen:.4f} acc={100 * self.correct / self.seen:.2f}%",
                                     refresh=False)
            self.bar.update(n_images)

    def end_epoch(self, stats):
        if self.bar:
            self.bar.clear()
        print(f"epoch {stats.epoch}/{self.epochs}: train_loss={stats.train_loss:.4f} "
              f"train_acc={100 * stats.train_accuracy:.2f}% val_loss={stats.val_loss:.4f} "
              f"val_acc={100 * stats.val_accuracy:.2f}% ({stats.seconds:.1f} s)", flush=True)

    def close(self):
        if self.bar:
            self.bar.close()


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m mnist_core.train",
        description="Train an mnist-fc or mnist-cnn model and write it as a GGUF file ggml's tools load.")
    parser.add_argument("arch", choices=sorted(ARCHITECTURES), help="architecture")
    parser.add_argument("out", help="output GGUF file (written atomically)")
    parser.add_argument("images", nargs="?", help="IDX training images (default: the fetched MNIST training set)")
    parser.add_argument("labels", nargs="?", help="IDX training labels")
    parser.add_argument("ggml_backend", nargs="?", metavar="BACKEND", help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=BACKENDS, help="array backend (default: numpy)")
    defaults = TrainConfig()  # ggml's values; a recipe may set others, a flag overrides both
    parser.add_argument("--epochs", type=int, help=f"epochs (default: {defaults.epochs})")
    parser.add_argument("--batch-size", type=int, help=f"images per step (default: {defaults.batch_size})")
    recipe_rates = "; ".join(f"{name}: " + ", ".join(f"{arch} {lr:g}" for arch, lr in recipe["learning_rate"].items())
                             for name, recipe in RECIPES.items())
    parser.add_argument("--lr", type=float, help=f"peak learning rate (default: the recipe's for ARCH; {recipe_rates})")
    parser.add_argument("--weight-decay", type=float, help=f"AdamW weight decay (default: {defaults.weight_decay})")
    parser.add_argument("--val-split", type=float, help=f"fraction held out (default: {defaults.val_split})")
    parser.add_argument("--seed", type=int,
                        help=f"seed for init, shuffling and augmentation (default: {defaults.seed})")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default=DEFAULT_RECIPE,
                        help=f"'{DEFAULT_RECIPE}' (default): He init, cosine-decayed rate, random rotation, scale and "
                             "shift; 'ggml': the reference's init, constant rate, no augmentation")
    parser.add_argument("--init", choices=["he", "ggml"], help="override the recipe's weight init")
    parser.add_argument("--schedule", choices=["cosine", "constant"],
                        help="override the recipe's learning-rate schedule")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="override the recipe's data augmentation")
    parser.add_argument("--stroke-width", type=float, help="also thicken or thin the ink at random by up to this "
                        "many pixels a side (default 0: off; docs/training.md)")
    parser.add_argument("--shear", type=float, help="also shear at random by up to this factor (default 0: off)")
    parser.add_argument("--elastic", type=float, help="also distort elastically by this many pixels (default 0: off)")
    parser.add_argument("--limit", type=int, help="use only the first N training images (quick runs)")
    parser.add_argument("--checkpoint",
                        help="write a checkpoint here after every epoch (default with --resume: OUT.ckpt)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--test-images",
                        help="IDX test images for the final result (default: the fetched MNIST test set)")
    parser.add_argument("--test-labels", help="IDX test labels")
    return parser


def config_from_args(args):
    """The run's TrainConfig: the recipe for ARCH with the knobs given on the command line."""
    if args.limit is not None and args.limit < 1:
        raise MnistCoreError(f"--limit must be at least 1, got {args.limit}")
    return resolve_config(args.arch, args.recipe, epochs=args.epochs, batch_size=args.batch_size,
                          learning_rate=args.lr, weight_decay=args.weight_decay, val_split=args.val_split,
                          seed=args.seed, init=args.init, schedule=args.schedule, augment=args.augment,
                          stroke_width=args.stroke_width, shear=args.shear, elastic=args.elastic)


def training_data(args):
    """(images, labels, test paths or None) for the arguments given."""
    if bool(args.images) != bool(args.labels):
        raise MnistCoreError(
            "give both TRAIN_IMAGES and TRAIN_LABELS, or neither to use the fetched MNIST training set")
    if bool(args.test_images) != bool(args.test_labels):
        raise MnistCoreError("give both --test-images and --test-labels")
    test_paths = (args.test_images, args.test_labels) if args.test_images else None
    if args.images:
        images, labels = read_idx_pair(args.images, args.labels)
    else:
        from .data import dataset_files
        images, labels = read_idx_pair(*dataset_files("mnist", "train"))
        test_paths = test_paths or dataset_files("mnist", "test")
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    return images, labels, test_paths


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    xp = get_array_module(parse_backend(args.backend or args.ggml_backend or "numpy"))
    config = config_from_args(args)
    images, labels, test_paths = training_data(args)
    checkpoint = args.checkpoint or (f"{args.out}.ckpt" if args.resume else None)
    command = command_line(args.arch, args.out, config, args.recipe, args.images, args.labels, args.limit)
    metadata = {KEY_TRAINING_COMMAND: command, **config.as_metadata()}

    start_epoch, optimizer = 0, None
    if args.resume and Path(checkpoint).exists():
        model, start_epoch, step, moments, _ = load_checkpoint(checkpoint, xp)
        if model.arch != args.arch:
            raise MnistCoreError(f"{checkpoint}: checkpoint is {model.arch}, not {args.arch}")
        optimizer = AdamW(model.params, config.learning_rate, config.beta1, config.beta2, config.eps,
                          config.weight_decay, xp=xp)
        optimizer.load_state(step, moments["m"], moments["v"])
        print(f"main: resuming from {checkpoint} after epoch {start_epoch}")
    else:
        model = init_model(args.arch, seed=config.seed, xp=xp, scheme=config.init)

    n_val = int(round(len(images) * config.val_split))
    print(f"main: training {args.arch} on {len(images) - n_val} images ({n_val} held out for validation), "
          f"{config.epochs} epochs, batch {config.batch_size}, recipe {args.recipe} "
          f"(init {config.init}, {config.schedule} lr {config.learning_rate:g}, "
          f"augment {'on' if config.augment else 'off'})")

    def on_epoch_end(stats, opt):
        if checkpoint:
            save_checkpoint(checkpoint, model, opt, stats.epoch, metadata)

    start = time.perf_counter()
    reporter = ProgressReporter(config.epochs, len(images) - n_val)
    try:
        history = train(model, images, labels, config, reporter, start_epoch=start_epoch, optimizer=optimizer,
                        on_epoch_end=on_epoch_end)
    finally:
        reporter.close()
    elapsed = time.perf_counter() - start
    if history:
        print(f"main: training took {elapsed:.1f} s, {elapsed / len(history):.2f} s/epoch")

    if test_paths:
        test_images, test_labels = read_idx_pair(*test_paths)
        result = evaluate(model, test_images, test_labels)
        metadata[KEY_TEST_ACCURACY] = result.accuracy
        print(f"main: test_loss={result.loss:.6f}+-{result.loss_uncertainty:.6f}")
        print(f"main: test_acc={result.accuracy * 100:.2f}+-{result.accuracy_uncertainty * 100:.2f}%")
    save_model(model, args.out, metadata)
    print(f"main: wrote {args.out}")
    return 0


def console_main():
    """Entry point of the console script and of `python -m`: errors as one line, exit code."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    console_main()
