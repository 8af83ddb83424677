"""A Gaussian bias on any scale: DIR's estimator standardizes it with the running mean and
standard deviation of the rows it has been fit on (docs/decisions.md), so raw token counts
train as standardized lengths do, through the C API, the CLI and dirrm.torch. The map is
checked against numpy, across shards, and through the saved state."""

import math
import os
import re
import struct

import numpy as np
import pytest

import dirrm
from dirrm import _lib
from cli_helpers import CLI, run_cli

SCALES = [1e-3, 1e-1, 1e2, 1e4]


def length_batches(rng, count, n, d):
    """Batches whose bias is a response-length gap in tokens (mean 30, std about 150) that the
    hidden states partly reveal."""
    out = []
    for _ in range(count):
        hc, hr = rng.normal(0, 1, (2, n, d)).astype(np.float32)
        tokens = 30 + 100 * (hc[:, 0] - hr[:, 0]) + 20 * rng.normal(0, 1, n)
        out.append((hc, hr, tokens.astype(np.float32)))
    return out


def test_the_map_is_the_mean_and_std_of_every_fitted_row():
    # With q's parameters all zero, log q(b) = sum_d [-z_d^2 / 2 - log sqrt(2 pi) - log std_d]:
    # the map shows through log_prob.
    rng = np.random.default_rng(0)
    d, m = 3, 2
    club = dirrm.Club(d, bias_kind="gaussian", bias_dim=m, q_hidden=0, fit_steps=0, seed=1)
    club.weights = np.zeros_like(club.weights)
    probe_c, probe_r = rng.normal(0, 1, (2, 7, d)).astype(np.float32)
    probe = rng.normal([3000, -5], [400, 0.01], (7, m)).astype(np.float32)

    def expected(rows):
        mean, std = rows.mean(0), rows.std(0)
        z = (probe.astype(np.float64) - mean) / std
        return (-z ** 2 / 2 - 0.5 * math.log(2 * math.pi) - np.log(std)).sum(1)

    # Before any fit: the batch's own statistics.
    np.testing.assert_allclose(club.log_prob(probe_c, probe_r, probe), expected(probe.astype(np.float64)), rtol=1e-5)
    seen = []
    for n in (1, 5, 64, 13):
        hc, hr = rng.normal(0, 1, (2, n, d)).astype(np.float32)
        b = rng.normal([3000, -5], [400, 0.01], (n, m)).astype(np.float32)
        club.fit(hc, hr, b)
        seen.append(b.astype(np.float64))
        rows = np.concatenate(seen)
        if len(rows) > 1:
            np.testing.assert_allclose(club.log_prob(probe_c, probe_r, probe), expected(rows), rtol=1e-5)


def test_a_constant_dimension_is_only_centred():
    club = dirrm.Club(2, bias_kind="gaussian", bias_dim=1, q_hidden=0, fit_steps=0, seed=1)
    club.weights = np.zeros_like(club.weights)
    h = np.ones((4, 2), np.float32)
    club.fit(h, 0 * h, np.full(4, 250.0, np.float32))
    got = club.log_prob(h, 0 * h, np.array([250, 251, 249, 252], np.float32))
    np.testing.assert_allclose(got, -np.array([0, 1, 1, 4]) / 2 - 0.5 * math.log(2 * math.pi), rtol=1e-6)


@pytest.mark.parametrize("scale", SCALES)
def test_training_q_is_the_same_on_any_scale(scale):
    rng = np.random.default_rng(1)
    d = 6
    make = lambda: dirrm.Club(d, bias_kind="gaussian", bias_dim=1, q_hidden=16, learning_rate=1e-2, seed=2)
    unit, scaled = make(), make()
    for hc, hr, b in length_batches(rng, 8, 64, d):
        nll_unit = unit.fit(hc, hr, b)
        nll_scaled = scaled.fit(hc, hr, b * np.float32(scale))
        # The density of b * s is that of b divided by s.
        assert nll_scaled == pytest.approx(nll_unit + math.log(scale), abs=2e-4 * (1 + abs(nll_unit)))
        mi_unit, gc_unit, gr_unit = unit.bound(hc, hr, b)
        mi_scaled, gc_scaled, gr_scaled = scaled.bound(hc, hr, b * np.float32(scale))
        assert mi_scaled == pytest.approx(mi_unit, rel=1e-3, abs=1e-4)
        for got, want in ((gc_scaled, gc_unit), (gr_scaled, gr_unit)):
            assert np.linalg.norm(got - want) <= 1e-3 * np.linalg.norm(want)
    np.testing.assert_allclose(scaled.weights, unit.weights, atol=1e-4)


