"""dirrm.torch's CLUBPenalty, BTLoss and DIRLoss against pure-torch references written here
(autograd, float64), their input handling, and their state (state_dict round trips, eval)."""

import math

import warnings

import numpy as np
import pytest

import dirrm

torch = pytest.importorskip("torch")
import dirrm.torch as dt  # noqa: E402


@pytest.fixture(autouse=True)
def float32_default():
    # test_club.py sets float64 as the default dtype at import; these tests say what they use.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(previous)


# ---- references, written from the papers' formulas (not from the library) --------------------

def q_layers(flat, dims):
    """Splits q's flat weights (torch.nn.Linear order) into (weight, bias) pairs of float64."""
    flat = torch.as_tensor(np.asarray(flat, np.float64))
    layers, offset = [], 0
    for fan_in, fan_out in dims:
        w = flat[offset: offset + fan_in * fan_out].reshape(fan_out, fan_in)
        offset += fan_in * fan_out
        b = flat[offset: offset + fan_out]
        offset += fan_out
        layers.append((w, b))
    assert offset == flat.numel()
    return layers


def mlp(layers, x):
    for i, (w, b) in enumerate(layers):
        x = x @ w.T + b
        if i + 1 < len(layers):
            x = torch.relu(x)
    return x


def club_reference(flat, cfg, d, hc, hr, b):
    """DIR's CLUB bound with the n x n pairwise mean: (1/n) sum_i [log q(b_i|x_i) - (1/n) sum_j log q(b_j|x_i)].

    For a Gaussian bias, q sees z = (b - mean) / std, the statistics of the rows it has been fit
    on: in these tests, this batch alone (also its own before any fit)."""
    x = hc - hr if cfg.get("pair_mode", "difference") == "difference" else torch.cat([hc, hr], 1)
    dx, h, c = x.shape[1], cfg["q_hidden"], cfg["bias_dim"]
    if cfg["bias_kind"] == "categorical":
        dims = [(dx, c)] if h == 0 else [(dx, h), (h, c)]
        logq = torch.log_softmax(mlp(q_layers(flat, dims), x), dim=1)   # (n, C)
        pair = logq[:, b.long()]                                          # pair[i, j] = log q(b_j | x_i)
    else:
        half = [(dx, c)] if h == 0 else [(dx, h // 2), (h // 2, c)]
        layers = q_layers(flat, half + half)
        mu = mlp(layers[: len(half)], x)
        bound = cfg.get("logvar_bound", 5.0)
        v = bound * torch.tanh(mlp(layers[len(half):], x) / bound)
        b2 = b.reshape(len(b), -1)
        b2 = (b2 - b2.mean(0)) / b2.std(0, unbiased=False)
        pair = (-(b2[None, :, :] - mu[:, None, :]) ** 2 / (2 * torch.exp(v[:, None, :]))
                - v[:, None, :] / 2 - 0.5 * math.log(2 * math.pi)).sum(2)
    return (torch.diagonal(pair) - pair.mean(1)).mean()


def bt_reference(rc, rr, margin=None, weight=None, center=0.0):
    gap = rc - rr - (0 if margin is None else margin)
    w = torch.ones_like(rc) if weight is None else weight
    return (w * torch.nn.functional.softplus(-gap)).sum() / w.sum() + center * ((rc + rr) ** 2).mean()


def leaf(x, dtype=torch.float32):
    return torch.tensor(np.asarray(x), dtype=dtype, requires_grad=True)


def ref_leaf(x):
    return torch.tensor(np.asarray(x, np.float64), dtype=torch.float64, requires_grad=True)


def max_rel(got, want):
    got = torch.as_tensor(got).detach().double()
    want = torch.as_tensor(want).detach().double()
    return float((got - want).abs().max() / max(want.abs().max().item(), 1e-12))


CONFIGS = [
    dict(bias_kind="categorical", bias_dim=2, q_hidden=32),
    dict(bias_kind="categorical", bias_dim=3, q_hidden=0, pair_mode="concat"),
    dict(bias_kind="gaussian", bias_dim=2, q_hidden=16, logvar_bound=3.0),
]


def batch(rng, n, d, cfg):
    hc, hr = rng.normal(0, 1, (2, n, d)).astype(np.float32)
    if cfg["bias_kind"] == "categorical":
        b = rng.integers(0, cfg["bias_dim"], n).astype(np.float32)
    else:
        b = rng.normal(0, 1, (n, cfg["bias_dim"])).astype(np.float32)
    return hc, hr, b


# ---- values and gradients ----------------------------------------------------------------------

@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c['bias_kind']}-{c['q_hidden']}")
@pytest.mark.parametrize("fit", [False, True])
def test_club_penalty_matches_torch_reference_fp32(cfg, fit):
    rng = np.random.default_rng(1)
    d, n = 6, 40
    hc, hr, b = batch(rng, n, d, cfg)
    # lam 1 without the clip or the cap: the module's value and gradient are Î's own.
    penalty = dt.CLUBPenalty(d, lam=1.0, clip=False, cap=False, fit=fit, seed=3, learning_rate=1e-2, **cfg)
    before = penalty.club.weights
    x_c, x_r = leaf(hc), leaf(hr)
    mi = penalty(x_c, x_r, torch.tensor(b))
    (mi * 1.5).backward()
    after = penalty.club.weights
    assert (not np.array_equal(before, after)) == fit   # fitted exactly when asked to
    r_c, r_r = ref_leaf(hc), ref_leaf(hr)
    want = club_reference(after, cfg, d, r_c, r_r, torch.tensor(b, dtype=torch.float64))
    (want * 1.5).backward()
    assert mi.dtype == torch.float32 and mi.shape == ()
    errors = [abs(mi.item() - want.item()) / abs(want.item()), max_rel(x_c.grad, r_c.grad), max_rel(x_r.grad, r_r.grad)]
    print(f"\nCLUBPenalty fp32 {cfg} fit={fit}: max rel diff value/grad_c/grad_r {errors}")
    assert max(errors) <= 1e-5, errors
    assert penalty.last_mi == pytest.approx(mi.item(), rel=1e-6)
    assert penalty.history[-1]["mi"] == penalty.last_mi
    assert (penalty.last_nll is not None) == fit


def test_bt_loss_matches_torch_reference_with_margin_weight_center():
    rng = np.random.default_rng(2)
    n = 50
    rc, rr, margin = rng.normal(0, 2, (3, n)).astype(np.float32)
    weight = rng.uniform(0, 2, n).astype(np.float32)
    module = dt.BTLoss(center=0.05)
    x_c, x_r = leaf(rc), leaf(rr)
    loss = module(x_c, x_r, margin=torch.tensor(margin), weight=weight)   # numpy weight is fine
    (loss * 0.7).backward()
    r_c, r_r = ref_leaf(rc), ref_leaf(rr)
    want = bt_reference(r_c, r_r, torch.tensor(margin, dtype=torch.float64),
                        torch.tensor(weight, dtype=torch.float64), 0.05)
    (want * 0.7).backward()
    errors = [abs(loss.item() - want.item()) / abs(want.item()), max_rel(x_c.grad, r_c.grad), max_rel(x_r.grad, r_r.grad)]
    print(f"\nBTLoss fp32: max rel diff value/grad_c/grad_r {errors}")
    assert max(errors) <= 1e-5, errors


@pytest.mark.parametrize("cfg", CONFIGS[:1] + CONFIGS[2:], ids=lambda c: c["bias_kind"])
def test_dir_loss_is_bt_plus_lambda_club_against_reference(cfg):
    rng = np.random.default_rng(3)
    d, n, lam = 5, 32, 0.4
    hc, hr, b = batch(rng, n, d, cfg)
    rc, rr = rng.normal(0, 1, (2, n, 1)).astype(np.float32)   # (n, 1), as a score head gives
    # The rewards are leaves, not a head of the hidden states: there is no preference gradient
    # on h to cap against (test_cap_* covers the cap).
    module = dt.DIRLoss(d, lam=lam, cap=False, center=0.01, seed=5, learning_rate=1e-2, **cfg)
    inputs = [leaf(a) for a in (rc, rr, hc, hr)]
    loss = module(*inputs, b)
    loss.backward()
    refs = [ref_leaf(a) for a in (rc, rr, hc, hr)]
    pref = bt_reference(refs[0], refs[1], center=0.01)
    mi = club_reference(module.club.weights, cfg, d, refs[2], refs[3], torch.tensor(b, dtype=torch.float64))
    want = pref + lam * mi.clamp(min=0)   # the bound is clipped at zero (docs/decisions.md)
    want.backward()
    errors = [abs(loss.item() - want.item()) / abs(want.item())] + [max_rel(a.grad, r.grad) for a, r in zip(inputs, refs)]
    print(f"\nDIRLoss fp32 {cfg['bias_kind']}: max rel diff value/grads {errors}")
    assert max(errors) <= 1e-5, errors
    assert module.last_pref == pytest.approx(pref.item(), rel=1e-5)
    assert module.last_mi == pytest.approx(mi.item(), rel=1e-5)
    assert inputs[0].grad.shape == (n, 1)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_low_and_high_precision_inputs(dtype):
    cfg = CONFIGS[0]
    rng = np.random.default_rng(4)
    d, n, lam = 6, 48, 0.5
    hc, hr, b = batch(rng, n, d, cfg)
    rc, rr = rng.normal(0, 1, (2, n)).astype(np.float32)
    module = dt.DIRLoss(d, lam=lam, cap=False, fit=False, seed=2, **cfg)
    inputs = [leaf(a, dtype) for a in (rc, rr, hc, hr)]
    loss = module(*inputs, torch.tensor(b))
    loss.backward()
    # The reference sees the same (rounded) inputs, in float64.
    refs = [torch.tensor(a.detach().double().numpy(), requires_grad=True) for a in inputs]
    want = bt_reference(refs[0], refs[1]) + lam * club_reference(
        module.club.weights, cfg, d, refs[2], refs[3], torch.tensor(b, dtype=torch.float64)).clamp(min=0)
    want.backward()
    carried = torch.float32 if dtype in (torch.bfloat16, torch.float16) else dtype   # autocast's rule for losses
    assert loss.dtype == carried and all(a.grad.dtype == dtype for a in inputs)
    # Tolerance: the input dtype's precision, eps = 2^-8 (bf16) or 2^-11 (fp16): each gradient
    # is rounded once to it (<= eps / 2); the value three times (the BT term, the bound and
    # their sum, each in the input dtype as torch adds them): <= 2 eps. For float64 inputs
    # 1e-5 (the library computes in float32).
    eps = {torch.bfloat16: 2 ** -8, torch.float16: 2 ** -11, torch.float64: 1e-5}[dtype]
    value_tol = eps if dtype == torch.float64 else 2 * eps
    value_error = abs(loss.item() - want.item()) / abs(want.item())
    grad_errors = [max_rel(a.grad, r.grad) for a, r in zip(inputs, refs)]
    print(f"\nDIRLoss {dtype}: max rel diff value {value_error:.2e} (tolerance {value_tol:.2e}), "
          f"grads {max(grad_errors):.2e} (tolerance {eps:.2e})")
    assert value_error <= value_tol and max(grad_errors) <= eps, (value_error, grad_errors)


def test_half_precision_losses_survive_a_loss_scale():
    # GradScaler multiplies the loss by 2^16 first, which is inf in float16: the loss of float16
    # rewards is float32, and each gradient is multiplied by the scale before it is rounded
    # to float16, as torch's own float32 losses under autocast are.
    rng = np.random.default_rng(6)
    n = 256
    rewards = torch.tensor(rng.normal(0, 1, 2 * n), dtype=torch.float16, requires_grad=True)
    loss = dt.BTLoss()(rewards[:n], rewards[n:])
    assert loss.dtype == torch.float32
    (loss * 65536.0).backward()
    assert rewards.grad is not None and rewards.grad.dtype == torch.float16
    assert torch.isfinite(rewards.grad).all()
    reference = rewards.detach().double().requires_grad_()
    (torch.nn.functional.softplus(reference[n:] - reference[:n]).mean() * 65536.0).backward()
    torch.testing.assert_close(rewards.grad.double(), reference.grad, rtol=2 ** -11, atol=0)   # rounded once


def test_the_cap_on_views_of_a_frozen_tensor_warns_instead_of_raising():
    # Hidden states sliced from cached features of a frozen backbone: the slices' base needs no
    # gradient, so the cap cannot find pref's gradient there; it says so and the step goes on.
    torch.manual_seed(0)
    n, d = 8, 4
    h = torch.randn(2 * n, 3, d)[:, -1].requires_grad_()
    r = torch.nn.Linear(d, 1)(h).squeeze(-1)
    with pytest.warns(RuntimeWarning, match="cap_wrt"):
        loss = dt.DIRLoss(d)(r[:n], r[n:], h[:n], h[n:], torch.randn(n))
    loss.backward()
    assert h.grad is not None and torch.isfinite(h.grad).all()
    r = torch.nn.Linear(d, 1)(h).squeeze(-1)
    module = dt.DIRLoss(d)
    module(r[:n], r[n:], h[:n], h[n:], torch.randn(n), cap_wrt=(h,))   # named, it is found
    assert module.penalty.last_cap_scale is not None


def test_numpy_inputs_and_integer_bias():
    rng = np.random.default_rng(5)
    hc, hr, b = batch(rng, 20, 4, CONFIGS[0])
    penalty = dt.CLUBPenalty(4, fit=False, **CONFIGS[0])
    got = penalty(hc, hr, b.astype(np.int64))
    want = penalty(torch.tensor(hc), torch.tensor(hr), torch.tensor(b))
    assert got.item() == want.item()


# ---- input errors --------------------------------------------------------------------------

def test_bad_inputs_raise_value_errors_naming_the_argument():
    rng = np.random.default_rng(6)
    hc, hr, b = batch(rng, 8, 4, CONFIGS[0])
    penalty = dt.CLUBPenalty(4, **CONFIGS[0])
    loss = dt.DIRLoss(4, **CONFIGS[0])
    r = np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="h_chosen must be \\(n, hidden_dim\\).*\\(8, 2, 4\\)"):
        penalty(hc.reshape(8, 1, 4).repeat(2, 1), hr, b)
    with pytest.raises(ValueError, match="h_rejected must be"):
        penalty(hc, hr[0], b)
    with pytest.raises(ValueError, match="h_chosen has n = 0"):
        penalty(hc[:0], hr[:0], b[:0])
    with pytest.raises(ValueError, match="h_rejected has shape \\(7, 4\\)"):
        penalty(hc, hr[:7], b)
    with pytest.raises(ValueError, match="bias has shape \\(7,\\)"):
        penalty(hc, hr, b[:7])
    with pytest.raises(ValueError, match="hidden_dim is 4"):
        penalty(hc[:, :3], hr[:, :3], b)
    with pytest.raises(ValueError, match="r_rejected has 7 values"):
        loss(r, r[:7], hc, hr, b)
    with pytest.raises(ValueError, match="r_chosen has n = 0"):
        dt.BTLoss()(r[:0], r[:0])
    with pytest.raises(ValueError, match="weight has 3 values"):
        dt.BTLoss()(r, r, weight=r[:3])
    with pytest.raises(dirrm.DirrmError, match="bias"):
        penalty(hc, hr, np.full(8, 5.0, np.float32))   # class 5 of 2: the library refuses it
    with pytest.raises(dirrm.DirrmError, match="weight"):
        dt.BTLoss()(r, r, weight=-np.ones(8, np.float32))


