"""Numbers on the page, in Debian's Chromium (Playwright): a number drawn stroke by stroke with the mouse is read as
native mnist_core reads the same canvas and strokes (App.read_number), each digit's box is shown over the drawing,
one digit of it can be corrected, Random number shows test images with their true digits, and one digit still
behaves as it always did."""

import numpy as np
import pytest

from conftest import skip_unless_available
from handwriting import STROKES, misread_styles, written
from mnist_core.models import load_model
from test_web_page import canvas_rgba, last_result, prediction_count
from web_support import PageSession, chromium_missing_reason, draw_strokes, select_model, site_model_path

pytestmark = [pytest.mark.browser, skip_unless_available(chromium_missing_reason())]


def page_strokes(page):
    """The strokes the page recorded (what it sent the worker): a flat x, y list each."""
    return page.evaluate("() => window.mnistCore.strokes()")


def native_reading(page, native):
    """What native App.read_number reads in the page's canvas, with the strokes the page recorded."""
    return native.read_number(*canvas_rgba(page), page_strokes(page))


def page_reading(page):
    return page.evaluate("""() => { const r = window.mnistCore.reading;
        return {text: r.text, digits: r.digits.map((d) => ({...d, image28: Array.from(d.image28)}))}; }""")


def assert_reads_as_native(page, native):
    ours, theirs = page_reading(page), native_reading(page, native)
    assert ours["text"] == theirs["text"]
    for mine, other in zip(ours["digits"], theirs["digits"], strict=True):
        assert mine["box"] == other["box"]
        assert bytes(mine["image28"]) == other["image28"]
        np.testing.assert_allclose(mine["probabilities"], other["probabilities"], rtol=0, atol=1e-5)
    return theirs


def label_under(box, layout):
    """The label of the random number's test image whose box `box` overlaps most across, or None."""
    overlaps = [min(box[2], d["box"][2]) - max(box[0], d["box"][0]) for d in layout]
    return layout[int(np.argmax(overlaps))]["label"] if max(overlaps) > 0 else None


def shown_boxes(page):
    """The boxes drawn over the canvas, in the canvas's own pixels (x0, y0, x1, y1) as it shows them (its content,
    inside its border), and their labels."""
    return page.evaluate("""() => {
        const canvas = document.querySelector('#canvas'), frame = canvas.getBoundingClientRect();
        const left = frame.left + canvas.clientLeft, top = frame.top + canvas.clientTop;
        const sx = canvas.width / canvas.clientWidth, sy = canvas.height / canvas.clientHeight;
        return [...document.querySelectorAll('#boxes .box')].map((box) => {
            const b = box.getBoundingClientRect();
            return {box: [(b.left - left) * sx, (b.top - top) * sy, (b.right - left) * sx, (b.bottom - top) * sy],
                    label: box.dataset.digit, chosen: box.classList.contains('chosen')};
        }); }""")


# site, origin, browser, session, page and native: tests/conftest.py


@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_a_number_drawn_stroke_by_stroke_reads_right_with_each_digit_s_box_over_the_drawing(page, native, arch):
    if page.get_attribute("#app", "data-model") != arch:
        select_model(page, arch)
    native.select_model(arch)
    strokes = written([[STROKES[int(c)]] for c in "2026"])
    draw_strokes(page, strokes)
    assert page.get_attribute("#number", "data-text") == "2026"
    assert page.is_visible("#number") and page.text_content("#number-text") == "2026"
    assert len(page_strokes(page)) == 4
    expected = assert_reads_as_native(page, native)
    boxes = shown_boxes(page)
    assert [b["label"] for b in boxes] == list("2026")
    for shown, digit, stroke in zip(boxes, expected["digits"], strokes, strict=True):
        np.testing.assert_allclose(shown["box"], digit["box"], atol=1.5)  # drawn where the worker found it
        xs, ys = [x for x, _ in stroke], [y for _, y in stroke]
        assert digit["box"][0] <= min(xs) and max(xs) <= digit["box"][2]   # around the digit's own stroke
        assert digit["box"][1] <= min(ys) and max(ys) <= digit["box"][3]
    # Each digit is shown with the image the model saw; the last one is chosen and shows below.
    cards = page.locator("#number-digits .number-digit")
    assert cards.count() == 4
    assert [cards.nth(i).get_attribute("data-digit") for i in range(4)] == list("2026")
    assert boxes[3]["chosen"] and cards.nth(3).get_attribute("aria-pressed") == "true"
    assert page.get_attribute("#prediction", "data-digit") == "6"
    assert bytes(last_result(page)["image28"]) == expected["digits"][3]["image28"]
    assert page.text_content("#digit-label") == "Digit 4 of 4"
    assert page.locator("#announce").text_content().startswith("Number 2026, 4 digits.")
    # Choosing another digit (the keyboard will do) shows it below, and the inside view follows.
    before = prediction_count(page)
    cards.nth(1).focus()
    page.keyboard.press("Enter")
    page.wait_for_function("n => Number(document.querySelector('#prediction').dataset.count) > n", arg=before)
    assert page.get_attribute("#prediction", "data-digit") == "0"
    assert page.text_content("#digit-label") == "Digit 2 of 4"
    assert bytes(last_result(page)["image28"]) == expected["digits"][1]["image28"]
    assert [b["chosen"] for b in shown_boxes(page)] == [False, True, False, False]


