"""The web page in Debian's Chromium (Playwright): it loads, predicts as native mnist_core does, stays on its origin.

The site is built by build_wasm.py and served from web/ by a stdlib HTTP server on localhost.
A screenshot is left in test-artifacts/page.png for people to look at.
"""

import base64

import numpy as np
import pytest

from conftest import skip_unless_available
from handwriting import STROKES
from mnist_core.models import load_model
from web_support import (
    ARTIFACTS_DIR,
    PageSession,
    chromium_missing_reason,
    select_model,
    site_model_path,
    wait_until_ready,
)

pytestmark = [pytest.mark.browser, skip_unless_available(chromium_missing_reason())]

TRAINED_ACCURACY = 0.9  # below this on test images, the site's models are placeholders, not trained ones



STROKE_ONE, STROKE_SEVEN = STROKES[1], STROKES[7]


# site, origin, browser, session, page and native: tests/conftest.py


def prediction_count(page):
    return int(page.get_attribute("#prediction", "data-count") or 0)


def wait_for_final_prediction(page, after):
    page.wait_for_function(
        """after => {
             const p = document.querySelector('#prediction');
             return Number(p.dataset.count || 0) > after && p.dataset.state === 'final';
           }""", arg=after)


def draw(page, points, steps=4):
    """Draw one stroke through `points` (canvas pixels) with the mouse."""
    box = page.locator("#canvas").bounding_box()
    scale = box["width"] / page.eval_on_selector("#canvas", "canvas => canvas.width")
    to_page = [(box["x"] + x * scale, box["y"] + y * scale) for x, y in points]
    page.mouse.move(*to_page[0])
    page.mouse.down()
    for x, y in to_page[1:]:
        page.mouse.move(x, y, steps=steps)
        page.wait_for_timeout(40)
    page.mouse.up()


def canvas_rgba(page):
    """The drawing canvas as the worker was given it: (RGBA bytes, width, height), predict_canvas's arguments."""
    encoded, width, height = page.evaluate("""() => {
        const c = document.querySelector('#canvas');
        const bytes = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let text = '';
        for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return [btoa(text), c.width, c.height];
    }""")
    return base64.b64decode(encoded), width, height


def last_result(page):
    return page.evaluate("() => { const r = window.mnistCore.last; return {...r, image28: Array.from(r.image28)}; }")


def models_are_trained(native):
    images, labels = native.test_set.images[:500], native.test_set.labels[:500]
    return all((native.models.get(name).predict(images) == labels).mean() >= TRAINED_ACCURACY
               for name in native.models.names())


# ---------------------------------------------------------------------------------------------------------


def test_random_stays_disabled_until_the_model_is_ready_then_the_page_shows_load_time(browser, origin):
    session = PageSession(browser, origin)
    try:
        page = session.page
        assert page.get_attribute("#app", "data-state") == "loading"
        assert page.is_disabled("#random")
        wait_until_ready(page)
        assert page.is_enabled("#random")
        assert float(page.get_attribute("#app", "data-load-ms")) > 0
        assert "Ready in" in page.text_content("#status")
        assert "loaded in" in page.text_content("#timing")
        assert session.errors == []
    finally:
        session.close()


def test_random_shows_a_test_image_its_label_and_the_native_prediction(page, native):
    for _ in range(3):
        before = prediction_count(page)
        page.click("#random")
        wait_for_final_prediction(page, before)
        index = int(page.get_attribute("#sample", "data-index"))
        label = int(page.get_attribute("#sample", "data-label"))
        assert label == native.test_set.labels[index]
        assert page.text_content("#sample") == f"test image {index}, label {label}"
        expected = native.sample(index)
        assert int(page.get_attribute("#prediction", "data-digit")) == expected["digit"]
        result = last_result(page)
        np.testing.assert_allclose(result["probabilities"], expected["probabilities"], rtol=0, atol=1e-5)
        assert bytes(result["image28"]) == native.test_set.images[index].tobytes()
        assert "ms" in page.text_content("#timing")


