"""dirrm.audit / dirrm_audit: each number against numpy, scipy or scikit-learn written here."""

from __future__ import annotations

import ctypes
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

import dirrm
from dirrm import _lib


def problem(n: int = 800, seed: int = 0, slope: float = 0.04):
    """Rewards that follow the length gap, plus noise; integer lengths, so the gap has ties."""
    rng = np.random.default_rng(seed)
    lc, lr = rng.integers(5, 80, n), rng.integers(5, 80, n)
    lr[:40] = lc[:40]  # some equal lengths
    rc = (rng.normal(size=n) + slope * (lc - lr)).astype(np.float32)
    rr = np.zeros(n, np.float32)
    rc[:10] = 0  # some tied rewards
    return rc, rr, lc, lr


def agree_of(gap):
    return np.where(gap > 0, 1.0, np.where(gap == 0, 0.5, 0.0))


def test_agreements_and_the_baseline_match_numpy():
    rc, rr, lc, lr = problem()
    a = dirrm.audit(rc, rr, lengths=(lc, lr), bootstrap=0)["length"]
    gap, agree = rc.astype(np.float64) - rr, agree_of(rc.astype(np.float64) - rr)
    lgap = (lc - lr).astype(np.float64)
    assert a.pairs == len(rc)
    assert a.agreement == pytest.approx(agree.mean(), abs=1e-12)
    assert a.attribute_baseline == pytest.approx(agree_of(lgap).mean(), abs=1e-12)
    for value, count, mask in ((a.agreement_larger, a.pairs_larger, lgap > 0),
                               (a.agreement_smaller, a.pairs_smaller, lgap < 0),
                               (a.agreement_equal, a.pairs_equal, lgap == 0)):
        assert count == mask.sum()
        assert value == pytest.approx(agree[mask].mean(), abs=1e-12)
    assert a.balanced_agreement == pytest.approx((agree[lgap > 0].mean() + agree[lgap < 0].mean()) / 2)
    assert a.spearman == pytest.approx(stats.spearmanr(gap, lgap).statistic, abs=1e-9)
    assert np.isnan(a.spearman_low) and np.isnan(a.spearman_high)  # bootstrap 0: no interval