def test_one_digit_still_behaves_as_before(page, native):
    native.select_model("mnist-fc")
    draw_strokes(page, written([[STROKES[7]]], scale=1, left=300))
    assert page.is_hidden("#number") and page.get_attribute("#number", "data-text") == "7"
    assert page.locator("#boxes .box").count() == 0
    assert page.text_content("#digit-label") == "Prediction"
    expected = native.predict_canvas(*canvas_rgba(page))  # the single-digit path, to the bit
    result = last_result(page)
    assert page.get_attribute("#prediction", "data-digit") == str(expected["digit"]) == "7"
    assert bytes(result["image28"]) == expected["image28"]
    np.testing.assert_allclose(result["probabilities"], expected["probabilities"], rtol=0, atol=1e-5)


def test_clear_takes_the_number_away(page):
    draw_strokes(page, written([[STROKES[int(c)]] for c in "31"]))
    assert page.get_attribute("#number", "data-text") == "31"
    page.click("#clear")
    assert page.is_hidden("#number") and page.locator("#boxes .box").count() == 0
    assert page.get_attribute("#prediction", "data-digit") == ""


def test_random_number_shows_test_images_with_their_true_digits_and_reads_them_as_a_drawing(page, native):
    native.select_model("mnist-fc")
    for _ in range(3):
        before = prediction_count(page)
        page.click("#random-number")
        page.wait_for_function("n => Number(document.querySelector('#prediction').dataset.count) > n "
                               "&& document.querySelector('#prediction').dataset.state === 'final'", arg=before)
        indices = [int(i) for i in page.get_attribute("#sample", "data-index").split(",")]
        truth = "".join(str(native.test_set.labels[i]) for i in indices)
        assert 2 <= len(indices) <= 5
        assert page.get_attribute("#sample", "data-label") == truth
        assert page.text_content("#sample").endswith(f"the number {truth}")
        assert page_strokes(page) == []                       # test images: ink only
        expected = assert_reads_as_native(page, native)
        if len(expected["digits"]) > 1:   # a digit read wrong is marked: the test image under it is another digit
            layout = page.evaluate("() => window.mnistCore.sample().digits")
            assert "".join(str(d["label"]) for d in layout) == truth
            marked = [c.get_attribute("data-wrong") == "true" for c in page.locator(".number-digit").all()]
            assert marked == [label_under(d["box"], layout) != d["digit"] for d in expected["digits"]]
        assert not any(page.locator("#correct button").nth(i).is_enabled() for i in range(10))


def test_one_digit_of_a_number_is_corrected_and_the_number_read_again(browser, origin, site):
    """A 1 and a digit in a style the model misreads: choose the misread digit, say what it was."""
    model = load_model(site_model_path("mnist-fc", site))
    styles = misread_styles(model)
    assert styles, "the shipped mnist-fc reads every style of tests/handwriting.py right: add one it misreads"
    digit, style = styles[0]
    session = PageSession(browser, origin)
    try:
        page = session.page
        page.wait_for_selector('#app[data-training="ready"]', timeout=120_000)
        draw_strokes(page, written([[STROKES[1]], style]))
        before = page.get_attribute("#number", "data-text")
        assert len(before) == 2 and before[0] == "1" and before[1] != str(digit), before
        page.click('#number-digits .number-digit[data-index="1"]')
        page.wait_for_function("document.querySelector('#digit-label').textContent === 'Digit 2 of 2'")
        count = prediction_count(page)
        page.click(f'#correct button[data-digit="{digit}"]')
        page.wait_for_function("document.querySelector('#learned').dataset.count === '1'", timeout=120_000)
        page.wait_for_function("n => Number(document.querySelector('#prediction').dataset.count) > n", arg=count)
        assert page.get_attribute("#number", "data-text") == f"1{digit}"
        assert page.get_attribute("#number", "data-chosen") == "1"
        assert page.get_attribute("#prediction", "data-digit") == str(digit)
        assert page.get_attribute("#learned", "data-digit") == str(digit)
        assert session.errors == []
    finally:
        session.close()
