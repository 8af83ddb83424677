"""dirrm.Club and dirrm.dir_loss against PyTorch references written here, finite differences
in double, data-parallel shards, and the estimator's learning behaviour."""

import ctypes
import copy  # the pickle protocol (__getstate__/__setstate__), without unpickling any bytes
import struct

import numpy as np
import pytest

import dirrm
from dirrm import _lib

torch = pytest.importorskip("torch")
torch.set_default_dtype(torch.float64)

CONFIGS = [
    dict(bias_kind="categorical", bias_dim=3, pair_mode="difference", q_hidden=32),
    dict(bias_kind="categorical", bias_dim=2, pair_mode="concat", q_hidden=0),
    dict(bias_kind="gaussian", bias_dim=2, pair_mode="difference", q_hidden=32, logvar_bound=2.0),
    dict(bias_kind="gaussian", bias_dim=3, pair_mode="concat", q_hidden=0, logvar_bound=5.0),
]


def make_batch(rng, n, d, cfg):
    hc = rng.normal(0, 1, (n, d)).astype(np.float32)
    hr = rng.normal(0, 1, (n, d)).astype(np.float32)
    if cfg["bias_kind"] == "categorical":
        bias = rng.integers(0, cfg["bias_dim"], n).astype(np.float32)
    else:
        bias = rng.normal(0, 1, (n, cfg["bias_dim"])).astype(np.float32)
    return hc, hr, bias