# ---- state ------------------------------------------------------------------------------------

def train_steps(encoder, head, loss_fn, optimizer, steps, start):
    for step in range(start, start + steps):
        rng = np.random.default_rng(100 + step)
        xc, xr = (torch.tensor(a) for a in rng.normal(0, 1, (2, 32, 10)).astype(np.float32))
        b = (xc[:, 1] > xr[:, 1]).float()
        hc, hr = encoder(xc), encoder(xr)
        loss = loss_fn(head(hc), head(hr), hc, hr, b)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def fresh(seed=0):
    torch.manual_seed(seed)
    encoder, head = torch.nn.Linear(10, 8), torch.nn.Linear(8, 1)
    loss_fn = dt.DIRLoss(8, lam=0.5, q_hidden=16, learning_rate=1e-2, seed=1)
    optimizer = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=1e-2)
    return encoder, head, loss_fn, optimizer


def test_state_dict_round_trip_continues_bit_for_bit(tmp_path):
    straight = fresh()
    train_steps(*straight, 20, 0)

    first = fresh()
    train_steps(*first, 10, 0)
    encoder, head, loss_fn, optimizer = first
    assert "penalty._extra_state" in loss_fn.state_dict()
    torch.save({"encoder": encoder.state_dict(), "head": head.state_dict(), "loss": loss_fn.state_dict(),
                "optimizer": optimizer.state_dict()}, tmp_path / "ckpt.pt")
    second = fresh(seed=7)   # different initial weights and q everywhere
    second[2].penalty.club = dirrm.Club.for_dir(8, q_hidden=16, seed=99)
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)   # q is a plain uint8 tensor
    second[0].load_state_dict(state["encoder"])
    second[1].load_state_dict(state["head"])
    with pytest.warns(RuntimeWarning, match="learning_rate"):   # the q above had DIR's 1e-4
        second[2].load_state_dict(state["loss"])
    second[3].load_state_dict(state["optimizer"])
    train_steps(*second, 10, 10)

    for a, b in zip([*straight[0].parameters(), *straight[1].parameters()],
                    [*second[0].parameters(), *second[1].parameters()]):
        assert torch.equal(a, b)
    assert straight[2].club.save() == second[2].club.save()   # q's weights and AdamW moments
    assert np.array_equal(straight[2].club.weights, second[2].club.weights)