def test_raw_scale_shards_with_summed_statistics_reproduce_the_whole_batch():
    rng = np.random.default_rng(2)
    d, n = 5, 240
    club = dirrm.Club(d, bias_kind="gaussian", bias_dim=1, q_hidden=16, seed=3)
    (hc, hr, b), = length_batches(rng, 1, n, d)
    b = b * np.float32(1e4)
    for fitted in (False, True):   # before any fit the map comes from the statistics given
        if fitted:
            club.fit(hc, hr, b)
        shards = [slice(0, 40), slice(40, 170), slice(170, n)]
        stats = sum(club.bias_stats(b[s]).astype(np.float64) for s in shards).astype(np.float32)
        whole, gc, _ = club.bound(hc, hr, b)
        total, parts = 0.0, []
        for s in shards:
            mi, sc, _ = club.bound(hc[s], hr[s], b[s], bias_stats=stats)
            total += (s.stop - s.start) / n * mi
            parts.append((s.stop - s.start) / n * sc)
        assert abs(total - whole) <= 1e-5 * abs(whole)
        assert np.linalg.norm(np.concatenate(parts) - gc) <= 1e-5 * np.linalg.norm(gc)


# ---- the saved state ---------------------------------------------------------------------------

def fnv1a(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) % 2 ** 64
    return h


def reframe(state, version, payload):
    """A frame around any payload, with a valid length and checksum."""
    head = state[:8] + struct.pack("<IQ", version, len(payload))
    body = head + payload
    return body + struct.pack("<Q", fnv1a(body))


PAYLOAD = 20                  # magic, version and length precede the payload
STANDARDIZATION = 1 + 8 + 8 + 1 + 8 + 8 + 4 + 4 + 4 + 8 + 8   # its offset in the payload


def test_the_map_survives_save_and_load():
    rng = np.random.default_rng(3)
    club = dirrm.Club(4, bias_kind="gaussian", bias_dim=1, q_hidden=8, seed=1)
    batches = length_batches(rng, 3, 32, 4)
    for hc, hr, b in batches[:2]:
        club.fit(hc, hr, b)
    copy = dirrm.Club.load(club.save())
    assert copy.save() == club.save()
    hc, hr, b = batches[2]
    np.testing.assert_array_equal(copy.log_prob(hc, hr, b), club.log_prob(hc, hr, b))
    assert copy.fit(hc, hr, b) == club.fit(hc, hr, b)


def test_states_the_library_could_not_have_written_are_corrupt():
    rng = np.random.default_rng(4)
    club = dirrm.Club(4, bias_kind="gaussian", bias_dim=1, q_hidden=8, seed=1)
    hc, hr, b = length_batches(rng, 1, 32, 4)[0]
    club.fit(hc, hr, b)
    state = club.save()
    payload = bytearray(state[PAYLOAD:-8])
    assert reframe(state, 2, bytes(payload)) == state
    at = STANDARDIZATION
    for count, mean, spread in [(31.5, 30.0, 1.0), (-1.0, 30.0, 1.0), (0.0, 30.0, 0.0), (32.0, math.nan, 1.0),
                                (32.0, 1e39, 1.0), (32.0, 30.0, -1.0), (32.0, 30.0, math.inf)]:
        payload[at: at + 24] = struct.pack("<3d", count, mean, spread)
        with pytest.raises(dirrm.DirrmError) as info:
            dirrm.Club.load(reframe(state, 2, bytes(payload)))
        assert info.value.status == _lib.ERR_CORRUPT, (count, mean, spread)
    # A categorical estimator never standardizes: a count there is corrupt.
    categorical = dirrm.Club(4, q_hidden=8, seed=1).save()
    payload = bytearray(categorical[PAYLOAD:-8])
    payload[at: at + 8] = struct.pack("<d", 5.0)
    with pytest.raises(dirrm.DirrmError) as info:
        dirrm.Club.load(reframe(categorical, 2, bytes(payload)))
    assert info.value.status == _lib.ERR_CORRUPT


def test_version_1_states():
    # Version 1 had no standardization: its categorical states still load; a Gaussian q was fit
    # on the raw bias and cannot be continued, which is a version error, not a silent change.
    categorical = dirrm.Club(4, q_hidden=8, seed=1)
    state = categorical.save()
    payload = state[PAYLOAD:-8]
    old = reframe(state, 1, payload[:STANDARDIZATION] + payload[STANDARDIZATION + 8:])
    assert dirrm.Club.load(old).save() == state
    gaussian = dirrm.Club(4, bias_kind="gaussian", bias_dim=1, q_hidden=8, seed=1).save()
    payload = gaussian[PAYLOAD:-8]
    old = reframe(gaussian, 1, payload[:STANDARDIZATION] + payload[STANDARDIZATION + 24:])
    with pytest.raises(dirrm.DirrmError) as info:
        dirrm.Club.load(old)
    assert info.value.status == _lib.ERR_VERSION and "version 1" in str(info.value)


# ---- the CLI and dirrm.torch -------------------------------------------------------------------

