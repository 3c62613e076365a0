"""The page learns, in Debian's Chromium driven by Playwright: corrections through #correct, training with charts,
#save-model, and what a reload keeps and what forgetting takes away: each is checked by the weights of the models
(their GGUF bytes, from the page's worker, against the file saved or shipped) and by what IndexedDB holds.

Drawings are one person's handwriting (tests/handwriting.py) drawn with the mouse. The digit the
page misreads is picked at run time with native mnist_core on the site's own model, so the tests
hold for whichever models are shipped. Each test has a browser context of its own (its own
IndexedDB). Timings are written to test-artifacts/web-learn.json for people to look at.
"""

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import skip_unless_available
from handwriting import STYLES, misread_styles, variant
from mnist_core.browser import App
from mnist_core.formats.gguf_constants import KEY_CORRECTIONS, KEY_TRAINING_COMMAND
from mnist_core.models import load_model
from test_web_page import canvas_rgba, last_result
from web_support import (
    ARTIFACTS_DIR,
    PageSession,
    chromium_missing_reason,
    draw_strokes,
    kept_in_browser,
    page_model_file,
    select_model,
    site_model_path,
    site_test_set,
    weights_differing,
)

pytestmark = [pytest.mark.browser, skip_unless_available(chromium_missing_reason())]

MAX_ACCURACY_DROP = 0.3       # percentage points, after 20 corrections (the bound)
GGML_CHECK = Path(__file__).resolve().parent.parent / "tools" / "ggml_check" / "check_with_ggml.py"


def record(name, value):
    """Keep a measurement in test-artifacts/web-learn.json (the file collects them across tests and runs)."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    path = ARTIFACTS_DIR / "web-learn.json"
    kept = json.loads(path.read_text()) if path.is_file() else {}
    kept[name] = value
    path.write_text(json.dumps(kept, indent=1))


# site, origin and browser: tests/conftest.py


@pytest.fixture
def session(browser, origin):
    session = PageSession(browser, origin)
    wait_ready_to_learn(session.page)
    yield session
    session.close()


def wait_ready_to_learn(page):
    page.wait_for_selector('#app[data-training="ready"], #app[data-state="error"]', timeout=120_000)
    assert page.get_attribute("#app", "data-state") == "ready", page.text_content("#status")


def correct(page, digit):
    """Click #correct's button for `digit`; wait until the page shows the prediction after learning."""
    count = int(page.get_attribute("#learned", "data-count"))
    page.click(f'#correct button[data-digit="{digit}"]')
    page.wait_for_function(f"document.querySelector('#learned').dataset.count === '{count + 1}'", timeout=120_000)
    return {"digit": int(page.get_attribute("#prediction", "data-digit")),
            "ms": float(page.get_attribute("#learned", "data-ms"))}


def wait_settled(page):
    page.wait_for_function("document.querySelector('#learned').dataset.settled === 'true'", timeout=300_000)


def evaluate_in_page(page):
    """#evaluate on the selected model -> its accuracy in percent, as the page shows it (a string like "99.02")."""
    page.click("#evaluate")
    page.wait_for_selector("#eval-result[data-accuracy]", timeout=300_000)
    return page.get_attribute("#eval-result", "data-accuracy")


def save_model(page, directory):
    with page.expect_download() as download_info:
        page.click("#save-model")
    download = download_info.value
    path = Path(directory) / download.suggested_filename
    download.save_as(path)
    return path


def cli_accuracy(model_path, site):
    """`python -m mnist_core.eval MODEL` on the site's test set -> the accuracy it prints ("99.02")."""
    out = subprocess.run([sys.executable, "-m", "mnist_core.eval", str(model_path),
                          str(site / "data" / "t10k-images-idx3-ubyte"), str(site / "data" / "t10k-labels-idx1-ubyte")],
                         capture_output=True, text=True, check=True).stdout
    return re.search(r"^main: test_acc=([\d.]+)\+-", out, re.M)[1]


