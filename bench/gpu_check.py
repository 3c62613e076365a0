"""The CuPy backend on a real GPU, in one run: tests, evaluation, training, and PyTorch on the same GPU beside it.

    PYTHONPATH=. python3 bench/gpu_check.py MNIST_DIR OUT_DIR      (or scripts/gpu-check.sh MNIST_DIR OUT_DIR)

MNIST_DIR holds the four MNIST files (train-images-idx3-ubyte.gz and the rest; raw works too),
checked against their pinned sha256. OUT_DIR receives gpu-check.json (everything printed, as
numbers) and the two models trained here. Without CuPy or a CUDA GPU it is a dry run: it checks
its arguments, says that no GPU is present and exits 0, so that CI keeps it from rotting.

With a GPU, in at most about 6 minutes (each step has its own time limit, and the JSON is
rewritten after every step, so an interrupted run still leaves what it measured):
  1. tests: the backend, gradient and model tests marked `gpu` (their real-CuPy variants);
  2. eval: both shipped models, `--backend cupy` against NumPy on all 10,000 test images
     (predictions compared one by one, loss and accuracy as the eval CLI prints them, and
     evaluate()'s time, median of 10 after a warm-up), and the eval CLI itself;
  3. train: each architecture for 2 epochs through the train CLI with `--backend cupy`
     (seconds per epoch as it prints them), then the written file loaded and scored on the CPU;
     and one more epoch through the Python API with its step split (StepTimes);
  4. torch: the same evaluation and training (bench/torch_reference.py models) with PyTorch on
     the same GPU, and the ratio ours / PyTorch.
The exit status is 0 when every check passed and every target was met, 1 otherwise, 2 for bad
arguments.
"""

import argparse
import gzip
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]  # runs without an install step, from anywhere

import numpy as np  # noqa: E402

from mnist_core.backend import get_array_module, to_host  # noqa: E402
from mnist_core.data import CHECKSUMS, SPLITS  # noqa: E402
from mnist_core.errors import BackendUnavailableError  # noqa: E402

ARCHS = ("mnist-fc", "mnist-cnn")
SHIPPED = {arch: REPO / "assets" / f"{arch}-f32.gguf" for arch in ARCHS}
TEST_FILES = ("tests/test_backend.py", "tests/test_gradients.py", "tests/test_models.py")
# Issue 10's targets on an H100; ratios are ours / PyTorch on the same GPU.
TARGETS = {"eval_ms": {"mnist-fc": 5.0, "mnist-cnn": 10.0}, "train_s_per_epoch": {"mnist-fc": 0.5, "mnist-cnn": 1.5},
           "ratio_to_torch": 1.5}
REFERENCE_RTX3090_EVAL_MS = {"mnist-fc": 76.9, "mnist-cnn": 267.6}  # the seed's ggml CUDA figures
BUDGET_S = 345             # the whole run, within the 6 minutes
TORCH_DEVICE = "cuda"
STEP_LIMITS_S = {"tests": 150, "cli": 120}
JSON_NAME = "gpu-check.json"


