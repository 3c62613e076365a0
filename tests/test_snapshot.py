"""The page's memory snapshot (sitebuild/snapshot.py, web/python-start.js, web/python-snapshot.js), under Node.

Restored as the page's worker restores it (tests/snapshot_run.mjs), Python predicts and evaluates
exactly as when it starts the normal way (tests/pyodide_run.mjs), with its seeds drawn afresh; what
the page asks before the snapshot's rest is installed works without it; the snapshot is keyed by its
inputs the same way in Python and JavaScript, and making it again gives the same bytes.
"""

import hashlib
import json
import re
import shutil
import struct
import subprocess

import pytest

from conftest import skip_unless_available
from web_support import ARCHS, REPO, run_in_pyodide

pytestmark = [pytest.mark.browser, skip_unless_available(None if shutil.which("node") else "node is not installed")]

SNAPSHOT_RUNNER = REPO / "tests" / "snapshot_run.mjs"
N_SAMPLES = 300  # test images through App.sample, one at a time as the page asks

# The same work both ways: predictions of test images and of a drawn canvas, the whole test set's
# evaluation for each shipped model, and what the seeds give.
SCRIPT = f"""
import random, sys
import numpy as np
from mnist_core.browser import App

app = App()
app.load_test_set(open("/site/data/t10k-images-idx3-ubyte", "rb").read(),
                  open("/site/data/t10k-labels-idx1-ubyte", "rb").read())
canvas = np.full((364, 364, 4), 255, np.uint8)
canvas[60:320, 170:195, :3] = 0                                  # a 1
canvas[60:85, 100:270, :3] = 0; canvas[60:320, 245:270, :3] = 0  # ... and a 7
results = {{}}
for arch in {ARCHS!r}:
    app.load_shipped_model(arch, open(f"/site/models/{{arch}}-f32.gguf", "rb").read())
    evaluation = app.evaluate_test_set()
    results[arch] = {{
        "samples": [app.sample(i)["probabilities"] for i in range({N_SAMPLES})],
        "canvas": app.predict_canvas(canvas.tobytes(), 364, 364)["probabilities"],
        "evaluation": {{key: evaluation[key] for key in ("accuracy", "loss", "confusion", "misclassified", "gallery")}},
    }}
results["random"] = random.random()
results["numpy_random"] = float(np.random.random())
results["generator"] = int(app.test_set.random_index())
results["hash_randomization"] = sys.flags.hash_randomization
results
"""


