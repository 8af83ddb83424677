"""dirrm.torch.PromptFreeBatchSampler in a DataLoader (epochs, len, full batches, resuming),
against the library's own Prioritizer driven the way dirrm_train drives it, and the
prompt_free_score_fn helper against dirrm.prompt_free_gap."""

import numpy as np
import pytest

import dirrm

torch = pytest.importorskip("torch")
import dirrm.torch as dt  # noqa: E402

N, B = 200, 16
# 80% of the pairs in a low cluster: the threshold settles between the clusters.
RNG = np.random.default_rng(0)
DR2 = np.where(RNG.uniform(size=N) < 0.8, RNG.normal(-1, 0.1, N), RNG.normal(1, 0.1, N)).astype(np.float32)


def score(indices):
    return DR2[indices]


def sampler(**kwargs):
    return dt.PromptFreeBatchSampler(N, B, score, initial_threshold=0.0, ema_weight=0.8, seed=3, **kwargs)


def reference_steps(steps):
    """The library's Prioritizer (its own threshold) in dirrm_train's refill loop."""
    q = dirrm.Prioritizer(N, ema_weight=0.8, initial_threshold=0.0, max_reinsertions=0, seed=3)
    batches, thresholds = [], []
    for _ in range(steps):
        accepted, rounds = [], 0
        while len(accepted) < B and rounds < 8:
            cand = q.propose(B - len(accepted))
            if cand.size == 0:
                cand = q.propose(B - len(accepted))
            rounds += 1
            accepted += cand[q.decide(cand, DR2[cand])].tolist()
        thresholds.append(q.end_step())
        batches.append(accepted)
    return batches, thresholds


def test_three_epochs_of_full_batches_in_a_dataloader_match_the_library_prioritizer():
    data = torch.arange(N)
    s = sampler()
    loader = torch.utils.data.DataLoader(data, batch_sampler=s)
    assert len(loader) == len(s) == -(-N // B)
    epochs, thresholds = [], []
    for _ in range(3):
        batches = []
        for batch in loader:
            batches.append(batch.tolist())
            thresholds.append(s.threshold)
        epochs.append(batches)
    sizes = [[len(b) for b in batches] for batches in epochs]
    print(f"\nbatch sizes per epoch: {sizes}")
    assert all(size == B for epoch in sizes for size in epoch), sizes
    assert all(len(batches) == len(s) for batches in epochs)
    flat = [b for batches in epochs for b in batches]
    assert all(DR2[b].max() < 0 for b in flat[3:])   # once settled, only the low cluster
    want_batches, want_thresholds = reference_steps(3 * len(s))
    assert flat == want_batches
    assert thresholds == want_thresholds


def test_mid_epoch_state_dict_resume_gives_the_same_sequence():
    straight = sampler(max_reinsertions=1, reinsertion="lazy")
    want = [list(straight) for _ in range(2)]
    first = sampler(max_reinsertions=1, reinsertion="lazy")
    iterator = iter(first)
    got = [[next(iterator) for _ in range(5)]]
    state = first.state_dict()
    resumed = sampler(max_reinsertions=1, reinsertion="lazy")
    resumed.load_state_dict(state)
    got[0] += list(resumed)
    got.append(list(resumed))
    assert got == want
    assert resumed.threshold == straight.threshold and resumed.epoch == straight.epoch == 1


def test_score_fn_helper_is_prompt_free_gap_of_the_sampled_prompts():
    rng = np.random.default_rng(1)
    num_prompts, k = 10, 4
    own = rng.integers(0, num_prompts, N)
    table = rng.normal(0, 1, (N, num_prompts)).astype(np.float32)   # gap of pair i under prompt j
    calls = []

    def gap_fn(pairs, prompts):
        calls.append(torch.is_grad_enabled())
        return torch.tensor(table[pairs[:, None], prompts])

    fn = dt.prompt_free_score_fn(gap_fn, own, num_prompts, k=k, p=0.0, seed=5)
    idx = np.array([5, 17, 3, 199])
    got = fn(idx)
    prompts = dirrm.sample_prompts(own, k, num_prompts, seed=5)[idx]
    gaps = table[idx[:, None], prompts]
    want = dirrm.prompt_free_gap(gaps, corr_col=np.zeros(4, int), p=0.0).dr2 / np.sqrt(np.mean(gaps[:, 0] ** 2))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert calls == [False]
    assert np.array_equal(prompts[:, 0], own[idx])


def test_bad_arguments_and_scores():
    with pytest.raises(ValueError, match="batch_size"):
        dt.PromptFreeBatchSampler(N, 0, score)
    with pytest.raises(ValueError, match="ema_weight"):
        dt.PromptFreeBatchSampler(N, B, score, ema_weight=2.0)
    with pytest.raises(dirrm.DirrmError, match="method"):
        dt.PromptFreeBatchSampler(N, B, score, cluster_method="median")
    with pytest.raises(ValueError, match="finite"):
        next(iter(dt.PromptFreeBatchSampler(N, B, lambda idx: np.full(idx.size, np.nan))))
    with pytest.raises(ValueError, match="3 values"):
        next(iter(dt.PromptFreeBatchSampler(N, B, lambda idx: np.zeros(3))))
    other = dt.PromptFreeBatchSampler(N + 1, B, score).state_dict()
    with pytest.raises(ValueError, match="pool"):
        sampler().load_state_dict(other)
