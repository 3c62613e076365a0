"""The page in Chromium evaluates the whole test set as the CLI does, opens the user's GGUF files, and works offline.

The site is built by build_wasm.py and served from web/ (or a copy) by a stdlib HTTP server on
localhost (the site, origin and browser fixtures are in conftest.py). Every expected figure comes
from `python -m mnist_core.eval` run on the same model file and test set, never from a number
written here. test-artifacts/page-evaluation.png is a screenshot for people to look at
(docs/page.png, in the README, is a copy of it).
"""

import re
import shutil
import time

import numpy as np
import pytest

from conftest import SHIPPED_MODELS, skip_unless_available
from mnist_core.formats.gguf_constants import KEY_TRAINING_COMMAND
from mnist_core.models import load_model
from page_cases import bad_model_files, cli_figures, ggml_style_cnn, gguf_package_fc
from sitebuild.offline import write_offline_manifest
from web_support import (
    ARCHS,
    ARTIFACTS_DIR,
    chromium_missing_reason,
    serve,
    site_model_path,
    site_test_set,
    wait_until_ready,
)

pytestmark = [pytest.mark.browser, skip_unless_available(chromium_missing_reason())]

EVALUATION_TIMEOUT_MS = 180_000  # 10,000 images take seconds; a busy machine makes that many more
SCREENSHOT_MAX_BYTES = 200_000


def open_page(browser, origin):
    """A fresh context (no service worker, no cache) with the page loaded and ready; page errors are collected."""
    context = browser.new_context()
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(f"{origin}/index.html")
    wait_until_ready(page)
    return page


@pytest.fixture(scope="module")
def page(browser, origin):
    page = open_page(browser, origin)
    yield page
    assert page.errors == []
    page.context.close()


@pytest.fixture(scope="module")
def test_files(site):
    return site / "data" / "t10k-images-idx3-ubyte", site / "data" / "t10k-labels-idx1-ubyte"


def select_model(page, name):
    if page.get_attribute("#app", "data-model") != name:
        page.select_option("#model", name)
        page.wait_for_selector(f'#app[data-model="{name}"]')


def evaluate(page):
    """Click #evaluate and wait for the result; returns #eval-result's data attributes."""
    page.click("#evaluate")
    assert page.get_attribute("#eval-result", "data-accuracy") is None  # the previous result went at once
    page.wait_for_selector(f'#eval-result[data-model="{page.get_attribute("#app", "data-model")}"][data-accuracy]',
                           state="attached", timeout=EVALUATION_TIMEOUT_MS)
    return page.evaluate("({...document.querySelector('#eval-result').dataset})")


def shown_sample(page, click, until="last.index !== undefined"):
    """Click `click` (a selector); return the test image the page then shows: {index, label, digit, probabilities}.

    `until` (JavaScript about `last`, the result shown) tells the answer to this click from a late one to
    an earlier request (the page predicts a shown test image again when, say, the model changes)."""
    page.evaluate("window.mnistCore.last = null")
    page.click(click)
    page.wait_for_function(f"(last => last !== null && {until})(window.mnistCore.last)")
    return page.evaluate("(({index, label, digit, probabilities}) => ({index, label, digit, probabilities}))"
                         "(window.mnistCore.last)")


def open_model_file(page, path):
    """Open `path` through the #model-file input; wait until the page has dealt with it."""
    opened = int(page.get_attribute("#app", "data-files-opened") or 0)
    page.set_input_files("#model-file", str(path))
    page.wait_for_selector(f'#app[data-files-opened="{opened + 1}"]', state="attached", timeout=60_000)


# --- evaluation -------------------------------------------------------------------------------------------

WATCH_THE_PAGE = """() => {
    // While the evaluation runs, count what the page's own thread handles (animation frames, key presses)
    // and every value the progress bar took. Counted, not timed: bench/bench_web.py times the frames.
    const running = () => !document.querySelector('#eval-result').dataset.accuracy;
    const watch = window.watch = {frames: 0, keys: 0, progress: new Set()};
    const frame = () => {
        if (!running()) return;
        watch.frames++;
        watch.progress.add(document.querySelector('#eval-progress').value);
        requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    addEventListener('keydown', () => { if (running()) watch.keys++; });
}"""
KEY_PRESSES = 5


