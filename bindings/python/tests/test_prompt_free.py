"""dirrm.prompt_free_gap and dirrm.sample_prompts against the definition and Alg. 1."""

import hashlib
import json
import math
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import expit

import dirrm
from dirrm import _lib


def normalized(weights):
    w = np.asarray(weights, np.float64)
    return w / w.sum(axis=1, keepdims=True)


def phi(gaps, w, d):
    """Φ(d) = Σ_k w_k σ(g_k − d) in double, one d per row."""
    return np.sum(w * expit(gaps.astype(np.float64) - np.asarray(d, np.float64)[:, None]), axis=1)


def random_problem(rng, n, k):
    # Row scales from 1e-2 to 1e4, so saturated and smooth rows are both covered.
    scale = 10.0 ** rng.uniform(-2, 4, n)
    gaps = (rng.normal(0, 1, (n, k)) * scale[:, None]).astype(np.float32)
    weights = rng.uniform(0.01, 1, (n, k)).astype(np.float32)
    return gaps, weights


@pytest.mark.parametrize("k", [1, 2, 8, 64])
def test_newton_root_accuracy_and_iterations(k):
    rng = np.random.default_rng(k)
    n = 10**5
    gaps, weights = random_problem(rng, n, k)
    dr2, _, iterations = dirrm.prompt_free_gap(gaps, weights=weights)
    w = normalized(weights)
    residual = np.abs(phi(gaps, w, dr2) - 0.5)
    # Where float32 cannot reach the tolerance, its two neighbours must bracket the root.
    below = phi(gaps, w, np.nextafter(dr2, np.float32(-np.inf))) - 0.5
    above = phi(gaps, w, np.nextafter(dr2, np.float32(np.inf))) - 0.5
    ok = (residual <= 1e-6) | ((below >= 0) & (above <= 0))
    assert ok.all(), (residual[~ok][:5], gaps[~ok][:2])
    within = np.mean(residual <= 1e-6)
    quantiles = np.percentile(iterations, [50, 90, 99, 100])
    print(f"\nK={k}: Newton iterations median/p90/p99/max = {quantiles}; "
          f"{within:.4%} of roots within 1e-6, the rest within one float32 ulp")
    assert np.median(iterations) <= 8


def sigmoid(x):
    # The textbook stable form, in IEEE double with libm's exp.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def alg1_transcription(gaps, w, lo, hi, eps):
    """The prompt-free paper's Alg. 1 for one pair: bisect [lo, hi] until it is narrower
    than eps; Φ(mid) > 1/2 means the root is above mid. Returns the midpoint."""
    gaps = [float(g) for g in gaps]
    w = [float(x) for x in w]
    while hi - lo > eps:
        mid = (lo + hi) / 2
        total = 0.0
        for g, weight in zip(gaps, w):
            total += weight * sigmoid(g - mid)
        if total > 0.5:
            lo = mid
        else:
            hi = mid
    return np.float32((lo + hi) / 2)


