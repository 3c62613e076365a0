"""The 10,000-image MNIST test-set evaluation time of mnist-core, next to PyTorch CPU on the same weights.

    python bench/bench_eval.py [--repeat 7] [--backend numpy|cupy] [--models-from DIR]

Ours is exactly the work `python -m mnist_core.eval` times (mnist_core.evaluation.evaluate):
uint8 -> float, the forward pass over all 10,000 images, the cross-entropy loss and the argmax.
PyTorch (when installed) does the same under torch.inference_mode with its default threads, in
the slices ours uses (FC: all 10,000 images at once; CNN: 500 at a time, which suits both).
Each is warmed up once, then run --repeat times; the table shows the medians.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from mnist_core.backend import BACKENDS, get_array_module
from mnist_core.data import load_split
from mnist_core.evaluation import evaluate
from mnist_core.models import init_model, load_model, model_file_bytes

ASSETS = Path(__file__).resolve().parent.parent / "assets"
ARCHS = ("mnist-fc", "mnist-cnn")
TARGET_MS = {"mnist-fc": 80, "mnist-cnn": 300}          # what mnist-core promises on a 2-core CPU
GGML_MS = {"mnist-fc": "~156", "mnist-cnn": "~4500"}   # ggml's CPU eval, as published (docs/reference.md)


def machine_summary():
    """One line: cores, CPU model, load (others' work skews timings), Python, NumPy (and its BLAS), PyTorch."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except Exception:  # older NumPy: no dict mode
        blas = "?"
    try:
        import torch
        torch_version = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        torch_version = "not installed"
    load = ", load average %.1f %.1f %.1f" % os.getloadavg() if hasattr(os, "getloadavg") else ""
    return (f"machine: {os.cpu_count()} cores, {cpu}{load}; Python {platform.python_version()}, "
            f"NumPy {np.__version__} ({blas}), PyTorch {torch_version}")


def bench_model_source(arch, models_dir=None, seed=0):
    """(path or GGUF bytes, description): the shipped model if present, else fresh init_model weights."""
    path = Path(models_dir or ASSETS) / f"{arch}-f32.gguf"
    if path.exists():
        return path, str(path)
    weights = model_file_bytes(init_model(arch, seed=seed))
    return weights, f"untrained init_model(seed={seed}) weights (no {path})"


def median_ms(run, repeat):
    """Warm up once, then the median wall time of `repeat` calls of `run()` returning (seconds, result)."""
    run()
    times, result = [], None
    for _ in range(repeat):
        seconds, result = run()
        times.append(seconds)
    return statistics.median(times) * 1000, result


def ours(model, images, labels, repeat):
    """Median ms of mnist-core's evaluate() (the time the eval CLI prints) and the predictions."""
    xp = model.xp
    images, labels = xp.asarray(images), xp.asarray(labels)  # on the device once, as the eval CLI does

    def run():
        result = evaluate(model, images, labels)
        return result.seconds, result
    ms, result = median_ms(run, repeat)
    return ms, result.predictions, result.accuracy


def pytorch(model, images, labels, repeat, device="cpu", batch=None):
    """Median ms of the same evaluation in PyTorch on `device` ("cpu" or "cuda") in slices of `batch` images
    (default: the model's own), and its predictions; None if PyTorch is missing. On a GPU the images are on
    the device beforehand, as ours are."""
    try:
        import torch
        from torch_reference import images_to_tensor, torch_model_from
    except ImportError:
        return None
    module = torch_model_from(model).eval().to(device)
    target = torch.from_numpy(labels.astype(np.int64)).to(device)
    pixels = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    batch = batch or model.inference_batch  # the slices ours runs in: on a CPU all 10,000 for FC, 500 for the CNN

    def run():
        with torch.inference_mode():
            start = time.perf_counter()
            logits = torch.cat([module(images_to_tensor(pixels[i:i + batch])) for i in range(0, len(images), batch)])
            loss = torch.nn.functional.cross_entropy(logits, target)
            predictions = logits.argmax(dim=1).cpu().numpy()
            float(loss)
            return time.perf_counter() - start, predictions
    ms, predictions = median_ms(run, repeat)
    return ms, predictions, float((predictions == labels).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7,
                        help="timed runs per measurement, after one warm-up (default: 7)")
    parser.add_argument("--backend", choices=BACKENDS, default="numpy",
                        help="mnist-core's array backend (default: numpy)")
    parser.add_argument("--models-from", metavar="DIR",
                        help="take mnist-fc-f32.gguf / mnist-cnn-f32.gguf from DIR (default: assets/)")
    args = parser.parse_args(argv)
    xp = get_array_module(args.backend)

    print(machine_summary())
    images, labels = load_split("mnist", "test")
    rows = []
    for arch in ARCHS:
        source, description = bench_model_source(arch, args.models_from)
        print(f"{arch}: {description}")
        our_ms, our_predictions, our_accuracy = ours(load_model(source, xp=xp), images, labels, args.repeat)
        theirs = pytorch(load_model(source), images, labels, args.repeat)
        rows.append((arch, our_ms, our_accuracy, our_predictions, theirs))

    print()
    print(f"10,000-image MNIST test-set eval, median of {args.repeat} runs after a warm-up "
          f"(mnist-core backend: {args.backend}; PyTorch CPU, inference_mode, default threads)")
    header = ("what", "ours ms", "torch ms", "ours/torch", "target ms", "ggml ms (published)", "ours acc", "torch acc",
              "same predictions")
    table = []
    for arch, our_ms, our_accuracy, our_predictions, theirs in rows:
        if theirs is None:
            torch_cells = ("-", "-", "-", "-")
        else:
            torch_ms, torch_predictions, torch_accuracy = theirs
            torch_cells = (f"{torch_ms:.1f}", f"{our_ms / torch_ms:.2f}", f"{100 * torch_accuracy:.2f}%",
                           f"{100 * float((our_predictions == torch_predictions).mean()):.2f}%")
        ok = "ok" if our_ms <= TARGET_MS[arch] else "MISSED"
        table.append((arch, f"{our_ms:.1f}", torch_cells[0], torch_cells[1], f"<= {TARGET_MS[arch]} {ok}",
                      GGML_MS[arch], f"{100 * our_accuracy:.2f}%", torch_cells[2], torch_cells[3]))
    print_table(header, table)
    return 0


def print_table(header, rows):
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