@pytest.mark.parametrize("arch", ARCHS)
def test_full_evaluation_of_each_model_equals_the_cli_and_the_page_stays_responsive(page, site, test_files, arch):
    select_model(page, arch)
    page.click("#clear")
    expected = cli_figures(site_model_path(arch, site), *test_files)
    page.evaluate(WATCH_THE_PAGE)
    page.click("#evaluate")
    # While the worker evaluates, the page answers the keyboard, and a stroke drawn is on the canvas at once.
    for _ in range(KEY_PRESSES):
        page.keyboard.press("Shift")
    page.locator("#canvas").scroll_into_view_if_needed()
    box = page.locator("#canvas").bounding_box()
    scale = box["height"] / 364  # page pixels per canvas pixel: a line through canvas pixel (182, 200)
    page.mouse.move(box["x"] + 180 * scale, box["y"] + 60 * scale)
    page.mouse.down()
    page.mouse.move(box["x"] + 182 * scale, box["y"] + 300 * scale, steps=6)
    page.mouse.up()
    ink_while_running = page.evaluate("""() => {
        const c = document.querySelector('#canvas'), pixels = c.getContext('2d').getImageData(182, 200, 1, 1).data;
        return {ink: pixels[0] < 128, running: !document.querySelector('#eval-progress').hidden};
    }""")
    page.wait_for_selector(f'#eval-result[data-model="{arch}"][data-accuracy]', state="attached",
                           timeout=EVALUATION_TIMEOUT_MS)
    result = page.evaluate("({...document.querySelector('#eval-result').dataset})")
    assert result["accuracy"] == expected["accuracy"] and result["loss"] == expected["loss"]
    assert result["images"] == "10000"
    text = page.text_content("#eval-result")
    assert f"main: test_acc={expected['accuracy']}+-{expected['accuracy_uncertainty']}%" in text
    assert f"main: test_loss={expected['loss']}+-{expected['loss_uncertainty']}" in text
    assert ink_while_running == {"ink": True, "running": True}
    watch = page.evaluate("({...window.watch, progress: [...window.watch.progress]})")
    # The page's thread went on drawing frames and handling keys while the worker evaluated: every key
    # pressed was handled before the evaluation ended, and frames saw the progress bar at two values or more
    # between empty and full.
    assert watch["keys"] == KEY_PRESSES, watch
    assert len([value for value in watch["progress"] if 0 < value < 1]) >= 2, watch
    assert page.is_hidden("#eval-progress")
    cells = page.eval_on_selector_all("#confusion tbody tr",
                                      "rows => rows.map(r => [...r.querySelectorAll('td')].map(c => +c.textContent))")
    assert len(cells) == 10 and sum(map(sum, cells)) == 10_000
    assert f"{sum(cells[d][d] for d in range(10)) / 100:.2f}" == expected["accuracy"]


def test_clicking_a_confusion_cell_or_a_misclassified_image_shows_that_test_image(page, site):
    select_model(page, "mnist-cnn")
    evaluate(page)
    images, labels = site_test_set(site)
    predictions = load_model(site_model_path("mnist-cnn", site)).predict(images)
    cell = page.locator("#confusion td button").evaluate_all(
        "buttons => buttons.filter(b => b.dataset.label !== b.dataset.predicted && +b.textContent >= 2)"
        ".map(b => [+b.dataset.label, +b.dataset.predicted])")[0]
    selector = f'#confusion button[data-label="{cell[0]}"][data-predicted="{cell[1]}"]'
    first, second = (shown_sample(page, selector, until="last.cell !== undefined") for _ in range(2))
    for sample in (first, second):
        assert sample["label"] == labels[sample["index"]] == cell[0]
        assert sample["digit"] == predictions[sample["index"]] == cell[1]
        assert page.get_attribute("#sample", "data-label") == str(cell[0])
    assert first["index"] != second["index"]
    assert page.get_attribute("#prediction", "data-digit") == str(cell[1])
    thumb = page.locator("#gallery .thumb").nth(3)
    index = int(thumb.get_attribute("data-index"))
    shown_sample(page, f'#gallery .thumb[data-index="{index}"]', until=f"last.index === {index}")
    assert page.get_attribute("#sample", "data-index") == str(index)
    assert predictions[index] != labels[index]