class TorchQ(torch.nn.Module):
    """q(b | X) as docs/mathematics.md §2 describes it, in plain torch.nn layers."""

    def __init__(self, cfg, d):
        super().__init__()
        self.cfg = cfg
        dim_x = d if cfg["pair_mode"] == "difference" else 2 * d
        h = cfg["q_hidden"]

        def mlp(hidden, out):
            if hidden == 0:
                return torch.nn.Sequential(torch.nn.Linear(dim_x, out))
            return torch.nn.Sequential(torch.nn.Linear(dim_x, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, out))

        if cfg["bias_kind"] == "categorical":
            self.nets = torch.nn.ModuleList([mlp(h, cfg["bias_dim"])])
        else:
            self.nets = torch.nn.ModuleList([mlp(h // 2, cfg["bias_dim"]), mlp(h // 2, cfg["bias_dim"])])
        self.seen = []

    def observe(self, b):
        """Remembers a batch the library fit on: its standardization covers every such row."""
        self.seen.append(np.asarray(b, np.float64).reshape(len(b), -1))

    def standardized(self, b):
        """A Gaussian bias as q sees it, z = (b - mean) / std over the rows fit so far (this
        batch's own before any fit; std 1 where it is 0), and sum log std."""
        rows = np.concatenate(self.seen) if self.seen else b.detach().numpy().astype(np.float64)
        mean, std = rows.mean(0), rows.std(0)
        std = np.where(std > 0, std, 1.0)
        z = (b - torch.as_tensor(mean, dtype=b.dtype)) / torch.as_tensor(std, dtype=b.dtype)
        return z, float(np.log(std).sum())

    def load_flat(self, flat):
        flat = torch.as_tensor(np.asarray(flat, np.float64))
        offset = 0
        for module in self.modules():
            if isinstance(module, torch.nn.Linear):
                for p in (module.weight, module.bias):
                    p.data = flat[offset: offset + p.numel()].reshape(p.shape).clone()
                    offset += p.numel()
        assert offset == flat.numel()

    def flat(self):
        return np.concatenate([p.detach().numpy().ravel() for m in self.modules() if isinstance(m, torch.nn.Linear)
                               for p in (m.weight, m.bias)])

    def pair(self, hc, hr):
        return hc - hr if self.cfg["pair_mode"] == "difference" else torch.cat([hc, hr], dim=1)

    def outputs(self, x):
        if self.cfg["bias_kind"] == "categorical":
            return torch.log_softmax(self.nets[0](x), dim=1), None
        bound = self.cfg.get("logvar_bound", 5.0)
        return self.nets[0](x), bound * torch.tanh(self.nets[1](x) / bound)

    def log_prob(self, hc, hr, b):
        a, v = self.outputs(self.pair(hc, hr))
        if v is None:
            return a[torch.arange(len(b)), b.long()]
        z, log_scale = self.standardized(b)
        return -((z - a) ** 2 / (2 * torch.exp(v)) + v / 2 + 0.5 * np.log(2 * np.pi)).sum(1) - log_scale

    def club(self, hc, hr, b):
        """The DIR paper's pairwise n x n form (categorical) / the CLUB paper's (Gaussian)."""
        a, v = self.outputs(self.pair(hc, hr))
        if v is None:
            positive = a[torch.arange(len(b)), b.long()]
            negative = a[:, b.long()]  # n x n: log q(b_j | X_i)
            return positive.mean() - negative.mean()
        b, _ = self.standardized(b)  # the bound is the same in b and z; q is fit in z
        positive = -((a - b) ** 2) / 2 / torch.exp(v)
        negative = -((b[None, :, :] - a[:, None, :]) ** 2).mean(dim=1) / 2 / torch.exp(v)
        return (positive.sum(-1) - negative.sum(-1)).mean()


def reference(cfg, club, d):
    q = TorchQ(cfg, d)
    q.load_flat(club.weights)
    return q


def t(x, grad=False):
    return torch.tensor(np.asarray(x, np.float64), requires_grad=grad)


def close(got, want, rtol):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(np.abs(want).max(), 1e-12)
    assert np.abs(got - want).max() <= rtol * scale, (np.abs(got - want).max(), scale)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c['bias_kind']}-{c['pair_mode']}-{c['q_hidden']}")
def test_log_prob_bound_and_gradient_match_torch(cfg):
    rng = np.random.default_rng(1)
    d, n = 6, 64
    club = dirrm.Club(d, seed=3, **cfg)
    hc, hr, b = make_batch(rng, n, d, cfg)
    club.fit(hc, hr, b)  # move q away from its initialization first
    q = reference(cfg, club, d)
    q.observe(b)
    close(club.log_prob(hc, hr, b), q.log_prob(t(hc), t(hr), t(b)).detach().numpy(), 1e-5)
    mi, gc, gr = club.bound(hc, hr, b)
    th_c, th_r = t(hc, True), t(hr, True)
    want = q.club(th_c, th_r, t(b))
    want.backward()
    assert abs(mi - want.item()) <= 1e-5 * max(abs(want.item()), 1e-3)
    close(gc, th_c.grad.numpy(), 1e-5)
    close(gr, th_r.grad.numpy(), 1e-5)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c['bias_kind']}-{c['pair_mode']}-{c['q_hidden']}")
def test_fit_matches_torch_adamw(cfg):
    rng = np.random.default_rng(2)
    d, n = 6, 128
    club = dirrm.Club(d, seed=4, fit_steps=5, learning_rate=1e-3, weight_decay=0.05, **cfg)
    hc, hr, b = make_batch(rng, n, d, cfg)
    q = reference(cfg, club, d)
    q.float()
    optimizer = torch.optim.AdamW(q.parameters(), lr=1e-3, weight_decay=0.05)
    for _ in range(3):  # three fit calls: AdamW's state carries over between them
        club.fit(hc, hr, b)
        q.observe(b)
        for _ in range(5):
            optimizer.zero_grad()
            x = (t(hc).float(), t(hr).float(), t(b).float())
            loss = -q.log_prob(*x).mean()
            loss.backward()
            optimizer.step()
    np.testing.assert_allclose(club.weights, q.flat(), rtol=0, atol=1e-4)


def numpy_bound(cfg, weights, d, hc, hr, b):
    """The bound in float64 numpy, pairwise, for finite differences."""
    q = TorchQ(cfg, d)
    q.load_flat(weights)
    with torch.no_grad():
        return q.club(t(hc), t(hr), t(b)).item()


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c['bias_kind']}-{c['pair_mode']}-{c['q_hidden']}")
def test_gradient_matches_central_differences_in_double(cfg):
    rng = np.random.default_rng(3)
    d, n = 4, 10
    club = dirrm.Club(d, seed=5, **cfg)
    hc, hr, b = make_batch(rng, n, d, cfg)
    weights = club.weights
    _, gc, gr = club.bound(hc, hr, b)
    step = 1e-6
    for which, grad in ((0, gc), (1, gr)):
        for i in range(n):
            for j in range(d):
                plus = [hc.astype(np.float64), hr.astype(np.float64)]
                minus = [hc.astype(np.float64), hr.astype(np.float64)]
                plus[which][i, j] += step
                minus[which][i, j] -= step
                fd = (numpy_bound(cfg, weights, d, *plus, b) - numpy_bound(cfg, weights, d, *minus, b)) / (2 * step)
                assert abs(grad[i, j] - fd) <= 1e-5 + 1e-4 * abs(fd), (which, i, j, grad[i, j], fd)


