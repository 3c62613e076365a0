"""The page's Python for evaluation and model files (mnist_core.browser), natively and in Pyodide under Node.

Evaluation must print what `python -m mnist_core.eval` prints for the same model file, to the
printed digits; a model file the user opens is read with the desktop's reader and checks, and a
bad one is a one-line message naming it that leaves the model in use as it was.
"""

import json

import numpy as np
import pytest

from conftest import SHIPPED_MODELS, skip_unless_available
from mnist_core.browser import App
from mnist_core.browser.evaluation import GALLERY_LIMIT
from mnist_core.browser.model_files import MAX_MODEL_FILE_BYTES
from mnist_core.browser.predictions import prediction
from mnist_core.formats.gguf_constants import KEY_TRAINING_COMMAND
from mnist_core.formats.gguf_writer import write_gguf
from mnist_core.models import init_model, load_model, save_model
from page_cases import MAX_FILE_BYTES, bad_model_files, cli_figures, ggml_style_cnn, gguf_package_fc
from web_support import ARCHS, build_site, node_missing_reason, run_in_pyodide, site_model_path, site_test_set

FIGURES = ("accuracy", "accuracy_uncertainty", "loss", "loss_uncertainty")


@pytest.fixture(scope="module")
def app(mnist_test):
    """App natively, with the shipped models and the MNIST test set."""
    app = App()
    app.test_set.images, app.test_set.labels = mnist_test
    for arch in ARCHS:
        app.load_shipped_model(arch, SHIPPED_MODELS[arch].read_bytes())
    return app


@pytest.fixture(scope="module")
def evaluations(app):
    """App.evaluate_test_set for each shipped model, with the progress it reported."""
    results = {}
    for arch in ARCHS:
        app.select_model(arch)
        progress = []
        results[arch] = app.evaluate_test_set(lambda done, total, progress=progress: progress.append((done, total)))
        results[arch]["progress"] = progress
    return results


@pytest.mark.parametrize("arch", ARCHS)
def test_evaluation_prints_what_the_cli_prints_for_the_same_model_file(evaluations, mnist_test_files, arch):
    expected = cli_figures(SHIPPED_MODELS[arch], *mnist_test_files)
    result = evaluations[arch]
    assert {key: result[key] for key in FIGURES} == expected
    assert result["images"] == 10_000 and result["model"] == arch and result["arch"] == arch
    assert result["ms"] > 0


@pytest.mark.parametrize("arch", ARCHS)
def test_confusion_matrix_counts_each_test_image_once_as_the_model_predicts_it(app, evaluations, arch):
    confusion = np.array(evaluations[arch]["confusion"])
    predictions = app.models.get(arch).predict(app.test_set.images)
    assert confusion.shape == (10, 10) and confusion.sum() == 10_000
    np.testing.assert_array_equal(confusion.sum(axis=1), np.bincount(app.test_set.labels, minlength=10))
    np.testing.assert_array_equal(confusion.sum(axis=0), np.bincount(predictions, minlength=10))
    assert confusion[3, 5] == np.sum((app.test_set.labels == 3) & (predictions == 5))
    assert f"{100 * np.trace(confusion) / 10_000:.2f}" == evaluations[arch]["accuracy"]


@pytest.mark.parametrize("arch", ARCHS)
def test_progress_is_reported_slice_by_slice_up_to_every_image(evaluations, arch):
    progress = evaluations[arch]["progress"]
    assert len(progress) >= 10
    assert [done for done, _ in progress] == sorted({done for done, _ in progress})
    assert progress[-1] == (10_000, 10_000) and all(total == 10_000 for _, total in progress)


def test_gallery_holds_the_misclassified_images_in_order_with_their_pixels(app, evaluations):
    result = evaluations["mnist-cnn"]
    wrong = np.flatnonzero(app.models.get("mnist-cnn").predict(app.test_set.images) != app.test_set.labels)
    assert result["misclassified"] == wrong.size == 10_000 - np.trace(result["confusion"])
    shown = wrong[:GALLERY_LIMIT]
    assert [index for index, _, _ in result["gallery"]] == shown.tolist()
    assert all(label == app.test_set.labels[i] and predicted != label for i, label, predicted in result["gallery"])
    assert result["gallery_images"] == app.test_set.images[shown].tobytes()


