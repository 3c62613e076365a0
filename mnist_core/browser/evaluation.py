"""Evaluation: the whole test set through the selected model, scored as `python -m mnist_core.eval` scores it.

The page shows what the CLI prints (accuracy and loss with ggml's uncertainties, the time), a
10x10 confusion matrix and the misclassified images; a click on a cell or an image asks for
that test image (`confusion_sample`, `sample`), which then shows as Random shows one.
"""

import numpy as np

from ..evaluation import evaluate
from ..models.base import N_CLASSES

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


class Evaluation:
    """The last evaluation of the test set, and the test images behind each of its confusion cells."""

    def _init_evaluation(self):
        self.evaluated = None  # {"model": name, "predictions": int (N,)} of the last evaluation

    def evaluate_test_set(self, progress=None):
        """Evaluate the selected model on the whole loaded test set; `progress(done, total)` is called as it goes.

        Returns the CLI's figures as it prints them (strings: "accuracy" "99.02", "loss" "0.030261" and
        their uncertainties), "ms" (the time the CLI reports: forward pass and loss), "images", the
        confusion matrix "confusion" (10x10 counts, row = label, column = prediction), "misclassified"
        (how many) and the first GALLERY_LIMIT of them as "gallery" ([index, label, prediction] each)
        with their pixels, 784 bytes each, in "gallery_images".
        """
        if self.test_images is None:
            raise ValueError("the test set is not loaded")
        model = self._model()
        report = progress if progress is not None else (lambda done, total: None)
        result = evaluate(_ReportingModel(model, report), self.test_images, self.test_labels)
        # intp: np.bincount takes nothing wider, and it is 32 bits in WebAssembly
        predictions = np.asarray(result.predictions, dtype=np.intp)        # (N,)
        labels = self.test_labels.astype(np.intp)                          # (N,)
        self.evaluated = {"model": self.arch, "predictions": predictions}
        confusion = np.bincount(labels * N_CLASSES + predictions, minlength=N_CLASSES ** 2).reshape(N_CLASSES, -1)
        wrong = np.flatnonzero(predictions != labels)
        shown = wrong[:GALLERY_LIMIT]
        return {
            **result.printed(),
            "model": self.arch,
            "arch": model.arch,
            "images": result.n_images,
            "ms": result.seconds * 1000,
            "confusion": confusion.tolist(),
            "misclassified": int(wrong.size),
            "gallery": [[int(i), int(labels[i]), int(predictions[i])] for i in shown],
            "gallery_images": self.test_images[shown].tobytes(),
        }

    def confusion_sample(self, label, predicted, nth=0):
        """The `nth` test image (wrapping round) that the last evaluation put in cell (label, predicted), with
        the prediction of the selected model, as `sample` gives it, plus "cell" [label, predicted] and "cell_count"."""
        if self.evaluated is None:
            raise ValueError("nothing has been evaluated yet")
        label, predicted = int(label), int(predicted)
        indices = np.flatnonzero((self.test_labels == label) & (self.evaluated["predictions"] == predicted))
        if indices.size == 0:
            raise ValueError(f"no test image with label {label} was predicted as {predicted}")
        result = self.sample(int(indices[int(nth) % indices.size]))
        result.update(cell=[label, predicted], cell_count=int(indices.size))
        return result