@pytest.mark.parametrize("cfg", CONFIGS[:3:2], ids=["categorical", "gaussian"])
def test_dir_loss_is_bt_plus_lambda_bound(cfg):
    rng = np.random.default_rng(4)
    d, n = 5, 40
    hc, hr, b = make_batch(rng, n, d, cfg)
    rc, rr = rng.normal(0, 1, n), rng.normal(0, 1, n)
    lam = 0.7
    a = dirrm.Club(d, seed=9, **cfg)
    twin = dirrm.Club.load(a.save())
    result = dirrm.dir_loss(a, rc, rr, hc, hr, b, lam=lam, fit_first=True)
    twin.fit(hc, hr, b)
    mi, gc, gr = twin.bound(hc, hr, b)
    pref, grc, grr = dirrm.bt_loss(rc, rr)
    assert result.pref == pref and result.mi == mi
    # The bound is clipped at zero (docs/decisions.md): below it, no penalty and no gradient.
    active = mi > 0
    assert abs(result.total - (pref + lam * max(mi, 0.0))) <= 1e-6 * abs(result.total)
    np.testing.assert_array_equal(result.grad_r_chosen, grc)
    np.testing.assert_array_equal(result.grad_r_rejected, grr)
    np.testing.assert_allclose(result.grad_h_chosen, np.float32(lam * active) * gc, rtol=1e-6)
    np.testing.assert_allclose(result.grad_h_rejected, np.float32(lam * active) * gr, rtol=1e-6)
    np.testing.assert_array_equal(a.weights, twin.weights)
    no_fit = dirrm.dir_loss(a, rc, rr, hc, hr, b, lam=lam, fit_first=False, grad=False)
    assert no_fit.mi == a.bound(hc, hr, b, grad=False) and no_fit.grad_h_chosen is None


def test_dir_loss_clips_a_negative_bound():
    """A q fitted to b = +X, evaluated on b = -X, gives I < 0: no penalty and no gradient."""
    rng = np.random.default_rng(11)
    d, n, lam = 3, 64, 2.0
    hc = rng.normal(0, 1, (n, d)).astype(np.float32)
    hr = np.zeros((n, d), np.float32)
    b = hc[:, :1].copy()
    club = dirrm.Club(d, bias_kind="gaussian", bias_dim=1, q_hidden=0, learning_rate=0.1, fit_steps=200, seed=1)
    club.fit(hc, hr, b)
    rc, rr = rng.normal(0, 1, (2, n))
    positive = dirrm.dir_loss(club, rc, rr, hc, hr, b, lam=lam, fit_first=False)
    negative = dirrm.dir_loss(club, rc, rr, hc, hr, -b, lam=lam, fit_first=False)
    assert positive.mi > 0.1 and negative.mi < -0.1, (positive.mi, negative.mi)
    assert positive.total == pytest.approx(positive.pref + lam * positive.mi, rel=1e-6)
    assert np.abs(positive.grad_h_chosen).max() > 0
    assert negative.total == negative.pref
    assert not np.any(negative.grad_h_chosen) and not np.any(negative.grad_h_rejected)


