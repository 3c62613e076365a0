"""The page's "inside the model" view in Debian's Chromium (Playwright): it follows every prediction with the
numbers native mnist_core.explain gives for the image the model saw, draws them (an FC unit's weights on hover,
the CNN's maps and kernels, saliency against the digit picked, occlusion on request, the first layer's weights
while a model trains), asks for an explanation only when no prediction is on its way, is reachable from the
keyboard and says what it shows in words.

Expected numbers come from App natively, on the site's own models: the page's einsum and the desktop's BLAS sum
float32 products in another order, so activations and saliency agree to a few units in the last places; weights
are copied and agree exactly. test-artifacts/inside.png is a screenshot for people to look at (docs/inside.png,
in docs/explain.md, is a copy of it).
"""

import numpy as np
import pytest

from conftest import skip_unless_available
from handwriting import STYLES
from web_support import ARTIFACTS_DIR, chromium_missing_reason, draw_strokes, select_model, wait_until_ready

pytestmark = [pytest.mark.browser, skip_unless_available(chromium_missing_reason())]

SCREENSHOT_MAX_BYTES = 200_000
INSIDE_REQUESTS = {"explain", "occlude_image", "unit_weights", "model_weights"}
UNITS_COLUMNS, UNIT_PITCH = 25, 11  # web/inside-fc.js: 500 cells of 10 canvas pixels and a 1-pixel gap

# Every request the page sends to its worker and every answer, in order, as the worker sees them.
RECORD_REQUESTS = """
window.workerLog = [];
const PageWorker = window.Worker;
window.Worker = class extends PageWorker {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", ({ data }) => { if (data.id !== undefined) workerLog.push(["answer", data.id]); });
  }
  postMessage(message, transfer) {
    if (message.id !== undefined) workerLog.push(["request", message.id, message.type]);  // requests, not hand-overs
    return super.postMessage(message, transfer);
  }
};
"""
EXPLAINED = """() => {
    const e = window.mnistCore.inside.explanation;
    const activations = Object.fromEntries(Object.entries(e.activations).map(([k, a]) => [k, Array.from(a.values)]));
    return {digit: e.digit, versus: e.versus, model: e.model, image28: Array.from(e.image28),
            saliency: Array.from(e.saliency), shown: Array.from(window.mnistCore.inside.saliency), activations};
}"""
CANVAS_RGBA = """id => { const e = document.getElementById(id);
                        const c = e.tagName === 'CANVAS' ? e : e.querySelector('canvas');
                        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }"""


class InsidePage:
    """A page of its own (its own browser context: nothing kept from other tests), every worker request logged."""

    def __init__(self, browser, origin):
        self.context = browser.new_context(viewport={"width": 1000, "height": 900})
        self.context.add_init_script(RECORD_REQUESTS)
        self.page = self.context.new_page()
        self.errors = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(f"{origin}/index.html")
        wait_until_ready(self.page)

    def close(self):
        self.context.close()


@pytest.fixture(scope="module")
def session(browser, origin):
    session = InsidePage(browser, origin)
    yield session
    session.close()


@pytest.fixture
def page(page):
    """conftest's shared page (this module's session's), cleared, mnist-fc, the saliency against the runner-up,
    scrolled back to the top (choosing in #versus scrolls it into view; the tests draw on the canvas)."""
    page.select_option("#versus", "")
    page.evaluate("scrollTo(0, 0)")
    return page


def explanation_count(page):
    return int(page.get_attribute("#inside", "data-count") or 0)


def wait_for_explanation(page, after, **expected):
    """Wait until the view has drawn an explanation after the `after`th, of the final prediction and with
    `expected`'s data attributes (e.g. versus="4"); return what it drew."""
    page.wait_for_function("""([after, expected]) => {
        const view = document.querySelector('#inside');
        return Number(view.dataset.count || 0) > after && view.dataset.state === 'final' &&
               view.dataset.digit === document.querySelector('#prediction').dataset.digit &&
               Object.entries(expected).every(([key, value]) => view.dataset[key] === value);
    }""", arg=[after, expected])
    return page.evaluate(EXPLAINED)