@pytest.fixture(scope="module")
def misread(site):
    """(architecture, digit, strokes) of a style the site's model misreads in two drawings, preferring mnist-fc."""
    for arch in ("mnist-fc", "mnist-cnn"):
        styles = misread_styles(load_model(site_model_path(arch, site)))
        if styles:
            return arch, *styles[0]
    pytest.fail("the site's models read every style of tests/handwriting.py right: add a style they misread")


# ---------------------------------------------------------------------------------------------------------


def test_a_misread_drawing_corrected_through_correct_is_read_right_and_so_is_another_of_its_style(session, misread):
    page = session.page
    arch, digit, strokes = misread
    if page.get_attribute("#app", "data-model") != arch:
        select_model(page, arch)
    assert draw_strokes(page, strokes) != digit
    buttons = page.locator("#correct button")
    assert buttons.count() == 10
    assert [buttons.nth(i).get_attribute("data-digit") for i in range(10)] == [str(d) for d in range(10)]
    page.focus(f'#correct button[data-digit="{digit}"]')  # keyboard-reachable: Enter on the focused button
    count = int(page.get_attribute("#learned", "data-count"))
    started = time.perf_counter()
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.querySelector('#learned').dataset.count === '{count + 1}'", timeout=120_000)
    seconds = time.perf_counter() - started
    assert int(page.get_attribute("#prediction", "data-digit")) == digit
    record(f"{arch}: correction to corrected prediction, page and test clocks (ms)",
           [float(page.get_attribute("#learned", "data-ms")), 1000 * seconds])
    assert draw_strokes(page, variant(strokes, 1)) == digit
    assert session.errors == []


def test_twenty_corrections_keep_the_in_page_evaluation_within_0_3_points_and_a_reload_keeps_them(
        session, misread, site, tmp_path):
    page = session.page
    arch = misread[0]
    if page.get_attribute("#app", "data-model") != arch:
        select_model(page, arch)
    before = float(evaluate_in_page(page))
    corrections = [(digit, seed) for seed in (0, 1) for digit in STYLES]
    timings = []
    for digit, seed in corrections:
        draw_strokes(page, variant(STYLES[digit], seed) if seed else STYLES[digit])
        result = correct(page, digit)
        assert result["digit"] == digit
        timings.append(result["ms"])
    wait_settled(page)
    record(f"{arch}: correction to corrected prediction over 20 (ms, median / max)",
           [float(np.median(timings)), max(timings)])
    after = evaluate_in_page(page)
    record(f"{arch}: test accuracy before / after 20 corrections (%)", [before, float(after)])
    assert float(after) >= before - MAX_ACCURACY_DROP

    saved = save_model(page, tmp_path)
    assert saved.name == f"{arch}-20-corrections.gguf"
    model = load_model(saved)
    assert model.metadata[KEY_CORRECTIONS] == 20
    assert model.metadata[KEY_TRAINING_COMMAND].startswith("python -m mnist_core.train")
    assert cli_accuracy(saved, site) == after

    page.wait_for_function("document.querySelector('#learned').dataset.kept === '20'")  # in IndexedDB
    assert kept_in_browser(page) == {"corrections": 20, "learned": [arch], "trained": []}
    page.reload()
    wait_ready_to_learn(page)
    assert page.get_attribute("#learned", "data-count") == "20"
    # The fine-tuned model came back with the weights it was saved with, and predicts as that file does.
    assert weights_differing(page_model_file(page, arch), saved) == []
    if page.get_attribute("#app", "data-model") != arch:
        select_model(page, arch)
    draw_strokes(page, STYLES[0])
    assert_predicts_as(page, saved)

    page.click("#reset-learning")
    page.wait_for_function("document.querySelector('#learned').dataset.count === '0'")
    shipped = site_model_path(arch, site)
    assert weights_differing(page_model_file(page, arch), shipped) == []
    assert kept_in_browser(page) == {"corrections": 0, "learned": [], "trained": []}
    draw_strokes(page, STYLES[0])
    assert_predicts_as(page, shipped)
    # A reload brings back none of it: no correction, the shipped weights.
    page.reload()
    wait_ready_to_learn(page)
    assert page.get_attribute("#learned", "data-count") == "0"
    assert page.get_attribute("#app", "data-restored") == "0"
    assert weights_differing(page_model_file(page, arch), shipped) == []
    assert kept_in_browser(page) == {"corrections": 0, "learned": [], "trained": []}
    assert session.errors == []