def test_prediction_and_its_top_three_are_announced_in_a_live_region(page, native):
    before = prediction_count(page)
    page.click("#random")
    wait_for_final_prediction(page, before)
    live = page.locator("#announce")
    assert live.get_attribute("aria-live") == "polite"
    index = int(page.get_attribute("#sample", "data-index"))
    expected = native.sample(index)
    top = expected["top"]
    text = live.text_content()
    label = int(page.get_attribute("#sample", "data-label"))
    # A test image the model is unsure of (top probability under UNSURE_BELOW) says so first.
    doubt = "" if expected["sure"] else f"Not sure: {top[0][0]} or {top[1][0]}? "
    assert text.startswith(f"Test image {index}, label {label}. {doubt}Prediction: {top[0][0]} (")
    assert f"Next: {top[1][0]} (" in text and f", {top[2][0]} (" in text


def test_bars_show_all_ten_probabilities(page):
    before = prediction_count(page)
    page.click("#random")
    wait_for_final_prediction(page, before)
    bars = page.locator("#bars li")
    assert bars.count() == 10
    widths = page.eval_on_selector_all("#bars .fill", "els => els.map(e => parseFloat(e.style.width))")
    assert abs(sum(widths) - 100) < 1.5
    digit = int(page.get_attribute("#prediction", "data-digit"))
    assert widths[digit] == max(widths)


def test_a_mouse_stroke_predicts_live_and_at_the_end_as_native_mnist_core_does(page, native):
    before = prediction_count(page)
    draw(page, STROKE_ONE, steps=8)
    wait_for_final_prediction(page, before)
    assert prediction_count(page) >= before + 2, "expected live predictions during the stroke and one at its end"
    digit = page.get_attribute("#prediction", "data-digit")
    assert digit != ""
    expected = native.predict_canvas(*canvas_rgba(page))
    result = last_result(page)
    assert int(digit) == expected["digit"]
    assert bytes(result["image28"]) == expected["image28"]
    np.testing.assert_allclose(result["probabilities"], expected["probabilities"], rtol=0, atol=1e-5)
    assert page.get_attribute("#sample", "data-index") is None


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_hand_drawn_digits_are_recognised_a_1_and_a_7_always_and_9_of_10_digits(page, native, arch):
    assert models_are_trained(native), "the site's models score below 90% on test images: not the shipped ones?"
    if page.get_attribute("#app", "data-model") != arch:
        select_model(page, arch)
    predicted = {}
    for digit, stroke in STROKES.items():
        page.click("#clear")
        before = prediction_count(page)
        draw(page, stroke)
        wait_for_final_prediction(page, before)
        predicted[digit] = int(page.get_attribute("#prediction", "data-digit"))
    assert predicted[1] == 1 and predicted[7] == 7, predicted
    assert sum(predicted[d] == d for d in STROKES) >= 9, predicted