class Check:
    """The run's results, written to OUT_DIR/gpu-check.json after every step."""

    def __init__(self, out_dir):
        self.path = Path(out_dir) / JSON_NAME
        self.start = time.perf_counter()
        self.results = {"started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "ok": True, "problems": []}

    def elapsed(self):
        return time.perf_counter() - self.start

    def problem(self, text):
        print(f"gpu-check: PROBLEM: {text}", flush=True)
        self.results["ok"] = False
        self.results["problems"].append(text)

    def save(self):
        self.results["seconds"] = round(self.elapsed(), 1)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.results, indent=2, default=_plain) + "\n")
        os.replace(tmp, self.path)

    def step(self, name, function, *args):
        """Run one step; its exception is recorded (and the run goes on), the JSON saved either way."""
        if self.elapsed() > BUDGET_S:
            self.problem(f"{name}: skipped, the run is past its {BUDGET_S} s budget")
            return None
        print(f"\n== {name} ({self.elapsed():.0f} s into the run)", flush=True)
        try:
            return function(self, *args)
        except Exception as exc:
            self.problem(f"{name}: {type(exc).__name__}: {exc}")
            self.results.setdefault("tracebacks", {})[name] = traceback.format_exc()
            return None
        finally:
            self.save()


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="scripts/gpu-check.sh", description=__doc__.splitlines()[0])
    parser.add_argument("mnist_dir", help="folder with the four MNIST files (train-images-idx3-ubyte.gz, ...)")
    parser.add_argument("out_dir", help="folder for gpu-check.json and the trained models (made if missing)")
    parser.add_argument("--limit", type=int, help="train on the first N training images only (a quick rehearsal; "
                        "the timings then mean little)")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 2000:
        parser.error("--limit must be at least 2000 (so that the trained files can score)")
    mnist_dir, out_dir = Path(args.mnist_dir), Path(args.out_dir)
    if not mnist_dir.is_dir():
        parser.error(f"{mnist_dir}: no such folder (expected the four MNIST .gz files in it)")
    missing = [name for split in SPLITS.values() for name in split
               if not (mnist_dir / f"{name}.gz").is_file() and not (mnist_dir / name).is_file()]
    if missing:
        parser.error(f"{mnist_dir}: missing {', '.join(f'{name}.gz' for name in missing)}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".gpu-check-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        parser.error(f"{out_dir}: cannot write there ({exc.strerror or exc})")
    return mnist_dir, out_dir, args.limit


def environment(check, cupy):
    import mnist_core
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    env = {"gpu": name, "gpu_memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
           "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(), "cupy": cupy.__version__, "numpy": np.__version__,
           "python": platform.python_version(), "mnist_core": getattr(mnist_core, "__version__", "?"),
           "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
    try:
        import torch
        env["torch"] = torch.__version__
        env["torch_cuda"] = torch.cuda.is_available()
    except ImportError:
        env["torch"] = None
    try:
        env["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                           timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["git_commit"] = None
    check.results["environment"] = env
    print(json.dumps(env, indent=1))


def run_tests(check, env):
    command = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", *TEST_FILES]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=STEP_LIMITS_S["tests"])
    output = result.stdout + result.stderr
    print(output[-3000:])
    summary = output.strip().splitlines()[-1] if output.strip() else ""
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|error|errors|deselected)",
                                                       summary)}
    check.results["tests"] = {"command": " ".join(command[1:]), "returncode": result.returncode,
                              "summary": summary, "counts": counts, "output_tail": output[-4000:]}
    if result.returncode != 0 or counts.get("passed", 0) == 0 or counts.get("skipped", 0):
        check.problem(f"tests: {summary or 'no output'} (exit {result.returncode})")


