"""Softmax and softmax cross-entropy, numerically stable (max-subtracted log-sum-exp)."""


def softmax(xp, logits):
    """Row-wise softmax of logits (N, K)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = xp.exp(shifted)
    e /= e.sum(axis=1, keepdims=True)
    return e


def softmax_cross_entropy(xp, logits, labels):
    """Per-sample cross-entropy losses (N,) and the probabilities (N, K) backward needs."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    log_probs = shifted - log_norm
    rows = xp.arange(logits.shape[0])
    losses = -log_probs[rows, labels]
    return losses, xp.exp(log_probs)


def softmax_cross_entropy_backward(xp, probs, labels):
    """Gradient of the MEAN loss over the batch wrt the logits: (p - onehot(y)) / N."""
    n = probs.shape[0]
    dlogits = probs.copy()
    dlogits[xp.arange(n), labels] -= 1
    dlogits /= n
    return dlogits
