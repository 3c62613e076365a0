"""What a prediction says of one image, the same for a drawn digit, a digit of a number and a file read on the desktop:
the digit, a probability per digit, the most likely few, and whether the model is sure."""

import numpy as np

TOP_K = 3  # how many of the most likely digits the page announces
# Below this top probability the page says "not sure: 7 or 1?" instead of one bold digit; chosen on
# bench/bench_drawn.py as the level that flags most wrong answers while rarely doubting a right one
# (docs/training.md, "Drawn digits").
UNSURE_BELOW = 0.7


def describe(probabilities):
    """Probabilities (10,) of one image -> {"digit", "probabilities" (10 floats), "top" ([digit, p] of the TOP_K
    most likely), "sure"}."""
    probabilities = np.asarray(probabilities)
    order = np.argsort(-probabilities, kind="stable")[:TOP_K]
    return {
        "digit": int(order[0]),
        "probabilities": [float(p) for p in probabilities],
        "top": [[int(d), float(probabilities[d])] for d in order],
        "sure": bool(probabilities[order[0]] >= UNSURE_BELOW),
    }