@pytest.mark.parametrize("cfg", [
    dict(bias_kind="categorical", bias_dim=4, pair_mode="difference", q_hidden=16),
    dict(bias_kind="gaussian", bias_dim=2, pair_mode="concat", q_hidden=16),
], ids=["categorical", "gaussian"])
def test_shards_with_summed_statistics_reproduce_the_whole_batch(cfg):
    rng = np.random.default_rng(5)
    d, n = 5, 200
    club = dirrm.Club(d, seed=2, **cfg)
    hc, hr, b = make_batch(rng, n, d, cfg)
    if cfg["bias_kind"] == "categorical":
        b = rng.integers(0, 3, n).astype(np.float32)  # class 3 never occurs
        b[:30] = np.where(b[:30] == 2, 0, b[:30])  # class 2 absent from the first shard
    bounds = [0, 30, 100, 150, 200]
    shards = [slice(bounds[s], bounds[s + 1]) for s in range(4)]
    stats = sum(club.bias_stats(b[s]).astype(np.float64) for s in shards).astype(np.float32)
    np.testing.assert_allclose(stats, club.bias_stats(b), rtol=1e-6)  # exact for class counts
    whole, gc, gr = club.bound(hc, hr, b)
    total, parts_c, parts_r = 0.0, [], []
    for s in shards:
        mi, sc, sr = club.bound(hc[s], hr[s], b[s], bias_stats=stats)
        weight = (s.stop - s.start) / n
        total += weight * mi
        parts_c.append(weight * sc)
        parts_r.append(weight * sr)
    assert abs(total - whole) <= 1e-6 * max(abs(whole), 1e-6)
    for got, want in ((np.concatenate(parts_c), gc), (np.concatenate(parts_r), gr)):
        assert np.linalg.norm(got - want) <= 1e-6 * np.linalg.norm(want)


def test_bound_is_positive_when_b_is_a_function_of_x():
    rng = np.random.default_rng(6)
    d, n = 8, 1024
    hc = rng.normal(0, 1, (n, d)).astype(np.float32)
    hr = rng.normal(0, 1, (n, d)).astype(np.float32)
    b = ((hc - hr) @ rng.normal(0, 1, d) > 0).astype(np.float32)
    club = dirrm.Club(d, q_hidden=64, fit_steps=400, learning_rate=1e-2, weight_decay=0.0, seed=1)
    nll = club.fit(hc, hr, b)
    assert nll < 0.05
    assert club.bound(hc, hr, b, grad=False) > 0.5  # near H(b) = log 2


def test_bound_is_near_zero_when_x_is_independent_of_b():
    rng = np.random.default_rng(7)
    d = 8
    club = dirrm.Club(d, seed=3)  # DIR's defaults: q_hidden 1024, 5 steps of AdamW at 1e-4
    for _ in range(50):
        hc, hr = rng.normal(0, 1, (2, 256, d)).astype(np.float32)
        club.fit(hc, hr, rng.integers(0, 2, 256).astype(np.float32))
    hc, hr = rng.normal(0, 1, (2, 4096, d)).astype(np.float32)
    fresh = club.bound(hc, hr, rng.integers(0, 2, 4096).astype(np.float32), grad=False)
    assert abs(fresh) < 0.02, fresh


