"""Bytecode for the site, compiled by Pyodide's own Python under Node (see PRECOMPILE_VERSION)."""

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from .pyodide import PRECOMPILE_VERSION
from .verify import BuildError, install_file, log, sha256_of

# Runs inside Pyodide (Python 3.12.7, the runtime's own interpreter, so the bytecode always matches).
# Each .py in the archive is compiled to an unchecked-hash .pyc whose code objects carry the path
# the module has at run time: in place of the .py, or (keep_sources) in __pycache__ beside it.
# A wheel's RECORD is rewritten to match.
_COMPILE_PY = r"""
import base64, hashlib, importlib.util, json, zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"

def compile_archive(source, target, prefix, keep_sources):
    with zipfile.ZipFile(source) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    output, compiled = [], 0
    for info, data in members:
        name = info.filename
        if name.endswith(".py"):
            try:
                code = compile(data, prefix + name, "exec", dont_inherit=True)
            except SyntaxError:
                pass  # e.g. test data written to be invalid: shipped as it is
            else:
                pyc = bytes(_code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False))
                compiled += 1
                if keep_sources:  # __pycache__/NAME.cpython-312.pyc beside NAME.py: tracebacks show the source
                    output.append((name, info.external_attr, data))
                    name, data = importlib.util.cache_from_source(name), pyc
                else:             # sourceless NAME.pyc in place of NAME.py
                    name, data = name + "c", pyc
        output.append((name, info.external_attr, data))
    records = [n for n, _, _ in output if n.endswith(".dist-info/RECORD")]
    if records:
        lines = [record_line(n, d) for n, _, d in output if n != records[0]] + [f"{records[0]},,"]
        output = [(n, a, ("\n".join(lines) + "\n").encode() if n == records[0] else d) for n, a, d in output]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, attributes, data in output:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = attributes
            archive.writestr(info, data)
    return compiled

jobs = json.load(open("/work/jobs.json"))
json.dumps({job[1]: compile_archive(*job) for job in jobs})
"""

_COMPILE_JS = """
const [indexURL, workDir, script] = process.argv.slice(1);
const { loadPyodide } = await import(new URL("pyodide.mjs", "file://" + indexURL).href);
const pyodide = await loadPyodide({ indexURL });
pyodide.FS.mkdirTree("/work");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: workDir }, "/work");
try {
  console.log(await pyodide.runPythonAsync(script));
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
"""


def precompile(pyodide_dir, sources, layouts, cache_dir):
    """Bytecode-compiled copies of `sources` (name -> path), each cached by its input's sha256.

    `layouts` gives each file's (run-time directory, keep_sources): the directory is recorded in
    the code objects for tracebacks; keep_sources puts the .pyc in __pycache__ beside the .py.

    Returns name -> compiled path; without Node it warns and returns {} (the sources are served).
    The official files are verified before this; what is derived from them is ours, and the
    site's lock file lists the sha256 of what is served.
    """
    root = cache_dir / "precompiled"
    targets = {}
    for name, source in sources.items():
        key = hashlib.sha256(f"{PRECOMPILE_VERSION}:{sha256_of(source)}:{layouts[name]}".encode())
        targets[name] = root / key.hexdigest()[:16] / name
    missing = {name: sources[name] for name, target in targets.items() if not target.is_file()}
    if missing:
        node = shutil.which("node")
        if node is None:
            log("warning: node is not installed, so the site serves Python sources (.py): it works, "
                "but the page starts about twice as slowly")
            return {}
        log(f"node: precompiling {', '.join(sorted(missing))} with Pyodide's own Python")
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            jobs = []
            for name, source in missing.items():
                shutil.copyfile(source, work / f"in-{name}")
                jobs.append([f"/work/in-{name}", f"/work/out-{name}", *layouts[name]])
            (work / "jobs.json").write_text(json.dumps(jobs))
            result = subprocess.run([node, "--input-type=module", "-e", _COMPILE_JS, f"{pyodide_dir}/", str(work),
                                     _COMPILE_PY], capture_output=True, text=True)
            if result.returncode != 0:
                raise BuildError(f"precompiling with Pyodide under Node failed (exit {result.returncode}): "
                                 f"{result.stderr.strip()[-800:]}")
            for name in missing:
                install_file(work / f"out-{name}", targets[name])
    keep = {target.parent for target in targets.values()}
    for stale in root.iterdir():  # outputs of older inputs (e.g. earlier mnist_core wheels)
        if stale not in keep:
            shutil.rmtree(stale)
    return targets