def assert_predicts_as(page, model_path):
    """The page's last prediction is what native mnist_core with the model file reads in the canvas."""
    app = App()
    app.load_shipped_model(load_model(model_path).arch, Path(model_path).read_bytes())
    expected = app.predict_canvas(*canvas_rgba(page))["probabilities"]
    np.testing.assert_allclose(last_result(page)["probabilities"], expected, atol=1e-4)


REFUSED_CORRECTION = """async ([pixels, label]) => {
    try {
        await window.mnistCore.call('correct', {image28_bytes: new Uint8Array(pixels), label});
        return null;
    } catch (error) {
        return error.message;
    }
}"""


def correct_buttons_enabled(page):
    return page.eval_on_selector_all("#correct button", "buttons => buttons.map(b => !b.disabled)")


def test_correct_is_not_offered_for_a_test_image_nor_a_drawing_over_one_and_the_worker_refuses_them(session, site):
    page = session.page
    draw_strokes(page, STYLES[7])
    assert correct_buttons_enabled(page) == [True] * 10
    count = int(page.get_attribute("#prediction", "data-count"))
    page.click("#random")
    page.wait_for_function("n => Number(document.querySelector('#prediction').dataset.count) > n", arg=count)
    assert correct_buttons_enabled(page) == [False] * 10
    assert "never trained on" in page.get_attribute("#correct", "title")
    draw_strokes(page, [[(424, 180), (664, 190)]], clear=False)  # a stroke over the test image
    assert page.get_attribute("#sample", "data-index") is None
    assert correct_buttons_enabled(page) == [False] * 10
    draw_strokes(page, STYLES[7])  # cleared: a drawing of one's own again
    assert correct_buttons_enabled(page) == [True] * 10

    # Asked directly, the worker refuses a test image with one pixel a grey level off (test_image_guard.py).
    images, labels = site_test_set(site)
    image = images[7].copy()
    image[0, 0] = 1
    error = page.evaluate(REFUSED_CORRECTION, [image.reshape(-1).tolist(), int(labels[7])])
    assert error is not None and "MNIST test image 7" in error and "never trained on" in error
    assert page.get_attribute("#learned", "data-count") == "0"
    assert session.errors == []


def training_status(page):
    status = page.locator("#train-status")
    return {key: status.get_attribute(f"data-{key}") for key in ("state", "epoch", "step", "accuracy")}