def probe_accuracy(x, b, rng):
    """A logistic-regression probe fitted by Newton's method on half, scored on the other."""
    x = np.hstack([x, np.ones((len(x), 1))]).astype(np.float64)
    half = len(x) // 2
    w = np.zeros(x.shape[1])
    for _ in range(25):
        p = 1 / (1 + np.exp(-np.clip(x[:half] @ w, -500, 500)))
        hessian = x[:half].T @ (x[:half] * (p * (1 - p))[:, None]) + 1e-3 * np.eye(len(w))
        w -= np.linalg.solve(hessian, x[:half].T @ (p - b[:half]))
    return np.mean((x[half:] @ w > 0) == (b[half:] > 0.5))


def train_encoder(lam, seed=0):
    """Trains a linear encoder (10 features -> 8) and a reward head on preference pairs with
    loss BT + lam * CLUB, fitting q alternately, from torch seed `seed`; returns the probe's
    accuracy for the spurious attribute before and after, and the task accuracy after."""
    import dirrm.torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(8)

    def pairs(n):
        a, c = rng.normal(0, 1, (2, n, 10))
        a[:, 1] *= 3  # the spurious feature has a large variance, like a length
        c[:, 1] *= 3
        # The task: prefer the response with the larger feature 0. The spurious attribute
        # b = [feature 1 larger in the chosen one] is independent of it.
        swap = a[:, 0] < c[:, 0]
        chosen = np.where(swap[:, None], c, a)
        rejected = np.where(swap[:, None], a, c)
        bias = (chosen[:, 1] > rejected[:, 1]).astype(np.float32)
        return torch.tensor(chosen, dtype=torch.float32), torch.tensor(rejected, dtype=torch.float32), bias

    encoder = torch.nn.Linear(10, 8, bias=False).float()
    head = torch.nn.Linear(8, 1).float()
    # q must keep up with the encoder for the bound to be tight: a larger rate than DIR's 1e-4.
    # The attribute is a label, so q is categorical; the cap is off because this measures what
    # the bound's gradient removes (capped, it removes less: mean probe accuracy 0.63 against
    # 0.53 over seeds 0-4, the cap's price, which test_cap_* and the benchmarks weigh).
    loss_fn = dirrm.torch.DIRLoss(8, lam=lam, cap=False, bias_kind="categorical", bias_dim=2, q_hidden=64,
                                  learning_rate=1e-2, seed=0)
    xc, xr, b = pairs(4000)
    with torch.no_grad():
        before = probe_accuracy((encoder(xc) - encoder(xr)).numpy(), b, rng)
    optimizer = torch.optim.Adam(list(encoder.parameters()) + list(head.parameters()), lr=1e-2)
    for _ in range(400):
        c, r, bias = pairs(256)
        hc, hr = encoder(c), encoder(r)
        loss = loss_fn(head(hc).squeeze(1), head(hr).squeeze(1), hc, hr, torch.tensor(bias))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    xc, xr, b = pairs(4000)
    with torch.no_grad():
        hc, hr = encoder(xc), encoder(xr)
        after = probe_accuracy((hc - hr).numpy(), b, rng)
        task = (head(hc) > head(hr)).float().mean().item()
    return before, after, task


def test_dir_removes_a_linearly_decodable_attribute_and_keeps_the_task():
    # One run is a coin toss: the encoder and q play a min-max game, and where it stands after
    # 400 steps turns on rounding. Over torch seeds 0-24 one run's probe accuracy has median
    # about 0.55 but exceeds 0.6 in 16-40% of runs (up to 0.82), and rounding-level changes
    # (AdamW's arithmetic in float32 or double, q's or the encoder's lr times 1 + 1e-6, torch's
    # thread count) redraw which seeds do: 10/25 with the double kernel, 7/25 in float32, and
    # 4/25 and 10/25 with q in plain torch.optim.AdamW in float32 and float64. So the test
    # asserts means. Resampled from those runs, a mean of 5 exceeds 0.66 with probability 0.9%
    # (double, 75 runs) and 0.7% (float32, 50 runs); vanilla's mean of 3 (25 runs, 0.88-0.98,
    # q plays no part) falls below 0.9 with probability 0.2%.
    # One torch thread: the matrices are tiny (several times faster on two busy cores), and
    # the runs are those measured whatever the machine's core count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = [train_encoder(lam=1.0, seed=seed) for seed in range(5)]
        # Without the penalty the same training leaves the attribute decodable.
        vanilla = np.array([train_encoder(lam=0.0, seed=seed)[1] for seed in range(3)])
    finally:
        torch.set_num_threads(threads)
    before, after, task = (np.array(column) for column in zip(*runs))
    assert np.all(before > 0.9) and np.all(task > 0.9), runs
    assert after.mean() < 0.66, after
    assert vanilla.mean() > 0.9, vanilla


