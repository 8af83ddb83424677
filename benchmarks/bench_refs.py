"""The torch and numpy implementations benchmarks/bench.py times dirrm against: what a user
would write in place of each dirrm routine."""

import ctypes
import math
import time

import numpy as np
import torch

import dirrm

from bench_data import club_batch, normal, synth_length  # noqa: F401 (the inputs, re-exported)


class TorchQ(torch.nn.Module):
    """q(b | hc − hr) for a categorical b with 2 classes, as dirrm.Club's default: one hidden
    ReLU layer, loaded from dirrm's flat weights (each layer's weight, then its bias), or left
    to the caller with flat None."""

    def __init__(self, flat, d, hidden, classes=2):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, classes))
        if flat is None:  # the caller loads the weights (benchmarks/peak_memory.py reads them in place)
            return
        offset = 0
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.tensor(flat[offset: offset + p.numel()]).reshape(p.shape))
                offset += p.numel()
        assert offset == len(flat)

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


def sgemm_rate(n, d, hidden, repeat):
    """torch.mm's GFLOP/s on the bound's two large products: (n×d)(d×h) and (n×h)(h×d)."""
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.normal(size=(n, d)).astype(np.float32))
    w = torch.tensor(rng.normal(size=(hidden, d)).astype(np.float32))
    dh = torch.tensor(rng.normal(size=(n, hidden)).astype(np.float32))

    def both():
        torch.mm(x, w.t())
        torch.mm(dh, w)

    return 4 * n * d * hidden / median_seconds(both, repeat) / 1e9


# ---------------------------------------------------------------------------------------------
# The machine's own rates: dirrm's sgemm (the OpenBLAS it links) and memory bandwidth
# ---------------------------------------------------------------------------------------------

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112


def median_seconds(fn, repeat):
    """Median wall time of fn() over `repeat` calls, after one untimed call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def openblas():
    """The OpenBLAS dirrm links (the same handle: the loader shares the library)."""
    blas = ctypes.CDLL("libopenblas.so.0")
    blas.cblas_sgemm.restype = None
    blas.cblas_sgemm.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int,
                                                      ctypes.c_void_p, ctypes.c_int, ctypes.c_float,
                                                      ctypes.c_void_p, ctypes.c_int]
    return blas


def sgemm_seconds(m, n, k, trans_a, trans_b, repeat):
    """Median time of one row-major cblas_sgemm C(m×n) = op(A) op(B), inner size k, in
    dirrm's OpenBLAS on dirrm's thread count: OpenBLAS's own threads for the measurement,
    then back to one thread, as dirrm runs it (dirrm splits products over its own pool)."""
    blas = openblas()
    blas.openblas_set_num_threads(dirrm.build_info()["threads"])
    try:
        return _sgemm_median(blas, m, n, k, trans_a, trans_b, repeat)
    finally:
        blas.openblas_set_num_threads(1)


def _sgemm_median(blas, m, n, k, trans_a, trans_b, repeat):
    rng = np.random.default_rng(6)
    a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.normal(size=(n, k) if trans_b else (k, n)).astype(np.float32)
    c = np.zeros((m, n), np.float32)
    args = (_ROW_MAJOR, _TRANS if trans_a else _NO_TRANS, _TRANS if trans_b else _NO_TRANS, m, n, k, 1.0,
            a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1], 0.0, c.ctypes.data, n)
    return median_seconds(lambda: blas.cblas_sgemm(*args), repeat)


def club_gemms(n, d, hidden):
    """The large products of q's first layer (X: n×d, W1: hidden×d) as (m, n, k, trans_a,
    trans_b): the forward X W1ᵀ, the input gradient dZ W1, the weight gradient dZᵀ X."""
    return {"forward": (n, hidden, d, False, True), "input_grad": (n, d, hidden, False, False),
            "weight_grad": (hidden, d, n, True, False)}


BANDWIDTH_MIB = 256


def bandwidth(repeat, mib=BANDWIDTH_MIB):
    """Copy bandwidth in bytes/s (bytes read + bytes written per second) of a large float32
    array: numpy's copy (one thread) and torch's copy_ (its threads); the larger is returned
    with both."""
    src = np.ones(mib * 2**20 // 4, np.float32)
    dst = np.zeros_like(src)
    tsrc, tdst = torch.from_numpy(src), torch.from_numpy(dst)
    rates = {}
    for name, fn in (("numpy copy", lambda: np.copyto(dst, src)), ("torch copy_", lambda: tdst.copy_(tsrc))):
        rates[name] = 2 * src.nbytes / median_seconds(fn, repeat)
    best = max(rates, key=rates.get)
    return rates[best], best, rates


def adamw_bytes(count):
    """Memory traffic of one AdamW step over `count` float32 parameters: read p, g, m, v and
    write p, m, v."""
    return 7 * 4 * count


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


# ---------------------------------------------------------------------------------------------
# The trainer: dirrm's reward model, Bradley-Terry, AdamW and DIR, written in torch
# ---------------------------------------------------------------------------------------------

def model_parameters(model):
    """A dirrm.RewardModel's flat parameters (W1, b1, P, Q, (Wl, bl)..., v, c), read from its
    serialized form: an 8-byte magic, a u32 version, a u64 payload size, four u64 dimensions,
    the float32 parameters, a u64 checksum."""
    data = model.save()
    return np.frombuffer(data, "<f4", offset=8 + 4 + 8 + 32, count=(len(data) - 52 - 8) // 4).copy()


class TorchRewardModel(torch.nn.Module):
    """dirrm's reward model (dirrm.h): h1 = relu(W1 [x; y] + b1 + (P x) * (Q y)),
    hl = relu(Wl h(l-1) + bl), r = v . h + c; loaded from dirrm's flat parameters."""

    def __init__(self, flat, prompt_dim, response_dim, width, depth):
        super().__init__()
        shapes = [(width, prompt_dim + response_dim), (width,), (width, prompt_dim), (width, response_dim)]
        shapes += [(width, width), (width,)] * (depth - 1) + [(width,), (1,)]
        offset, params = 0, []
        for shape in shapes:
            count = math.prod(shape)
            params.append(torch.nn.Parameter(torch.tensor(flat[offset: offset + count]).reshape(shape)))
            offset += count
        assert offset == len(flat), (offset, len(flat))
        self.params = torch.nn.ParameterList(params)
        self.depth = depth

    def flat(self):
        return np.concatenate([p.detach().numpy().ravel() for p in self.params])

    def forward(self, x, y):
        w1, b1, p, q = self.params[:4]
        h = torch.relu(torch.cat([x, y], 1) @ w1.t() + b1 + (x @ p.t()) * (y @ q.t()))
        for layer in range(self.depth - 1):
            w, b = self.params[4 + 2 * layer], self.params[5 + 2 * layer]
            h = torch.relu(h @ w.t() + b)
        v, c = self.params[-2], self.params[-1]
        return h @ v + c, h


