#!/usr/bin/env bash
# Sets up mnist-core on a fresh Debian machine and serves the web app on http://localhost:${PORT:-8000}/ :
# a virtualenv with the package, the MNIST data, and the site (Pyodide, NumPy, our wheel, models).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-common.sh
setup_python training
setup_system_packages nodejs npm
.venv/bin/python -m mnist_core.data mnist
.venv/bin/python build_wasm.py
echo "serving http://localhost:${PORT:-8000}/ (Ctrl-C to stop)"
cd web && exec ../.venv/bin/python -m http.server "${PORT:-8000}" --bind 127.0.0.1