def evaluate_models(check, cupy, env):
    from mnist_core.data import load_split
    from mnist_core.evaluation import evaluate
    from mnist_core.models import load_model
    images, labels = load_split("mnist", "test")
    device_images, device_labels = cupy.asarray(images), cupy.asarray(labels)
    check.results["eval"] = {}
    for arch in ARCHS:
        on_host = evaluate(load_model(SHIPPED[arch]), images, labels)
        model = load_model(SHIPPED[arch], xp=cupy)
        evaluate(model, device_images, device_labels)  # warm-up: kernels compiled, workspace allocated
        runs = [evaluate(model, device_images, device_labels) for _ in range(10)]
        on_device = runs[-1]
        differ = np.flatnonzero(on_device.predictions != on_host.predictions)
        result = {"model": str(SHIPPED[arch].relative_to(REPO)), "images": len(labels),
                  "inference_slices": len(model.batch_slices(len(labels), model.inference_batch)),
                  "ms_median_of_10": 1000 * statistics.median(r.seconds for r in runs),
                  "ms_all": [round(1000 * r.seconds, 3) for r in runs],
                  "predictions_differing_from_numpy": len(differ), "differing_images": differ[:20].tolist(),
                  "cupy": on_device.printed(), "numpy": on_host.printed()}
        if len(differ):
            logits = to_host(model.logits(device_images[cupy.asarray(differ[:20])]))
            top2 = np.sort(logits, axis=1)[:, -2:]
            result["differing_logit_margins"] = (top2[:, 1] - top2[:, 0]).tolist()
            check.problem(f"eval {arch}: {len(differ)} of {len(labels)} predictions differ from NumPy's")
        if result["cupy"]["accuracy"] != result["numpy"]["accuracy"]:
            check.problem(f"eval {arch}: accuracy {result['cupy']['accuracy']}% on CuPy, "
                          f"{result['numpy']['accuracy']}% on NumPy")
        cli = subprocess.run([sys.executable, "-m", "mnist_core.eval", str(SHIPPED[arch]), "--backend", "cupy"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=STEP_LIMITS_S["cli"])
        printed = dict(re.findall(r"main: (test_\w+)=(\S+)", cli.stdout))
        took = re.search(r"model evaluation on \d+ images took ([\d.]+) ms", cli.stdout)
        result["cli"] = {"returncode": cli.returncode, "printed": printed,
                         "cli_ms": float(took.group(1)) if took else None, "stderr_tail": cli.stderr[-1000:]}
        expected = f"{result['numpy']['accuracy']}+-{result['numpy']['accuracy_uncertainty']}%"
        if cli.returncode != 0 or printed.get("test_acc") != expected:
            check.problem(f"eval {arch}: the eval CLI with --backend cupy printed {printed or cli.stderr[-300:]!r}, "
                          f"expected test_acc={expected}")
        check.results["eval"][arch] = result
        print(f"{arch}: {result['ms_median_of_10']:.2f} ms for 10,000 images (median of 10), "
              f"{len(differ)} predictions differ from NumPy, acc {result['cupy']['accuracy']}% "
              f"loss {result['cupy']['loss']}", flush=True)


def train_models(check, cupy, env, out_dir, limit):
    from mnist_core.data import load_split
    from mnist_core.evaluation import evaluate
    from mnist_core.models import load_model
    from mnist_core.training.config import TrainConfig
    test_images, test_labels = load_split("mnist", "test")
    check.results["train"] = {}
    for arch in ARCHS:
        out = Path(out_dir) / f"{arch}-gpu-check.gguf"
        command = [sys.executable, "-m", "mnist_core.train", arch, str(out), "--epochs", "2", "--backend", "cupy",
                   *(["--limit", str(limit)] if limit else [])]
        start = time.perf_counter()
        cli = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=STEP_LIMITS_S["cli"])
        wall = time.perf_counter() - start
        epochs = [float(s) for s in re.findall(r"^epoch \d+/\d+: .*\(([\d.]+) s\)$", cli.stdout, re.M)]
        printed = dict(re.findall(r"main: (test_\w+)=(\S+)", cli.stdout))
        result = {"command": " ".join(["python", *command[1:]]), "returncode": cli.returncode,
                  "seconds_per_epoch": epochs, "cli_wall_s": round(wall, 2), "printed": printed,
                  "stdout_tail": cli.stdout[-1500:], "stderr_tail": cli.stderr[-1500:]}
        check.results["train"][arch] = result
        if cli.returncode != 0 or len(epochs) != 2:
            check.problem(f"train {arch}: the train CLI failed (exit {cli.returncode}): {cli.stderr[-300:]!r}")
            continue
        on_cpu = evaluate(load_model(out), test_images, test_labels).printed()
        result["scored_on_cpu"] = on_cpu
        print(f"{arch}: {', '.join(f'{s:.2f}' for s in epochs)} s per epoch; file scores {on_cpu['accuracy']}% "
              f"on the CPU (the CLI printed {printed.get('test_acc')})", flush=True)
        if float(on_cpu["accuracy"]) < (95 if not limit else 50):
            check.problem(f"train {arch}: the trained file scores only {on_cpu['accuracy']}% on the CPU")
        if printed.get("test_acc", "").split("+-")[0] != on_cpu["accuracy"]:
            check.problem(f"train {arch}: the CLI printed test_acc={printed.get('test_acc')}, the file scores "
                          f"{on_cpu['accuracy']}% on the CPU")
    # The same two epochs through the Python API, timed to the millisecond (the CLI prints tenths), then one
    # more with the step split (every phase synchronised, so that epoch runs a little slower).
    from bench_train import ours
    images, labels = (part[:limit] for part in load_split("mnist", "train"))
    for arch in ARCHS:
        seconds, _ = ours(arch, images, labels, TrainConfig(epochs=2), cupy, 0, split=False)
        check.results["train"][arch]["api_seconds_per_epoch"] = seconds
        seconds, times = ours(arch, images, labels, TrainConfig(epochs=1), cupy, 0)
        check.results["train"][arch]["step_split_ms"] = {p: round(1000 * s, 3) for p, s in times.per_step().items()}
        check.results["train"][arch]["step_split_epoch_s"] = seconds[0]
        print(f"{arch}: API {', '.join(f'{s:.3f}' for s in check.results['train'][arch]['api_seconds_per_epoch'])}"
              f" s per epoch; step split (ms) {check.results['train'][arch]['step_split_ms']}", flush=True)