def length_biased_files(folder, seed=0, prompts=96, per_prompt=4, dim=8):
    """A dataset whose labels prefer the longer response beyond its quality, with the pairs'
    length gaps in tokens as the bias; returns the file paths and the gaps."""
    rng = np.random.default_rng(seed)
    prompt_rows = rng.standard_normal((prompts, dim)).astype(np.float32)
    responses = rng.standard_normal((prompts * per_prompt, dim)).astype(np.float32)
    tokens = 300 + 100 * responses[:, 0]
    preference = responses[:, 1:4].sum(1) + 2 * responses[:, 0]
    pairs = []
    for p in range(prompts):
        for a in range(per_prompt):
            for c in range(a + 1, per_prompt):
                i, j = p * per_prompt + a, p * per_prompt + c
                pairs.append([p, i, j] if preference[i] > preference[j] else [p, j, i])
    pairs = np.array(pairs, np.int64)
    paths = {name: os.path.join(folder, name + ".npy") for name in ("prompts", "responses", "pairs")}
    np.save(paths["prompts"], prompt_rows)
    np.save(paths["responses"], responses)
    np.save(paths["pairs"], pairs)
    return paths, (tokens[pairs[:, 1]] - tokens[pairs[:, 2]]).astype(np.float32)


@pytest.mark.skipif(not os.path.exists(CLI), reason="dirrm-cli is not built")
def test_cli_trains_the_same_model_on_any_scale(tmp_path):
    paths, gaps = length_biased_files(str(tmp_path))
    data = ["--prompts", paths["prompts"], "--responses", paths["responses"], "--pairs", paths["pairs"]]
    standardized = tmp_path / "standardized.npy"
    np.save(standardized, ((gaps - gaps.mean()) / gaps.std()).astype(np.float32))

    def train_and_evaluate(method, bias_path):
        model = tmp_path / "model.bin"
        out = run_cli("train", *data, "--bias", bias_path, "--method", method, "--width", 32, "--output", model)
        assert out.returncode == 0, out.stderr
        out = run_cli("evaluate", *data, "--bias", standardized, "--model", model)
        assert out.returncode == 0, out.stderr
        value = lambda name: float(re.search(rf"^{re.escape(name)} (\S+)$", out.stdout, re.M).group(1))
        return value("accuracy"), value("Spearman(gap, bias)")

    reference = train_and_evaluate("dir", standardized)
    vanilla = train_and_evaluate("vanilla", standardized)
    assert abs(reference[1]) < abs(vanilla[1]) - 0.02   # DIR does act on this bias
    for scale in (1e-3, 1.0, 1e4):                       # raw token gaps times the scale
        scaled = tmp_path / f"gaps{scale}.npy"
        np.save(scaled, gaps * np.float32(scale))
        accuracy, spearman = train_and_evaluate("dir", scaled)
        assert abs(accuracy - reference[0]) <= 0.01 and abs(spearman - reference[1]) <= 0.01, (scale, reference)


def test_torch_dir_loss_trains_the_same_on_any_scale():
    torch = pytest.importorskip("torch")
    import dirrm.torch as dt

    rng = np.random.default_rng(5)
    d, n, steps = 8, 64, 30
    x = rng.normal(0, 1, (steps, 2, n, d)).astype(np.float32)
    tokens = 300 + 100 * x[..., 0] + 10 * rng.normal(0, 1, (steps, 2, n))   # length shows in x
    labels = x[..., 1] + 2 * x[..., 0]                                       # the judge favours length
    swap = labels[:, 0] < labels[:, 1]
    x[:, 0][swap], x[:, 1][swap] = x[:, 1][swap].copy(), x[:, 0][swap].copy()
    gaps = np.where(swap, tokens[:, 1] - tokens[:, 0], tokens[:, 0] - tokens[:, 1]).astype(np.float32)

    def train(scale):
        torch.manual_seed(0)
        # float32 whatever default dtype another test module has set
        encoder = torch.nn.Sequential(torch.nn.Linear(d, 16, dtype=torch.float32), torch.nn.Tanh())
        head = torch.nn.Linear(16, 1, dtype=torch.float32)
        loss_fn = dt.DIRLoss(16, lam=1.0, bias_kind="gaussian", bias_dim=1, q_hidden=16, learning_rate=1e-2, seed=1)
        optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-2)
        losses = []
        for step in range(steps):
            hc, hr = encoder(torch.tensor(x[step, 0])), encoder(torch.tensor(x[step, 1]))
            loss = loss_fn(head(hc), head(hr), hc, hr, torch.tensor(gaps[step] * np.float32(scale)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return np.array(losses), loss_fn.last_mi

    unit, _ = train(1.0)
    for scale in (1e-3, 1e4):
        losses, mi = train(scale)
        assert np.all(np.isfinite(losses)) and mi > -1
        np.testing.assert_allclose(losses, unit, rtol=2e-3, atol=2e-4)
