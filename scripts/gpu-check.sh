#!/usr/bin/env bash
# The CuPy backend on a real GPU in one run (at most about 6 minutes): the real-CuPy tests, both shipped
# models evaluated on CuPy against NumPy, two epochs of training per architecture, and PyTorch on the
# same GPU beside it. Everything it prints also goes to OUT_DIR/gpu-check.json (bench/gpu_check.py says what).
#
#   PYTHONPATH=. scripts/gpu-check.sh MNIST_DIR OUT_DIR
#
# MNIST_DIR: the four MNIST .gz files (about 11 MB). Runs from the repository root with no install step.
# Without CuPy or a GPU it is a dry run: it checks its arguments, says no GPU is present and exits 0.
# PYTHON picks the interpreter (default: python3, the one that holds CuPy and PyTorch on the lent machines).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "${PYTHON:-python3}" bench/gpu_check.py "$@"
