"""dirrm.cluster_threshold against brute force; dirrm.Prioritizer through the Alg. 2 loop."""

import copy  # the pickle protocol (__getstate__/__setstate__), without unpickling any bytes

import numpy as np
import pytest

import dirrm
from dirrm import _lib


def brute_force_thresholds(values):
    """Thresholds of every optimal split of the sorted values, trying every split and
    computing each within-cluster sum of squares directly (two-pass, in double)."""
    x = np.sort(np.asarray(values, np.float64))
    n = len(x)
    if n < 2 or x[0] == x[-1]:
        return {"kmeans": [x[0]], "otsu": [x[0]]}
    costs = []
    for s in range(1, n):
        left, right = x[:s], x[s:]
        costs.append(np.sum((left - left.mean()) ** 2) + np.sum((right - right.mean()) ** 2))
    costs = np.array(costs)
    best = costs.min()
    # Splits as good as the best up to rounding of the sums themselves.
    good = np.nonzero(costs <= best + 1e-9 * max(best, np.sum((x - x.mean()) ** 2) * 1e-6))[0] + 1
    return {
        "kmeans": [(x[:s].mean() + x[s:].mean()) / 2 for s in good],
        "otsu": [(x[s - 1] + x[s]) / 2 for s in good],
    }


def random_values(rng):
    n = int(rng.integers(1, 2001))
    kind = rng.integers(0, 6)
    if kind == 0:
        return rng.normal(0, 1, n)
    if kind == 1:  # ties and duplicates
        return rng.integers(-3, 4, n).astype(np.float64)
    if kind == 2:  # constant
        return np.full(n, rng.normal())
    if kind == 3:  # huge
        return rng.normal(0, 1, n) * 1e30
    if kind == 4:  # tiny
        return rng.normal(0, 1, n) * 1e-30
    return np.concatenate([rng.normal(-5, 1, n // 5 + 1), rng.normal(5, 1, n)])  # two clusters


@pytest.mark.parametrize("method", ["kmeans", "otsu"])
def test_clustering_equals_brute_force(method):
    rng = np.random.default_rng(1 if method == "kmeans" else 2)
    for trial in range(120):
        values = random_values(rng).astype(np.float32)
        got = np.float32(dirrm.cluster_threshold(values, method))
        candidates = np.array(brute_force_thresholds(values)[method], np.float32)
        ulp = np.spacing(np.abs(candidates))
        assert np.any(np.abs(candidates - got) <= ulp), (trial, got, candidates[:3])


def test_clustering_small_cases():
    assert dirrm.cluster_threshold([3.5]) == 3.5
    assert dirrm.cluster_threshold([2.0, 2.0, 2.0], "otsu") == 2.0
    assert dirrm.cluster_threshold([0.0, 0.0, 1.0], "otsu") == 0.5
    assert dirrm.cluster_threshold([0.0, 1.0, 10.0, 11.0], "kmeans") == pytest.approx(5.5)
    # Extreme float32 values do not overflow.
    assert np.isfinite(dirrm.cluster_threshold([-3e38, 3e38, 3e38]))


def simulate_epoch(q, batch_size, score, alpha):
    """Runs one epoch of Alg. 2 by hand; checks the EMA and returns what happened."""
    proposed, accepted = [], []
    while True:
        stats = q.stats
        candidates = q.propose(batch_size)
        if candidates.size == 0:
            return proposed, accepted
        dr2 = score(candidates)
        before = stats["threshold"]
        keep = q.decide(candidates, dr2)
        np.testing.assert_array_equal(keep, dr2 < np.float32(before))
        boundary = np.float32(dirrm.cluster_threshold(dr2))
        after = q.end_step()
        want = np.float32(np.float64(np.float32(alpha)) * np.float64(before)
                          + (1 - np.float64(np.float32(alpha))) * np.float64(boundary))
        assert after == want, (after, want)
        proposed.extend(candidates.tolist())
        accepted.extend(candidates[keep].tolist())


@pytest.mark.parametrize("reinsertion", ["immediate", "lazy"])
@pytest.mark.parametrize("quota", [0, 1, 3])
def test_alg2_invariants(reinsertion, quota):
    n = 500
    rng = np.random.default_rng(quota)
    base = rng.normal(0, 1, n).astype(np.float32)
    q = dirrm.Prioritizer(n, reinsertion=reinsertion, max_reinsertions=quota, seed=11, ema_weight=0.8)
    for epoch in range(3):
        noise = np.random.default_rng(epoch)
        score = lambda idx: (base[idx] + noise.normal(0, 0.5, idx.size)).astype(np.float32)
        proposed, accepted = simulate_epoch(q, 37, score, 0.8)
        s = q.stats
        counts = np.bincount(proposed, minlength=n)
        assert counts.min() >= 1, "every pair is proposed at least once"
        assert counts.max() <= quota + 1, "reinsertions per pair within the quota"
        assert len(set(accepted)) == len(accepted), "each pair accepted at most once per epoch"
        assert s["proposed"] == len(proposed) == s["accepted"] + s["rejected"]
        assert s["accepted"] == len(accepted)
        assert s["rejected"] == s["reinserted"] + s["dropped"]
        assert s["epoch"] == epoch + 1 and s["pool_remaining"] == 0


@pytest.mark.parametrize("value", [1e30, -1e30])
@pytest.mark.parametrize("reinsertion", ["immediate", "lazy"])
def test_every_epoch_ends(value, reinsertion):
    n = 200
    q = dirrm.Prioritizer(n, reinsertion=reinsertion, max_reinsertions=2, seed=1)
    for _ in range(2):
        steps = 0
        for batch in q.batches(16, lambda idx: np.full(idx.size, value, np.float32)):
            steps += 1
            assert steps < 10_000
        s = q.stats
        if value > 0:  # all rejected: every pair comes back twice, then is dropped
            assert s["accepted"] == 0 and s["dropped"] == n and s["proposed"] == 3 * n
        else:
            assert s["accepted"] == n and s["proposed"] == n


def test_same_seed_same_sequence_and_save_load_mid_epoch():
    n = 300
    base = np.random.default_rng(0).normal(0, 1, n).astype(np.float32)
    score = lambda idx: base[idx]

    def run(q, steps):
        out = []
        for _ in range(steps):
            c = q.propose(20)
            if c.size == 0:
                out.append(("end",))
                continue
            k = q.decide(c, score(c))
            out.append((c.tolist(), k.tolist(), q.end_step()))
        return out

    a = dirrm.Prioritizer(n, seed=5, reinsertion="lazy", max_reinsertions=2)
    b = dirrm.Prioritizer(n, seed=5, reinsertion="lazy", max_reinsertions=2)
    assert run(a, 25) == run(b, 25)
    c = dirrm.Prioritizer.load(a.save())
    d = copy.deepcopy(a)
    assert c.num_samples == n and c.stats == a.stats
    future = run(a, 60)
    assert run(c, 60) == future and run(d, 60) == future
    assert run(dirrm.Prioritizer(n, seed=6), 5) != run(dirrm.Prioritizer(n, seed=5), 5)


def test_two_clusters_stream():
    # 80% of pairs have large dr2, 20% small: accepted batches are dominated by the small
    # ones and the threshold settles between the clusters.
    n = 2000
    rng = np.random.default_rng(3)
    small = rng.random(n) < 0.2
    dr2 = np.where(small, rng.normal(-2, 0.3, n), rng.normal(3, 0.3, n)).astype(np.float32)
    q = dirrm.Prioritizer(n, seed=2, ema_weight=0.9)
    shares = []
    for _ in range(3):
        accepted = np.concatenate(list(q.batches(64, lambda idx: dr2[idx])))
        shares.append(small[accepted].mean())
    threshold = q.threshold
    assert min(shares) > 0.95, shares
    assert dr2[small].max() < threshold < dr2[~small].min(), threshold


def test_batches_work_as_a_torch_batch_sampler():
    torch = pytest.importorskip("torch")
    data = torch.arange(100, dtype=torch.float32)
    q = dirrm.Prioritizer(100, seed=0, initial_threshold=50.0, ema_weight=1.0)
    loader = torch.utils.data.DataLoader(data, batch_sampler=q.batches(10, lambda idx: idx.astype(np.float32)))
    seen = torch.cat(list(loader))
    assert sorted(seen.tolist()) == list(range(50))


def test_nonfinite_and_misuse_are_errors():
    q = dirrm.Prioritizer(10, seed=0)
    c = q.propose(4)
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(dirrm.DirrmError) as info:
            q.decide(c[:1], [bad])
        assert info.value.status == _lib.ERR_NONFINITE and "dr2[0]" in info.value.message
    with pytest.raises(dirrm.DirrmError) as info:
        q.decide([c[0], c[0]], [0.0, 0.0])
    assert info.value.status == _lib.ERR_MISUSE and "indices[1]" in info.value.message
    not_pending = next(i for i in range(10) if i not in c)
    with pytest.raises(dirrm.DirrmError) as info:
        q.decide([not_pending], [0.0])
    assert info.value.status == _lib.ERR_MISUSE
    with pytest.raises(dirrm.DirrmError) as info:
        q.decide([10], [0.0])
    assert info.value.status == _lib.ERR_INVALID_ARGUMENT and "indices[0] = 10" in info.value.message
    assert q.stats["accepted"] + q.stats["rejected"] == 0, "failed decisions change nothing"
    q.decide(c, np.zeros(4, np.float32))
    rest = q.propose(100)
    with pytest.raises(dirrm.DirrmError) as info:
        q.propose(1)  # pool empty, 6 still pending
    assert info.value.status == _lib.ERR_MISUSE and "pending" in info.value.message
    q.decide(rest, np.ones(rest.size, np.float32))


@pytest.mark.parametrize(
    "kwargs,status,needle",
    [
        (dict(num_samples=0), _lib.ERR_SHAPE, "num_samples = 0"),
        (dict(ema_weight=1.5), _lib.ERR_INVALID_ARGUMENT, "p->ema_weight"),
        (dict(ema_weight=float("nan")), _lib.ERR_NONFINITE, "p->ema_weight"),
        (dict(initial_threshold=float("inf")), _lib.ERR_NONFINITE, "p->initial_threshold"),
        (dict(max_reinsertions=-1), _lib.ERR_INVALID_ARGUMENT, "p->max_reinsertions"),
    ],
)
def test_bad_parameters(kwargs, status, needle):
    kwargs.setdefault("num_samples", 5)
    with pytest.raises(dirrm.DirrmError) as info:
        dirrm.Prioritizer(**kwargs)
    assert info.value.status == status and needle in info.value.message, info.value.message


def test_stale_foreign_and_mistyped_handles_are_refused():
    import ctypes

    lib = _lib.lib
    q = dirrm.Prioritizer(5)
    handle = q._handle
    q.close()
    out = np.zeros(1, np.int64)
    count = ctypes.c_int64()
    ip = ctypes.POINTER(ctypes.c_int64)
    for stale in (handle, ctypes.c_void_p(0xDEADBEEF), ctypes.c_void_p(out.ctypes.data)):
        assert lib.dirrm_prioritizer_propose(stale, 1, out.ctypes.data_as(ip), ctypes.byref(count)) == _lib.ERR_MISUSE
        assert "not a live prioritizer handle" in lib.dirrm_last_error().decode()
        assert lib.dirrm_prioritizer_free(stale) == _lib.ERR_MISUSE
    assert lib.dirrm_prioritizer_free(None) == _lib.OK
    assert lib.dirrm_prioritizer_propose(None, 1, out.ctypes.data_as(ip), ctypes.byref(count)) == _lib.ERR_NULL_POINTER
    with pytest.raises(dirrm.DirrmError):
        q.propose(1)


def test_corrupt_buffers_are_refused():
    q = dirrm.Prioritizer(50, seed=1)
    q.propose(7)
    data = q.save()
    for cut in (0, 1, 10, len(data) // 2, len(data) - 1):
        with pytest.raises(dirrm.DirrmError) as info:
            dirrm.Prioritizer.load(data[:cut] if cut else b"\x00")
        assert info.value.status == _lib.ERR_CORRUPT
    rng = np.random.default_rng(0)
    for _ in range(200):
        flipped = bytearray(data)
        bit = int(rng.integers(0, len(data) * 8))
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(dirrm.DirrmError) as info:
            dirrm.Prioritizer.load(bytes(flipped))
        assert info.value.status in (_lib.ERR_CORRUPT,)
    with pytest.raises(dirrm.DirrmError) as info:
        dirrm.Prioritizer.load(data + b"\x00")
    assert info.value.status == _lib.ERR_CORRUPT


def test_save_size_query_and_small_buffer():
    import ctypes

    lib = _lib.lib
    q = dirrm.Prioritizer(20)
    size = ctypes.c_int64()
    assert lib.dirrm_prioritizer_save(q._handle, None, 0, ctypes.byref(size)) == _lib.OK
    small = np.zeros(size.value - 1, np.uint8)
    u8 = ctypes.POINTER(ctypes.c_uint8)
    assert lib.dirrm_prioritizer_save(q._handle, small.ctypes.data_as(u8), small.size, ctypes.byref(size)) == _lib.ERR_BUFFER_TOO_SMALL
    assert size.value == small.size + 1



def test_observe_gives_every_rank_the_threshold_of_one_prioritizer_fed_the_union():
    """Three ranks decide their own candidates and observe the others' values before end_step;
    each holds, bit for bit, the threshold of one prioritizer that decided every value."""
    rng = np.random.default_rng(7)
    world, n, batch = 3, 60, 8
    ranks = [dirrm.Prioritizer(n, ema_weight=0.7, initial_threshold=0.25, seed=r) for r in range(world)]
    union = dirrm.Prioritizer(1000, ema_weight=0.7, initial_threshold=0.25, seed=99)   # no epoch end
    for step in range(12):
        decided = []
        for q in ranks:
            candidates = q.propose(batch)
            if candidates.size == 0:   # the epoch ended: the next propose starts one
                candidates = q.propose(batch)
            values = (rng.normal(0, 1, candidates.size) * (1 + step)).astype(np.float32)
            q.decide(candidates, values)
            decided.append(values)
        for r, q in enumerate(ranks):
            q.observe(np.concatenate([v for s, v in enumerate(decided) if s != r]))
        everything = np.concatenate(decided)
        union.decide(union.propose(everything.size), everything)
        want = union.end_step()
        got = [q.end_step() for q in ranks]
        assert got == [want] * world, (step, got, want)
        assert all(q.stats["step"] == step + 1 for q in ranks)


def test_observe_refuses_nonfinite_values_and_keeps_the_step():
    q = dirrm.Prioritizer(10, ema_weight=0.0)
    q.decide(q.propose(4), [1.0, 1.0, 3.0, 3.0])
    with pytest.raises(dirrm.DirrmError, match=r"dr2\[1\] is nan") as error:
        q.observe([5.0, np.nan])
    assert error.value.status == _lib.ERR_NONFINITE
    q.observe([])   # nothing to add
    with pytest.raises(dirrm.DirrmError) as error:
        _lib.check_call(_lib.lib.dirrm_prioritizer_observe(q._handle, 1, None))
    assert error.value.status == _lib.ERR_NULL_POINTER
    with pytest.raises(dirrm.DirrmError) as error:
        _lib.check_call(_lib.lib.dirrm_prioritizer_observe(q._handle, 0, None))
    assert error.value.status == _lib.ERR_SHAPE
    assert q.end_step() == 2.0   # the clusters {1, 1} and {3, 3}: nothing was added