def test_torch_module_gradients_match_a_pure_torch_reference():
    import dirrm.torch

    rng = np.random.default_rng(9)
    cfg = dict(bias_kind="categorical", bias_dim=2, pair_mode="difference", q_hidden=16)
    d, n = 6, 32
    hc, hr, b = make_batch(rng, n, d, cfg)
    rc, rr = rng.normal(0, 1, (2, n))
    module = dirrm.torch.DIRLoss(d, lam=0.3, cap=False, fit=False, seed=1, **{k: v for k, v in cfg.items()})
    q = reference(cfg, module.club, d)
    inputs = [t(rc, True), t(rr, True), t(hc, True), t(hr, True)]
    loss = module(*inputs, torch.tensor(b))
    (loss * 2.0).backward()  # a non-unit upstream gradient
    ref_inputs = [t(rc, True), t(rr, True), t(hc, True), t(hr, True)]
    want = torch.nn.functional.softplus(-(ref_inputs[0] - ref_inputs[1])).mean() + 0.3 * q.club(
        ref_inputs[2], ref_inputs[3], t(b))
    (want * 2.0).backward()
    assert abs(loss.item() - want.item()) <= 1e-5 * abs(want.item())
    for got, ref in zip(inputs, ref_inputs):
        close(got.grad.numpy(), ref.grad.numpy(), 1e-5)
    assert loss.dtype == torch.float64 and inputs[2].grad.dtype == torch.float64


def test_save_load_is_bit_exact_including_adamw_state():
    rng = np.random.default_rng(10)
    cfg = dict(bias_kind="gaussian", bias_dim=2, pair_mode="difference", q_hidden=8)
    club = dirrm.Club(4, seed=1, learning_rate=1e-2, **cfg)
    hc, hr, b = make_batch(rng, 50, 4, cfg)
    club.fit(hc, hr, b)
    clone = copy.deepcopy(club)
    assert (clone.hidden_dim, clone.bias_kind, clone.bias_dim) == (4, "gaussian", 2)
    np.testing.assert_array_equal(clone.weights, club.weights)
    for c in (club, clone):
        c.fit(hc, hr, b)
    np.testing.assert_array_equal(clone.weights, club.weights)  # same AdamW moments and step
    np.testing.assert_array_equal(clone.log_prob(hc, hr, b), club.log_prob(hc, hr, b))
    fresh = dirrm.Club(4, seed=1, learning_rate=1e-2, **cfg)
    fresh.weights = club.weights  # set_weights resets AdamW: the next fit differs
    fresh.fit(hc, hr, b)
    club.fit(hc, hr, b)
    assert not np.array_equal(fresh.weights, club.weights)


