"""mnist_core.segmentation: the digits of a written number found, prepared as single digits and read in one batch.

Numbers are composed here from MNIST test digits (scaled up to the page's size, as an image
file or the page's Random would put them) and from pen strokes drawn with the page's brush, on a
canvas like the page's: 364 px tall, wide enough for five digits.
"""

import re

import numpy as np
import pytest

import numbers_support
from conftest import SHIPPED_MODELS
from mnist_core import ink_marks
from mnist_core.browser import App
from mnist_core.models import load_model
from mnist_core.prediction import UNSURE_BELOW
from mnist_core.preprocess import INK_THRESHOLD, canvas_ink
from mnist_core.segmentation import SegmentationError, read_number, segment
from numbers_support import BRUSH, HEIGHT, WIDTH, drawn, number_canvas, shifted


@pytest.fixture(scope="module")
def models():
    return {arch: load_model(path) for arch, path in SHIPPED_MODELS.items()}


@pytest.fixture(scope="module")
def cnn(models):
    return models["mnist-cnn"]


@pytest.fixture(scope="module")
def clear_digits(mnist_test, models):
    """For each digit 0..9, the first MNIST test image both shipped models read right, with 0.99, once scaled up."""
    return numbers_support.clear_digits(*mnist_test, models.values())


# Multi-stroke digits, in canvas pixels (x, y) for a digit 200 px tall whose box starts at x = 0, y = 82.
FOUR = [[(60, 82), (10, 222), (140, 222)], [(105, 132), (105, 282)]]                # crossing strokes
FIVE = [[(30, 92), (22, 172), (80, 160), (125, 200), (118, 262), (60, 282), (10, 262)],
        [(48, 82), (140, 82)]]                                                      # flag apart from the body
SEVEN = [[(10, 82), (140, 82), (60, 282)], [(40, 182), (125, 182)]]                 # a crossbar through the stem
ONE_IN_TWO = [[(70, 82), (70, 172)], [(70, 197), (70, 282)]]                        # a 1 with a gap in it


def marks(ink):
    """How many connected inks (8-neighbours) hold at least 2 % of the ink: a touching pair is one."""
    pixels = np.flatnonzero(ink > INK_THRESHOLD)
    rows, starts, stops, run_of_pixel = ink_marks.runs(pixels, ink.shape[1])
    sizes = np.bincount(ink_marks.components(rows, starts, stops, ink.shape[1])[run_of_pixel])
    return int((sizes >= 0.02 * pixels.size).sum())


def iou(a, b):
    across = min(a[2], b[2]) - max(a[0], b[0])
    down = min(a[3], b[3]) - max(a[1], b[1])
    if across <= 0 or down <= 0:
        return 0.0
    inter = across * down
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# --- what a reading is ---------------------------------------------------------------------------

def test_a_reading_is_the_text_and_each_digit_with_its_probabilities_box_and_image(cnn, clear_digits):
    result = read_number(cnn, number_canvas([clear_digits[d] for d in (2, 0, 2, 6)]))
    assert result["text"] == "2026"
    assert [d["digit"] for d in result["digits"]] == [2, 0, 2, 6]
    for digit in result["digits"]:
        assert len(digit["probabilities"]) == 10 and all(isinstance(p, float) for p in digit["probabilities"])
        assert abs(sum(digit["probabilities"]) - 1) < 1e-4
        assert digit["sure"] == (max(digit["probabilities"]) >= UNSURE_BELOW)
        assert isinstance(digit["image28"], bytes) and len(digit["image28"]) == 784
        assert all(isinstance(v, int) for v in digit["box"])
    lefts = [d["box"][0] for d in result["digits"]]
    assert lefts == sorted(lefts)


def test_an_empty_image_reads_as_no_digits(cnn):
    assert read_number(cnn, np.zeros((HEIGHT, WIDTH), dtype=np.uint8)) == {"text": "", "digits": []}
    faint = np.full((HEIGHT, WIDTH), INK_THRESHOLD, dtype=np.uint8)   # at the threshold: background
    assert read_number(cnn, faint)["text"] == ""


