"""What fine-tuning on corrections teaches and what it costs, measured on MNIST training images no model trained on.

For each style of tests/handwriting.py's RESEMBLING (a 7 like a Z, a 9 like a g, ...: forms of one
digit that resemble another) and each shipped model: five corrections of the style (jittered
variants, prepared as the page prepares drawings), each learnt and consolidated as the page does
(Finetuner.learn on every correction so far, then all of Finetuner.consolidate). One row each:

  style right    unseen variants of the style read right, before -> after
  held-out %     accuracy on the 3,000 held-out training images (the last 5 % of the 60,000: the
                 validation split the shipped models never trained on, disjoint from the replay
                 set, checked), before -> after; drop, in points ("over": above the 0.5 bound)
  shown right    corrections read right at the end of their learn phase (what the page then shows)
  steps, ms      the learn phase's AdamW steps and native wall time per correction, median/max:
                 the click-to-corrected-prediction path, with BLAS on one thread as the page's worker
                 (Pyodide there is several times slower; on a shared machine the times swing with its load)
  others right   the same person's other digits (STYLES, several variants of each digit but the
                 style's) read right, before -> after, and the digits whose count changed

then the 20 corrections of tests/test_finetune.py (two drawings of each of STYLES' digits) with
their held-out drop. Each of `--seeds` draws other corrections, other unseen variants and another
Finetuner seed; seed 2 was kept out of choosing the settings, to check them. `--test-set` adds the
MNIST test accuracy: the settings are chosen on the held-out images, and the test set is reported
once, for the settings chosen.

What it can show: how one engineer's idea of these styles, drawn by a program with jitter, moves
the models, and what a setting changes in that. What it cannot: how real writers draw these
styles, or what their corrections cost; those are measured outside the project, so that nothing
here is tuned to them.

Usage: python bench/bench_finetune.py [--arch mnist-fc mnist-cnn] [--style NAME ...] [--seeds 0 1 2]
       [--config KEY=VALUE ...] [--test-set] [--no-twenty]
"""

import argparse
import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # handwriting: the drawings

from handwriting import RESEMBLING, STYLES, drawings  # noqa: E402
from mnist_core.backend import limit_blas_threads  # noqa: E402
from mnist_core.data import load_split  # noqa: E402
from mnist_core.models import load_model  # noqa: E402
from mnist_core.training.finetune import FinetuneConfig, Finetuner  # noqa: E402
from mnist_core.training.run import split_validation  # noqa: E402
from sitebuild.training_data import replay_indices  # noqa: E402

ARCHS = ("mnist-fc", "mnist-cnn")
VAL_SPLIT = 0.05       # the trainer's default: the shipped models never trained on the last 3,000
N_CORRECTIONS = 5
MAX_DROP_POINTS = 0.5  # the bound on a resembling style's five corrections (tests/test_finetune.py)
# Per seed: the corrections' variants, the unseen variants of the style, the other digits' variants.
SEED_VARIANTS = {
    0: (range(0, 5), range(100, 120), range(100, 105)),
    1: (range(200, 205), range(300, 320), range(300, 305)),
    2: (range(400, 405), range(500, 520), range(500, 505)),  # kept out of choosing the settings
}


def mnist_parts():
    """((replay images, labels), (held-out images, labels)), checked to share no training image."""
    images, labels = load_split("mnist", "train")
    _, held_out = split_validation(len(labels), VAL_SPLIT)
    replay = replay_indices(labels)
    if np.intersect1d(replay, held_out).size:
        raise SystemExit("the replay set and the held-out images share training images")
    return (images[replay], labels[replay]), (images[held_out], labels[held_out])


def accuracy(model, images, labels):
    return float((model.predict(images) == labels).mean())


def learn_all(finetuner, images, labels):
    """Each correction learnt (on all so far, the newest last) and consolidated, as the page does;
    -> [(steps, seconds, whether the newest then read right) of each learn phase]."""
    phases = []
    for k in range(1, len(labels) + 1):
        start = time.perf_counter()
        learned = finetuner.learn(images[:k], labels[:k])
        phases.append((learned["steps"], time.perf_counter() - start, learned["digit"] == labels[k - 1]))
        finetuner.consolidate()
    return phases


def style_row(arch, name, config, seed, replay, held_out, test=None):
    digit, strokes, _ = RESEMBLING[name]
    corrections, unseen, others = SEED_VARIANTS[seed]
    images = drawings(strokes, corrections)
    labels = np.full(len(images), digit, dtype=np.int64)
    unseen_images = drawings(strokes, unseen)
    other_digits = [d for d in STYLES if d != digit]
    other_images = np.concatenate([drawings(d, others) for d in other_digits])
    other_labels = np.repeat(other_digits, len(others))

    model = load_model(REPO / "assets" / f"{arch}-f32.gguf")

    def measure():
        figures = {"style": int((model.predict(unseen_images) == digit).sum()),
                   "held_out": accuracy(model, *held_out),
                   "others": model.predict(other_images) == other_labels}
        if test is not None:
            figures["test"] = accuracy(model, *test)
        return figures

    before = measure()
    phases = learn_all(Finetuner(model, *replay, config, seed=seed), images, labels)
    after = measure()
    return {"arch": arch, "style": name, "seed": seed, "before": before, "after": after,
            "n_unseen": len(unseen_images), "other_labels": other_labels, "phases": phases}


def others_cell(row):
    """"before->after/n", then each other digit whose drawings read right changed ("2 -3")."""
    before, after, labels = row["before"]["others"], row["after"]["others"], row["other_labels"]
    changes = [f"{d} {int(after[labels == d].sum()) - int(before[labels == d].sum()):+d}" for d in np.unique(labels)
               if after[labels == d].sum() != before[labels == d].sum()]
    return f"{before.sum()}->{after.sum()}/{len(labels)}" + (f" ({', '.join(changes)})" if changes else "")


