"""The page's memory snapshot (sitebuild/snapshot.py, web/python-start.js), under Node.

Restored as the page's worker restores it (tests/snapshot_run.mjs), Python predicts and evaluates
exactly as when it starts the normal way (tests/pyodide_run.mjs), with its seeds drawn afresh; the
snapshot is keyed by its inputs the same way in Python and JavaScript, and making it again gives
the same bytes.
"""

import hashlib
import json
import shutil
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


def run_restored(site, script, out_dir):
    """Run `script` in Pyodide restored from the site's snapshot under Node; its JSON result."""
    script_path = out_dir / "script.py"
    script_path.write_text(script)
    result = subprocess.run(["node", str(SNAPSHOT_RUNNER), str(site), str(script_path), str(out_dir)],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"the restored snapshot failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


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
    assert manifest["inputs"]["python-start.js"] == hashlib.sha256((site / "python-start.js").read_bytes()).hexdigest()
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
