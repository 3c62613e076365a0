"""How long a second `python build_wasm.py` takes, everything already in its cache (target: seconds).

The first run assembles the site (fetching what the cache lacks); the next --runs runs are timed, wall clock,
each a fresh process as a user runs it. tests/test_wasm_node.py checks that such a run fetches nothing and tries
no network; this times it.

Usage: python bench/bench_build.py [--runs 3]   (honours $MNIST_CORE_WASM_CACHE, as build_wasm.py does)
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 15


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    command = [sys.executable, str(REPO / "build_wasm.py")]
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)  # the first: fills the cache if need be
    seconds = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, capture_output=True)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    print(f"second build: median {median:.2f} s over {args.runs} runs ({', '.join(f'{s:.2f}' for s in seconds)} s); "
          f"target <= {TARGET_S} s: {'meets' if median <= TARGET_S else 'MISSES'}; "
          f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