def torch_side(check, cupy, limit):
    import torch
    from bench_eval import pytorch as torch_eval
    from bench_train import pytorch as torch_train

    from mnist_core.data import load_split
    from mnist_core.models import load_model
    from mnist_core.training.config import TrainConfig
    if TORCH_DEVICE == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("PyTorch sees no CUDA device")
    test_images, test_labels = load_split("mnist", "test")
    images, labels = (part[:limit] for part in load_split("mnist", "train"))
    check.results["torch"] = {"eval": {}, "train": {}}
    for arch in ARCHS:
        on_gpu = load_model(SHIPPED[arch], xp=cupy)
        batch = on_gpu.batch_slices(len(test_labels), on_gpu.inference_batch)[0][1]  # the slices ours runs in there
        ms, predictions, accuracy = torch_eval(load_model(SHIPPED[arch]), test_images, test_labels, 10,
                                                device=TORCH_DEVICE, batch=batch)
        check.results["torch"]["eval"][arch] = {"ms_median_of_10": ms, "accuracy": 100 * accuracy,
                                                "inference_batch": batch}
        # Two epochs, the recipe's augmentation on: what the train CLI ran above.
        seconds = torch_train(arch, images, labels, TrainConfig(epochs=2), 0, device=TORCH_DEVICE)
        check.results["torch"]["train"][arch] = {"seconds_per_epoch": seconds}
        print(f"{arch}: PyTorch eval {ms:.2f} ms, train {', '.join(f'{s:.2f}' for s in seconds)} s per epoch",
              flush=True)


