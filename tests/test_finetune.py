"""Learning in the page, natively and in Pyodide: fine-tuning on corrections, training step by step, the page's App.

Fine-tuning (mnist_core.training.finetune) must make a misread drawing read right and others of
its style too, without costing MNIST more than 0.3 points of test accuracy after 20 corrections,
nor more than 0.5 points of held-out accuracy after five corrections of a style that resembles
another digit (a 7 drawn like a Z), nor make the person's other digits read worse (but for their
2, which they draw like a Z too).
A TrainingRun (mnist_core.training.run) must make exactly the steps train() makes. The same code
runs in Pyodide under Node (from the site's own files) and must agree with native NumPy there.
"""

import subprocess
import sys

import numpy as np
import pytest

from conftest import SHIPPED_MODELS, skip_unless_available
from handwriting import RESEMBLING, STYLES, drawings, misread_styles
from mnist_core.browser import App
from mnist_core.browser.predictions import prediction
from mnist_core.evaluation import evaluate
from mnist_core.formats.gguf_constants import KEY_CORRECTIONS, KEY_TRAINING_COMMAND
from mnist_core.layers import products
from mnist_core.models import init_model, load_model
from mnist_core.training import TrainConfig, train
from mnist_core.training.finetune import Finetuner
from mnist_core.training.run import TrainingRun, split_validation
from test_training import synthetic_digits
from web_support import build_site, node_missing_reason, run_in_pyodide, site_model_path

ARCHS = ("mnist-fc", "mnist-cnn")
MAX_TEST_ACCURACY_DROP = 0.003  # the bound: 0.3 points after 20 corrections
MAX_HELD_OUT_DROP = 0.005       # and 0.5 points after five corrections of a style resembling another digit


@pytest.fixture(scope="module")
def replay(mnist_train):
    """The replay images as the site ships them: 600 of each digit from the trained part of the training set."""
    from sitebuild.training_data import replay_indices

    images, labels = mnist_train
    chosen = replay_indices(labels)
    return images[chosen], labels[chosen]


@pytest.fixture(scope="module")
def held_out(mnist_train):
    """The trainer's validation split, the last 3,000 training images: no shipped model trained on them, and
    they are not in the replay set. The fine-tuning settings are chosen on them, not on the test set."""
    from sitebuild.training_data import replay_indices

    images, labels = mnist_train
    _, indices = split_validation(len(labels), 0.05)
    assert np.intersect1d(indices, replay_indices(labels)).size == 0
    return images[indices], labels[indices]


def twenty_corrections():
    """Two drawings of each digit in one person's style (tests/handwriting.py), as a user would correct them."""
    images = np.concatenate([drawings(digit, (0, 1)) for digit in STYLES])      # (20, 28, 28)
    labels = np.repeat(np.array(list(STYLES), dtype=np.uint8), 2)
    order = np.argsort(np.tile([0, 1], 10), kind="stable")  # every digit once, then every digit again
    return images[order], labels[order]


# ---------------------------------------------------------------- the pieces


def test_the_einsum_product_equals_blas_on_transposed_views():
    rng = np.random.default_rng(0)
    a, b = rng.random((300, 784), dtype=np.float32), rng.random((500, 784), dtype=np.float32)
    for left, right in ((a, b.T), (a.T[:, :50], a[:50]), (b, a.T)):
        np.testing.assert_allclose(products._einsum_matmul(np, left, right), products._blas_matmul(np, left, right),
                                   rtol=2e-5, atol=1e-3)
    assert products.matmul is products._blas_matmul  # natively; Pyodide takes the einsum one (tested under Node)


