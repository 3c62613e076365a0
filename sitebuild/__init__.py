"""The parts build_wasm.py assembles web/ with: checksum checks, the Pyodide runtime and wheels, precompilation.

Only the standard library and mnist_core are used, as in build_wasm.py itself.
"""
