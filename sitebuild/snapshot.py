"""The page's memory snapshot: Python with NumPy and mnist_core imported, restored in the worker instead of started.

web/python-start.js restores it (web/python-snapshot.js: its layout, and which of Pyodide's private API
that relies on); sitebuild/make_snapshot.mjs makes it under Node, from the very files the site serves. What goes
into it are its inputs, each with its sha256:

  pyodide/pyodide.mjs, pyodide.asm.js, pyodide.asm.wasm, python_stdlib.zip   the runtime as served
  pyodide/<numpy wheel>, pyodide/<mnist_core wheel>                          as served (precompiled)
  python-start.js, python-snapshot.js                                        the page's half of the hook
  sitebuild/make_snapshot.mjs, sitebuild/snapshot.py                         the build's half

Its key is a sha256 over SNAPSHOT_FORMAT and those (snapshot_key; python-start.js's snapshotKey
computes the same), so any change to any of them makes a new snapshot, and the page, which
recomputes the key from the files it is served (build.json's sha256), refuses one left from another
build. The bytes are a function of the inputs and Node's major version (the maker makes entropy and
clocks deterministic): the snapshot is cached under the build cache by its key and the Node binary that
made it, and a second build only checks it.

  pyodide/snapshot.bin        what the page restores before it is ready: the memory and the code of the
                              extension modules imported (web/python-snapshot.js describes the layout)
  pyodide/snapshot-rest.bin   NumPy's and mnist_core's other files, which the page installs after it is ready
  pyodide/snapshot.json       {format, key, sha256, bytes, rest: {sha256, bytes}, memory, inputs, libraries}:
                              what the page checks first
"""

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from .pyodide import RUNTIME_FILES, SITE_PACKAGES
from .verify import BuildError, install_file, log, sha256_of

REPO = Path(__file__).resolve().parent.parent
HOOK = REPO / "web" / "python-snapshot.js"     # what the maker imports: the layout, the hooks into Pyodide
PAGE_HALF = (REPO / "web" / "python-start.js", HOOK)  # the page's half of the hook: inputs, as served
MAKER = Path(__file__).resolve().parent / "make_snapshot.mjs"
SNAPSHOT_NAME = "snapshot.bin"
REST_NAME = "snapshot-rest.bin"
MANIFEST_NAME = "snapshot.json"
# The snapshot's format, as the page reads it (one place: web/python-snapshot.js).
SNAPSHOT_FORMAT = int(re.search(r"export const SNAPSHOT_FORMAT = (\d+);", HOOK.read_text()).group(1))
LOCK_NAME = "pyodide-lock.json"


def snapshot_key(inputs):
    """The key of a snapshot made from `inputs` ({name: sha256}), as python-start.js's snapshotKey computes it."""
    text = f"mnist-core snapshot {SNAPSHOT_FORMAT}\n" + "".join(f"{name} {inputs[name]}\n" for name in sorted(inputs))
    return hashlib.sha256(text.encode()).hexdigest()


def site_packages_files(wheels):
    """[(path at run time, bytes)] of every file in `wheels` (paths), as loadPackage would install them."""
    files = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    files.append((SITE_PACKAGES + info.filename, archive.read(info)))
    return files


def node_identity(node):
    """Which Node binary makes the snapshot, told by the file (its resolved path, size and modification time)
    rather than by running it: a second build starts no program (tests/test_wasm_node.py watches)."""
    binary = Path(node).resolve()
    stat = binary.stat()
    return hashlib.sha256(f"{binary} {stat.st_size} {stat.st_mtime_ns}".encode()).hexdigest()[:12]


def snapshot_files(served, wheel_names, lock_bytes, cache_dir):
    """{name: path or bytes} of the snapshot and its manifest for the site's pyodide/, made or found in the cache.

    `served` maps each pyodide/ file name to the path of what the site serves; `wheel_names` are the
    wheels whose files go into the snapshot. Without Node it warns and returns {} (the page starts
    the normal way, and says there is no snapshot).
    """
    node = shutil.which("node")
    if node is None:
        log("warning: node is not installed, so the site has no memory snapshot: it works, but the page "
            "starts about twice as slowly")
        return {}
    inputs = {f"pyodide/{name}": sha256_of(served[name]) for name in [*RUNTIME_FILES, *wheel_names]}
    for path in PAGE_HALF:
        inputs[path.name] = sha256_of(path)
    for path in (MAKER, Path(__file__)):
        inputs[path.relative_to(REPO).as_posix()] = sha256_of(path)
    key = snapshot_key(inputs)
    directory = cache_dir / "snapshot" / f"{key[:16]}-node-{node_identity(node)}"
    snapshot, rest, manifest_path = directory / SNAPSHOT_NAME, directory / REST_NAME, directory / MANIFEST_NAME
    made_files = {SNAPSHOT_NAME: snapshot, REST_NAME: rest, MANIFEST_NAME: manifest_path}
    if all(path.is_file() for path in made_files.values()):
        manifest = json.loads(manifest_path.read_text())
        if (manifest.get("key") == key and sha256_of(snapshot) == manifest.get("sha256")
                and sha256_of(rest) == manifest.get("rest", {}).get("sha256")):
            return made_files
    log("node: making the page's memory snapshot (Python with NumPy and mnist_core imported)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runtime = work / "pyodide"
        runtime.mkdir()
        for name in RUNTIME_FILES:
            shutil.copyfile(served[name], runtime / name)
        (runtime / LOCK_NAME).write_bytes(lock_bytes)
        files = site_packages_files(served[name] for name in wheel_names)
        (work / "files.json").write_text(json.dumps([[path, len(data)] for path, data in files]))
        (work / "files.bin").write_bytes(b"".join(data for _, data in files))
        result = subprocess.run([node, str(MAKER), str(runtime), str(HOOK), str(work / "files"), key,
                                 str(work / SNAPSHOT_NAME), str(work / REST_NAME)], capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"making the memory snapshot under Node failed (exit {result.returncode}): "
                             f"{(result.stderr or result.stdout).strip()[-1500:]}")
        made = json.loads(result.stdout.strip().splitlines()[-1])
        if directory.parent.is_dir():
            shutil.rmtree(directory.parent)  # only the current inputs' snapshot is kept
        install_file(work / SNAPSHOT_NAME, snapshot)
        install_file(work / REST_NAME, rest)
    manifest = {"format": SNAPSHOT_FORMAT, "key": key, "file": f"pyodide/{SNAPSHOT_NAME}",
                "sha256": sha256_of(snapshot), "bytes": snapshot.stat().st_size, "memory": made["memory"],
                "rest": {"file": f"pyodide/{REST_NAME}", "sha256": sha256_of(rest), "bytes": rest.stat().st_size},
                "inputs": inputs, "libraries": made["libraries"]}
    install_file((json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode(), manifest_path)
    return made_files