class TorchGaussianQ(torch.nn.Module):
    """DIR's Gaussian q(b | X) as the trainer's default (dirrm.h, GaussianHead): a mean and a
    log-variance network, each one ReLU layer of q_hidden / 2, the log-variance bounded as
    B tanh(z / B); loaded from dirrm.Club's flat weights (torch.nn.Linear order)."""

    def __init__(self, flat, d, q_hidden, logvar_bound=5.0):
        super().__init__()
        half = q_hidden // 2
        self.mean = torch.nn.Sequential(torch.nn.Linear(d, half), torch.nn.ReLU(), torch.nn.Linear(half, 1))
        self.logvar = torch.nn.Sequential(torch.nn.Linear(d, half), torch.nn.ReLU(), torch.nn.Linear(half, 1))
        self.bound_b = logvar_bound
        offset = 0
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.tensor(flat[offset: offset + p.numel()]).reshape(p.shape))
                offset += p.numel()
        assert offset == len(flat)

    def moments(self, x):
        return self.mean(x)[:, 0], self.bound_b * torch.tanh(self.logvar(x)[:, 0] / self.bound_b)

    def nll(self, x, z):
        mu, v = self.moments(x)
        return ((z - mu) ** 2 * torch.exp(-v) / 2 + v / 2).mean() + 0.5 * math.log(2 * math.pi)

    def bound(self, x, z):
        """CLUB's closed form: mean_i [log q(z_i|X_i) - mean_j log q(z_j|X_i)]."""
        mu, v = self.moments(x)
        m1, m2 = z.mean(), (z * z).mean()
        spread = m2 - 2 * mu * m1 + mu * mu
        return -(((z - mu) ** 2 - spread) * torch.exp(-v) / 2).mean()