def test_corrupt_buffers_and_stale_handles():
    club = dirrm.Club(4, q_hidden=8, seed=0)
    data = club.save()
    for cut in (0, 5, 40, len(data) - 1):
        with pytest.raises(dirrm.DirrmError) as info:
            dirrm.Club.load(data[:cut] or b"\x01")
        assert info.value.status == _lib.ERR_CORRUPT
    rng = np.random.default_rng(0)
    for _ in range(100):
        flipped = bytearray(data)
        bit = int(rng.integers(0, len(data) * 8))
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(dirrm.DirrmError) as info:
            dirrm.Club.load(bytes(flipped))
        assert info.value.status == _lib.ERR_CORRUPT
    # A prioritizer's state is not an estimator's.
    with pytest.raises(dirrm.DirrmError) as info:
        dirrm.Club.load(dirrm.Prioritizer(3).save())
    assert info.value.status == _lib.ERR_CORRUPT
    lib = _lib.lib
    handle = club._handle
    club.close()
    n = ctypes.c_int64()
    assert lib.dirrm_club_num_weights(handle, ctypes.byref(n)) == _lib.ERR_MISUSE
    assert lib.dirrm_club_free(handle) == _lib.ERR_MISUSE
    q = dirrm.Prioritizer(3)
    assert lib.dirrm_club_num_weights(q._handle, ctypes.byref(n)) == _lib.ERR_MISUSE  # wrong type
    assert lib.dirrm_club_free(None) == _lib.OK


@pytest.mark.parametrize(
    "kwargs,status,needle",
    [
        (dict(hidden_dim=0), _lib.ERR_INVALID_ARGUMENT, "p->hidden_dim = 0"),
        (dict(bias_dim=1), _lib.ERR_INVALID_ARGUMENT, "p->bias_dim = 1"),
        (dict(bias_kind="gaussian", bias_dim=0), _lib.ERR_INVALID_ARGUMENT, "p->bias_dim = 0"),
        (dict(bias_kind="gaussian", q_hidden=1), _lib.ERR_INVALID_ARGUMENT, "p->q_hidden = 1"),
        (dict(q_hidden=-1), _lib.ERR_INVALID_ARGUMENT, "p->q_hidden = -1"),
        (dict(q_hidden=2**21), _lib.ERR_INVALID_ARGUMENT, "p->q_hidden"),
        (dict(fit_steps=-1), _lib.ERR_INVALID_ARGUMENT, "p->fit_steps"),
        (dict(learning_rate=0.0), _lib.ERR_INVALID_ARGUMENT, "p->learning_rate"),
        (dict(learning_rate=float("nan")), _lib.ERR_NONFINITE, "p->learning_rate is nan"),
        (dict(weight_decay=-1.0), _lib.ERR_INVALID_ARGUMENT, "p->weight_decay"),
        (dict(logvar_bound=0.0), _lib.ERR_INVALID_ARGUMENT, "p->logvar_bound"),
        (dict(logvar_bound=100.0), _lib.ERR_INVALID_ARGUMENT, "p->logvar_bound"),
    ],
)
def test_bad_parameters(kwargs, status, needle):
    kwargs.setdefault("hidden_dim", 4)
    with pytest.raises(dirrm.DirrmError) as info:
        dirrm.Club(**kwargs)
    assert info.value.status == status and needle in info.value.message, info.value.message