def test_touch_drawing_predicts_and_never_scrolls_the_page(browser, origin, native):
    session = PageSession(browser, origin, viewport={"width": 390, "height": 500}, has_touch=True, is_mobile=True)
    try:
        page = session.page
        wait_until_ready(page)
        assert page.evaluate("getComputedStyle(document.querySelector('#canvas')).touchAction") == "none"
        page.locator("#canvas").scroll_into_view_if_needed()
        assert page.evaluate("document.documentElement.scrollHeight > innerHeight"), "the page should be scrollable"
        scroll_before = page.evaluate("scrollY")
        box = page.locator("#canvas").bounding_box()
        cdp = session.context.new_cdp_session(page)
        x = box["x"] + box["width"] / 2
        points = [(x, box["y"] + box["height"] * t) for t in (0.15, 0.3, 0.45, 0.6, 0.75, 0.85)]
        before = prediction_count(page)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": points[0][1]}]})
        for px, py in points[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": px, "y": py}]})
            page.wait_for_timeout(30)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        wait_for_final_prediction(page, before)
        assert page.evaluate("scrollY") == scroll_before
        expected = native.predict_canvas(*canvas_rgba(page))
        assert int(page.get_attribute("#prediction", "data-digit")) == expected["digit"]
        assert session.errors == []
    finally:
        session.close()


# Every control Tab can reach, in document order (what Tab must follow: no tabindex reorders it), named by id
# (a #correct digit button as "correct 3"), and the one focused now.
TABBABLE = """() => [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')]
    .filter((el) => !el.disabled && el.tabIndex >= 0 && el.getClientRects().length > 0
                    && getComputedStyle(el).visibility !== 'hidden')
    .map((el) => el.id || `${el.parentElement.id} ${el.dataset.digit ?? el.textContent.trim()}`)"""
FOCUSED = """() => { const el = document.activeElement;
                   return el.id || `${el.parentElement.id} ${el.dataset.digit ?? el.textContent.trim()}`; }"""
# The page's main controls, in the order a keyboard user meets them: drawing, model and file, teaching,
# evaluation, training.
CONTROLS_IN_ORDER = ["clear", "random", "random-number", "download", "model", "centre", "model-file", "forget-all",
                     "evaluate", "train-arch", "train-epochs", "train-images", "train", "save-model"]


def test_keyboard_alone_reaches_every_control_in_reading_order_and_gets_a_prediction(page):
    expected = page.evaluate(TABBABLE)
    assert [name for name in expected if name in CONTROLS_IN_ORDER] == CONTROLS_IN_ORDER
    page.evaluate("document.activeElement && document.activeElement.blur()")
    for _ in range(len(expected) + 2):  # Tab on from wherever the last click left the starting point, round to the top
        page.keyboard.press("Tab")
        if page.evaluate(FOCUSED) == expected[0]:
            break
    forward = [page.evaluate(FOCUSED)]
    for _ in expected[1:]:
        page.keyboard.press("Tab")
        forward.append(page.evaluate(FOCUSED))
    assert forward == expected  # each control once, in document order
    backward = []
    for _ in expected[:-1]:
        page.keyboard.press("Shift+Tab")
        backward.append(page.evaluate(FOCUSED))
    assert backward == expected[-2::-1]
    page.focus("#random")
    before = prediction_count(page)
    page.keyboard.press("Enter")
    wait_for_final_prediction(page, before)
    assert page.get_attribute("#sample", "data-index") is not None
    assert "Prediction: " in page.locator("#announce").text_content()


def test_canvas_has_a_text_alternative(page):
    canvas = page.locator("#canvas")
    assert canvas.get_attribute("role") == "img"
    assert "draw" in canvas.get_attribute("aria-label").lower()
    described_by = canvas.get_attribute("aria-describedby")
    assert page.locator(f"#{described_by}").count() == 1
    assert page.locator("#preview").get_attribute("aria-label")


def test_switching_to_the_cnn_predicts_as_native_cnn(page, native):
    select_model(page, "mnist-cnn")
    before = prediction_count(page)
    page.click("#random")
    wait_for_final_prediction(page, before)
    index = int(page.get_attribute("#sample", "data-index"))
    expected = native.models.get("mnist-cnn").predict_proba(native.test_set.images[index:index + 1])[0]
    assert int(page.get_attribute("#prediction", "data-digit")) == int(expected.argmax())
    np.testing.assert_allclose(last_result(page)["probabilities"], expected, rtol=0, atol=1e-5)
    # Back to FC: the sample is predicted again by the FC model, without reloading anything.
    before = prediction_count(page)
    select_model(page, "mnist-fc")
    wait_for_final_prediction(page, before)
    fc = load_model(site_model_path("mnist-fc")).predict(native.test_set.images[index:index + 1])[0]
    assert int(page.get_attribute("#prediction", "data-digit")) == int(fc)


def test_download_saves_the_784_model_input_bytes_as_image_raw(page, native, tmp_path):
    before = prediction_count(page)
    page.click("#random")
    wait_for_final_prediction(page, before)
    index = int(page.get_attribute("#sample", "data-index"))
    with page.expect_download() as download_info:
        page.click("#download")
    download = download_info.value
    assert download.suggested_filename == "image.raw"
    path = tmp_path / "image.raw"
    download.save_as(path)
    data = path.read_bytes()
    assert len(data) == 784
    assert data == native.test_set.images[index].tobytes()


def test_a_tap_leaves_a_dot_and_the_last_of_a_stroke_is_read_while_it_goes_on(page):
    """A line of no length draws nothing on a canvas: the page draws a tap as a dot. And live predictions come at
    most every 60 ms, the last one for the ink drawn since, so a stroke that pauses shows what it holds."""
    box = page.locator("#canvas").bounding_box()
    scale = box["height"] / 364
    page.mouse.move(box["x"] + 100 * scale, box["y"] + 100 * scale)
    page.mouse.down()
    page.mouse.up()
    page.wait_for_function("document.querySelector('#prediction').dataset.state === 'final'")
    red = np.frombuffer(canvas_rgba(page)[0], np.uint8)[::4]
    assert (red < 128).sum() >= 250                                  # a dot of the 20-pixel brush: about 314 pixels
    page.click("#clear")
    page.mouse.move(box["x"] + 100 * scale, box["y"] + 60 * scale)
    page.mouse.down()
    page.mouse.move(box["x"] + 270 * scale, box["y"] + 60 * scale, steps=3)  # within 60 ms of the press
    page.wait_for_function("() => window.mnistCore.reading && window.mnistCore.reading.digits.length === 1 "
                           "&& window.mnistCore.reading.digits[0].box[2] >= 260")  # the whole bar, mouse still down
    assert page.get_attribute("#prediction", "data-state") == "live"
    page.mouse.up()


def test_clear_empties_the_canvas_and_the_prediction(page):
    draw(page, STROKE_ONE)
    page.click("#clear")
    assert page.get_attribute("#prediction", "data-digit") == ""
    assert "empty" in page.locator("#announce").text_content()
    assert set(canvas_rgba(page)[0]) == {255}


def test_no_request_leaves_the_page_s_origin_whatever_the_page_does(browser, origin, site, tmp_path):
    """Load, Random, drawing, another model, Download, evaluation, a model file opened, training, and the
    service worker caching the site: every request of the page, its worker and its service worker is its own."""
    session = PageSession(browser, origin)
    try:
        page = session.page
        wait_until_ready(page)
        page.click("#random")
        draw(page, STROKE_SEVEN)
        select_model(page, "mnist-cnn")
        with page.expect_download():
            page.click("#download")
        page.click("#evaluate")
        page.wait_for_selector('#eval-result[data-model="mnist-cnn"][data-accuracy]', state="attached",
                               timeout=300_000)
        opened = int(page.get_attribute("#app", "data-files-opened") or 0)
        model_file = tmp_path / "opened-fc.gguf"
        model_file.write_bytes(site_model_path("mnist-fc", site).read_bytes())
        page.set_input_files("#model-file", str(model_file))
        page.wait_for_selector(f'#app[data-files-opened="{opened + 1}"]', state="attached", timeout=60_000)
        page.select_option("#train-arch", "mnist-fc")
        page.fill("#train-epochs", "1")
        page.select_option("#train-images", "3000")
        page.click("#train")
        page.wait_for_function("Number(document.querySelector('#train-status').dataset.step || 0) >= 2",
                               timeout=300_000)
        page.click("#train-stop")
        page.wait_for_function("document.querySelector('#train-status').dataset.state === 'stopped'", timeout=60_000)
        page.wait_for_selector('#app[data-offline="ready"]', state="attached", timeout=120_000)
        assert session.foreign_requests() == []
        # What was recorded covers each of them: the runtime, both models, the training set, the service worker.
        for path in ("/pyodide/pyodide.asm.wasm", "/models/mnist-cnn-f32.gguf", "/data/train-images-idx3-ubyte.gz",
                     "/data/replay-images-idx3-ubyte"):
            assert any(url.endswith(path) for url in session.requests), path
        assert any(url.endswith("/sw-build.js") for url in session.service_worker_requests)
        assert len(session.service_worker_requests) > 20  # it fetched the whole build to cache it
        assert session.errors == []
    finally:
        session.close()


def test_screenshot_for_people_to_look_at(page):
    before = prediction_count(page)
    draw(page, STROKE_SEVEN)
    wait_for_final_prediction(page, before)
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS_DIR / "page.png"), full_page=True)
    assert (ARTIFACTS_DIR / "page.png").stat().st_size > 10_000