def test_buckets_match_numpy_quantile_edges():
    rc, rr, lc, lr = problem()
    k = 7
    a = dirrm.audit(rc, rr, lengths=(lc, lr), bootstrap=0, buckets=k)["length"]
    lgap = (lc - lr).astype(np.float64)
    agree = agree_of(rc.astype(np.float64) - rr)
    edges = np.sort(lgap)[[i * len(lgap) // k for i in range(1, k)]]
    which = np.searchsorted(edges, lgap, side="right")
    want = [(lgap[which == b].min(), lgap[which == b].max(), (which == b).sum(), agree[which == b].mean())
            for b in range(k) if (which == b).any()]
    got = [(b.lowest, b.highest, b.pairs, b.agreement) for b in a.buckets]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g[:3] == pytest.approx(w[:3]) and g[3] == pytest.approx(w[3], abs=1e-12)
    assert sum(b.pairs for b in a.buckets) == len(lgap)


def test_spearman_interval_matches_scipy_bootstrap():
    rc, rr, lc, lr = problem(n=600, seed=1)
    a = dirrm.audit(rc, rr, lengths=(lc, lr), bootstrap=4000, level=0.9, seed=3)["length"]
    gap, lgap = rc.astype(np.float64) - rr, (lc - lr).astype(np.float64)
    ref = stats.bootstrap((gap, lgap), lambda x, y: stats.spearmanr(x, y).statistic, paired=True,
                          vectorized=False, n_resamples=4000, confidence_level=0.9, method="percentile",
                          random_state=np.random.default_rng(0)).confidence_interval
    # Two independent Monte Carlo estimates of the same percentiles: within their noise.
    assert a.spearman_low == pytest.approx(ref.low, abs=0.012)
    assert a.spearman_high == pytest.approx(ref.high, abs=0.012)
    assert a.spearman_low < a.spearman < a.spearman_high
    again = dirrm.audit(rc, rr, lengths=(lc, lr), bootstrap=4000, level=0.9, seed=3)["length"]
    assert (again.spearman_low, again.spearman_high) == (a.spearman_low, a.spearman_high)  # seeded


def test_length_control_matches_scikit_learn():
    sklearn = pytest.importorskip("sklearn.linear_model")
    rc, rr, lc, lr = problem(seed=2)
    a = dirrm.audit(rc, rr, lengths=(lc, lr), bootstrap=0)["length"]
    gap, lgap = rc.astype(np.float64) - rr, (lc - lr).astype(np.float64)
    z = (lgap / lgap.std()).reshape(-1, 1)
    # A tie is half an agreement: two rows of weight 1/2, one of each outcome.
    ties = gap == 0
    x = np.vstack([z, z[ties]])
    y = np.concatenate([(gap > 0).astype(int), np.zeros(ties.sum(), int)])
    y[: len(gap)][ties] = 1
    w = np.concatenate([np.where(ties, 0.5, 1.0), np.full(ties.sum(), 0.5)])
    ref = sklearn.LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000).fit(x, y, sample_weight=w)
    assert a.coefficient == pytest.approx(ref.coef_[0, 0], abs=1e-5)
    assert a.intercept == pytest.approx(ref.intercept_[0], abs=1e-5)
    assert a.controlled_agreement == pytest.approx(expit(ref.intercept_[0]), abs=1e-6)
    assert a.coefficient > 1  # the rewards follow length, and the audit says so


def test_length_control_edge_cases():
    n = 50
    rng = np.random.default_rng(0)
    lc, lr = rng.integers(1, 9, n), rng.integers(1, 9, n)
    perfect = dirrm.audit(np.ones(n), np.zeros(n), lengths=(lc, lr), bootstrap=0)["length"]
    assert perfect.agreement == 1 and perfect.controlled_agreement == 1 and perfect.intercept == np.inf
    constant = dirrm.audit(rng.normal(size=n), np.zeros(n), lengths=(np.ones(n), np.ones(n)), bootstrap=10)
    c = constant["length"]
    assert c.coefficient == 0 and np.isnan(c.spearman) and np.isnan(c.spearman_low)
    assert c.controlled_agreement == pytest.approx(c.agreement, abs=1e-9)


def test_information_estimate_is_zero_without_dependence_and_near_the_truth_with_it():
    rng = np.random.default_rng(0)
    n, d = 4000, 8
    lc, lr = rng.integers(5, 80, n), rng.integers(5, 80, n)
    rc, rr = rng.normal(size=n), np.zeros(n)
    hc, hr = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    independent = dirrm.audit(rc, rr, lengths=(lc, lr), hidden=(hc, hr), bootstrap=0)["length"]
    assert abs(independent.mutual_information) < 0.05
    ac, ar = rng.normal(size=n), rng.normal(size=n)  # a Gaussian attribute, gap g ~ N(0, 2)
    hc[:, 0] += ac
    hr[:, 0] += ar
    # X = h_c - h_r has g + N(0, 2) in its first coordinate, jointly Gaussian with g: for the
    # Gaussian q of the true conditional, CLUB = Var(E[g|X]) / Var(g|X) = Var(g) / 2 = 1.
    dependent = dirrm.audit(rc, rr, {"a": (ac, ar)}, hidden=(hc, hr), bootstrap=0)["a"]
    assert 0.8 < dependent.mutual_information < 1.2
    assert np.isnan(dirrm.audit(rc, rr, lengths=(lc, lr), bootstrap=0)["length"].mutual_information)


def test_categorical_texts_and_json():
    n = 60
    rng = np.random.default_rng(4)
    fmt_c, fmt_r = rng.choice(["list", "prose", "table"], n), rng.choice(["list", "prose", "table"], n)
    flag_c, flag_r = rng.integers(0, 2, n), rng.integers(0, 2, n)
    texts = (["a" * int(k) for k in rng.integers(1, 50, n)], ["b" * int(k) for k in rng.integers(1, 50, n)])
    rc, rr = rng.normal(size=n), rng.normal(size=n)
    a = dirrm.audit(rc, rr, {"format": (fmt_c, fmt_r), "flag": (flag_c, flag_r)}, texts=texts,
                    categorical=["format", "flag"], bootstrap=50)
    assert list(a.attributes) == ["length", "format=list", "format=prose", "format=table", "flag=1"]
    lengths = dirrm.audit(rc, rr, lengths=([len(t) for t in texts[0]], [len(t) for t in texts[1]]),
                          bootstrap=50)["length"]
    assert a["length"] == lengths or a.to_dict()["length"] == dirrm.Audit({"length": lengths}).to_dict()["length"]
    ind = dirrm.audit(rc, rr, {"x": ((fmt_c == "prose").astype(float), (fmt_r == "prose").astype(float))},
                      bootstrap=50)["x"]
    assert a["format=prose"].spearman == ind.spearman and a["format=prose"].buckets == ind.buckets
    assert dirrm.audit(rc, rr, {"flag": (flag_c, flag_r)}, bootstrap=50)["flag"].spearman == a["flag=1"].spearman
    json.dumps(a.to_dict(), allow_nan=False)
    root = ET.fromstring(a.svg("length"))
    assert root.tag.endswith("svg") and len(root.findall("{http://www.w3.org/2000/svg}rect")) >= 2
    assert "| length |" in a.table()


@pytest.mark.parametrize("call, status", [
    (lambda: dirrm.audit([1.0], [0.0], lengths=([1], [2])), _lib.ERR_INVALID_ARGUMENT),
    (lambda: dirrm.audit([1.0, np.nan], [0.0, 0.0], lengths=([1, 2], [2, 1])), _lib.ERR_NONFINITE),
    (lambda: dirrm.audit([1.0, 2.0], [0.0, 0.0], lengths=([1, np.inf], [2, 1])), _lib.ERR_NONFINITE),
    (lambda: dirrm.audit([1.0, 2.0], [0.0, 0.0], lengths=([1, 2], [2, 1]), level=1.0), _lib.ERR_INVALID_ARGUMENT),
    (lambda: dirrm.audit([1.0, 2.0], [0.0, 0.0], lengths=([1, 2], [2, 1]), buckets=0), _lib.ERR_INVALID_ARGUMENT),
    (lambda: dirrm.audit([1.0, 2.0], [0.0, 0.0], lengths=([1, 2], [2, 1]), hidden=(np.ones((2, 3)), np.ones((2, 3)))),
     _lib.ERR_INVALID_ARGUMENT),
    (lambda: dirrm.audit([1.0, 2.0], [0.0], lengths=([1, 2], [2, 1])), _lib.ERR_SHAPE),
    (lambda: dirrm.audit([1.0, 2.0], [0.0, 1.0]), _lib.ERR_INVALID_ARGUMENT),
    (lambda: dirrm.audit([1.0, 2.0], [0.0, 1.0], {"a": ([1, 2], [1])}), _lib.ERR_SHAPE),
])
def test_bad_inputs_raise(call, status):
    with pytest.raises(dirrm.DirrmError) as error:
        call()
    assert error.value.status == status


def test_c_call_with_null_params_and_outputs_uses_the_defaults():
    rc, rr, lc, lr = problem(n=100)
    f = lambda x: np.ascontiguousarray(x, np.float32)  # noqa: E731
    arrays = [f(rc), f(rr), f(lc), f(lr)]
    report = _lib.AuditReport(struct_size=ctypes.sizeof(_lib.AuditReport))
    p = [a.ctypes.data_as(_lib._f32p) for a in arrays]
    assert _lib.lib.dirrm_audit(None, 100, *p, 0, None, None, ctypes.byref(report), None, None, None, None) == 0
    want = dirrm.audit(rc, rr, lengths=(lc, lr))["length"]  # every keyword None: the defaults too
    assert (report.spearman_low, report.spearman_high) == (want.spearman_low, want.spearman_high)
    assert report.num_buckets == len(want.buckets)
    bad = _lib.AuditReport(struct_size=3)
    assert _lib.lib.dirrm_audit(None, 100, *p, 0, None, None, ctypes.byref(bad), None, None, None, None) \
        == _lib.ERR_VERSION
    assert bad.pairs == 0  # nothing written on failure
    hidden = np.ones((100, 2), np.float32)
    assert _lib.lib.dirrm_audit(None, 100, *p, 0, hidden.ctypes.data_as(_lib._f32p), None, ctypes.byref(report),
                                None, None, None, None) == _lib.ERR_INVALID_ARGUMENT


def test_audit_model_scores_a_transformers_model_as_one_sequence_at_a_time_would():
    pytest.importorskip("trl")
    import importlib.util
    import os

    import torch
    from dirrm.trl import audit_model

    from conftest import REPO

    spec = importlib.util.spec_from_file_location("trl_example", os.path.join(REPO, "examples/python/trl_dir.py"))
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    tok = example.tokenizer()
    model = example.model(tok)
    data = example.pairs(48, seed=1, prompts=3)
    flags = [int("very" in row["chosen"]) for row in data], [int("very" in row["rejected"]) for row in data]
    data = data.add_column("flag_c", flags[0]).add_column("flag_r", flags[1])
    got = audit_model(model, tok, data, attributes={"flag": ("flag_c", "flag_r")}, batch_size=5, bootstrap=200)
    assert model.training  # the mode is restored

    def one(text):  # no padding: each sequence alone
        ids = tok(text, return_tensors="pt")
        with torch.no_grad():
            out = model(**ids, output_hidden_states=True)
        return float(out.logits[0, 0]), ids["input_ids"].shape[1], out.hidden_states[-1][0, -1].numpy()

    model.eval()
    scored = {side: [one(row["prompt"] + row[side] + tok.eos_token) for row in data] for side in ("chosen", "rejected")}
    model.train()
    r = {side: np.array([s[0] for s in scored[side]]) for side in scored}
    lengths = {side: np.array([s[1] for s in scored[side]]) for side in scored}
    h = {side: np.stack([s[2] for s in scored[side]]) for side in scored}
    want = dirrm.audit(r["chosen"], r["rejected"], {"flag": flags}, lengths=(lengths["chosen"], lengths["rejected"]),
                       hidden=(h["chosen"], h["rejected"]), bootstrap=200)
    assert list(got.attributes) == ["length", "flag"]
    for name in got.attributes:
        g, w = got[name], want[name]
        assert (g.pairs_larger, g.pairs_smaller, g.pairs_equal) == (w.pairs_larger, w.pairs_smaller, w.pairs_equal)
        assert g.agreement == w.agreement and g.spearman == pytest.approx(w.spearman, abs=1e-6)
        assert g.mutual_information == pytest.approx(w.mutual_information, abs=1e-3)


def test_extreme_inputs_give_a_report_or_a_status():
    big = 3.4e38
    rep = dirrm.audit([big, -big, 0, 1], [-big, big, 0, 0], lengths=([big, -big, big, 0], [-big, big, 0, 0]))
    assert np.isfinite(rep["length"].agreement)
    with pytest.raises(dirrm.DirrmError) as error:  # q cannot fit states of 3e38: a status, q kept finite
        dirrm.audit(np.arange(6.0), np.zeros(6), lengths=(np.arange(6), np.zeros(6)),
                    hidden=(np.full((6, 3), big), np.full((6, 3), big / 2)))
    assert error.value.status == _lib.ERR_NONFINITE
    x = np.ascontiguousarray([1, 2, 3, 4], np.float32)
    p = x.ctypes.data_as(_lib._f32p)
    report = _lib.AuditReport(struct_size=ctypes.sizeof(_lib.AuditReport))
    # d is q's input, at most 2^20 as every estimator's; past the memory there is, OUT_OF_MEMORY.
    for n, d, status in ((2**62, 0, _lib.ERR_SHAPE), (-1, 0, _lib.ERR_SHAPE), (4, 2**20 + 1, _lib.ERR_SHAPE),
                         (4, 2**40, _lib.ERR_SHAPE), (2**40, 0, _lib.ERR_OUT_OF_MEMORY), (4, -3, _lib.ERR_SHAPE)):
        h = p if d > 0 else None
        assert _lib.lib.dirrm_audit(None, n, p, p, p, p, d, h, h, ctypes.byref(report), None, None, None,
                                    None) == status, (n, d)