def draw(page, strokes, **expected):
    """Draw a digit with the mouse -> what the view drew for its final prediction."""
    before = explanation_count(page)
    draw_strokes(page, strokes)
    return wait_for_explanation(page, before, **expected)


def decoded(array, shape=None):
    values = np.asarray(array, dtype=np.float32)
    return values if shape is None else values.reshape(shape)


def assert_close(found, expected):
    """The page's float32 sums against native ones: equal to 1e-4 of the layer's largest magnitude."""
    expected = np.asarray(expected, dtype=np.float64)
    np.testing.assert_allclose(found, expected, rtol=0, atol=1e-4 * max(1e-6, float(np.abs(expected).max())))


def assert_same_as_native(drawn, native, versus=None):
    found = native.explain(bytes(drawn["image28"]), versus=versus)
    assert (drawn["digit"], drawn["versus"]) == (found["digit"], found["versus"])
    assert_close(drawn["saliency"], decoded(found["saliency"]))
    for name, array in found["activations"].items():
        assert_close(drawn["activations"][name], decoded(array["values"]))
    return found


def unit_point(page, unit):
    """Where the middle of hidden unit `unit`'s cell of the #units grid is on the page, the grid scrolled into view."""
    grid = page.locator("#units")
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    scale = box["width"] / page.eval_on_selector("#units", "c => c.width")
    x, y = (unit % UNITS_COLUMNS + 0.5) * UNIT_PITCH, (unit // UNITS_COLUMNS + 0.5) * UNIT_PITCH
    return box["x"] + x * scale, box["y"] + y * scale


def canvas_rgba(page, canvas_id):
    """The RGBA pixels of a canvas (or of the canvas in a figure), one row per pixel."""
    return np.array(page.evaluate(CANVAS_RGBA, canvas_id), dtype=np.uint8).reshape(-1, 4)


def outstanding_requests(log):
    """For each request sent, the types of the requests sent before it and not answered yet."""
    waiting, found = {}, []
    for entry in log:
        if entry[0] == "request":
            found.append((entry[2], sorted(waiting.values())))
            waiting[entry[1]] = entry[2]
        else:
            waiting.pop(entry[1], None)
    return found


# ---------------------------------------------------------------------------------------------------------


def test_drawing_updates_the_view_with_the_native_explanation_live_and_at_the_end(page, native):
    page.evaluate("""() => { window.viewStates = [];
        new MutationObserver(() => viewStates.push(document.querySelector('#inside').dataset.state))
            .observe(document.querySelector('#inside'), {attributes: true, attributeFilter: ['data-count']}); }""")
    box = page.locator("#canvas").bounding_box()
    scale = box["height"] / 364  # the canvas is 364 pixels tall
    page.mouse.move(box["x"] + 100 * scale, box["y"] + 60 * scale)
    page.mouse.down()
    for x, y in [(180, 60), (270, 60), (230, 160), (195, 240), (170, 320)]:  # a 7, slowly: live predictions
        page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=3)
        page.wait_for_function("document.querySelector('#inside').dataset.state === 'live'")
    before = explanation_count(page)
    page.mouse.up()
    drawn = wait_for_explanation(page, before)
    states = page.evaluate("viewStates")
    assert "live" in states and states[-1] == "final"
    assert drawn["digit"] == int(page.get_attribute("#prediction", "data-digit")) == 7
    assert drawn["image28"] == page.evaluate("Array.from(window.mnistCore.last.image28)")
    assert_same_as_native(drawn, native)
    assert page.is_visible("#inside-fc") and page.is_hidden("#inside-cnn")
    assert "read 7" in page.text_content("#inside-summary")