def test_a_confusion_cell_gives_its_images_one_after_another_with_the_prediction(app):
    app.select_model("mnist-fc")
    full = np.array(app.evaluate_test_set()["confusion"])
    mistakes = full - np.diag(np.diag(full))
    label, predicted = np.unravel_index(mistakes.argmax(), mistakes.shape)  # the commonest mistake
    count = full[label, predicted]
    shown = [app.confusion_sample(label, predicted, nth) for nth in range(count + 1)]
    indices = [sample["index"] for sample in shown]
    assert len(set(indices)) == count and indices[-1] == indices[0]  # then round again
    for sample in shown:
        assert sample["label"] == label and sample["digit"] == predicted
        assert sample["cell"] == [label, predicted] and sample["cell_count"] == count
        assert sample["image28"] == app.test_set.images[sample["index"]].tobytes()
    empty_label, empty_predicted = np.argwhere(full == 0)[0]
    with pytest.raises(ValueError, match=f"no test image with label {empty_label} was predicted as {empty_predicted}"):
        app.confusion_sample(empty_label, empty_predicted)


# --- model files ----------------------------------------------------------------------------------------


def test_the_size_limit_is_the_one_the_tests_use():
    assert MAX_MODEL_FILE_BYTES == MAX_FILE_BYTES


def test_a_model_file_joins_the_list_by_its_file_name_with_arch_parameters_and_command(tmp_path):
    app = App()
    model = init_model("mnist-cnn", seed=3)
    save_model(model, tmp_path / "mine.gguf", {KEY_TRAINING_COMMAND: "python -m mnist_core.train mnist-cnn mine.gguf"})
    app.load_shipped_model("mnist-fc", SHIPPED_MODELS["mnist-fc"].read_bytes())
    described = app.open_model_file((tmp_path / "mine.gguf").read_bytes(), "mine.gguf")
    assert described == {"name": "mine.gguf", "arch": "mnist-cnn", "parameters": 9_098,
                         "command": "python -m mnist_core.train mnist-cnn mine.gguf"}
    assert app.models.selected == "mine.gguf"
    image = np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)
    np.testing.assert_allclose(prediction(app.models.current(), image)["probabilities"],
                               model.predict_proba(image[None])[0], rtol=0, atol=1e-6)
    # The same name again is a second entry; a file without a command says so.
    write_gguf(tmp_path / "plain.gguf", {"general.architecture": "mnist-cnn"}, model.host_params())
    again = app.open_model_file((tmp_path / "plain.gguf").read_bytes(), "mine.gguf")
    assert again["name"] == "mine.gguf (2)" and again["command"] is None
    assert app.models.names() == ["mnist-fc", "mine.gguf", "mine.gguf (2)"]
    assert app.models.describe("mnist-fc")["parameters"] == 397_510
    # A file named like an architecture does not take the shipped model's place, loaded (FC) or not (CNN).
    for arch in ("mnist-fc", "mnist-cnn"):
        assert app.open_model_file((tmp_path / "plain.gguf").read_bytes(), arch)["name"] == f"{arch} (2)"
    assert app.models.get("mnist-fc").arch == "mnist-fc" and "mnist-cnn" not in app.models


@pytest.mark.parametrize("kind", ["ggml", "gguf package"])
def test_ggml_and_gguf_package_files_load_and_predict_as_the_desktop_does(tmp_path, mnist_test, kind):
    if kind == "ggml":
        name, data = "ggml-cnn.gguf", ggml_style_cnn(SHIPPED_MODELS["mnist-cnn"])
    else:
        name, data = "gguf-fc.gguf", gguf_package_fc(SHIPPED_MODELS["mnist-fc"], tmp_path / "gguf-fc.gguf")
    app = App()
    app.test_set.images, app.test_set.labels = mnist_test
    assert "error" not in app.open_model_file(data, name)
    original = load_model(SHIPPED_MODELS["mnist-cnn" if kind == "ggml" else "mnist-fc"])
    np.testing.assert_allclose(app.models.current().predict_proba(mnist_test[0][:500]),
                               original.predict_proba(mnist_test[0][:500]), rtol=0, atol=1e-6)


