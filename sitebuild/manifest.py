"""build.json: what build_wasm.py put in web/, for the page's start-up checks (web/startup.js).

The page reads it before starting its worker and asks the server for each file's size (HEAD):
a missing file, one whose size differs (half-copied, or left from another build) or a manifest of
another format gets a one-line message saying to run build_wasm.py, instead of an error from
somewhere inside Pyodide. It is written last, so a build that stops half-way leaves the previous
manifest, whose sizes no longer match what was replaced.
"""

import json

from mnist_core import __version__

from .verify import install_file, sha256_of

MANIFEST_NAME = "build.json"
# web/startup.js's BUILD_FORMAT: bump both when the page needs something an older build lacks.
MANIFEST_FORMAT = 1
BUILT_DIRS = ("pyodide", "models", "data", "vendor")  # what build_wasm.py generates in the site (ignored by git)


def write_manifest(out_dir, pyodide_version):
    """Write out_dir/build.json listing every generated file ("dir/name": {size, sha256}); return it as a dict."""
    files = {}
    for top in BUILT_DIRS:
        for path in sorted((out_dir / top).rglob("*")):
            if path.is_file():
                files[path.relative_to(out_dir).as_posix()] = {"size": path.stat().st_size, "sha256": sha256_of(path)}
    manifest = {"format": MANIFEST_FORMAT, "pyodide": pyodide_version, "mnist_core": __version__, "files": files}
    install_file((json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode(), out_dir / MANIFEST_NAME)
    return manifest