def test_eval_and_no_grad_never_fit_q():
    rng = np.random.default_rng(7)
    hc, hr, b = batch(rng, 16, 4, CONFIGS[0])
    module = dt.DIRLoss(4, learning_rate=1e-2)
    saved = module.club.save()
    module.eval()
    module(np.zeros(16), np.ones(16), hc, hr, b)
    assert module.club.save() == saved and module.penalty.last_nll is None
    module.train()
    with torch.no_grad():
        value = module(np.zeros(16), np.ones(16), hc, hr, b)
    assert module.club.save() == saved and not value.requires_grad
    module(np.zeros(16), np.ones(16), hc, hr, b)   # training mode with gradients: fits
    assert module.club.save() != saved and module.penalty.last_nll is not None


def test_load_state_dict_says_which_settings_come_from_the_state():
    # q continues with its saved settings (as an optimizer's state brings its own); a module
    # built with others is told which, and nothing is said when they agree.
    module = dt.CLUBPenalty(8, q_hidden=16, fit_steps=3, learning_rate=1e-3)
    with pytest.warns(RuntimeWarning, match=r"'q_hidden': \(64, 16\).*'fit_steps': \(5, 3\)"):
        module.load_state_dict(dt.CLUBPenalty(8).state_dict())
    assert module.club.options["q_hidden"] == 64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dt.CLUBPenalty(8).load_state_dict(dt.CLUBPenalty(8, seed=5).state_dict())   # the seed only initialized


def test_load_state_dict_refuses_another_hidden_dim():
    with pytest.raises(ValueError, match=r"\(4, 'gaussian', 1\), this module \(5, 'gaussian', 1\)"):
        dt.CLUBPenalty(5).load_state_dict(dt.CLUBPenalty(4).state_dict())
    # Nor another kind of q: a categorical state does not replace a Gaussian estimator.
    with pytest.raises(ValueError, match="'categorical', 2"):
        dt.CLUBPenalty(4).load_state_dict(dt.CLUBPenalty(4, bias_kind="categorical", bias_dim=2).state_dict())