def test_an_explanation_is_asked_for_only_when_no_prediction_is_on_its_way_and_one_at_a_time(session, page):
    draw(page, STYLES[3])
    draw(page, STYLES[8])
    page.click("#occlude")
    page.wait_for_selector('#occlusion-figure[data-state="done"]')
    sent = outstanding_requests(page.evaluate("workerLog"))
    inside = [(type, waiting) for type, waiting in sent if type in INSIDE_REQUESTS]
    assert sum(type == "explain" for type, _ in inside) >= 2 and ("unit_weights", []) in inside
    for type, waiting in inside:
        assert not {"read_number", "predict_canvas"} & set(waiting), f"{type} sent while a prediction was on its way"
        assert type not in waiting, f"a second {type} sent while one was on its way"
    assert session.errors == []


def test_the_saliency_picture_changes_with_the_drawing_and_with_the_digit_picked(page, native):
    seven = draw(page, STYLES[7])
    seven_picture = canvas_rgba(page, "saliency")
    versus = next(d for d in (4, 1, 9) if d not in (seven["digit"], seven["versus"]))
    before = explanation_count(page)
    page.select_option("#versus", str(versus))
    against = wait_for_explanation(page, before, versus=str(versus))
    assert against["image28"] == seven["image28"] and against["saliency"] != seven["saliency"]
    assert_same_as_native(against, native, versus=versus)
    assert not np.array_equal(canvas_rgba(page, "saliency"), seven_picture)
    assert page.text_content("#why-title") == f"Why {seven['digit']} and not {versus}"

    page.select_option("#versus", "")
    one = draw(page, STYLES[1])
    assert one["image28"] != seven["image28"]
    assert not np.array_equal(canvas_rgba(page, "saliency"), seven_picture)
    assert_same_as_native(one, native)
    # Red where the saliency is positive, blue where negative, over the faint digit.
    rgba = canvas_rgba(page, "saliency").astype(int)
    shown = np.asarray(one["shown"])
    strong = np.abs(shown) > 0.2 * np.abs(shown).max()
    assert strong.any()
    assert np.all((rgba[strong, 0] > rgba[strong, 2]) == (shown[strong] > 0))


def test_hovering_or_tapping_an_fc_unit_shows_its_native_weights(page, native):
    draw(page, STYLES[2])
    for unit in (123, 7):
        page.mouse.move(*unit_point(page, unit))
        page.wait_for_selector(f'#units[data-unit="{unit}"]')
        shown = page.evaluate("""() => { const u = window.mnistCore.inside.unit;
                                         return {unit: u.unit, bias: u.bias, input: Array.from(u.input),
                                                 output: Array.from(u.output)}; }""")
        expected = native.unit_weights(unit)
        assert shown["unit"] == unit and shown["bias"] == expected["bias"]
        np.testing.assert_array_equal(shown["input"], decoded(expected["input"]["values"]))
        np.testing.assert_array_equal(shown["output"], decoded(expected["output"]["values"]))
        rgba = canvas_rgba(page, "unit-input").astype(int)
        weights = decoded(expected["input"]["values"])
        strong = np.abs(weights) > 0.2 * np.abs(weights).max()
        assert np.all((rgba[strong, 0] > rgba[strong, 2]) == (weights[strong] > 0))
        assert page.text_content("#unit-caption").startswith(f"Hidden unit {unit}")

    away = unit_point(page, 0)[0] - 40, unit_point(page, 0)[1] - 40
    page.mouse.click(*unit_point(page, 321))        # a tap keeps the unit once the pointer leaves
    page.mouse.move(*away)
    page.wait_for_selector('#units[data-unit="321"]')
    page.mouse.move(*unit_point(page, 322))
    page.wait_for_selector('#units[data-unit="322"]')
    page.mouse.move(*away)
    page.wait_for_selector('#units[data-unit="321"]')


