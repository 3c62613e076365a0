"""Learning from corrections: the user says which digit a drawing was, and the selected model is fine-tuned on it.

A correction is the 28x28 image the model saw and the user's label. The corrections are kept
here and by the page (IndexedDB, web/storage.js), which hands them back after a reload; the
fine-tuning itself is mnist_core.training.finetune, with replay of MNIST training images (never
the test images: a correction that is a test image, or nearly, is refused: test_image_guard.py).
Each model in the list keeps the weights it had before its first correction, so that
`forget_corrections` can give them back.
"""

import time

import numpy as np

from ..formats.idx import read_idx_pair
from ..models import load_model
from ..training.finetune import METADATA_PREFIX, FinetuneConfig, Finetuner
from .convert import to_bytes
from .test_image_guard import TestImageGuard

CORRECTIONS_KEY = METADATA_PREFIX + "corrections"  # how many corrections a model file has learned
REPLAY_NAMES = ("replay-images-idx3-ubyte", "replay-labels-idx1-ubyte")  # as build_wasm.py names them


def _image28(data):
    image = np.frombuffer(to_bytes(data), dtype=np.uint8)
    if image.size != 784:
        raise ValueError(f"expected 784 uint8 pixels (28x28), got {image.size}")
    return image.reshape(28, 28)


def _params_copy(model):
    """The model's parameters as NumPy arrays of their own (host_params may share the model's arrays)."""
    return {name: np.array(value, copy=True) for name, value in model.host_params().items()}


