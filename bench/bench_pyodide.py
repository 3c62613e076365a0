"""Evaluation in Pyodide (NumPy without BLAS), under Node, from the site's own files: what the page's
#evaluate costs, and the formulations it could use.

  1. App.evaluate_test_set on the 10,000 test images, for each model (what the page runs);
  2. each matrix product of the two models, in the shapes inference uses, as `a @ b`, as
     `np.einsum("ij,jk->ik", a, b)` (mnist_core/layers/products.py's choice in WebAssembly) and both
     in float64; `b` is the transposed view the layers pass (weight.T) or the im2col matrix;
  3. each model's forward pass over 2,000 images with other slice sizes (Model.inference_batch).

Each figure is the best of --repeats runs, all in one Node process, so that they are side by side.
Targets (in Chromium, bench_web.py): the 10,000-image evaluation <= 3 s per model.

Usage: python bench/bench_pyodide.py [--repeats 3]   (builds the site first if needed)
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # web_support: build, run_in_pyodide

from web_support import build_site, run_in_pyodide  # noqa: E402

SCRIPT = """
import json, time
import numpy as np
from mnist_core.browser import App

REPEATS = {repeats}

def best(run):
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times) * 1000

app = App()
app.load_test_set(open("/site/data/t10k-images-idx3-ubyte", "rb").read(),
                  open("/site/data/t10k-labels-idx1-ubyte", "rb").read())
images = app.test_set.images
out = {{"evaluation": {{}}, "products": {{}}, "slices": {{}}}}
for arch in ("mnist-fc", "mnist-cnn"):
    app.load_shipped_model(arch, open(f"/site/models/{{arch}}-f32.gguf", "rb").read())
    out["evaluation"][arch] = best(app.evaluate_test_set)

rng = np.random.default_rng(0)
PRODUCTS = {{  # name: (a's shape, b's shape, whether b is a transposed view as the layers pass it)
    "mnist-fc fc1: (1000, 784) @ (784, 500)": ((1000, 784), (500, 784), True),
    "mnist-fc fc2: (1000, 500) @ (500, 10)": ((1000, 500), (10, 500), True),
    "mnist-cnn conv1: (8, 9) @ (9, 392000)": ((8, 9), (9, 392000), False),
    "mnist-cnn conv2: (16, 72) @ (72, 98000)": ((16, 72), (72, 98000), False),
    "mnist-cnn dense: (500, 784) @ (784, 10)": ((500, 784), (10, 784), True),
}}
for name, (a_shape, b_shape, transposed) in PRODUCTS.items():
    a = rng.standard_normal(a_shape, dtype=np.float32)
    b = rng.standard_normal(b_shape, dtype=np.float32)
    b = b.T if transposed else b
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    out["products"][name] = {{
        "@": best(lambda: a @ b),
        "einsum": best(lambda: np.einsum("ij,jk->ik", a, b)),
        "float64 @": best(lambda: a64 @ b64),
        "float64 einsum": best(lambda: np.einsum("ij,jk->ik", a64, b64)),
    }}

for arch, model in app.models.items():
    shipped = model.inference_batch
    out["slices"][arch] = {{}}
    for size in (100, 250, 500, 1000, 2000):
        model.inference_batch = size
        out["slices"][arch][size] = best(lambda: model.logits(images[:2000])) * 5  # per 10,000 images
    model.inference_batch = shipped
    out["slices"][arch]["shipped"] = shipped
json.dumps(out)
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement; the best counts (default 3)")
    args = parser.parse_args(argv)
    site = build_site()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; Pyodide under Node")
    with tempfile.TemporaryDirectory() as out:
        results = json.loads(run_in_pyodide(site, SCRIPT.format(repeats=args.repeats), out, timeout=3600))
    for arch, ms in results["evaluation"].items():
        print(f"{arch}: evaluation of the 10,000 test images (App.evaluate_test_set) {ms / 1000:.2f} s")
    print("matrix products, ms (best of {}):".format(args.repeats))
    for name, times in results["products"].items():
        print(f"  {name:44s} " + "  ".join(f"{variant} {ms:7.1f}" for variant, ms in times.items()))
    for arch, sizes in results["slices"].items():
        shipped = sizes.pop("shipped")
        print(f"{arch} forward pass per 10,000 images by slice size (shipped: {shipped}): " +
              ", ".join(f"{size}: {ms:.0f} ms" for size, ms in sizes.items()))
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
