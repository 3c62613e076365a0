"""Seeing inside the model: explain's saliency is the true gradient, its activations are the network's own, it is
the same on the CuPy path and in Pyodide; occlusion, the weights the page draws, and the PNG pictures that
`python -m mnist_core.eval --explain` writes, misclassified first."""

import json
import struct
import zlib

import numpy as np
import pytest

import cupy_backends
import reference_impl
from conftest import SHIPPED_MODELS
from mnist_core.eval import main as eval_main
from mnist_core.explain import OCCLUSION_PATCH, explain, layer_weights, occlusion, unit_weights
from mnist_core.formats.idx import write_idx_images, write_idx_labels
from mnist_core.formats.png import png_bytes, write_png
from mnist_core.models import load_model, model_class
from mnist_core.pictures import explain_order

ARCHS = ("mnist-fc", "mnist-cnn")
ACTIVATIONS = {
    "mnist-fc": {"fc1.relu": [500], "logits": [10], "softmax": [10]},
    "mnist-cnn": {"conv1.relu": [8, 28, 28], "conv1.pool": [8, 14, 14], "conv2.relu": [16, 14, 14],
                  "conv2.pool": [16, 7, 7], "dense.input": [784], "logits": [10], "softmax": [10]},
}
FD_STEP = 1e-5          # in x = pixel / 255; the network is piecewise linear: within one piece any step is exact
FD_IMAGES = (0, 1, 2)   # test images checked pixel by pixel (the third against a digit other than the runner-up)
cupy_backend = cupy_backends.cupy_backend  # the fixture: the stand-in, and real CuPy where there is a GPU


@pytest.fixture(scope="module")
def models():
    return {arch: load_model(SHIPPED_MODELS[arch]) for arch in ARCHS}


def float64_model(arch):
    return model_class(arch)(load_model(SHIPPED_MODELS[arch]).host_params(), dtype=np.float64)


