"""Packaging beyond what pyproject.toml can say: the shipped models go into the wheel.

assets/ at the repository root is the one copy of the models in the repo. setuptools maps it
onto the package data folder mnist_core/assets/ of the wheel, where mnist_core.shipped finds
them through importlib.resources; an editable install reads assets/ in the checkout instead.
The site's wheel (build_wasm.py) is built from a copy without assets/: the page fetches the
models from web/models/ on its own, so the wheel it downloads stays small.
"""

from pathlib import Path

from setuptools import find_packages, setup

packages = find_packages(include=["mnist_core*"])
package_dir, package_data = {}, {}
if (Path(__file__).resolve().parent / "assets").is_dir():
    packages.append("mnist_core.assets")
    package_dir["mnist_core.assets"] = "assets"
    package_data["mnist_core.assets"] = ["*.gguf", "README.md"]

setup(packages=packages, package_dir=package_dir, package_data=package_data)