def test_screenshot_of_an_evaluation_for_people_to_look_at(page):
    if not page.get_attribute("#eval-result", "data-accuracy"):
        evaluate(page)
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    path = ARTIFACTS_DIR / "page-evaluation.png"
    page.set_viewport_size({"width": 1000, "height": 720})
    # From the top down to the end of the evaluation: what the README shows. The "inside the model" view in
    # between has a picture of its own (docs/inside.png, from test_web_inside.py): hidden for this one.
    page.evaluate("document.querySelector('#inside').hidden = true")
    bottom = page.evaluate("(() => { const box = document.querySelector('.evaluation').getBoundingClientRect();"
                           " return box.bottom + scrollY + 16; })()")
    page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": 1000, "height": bottom})
    page.evaluate("document.querySelector('#inside').hidden = false")
    assert 20_000 < path.stat().st_size < SCREENSHOT_MAX_BYTES


# --- model files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ggml's writer", "gguf package"])
def test_a_ggml_or_gguf_package_file_loads_through_the_file_input_and_evaluates_as_the_cli(page, site, test_files,
                                                                                          tmp_path, kind):
    if kind == "ggml's writer":
        path, arch = tmp_path / "ggml-cnn.gguf", "mnist-cnn"
        path.write_bytes(ggml_style_cnn(site_model_path(arch, site)))
    else:
        path, arch = tmp_path / "gguf-fc.gguf", "mnist-fc"
        gguf_package_fc(site_model_path(arch, site), path)
    open_model_file(page, path)
    assert page.get_attribute("#app", "data-model") == path.name
    assert page.is_hidden("#error")
    option = page.locator(f'#model option[value="{path.name}"]')
    parameters = sum(p.size for p in load_model(path).params.values())
    assert option.text_content() == f"{path.name} ({arch}, {parameters:,} parameters)"
    assert page.evaluate("document.querySelector('#model').value") == path.name
    expected = cli_figures(path, *test_files)
    result = evaluate(page)
    assert (result["accuracy"], result["loss"]) == (expected["accuracy"], expected["loss"])
    sample = shown_sample(page, "#random")
    images, _ = site_test_set(site)
    native = load_model(path).predict_proba(images[sample["index"]:sample["index"] + 1])[0]
    np.testing.assert_allclose(sample["probabilities"], native, rtol=0, atol=1e-5)


DROP = """([name, bytes]) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(bytes)], name));
    for (const type of ['dragenter', 'dragover', 'drop']) {
        document.body.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }
}"""


def test_a_model_file_dropped_on_the_page_opens_like_a_picked_one(page, site):
    opened = int(page.get_attribute("#app", "data-files-opened") or 0)
    page.evaluate(DROP, ["dropped-cnn.gguf", list(site_model_path("mnist-cnn", site).read_bytes())])
    page.wait_for_selector(f'#app[data-files-opened="{opened + 1}"]', state="attached")
    assert page.get_attribute("#app", "data-model") == "dropped-cnn.gguf"
    assert page.get_attribute("#app", "data-drop") is None
    option = page.locator('#model option[value="dropped-cnn.gguf"]')
    assert option.text_content() == "dropped-cnn.gguf (mnist-cnn, 9,098 parameters)"
    command = load_model(site_model_path("mnist-cnn", site)).metadata.get(KEY_TRAINING_COMMAND)
    assert option.get_attribute("title") == (f"trained with: {command}" if command else "")


@pytest.mark.parametrize("case", bad_model_files(SHIPPED_MODELS["mnist-fc"]), ids=lambda case: case[0])
def test_each_kind_of_bad_file_shows_error_and_the_previous_model_keeps_predicting(page, site, tmp_path, case):
    _, name, data, fragment = case
    select_model(page, "mnist-cnn")
    options = page.locator("#model option").count()
    path = tmp_path / name
    path.write_bytes(data)
    open_model_file(page, path)
    error = page.locator("#error")
    assert error.is_visible() and error.get_attribute("role") == "alert"
    assert error.text_content().startswith(f"{name}: ") and fragment in error.text_content()
    assert page.get_attribute("#app", "data-model") == "mnist-cnn"
    assert page.locator("#model option").count() == options
    sample = shown_sample(page, "#random")
    images, _ = site_test_set(site)
    native = load_model(site_model_path("mnist-cnn", site)).predict_proba(images[sample["index"]:sample["index"] + 1])
    np.testing.assert_allclose(sample["probabilities"], native[0], rtol=0, atol=1e-5)


# --- offline ----------------------------------------------------------------------------------------------


def wait_until_offline_ready(page):
    page.wait_for_selector('#app[data-offline="ready"]', state="attached", timeout=120_000)