class RunningStandardization:
    """dirrm's map z = (b - mean) / std of every bias q was fit on (Chan's merge)."""

    def __init__(self):
        self.count, self.mean, self.deviations = 0.0, 0.0, 0.0

    def merge(self, b):
        nb, batch_mean = float(len(b)), float(b.double().mean())
        batch_dev = float(((b.double() - batch_mean) ** 2).sum())
        total = self.count + nb
        delta = batch_mean - self.mean
        self.mean += delta * nb / total
        self.deviations += batch_dev + delta * delta * self.count * nb / total
        self.count = total

    def apply(self, b):
        variance = self.deviations / self.count if self.count > 0 else 0.0
        scale = math.sqrt(variance) if variance > 0 else 1.0
        return ((b.double() - self.mean) / scale).float()


class TorchTrainer:
    """What dirrm_train does, in torch: each step scores the batch's chosen and rejected rows in
    one forward, takes Bradley-Terry's mean softplus; with DIR, fits q (fit_steps AdamW steps on
    its NLL, X = h_chosen - h_rejected held fixed, the bias standardized by its running map),
    adds lam * max(bound, 0)'s gradient on the hidden states, capped at the norm of the
    preference loss's (dirrm's rule, docs/decisions.md); then one AdamW step of the model."""

    def __init__(self, data, model_flat, shape, method, q_flat=None, q_hidden=64, lr=1e-3, weight_decay=0.01,
                 lam=1.0, q_lr=1e-4, q_weight_decay=0.01, fit_steps=5, batch_size=64, seed=0):
        self.prompts = torch.tensor(data["prompts"])
        self.responses = torch.tensor(data["responses"])
        self.pairs = torch.tensor(data["pairs"])
        self.bias = torch.tensor(data["bias"])
        self.model = TorchRewardModel(model_flat, *shape)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=weight_decay)
        self.dir = method == "dir"
        if self.dir:
            self.q = TorchGaussianQ(q_flat, shape[2], q_hidden)
            self.q_optimizer = torch.optim.AdamW(self.q.parameters(), lr=q_lr, weight_decay=q_weight_decay)
            self.z = RunningStandardization()
        self.lam, self.fit_steps, self.batch_size = lam, fit_steps, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def step(self, index):
        """One training step on the pairs `index`; returns (preference loss, bound or nan)."""
        n = len(index)
        p, c, r = self.pairs[index].unbind(1)
        x = self.prompts[p]
        rewards, h = self.model(torch.cat([x, x]), self.responses[torch.cat([c, r])])
        gap = rewards[:n] - rewards[n:]
        loss = torch.nn.functional.softplus(-gap).mean()
        self.optimizer.zero_grad()
        if not self.dir:
            loss.backward()
            self.optimizer.step()
            return loss.item(), math.nan
        b = self.bias[index]
        self.z.merge(b)
        z = self.z.apply(b)
        x_fixed = (h[:n] - h[n:]).detach()
        for _ in range(self.fit_steps):
            self.q_optimizer.zero_grad()
            self.q.nll(x_fixed, z).backward()
            self.q_optimizer.step()
        hd = h.detach().requires_grad_(True)
        bound = self.q.bound(hd[:n] - hd[n:], z)
        (penalty,) = torch.autograd.grad(bound, hd)
        penalty = penalty * (self.lam if bound.item() > 0 else 0.0)
        # The cap: the preference loss's gradient on h is dL/dr times the head's weights v.
        with torch.no_grad():
            s = torch.sigmoid(-gap)
            limit = math.sqrt(2 * float((s.double() ** 2).sum())) / n * float(self.model.params[-2].double().norm())
            norm = float(penalty.double().norm())
            if norm > limit:
                penalty = penalty * (limit / norm)
        torch.autograd.backward([loss, h], [torch.ones(()), penalty])
        self.optimizer.step()
        return loss.item(), bound.item()

    def epoch(self):
        order = torch.randperm(len(self.pairs), generator=self.generator)
        for start in range(0, len(order), self.batch_size):
            self.step(order[start: start + self.batch_size])

    def accuracy(self, data):
        pairs = torch.tensor(data["pairs"])
        x = torch.tensor(data["prompts"])[pairs[:, 0]]
        responses = torch.tensor(data["responses"])
        with torch.no_grad():
            chosen, _ = self.model(x, responses[pairs[:, 1]])
            rejected, _ = self.model(x, responses[pairs[:, 2]])
        return float((chosen > rejected).float().mean())