def test_the_keyboard_reaches_every_control_of_the_view_and_the_arrow_keys_choose_a_unit(page):
    draw(page, STYLES[4])
    page.evaluate("document.activeElement && document.activeElement.blur()")
    focused = []
    for _ in range(60):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id"))
    assert {"versus", "occlude", "units"} <= set(focused)
    assert page.text_content('label[for="versus"]') and page.text_content("#occlude") == "Occlusion"
    assert page.get_attribute("#units", "role") == "slider" and page.get_attribute("#units", "aria-label")

    page.focus("#units")
    start = int(page.get_attribute("#units", "data-unit"))
    page.keyboard.press("ArrowRight")
    page.wait_for_selector(f'#units[data-unit="{start + 1}"]')
    page.keyboard.press("ArrowDown")
    page.wait_for_selector(f'#units[data-unit="{start + 1 + UNITS_COLUMNS}"]')
    page.keyboard.press("End")
    page.wait_for_selector('#units[data-unit="499"]')
    assert page.get_attribute("#units", "aria-valuenow") == "499"
    assert page.get_attribute("#units", "aria-valuetext").startswith("Hidden unit 499")

    page.focus("#versus")
    before = explanation_count(page)
    page.keyboard.press("ArrowDown")         # the select's next option: digit 0
    wait_for_explanation(page, before, versus="0")
    page.focus("#occlude")
    page.keyboard.press("Enter")
    page.wait_for_selector('#occlusion-figure[data-state="done"]')


def test_occlusion_appears_on_request_as_native_occlusion_and_goes_with_the_drawing(page, native):
    drawn = draw(page, STYLES[9])
    assert page.is_hidden("#occlusion-figure")
    page.click("#occlude")
    page.wait_for_selector('#occlusion-figure[data-state="done"]')
    assert page.is_visible("#occlusion")
    drop = page.evaluate("Array.from(window.mnistCore.inside.occlusion.drop)")
    expected = native.occlude_image(bytes(drawn["image28"]))
    assert int(page.get_attribute("#occlusion-figure", "data-digit")) == expected["digit"]
    np.testing.assert_allclose(drop, decoded(expected["drop"]), rtol=0, atol=1e-5)
    words = page.get_attribute("#occlusion", "aria-label")
    assert words.startswith(f"Occlusion picture. Occlusion for {drawn['digit']}: erasing ")
    draw(page, STYLES[1])
    assert page.is_hidden("#occlusion-figure")


def test_the_cnn_view_shows_its_maps_kernels_and_saliency_only_near_the_ink(page, native):
    select_model(page, "mnist-cnn")
    drawn = draw(page, STYLES[7], arch="mnist-cnn")
    assert page.is_visible("#inside-cnn") and page.is_hidden("#inside-fc")
    native.select_model("mnist-cnn")
    try:
        found = native.explain(bytes(drawn["image28"]))
        for name in ("conv1.relu", "conv1.pool", "conv2.relu", "conv2.pool", "dense.input"):
            assert_close(drawn["activations"][name], decoded(found["activations"][name]["values"]))
        for layer in ("conv1", "conv2"):
            page.wait_for_function(f"window.mnistCore.inside.{layer} !== undefined")
            kernels = page.evaluate(f"Array.from(window.mnistCore.inside.{layer}.values)")
            np.testing.assert_array_equal(kernels, decoded(native.model_weights(layer)["kernel"]["values"]))
            assert page.get_attribute(f"#figure-{layer} canvas", "aria-label").startswith(f"{layer}'s")
    finally:
        native.select_model("mnist-fc")
    for figure in ("conv1-relu", "conv1-pool", "conv2-relu", "conv2-pool", "dense-input", "conv1", "conv2"):
        rgba = canvas_rgba(page, f"figure-{figure}")
        assert rgba.size and (rgba[:, :3] < 200).any(), f"{figure} is blank"
    # Saliency: the gradient itself on and next to the ink, nothing on the blank background (docs/explain.md).
    image = np.asarray(drawn["image28"]).reshape(28, 28)
    ink = np.pad(image > 0, 1)
    near = np.zeros((28, 28), bool)
    for dy in range(3):
        for dx in range(3):
            near |= ink[dy:dy + 28, dx:dx + 28]
    shown, saliency = np.asarray(drawn["shown"]).reshape(28, 28), np.asarray(drawn["saliency"]).reshape(28, 28)
    assert np.all(shown[~near] == 0) and np.array_equal(shown[near], saliency[near])
    assert np.abs(saliency[~near]).max() > 0  # there was something to mute
    assert "artefact" in page.text_content("#saliency-caption")