@pytest.mark.parametrize("case", bad_model_files(SHIPPED_MODELS["mnist-fc"]), ids=lambda case: case[0])
def test_a_bad_model_file_is_one_line_naming_it_and_the_model_in_use_stays(case):
    _, name, data, fragment = case
    app = App()
    app.load_shipped_model("mnist-cnn", SHIPPED_MODELS["mnist-cnn"].read_bytes())
    image = np.arange(784, dtype=np.uint8).reshape(28, 28)
    before = prediction(app.models.current(), image)
    checked = app.check_model_file(name, len(data))
    result = app.open_model_file(data, name) if "error" not in checked else checked
    assert set(result) == {"error"}
    assert result["error"].startswith(f"{name}: ") and fragment in result["error"], result["error"]
    assert "\n" not in result["error"]
    assert app.models.names() == ["mnist-cnn"] and app.models.selected == "mnist-cnn"
    assert prediction(app.models.current(), image)["probabilities"] == before["probabilities"]


# --- in Pyodide ------------------------------------------------------------------------------------------


PYODIDE_SCRIPT = """
import json, time
from mnist_core.browser import App

app = App()
app.load_test_set(open("/site/data/t10k-images-idx3-ubyte", "rb").read(),
                  open("/site/data/t10k-labels-idx1-ubyte", "rb").read())
results = {}
for arch in ("mnist-fc", "mnist-cnn"):
    app.load_shipped_model(arch, open(f"/site/models/{arch}-f32.gguf", "rb").read())
    started = time.perf_counter()
    result = app.evaluate_test_set()
    result["wall_s"] = time.perf_counter() - started
    del result["gallery_images"]
    results[arch] = result
results["bad"] = app.open_model_file(open("/out/short.gguf", "rb").read(), "short.gguf")
results["ggml"] = app.open_model_file(open("/out/ggml-cnn.gguf", "rb").read(), "ggml-cnn.gguf")
results["ggml_sample"] = app.sample(7)["probabilities"]
json.dumps(results)
"""


@pytest.fixture(scope="module")
def in_pyodide(tmp_path_factory):
    site = build_site()
    out = tmp_path_factory.mktemp("pyodide-eval")
    (out / "ggml-cnn.gguf").write_bytes(ggml_style_cnn(site_model_path("mnist-cnn", site)))
    (out / "short.gguf").write_bytes(site_model_path("mnist-fc", site).read_bytes()[:1000])
    return site, json.loads(run_in_pyodide(site, PYODIDE_SCRIPT, out))


NEEDS_NODE = skip_unless_available(node_missing_reason())


@pytest.mark.browser
@NEEDS_NODE
@pytest.mark.parametrize("arch", ARCHS)
def test_evaluation_in_pyodide_prints_what_the_cli_prints_natively(in_pyodide, arch):
    site, results = in_pyodide
    images, labels = site / "data" / "t10k-images-idx3-ubyte", site / "data" / "t10k-labels-idx1-ubyte"
    expected = cli_figures(site_model_path(arch, site), images, labels)
    result = results[arch]
    print(f"{arch}: evaluation of 10,000 images in Pyodide under Node took {result['wall_s']:.2f} s")
    assert {key: result[key] for key in FIGURES} == expected
    native = App()
    native.test_set.images, native.test_set.labels = site_test_set(site)
    native.load_shipped_model(arch, site_model_path(arch, site).read_bytes())
    assert result["confusion"] == native.evaluate_test_set()["confusion"]


@pytest.mark.browser
@NEEDS_NODE
def test_model_files_in_pyodide_load_or_fail_as_natively(in_pyodide):
    site, results = in_pyodide
    short = site_model_path("mnist-fc", site).read_bytes()[:1000]
    assert results["bad"] == App().open_model_file(short, "short.gguf")
    assert results["bad"]["error"].startswith("short.gguf: ")
    assert results["ggml"]["name"] == "ggml-cnn.gguf" and results["ggml"]["arch"] == "mnist-cnn"
    images, _ = site_test_set(site)
    native = load_model(site_model_path("mnist-cnn", site)).predict_proba(images[7:8])[0]
    np.testing.assert_allclose(results["ggml_sample"], native, rtol=0, atol=1e-5)
