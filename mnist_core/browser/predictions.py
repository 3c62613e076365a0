"""Predictions: the models and test set the page has loaded, and what the model reads in a drawing or a test image."""

import numpy as np

from ..errors import ModelError
from ..formats.idx import read_idx_pair
from ..models import ARCHITECTURES, load_model
from ..preprocess import downscale_canvas, prepare_canvas
from .convert import to_buffer, to_bytes

TOP_K = 3  # how many of the most likely digits the page announces
# Below this top probability the page says "not sure: 7 or 1?" instead of one bold digit; chosen on
# bench/bench_drawn.py as the level that flags most wrong answers while rarely doubting a right one.
UNSURE_BELOW = 0.7


class Predictions:
    """Loaded models (one per architecture, loaded once), the test set, and the predictions the page asks for."""

    def __init__(self, seed=None):
        self.models = {}          # arch -> Model
        self.arch = None          # the selected architecture
        self.test_images = None   # uint8 (N, 28, 28)
        self.test_labels = None   # uint8 (N,)
        self.rng = np.random.default_rng(seed)

    def load_model(self, arch, gguf_bytes, name=None):
        """Load a GGUF model from bytes (`name`: its file, for errors), check it is `arch`, keep it and select it."""
        name = name or f"{arch}.gguf"
        model = load_model(to_bytes(gguf_bytes), name=name)
        if model.arch != arch:
            raise ModelError(name, f"holds a {model.arch} model, expected {arch}")
        self.models[arch] = model
        self.arch = arch
        return {"arch": arch, "parameters": int(sum(p.size for p in model.params.values()))}

    def has_model(self, arch):
        return arch in self.models

    def select_model(self, arch):
        """Switch to an already loaded architecture."""
        if arch not in self.models:
            known = ", ".join(ARCHITECTURES)
            raise ValueError(f"model {arch!r} is not loaded (architectures: {known})")
        self.arch = arch
        return {"arch": arch}

    def load_test_set(self, images_bytes, labels_bytes):
        """Load the MNIST test images and labels (IDX bytes, raw or gzipped)."""
        self.test_images, self.test_labels = read_idx_pair(
            to_bytes(images_bytes), to_bytes(labels_bytes),
            images_name="t10k-images-idx3-ubyte", labels_name="t10k-labels-idx1-ubyte")
        return {"count": int(self.test_labels.size)}

    def predict_canvas(self, pixels, width, height, centre=True):
        """Canvas bytes (RGBA or grayscale, any size) -> the prediction for the drawing.

        centre=True prepares the drawing as MNIST's digits were (mnist_core.preprocess);
        centre=False shrinks the whole canvas to 28x28 as the reference demo does. An empty
        canvas gives {"empty": True, "digit": None, ...}, not an error.
        """
        pixels = to_buffer(pixels)
        image = prepare_canvas(pixels, width, height) if centre else downscale_canvas(pixels, width, height)
        if image is None or (not centre and not image.any()):
            return {"empty": True, "digit": None, "probabilities": [], "top": [], "image28": bytes(784)}
        return self.predict_image(image)

    def predict_image(self, image):
        """A 28x28 uint8 image (array or 784 bytes, ink = 255) -> digit, probabilities, top three, the image."""
        image = np.frombuffer(to_bytes(image), dtype=np.uint8) if not isinstance(image, np.ndarray) else image
        if image.size != 784 or image.dtype != np.uint8:
            raise ValueError(f"expected 784 uint8 pixels (28x28), got {image.size} of {image.dtype}")
        image = image.reshape(1, 28, 28)
        probabilities = self._model().predict_proba(image)[0]     # (10,) float32
        order = np.argsort(-probabilities, kind="stable")[:TOP_K]
        return {
            "empty": False,
            "arch": self.arch,
            "digit": int(order[0]),
            "probabilities": [float(p) for p in probabilities],
            "top": [[int(d), float(probabilities[d])] for d in order],
            "sure": bool(probabilities[order[0]] >= UNSURE_BELOW),
            "image28": image.tobytes(),
        }

    def random_sample(self, seed=None):
        """A random test image (seeded, or from the app's generator), its label and the prediction."""
        if self.test_images is None:
            raise ValueError("the test set is not loaded")
        rng = np.random.default_rng(seed) if seed is not None else self.rng
        index = int(rng.integers(self.test_labels.size))
        return self.sample(index)

    def sample(self, index):
        """Test image `index`, its label and the prediction for it."""
        index = int(index)
        if not 0 <= index < self.test_labels.size:
            raise ValueError(f"test image index {index} is out of range 0..{self.test_labels.size - 1}")
        result = self.predict_image(self.test_images[index])
        result.update(index=index, label=int(self.test_labels[index]))
        return result

    def _model(self):
        if self.arch is None:
            raise ValueError("no model is loaded")
        return self.models[self.arch]

