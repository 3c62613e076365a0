"""`python -m mnist_core.eval [MODEL] [IMAGES] [LABELS]`: ggml's mnist-eval, in Python.

With no arguments it evaluates the shipped CNN (assets/mnist-cnn-f32.gguf, inside the package
when installed: mnist_core.shipped) on the MNIST test set, fetching the data first if needed.
Output lines match ggml's. With `--explain N` it then writes PNG pictures of what the model sees in N
test images, misclassified first (mnist_core.pictures, docs/explain.md), and says so in one more line.
"""

import argparse
import os
import random
import sys
import time

from .backend import BACKENDS, get_array_module
from .cli import run_cli
from .errors import MnistCoreError
from .evaluation import ascii_digit, evaluate
from .formats.idx import read_idx_pair
from .models import load_model
from .shipped import shipped_model_path

DEFAULT_ARCH = "mnist-cnn"  # the shipped model evaluated when no MODEL is given
# ggml names backends ("CPU", "CUDA0"); map them onto ours so its command lines keep working.
GGML_BACKEND_NAMES = {"cpu": "numpy", "cuda": "cupy", "cuda0": "cupy"}
DEFAULT_EXPLAIN_DIR = "explain"


def parse_backend(name):
    """Our backend name for `name`, accepting ggml's names too."""
    lowered = name.lower()
    return GGML_BACKEND_NAMES.get(lowered, lowered)


def test_set_paths(images, labels):
    """The IMAGES and LABELS to use: the given ones, or the fetched MNIST test set."""
    if images and labels:
        return images, labels
    if images or labels:
        raise MnistCoreError("give both IMAGES and LABELS, or neither to use the fetched MNIST test set")
    from .data import dataset_files  # imported here: fetching is only needed for the defaults
    return dataset_files("mnist", "test")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m mnist_core.eval",
        description="Evaluate an mnist-fc or mnist-cnn GGUF model on MNIST test images, as ggml's mnist-eval does.")
    parser.add_argument("model", nargs="?", help=f"GGUF model (default: the shipped {DEFAULT_ARCH}-f32.gguf)")
    parser.add_argument("images", nargs="?", help="IDX images, raw or .gz (default: the fetched MNIST test images)")
    parser.add_argument("labels", nargs="?", help="IDX labels, raw or .gz (default: the fetched MNIST test labels)")
    parser.add_argument("ggml_backend", nargs="?", metavar="BACKEND", help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=BACKENDS, help="array backend (default: numpy)")
    parser.add_argument("--seed", type=int, help="seed for the choice of the printed digit")
    parser.add_argument("--explain", type=int, metavar="N",
                        help="then write PNG pictures of N test images, misclassified first: the input, its saliency, "
                             "occlusion and every layer's activations, and the first layer's weights "
                             "(docs/explain.md)")
    parser.add_argument("--explain-dir", metavar="DIR", default=DEFAULT_EXPLAIN_DIR,
                        help=f"where --explain writes its pictures (default: {DEFAULT_EXPLAIN_DIR})")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    backend = parse_backend(args.backend or args.ggml_backend or "numpy")
    xp = get_array_module(backend)
    if args.explain is not None and args.explain < 0:
        raise MnistCoreError(f"--explain must be a number of images, 0 or more, got {args.explain}")
    if args.explain and os.path.exists(args.explain_dir) and not os.path.isdir(args.explain_dir):
        raise MnistCoreError(f"{args.explain_dir}: is a file, expected a folder for --explain's pictures")

    images_path, labels_path = test_set_paths(args.images, args.labels)
    images, labels = read_idx_pair(images_path, labels_path)
    index = random.Random(args.seed).randrange(len(images))
    print(ascii_digit(images[index]))

    start = time.perf_counter()
    model = load_model(args.model or shipped_model_path(DEFAULT_ARCH), xp=xp)
    print(f"main: loaded model in {(time.perf_counter() - start) * 1000:.2f} ms")

    images_on_device = xp.asarray(images)  # one copy to the device, outside the timed evaluation
    model.logits(images_on_device[:1])     # warm-up: first-call costs (CuPy kernel compilation) are not evaluation
    result = evaluate(model, images_on_device, labels)
    print(f"mnist_model_eval: model evaluation on {result.n_images} images took {result.seconds * 1000:.2f} ms, "
          f"{result.seconds * 1e6 / result.n_images:.2f} us/image")
    print(f"main: predicted digit is {result.predictions[index]}")
    printed = result.printed()
    print(f"main: test_loss={printed['loss']}+-{printed['loss_uncertainty']}")
    print(f"main: test_acc={printed['accuracy']}+-{printed['accuracy_uncertainty']}%")
    if args.explain:
        from .pictures import write_explanations  # imported here: plain evaluation never draws
        folders = write_explanations(model, images, labels, result.predictions, args.explain_dir, args.explain)
        wrong = int((result.predictions != labels).sum())
        print(f"explain: pictures of {len(folders)} test images ({min(wrong, len(folders))} misclassified) "
              f"in {args.explain_dir}")
    return 0


def console_main():
    """Entry point of the console script and of `python -m`: errors as one line, exit code."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    console_main()
