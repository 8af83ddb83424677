"""The torch and numpy implementations benchmarks/bench.py times dirrm's routines against: what
a user would write in place of each dirrm routine. The trainer's torch twin is in
bench_trainer_ref.py, the machine's own rates (sgemm, bandwidth) in bench_rates.py."""

import numpy as np
import torch

from bench_data import club_batch, normal  # noqa: F401 (the inputs, re-exported)


def load_flat(module, flat):
    """Copies dirrm's flat float32 parameters into module's parameters, in their order (each
    torch.nn.Linear's weight, then its bias: dirrm's layout); every value used once."""
    offset = 0
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.tensor(flat[offset: offset + p.numel()]).reshape(p.shape))
            offset += p.numel()
    assert offset == len(flat), (offset, len(flat))


class TorchQ(torch.nn.Module):
    """q(b | hc − hr) for a categorical b with 2 classes, as dirrm.Club's default: one hidden
    ReLU layer, loaded from dirrm's flat weights (each layer's weight, then its bias), or left
    to the caller with flat None."""

    def __init__(self, flat, d, hidden, classes=2):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, classes))
        if flat is None:  # the caller loads the weights (benchmarks/peak_memory.py reads them in place)
            return
        load_flat(self, flat)

    def flat(self):
        return np.concatenate([p.detach().numpy().ravel() for p in self.parameters()])

    def fit(self, optimizer, hc, hr, b, steps):
        x = hc - hr
        for _ in range(steps):
            optimizer.zero_grad()
            loss = -torch.log_softmax(self.net(x), dim=1)[torch.arange(len(b)), b].mean()
            loss.backward()
            optimizer.step()

    def bound_and_grads(self, hc, hr, b):
        """The CLUB bound in its O(n·C) closed form and its gradients in hc and hr."""
        logq = torch.log_softmax(self.net(hc - hr), dim=1)
        pi = torch.bincount(b, minlength=logq.shape[1]).float() / len(b)
        bound = (logq[torch.arange(len(b)), b] - (logq * pi).sum(1)).mean()
        gc, gr = torch.autograd.grad(bound, [hc, hr])
        return bound.item(), gc.numpy(), gr.numpy()


def bound_flops(n, d, hidden, classes=2):
    """GEMM FLOPs of the bound and its input gradients: the forward and the input-gradient
    products of both layers."""
    return 2 * (2 * n * d * hidden + 2 * n * hidden * classes)


def fit_step_flops(n, d, hidden, classes=2):
    """GEMM FLOPs of one fit step: the forward and the weight gradients of both layers."""
    return 2 * (2 * n * d * hidden + 2 * n * hidden * classes)


# ---------------------------------------------------------------------------------------------
# A torch training step that calls dirrm between steps (the embedded rows)
# ---------------------------------------------------------------------------------------------

class EmbeddedStep:
    """A small reward model MLP (features → hidden → hidden → score) trained by
    Bradley-Terry with AdamW on a fixed batch of pairs; `step` returns the last hidden state."""

    def __init__(self, features=1024, hidden=512, pairs=64, seed=7):
        torch.manual_seed(seed)
        self.backbone = torch.nn.Sequential(torch.nn.Linear(features, hidden), torch.nn.ReLU(),
                                            torch.nn.Linear(hidden, hidden), torch.nn.ReLU())
        self.head = torch.nn.Linear(hidden, 1)
        params = list(self.backbone.parameters()) + list(self.head.parameters())
        self.optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
        self.x = torch.randn(2 * pairs, features)
        self.pairs = pairs

    def step(self):
        h = self.backbone(self.x)
        r = self.head(h)[:, 0]
        loss = torch.nn.functional.softplus(-(r[:self.pairs] - r[self.pairs:])).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return h.detach(), r.detach()


def pf_bisection(g, tolerance):
    """The root d of mean_j σ(g_ij − d) = ½ per row by vectorized bisection (Alg. 1)."""
    lo, hi = g.min(1).values, g.max(1).values
    while (hi - lo).max() > tolerance:
        mid = (lo + hi) / 2
        above = torch.sigmoid(g - mid[:, None]).mean(1) > 0.5
        lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)
    return (lo + hi) / 2


def pf_newton(g, tolerance=1e-6, max_iter=30):
    """The same root by Newton's method from each row's median, kept inside [min, max]."""
    lo, hi = g.min(1).values, g.max(1).values
    d = g.median(1).values
    for _ in range(max_iter):
        s = torch.sigmoid(g - d[:, None])
        step = (s.mean(1) - 0.5) / (s * (1 - s)).mean(1).clamp_min(1e-30)
        d = torch.minimum(torch.maximum(d + step, lo), hi)
        if (step.abs() / (1 + d.abs())).max() <= tolerance:
            break
    return d


def numpy_threshold(values):
    """The exact two-means threshold: sort, prefix sums, the best split between distinct values."""
    x = np.sort(values.astype(np.float64))
    n = len(x)
    prefix = np.cumsum(x)
    s = np.arange(1, n)
    left = prefix[:-1] / s
    right = (prefix[-1] - prefix[:-1]) / (n - s)
    between = s * (n - s) / n * (right - left) ** 2
    between[x[:-1] == x[1:]] = -1
    best = np.argmax(between)
    return (left[best] + right[best]) / 2


def lloyd(t, iterations):
    """Lloyd's iterations for two means from the extremes; the midpoint of the final means."""
    low, high = t.min(), t.max()
    for _ in range(iterations):
        above = t > (low + high) / 2
        low, high = t[~above].mean(), t[above].mean()
    return ((low + high) / 2).item()