def test_the_kept_logits_term_of_a_step_has_the_gradient_of_its_loss():
    """gradient_step's `kept` (fine-tuning's distillation) adds weight / 2 * |logits - kept|^2 per image to the
    mean loss; its gradients match central differences of that loss (float64, mnist-fc's output layer)."""
    from mnist_core.layers import softmax_cross_entropy
    from mnist_core.models import model_class
    from mnist_core.training.engine import gradient_step

    rng = np.random.default_rng(7)
    model = model_class("mnist-fc")(init_model("mnist-fc", seed=7).host_params(), dtype=np.float64)
    x, y = rng.random((6, 28, 28)), rng.integers(0, 10, 6)
    kept_logits, weights = rng.normal(0, 3, (6, 10)), np.array([0, 0, 0.1, 0.1, 0.5, 1.0])

    def loss():
        logits = model.logits(x)
        return float(softmax_cross_entropy(np, logits, y)[0].mean() +
                     (weights / 2 * ((logits - kept_logits) ** 2).sum(axis=1)).mean())

    class Recorder:  # an optimizer that keeps the gradients instead of stepping
        def step(self, params, grads, lr=None, pool=None):
            self.grads = {name: grad.copy() for name, grad in grads.items()}

    recorder = Recorder()
    gradient_step(model, recorder, x, y, 0.0, kept=(kept_logits, weights))
    for name in ("fc2.bias", "fc2.weight"):
        param, numeric = model.params[name], np.zeros_like(model.params[name])
        for index in [(i,) for i in range(10)] if param.ndim == 1 else [(i, j) for i in range(10) for j in (0, 7)]:
            old = param[index]
            param[index] = old + 1e-6
            plus = loss()
            param[index] = old - 1e-6
            numeric[index] = (plus - loss()) / 2e-6
            param[index] = old
            np.testing.assert_allclose(recorder.grads[name][index], numeric[index], rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("arch", ARCHS)
def test_a_training_run_taken_a_few_steps_at_a_time_makes_exactly_train_s_steps(arch):
    images, labels = synthetic_digits(420)
    config = TrainConfig(epochs=2, batch_size=50, learning_rate=0.005, seed=3, augment=True)
    expected = init_model(arch, seed=3)
    history = train(expected, images, labels, config)
    model = init_model(arch, seed=3)
    run = TrainingRun(model, images, labels, config)
    calls = []
    while not run.done:
        calls.append(run.advance(3))
    assert run.step == run.total_steps == 2 * 8           # 399 training images in batches of 50
    assert [c["epoch_end"] for c in calls].count(True) == 2  # a call never runs past an epoch's end
    assert all(len(c["losses"]) <= 3 for c in calls) and calls[-1]["done"]
    for name, value in expected.params.items():
        np.testing.assert_array_equal(model.params[name], value, err_msg=name)
    assert run.validate().accuracy == history[-1].val_accuracy


# ---------------------------------------------------------------- fine-tuning on corrections


@pytest.mark.parametrize("arch", ARCHS)
def test_a_misread_drawing_is_read_right_after_its_correction_and_so_is_another_of_its_style(arch, replay):
    model = load_model(SHIPPED_MODELS[arch])
    misread = misread_styles(model)
    assert misread, f"{arch} reads every style of tests/handwriting.py right: add a style it misreads"
    digit, strokes = misread[0]
    first, second = drawings(strokes, (0, 1))  # both misread
    finetuner = Finetuner(model, *replay)
    learned = finetuner.learn(first[None], np.array([digit]))
    assert learned["digit"] == digit and learned["probability"] >= finetuner.config.target_probability
    assert learned["steps"] <= finetuner.config.max_steps
    assert finetuner.consolidate() == 0
    assert model.predict(np.stack([first, second])).tolist() == [digit] * 2


@pytest.mark.parametrize("arch", ARCHS)
def test_twenty_corrections_cost_at_most_0_3_points_of_mnist_test_accuracy(arch, replay, mnist_test):
    model = load_model(SHIPPED_MODELS[arch])
    before = evaluate(model, *mnist_test).accuracy
    images, labels = twenty_corrections()
    finetuner = Finetuner(model, *replay)
    for k in range(1, len(labels) + 1):
        assert finetuner.learn(images[:k], labels[:k])["digit"] == labels[k - 1]
        finetuner.consolidate()
    after = evaluate(model, *mnist_test).accuracy
    assert after >= before - MAX_TEST_ACCURACY_DROP, f"{arch}: {100 * before:.2f} -> {100 * after:.2f}"
    assert (model.predict(images) == labels).mean() >= 0.95  # the earlier corrections are not forgotten


@pytest.mark.parametrize("arch", ARCHS)
def test_five_corrections_of_a_7_drawn_like_a_z_teach_it_and_cost_at_most_0_5_points_held_out(arch, replay,
                                                                                             held_out):
    digit, strokes, resembled = RESEMBLING["7 like a Z"]
    # The person's other digits, but their 2, drawn as a Z too: five Z-like 7s take some of those along.
    others = [d for d in STYLES if d not in (digit, resembled)]
    other_images = np.concatenate([drawings(d, range(100, 105)) for d in others])
    other_labels = np.repeat(others, 5)
    unseen = drawings(strokes, range(100, 120))
    model = load_model(SHIPPED_MODELS[arch])
    before = evaluate(model, *held_out).accuracy
    others_before = (model.predict(other_images) == other_labels).sum()
    assert (model.predict(unseen) == digit).mean() <= 0.5  # a style the shipped model mostly misreads

    images, labels = drawings(strokes, range(5)), np.full(5, digit)
    finetuner = Finetuner(model, *replay)
    for k in range(1, len(labels) + 1):
        assert finetuner.learn(images[:k], labels[:k])["digit"] == digit
        finetuner.consolidate()
    after = evaluate(model, *held_out).accuracy
    assert after >= before - MAX_HELD_OUT_DROP, f"{arch}: {100 * before:.2f} -> {100 * after:.2f}"
    assert (model.predict(unseen) == digit).mean() >= 0.9
    assert (model.predict(other_images) == other_labels).sum() >= others_before


# ---------------------------------------------------------------- the page's Python (mnist_core.browser.App)


@pytest.fixture
def app(replay, mnist_test):
    app = App()
    app.test_set.images, app.test_set.labels = mnist_test
    app.learning.replay_images, app.learning.replay_labels = replay
    for arch in ARCHS:
        app.load_shipped_model(arch, SHIPPED_MODELS[arch].read_bytes())
    app.select_model("mnist-fc")
    return app


def test_a_correction_is_learned_kept_saved_in_the_model_file_and_forgotten(app):
    shipped = {name: value.copy() for name, value in app.models.get("mnist-fc").params.items()}
    digit, strokes = misread_styles(app.models.get("mnist-fc"))[0]
    image = drawings(strokes, (0,))[0]
    result = app.correct(image.tobytes(), digit)
    assert result["digit"] == digit and result["count"] == 1 and result["learned"] == 1
    assert app.consolidate(100)["left"] == 0
    saved = app.model_file()
    assert saved["file_name"] == "mnist-fc-1-corrections.gguf" and saved["corrections"] == 1
    reloaded = load_model(saved["bytes"])
    assert reloaded.metadata[KEY_CORRECTIONS] == 1
    shipped_command = load_model(SHIPPED_MODELS["mnist-fc"]).metadata[KEY_TRAINING_COMMAND]
    assert reloaded.metadata[KEY_TRAINING_COMMAND] == shipped_command
    assert reloaded.predict(image[None])[0] == digit
    forgotten = app.forget_corrections()
    assert forgotten["reset"] == ["mnist-fc"] and app.learning.count == 0
    for name, value in shipped.items():
        np.testing.assert_array_equal(app.models.get("mnist-fc").params[name], value)
    assert KEY_CORRECTIONS not in app.models.get("mnist-fc").metadata


def test_test_images_are_never_trained_on(app):
    with pytest.raises(ValueError, match="MNIST test image 7"):
        app.correct(app.test_set.images[7].tobytes(), int(app.test_set.labels[7]))
    assert app.learning.count == 0


def test_corrections_and_a_learned_model_come_back_after_a_reload(app):
    digit, strokes = misread_styles(app.models.get("mnist-fc"))[0]
    image = drawings(strokes, (0,))[0]
    app.correct(image.tobytes(), digit)
    app.consolidate(100)
    kept = [{"name": "mnist-fc", "bytes": app.model_file()["bytes"]}]
    fresh = App()   # a reload: the page loads the shipped model, then puts back what it kept
    fresh.load_shipped_model("mnist-fc", SHIPPED_MODELS["mnist-fc"].read_bytes())
    restored = fresh.restore_kept(image.tobytes(), bytes([digit]), learned=kept)
    assert restored["count"] == 1 and restored["refused"] == []
    assert [(m["name"], m["learned"]) for m in restored["restored"]] == [("mnist-fc", True)]
    assert prediction(fresh.models.current(), image)["digit"] == digit
    assert fresh.forget_corrections()["reset"] == ["mnist-fc"]
    assert prediction(fresh.models.current(), image)["digit"] != digit  # back to the shipped weights
    # Kept for a model not loaded yet (here the CNN): forgetting takes it out, to be loaded afresh.
    other = App()
    other.load_shipped_model("mnist-fc", SHIPPED_MODELS["mnist-fc"].read_bytes())
    other.restore_kept(b"", b"", learned=[{"name": "mnist-cnn", "bytes": SHIPPED_MODELS["mnist-cnn"].read_bytes()}])
    assert other.has_model("mnist-cnn") and other.models.selected == "mnist-fc"
    forgotten = other.forget_corrections()
    assert forgotten["unloaded"] == ["mnist-cnn"] and forgotten["removed"] == [] and not other.has_model("mnist-cnn")


def test_training_in_the_page_adds_a_model_whose_file_holds_the_command(app, mnist_train):
    app.training.images, app.training.labels = mnist_train
    info = app.start_training("mnist-fc", epochs=1, limit=1000, seed=2)
    assert info == {"arch": "mnist-fc", "epochs": 1, "steps": 10, "steps_per_epoch": 10, "images": 950,
                    "validation": 50}
    with pytest.raises(ValueError, match="already going"):
        app.start_training("mnist-cnn", epochs=1)
    progress = [app.training_step(1) for _ in range(10)]
    assert progress[-1]["done"] and progress[-1]["step"] == 10
    assert sum("val_accuracy" in p for p in progress) >= 2 and "val_accuracy" in progress[-1]
    model = app.finish_training()
    assert model["name"] == "mnist-fc trained in page" and app.models.selected == model["name"] and model["step"] == 10
    assert model["command"] == ("python -m mnist_core.train mnist-fc mnist-fc-trained-in-page.gguf "
                                "--epochs 1 --batch-size 100 --lr 0.002 --seed 2 --limit 1000")
    assert load_model(app.model_file()["bytes"]).metadata["mnist_core.training.steps_done"] == 10


def test_the_command_a_model_trained_in_the_page_carries_makes_the_same_model(app, mnist_train, tmp_path):
    app.training.images, app.training.labels = mnist_train
    app.start_training("mnist-fc", epochs=1, limit=600, seed=5)
    while not app.training_step(4)["done"]:
        pass
    command = app.finish_training()["command"].split()
    assert command[:3] == ["python", "-m", "mnist_core.train"]
    out = tmp_path / command[4]
    subprocess.run([sys.executable, *command[1:4], str(out), *command[5:]], cwd=tmp_path, check=True,
                   capture_output=True, timeout=600)
    trained = app.models.get("mnist-fc trained in page")
    for name, value in load_model(out).params.items():
        np.testing.assert_array_equal(trained.params[name], value, err_msg=name)


def test_training_the_selected_model_further_starts_from_a_copy_of_it_at_a_tenth_of_the_rate(app, mnist_train):
    app.training.images, app.training.labels = mnist_train
    app.select_model("mnist-cnn")
    shipped = app.models.get("mnist-cnn").params["dense.weight"].copy()
    info = app.start_training("mnist-fc", epochs=1, continue_selected=True, limit=300)
    assert info["arch"] == "mnist-cnn" and info["steps"] == 3
    app.training_step(2)
    model = app.finish_training()  # stopped early: the model as far as it got
    assert model["step"] == 2 and model["steps"] == 3 and "--lr 0.0005" in model["command"]
    np.testing.assert_array_equal(app.models.get("mnist-cnn").params["dense.weight"], shipped)
    trained = app.models.get(model["name"]).params["dense.weight"]
    assert 0 < np.abs(trained - shipped).max() < 0.01
    assert app.models.get(model["name"]).metadata["mnist_core.training.started_from"] == "mnist-cnn"


# ---------------------------------------------------------------- the same in Pyodide, under Node

PYODIDE_SCRIPT = """
import numpy as np
from mnist_core.browser import App
from mnist_core.layers import products
from mnist_core.models import init_model
from mnist_core.training import TrainConfig
from mnist_core.training.run import TrainingRun

app = App()
app.load_shipped_model("mnist-fc", open("/site/models/mnist-fc-f32.gguf", "rb").read())
app.load_replay_set(open("/site/data/replay-images-idx3-ubyte", "rb").read(),
                    open("/site/data/replay-labels-idx1-ubyte", "rb").read())
images, labels = np.load("/out/corrections.npy"), np.load("/out/labels.npy")
digits = []
for image, label in zip(images, labels):
    digits.append(app.correct(image.tobytes(), int(label))["digit"])
    app.consolidate(100)
np.save("/out/probabilities.npy", app.models.get("mnist-fc").predict_proba(images))
run = TrainingRun(init_model("mnist-cnn", seed=1), app.learning.replay_images[:600], app.learning.replay_labels[:600],
                  TrainConfig(epochs=1, batch_size=100, learning_rate=0.005, seed=1))
losses = run.advance(4)["losses"]
{"digits": digits, "losses": losses, "matmul": products.matmul.__name__}
"""


@pytest.mark.browser
@skip_unless_available(node_missing_reason())
def test_pyodide_fine_tunes_and_trains_as_native_numpy_does(replay, tmp_path):
    site = build_site()
    images = np.concatenate([drawings(digit, (0,)) for digit in (9, 0, 4)])
    labels = np.array([9, 0, 4], dtype=np.uint8)
    np.save(tmp_path / "corrections.npy", images)
    np.save(tmp_path / "labels.npy", labels)
    result = run_in_pyodide(site, PYODIDE_SCRIPT, tmp_path)
    assert result["matmul"] == "_einsum_matmul"

    app = App()
    app.load_shipped_model("mnist-fc", site_model_path("mnist-fc", site).read_bytes())
    app.learning.replay_images, app.learning.replay_labels = replay
    digits = []
    for image, label in zip(images, labels, strict=True):
        digits.append(app.correct(image.tobytes(), int(label))["digit"])
        app.consolidate(100)
    assert result["digits"] == digits == labels.tolist()
    # einsum and BLAS sum in different orders; AdamW's steps keep the difference small
    native = app.models.get("mnist-fc").predict_proba(images)
    np.testing.assert_allclose(np.load(tmp_path / "probabilities.npy"), native, atol=2e-3)
    run = TrainingRun(init_model("mnist-cnn", seed=1), replay[0][:600], replay[1][:600],
                      TrainConfig(epochs=1, batch_size=100, learning_rate=0.005, seed=1))
    np.testing.assert_allclose(result["losses"], run.advance(4)["losses"], rtol=1e-3)