def twenty_row(arch, config, seed, replay, held_out, test=None):
    """tests/test_finetune.py's 20 corrections (two drawings of each of STYLES' digits)."""
    variants = tuple(SEED_VARIANTS[seed][0])[:2]
    images = np.concatenate([drawings(d, variants) for d in STYLES])
    labels = np.repeat(np.array(list(STYLES), dtype=np.int64), 2)
    order = np.argsort(np.tile([0, 1], len(STYLES)), kind="stable")
    images, labels = images[order], labels[order]
    model = load_model(REPO / "assets" / f"{arch}-f32.gguf")
    before = {"held_out": accuracy(model, *held_out)}
    if test is not None:
        before["test"] = accuracy(model, *test)
    phases = learn_all(Finetuner(model, *replay, config, seed=seed), images, labels)
    after = {"held_out": accuracy(model, *held_out), "kept": float((model.predict(images) == labels).mean())}
    if test is not None:
        after["test"] = accuracy(model, *test)
    return {"arch": arch, "seed": seed, "before": before, "after": after, "phases": phases}


def parse_overrides(pairs):
    """["key=value", ...] -> FinetuneConfig with those fields changed (typed as the defaults are)."""
    fields = {f.name: f for f in dataclasses.fields(FinetuneConfig)}
    default = FinetuneConfig()
    changes = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key not in fields:
            raise SystemExit(f"--config {pair}: FinetuneConfig has no field {key!r} (it has {', '.join(fields)})")
        kind = type(getattr(default, key))
        changes[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return dataclasses.replace(default, **changes)


def phase_figures(phases):
    """The learn phases' "shown right" (k/K), steps and ms (median/max)."""
    steps = [s for s, _, _ in phases]
    ms = [1000 * t for _, t, _ in phases]
    return (f"{sum(right for _, _, right in phases)}/{len(phases)}", f"{statistics.median(steps):.0f}/{max(steps)}",
            f"{statistics.median(ms):.0f}/{max(ms):.0f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", nargs="+", default=list(ARCHS), choices=ARCHS)
    parser.add_argument("--style", nargs="+", default=list(RESEMBLING), choices=list(RESEMBLING))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEED_VARIANTS), choices=list(SEED_VARIANTS))
    parser.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE", help="FinetuneConfig overrides")
    parser.add_argument("--test-set", action="store_true", help="also the MNIST test accuracy (report once)")
    parser.add_argument("--no-twenty", action="store_true", help="skip the 20 corrections of STYLES")
    args = parser.parse_args(argv)
    config = parse_overrides(args.config)

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; NumPy {np.__version__}")
    print(f"config: {config}")
    replay, held_out = mnist_parts()
    test = load_split("mnist", "test") if args.test_set else None
    print(f"replay {len(replay[1])} training images, held-out {len(held_out[1])} (disjoint)")

    header = ["arch", "style", "seed", "style right", "held-out %", "drop", "shown right", "steps", "ms",
              "others right"]
    if test is not None:
        header.insert(6, "test %")
    print("  ".join(header))
    totals = {}  # arch -> [drops], style right, unseen, shown right, corrections, others change
    for arch in args.arch:
        for name in args.style:
            for seed in args.seeds:
                row = style_row(arch, name, config, seed, replay, held_out, test)
                b, a = row["before"], row["after"]
                drop = 100 * (b["held_out"] - a["held_out"])
                total = totals.setdefault(arch, [[], 0, 0, 0, 0, 0])
                total[0].append(drop)
                total[1] += a["style"]
                total[2] += row["n_unseen"]
                total[3] += sum(right for _, _, right in row["phases"])
                total[4] += len(row["phases"])
                total[5] += int(a["others"].sum()) - int(b["others"].sum())
                cells = [arch, name, str(seed), f"{b['style']}->{a['style']}/{row['n_unseen']}",
                         f"{100 * b['held_out']:.2f}->{100 * a['held_out']:.2f}",
                         f"{drop:+.2f}" + (" over" if drop > MAX_DROP_POINTS else ""),
                         *phase_figures(row["phases"]), others_cell(row)]
                if test is not None:
                    cells.insert(6, f"{100 * b['test']:.2f}->{100 * a['test']:.2f}")
                print("  ".join(cells), flush=True)
    for arch, (drops, style, unseen, shown, corrections, others) in totals.items():
        print(f"{arch}: held-out drop worst {max(drops):+.2f}, mean {statistics.mean(drops):+.2f}; style right "
              f"after {style}/{unseen}; shown right {shown}/{corrections}; others {others:+d}")
    if not args.no_twenty:
        print("20 corrections of STYLES (two drawings of each digit):")
        for arch in args.arch:
            for seed in args.seeds:
                row = twenty_row(arch, config, seed, replay, held_out, test)
                b, a = row["before"], row["after"]
                line = (f"{arch}  seed {seed}  held-out {100 * b['held_out']:.2f}->{100 * a['held_out']:.2f} "
                        f"({100 * (b['held_out'] - a['held_out']):+.2f})  corrections kept {100 * a['kept']:.0f} %")
                if test is not None:
                    line += f"  test {100 * b['test']:.2f}->{100 * a['test']:.2f}"
                shown, steps, ms = phase_figures(row["phases"])
                print(f"{line}  shown right {shown}  steps {steps}  ms {ms}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    with limit_blas_threads(1):  # one thread, as the page's worker has
        main()
