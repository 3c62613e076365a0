"""Learning from corrections: the user says which digit a drawing was, and the selected model is fine-tuned on it.

A correction is the 28x28 image the model saw and the user's label. The corrections are kept here
and by the page (IndexedDB, web/storage.js), which hands them back after a reload; the fine-tuning
itself is mnist_core.training.finetune, with replay of MNIST training images (never the test images:
the test set's guard refuses a correction of one). Each model keeps the weights it had before its
first correction, so that `forget` can give them back.
"""

import numpy as np

from ..formats.gguf_constants import KEY_CORRECTIONS, KEY_FINETUNE_PREFIX
from ..formats.idx import read_idx_pair
from ..mnist import IMAGE_SIZE, N_CLASSES, N_PIXELS
from ..models import ARCHITECTURES
from ..training.finetune import FinetuneConfig, Finetuner
from .convert import to_bytes

REPLAY_NAMES = ("replay-images-idx3-ubyte", "replay-labels-idx1-ubyte")  # as build_wasm.py names them


def _params_copy(model):
    """The model's parameters as NumPy arrays of their own (host_params may share the model's arrays)."""
    return {name: np.array(value, copy=True) for name, value in model.host_params().items()}


class Learning:
    """The corrections, the fine-tuning of each model in `models` (a ModelRegistry) on them, and undoing it."""

    def __init__(self, models, test_set, config=None):
        self.models, self.test_set = models, test_set
        self.config = config or FinetuneConfig()
        self.replay_images = self.replay_labels = None
        self.images = np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)   # (K, 28, 28), oldest first
        self.labels = np.zeros(0, dtype=np.uint8)                             # (K,)
        self._finetuners = {}   # model name -> Finetuner (its AdamW state lasts across corrections)
        self._originals = {}    # model name -> host params before its first correction (None: not known)

    @property
    def count(self):
        return int(self.labels.size)

    def load_replay(self, images_bytes, labels_bytes):
        """Read the MNIST training images replayed while fine-tuning (IDX bytes, raw or gzipped); returns how many."""
        self.replay_images, self.replay_labels = read_idx_pair(
            to_bytes(images_bytes), to_bytes(labels_bytes), images_name=REPLAY_NAMES[0], labels_name=REPLAY_NAMES[1])
        return int(self.replay_labels.size)

    def correct(self, image, label):
        """`image` (28, 28) uint8, the one the selected model saw, was the digit `label`: keep it and fine-tune the
        selected model. Returns {"count" (corrections kept), "learned" (corrections this model has learned),
        "steps" (AdamW steps taken)}; `consolidate` then has steps to make."""
        label = int(label)
        if not 0 <= label < N_CLASSES:
            raise ValueError(f"a correction's label is a digit from 0 to 9, got {label}")
        refusal = self.test_set.refusal(image)
        if refusal:
            raise ValueError(refusal)
        if self.replay_images is None:
            raise ValueError("the replay images (MNIST training images) are not loaded")
        self.images = np.concatenate([self.images, image[None]])
        self.labels = np.append(self.labels, np.uint8(label))
        name = self.models.selected
        learned = self._finetuner(name).learn(self.images, self.labels)
        model = self.models.get(name)
        model.metadata[KEY_CORRECTIONS] = int(model.metadata.get(KEY_CORRECTIONS, 0)) + 1
        model.metadata.update(self.config.as_metadata())
        return {"count": self.count, "learned": model.metadata[KEY_CORRECTIONS], "steps": learned["steps"]}

    def consolidate(self, steps=1):
        """Make up to `steps` of the consolidation steps the last corrections left (Finetuner.consolidate: they
        pull MNIST back into place); returns how many are still to make."""
        left, steps = 0, int(steps)
        for finetuner in self._finetuners.values():
            before = finetuner.consolidation_left
            if before and steps > 0:
                steps -= before - finetuner.consolidate(steps)
            left += finetuner.consolidation_left
        return left

    def restore_corrections(self, images_bytes, labels_bytes):
        """Take back corrections kept by the page: K*784 image bytes and K label bytes (nothing is fine-tuned).
        Returns (how many were taken back, [why each refused one was left out])."""
        images = np.frombuffer(to_bytes(images_bytes), dtype=np.uint8)
        labels = np.frombuffer(to_bytes(labels_bytes), dtype=np.uint8)
        if images.size != labels.size * N_PIXELS or (labels >= N_CLASSES).any():
            raise ValueError(f"stored corrections: {images.size} image bytes for {labels.size} labels "
                             f"(expected {N_PIXELS} per label, labels 0 to 9)")
        images = images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
        refusals = [self.test_set.refusal(image) for image in images]
        keep = np.array([refusal is None for refusal in refusals], dtype=bool)
        self.images, self.labels = images[keep].copy(), labels[keep].copy()
        return self.count, [f"stored correction {k + 1}: {r}" for k, r in enumerate(refusals) if r is not None]

    def restore_learned(self, name, model):
        """A model fine-tuned before a reload comes back under `name` (without being selected); what it replaces,
        if loaded, is what `forget` gives back."""
        if name in self.models:
            self._originals.setdefault(name, _params_copy(self.models.get(name)))
        else:
            self._originals.setdefault(name, None)
        self.models.put(name, model)
        self._finetuners.pop(name, None)

    def forget(self):
        """Drop every correction and give each fine-tuned model its weights from before. A model whose weights
        from before are not known (fine-tuned on an earlier visit) leaves the list: a shipped one is loaded again
        from the site when it is next selected. Returns {"reset", "removed" (names gone from the list for good),
        "unloaded" (shipped names to load again)}."""
        reset, removed, unloaded = [], [], []
        for name, params in self._originals.items():
            if name not in self.models:
                continue
            if params is None:
                self.models.remove(name)
                (unloaded if name in ARCHITECTURES else removed).append(name)
                continue
            model = self.models.get(name)
            for tensor, values in params.items():
                model.params[tensor][...] = model.xp.asarray(values)
            for key in [k for k in model.metadata if k.startswith(KEY_FINETUNE_PREFIX)]:
                del model.metadata[key]
            reset.append(name)
        self._originals.clear()
        self._finetuners.clear()
        self.images, self.labels = self.images[:0], self.labels[:0]
        return {"reset": reset, "removed": removed, "unloaded": unloaded}

    def drop(self, name):
        """A model left the list: its fine-tuning state goes with it."""
        self._finetuners.pop(name, None)
        self._originals.pop(name, None)

    def _finetuner(self, name):
        if name not in self._finetuners:
            model = self.models.get(name)
            self._originals.setdefault(name, _params_copy(model))
            self._finetuners[name] = Finetuner(model, self.replay_images, self.replay_labels, self.config,
                                               seed=self.count)
        return self._finetuners[name]