def switches(arch, layers):
    """Per image, the state of every kink of the network: each ReLU's sign and, for the CNN, each max-pool
    window's winner (-1 where the whole window is at or below zero, so that no gradient flows through it).
    Within a set of inputs sharing one state the logits are linear in the pixels."""
    parts = []
    for name in ("fc1",) if arch == "mnist-fc" else ("conv1", "conv2"):
        pre = layers[name]
        parts.append((pre > 0).reshape(len(pre), -1))
        if pre.ndim == 4:
            n, c, h, w = pre.shape
            windows = pre.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
            windows = windows.reshape(n, c, h // 2, w // 2, 4)   # positions as pool.py numbers them
            parts.append(np.where(windows.max(axis=-1) > 0, windows.argmax(axis=-1), -1).reshape(n, -1))
    return np.concatenate(parts, axis=1)


def in_slices(function, x, size=200):
    return np.concatenate([function(x[i:i + size]) for i in range(0, len(x), size)])


@pytest.mark.parametrize("arch", ARCHS)
def test_saliency_equals_central_differences_of_the_model_s_own_logits(arch, mnist_test):
    """Per pixel, float64, on real test images: where no ReLU changes state and no max-pool window changes winner
    within the step (found with the independent reference), the saliency is the finite difference."""
    model = float64_model(arch)
    params = model.host_params()
    images, _ = mnist_test
    for case, index in enumerate(FD_IMAGES):
        result = explain(model, images[index])
        if case == 2:
            versus = next(d for d in range(9, -1, -1) if d not in (result["digit"], result["runner_up"]))
            result = explain(model, images[index], versus=versus)
            assert result["versus"] == versus
        digit, versus = result["digit"], result["versus"]
        x = model.prepare_input(images[index][None]).astype(np.float64)[0]        # the point explain differentiates at
        steps = np.eye(784).reshape(784, 28, 28) * FD_STEP
        batch = np.concatenate([x[None], x + steps, x - steps])                    # (1 + 2 * 784, 28, 28)
        logits = in_slices(lambda part: model.forward(part)[0], batch)
        difference = logits[:, digit] - logits[:, versus]
        numeric = (difference[1:785] - difference[785:]) / (2 * FD_STEP)
        state = in_slices(lambda part: switches(arch, reference_impl.LAYERS[arch](params, part)), batch)
        smooth = (state[1:785] == state[0]).all(axis=1) & (state[785:] == state[0]).all(axis=1)
        # The FC's kinks are rarely within 1e-5 of a pixel; the CNN's max-pool windows tie all over the blank
        # background (every input 0), so there most pixels switch a winner: the ink and its surroundings remain.
        assert smooth.sum() >= (700 if arch == "mnist-fc" else 60), (index, smooth.sum())
        assert smooth[images[index].reshape(-1) > 128].mean() > 0.5, index
        saliency = np.array(result["saliency"])[smooth]
        numeric = numeric[smooth]
        cosine = saliency @ numeric / (np.linalg.norm(saliency) * np.linalg.norm(numeric))
        assert cosine >= 0.999, (index, cosine)
        np.testing.assert_allclose(saliency, numeric, rtol=0, atol=1e-6 * np.abs(numeric).max(), err_msg=str(index))


@pytest.mark.parametrize("arch", ARCHS)
def test_activations_equal_an_independent_forward_pass(arch, models, mnist_test):
    """Every layer explain shows, against tests/reference_impl.py (float64, channels first, conv + bias, ReLU, then
    pool as the reference does it); the digit, runner-up and probabilities follow from its logits."""
    model = models[arch]
    images, _ = mnist_test
    for index in (3, 4, 5):
        result = explain(model, images[index])
        expected = reference_impl.LAYERS[arch](model.host_params(), images[index][None] / 255.0)
        expected = {name: values[0] for name, values in expected.items()}
        logits = expected["logits"]
        expected["softmax"] = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        activations = result["activations"]
        assert {name: entry["shape"] for name, entry in activations.items()} == ACTIVATIONS[arch]
        for name, entry in activations.items():
            assert list(expected[name].shape) == entry["shape"], name
            np.testing.assert_allclose(entry["values"], expected[name].ravel(), rtol=1e-4,
                                       atol=1e-5 * np.abs(expected[name]).max(), err_msg=name)
        order = np.argsort(-logits)
        assert (result["digit"], result["runner_up"], result["versus"]) == (order[0], order[1], order[1])
        assert result["logits"] == activations["logits"]["values"]
        assert result["probabilities"] == activations["softmax"]["values"]
        # the very probabilities a plain prediction gives, so the page's bars agree with its view
        assert result["probabilities"] == model.predict_proba(images[index][None])[0].tolist()
        assert len(result["saliency"]) == 784 and all(type(v) is float for v in result["saliency"])


def test_the_cnn_s_maps_after_relu_pool_to_its_pooled_maps(models, mnist_test):
    """The full-resolution maps come from the conv output the forward pass kept; their 2x2 maxima are the maps
    the network actually used."""
    activations = explain(models["mnist-cnn"], mnist_test[0][7])["activations"]
    for layer, (c, h, w) in (("conv1", (8, 28, 28)), ("conv2", (16, 14, 14))):
        full = np.reshape(activations[f"{layer}.relu"]["values"], (c, h, w))
        pooled = np.reshape(activations[f"{layer}.pool"]["values"], (c, h // 2, w // 2))
        np.testing.assert_array_equal(full.reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4)), pooled)


def test_explain_takes_the_page_s_bytes_and_refuses_other_images(models, mnist_test):
    image = mnist_test[0][9]
    assert explain(models["mnist-fc"], image.tobytes()) == explain(models["mnist-fc"], image.reshape(784))
    for bad in (image.astype(np.float32), image[:27], b"\x00" * 783):
        with pytest.raises(ValueError, match="784 uint8 pixels"):
            explain(models["mnist-fc"], bad)
    with pytest.raises(ValueError, match="digit 0..9"):
        explain(models["mnist-fc"], image, versus=10)


@pytest.mark.parametrize("arch", ARCHS)
def test_explain_and_occlusion_on_the_cupy_path_equal_numpys(arch, models, mnist_test, cupy_backend):
    module, _ = cupy_backend
    on_host = models[arch]
    on_device = on_host.to(module)
    for index in (10, 11):
        image = mnist_test[0][index]
        assert_same_explanation(explain(on_device, image), explain(on_host, image), rtol=1e-5)
        np.testing.assert_allclose(occlusion(on_device, image)["drop"], occlusion(on_host, image)["drop"], atol=1e-6)
    assert layer_weights(on_device, layer_name(arch)) == layer_weights(on_host, layer_name(arch))


def layer_name(arch):
    return "fc1" if arch == "mnist-fc" else "conv1"


def assert_same_explanation(found, expected, rtol):
    """Equal predictions, and every array equal to rtol (of the largest magnitude in it, for the saliency)."""
    for key in ("arch", "digit", "runner_up", "versus"):
        assert found[key] == expected[key], key
    assert found["activations"].keys() == expected["activations"].keys()
    for name, entry in expected["activations"].items():
        assert found["activations"][name]["shape"] == entry["shape"], name
        np.testing.assert_allclose(found["activations"][name]["values"], entry["values"], rtol=rtol,
                                   atol=rtol * max(1e-3, np.abs(entry["values"]).max()), err_msg=name)
    np.testing.assert_allclose(found["saliency"], expected["saliency"], rtol=0,
                               atol=rtol * np.abs(expected["saliency"]).max())


def test_occlusion_erasing_ink_lowers_the_digit_and_erasing_background_changes_nothing(models, mnist_test):
    images, _ = mnist_test
    for arch, model in models.items():
        predictions = model.predict_proba(images[:1000])
        unsure = np.flatnonzero(predictions.max(axis=1) < 0.9)[:3]   # where erasing a stroke shows clearly
        for index in unsure:
            image = images[index]
            found = occlusion(model, image)
            assert found["digit"] == predictions[index].argmax() and found["patch"] == OCCLUSION_PATCH
            assert np.isclose(found["probability"], predictions[index].max(), rtol=1e-5)
            drop = np.reshape(found["drop"], (28, 28))
            assert drop.max() > 0.05, (arch, index)   # erasing some part of the digit costs it probability
            # Pixels with no ink within patch - 1 of them: every square covering them is blank, and erasing
            # a blank square leaves the image as it was.
            reach = OCCLUSION_PATCH - 1
            ink = np.pad(image > 0, reach)
            near_ink = np.lib.stride_tricks.sliding_window_view(ink, (2 * reach + 1,) * 2).any(axis=(2, 3))
            assert (~near_ink).sum() > 50 and np.abs(drop[~near_ink]).max() < 1e-6, (arch, index)


def test_occlusion_with_squares_side_by_side_is_each_square_erased_by_hand(models, mnist_test):
    """patch = stride: every pixel lies in one square, and its drop is that square's."""
    image = mnist_test[0][0]
    for model in models.values():
        found = occlusion(model, image, patch=4, stride=4)
        drop = np.reshape(found["drop"], (28, 28))
        erased = np.repeat(image[None], 49, axis=0).reshape(7, 7, 28, 28)
        for y in range(7):
            for x in range(7):
                erased[y, x, 4 * y:4 * y + 4, 4 * x:4 * x + 4] = 0
        probabilities = model.predict_proba(np.concatenate([image[None], erased.reshape(49, 28, 28)]))
        by_hand = probabilities[0, found["digit"]] - probabilities[1:, found["digit"]]
        np.testing.assert_allclose(drop[::4, ::4].ravel(), by_hand, atol=1e-6)
        np.testing.assert_array_equal(drop, np.kron(drop[::4, ::4], np.ones((4, 4))))


def test_occlusion_covers_every_pixel_whatever_the_patch_and_stride(models, mnist_test):
    image = mnist_test[0][0]
    for patch, stride in ((4, 2), (5, 3), (7, 7), (28, 1), (1, 1)):
        found = occlusion(models["mnist-fc"], image, patch=patch, stride=stride)
        assert len(found["drop"]) == 784 and np.isfinite(found["drop"]).all()
    for patch, stride in ((0, 1), (4, 5), (29, 1)):
        with pytest.raises(ValueError, match="stride <= patch"):
            occlusion(models["mnist-fc"], image, patch=patch, stride=stride)


def test_weights_for_the_page_are_the_model_s_parameters(models):
    fc, cnn = models["mnist-fc"], models["mnist-cnn"]
    unit = unit_weights(fc, 123)
    assert unit["input"]["shape"] == [28, 28] and unit["output"]["shape"] == [10]
    np.testing.assert_array_equal(unit["input"]["values"], fc.params["fc1.weight"][123])
    np.testing.assert_array_equal(unit["output"]["values"], fc.params["fc2.weight"][:, 123])
    assert unit["bias"] == float(fc.params["fc1.bias"][123])
    conv1, conv2 = layer_weights(cnn, "conv1"), layer_weights(cnn, "conv2")
    assert conv1["kernel"]["shape"] == [8, 1, 3, 3] and conv2["kernel"]["shape"] == [16, 8, 3, 3]
    np.testing.assert_array_equal(np.reshape(conv2["kernel"]["values"], (16, 8, 3, 3)), cnn.params["conv2.kernel"])
    np.testing.assert_array_equal(conv1["bias"]["values"], cnn.params["conv1.bias"].ravel())
    assert set(layer_weights(fc, "fc2")) == {"weight", "bias"}
    with pytest.raises(ValueError, match="no layer 'conv1'; its layers are fc1, fc2"):
        layer_weights(fc, "conv1")
    with pytest.raises(ValueError, match="no hidden units"):
        unit_weights(cnn, 0)
    with pytest.raises(ValueError, match="out of range 0..499"):
        unit_weights(fc, 500)


# --- The page's App: the same results, arrays as flat float32 arrays ------------------------------------------


def floats(values):
    """A flat float32 array from App (mnist_core/browser/inside.py) -> the floats it holds, as explain's lists give
    them."""
    assert isinstance(values, np.ndarray) and values.dtype == np.float32 and values.ndim == 1
    return values.astype(np.float64)


def unpacked(array):
    return {"shape": array["shape"], "values": floats(array["values"]).tolist()}


@pytest.fixture(scope="module")
def app():
    from mnist_core.browser import App

    app = App()
    for arch in ARCHS:
        app.load_shipped_model(arch, SHIPPED_MODELS[arch].read_bytes())
    return app


@pytest.mark.parametrize("arch", ARCHS)
def test_app_s_explain_is_explain_on_the_selected_model(app, models, arch, mnist_test):
    app.select_model(arch)
    images, _ = mnist_test
    for index, versus in ((0, None), (8, None), (184, 4)):
        found = app.explain(images[index].tobytes(), versus=versus)
        expected = explain(models[arch], images[index], versus=versus)
        assert found["model"] == arch
        assert {key: found[key] for key in ("arch", "digit", "runner_up", "versus", "logits", "probabilities")} == \
            {key: expected[key] for key in ("arch", "digit", "runner_up", "versus", "logits", "probabilities")}
        assert {name: unpacked(array) for name, array in found["activations"].items()} == expected["activations"]
        assert floats(found["saliency"]).tolist() == expected["saliency"] and len(found["saliency"]) == 784


@pytest.mark.parametrize("arch", ARCHS)
def test_app_s_occlusion_and_weights_are_mnist_core_explain_s(app, models, arch, mnist_test):
    app.select_model(arch)
    image = mnist_test[0][87]
    found, expected = app.occlude_image(image.tobytes()), occlusion(models[arch], image)
    assert found["model"] == arch and found["digit"] == expected["digit"] and found["patch"] == expected["patch"]
    np.testing.assert_array_equal(floats(found["drop"]), np.float32(expected["drop"]))  # sent as float32
    layer = layer_name(arch)
    weights = app.model_weights(layer)
    assert weights["model"] == arch and weights["layer"] == layer
    assert {kind: unpacked(weights[kind]) for kind in layer_weights(models[arch], layer)} == \
        layer_weights(models[arch], layer)
    if arch == "mnist-fc":
        unit = app.unit_weights(42)
        expected = unit_weights(models[arch], 42)
        assert unit["model"] == arch and unit["unit"] == 42 and unit["bias"] == expected["bias"]
        assert unpacked(unit["input"]) == expected["input"] and unpacked(unit["output"]) == expected["output"]
    else:
        with pytest.raises(ValueError, match="no hidden units"):
            app.unit_weights(42)


@pytest.mark.parametrize("arch", ARCHS)
def test_app_s_training_weights_are_the_first_layer_of_the_model_training(arch, mnist_test):
    from mnist_core.browser import App

    app = App()
    with pytest.raises(ValueError, match="no training run is going"):
        app.training_weights()
    app.training.images, app.training.labels = mnist_test          # any labelled images will do here
    app.start_training(arch, epochs=1, limit=600)
    before = app.training_weights()
    app.training_step()
    after = app.training_weights()
    model, step = app.training.model_so_far()
    assert (before["step"], after["step"], after["arch"]) == (0, step, arch) and step == 1
    if arch == "mnist-fc":
        assert after["layer"] == "fc1" and after["weights"]["shape"] == [64, 28, 28]
        expected = model.params["fc1.weight"][:64]
    else:
        assert after["layer"] == "conv1" and after["weights"]["shape"] == [8, 1, 3, 3]
        expected = model.params["conv1.kernel"]
    np.testing.assert_array_equal(floats(after["weights"]["values"]).reshape(expected.shape), expected)
    assert not np.array_equal(before["weights"]["values"], after["weights"]["values"])   # a step changed them
    assert app.training_weights(units=3)["weights"]["shape"][0] == (3 if arch == "mnist-fc" else 8)
    app.abandon_training()


# --- Under Node, in Pyodide: the page's own Python ------------------------------------------------------------

PYODIDE_SCRIPT = """
import json
from mnist_core.explain import explain, layer_weights, occlusion, unit_weights
from mnist_core.formats.idx import read_idx_pair
from mnist_core.models import load_model

images, _ = read_idx_pair("/site/data/t10k-images-idx3-ubyte", "/site/data/t10k-labels-idx1-ubyte")
found = {}
for arch in ("mnist-fc", "mnist-cnn"):
    model = load_model(open(f"/site/models/{arch}-f32.gguf", "rb").read(), name=arch)
    found[arch] = {"explain": [explain(model, images[i].tobytes()) for i in INDICES],
                   "versus": explain(model, images[INDICES[0]], versus=4),
                   "occlusion": occlusion(model, images[INDICES[0]])}
found["unit"] = unit_weights(load_model(open("/site/models/mnist-fc-f32.gguf", "rb").read()), 7)
found["conv2"] = layer_weights(load_model(open("/site/models/mnist-cnn-f32.gguf", "rb").read()), "conv2")
json.dump(found, open("/out/explained.json", "w"))
{"done": True}
"""
PYODIDE_INDICES = (0, 8, 87, 184)  # 87 is misread by the CNN, 184 by both


@pytest.mark.browser
def test_explain_under_pyodide_equals_native(site, tmp_path):
    from web_support import run_in_pyodide, site_model_path, site_test_set

    script = PYODIDE_SCRIPT.replace("INDICES", repr(PYODIDE_INDICES))
    assert run_in_pyodide(site, script, tmp_path) == {"done": True}
    found = json.loads((tmp_path / "explained.json").read_text())
    images, _ = site_test_set(site)
    for arch in ARCHS:
        model = load_model(site_model_path(arch, site))
        # einsum there, BLAS here: float32 sums in another order
        for index, there in zip(PYODIDE_INDICES, found[arch]["explain"], strict=True):
            assert_same_explanation(there, explain(model, images[index]), rtol=1e-4)
        assert_same_explanation(found[arch]["versus"], explain(model, images[PYODIDE_INDICES[0]], versus=4), 1e-4)
        np.testing.assert_allclose(found[arch]["occlusion"]["drop"],
                                   occlusion(model, images[PYODIDE_INDICES[0]])["drop"], atol=1e-5)
    assert found["unit"] == unit_weights(load_model(site_model_path("mnist-fc", site)), 7)
    assert found["conv2"] == layer_weights(load_model(site_model_path("mnist-cnn", site)), "conv2")


# --- PNG pictures on the desktop -----------------------------------------------------------------------------

def read_png(path):
    """Decode the PNGs we write (8-bit grey, RGB or RGBA, filter 0 on every row) with zlib, checking every chunk's
    CRC; -> uint8 (H, W, channels)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    position, chunks = 8, []
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(kind + body), (path, kind)
        chunks.append((kind, body))
        position += 12 + length
    assert [kind for kind, _ in chunks][0] == b"IHDR" and chunks[-1] == (b"IEND", b""), path
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, compression, filtering, interlace) == (8, 0, 0, 0), path
    channels = {0: 1, 2: 3, 6: 4}[colour]
    rows = np.frombuffer(zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT")), np.uint8)
    rows = rows.reshape(height, 1 + width * channels)
    assert (rows[:, 0] == 0).all(), path
    return rows[:, 1:].reshape(height, width, channels)


def test_png_round_trips_grey_rgb_and_rgba(tmp_path):
    rng = np.random.default_rng(0)
    for shape in ((5, 7), (3, 1, 3), (1, 4, 4), (28, 28, 3)):
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        write_png(tmp_path / "p.png", pixels)
        np.testing.assert_array_equal(read_png(tmp_path / "p.png"), pixels.reshape(*shape[:2], -1))
    for bad in (np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.uint8), np.zeros((0, 4), np.uint8)):
        with pytest.raises(ValueError, match="PNG pixels"):
            png_bytes(bad)


def test_explain_order_puts_the_misclassified_first():
    assert explain_order([1, 2, 3, 4, 5], [1, 0, 3, 0, 5]).tolist() == [1, 3, 0, 2, 4]


@pytest.mark.parametrize("arch", ARCHS)
def test_eval_explain_writes_the_pictures_misclassified_first(arch, mnist_test, tmp_path, capsys):
    images, labels = mnist_test
    images, labels = images[:6].copy(), labels[:6].copy()
    labels[[2, 4]] = (labels[[2, 4]] + 1) % 10        # two images the model must now get wrong
    write_idx_images(tmp_path / "images", images)
    write_idx_labels(tmp_path / "labels", labels)
    out = tmp_path / "pictures"
    args = [str(SHIPPED_MODELS[arch]), str(tmp_path / "images"), str(tmp_path / "labels"), "--seed", "1"]
    assert eval_main(args) == 0
    plain = capsys.readouterr().out.splitlines()
    assert eval_main([*args, "--explain", "3", "--explain-dir", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    # ggml's lines unchanged (but for their timings), then one line more
    timed = ("main: loaded model in", "mnist_model_eval:")
    assert [line for line in printed[:-1] if not line.startswith(timed)] == [
        line for line in plain if not line.startswith(timed)]
    assert printed[-1] == f"explain: pictures of 3 test images (2 misclassified) in {out}"
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    predictions = load_model(SHIPPED_MODELS[arch]).predict(images)
    assert folders == [f"{rank:03d}-test{index:05d}-label{labels[index]}-predicted{predictions[index]}"
                       for rank, index in enumerate((2, 4, 0))]
    weights = ["weights-fc1.png"] if arch == "mnist-fc" else ["weights-conv1.png", "weights-conv2.png"]
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == weights
    expected = {"input.png", "occlusion.png", *(f"{name}.png" for name in ACTIVATIONS[arch])}
    for folder in folders:
        names = {p.name for p in (out / folder).iterdir()}
        saliency = {name for name in names if name.startswith("saliency-")}
        assert names - saliency == expected and len(saliency) == 1, names
        for path in (out / folder).iterdir():
            picture = read_png(path)
            assert picture.shape[2] == 3 and picture.std() > 0, path   # RGB, and not blank
        shown = read_png(out / folder / "input.png")[::8, ::8, 0]      # 8 picture pixels an MNIST pixel, ink dark
        index = int(folder.split("-test")[1][:5])
        assert (np.corrcoef(shown.ravel(), images[index].ravel())[0, 1]) < -0.99
    assert not list(out.rglob(".*.tmp"))  # written atomically: no temporary file left behind