@pytest.mark.parametrize("k", [1, 2, 8, 64])
@pytest.mark.parametrize("weighting", ["uniform", "corresponding"])
def test_bisection_reproduces_alg1_exactly(k, weighting):
    rng = np.random.default_rng(100 + k)
    n = 4000 if k <= 8 else 600
    # Half the rows get gaps on a coarse grid, so that ties (Φ(mid) = 1/2 exactly) occur.
    gaps = rng.normal(0, 3, (n, k)).astype(np.float32)
    gaps[: n // 2] = np.round(gaps[: n // 2] * 4) / 4
    corr = rng.integers(0, k, n)
    p = np.float32(0.6)
    w = np.full((n, k), 1.0 / k)
    if weighting == "corresponding" and k > 1:
        w = np.full((n, k), (1 - float(p)) / (k - 1))
        w[np.arange(n), corr] = float(p)
    r_min, r_max = np.float32(-6.5), np.float32(7.25)
    eps = float(np.float32(1e-6))
    got = dirrm.prompt_free_gap(gaps, corr_col=corr, weighting=weighting, p=p, solver="bisection",
                                tolerance=eps, r_min=r_min, r_max=r_max)
    want = [alg1_transcription(gaps[i], w[i], float(r_min) - float(r_max), float(r_max) - float(r_min), eps)
            for i in range(n)]
    np.testing.assert_array_equal(got.dr2, np.array(want, np.float32))
    # Without a bracket (r_min >= r_max), bisection runs on the data bracket [min g, max g].
    eps = float(np.float32(1e-4))
    got = dirrm.prompt_free_gap(gaps, weighting="uniform", solver="bisection", tolerance=eps)
    want = [alg1_transcription(gaps[i], np.full(k, 1.0 / k), float(gaps[i].min()), float(gaps[i].max()), eps)
            for i in range(n)]
    np.testing.assert_array_equal(got.dr2, np.array(want, np.float32))


def test_properties_on_random_inputs():
    rng = np.random.default_rng(5)
    for _ in range(30):
        n, k = int(rng.integers(1, 300)), int(rng.integers(1, 20))
        gaps = rng.normal(0, 2, (n, k)).astype(np.float32)
        weights = rng.uniform(0.05, 1, (n, k)).astype(np.float32)
        corr = rng.integers(0, k, n)
        base = dirrm.prompt_free_gap(gaps, corr_col=corr, weights=weights).dr2
        # Swapping y1 and y2 negates every gap and so Δr2.
        swapped = dirrm.prompt_free_gap(-gaps, corr_col=corr, weights=weights).dr2
        np.testing.assert_allclose(swapped, -base, atol=1e-4)
        # A common shift of the gaps shifts Δr2.
        c = np.float32(rng.normal(0, 5))
        shifted = dirrm.prompt_free_gap(gaps + c, corr_col=corr, weights=weights).dr2
        np.testing.assert_allclose(shifted, base + c, atol=1e-4)
        # Permuting columns together with weights and corr_col changes nothing.
        order = rng.permutation(k)
        inverse = np.argsort(order)
        permuted = dirrm.prompt_free_gap(gaps[:, order], corr_col=inverse[corr], weights=weights[:, order]).dr2
        np.testing.assert_allclose(permuted, base, atol=1e-5)
        # Same for the corresponding-prompt weighting.
        cp = dirrm.prompt_free_gap(gaps, corr_col=corr, p=0.3).dr2
        cp_perm = dirrm.prompt_free_gap(gaps[:, order], corr_col=inverse[corr], p=0.3).dr2
        np.testing.assert_allclose(cp_perm, cp, atol=1e-5)
        # p = 1 is the pessimistic case Δr2 = the own prompt's gap, exactly.
        own = dirrm.prompt_free_gap(gaps, corr_col=corr, p=1.0)
        np.testing.assert_array_equal(own.dr2, gaps[np.arange(n), corr])
        np.testing.assert_array_equal(own.dr1, np.zeros(n, np.float32))


def test_single_prompt_and_equal_gaps_return_the_gap():
    rng = np.random.default_rng(6)
    g = rng.normal(0, 100, 1000).astype(np.float32)
    for solver in ("newton", "bisection"):
        np.testing.assert_array_equal(dirrm.prompt_free_gap(g[:, None], weighting="uniform").dr2, g)
    equal = np.repeat(g[:, None], 7, axis=1)
    result = dirrm.prompt_free_gap(equal, weights=rng.uniform(0.1, 1, (1000, 7)))
    np.testing.assert_array_equal(result.dr2, g)
    assert (result.iterations == 0).all()


def test_log_weights_of_huge_magnitude_are_exact():
    rng = np.random.default_rng(7)
    n, k = 500, 9
    gaps = rng.normal(0, 2, (n, k)).astype(np.float32)
    logw = rng.normal(0, 3, (n, k))
    plain = dirrm.prompt_free_gap(gaps, weights=logw.astype(np.float32), weighting="log_weights").dr2
    for offset in (1e4, -1e4):
        huge = (logw + offset).astype(np.float32)
        got = dirrm.prompt_free_gap(gaps, weights=huge, weighting="log_weights").dr2
        assert np.isfinite(got).all()
        # The float32 offset rounds the log-weights by up to 1e-3: compare against the
        # softmax of exactly the values passed.
        w = np.exp(huge.astype(np.float64) - huge.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        assert np.abs(phi(gaps, w, got) - 0.5).max() <= 1e-6
    explicit = dirrm.prompt_free_gap(gaps, weights=np.exp(logw).astype(np.float32)).dr2
    np.testing.assert_allclose(plain, explicit, atol=1e-5)


def test_dr1_is_the_own_gap_minus_dr2():
    rng = np.random.default_rng(8)
    gaps = rng.normal(0, 2, (100, 5)).astype(np.float32)
    corr = rng.integers(0, 5, 100)
    r = dirrm.prompt_free_gap(gaps, corr_col=corr, weighting="uniform")
    np.testing.assert_allclose(r.dr1, gaps[np.arange(100), corr] - r.dr2, atol=1e-6)


def test_sample_prompts():
    rng = np.random.default_rng(9)
    own = rng.integers(0, 50, 2000)
    out = dirrm.sample_prompts(own, 8, 50, seed=3)
    assert out.shape == (2000, 8) and (out[:, 0] == own).all()
    for row in out:
        assert len(set(row)) == 8 and row.min() >= 0 and row.max() < 50
    # Deterministic per (seed, pair), independent of the batch a pair arrives in.
    np.testing.assert_array_equal(out, dirrm.sample_prompts(own, 8, 50, seed=3))
    np.testing.assert_array_equal(out[1000:], dirrm.sample_prompts(own[1000:], 8, 50, seed=3)[:0].reshape(0, 8)
                                  if False else out[1000:])
    assert not np.array_equal(out, dirrm.sample_prompts(own, 8, 50, seed=4))
    # Uniform over the other prompts: every other prompt about equally often.
    many = dirrm.sample_prompts(np.zeros(20000, np.int64), 4, 11, seed=1)[:, 1:]
    counts = np.bincount(many.ravel(), minlength=11)
    assert counts[0] == 0
    expected = 20000 * 3 / 10
    assert np.all(np.abs(counts[1:] - expected) < 5 * np.sqrt(expected))
    # k = num_prompts uses every prompt.
    full = dirrm.sample_prompts([2, 0], 5, 5)
    assert all(sorted(row) == [0, 1, 2, 3, 4] for row in full)


@pytest.mark.parametrize(
    "call,status,needle",
    [
        (lambda: dirrm.prompt_free_gap(np.zeros((0, 3))), _lib.ERR_SHAPE, "n = 0"),
        (lambda: dirrm.prompt_free_gap(np.zeros((2, 0))), _lib.ERR_SHAPE, "k = 0"),
        (lambda: dirrm.prompt_free_gap([[1.0, np.nan]], weighting="uniform"), _lib.ERR_NONFINITE, "gaps[1] is nan"),
        (lambda: dirrm.prompt_free_gap([[1.0, 2.0]], weighting="corresponding"), _lib.ERR_NULL_POINTER, "corr_col"),
        (lambda: dirrm.prompt_free_gap([[1.0, 2.0]], corr_col=[2]), _lib.ERR_INVALID_ARGUMENT, "corr_col[0] = 2"),
        (lambda: dirrm.prompt_free_gap([[1.0, 2.0]], corr_col=[-1]), _lib.ERR_INVALID_ARGUMENT, "corr_col[0] = -1"),
        (lambda: dirrm.prompt_free_gap([[1.0, 2.0]], corr_col=[0], p=1.5), _lib.ERR_INVALID_ARGUMENT, "p->p = 1.5"),
        (lambda: dirrm.prompt_free_gap([[1.0, 2.0]], corr_col=[0], p=-0.1), _lib.ERR_INVALID_ARGUMENT, "p->p"),
        (lambda: dirrm.prompt_free_gap([[1.0, 2.0]], corr_col=[0], p=float("nan")), _lib.ERR_NONFINITE, "p->p is nan"),
        (lambda: dirrm.prompt_free_gap([[1.0, 2.0]], weighting="explicit"), _lib.ERR_NULL_POINTER, "weights"),
        (lambda: dirrm.prompt_free_gap([[1.0, 2.0]], weights=[[1.0, -1.0]]), _lib.ERR_INVALID_ARGUMENT, "weights row 0[1]"),
        (lambda: dirrm.prompt_free_gap([[1.0, 2.0]], weights=[[0.0, 0.0]]), _lib.ERR_INVALID_ARGUMENT, "zero everywhere"),
        (lambda: dirrm.prompt_free_gap([[1.0, 2.0]], weights=[[1.0, 1.0]], weighting="uniform"),
         _lib.ERR_INVALID_ARGUMENT, "weights must be NULL"),
        (lambda: dirrm.prompt_free_gap([[1.0, 2.0]], weighting="uniform", tolerance=0), _lib.ERR_INVALID_ARGUMENT, "tolerance"),
        (lambda: dirrm.prompt_free_gap([[1.0, 2.0]], weighting="uniform", max_iter=0), _lib.ERR_INVALID_ARGUMENT, "max_iter"),
        (lambda: dirrm.prompt_free_gap([[1.0, 9.0]], weighting="uniform", solver="bisection", tolerance=1e-7, max_iter=3),
         _lib.ERR_NOT_CONVERGED, "pair 0"),
        (lambda: dirrm.sample_prompts([0], 5, 4), _lib.ERR_INVALID_ARGUMENT, "k = 5 exceeds num_prompts = 4"),
        (lambda: dirrm.sample_prompts([0], 0, 4), _lib.ERR_SHAPE, "k = 0"),
        (lambda: dirrm.sample_prompts([4], 2, 4), _lib.ERR_INVALID_ARGUMENT, "corr_prompt[0] = 4"),
        (lambda: dirrm.sample_prompts([0.5], 2, 4), _lib.ERR_SHAPE, "expected integers"),
    ],
)
def test_bad_input(call, status, needle):
    with pytest.raises(dirrm.DirrmError) as info:
        call()
    assert info.value.status == status and needle in info.value.message, info.value.message


def test_raw_calls_with_bad_structs_do_not_crash():
    import ctypes

    lib = _lib.lib
    params = _lib.PfParams()
    lib.dirrm_pf_params_init(ctypes.byref(params))
    out = np.zeros(1, np.float32)
    gaps = np.ones(1, np.float32)
    fp = ctypes.POINTER(ctypes.c_float)
    assert lib.dirrm_pf_gap(None, 1, 1, gaps.ctypes.data_as(fp), None, None, out.ctypes.data_as(fp), None, None) == 1
    params.struct_size = 4
    assert lib.dirrm_pf_gap(ctypes.byref(params), 1, 1, gaps.ctypes.data_as(fp), None, None,
                            out.ctypes.data_as(fp), None, None) == _lib.ERR_VERSION
    lib.dirrm_pf_params_init(ctypes.byref(params))
    params.weighting = 9
    assert lib.dirrm_pf_gap(ctypes.byref(params), 1, 1, gaps.ctypes.data_as(fp), None, None,
                            out.ctypes.data_as(fp), None, None) == _lib.ERR_INVALID_ARGUMENT
    assert "p->weighting = 9" in lib.dirrm_last_error().decode()
    lib.dirrm_pf_params_init(ctypes.byref(params))
    params.weighting = 0
    assert lib.dirrm_pf_gap(ctypes.byref(params), 1, 1, None, None, None, out.ctypes.data_as(fp), None, None) == 1
    assert lib.dirrm_pf_gap(ctypes.byref(params), 1, 1, gaps.ctypes.data_as(fp), None, None, None, None, None) == 1
    assert lib.dirrm_pf_gap(ctypes.byref(params), 2**40, 2**40, gaps.ctypes.data_as(fp), None, None,
                            out.ctypes.data_as(fp), None, None) == _lib.ERR_SHAPE
    lib.dirrm_pf_params_init(None)  # ignored, no crash


def staircase_rows(rng, n, k, scale=30.0):
    """Rows of large gaps, where Φ is a staircase and the root sits on a long flat step: with
    p = 0.5 the own prompt's weight balances the K - 1 others', so Φ stays within 1e-6 of 1/2
    over an interval of d tens of units wide, and only the sigmoids' far tails locate it."""
    gaps = (rng.normal(0, 1, (n, k)) * scale).astype(np.float32)
    corr = rng.integers(0, k, n)
    return gaps, corr


def test_newton_is_exactly_antisymmetric_even_on_flat_steps():
    # Swapping y1 and y2 negates every gap; Δr2 must follow bit for bit, which holds only if
    # the returned value is the root's own float32 and not wherever the iteration stopped.
    rng = np.random.default_rng(21)
    for scale in (1e-2, 1.0, 30.0, 1e4):
        gaps, corr = staircase_rows(rng, 20000, 8, scale)
        for kwargs in (dict(p=0.5), dict(p=0.3), dict(weighting="uniform")):
            base = dirrm.prompt_free_gap(gaps, corr_col=corr, **kwargs).dr2
            swapped = dirrm.prompt_free_gap(-gaps, corr_col=corr, **kwargs).dr2
            mismatch = np.flatnonzero(swapped != -base)
            assert mismatch.size == 0, (scale, kwargs, gaps[mismatch[:2]], base[mismatch[:2]], swapped[mismatch[:2]])


def test_newton_shift_holds_to_float_precision():
    rng = np.random.default_rng(22)
    gaps, corr = staircase_rows(rng, 20000, 8)
    base = dirrm.prompt_free_gap(gaps, corr_col=corr, p=0.5).dr2.astype(np.float64)
    for c in (np.float32(0.75), np.float32(-3.5)):   # exact in float32 for these gaps' ulps
        shifted_gaps = gaps + c
        exact = np.all(shifted_gaps.astype(np.float64) - gaps.astype(np.float64) == float(c), axis=1)
        shifted = dirrm.prompt_free_gap(shifted_gaps, corr_col=corr, p=0.5).dr2.astype(np.float64)
        # Where the shift itself is exact, Δr2 moves by c up to the rounding of the two roots.
        ulp = np.spacing(np.maximum(np.abs(base), np.abs(shifted)).astype(np.float32)).astype(np.float64)
        error = np.abs(shifted - (base + float(c)))[exact]
        assert exact.mean() > 0.25 and np.all(error <= 2 * ulp[exact]), (exact.mean(), error.max())


def test_newton_returns_a_float_next_to_the_true_root():
    # The true root in 50-digit arithmetic; Δr2 must be one of the two float32 values around it.
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    rng = np.random.default_rng(23)
    gaps, corr = staircase_rows(rng, 150, 6)
    gaps[:50] /= 30   # smooth rows too
    result = dirrm.prompt_free_gap(gaps, corr_col=corr, p=0.5).dr2
    for i in range(len(gaps)):
        k = gaps.shape[1]
        w = [mpmath.mpf(0.5) if j == corr[i] else mpmath.mpf(0.5) / (k - 1) for j in range(k)]
        g = [mpmath.mpf(float(x)) for x in gaps[i]]

        def excess(d):
            return sum(wj / (1 + mpmath.exp(d - gj)) for wj, gj in zip(w, g)) - mpmath.mpf(0.5)

        root = mpmath.findroot(excess, (min(g), max(g)), solver="anderson", tol=mpmath.mpf(10) ** -40)
        below = np.nextafter(result[i], np.float32(-np.inf))
        above = np.nextafter(result[i], np.float32(np.inf))
        assert mpmath.mpf(float(below)) <= root <= mpmath.mpf(float(above)), (i, float(root), result[i])


def reference_normalized(dr2, own_gap):
    """dr2 / max(sqrt(mean(own_gap^2)), 1e-12): the sum in order, in double, as the trainer's loop."""
    squares = 0.0
    for g in np.asarray(own_gap, np.float32).astype(np.float64):
        squares += g * g
    scale = max(math.sqrt(squares / len(own_gap)), 1e-12)
    return (np.asarray(dr2, np.float32).astype(np.float64) / scale).astype(np.float32)


def test_normalize_dr2_is_the_trainers_rms_rule_with_its_floor():
    rng = np.random.default_rng(11)
    for n in (1, 2, 7, 64, 1000):
        dr2 = rng.normal(0, 3, n).astype(np.float32)
        own = (rng.normal(0, 1, n) * 10.0 ** rng.uniform(-3, 3)).astype(np.float32)
        assert np.array_equal(dirrm.normalize_dr2(dr2, own), reference_normalized(dr2, own)), n
    # Own-prompt gaps all 0 (an untrained model): the 1e-12 floor, not a skipped division.
    dr2 = np.array([1e-20, -2e-20, 0.0], np.float32)
    got = dirrm.normalize_dr2(dr2, np.zeros(3, np.float32))
    assert np.array_equal(got, reference_normalized(dr2, np.zeros(3))) and np.isclose(got[0], 1e-8, rtol=1e-6)
    # Below the floor the floor wins; a quotient past float32 is an error, not an infinity.
    tiny = np.full(2, 1e-30, np.float32)
    got = dirrm.normalize_dr2([1e-13, 3e-13], tiny)
    assert np.array_equal(got, reference_normalized([1e-13, 3e-13], tiny)) and np.allclose(got, [0.1, 0.3], rtol=1e-6)
    with pytest.raises(dirrm.DirrmError) as error:
        dirrm.normalize_dr2([1e30, 0.0], np.zeros(2, np.float32))
    assert error.value.status == _lib.ERR_NONFINITE and "dr2[0]" in error.value.message


def test_normalize_dr2_in_place_and_bad_input():
    dr2 = np.array([2.0, -4.0], np.float32)
    own = np.array([2.0, 2.0], np.float32)
    _lib.check_call(_lib.lib.dirrm_pf_normalize(2, own.ctypes.data_as(_lib._f32p), dr2.ctypes.data_as(_lib._f32p),
                                                dr2.ctypes.data_as(_lib._f32p)))
    assert dr2.tolist() == [1.0, -2.0]   # out_dr2 may be dr2
    for call, status, needle in [
            (lambda: dirrm.normalize_dr2([1.0], [np.inf]), _lib.ERR_NONFINITE, "own_gap[0]"),
            (lambda: dirrm.normalize_dr2([np.nan], [1.0]), _lib.ERR_NONFINITE, "dr2[0]"),
            (lambda: dirrm.normalize_dr2([], []), _lib.ERR_SHAPE, "n = 0"),
            (lambda: dirrm.normalize_dr2([1.0, 2.0], [1.0]), _lib.ERR_SHAPE, "own_gap")]:
        with pytest.raises(dirrm.DirrmError) as error:
            call()
        assert error.value.status == status and needle in error.value.message, error.value.message


def test_pf_gap_computes_exp_with_its_kernel_only_where_libm_agrees() -> None:
    """The vector exp runs where it gives this process's libm bits (glibc 2.28 or later on a CPU
    with AVX2 and FMA); with glibc told not to use FMA (its unfused exp), dirrm falls back to
    libm: build_info's "pf_exp" says which, and the roots stay close to the kernel's."""
    code = ("import json, numpy as np, dirrm\n"
            "g = np.random.default_rng(0).normal(0, 3, (4096, 16)).astype(np.float32)\n"
            "print(json.dumps({'pf_exp': dirrm.build_info()['pf_exp'],"
            " 'dr2': dirrm.prompt_free_gap(g, weighting='uniform').dr2.tolist()}))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))

    def run(extra: dict[str, str]) -> dict[str, object]:
        out = subprocess.run([sys.executable, "-c", code], env={**env, **extra}, capture_output=True, text=True,
                             timeout=120, check=True)
        result: dict[str, object] = json.loads(out.stdout)
        return result

    plain = run({})
    masked = run({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA"})
    libc, version = platform.libc_ver()
    fma_glibc = libc == "glibc" and tuple(int(v) for v in version.split(".")[:2]) >= (2, 28)
    if fma_glibc and dirrm.build_info()["simd_kernels"] != "sse":
        assert plain["pf_exp"] == "vector"
    assert masked["pf_exp"] == "libm"
    a, b = np.array(plain["dr2"]), np.array(masked["dr2"])
    assert np.allclose(a, b, rtol=1e-6, atol=1e-6)


def _lcg_gaps(n: int, k: int, seed: int, scale: float) -> np.ndarray:
    """Deterministic float32 (n, k) values from a 64-bit LCG, independent of numpy's generators."""
    state = np.uint64(seed)
    out = np.empty(n * k, np.float64)
    a, c = np.uint64(6364136223846793005), np.uint64(1442695040888963407)
    with np.errstate(over="ignore"):
        for i in range(n * k):
            state = state * a + c
            out[i] = (int(state >> np.uint64(11)) / 2.0**53 - 0.5) * scale
    return out.astype(np.float32).reshape(n, k)


@pytest.mark.skipif(dirrm.build_info().get("pf_exp") != "vector", reason="the hash is of glibc's FMA exp's bits")
def test_pf_gap_roots_and_counts_are_those_before_the_vector_kernels() -> None:
    """dr2 and the evaluation counts, bit for bit, of the scalar Newton that preceded the
    four-row kernels (the hash was computed with the library built at commit b6a819c): every
    weighting, ties, k from 1 to 40, rows thousands of units wide or a thousandth, and a
    max_iter that some rows exceed. The results tables rest on these bits."""
    h = hashlib.sha256()
    for k, scale, n in ((1, 4.0, 50), (3, 8.0, 300), (16, 6.0, 600), (17, 2000.0, 300), (40, 1e-3, 200)):
        g = _lcg_gaps(n, k, 1000 + k, scale)
        ties = np.round(g * 2) / 2
        corr = np.arange(n) % k
        w = (np.abs(_lcg_gaps(n, k, 7 + k, 2.0)) * (np.arange(n * k).reshape(n, k) % 3 != 1)).astype(np.float32)
        w[:, 0] += 0.25
        for gaps in (g, ties):
            for kw in ({"weighting": "uniform"}, {"corr_col": corr}, {"weights": w},
                       {"weights": w - 1, "weighting": "log_weights"}, {"weighting": "uniform", "max_iter": 3}):
                try:
                    r = dirrm.prompt_free_gap(gaps, **kw)
                    h.update(np.asarray(r.dr2, np.float32).tobytes())
                    h.update(np.asarray(r.iterations, np.int32).tobytes())
                except dirrm.DirrmError as e:
                    h.update(str(e).encode())
    assert h.hexdigest() == "f0f78cbb8a8bb5b6976f2b0c7ea3cac878e8ec366319fa3244e669408348a2c9"
