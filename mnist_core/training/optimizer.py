"""AdamW with ggml's defaults (lr 1e-3, betas 0.9 / 0.999, eps 1e-8, weight decay 0)."""


class AdamW:
    """Adam with decoupled weight decay, updating a dict of `xp` arrays in place.

    p <- p * (1 - lr * wd) - lr * m_hat / (sqrt(v_hat) + eps), with bias-corrected moments,
    which is the update ggml's optimiser applies.
    """

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, xp=None):
        self.lr, self.beta1, self.beta2, self.eps, self.weight_decay = lr, beta1, beta2, eps, weight_decay
        self.step_count = 0
        self.m = {name: xp.zeros_like(p) for name, p in params.items()}
        self.v = {name: xp.zeros_like(p) for name, p in params.items()}
        self.xp = xp

    def step(self, params, grads, lr=None):
        """Apply one update to `params` from `grads` (both keyed by tensor name)."""
        xp = self.xp
        lr = self.lr if lr is None else lr
        self.step_count += 1
        t = self.step_count
        # Fold both bias corrections into the step size and epsilon: one fewer pass over v.
        step_size = lr * (1 - self.beta2 ** t) ** 0.5 / (1 - self.beta1 ** t)
        eps_hat = self.eps * (1 - self.beta2 ** t) ** 0.5
        for name, p in params.items():
            g, m, v = grads[name], self.m[name], self.v[name]
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * (g * g)
            if self.weight_decay:
                p *= 1 - lr * self.weight_decay
            denom = xp.sqrt(v)
            denom += eps_hat
            p -= step_size * (m / denom)

    def state(self):
        """Moments and step count, for checkpoints."""
        return {"step": self.step_count, "m": self.m, "v": self.v}

    def load_state(self, step, m, v):
        """Restore what `state` returned (arrays already on this optimiser's `xp`)."""
        self.step_count = int(step)
        for name in self.m:
            self.m[name][...] = m[name]
            self.v[name][...] = v[name]