def summary(check):
    """The side-by-side table, the ratios and the targets."""
    results, rows = check.results, []
    for arch in ARCHS:
        ours_eval = results.get("eval", {}).get(arch, {}).get("ms_median_of_10")
        theirs_eval = results.get("torch", {}).get("eval", {}).get(arch, {}).get("ms_median_of_10")
        ours_train = results.get("train", {}).get(arch, {}).get("api_seconds_per_epoch") or []
        theirs_train = results.get("torch", {}).get("train", {}).get(arch, {}).get("seconds_per_epoch") or []
        # The second epoch: the first carries kernel compilation and allocation.
        ours_epoch, theirs_epoch = (values[-1] if values else None for values in (ours_train, theirs_train))
        for what, ours, theirs, target in (
                ("eval ms (10,000 images)", ours_eval, theirs_eval, TARGETS["eval_ms"][arch]),
                ("train s/epoch (2nd epoch)", ours_epoch, theirs_epoch, TARGETS["train_s_per_epoch"][arch])):
            ratio = ours / theirs if ours is not None and theirs else None
            met = ours is not None and ours <= target and (ratio is None or ratio <= TARGETS["ratio_to_torch"])
            rows.append({"arch": arch, "what": what, "ours": ours, "torch": theirs, "ratio": ratio,
                         "target": target, "met": met})
            if not met:
                check.problem(f"target: {arch} {what}: ours {_fmt(ours)}, PyTorch {_fmt(theirs)}, "
                              f"target <= {target} and <= {TARGETS['ratio_to_torch']}x PyTorch")
    results["summary"] = rows
    print(f"\n{'arch':10} {'what':28} {'ours':>9} {'PyTorch':>9} {'ours/PT':>8} {'target':>8}  met")
    for row in rows:
        print(f"{row['arch']:10} {row['what']:28} {_fmt(row['ours']):>9} {_fmt(row['torch']):>9} "
              f"{_fmt(row['ratio']):>8} {row['target']:>8}  {'yes' if row['met'] else 'NO'}")
    print(f"(ggml CUDA on an RTX 3090, the seed's figures: eval FC {REFERENCE_RTX3090_EVAL_MS['mnist-fc']} ms, "
          f"CNN {REFERENCE_RTX3090_EVAL_MS['mnist-cnn']} ms)")


def _fmt(value):
    return "-" if value is None else f"{value:.3f}"


def unpack_mnist(mnist_dir, data_dir):
    """The four files of `mnist_dir` (NAME.gz or NAME), decompressed into `data_dir`, each checked against
    mnist_core.data's pinned size and sha256; a one-line error naming the file otherwise. Nothing is fetched:
    the lent machines reach no registry."""
    data_dir.mkdir(parents=True)
    for split in SPLITS.values():
        for name in split:
            source = mnist_dir / f"{name}.gz" if (mnist_dir / f"{name}.gz").is_file() else mnist_dir / name
            pin = CHECKSUMS["mnist"][name]
            try:
                with open(source, "rb") as f:
                    content = f.read()
                if content[:2] == b"\x1f\x8b":
                    content = gzip.decompress(content)
            except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise ValueError(f"{source}: cannot read it ({exc})") from None
            found = hashlib.sha256(content).hexdigest()
            if len(content) != pin.size or found != pin.sha256:
                raise ValueError(f"{source}: not MNIST's {name} (expected {pin.size} bytes with sha256 "
                                 f"{pin.sha256}, found {len(content)} bytes with sha256 {found})")
            (data_dir / name).write_bytes(content)


def main(argv=None):
    mnist_dir, out_dir, limit = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mnist-core-gpu-check-") as data_root:
        try:
            unpack_mnist(mnist_dir, Path(data_root) / "mnist")  # every tool below reads them from there
        except ValueError as exc:
            print(f"gpu-check: {exc}", file=sys.stderr)
            return 2
        os.environ["MNIST_CORE_DATA"] = data_root
        return run(mnist_dir, out_dir, limit)


def run(mnist_dir, out_dir, limit=None):
    check = Check(out_dir)
    check.results["limit"] = limit
    try:
        cupy = get_array_module("cupy")
    except BackendUnavailableError as exc:
        check.results.update(dry_run=True, reason=str(exc), mnist_dir=str(mnist_dir))
        check.save()
        print(f"gpu-check: no GPU is present ({exc}).\ngpu-check: dry run: the arguments are good "
              f"(the four MNIST files in {mnist_dir} match their checksums, {out_dir} is writable); "
              f"nothing was measured. Wrote {check.path}.")
        return 0
    check.results["dry_run"] = False
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1"}
    check.step("environment", environment, cupy)
    check.step("tests", run_tests, env)
    check.step("eval", evaluate_models, cupy, env)
    check.step("train", train_models, cupy, env, out_dir, limit)
    check.step("torch", torch_side, cupy, limit)
    check.step("summary", summary)
    print(f"\ngpu-check: {'all checks passed, all targets met' if check.results['ok'] else 'see the problems above'}"
          f" ({check.elapsed():.0f} s); wrote {check.path}")
    return 0 if check.results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