def run_restored(site, script, out_dir, before_rest=False):
    """Run `script` in Pyodide restored from the site's snapshot under Node (before the snapshot's rest is
    installed, as the page's first requests run, if `before_rest`); its JSON result."""
    script_path = out_dir / "script.py"
    script_path.write_text(script)
    flags = ["--before-rest"] if before_rest else []
    result = subprocess.run(["node", str(SNAPSHOT_RUNNER), *flags, str(site), str(script_path), str(out_dir)],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"the restored snapshot failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


BLOB_MAGIC = b"mnist-core snapshot\n"  # web/python-snapshot.js's SNAPSHOT_MAGIC


def decode_blob(blob, listed):
    """A snapshot blob as web/python-snapshot.js lays it out (its magic, the header's length, the header, then the
    parts `listed` in the header): (header, [the listed parts' bytes], the bytes after them)."""
    (length,) = struct.unpack_from("<I", blob, len(BLOB_MAGIC))
    at = len(BLOB_MAGIC) + 4 + length
    header = json.loads(blob[len(BLOB_MAGIC) + 4:at])
    parts = []
    for _, size in header[listed]:
        parts.append(blob[at:at + size])
        at += size
    return header, parts, blob[at:]


def encode_blob(header, parts, after):
    """decode_blob's inverse: the blob of `header`, its listed `parts` and the bytes `after` them."""
    encoded = json.dumps(header).encode()
    return b"".join([BLOB_MAGIC, struct.pack("<I", len(encoded)), encoded, *parts, after])


@pytest.fixture(scope="module")
def both(site, tmp_path_factory):
    """(normal start, restored snapshot, another restored snapshot): the script's results each way."""
    normal = run_in_pyodide(site, SCRIPT, tmp_path_factory.mktemp("normal"))
    restored = [run_restored(site, SCRIPT, tmp_path_factory.mktemp(f"restored{i}")) for i in range(2)]
    return normal, *restored


def test_a_restored_snapshot_predicts_as_the_normal_start(both):
    normal, restored, _ = both
    for arch in ARCHS:
        assert restored[arch]["samples"] == normal[arch]["samples"], arch  # the same float32s, bit for bit
        assert restored[arch]["canvas"] == normal[arch]["canvas"], arch


def test_a_restored_snapshot_evaluates_the_test_set_as_the_normal_start(both):
    normal, restored, _ = both
    for arch in ARCHS:
        assert restored[arch]["evaluation"] == normal[arch]["evaluation"], arch
        assert float(restored[arch]["evaluation"]["accuracy"]) > 98, arch


def test_each_restore_draws_its_own_seeds_but_hash_randomisation_is_frozen_off(both):
    _, first, second = both
    assert first["random"] != second["random"]              # `random`, reseeded after the restore
    assert first["numpy_random"] != second["numpy_random"]  # NumPy's global generator too
    assert first["hash_randomization"] == second["hash_randomization"] == 0  # PYTHONHASHSEED=0 when made


# What the worker lets through before the snapshot's rest is installed (web/worker.js's AT_ONCE): init (an App,
# the model), a drawing read as a digit and as a number, the other shipped model loaded and selected.
AT_ONCE = {"init", "predict_canvas", "read_number", "select_model"}
AT_ONCE_SCRIPT = f"""
import sys
import numpy as np
before = set(sys.modules)
from mnist_core.browser import App

app = App()
canvas = np.full((364, 1092, 4), 255, np.uint8)
canvas[60:320, 300:325, :3] = 0                                  # a 1
canvas[60:85, 600:770, :3] = 0; canvas[60:320, 745:770, :3] = 0  # ... and a 7
strokes = [np.array([312, 60, 312, 320], np.float32), np.array([600, 72, 757, 72, 757, 320], np.float32)]
results = {{}}
for arch in {ARCHS!r}:
    app.load_shipped_model(arch, open(f"/site/models/{{arch}}-f32.gguf", "rb").read())
for arch in {ARCHS!r}:
    app.select_model(arch)
    results[arch] = {{
        "digit": app.predict_canvas(canvas.tobytes(), 1092, 364)["probabilities"],
        "number": app.read_number(canvas.tobytes(), 1092, 364, strokes)["text"],
    }}
results["imported"] = sorted(set(sys.modules) - before)
results
"""


def test_what_the_page_asks_before_the_snapshot_s_rest_works_without_it_and_imports_nothing(site, tmp_path):
    worker = (REPO / "web" / "worker.js").read_text()
    assert set(re.findall(r'"(\w+)"', re.search(r"const AT_ONCE = new Set\(\[(.*?)\]\)", worker).group(1))) == AT_ONCE
    before = run_restored(site, AT_ONCE_SCRIPT, tmp_path, before_rest=True)
    after = run_restored(site, AT_ONCE_SCRIPT, tmp_path)
    assert before["imported"] == [] and after["imported"] == []  # what it needs is in the snapshot already
    assert before == after
    assert {arch: before[arch]["number"] for arch in ARCHS} == {arch: "17" for arch in ARCHS}


def test_the_snapshot_and_its_rest_hold_the_wheels_files_between_them(site):
    from sitebuild.snapshot import site_packages_files

    pyodide = site / "pyodide"
    manifest = json.loads((pyodide / "snapshot.json").read_text())
    wheels = [pyodide / name.removeprefix("pyodide/") for name in manifest["inputs"]
              if name.endswith(".whl")]
    rest = (pyodide / "snapshot-rest.bin").read_bytes()
    header, _, _ = decode_blob(rest, "files")
    in_rest = {path for path, _ in header["files"]}
    assert header["key"] == manifest["key"]
    assert hashlib.sha256(rest).hexdigest() == manifest["rest"]["sha256"]
    assert in_rest.isdisjoint(manifest["libraries"])  # the extension modules imported: in snapshot.bin
    assert in_rest | set(manifest["libraries"]) == {path for path, _ in site_packages_files(wheels)}


def test_the_snapshot_holds_the_extension_modules_code_once(site):
    # Emscripten's dlopen reads a library's whole file into the wasm heap and keeps that copy: the maker leaves
    # the preloaded libraries' files empty, or the memory would hold their code (4.6 MB) a second time.
    header, libraries, memory = decode_blob((site / "pyodide" / "snapshot.bin").read_bytes(), "libraries")
    assert len(memory) == sum(size for _, size in header["memory"]["runs"])
    assert libraries and all(code[:4] == b"\0asm" for code in libraries)
    for code in libraries:
        assert memory.find(code[:4096]) == -1


def test_a_restore_that_fails_loading_the_libraries_falls_back_saying_why_instead_of_waiting(site, tmp_path):
    # The runtime starts as soon as its wasm has compiled and waits for the snapshot in its last preRun hook
    # (web/python-snapshot.js's hookNextStart): a failure there must end the restore with its reason. Here the
    # last library is an empty wasm module (no dylink section), in a snapshot that passes every check.
    copy = tmp_path / "site"
    (copy / "pyodide").mkdir(parents=True)
    for entry in site.iterdir():
        if entry.name != "pyodide":
            (copy / entry.name).symlink_to(entry)
    for entry in (site / "pyodide").iterdir():
        if entry.name not in ("snapshot.bin", "snapshot.json"):
            (copy / "pyodide" / entry.name).symlink_to(entry)
    header, libraries, memory = decode_blob((site / "pyodide" / "snapshot.bin").read_bytes(), "libraries")
    empty = b"\0asm\1\0\0\0"
    header["libraries"][-1][1] = len(empty)
    blob = encode_blob(header, [*libraries[:-1], empty], memory)
    (copy / "pyodide" / "snapshot.bin").write_bytes(blob)
    manifest = json.loads((site / "pyodide" / "snapshot.json").read_text())
    manifest["sha256"] = hashlib.sha256(blob).hexdigest()
    (copy / "pyodide" / "snapshot.json").write_text(json.dumps(manifest))
    script = tmp_path / "script.py"
    script.write_text("1")
    result = subprocess.run(["node", str(SNAPSHOT_RUNNER), str(copy), str(script)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 3, result.stderr[-4000:]  # started the normal way
    assert "the snapshot was not used: restoring it failed: " in result.stderr
    assert "need dylink section" in result.stderr


# Restores the site's snapshot under Node as the page does, counting the calls that would run Python source
# during Pyodide's start (web/python-snapshot.js's bootstrapWithoutCompiler stands in for them), then runs some.
BOOTSTRAP_SCRIPT = """
const [site] = process.argv.slice(1);
const { readFile } = await import("node:fs/promises");
const { fileURLToPath } = await import("node:url");
const { loadPyodide } = await import(new URL("pyodide/pyodide.mjs", site).href);
const { startPython } = await import(new URL("python-start.js", site).href);
await import(new URL("pyodide/pyodide.asm.js", site).href);
const factory = globalThis._createPyodideModule;
const calls = [];
globalThis._createPyodideModule = (settings) => factory(settings).then((Module) => {
  for (const name of ["rawRun", "runPythonInternal"]) {
    const original = settings.API[name];
    settings.API[name] = (...args) => { calls.push([name, String(args[0])]); return original(...args); };
  }
  return Module;
});
const fetch = async (url) => new Response(await readFile(fileURLToPath(url)),
                                          { headers: { "content-type": "application/wasm" } });
const indexURL = fileURLToPath(new URL("pyodide/", site));
const { pyodide, start, reason } = await startPython({
  loadPyodide, site, options: { indexURL, lockFileURL: `${indexURL}pyodide-lock.json` },
  packages: ["numpy", "mnist_core"], fetch });
const during = calls.length;
const internal = pyodide._api.runPythonInternal("6 * 7");
const checks = pyodide.runPython(
  "import __main__, builtins, importlib, sys; "
  + "[sys.modules['_pyodide_core'].__name__, __main__.__name__, builtins.len('abc'), "
  + "importlib.import_module('mnist_core.browser').__name__, eval('6 * 7')]").toJs();
const names = [...pyodide._api.runPythonInternal_dict.keys()];
console.log(JSON.stringify({ start, reason, during, calls, checks, internal, names,
                             globals: pyodide.globals.get("__name__") }));
"""


def test_a_restore_starts_python_without_running_python_source(site):
    # Python's parser and compiler are never used before ready in a restore (their wasm would be compiled on the
    # way); the objects Pyodide's bootstrap asks for are what running its source would give.
    found = subprocess.run(["node", "--input-type=module", "-e", BOOTSTRAP_SCRIPT, site.as_uri() + "/"],
                           capture_output=True, text=True, timeout=300)
    assert found.returncode == 0, found.stderr[-4000:]
    result = json.loads(found.stdout.strip().splitlines()[-1])
    assert (result["start"], result["reason"]) == ("snapshot", "")
    assert result["during"] == 0, result["calls"]
    assert result["calls"] == [["runPythonInternal", "6 * 7"]] and result["internal"] == 42  # the spies were there
    assert result["checks"] == ["_pyodide_core", "__main__", 3, "mnist_core.browser", 42]
    assert result["globals"] == "__main__"
    assert {"importlib", "__main__", "builtins"} <= set(result["names"])


def test_python_and_javascript_key_a_snapshot_alike(site):
    from sitebuild.snapshot import snapshot_key

    manifest = json.loads((site / "pyodide" / "snapshot.json").read_text())
    script = ("const { snapshotKey } = await import(process.argv[1]); "
              "console.log(await snapshotKey(JSON.parse(process.argv[2])));")
    for inputs in (manifest["inputs"], {**manifest["inputs"], "python-start.js": "0" * 64}):
        found = subprocess.run(["node", "--input-type=module", "-e", script, (site / "python-start.js").as_uri(),
                                json.dumps(inputs)], capture_output=True, text=True, check=True).stdout.strip()
        assert found == snapshot_key(inputs)
    assert manifest["key"] == snapshot_key(manifest["inputs"])


def test_the_snapshot_lists_and_matches_the_files_it_was_made_from(site):
    manifest = json.loads((site / "pyodide" / "snapshot.json").read_text())
    build = json.loads((site / "build.json").read_text())
    served = {name: sha for name, sha in manifest["inputs"].items() if name.startswith("pyodide/")}
    assert {"pyodide/pyodide.asm.wasm", "pyodide/pyodide.asm.js", "pyodide/python_stdlib.zip"} <= set(served)
    assert any(name.startswith("pyodide/numpy-") for name in served)
    assert any(name.startswith("pyodide/mnist_core-") for name in served)
    assert all(build["files"][name]["sha256"] == sha for name, sha in served.items())
    for page_half in ("python-start.js", "python-snapshot.js"):
        assert manifest["inputs"][page_half] == hashlib.sha256((site / page_half).read_bytes()).hexdigest()
    found = hashlib.sha256((site / "pyodide" / "snapshot.bin").read_bytes()).hexdigest()
    assert found == manifest["sha256"] == build["files"]["pyodide/snapshot.bin"]["sha256"]


@pytest.mark.slow
def test_making_the_snapshot_again_gives_the_same_bytes(site, tmp_path):
    from sitebuild.snapshot import snapshot_files

    pyodide = site / "pyodide"
    lock = json.loads((pyodide / "pyodide-lock.json").read_text())
    wheels = [lock["packages"][name]["file_name"] for name in ("numpy", "mnist-core")]
    served = {path.name: path for path in pyodide.iterdir()}
    made = snapshot_files(served, wheels, (pyodide / "pyodide-lock.json").read_bytes(), tmp_path)
    assert made["snapshot.bin"].read_bytes() == (pyodide / "snapshot.bin").read_bytes()