def test_training_from_scratch_moves_the_charts_pauses_resumes_and_saves_a_file_the_cli_scores_as_the_page(
        session, site, tmp_path):
    page = session.page
    page.select_option("#train-arch", "mnist-fc")
    page.fill("#train-epochs", "2")
    page.select_option("#train-images", "3000")          # 2,850 images, 150 held out: 29 steps an epoch
    page.click("#train")
    page.wait_for_function("Number(document.querySelector('#train-status').dataset.step || 0) >= 8", timeout=300_000)
    first = training_status(page)
    points = int(page.get_attribute("#chart-loss", "data-points"))
    assert first["state"] == "running" and first["epoch"] == "1" and points >= 8
    assert int(page.get_attribute("#chart-accuracy", "data-points")) >= 1

    page.click("#train-pause")
    page.wait_for_function("document.querySelector('#train-status').dataset.state === 'paused'")
    page.wait_for_timeout(400)  # a step in flight when pause was pressed finishes
    paused_at = training_status(page)["step"]
    draw_strokes(page, STYLES[7])  # the page answers while paused
    page.wait_for_timeout(1500)
    assert training_status(page)["step"] == paused_at
    page.click("#train-pause")  # Resume
    page.wait_for_function("document.querySelector('#train-status').dataset.state === 'done'", timeout=600_000)
    last = training_status(page)
    assert last["epoch"] == "2" and last["step"] == "58"
    assert int(page.get_attribute("#chart-loss", "data-points")) == 58 > points
    assert float(last["accuracy"]) > float(first["accuracy"])
    assert page.get_attribute("#app", "data-model") == "mnist-fc trained in page"
    record("mnist-fc: training, 58 steps of 100 with a pause (s)",
           float(page.get_attribute("#train-status", "data-seconds")))

    in_page = evaluate_in_page(page)
    saved = save_model(page, tmp_path)
    assert saved.name == "mnist-fc-trained-in-page.gguf"
    assert load_model(saved).metadata[KEY_TRAINING_COMMAND] == (
        "python -m mnist_core.train mnist-fc mnist-fc-trained-in-page.gguf --epochs 2 "
        "--batch-size 100 --lr 0.002 --limit 3000")
    assert cli_accuracy(saved, site) == in_page

    page.wait_for_function("document.querySelector('#train-status').dataset.kept === 'true'")  # in IndexedDB
    trained = "mnist-fc trained in page"
    assert kept_in_browser(page) == {"corrections": 0, "learned": [], "trained": [trained]}
    page.reload()
    wait_ready_to_learn(page)
    assert trained in model_names(page)
    assert weights_differing(page_model_file(page, trained), saved) == []  # the weights it was saved with
    page.click("#forget-all")
    page.wait_for_function("![...document.querySelectorAll('#model option')].some(o => o.value.includes('trained'))")
    assert page.get_attribute("#app", "data-model") == "mnist-fc"
    assert kept_in_browser(page) == {"corrections": 0, "learned": [], "trained": []}
    # A reload brings back nothing of what was forgotten.
    page.reload()
    wait_ready_to_learn(page)
    assert trained not in model_names(page)
    assert kept_in_browser(page) == {"corrections": 0, "learned": [], "trained": []}
    assert weights_differing(page_model_file(page, "mnist-fc"), site_model_path("mnist-fc", site)) == []
    assert session.errors == []


def model_names(page):
    return page.eval_on_selector_all("#model option", "options => options.map(o => o.value)")


MISSING_BUILD_TOOLS = [tool for tool in ("cmake", "g++") if shutil.which(tool) is None]


@pytest.mark.slow
@skip_unless_available(f"{', '.join(MISSING_BUILD_TOOLS)} not found" if MISSING_BUILD_TOOLS else None)
def test_ggml_loads_the_models_the_page_saves(session, misread, tmp_path):
    page = session.page
    arch, digit, strokes = misread
    if page.get_attribute("#app", "data-model") != arch:
        select_model(page, arch)
    draw_strokes(page, strokes)
    correct(page, digit)
    wait_settled(page)
    fine_tuned = save_model(page, tmp_path)
    page.select_option("#train-arch", "mnist-cnn")
    page.fill("#train-epochs", "1")
    page.select_option("#train-images", "3000")
    page.click("#train")
    page.wait_for_function("Number(document.querySelector('#train-status').dataset.step || 0) >= 5", timeout=300_000)
    page.click("#train-stop")  # the model as far as it got joins the list
    page.wait_for_function("document.querySelector('#train-status').dataset.state === 'stopped'", timeout=60_000)
    assert page.get_attribute("#app", "data-model") == "mnist-cnn trained in page"
    trained = save_model(page, tmp_path)
    command = [sys.executable, str(GGML_CHECK), str(fine_tuned), str(trained), "--min-agreement", "0.999"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for path, model_arch in ((fine_tuned, arch), (trained, "mnist-cnn")):
        assert f"{path}: {model_arch} loaded by ggml" in result.stdout