def test_bad_batches():
    club = dirrm.Club(3, q_hidden=4, bias_dim=3)
    h = np.zeros((4, 3), np.float32)
    good = np.array([0, 1, 2, 0], np.float32)
    cases = [
        (lambda: club.bound(h, h, [0, 1, 2, 3]), _lib.ERR_INVALID_ARGUMENT, "bias[3] = 3.0 is not a class id"),
        (lambda: club.bound(h, h, [0, 1, 0.5, 0]), _lib.ERR_INVALID_ARGUMENT, "bias[2] = 0.5"),
        (lambda: club.bound(h, h, [0, 1, -1, 0]), _lib.ERR_INVALID_ARGUMENT, "bias[2] = -1.0"),
        (lambda: club.bound(h, h, [0, 1, np.nan, 0]), _lib.ERR_NONFINITE, "bias[2] is nan"),
        (lambda: club.bound(np.full((4, 3), np.inf), h, good), _lib.ERR_NONFINITE, "h_chosen[0] is inf"),
        (lambda: club.bound(h, h, good, bias_stats=[0, 0, 0, 0]), _lib.ERR_INVALID_ARGUMENT, "the count"),
        (lambda: club.bound(h, h, good, bias_stats=[4, 1, 1, 1]), _lib.ERR_INVALID_ARGUMENT, "sum to 3.0"),
        (lambda: club.bound(h, h, good, bias_stats=[4, 5, -1, 0]), _lib.ERR_INVALID_ARGUMENT, "negative class count"),
        (lambda: club.bound(np.zeros((0, 3)), np.zeros((0, 3)), []), _lib.ERR_SHAPE, "n = 0"),
        (lambda: club.bound(np.zeros((4, 2)), np.zeros((4, 2)), good), _lib.ERR_SHAPE, "must both be (n, 3)"),
        (lambda: club.bound(h, h, good[:3]), _lib.ERR_SHAPE, "bias has shape (3,)"),
        (lambda: club.bound(h, h, good, bias_stats=[4, 1, 1]), _lib.ERR_SHAPE, "bias_stats has 3 values"),
        (lambda: setattr(club, "weights", np.zeros(5)), _lib.ERR_SHAPE, "len = 5"),
        (lambda: setattr(club, "weights", np.full(club.weights.size, np.nan)), _lib.ERR_NONFINITE, "w[0] is nan"),
        (lambda: dirrm.dir_loss(club, [0.0] * 4, [0.0] * 4, h, h, good, lam=-1), _lib.ERR_INVALID_ARGUMENT, "lambda"),
        (lambda: dirrm.dir_loss(club, [0.0] * 4, [np.nan] * 4, h, h, good), _lib.ERR_NONFINITE, "r_rejected[0]"),
    ]
    for call, status, needle in cases:
        with pytest.raises(dirrm.DirrmError) as info:
            call()
        assert info.value.status == status and needle in info.value.message, (needle, info.value.message)


def test_diverging_fit_keeps_q_finite_and_usable():
    rng = np.random.default_rng(11)
    cfg = dict(bias_kind="gaussian", bias_dim=1, pair_mode="difference", q_hidden=0)
    club = dirrm.Club(2, fit_steps=50, learning_rate=1e30, **cfg)
    hc, hr, b = make_batch(rng, 20, 2, cfg)
    with pytest.raises(dirrm.DirrmError) as info:
        club.fit(hc * 1e30, hr, b * 1e18)
    assert info.value.status == _lib.ERR_NONFINITE and "diverged" in str(info.value)
    assert np.all(np.isfinite(club.weights))
    # The failed batch did not join the standardization (its count, at payload offset 62).
    assert struct.unpack_from("<d", club.save(), 20 + 62)[0] == 0

def test_raw_null_pointers():
    lib = _lib.lib
    club = dirrm.Club(2, q_hidden=0)
    f = ctypes.POINTER(ctypes.c_float)
    h = np.zeros(4, np.float32)
    out = np.zeros(2, np.float32)
    args = [club._handle, 2, h.ctypes.data_as(f), h.ctypes.data_as(f), out.ctypes.data_as(f)]
    assert lib.dirrm_club_log_prob(*args, None) == _lib.ERR_NULL_POINTER
    assert lib.dirrm_club_log_prob(club._handle, 2, None, h.ctypes.data_as(f), out.ctypes.data_as(f),
                                   out.ctypes.data_as(f)) == _lib.ERR_NULL_POINTER
    assert lib.dirrm_club_bound(*args, None, None, None, None) == _lib.ERR_NULL_POINTER
    assert lib.dirrm_club_create(None, None) == _lib.ERR_NULL_POINTER
    params = _lib.ClubParams()
    lib.dirrm_club_params_init(ctypes.byref(params))
    params.hidden_dim = 2
    assert lib.dirrm_club_create(ctypes.byref(params), None) == _lib.ERR_NULL_POINTER