def test_all_candidates_are_read_in_one_batch(cnn, clear_digits, monkeypatch):
    batches = []
    original = cnn.predict_proba
    monkeypatch.setattr(cnn, "predict_proba", lambda images: batches.append(len(images)) or original(images))
    read_number(cnn, number_canvas([clear_digits[d] for d in (4, 2, 7)], touch_at=0))
    assert len(batches) == 1 and batches[0] >= 3


# --- one digit reads as the single-digit path reads it ------------------------------------------

@pytest.mark.parametrize("digit", range(10))
def test_a_single_digit_gives_exactly_what_the_single_digit_path_gives(digit, clear_digits):
    app = App()
    app.load_shipped_model("mnist-cnn", SHIPPED_MODELS["mnist-cnn"].read_bytes())
    canvas = 255 - number_canvas([clear_digits[digit]], width=HEIGHT)       # white paper, black ink
    rgba = np.dstack([canvas] * 3 + [np.full_like(canvas, 255)])
    single = app.predict_canvas(rgba.tobytes(), HEIGHT, HEIGHT)
    ink = canvas_ink(rgba.tobytes(), HEIGHT, HEIGHT)
    result = read_number(app.models.current(), ink)
    assert len(result["digits"]) == 1
    assert result["digits"][0]["image28"] == single["image28"]
    assert result["digits"][0]["digit"] == single["digit"] == digit
    if len(segment(ink).candidates) == 1:
        assert result["digits"][0]["probabilities"] == single["probabilities"]
    else:
        # A wide digit is also read cut in two, in the same batch: BLAS then sums in another order, and the
        # probabilities agree to float32's rounding, not to the bit.
        np.testing.assert_allclose(result["digits"][0]["probabilities"], single["probabilities"], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("speck", [False, True], ids=["alone", "with a speck"])
@pytest.mark.parametrize("form", [SEVEN, FIVE], ids=["7", "5 with its flag apart"])
def test_the_page_s_one_drawn_digit_is_read_to_the_bit_as_predict_canvas_reads_it(form, speck):
    """App.read_number of a canvas holding one digit: the whole canvas prepared and predicted alone, specks and
    all, as predict_canvas does (the segmentation only says there is one digit)."""
    app = App()
    app.load_shipped_model("mnist-fc", SHIPPED_MODELS["mnist-fc"].read_bytes())
    ink, drawn_strokes = drawn(shifted(form, 500))
    if speck:
        ink[30:34, 40:44] = 255                                      # a speck far from the digit
    canvas = 255 - ink
    rgba = np.dstack([canvas] * 3 + [np.full_like(canvas, 255)]).tobytes()
    flat_strokes = [np.ravel(stroke).tolist() for stroke in drawn_strokes]
    reading = app.read_number(rgba, WIDTH, HEIGHT, flat_strokes)
    single = app.predict_canvas(rgba, WIDTH, HEIGHT)
    assert len(reading["digits"]) == 1
    digit = reading["digits"][0]
    assert digit["image28"] == single["image28"] and digit["probabilities"] == single["probabilities"]
    assert digit["box"][0] >= 500 - BRUSH                            # the digit's box, not the speck's


# --- numbers of MNIST digits with visible gaps ----------------------------------------------------

@pytest.mark.parametrize("number", ["07", "2026", "31415", "986543", "1111"])
@pytest.mark.parametrize("arch", ["mnist-fc", "mnist-cnn"])
def test_numbers_of_mnist_test_digits_with_gaps_read_right(number, arch, models, clear_digits):
    boxes = []
    result = read_number(models[arch], number_canvas([clear_digits[int(d)] for d in number], boxes=boxes))
    assert result["text"] == number
    assert all(iou(d["box"], box) > 0.9 for d, box in zip(result["digits"], boxes, strict=True))


def test_a_number_written_large_reads_the_same_with_boxes_to_scale(cnn, clear_digits):
    """A photo's number is several times the page's size: it is analysed on a coarser grid, read at full size."""
    canvas = number_canvas([clear_digits[d] for d in (4, 0, 9)])
    large = np.kron(canvas, np.ones((4, 4), dtype=np.uint8))       # 1456 x 5824 pixels, the ink 800 rows tall
    small, big = read_number(cnn, canvas), read_number(cnn, large)
    assert big["text"] == small["text"] == "409"
    for a, b in zip(small["digits"], big["digits"], strict=True):
        assert b["box"] == [4 * v for v in a["box"]]


def test_digits_close_together_with_overlapping_boxes_read_right(cnn, clear_digits):
    boxes = []
    canvas = number_canvas([clear_digits[d] for d in (7, 1, 4)], gap=-0.05, boxes=boxes)
    assert boxes[0][2] > boxes[1][0]                                 # the boxes overlap
    assert read_number(cnn, canvas)["text"] == "714"


# --- several strokes, one digit ---------------------------------------------------------------

@pytest.mark.parametrize("name, form, digit", [("a 4 of two crossing strokes", FOUR, 4),
                                                ("a 5 with its flag apart", FIVE, 5),
                                                ("a 7 with a crossbar", SEVEN, 7),
                                                ("a 1 with a gap in it", ONE_IN_TWO, 1)])
@pytest.mark.parametrize("with_strokes", [True, False], ids=["strokes", "ink only"])
def test_a_digit_of_several_strokes_stays_one_digit(name, form, digit, with_strokes, cnn):
    ink, drawn_strokes = drawn(shifted(form, 600))
    result = read_number(cnn, ink, drawn_strokes if with_strokes else None)
    assert result["text"] == str(digit), name


@pytest.mark.parametrize("with_strokes", [True, False], ids=["strokes", "ink only"])
def test_multi_stroke_digits_side_by_side_are_two_digits_each_whole(with_strokes, cnn):
    ink, drawn_strokes = drawn(shifted(FOUR, 400) + shifted(FIVE, 600) + shifted(SEVEN, 800) + shifted(ONE_IN_TWO, 950))
    assert read_number(cnn, ink, drawn_strokes if with_strokes else None)["text"] == "4571"


# --- touching digits ----------------------------------------------------------------------------

@pytest.mark.parametrize("pair", ["23", "45", "80", "34"])
def test_touching_digits_are_split(pair, cnn, clear_digits):
    boxes = []
    canvas = number_canvas([clear_digits[int(d)] for d in pair], touch_at=0, boxes=boxes)
    alone = [marks(number_canvas([clear_digits[int(d)]])) for d in pair]
    assert marks(canvas) == sum(alone) - 1                           # the pair's inks touch
    result = read_number(cnn, canvas)
    assert result["text"] == pair
    assert all(iou(d["box"], box) > 0.7 for d, box in zip(result["digits"], boxes, strict=True))


def test_a_touching_pair_inside_a_number_is_split(cnn, clear_digits):
    canvas = number_canvas([clear_digits[d] for d in (1, 9, 8, 4)], touch_at=1)
    assert read_number(cnn, canvas)["text"] == "1984"


def test_strokes_split_touching_digits_where_the_pen_lifted(cnn):
    """A 2 whose base runs on into the 3's last stroke: no cut from top to bottom separates their inks, the
    strokes do. From the ink alone it is still read as two digits, but cut where the ink is thinnest."""
    two = [[(10, 122), (50, 84), (100, 84), (120, 130), (20, 282), (240, 282)]]
    three = [[(220, 92), (300, 84), (332, 130), (270, 180), (335, 225), (310, 272), (215, 268)]]
    ink, drawn_strokes = drawn(shifted(two + three, 500))
    assert marks(ink) == 1                                           # one mark of ink
    with_strokes, ink_only = read_number(cnn, ink, drawn_strokes), read_number(cnn, ink)
    assert with_strokes["text"] == ink_only["text"] == "23"
    two_box, three_box = (d["box"] for d in with_strokes["digits"])
    assert two_box[2] >= 500 + 240 + BRUSH // 2 - 1                # the 2 keeps all of its base
    assert three_box[0] <= 500 + 215 - BRUSH // 2 + 1              # the 3 all of its bottom stroke
    assert ink_only["digits"][0]["box"][2] < two_box[2]


# --- dots, specks, slants ---------------------------------------------------------------------

def test_dots_and_stray_specks_are_ignored(cnn, clear_digits):
    boxes = []
    canvas = number_canvas([clear_digits[d] for d in (3, 1, 4)], boxes=boxes)
    rng = np.random.default_rng(0)
    speckled = canvas.copy()
    for _ in range(40):                                              # specks of 1 to 12 px, anywhere
        y, x = rng.integers(0, HEIGHT - 12), rng.integers(0, WIDTH - 12)
        size = int(rng.integers(1, 13))
        speckled[y:y + size, x:x + size] = 255
    dot_x = (boxes[0][2] + boxes[1][0]) // 2                        # a decimal point between 3 and 1
    speckled[boxes[0][3] - 16:boxes[0][3], dot_x - 8:dot_x + 8] = 255
    clean, noisy = read_number(cnn, canvas), read_number(cnn, speckled)
    assert noisy["text"] == clean["text"] == "314"
    assert [d["box"] for d in noisy["digits"]] == [d["box"] for d in clean["digits"]]


@pytest.mark.parametrize("slant_deg", [15, -15, 25])
def test_a_slanted_line_of_digits_still_reads_left_to_right(slant_deg, cnn, clear_digits):
    canvas = number_canvas([clear_digits[d] for d in (5, 8, 2, 7)], gap=0.3, slant_deg=slant_deg, digit_height=110)
    tops = [column.argmax() for column in (canvas > INK_THRESHOLD).T[canvas.any(axis=0)]]
    assert abs(int(tops[0]) - int(tops[-1])) > 50                   # the line really is slanted
    assert read_number(cnn, canvas)["text"] == "5827"


# --- input the reader refuses, in one line --------------------------------------------------

def test_an_absurdly_large_image_is_refused_before_any_work():
    with pytest.raises(SegmentationError, match="pixels, more than"):
        segment(np.broadcast_to(np.uint8(0), (5000, 5000)))


def test_a_band_of_noise_is_refused_by_its_number_of_ink_runs():
    noise = np.random.default_rng(0).integers(0, 2, (100, 16000), dtype=np.uint8) * 255
    with pytest.raises(SegmentationError, match="runs, more than"):
        segment(noise)


@pytest.mark.parametrize("bad, message", [(np.zeros((3, 4, 5), np.uint8), "2-D"), (np.zeros((9, 9), np.int64), "uint8"),
                                          (np.zeros((0, 9), np.uint8), "2-D")])
def test_an_ink_array_of_the_wrong_shape_or_type_is_refused(bad, message):
    with pytest.raises(SegmentationError, match=message):
        segment(bad)


@pytest.mark.parametrize("bad, message", [([[(1.0, float("nan"))]], "finite"), ([["ab"]], "(x, y) points"),
                                          ([[(0, 0)] * 40000, [(0, 0)] * 40000], "points, more than"),
                                          ([[(0, 0)]] * 2000, "strokes, more than")])
def test_strokes_that_cannot_be_pen_strokes_are_refused(bad, message, clear_digits):
    with pytest.raises(SegmentationError, match=re.escape(message)):
        segment(number_canvas([clear_digits[1]]), bad)


def test_strokes_outside_the_canvas_or_of_one_point_are_read_without_harm(cnn, clear_digits):
    canvas = number_canvas([clear_digits[d] for d in (6, 9)])
    stray = [[(-500.0, -500.0), (1e9, 1e9)], [(700.0, 180.0)], []]
    assert read_number(cnn, canvas, stray)["text"] == "69"
