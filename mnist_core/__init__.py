"""mnist-core: ggml's examples/mnist re-created in pure NumPy, for the desktop and for Pyodide."""

__version__ = "0.1.0"
