"""AdamW with ggml's defaults (lr 1e-3, betas 0.9 / 0.999, eps 1e-8, weight decay 0)."""

from ..backend import fused_kernel
from ..layers.workspace import Workspace

# One pass per element on CuPy. The moments are updated as m += (1 - beta1) (g - m), the same
# number as beta1 m + (1 - beta1) g with one multiplication fewer.
_ADAMW_IN = "T g, T one_minus_beta1, T one_minus_beta2, T step_size, T eps_hat, T decay"
_ADAMW_OUT = "T p, T m, T v"
_ADAMW_OP = """
m += one_minus_beta1 * (g - m);
v += one_minus_beta2 * (g * g - v);
p = p * decay - step_size * m / (sqrt(v) + eps_hat);
"""

# With a pool, tensors of at least MIN_SPLIT elements are updated in pieces its threads take at once: as many
# equal pieces as there are threads, or a multiple of that so that no piece passes MAX_PIECE elements. Equal
# shares keep every thread busy to the end; much smaller pieces cost more in hand-offs than they save.
MIN_SPLIT = 1 << 17
MAX_PIECE = 1 << 18


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
        self._workspace = Workspace(xp)  # one temporary per tensor, reused every step

    def step(self, params, grads, lr=None, pool=None):
        """Apply one update to `params` from `grads` (both keyed by tensor name); `pool` (engine.StepPool) takes
        pieces of the larger tensors at once (element-wise work: the same result either way)."""
        xp = self.xp
        lr = self.lr if lr is None else lr
        self.step_count += 1
        t = self.step_count
        # Fold both bias corrections into the step size and epsilon: one fewer pass over v.
        step_size = lr * (1 - self.beta2 ** t) ** 0.5 / (1 - self.beta1 ** t)
        eps_hat = self.eps * (1 - self.beta2 ** t) ** 0.5
        decay = 1 - lr * self.weight_decay
        kernel = fused_kernel(xp, "adamw", _ADAMW_IN, _ADAMW_OUT, _ADAMW_OP)
        pieces = []
        for name, p in params.items():
            g, m, v = grads[name], self.m[name], self.v[name]
            if kernel is not None:
                kernel(g, 1 - self.beta1, 1 - self.beta2, step_size, eps_hat, decay, p, m, v)
                continue
            scratch = self._workspace.array(name, p.shape, p.dtype)
            if pool is None or p.size < MIN_SPLIT:
                pieces.append((p, g, m, v, scratch))
                continue
            # Flat views of the same memory (parameters, moments and scratch are C-contiguous).
            flat = [a.reshape(-1) for a in (p, g, m, v, scratch)]
            count = pool.threads * -(-p.size // (pool.threads * MAX_PIECE))
            bounds = [p.size * k // count for k in range(count + 1)]
            pieces += [tuple(a[bounds[k]:bounds[k + 1]] for a in flat) for k in range(count)]

        def update(piece):
            self._update(*piece, step_size, eps_hat, decay)

        if pool is None:
            for piece in pieces:
                update(piece)
        else:
            list(pool.map(update, pieces))

    def _update(self, p, g, m, v, scratch, step_size, eps_hat, decay):
        """The kernel's arithmetic above, pass by pass, in place, without temporaries."""
        xp = self.xp
        xp.subtract(g, m, out=scratch)
        scratch *= 1 - self.beta1
        m += scratch
        xp.multiply(g, g, out=scratch)
        scratch -= v
        scratch *= 1 - self.beta2
        v += scratch
        if self.weight_decay:
            p *= decay
        xp.sqrt(v, out=scratch)
        scratch += eps_hat
        xp.divide(m, scratch, out=scratch)
        scratch *= step_size
        p -= scratch

    def state(self):
        """Moments and step count, for checkpoints."""
        return {"step": self.step_count, "m": self.m, "v": self.v}

    def load_state(self, step, m, v):
        """Restore what `state` returned (arrays already on this optimiser's `xp`)."""
        self.step_count = int(step)
        for name in self.m:
            self.m[name][...] = m[name]
            self.v[name][...] = v[name]
