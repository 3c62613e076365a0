"""Test-set evaluation with ggml's loss and uncertainty definitions, and the ASCII digit it prints."""

import math
import time
from dataclasses import dataclass

import numpy as np

from .backend import to_host
from .layers import softmax_cross_entropy
from .mnist import IMAGE_SIZE

EVAL_PHYSICAL_BATCH = 500  # ggml reports the mean of per-batch mean losses over batches of 500
INK_THRESHOLD = 220        # ggml prints a pixel as "##" from this value on


@dataclass
class EvalResult:
    """Loss and accuracy with ggml's uncertainties, the predictions, and the time the forward pass took."""

    loss: float
    loss_uncertainty: float
    accuracy: float
    accuracy_uncertainty: float
    predictions: np.ndarray
    seconds: float

    @property
    def n_images(self):
        return len(self.predictions)

    def printed(self):
        """The figures as `python -m mnist_core.eval` prints them (strings): loss and its uncertainty to 6
        decimals, accuracy and its uncertainty in percent to 2, e.g. {"loss": "0.030261", "accuracy": "99.02", ...}."""
        return {"loss": f"{self.loss:.6f}", "loss_uncertainty": f"{self.loss_uncertainty:.6f}",
                "accuracy": f"{self.accuracy * 100:.2f}",
                "accuracy_uncertainty": f"{self.accuracy_uncertainty * 100:.2f}"}


def evaluate(model, images, labels, batch_size=EVAL_PHYSICAL_BATCH):
    """Run `model` over all `images` (uint8, (N, 28, 28)) and score it against `labels` as ggml does.

    Loss: the mean of per-batch mean cross-entropies, uncertainty sqrt(var / (nbatches - 1)) with
    the variance of the batch means taken without Bessel's correction. Accuracy uncertainty:
    sqrt(a (1 - a) / (n - 1)). A final partial batch counts as one batch.
    """
    xp = model.xp
    n = len(labels)
    if len(images) != n:
        raise ValueError(f"{len(images)} images but {n} labels")
    images = xp.asarray(images)
    labels = xp.asarray(labels).astype(np.int64)
    start = time.perf_counter()
    logits = model.logits(images)
    losses, _ = softmax_cross_entropy(xp, logits, labels)
    predictions = to_host(logits.argmax(axis=1))  # copies back, so a GPU has finished here
    losses = to_host(losses)
    seconds = time.perf_counter() - start

    batch_losses = np.array([losses[i:i + batch_size].mean() for i in range(0, n, batch_size)], dtype=np.float64)
    loss = float(batch_losses.mean())
    loss_unc = math.sqrt(batch_losses.var() / (len(batch_losses) - 1)) if len(batch_losses) > 1 else math.nan
    accuracy = float((predictions == to_host(labels)).mean())
    acc_unc = math.sqrt(accuracy * (1 - accuracy) / (n - 1)) if n > 1 else math.nan
    return EvalResult(loss, loss_unc, accuracy, acc_unc, predictions, seconds)


def ascii_digit(image):
    """28 lines of 28 two-character cells: "##" for ink (>= 220), "__" for background."""
    rows = np.asarray(image).reshape(IMAGE_SIZE, IMAGE_SIZE) >= INK_THRESHOLD
    return "\n".join("".join("##" if ink else "__" for ink in row) for row in rows)