def test_the_page_reloads_and_predicts_with_the_network_off(browser, origin, site):
    page = open_page(browser, origin)
    try:
        wait_until_offline_ready(page)
        page.context.set_offline(True)
        page.reload()
        wait_until_ready(page)
        sample = shown_sample(page, "#random")
        images, _ = site_test_set(site)
        index = sample["index"]
        native = load_model(site_model_path("mnist-fc", site)).predict_proba(images[index:index + 1])[0]
        np.testing.assert_allclose(sample["probabilities"], native, rtol=0, atol=1e-5)
        assert page.errors == []
    finally:
        page.context.close()


def test_online_the_service_worker_answers_from_its_cache_not_the_network(browser, site, tmp_path):
    """Cache first, not network first: a file changed on the server after the build was cached (and not a new
    build: its list is the same) is not what a reload gets; the build's own copy is."""
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    with serve(copy) as origin:
        page = open_page(browser, origin)
        try:
            wait_until_offline_ready(page)
            retitle(copy, "changed on the server")
            page.reload()
            wait_until_ready(page)
            assert page.text_content("h1") == "Draw a digit, or a number"
            assert page.errors == []
        finally:
            page.context.close()


def retitle(site_dir, words):
    """The served page's title with `words` after it, as another build or a file changed on the server has it."""
    index = site_dir / "index.html"
    index.write_text(re.sub(r"<h1>Draw a digit, or a number[^<]*</h1>", f"<h1>Draw a digit, or a number ({words})</h1>",
                            index.read_text()))


def cache_names(page):
    return sorted(page.evaluate("caches.keys()"))


def test_a_new_build_replaces_the_old_cache_instead_of_mixing_with_it(browser, site, tmp_path):
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    first = write_offline_manifest(copy)
    with serve(copy) as origin:
        page = open_page(browser, origin)
        try:
            wait_until_offline_ready(page)
            assert cache_names(page) == [f"mnist-core-{first['id']}"]
            # A new build: one file changed.
            retitle(copy, "build 2")
            second = write_offline_manifest(copy)
            assert second["id"] != first["id"]
            page.reload()  # the browser checks sw.js and what it imports, finds a new build and installs it
            wait_until_ready(page)
            deadline = time.monotonic() + 120
            while cache_names(page) != [f"mnist-core-{second['id']}"] and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            assert cache_names(page) == [f"mnist-core-{second['id']}"]
            page.context.set_offline(True)
            page.reload()
            wait_until_ready(page)
            assert page.text_content("h1") == "Draw a digit, or a number (build 2)"
            assert page.errors == []
        finally:
            page.context.close()


# What the page's active service worker does with a new build: asked to look for one (as a reload does), it
# installs it; the state the installing worker ends in ("activated", or "redundant" when its install failed).
UPDATE_THE_SERVICE_WORKER = """async () => {
    const registration = await navigator.serviceWorker.getRegistration();
    const found = new Promise((resolve) => registration.addEventListener(
        'updatefound', () => resolve(registration.installing), {once: true}));
    registration.update().catch(() => {});
    const worker = await found;
    return await new Promise((resolve) => {
        const settle = () => { if (['activated', 'redundant'].includes(worker.state)) resolve(worker.state); };
        worker.addEventListener('statechange', settle);
        settle();
    });
}"""


def test_a_build_whose_file_differs_from_its_list_is_refused_and_the_previous_build_stays_in_use(browser, site,
                                                                                               tmp_path):
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    first = write_offline_manifest(copy)
    with serve(copy) as origin:
        page = open_page(browser, origin)
        try:
            wait_until_offline_ready(page)
            assert cache_names(page) == [f"mnist-core-{first['id']}"]
            # A new build whose list (sw-build.js) says one thing and whose server serves another: index.html
            # changed after the list was written, as a half-copied deployment or a tampered file would be.
            retitle(copy, "build 2")
            second = write_offline_manifest(copy)
            retitle(copy, "not build 2")
            assert second["id"] != first["id"]
            assert page.evaluate(UPDATE_THE_SERVICE_WORKER) == "redundant"  # its install failed on the sha256
            assert cache_names(page) == [f"mnist-core-{first['id']}"]  # and left nothing of its own behind
            # The previous build stays in use, offline too.
            page.context.set_offline(True)
            page.reload()
            wait_until_ready(page)
            assert page.text_content("h1") == "Draw a digit, or a number"
            sample = shown_sample(page, "#random")
            images, _ = site_test_set(copy)
            native = load_model(site_model_path("mnist-fc", copy)).predict_proba(images[sample["index"]:][:1])[0]
            np.testing.assert_allclose(sample["probabilities"], native, rtol=0, atol=1e-5)
            assert page.errors == []
        finally:
            page.context.close()