class Learning:
    """The corrections, the fine-tuning of each model on them, and undoing it."""

    def _init_learning(self):
        self._init_corrections()
        self.replay_images = self.replay_labels = None
        self.finetuners = {}        # model name -> Finetuner (its AdamW state lasts across corrections)
        self.original_params = {}   # model name -> host params before its first correction (None: unknown)
        self.finetune_config = FinetuneConfig()
        self.test_image_guard = None  # TestImageGuard of the loaded test set, made when first needed

    def load_replay_set(self, images_bytes, labels_bytes):
        """Load the MNIST training images replayed while fine-tuning (IDX bytes, raw or gzipped)."""
        self.replay_images, self.replay_labels = read_idx_pair(
            to_bytes(images_bytes), to_bytes(labels_bytes), images_name=REPLAY_NAMES[0], labels_name=REPLAY_NAMES[1])
        return {"count": int(self.replay_labels.size)}

    def has_replay_set(self):
        return self.replay_images is not None

    def correct(self, image28, label):
        """The image the model saw (784 bytes) was the digit `label`: keep it and fine-tune the selected model.

        Returns the selected model's new prediction for the image (as `predict_image`), plus
        "count" (corrections kept), "learned" (corrections this model has learned), "steps"
        (AdamW steps taken) and "learn_ms". `consolidate` then has steps to make.
        """
        label = int(label)
        if not 0 <= label <= 9:
            raise ValueError(f"a correction's label is a digit from 0 to 9, got {label}")
        image = _image28(image28)
        self._refuse_test_image(image)
        if self.replay_images is None:
            raise ValueError("the replay images (MNIST training images) are not loaded")
        self.correction_images = np.concatenate([self.correction_images, image[None]])
        self.correction_labels = np.append(self.correction_labels, np.uint8(label))
        started = time.perf_counter()
        learned = self._finetuner().learn(self.correction_images, self.correction_labels)
        model = self._model()
        model.metadata[CORRECTIONS_KEY] = int(model.metadata.get(CORRECTIONS_KEY, 0)) + 1
        model.metadata.update(self.finetune_config.as_metadata())
        result = self.predict_image(image)
        result.update(count=int(self.correction_labels.size), learned=model.metadata[CORRECTIONS_KEY],
                      steps=learned["steps"], learn_ms=(time.perf_counter() - started) * 1000)
        return result

    def consolidate(self, steps=1):
        """Make up to `steps` of the consolidation steps the last corrections left (Finetuner.consolidate: they
        pull MNIST back into place); returns {"left": how many are still to make}."""
        left, steps = 0, int(steps)
        for finetuner in self.finetuners.values():
            before = finetuner.consolidation_left
            if before and steps > 0:
                steps -= before - finetuner.consolidate(steps)
            left += finetuner.consolidation_left
        return {"left": left}

    def corrections_count(self):
        return {"count": int(self.correction_labels.size)}

    def restore_corrections(self, images_bytes, labels_bytes):
        """Take back corrections kept by the page: K*784 image bytes and K label bytes (nothing is fine-tuned).

        A stored correction that is a test image (or nearly: test_image_guard.py) is dropped, not restored: the
        others come back. Returns {"count": corrections kept, "dropped": how many were dropped, "message": one
        line saying why, or None}.
        """
        images = np.frombuffer(to_bytes(images_bytes), dtype=np.uint8)
        labels = np.frombuffer(to_bytes(labels_bytes), dtype=np.uint8)
        if images.size != labels.size * 784 or (labels > 9).any():
            raise ValueError(f"stored corrections: {images.size} image bytes for {labels.size} labels "
                             "(expected 784 per label, labels 0 to 9)")
        images = images.reshape(-1, 28, 28)
        refusals = [self._test_image_refusal(image) for image in images]
        kept = np.array([refusal is None for refusal in refusals], dtype=bool)
        self.correction_images = images[kept].copy()
        self.correction_labels = labels[kept].copy()
        dropped = [refusal for refusal in refusals if refusal is not None]
        message = f"{len(dropped)} stored correction(s) dropped; the first: {dropped[0]}" if dropped else None
        return {**self.corrections_count(), "dropped": len(dropped), "message": message}

    def restore_learned(self, name, learned_bytes, original_bytes=None):
        """Put back a model fine-tuned before a reload under `name`, without selecting it.

        `original_bytes` (the model it started from, e.g. the shipped file) is what
        `forget_corrections` returns to; without it, forgetting takes the model out of the list.
        """
        learned = load_model(to_bytes(learned_bytes), name=f"{name} (learned, stored in this browser)")
        if original_bytes is not None:
            original = load_model(to_bytes(original_bytes), name=name)
            self.original_params[name] = original.host_params()
        elif name in self.models:
            self.original_params.setdefault(name, _params_copy(self.models[name]))
        else:
            self.original_params[name] = None
        self.models[name] = learned
        self.finetuners.pop(name, None)
        return self.describe_model(name)

    def forget_corrections(self):
        """Drop every correction and give each fine-tuned model its weights from before; returns
        {"count": 0, "reset": [names given back], "removed": [names taken out of the list]}."""
        reset, removed = [], []
        for name, params in self.original_params.items():
            if name not in self.models:
                continue
            if params is None:
                del self.models[name]
                removed.append(name)
                continue
            model = self.models[name]
            for tensor, values in params.items():
                model.params[tensor][...] = model.xp.asarray(values)
            for key in [k for k in model.metadata if k.startswith(METADATA_PREFIX)]:
                del model.metadata[key]
            reset.append(name)
        if self.arch in removed:
            self.arch = next(iter(self.models), None)
        self.original_params.clear()
        self.finetuners.clear()
        self._init_corrections()
        return {"count": 0, "reset": reset, "removed": removed, "selected": self.arch}

    def _init_corrections(self):
        self.correction_images = np.zeros((0, 28, 28), dtype=np.uint8)   # (K, 28, 28), oldest first
        self.correction_labels = np.zeros(0, dtype=np.uint8)              # (K,)

    def _finetuner(self):
        name = self.arch
        if name not in self.finetuners:
            model = self._model()
            self.original_params.setdefault(name, _params_copy(model))
            seed = int(self.correction_labels.size)
            self.finetuners[name] = Finetuner(model, self.replay_images, self.replay_labels, self.finetune_config, seed)
        return self.finetuners[name]

    def _refuse_test_image(self, image):
        refusal = self._test_image_refusal(image)
        if refusal is not None:
            raise ValueError(refusal)

    def _test_image_refusal(self, image):
        """None, or why `image` may not be trained on (it is a test image, or nearly)."""
        if self.test_images is None:
            return None
        if self.test_image_guard is None or self.test_image_guard.test_images is not self.test_images:
            self.test_image_guard = TestImageGuard(self.test_images)
        return self.test_image_guard.refusal(image)