def test_the_view_says_in_words_which_digit_against_which_and_where_only_after_final_predictions(page):
    page.evaluate("""() => { window.announced = [];
        new MutationObserver(() => announced.push([document.querySelector('#inside-announce').textContent,
                                                    document.querySelector('#inside').dataset.state]))
            .observe(document.querySelector('#inside-announce'), {childList: true, characterData: true}); }""")
    drawn = draw(page, [STYLES[7][0]])   # one stroke: one final prediction
    live = page.locator("#inside-announce")
    assert live.get_attribute("aria-live") == "polite"
    text = live.text_content()
    pair = f"Why {drawn['digit']} and not {drawn['versus']}"
    assert text.startswith(f"Inside mnist-fc: {pair}: ")
    places = ("at the top", "at the bottom", "on the left", "on the right", "in the middle")
    assert any(place in text for place in places)
    assert "hidden units are active" in text and "Softmax: " in text
    assert page.text_content("#inside-summary").startswith(f"mnist-fc read {drawn['digit']}, runner-up ")
    assert [entry for entry in page.evaluate("announced") if entry[0]] == [[text, "final"]]  # Clear empties it
    assert pair in page.get_attribute("#saliency", "aria-label")
    for canvas in ("logits", "softmax", "unit-input", "unit-output"):
        assert page.get_attribute(f"#{canvas}", "role") == "img" and page.get_attribute(f"#{canvas}", "aria-label")


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_training_redraws_the_first_layer_s_weights_as_it_learns(browser, origin, arch):
    session = InsidePage(browser, origin)
    try:
        page = session.page
        page.wait_for_selector('#app[data-training="ready"]', timeout=120_000)
        page.select_option("#train-arch", arch)
        page.fill("#train-epochs", "2")
        page.select_option("#train-images", "3000")
        page.click("#train")
        page.wait_for_function("Number(document.querySelector('#train-weights').dataset.count || 0) >= 1",
                               timeout=300_000)
        first = page.evaluate("(() => { const t = window.mnistCore.inside.training; return {step: t.step,"
                              " layer: t.layer, shape: t.weights.shape, values: Array.from(t.values)}; })()")
        page.wait_for_function(f"Number(document.querySelector('#train-weights').dataset.step) > {first['step']} + 2",
                               timeout=300_000)
        later = page.evaluate("Array.from(window.mnistCore.inside.training.values)")
        page.click("#train-stop")
        page.wait_for_function("['stopped', 'done'].includes(document.querySelector('#train-status').dataset.state)",
                               timeout=120_000)
        fc = arch == "mnist-fc"
        assert first["layer"] == ("fc1" if fc else "conv1")
        assert first["shape"] == ([64, 28, 28] if fc else [8, 1, 3, 3]) and len(later) == len(first["values"])
        assert later != first["values"]
        assert page.is_visible("#train-weights")
        step = page.get_attribute("#train-weights", "data-step")
        assert f"at step {step} " in page.text_content("#train-weights-caption")
        assert session.errors == []
    finally:
        session.close()


def test_screenshot_of_the_view_for_people_to_look_at(page):
    draw(page, STYLES[7])
    page.click("#occlude")
    page.wait_for_selector('#occlusion-figure[data-state="done"]')
    unit = int(page.get_attribute("#units", "data-strongest"))
    page.mouse.click(*unit_point(page, unit))  # tapped: it stays when the pointer leaves
    page.wait_for_selector(f'#units[data-unit="{unit}"]')
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    path = ARTIFACTS_DIR / "inside.png"
    page.locator("#inside").screenshot(path=str(path))
    assert 20_000 < path.stat().st_size < SCREENSHOT_MAX_BYTES
