"""What seeing inside the model costs natively: mnist_core.explain's explain() and occlusion() per image.

    python bench/bench_explain.py [--images 50] [--repeat 5] [--backend numpy|cupy] [--models-from DIR]

explain() is one forward and one backward pass of one image plus its activations and saliency as Python
lists (what the page's "inside the model" view gets with every prediction); occlusion() is one batched
forward pass of the image and its 169 erased copies. Each is run on --images test images, warmed up on
the first; the table shows, per model, the median over --repeat runs of the mean time per image.

The page's budget (a prediction with its activations and saliency in at most 20 ms, occlusion in at most
200 ms) is for the Web Worker, where NumPy has no BLAS: that is measured in the page, by bench/bench_web.py.
These are the native figures, the floor under those.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

from mnist_core.backend import BACKENDS, get_array_module
from mnist_core.data import load_split
from mnist_core.explain import explain, occlusion
from mnist_core.models import load_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_eval import ARCHS, bench_model_source, machine_summary  # noqa: E402


def per_image_ms(function, model, images, repeat):
    """Median over `repeat` runs of the mean milliseconds per image of function(model, image)."""
    function(model, images[0])  # warm-up: the workspace's arrays for one image, CuPy's kernels
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for image in images:
            function(model, image)
        runs.append((time.perf_counter() - start) * 1000 / len(images))
    return statistics.median(runs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=50, help="test images per run (default 50)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is shown (default 5)")
    parser.add_argument("--backend", choices=BACKENDS, default="numpy")
    parser.add_argument("--models-from", metavar="DIR", help="where the *-f32.gguf models are (default: assets/)")
    args = parser.parse_args(argv)
    xp = get_array_module(args.backend)
    images, _ = load_split("mnist", "test")
    images = images[:args.images]
    print(machine_summary())
    print(f"backend {args.backend}, {len(images)} test images, median of {args.repeat} runs")
    print(f"{'what':<11}{'explain ms/image':>18}{'occlusion ms/image':>20}  model")
    for arch in ARCHS:
        source, description = bench_model_source(arch, args.models_from)
        model = load_model(source, name=description, xp=xp)
        explain_ms = per_image_ms(explain, model, images, args.repeat)
        occlusion_ms = per_image_ms(occlusion, model, images, args.repeat)
        print(f"{arch:<11}{explain_ms:>18.2f}{occlusion_ms:>20.1f}  {description}")


if __name__ == "__main__":
    main()
