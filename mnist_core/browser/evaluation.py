"""The whole test set through the selected model, scored as `python -m mnist_core.eval` scores it.

The page shows what the CLI prints (accuracy and loss with ggml's uncertainties, the time), a
10x10 confusion matrix and the misclassified images; a click on a cell or an image asks for
that test image (`cell_index`), which then shows as Random shows one.
"""

import numpy as np

from ..evaluation import evaluate
from ..mnist import N_CLASSES

PROGRESS_STEP = 1000  # images between progress reports: ten steps for the 10,000 test images
GALLERY_LIMIT = 200   # misclassified images sent to the page at most (a poor model misses thousands)


class _ReportingModel:
    """`model` as `evaluate` uses it (its `xp` and `logits`), calling report(done, total) after each slice."""

    def __init__(self, model, report):
        self.model = model
        self.xp = model.xp
        self.report = report

    def logits(self, images):
        """Logits (N, 10), computed in slices of at most PROGRESS_STEP images (the model slices further as it likes)."""
        n = len(images)
        step = min(self.model.inference_batch, PROGRESS_STEP)
        parts = []
        for start in range(0, n, step):
            parts.append(self.model.logits(images[start:start + step]))
            self.report(min(start + step, n), n)
        return self.xp.concatenate(parts) if len(parts) > 1 else parts[0]


class TestSetEvaluation:
    """The last evaluation of the test set: which model it was of, and its predictions (for the confusion cells)."""

    __test__ = False  # a domain class, not a pytest test class

    def __init__(self):
        self.model_name = None
        self.predictions = None   # int (N,)

    def run(self, model, name, test_set, progress=None):
        """Evaluate `model` (list name `name`) on every image of `test_set`; `progress(done, total)` as it goes.

        Returns the CLI's figures as it prints them (strings: "accuracy" "99.02", "loss" "0.030261" and
        their uncertainties), "ms" (the time the CLI reports: forward pass and loss), "images", the
        confusion matrix "confusion" (10x10 counts, row = label, column = prediction), "misclassified"
        (how many) and the first GALLERY_LIMIT of them as "gallery" ([index, label, prediction] each)
        with their pixels, 784 bytes each, in "gallery_images".
        """
        if not test_set.loaded:
            raise ValueError("the test set is not loaded")
        report = progress if progress is not None else (lambda done, total: None)
        result = evaluate(_ReportingModel(model, report), test_set.images, test_set.labels)
        # intp: np.bincount takes nothing wider, and it is 32 bits in WebAssembly
        predictions = np.asarray(result.predictions, dtype=np.intp)        # (N,)
        labels = test_set.labels.astype(np.intp)                           # (N,)
        self.model_name, self.predictions = name, predictions
        confusion = np.bincount(labels * N_CLASSES + predictions, minlength=N_CLASSES ** 2).reshape(N_CLASSES, -1)
        wrong = np.flatnonzero(predictions != labels)
        shown = wrong[:GALLERY_LIMIT]
        return {
            **result.printed(),
            "model": name,
            "arch": model.arch,
            "images": result.n_images,
            "ms": result.seconds * 1000,
            "confusion": confusion.tolist(),
            "misclassified": int(wrong.size),
            "gallery": [[int(i), int(labels[i]), int(predictions[i])] for i in shown],
            "gallery_images": test_set.images[shown].tobytes(),
        }

    def cell_index(self, test_set, label, predicted, nth=0):
        """(the test image index of the `nth` image (wrapping round) in confusion cell (label, predicted), how many
        the cell holds)."""
        if self.predictions is None:
            raise ValueError("nothing has been evaluated yet")
        label, predicted = int(label), int(predicted)
        indices = np.flatnonzero((test_set.labels == label) & (self.predictions == predicted))
        if indices.size == 0:
            raise ValueError(f"no test image with label {label} was predicted as {predicted}")
        return int(indices[int(nth) % indices.size]), int(indices.size)
