"""dirrm.torch.PromptFreeBatchSampler in a DataLoader (epochs, len, full batches, resuming),
against the library's own Prioritizer driven the way dirrm_train drives it (one threshold
update per step, however many rounds), ranks simulated by threads against one prioritizer fed
the union, and the prompt_free_score_fn helper against dirrm.prompt_free_gap."""

import os
import threading

import warnings

import numpy as np
import pytest

import dirrm
import dirrm._params  # noqa: F401  (dirrm._params.defaults)

torch = pytest.importorskip("torch")
import dirrm.torch as dt  # noqa: E402
import dirrm.torch.sampler as sampler_module  # noqa: E402

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
            if cand.size == 0:
                break
            rounds += 1
            accepted += cand[q.decide(cand, DR2[cand])].tolist()
            q.end_step()   # every round is a prioritizer step, as in dirrm_train
        thresholds.append(q.threshold)
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


def test_a_state_brings_its_prioritizer_settings_and_says_so():
    saved = sampler(max_reinsertions=1, reinsertion="lazy")
    next(iter(saved))
    other = sampler()
    with pytest.warns(RuntimeWarning, match=r"'reinsertion': \('lazy', 'immediate'\), 'max_reinsertions': \(1, 0\)"):
        other.load_state_dict(saved.state_dict())
    assert len(other) == len(saved)   # the saved max_reinsertions decide the steps
    same = sampler(max_reinsertions=1, reinsertion="lazy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same.load_state_dict(saved.state_dict())


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


def test_several_rounds_per_step_move_the_threshold_every_round_as_the_library_prioritizer():
    # A threshold below most values: steps need several rounds, and the EMA moves after each.
    s = dt.PromptFreeBatchSampler(N, B, score, initial_threshold=-1.05, ema_weight=0.9, seed=3, max_reinsertions=1,
                                  reinsertion="lazy")
    q = dirrm.Prioritizer(N, ema_weight=0.9, initial_threshold=-1.05, max_reinsertions=1, reinsertion="lazy", seed=3)
    rounds_seen, got, want = [], [], []
    for _ in range(2 * len(s)):
        accepted = s._step()
        s._kept(accepted.size)
        got.append(s.threshold)
        batch, rounds = 0, 0
        while batch < B and rounds < s.max_rounds:
            cand = q.propose(B - batch)
            if cand.size == 0:
                cand = q.propose(B - batch)
            rounds += 1
            batch += int(q.decide(cand, DR2[cand]).sum())
            q.end_step()
        rounds_seen.append(rounds)
        want.append(q.threshold)
        assert q.stats["step"] == sum(rounds_seen)
    assert max(rounds_seen) > 1, rounds_seen
    assert got == want


def test_max_rounds_defaults_to_the_library_pf_max_rounds():
    library = dirrm._params.defaults(dirrm._lib.TrainParams).pf_max_rounds
    assert library == 8
    assert dt.PromptFreeBatchSampler(N, B, score).max_rounds == library
    assert dt.PromptFreeBatchSampler(N, B, score, max_rounds=2).max_rounds == 2


class _Hub:
    """In-process stand-in for a process group: ranks are threads, all_gather meets at a barrier."""

    def __init__(self, world):
        self.world, self.slots = world, [None] * world
        self.barrier = threading.Barrier(world, timeout=60)

        self.events = []   # rank 0's view: ("gather", parts) and ("reduce",), in call order

    def all_gather(self, rank, rows):
        self.slots[rank] = np.array(rows, copy=True)
        self.barrier.wait()
        out = list(self.slots)
        self.barrier.wait()
        if rank == 0:
            self.events.append(("gather", out))
        return out

    def all_reduce(self, rank, values):
        gathered = self.all_gather(rank, np.asarray(values, np.float64).reshape(1, -1))
        if rank == 0:
            self.events[-1] = ("reduce",)
        return np.sum(gathered, axis=0).reshape(-1)


class _FakeGroup:
    def __init__(self, process_group, distributed):
        self.hub, self._rank = process_group

    def active(self):
        return True

    def world(self):
        return self.hub.world

    def rank(self):
        return self._rank

    def all_gather_rows(self, rows):
        return self.hub.all_gather(self._rank, rows)

    def all_reduce(self, values):
        return self.hub.all_reduce(self._rank, values)


def test_simulated_ranks_hold_the_threshold_of_one_prioritizer_fed_the_union(monkeypatch):
    monkeypatch.setattr(sampler_module, "_Group", _FakeGroup)
    world, steps = 3, 20
    hub = _Hub(world)
    results, errors = [None] * world, []

    def rank_main(rank):
        try:
            # A low threshold, so that steps take several rounds and ranks fill at different rounds.
            s = dt.PromptFreeBatchSampler(N, B, score, initial_threshold=-1.05, ema_weight=0.8, seed=3,
                                          process_group=(hub, rank))
            trace = []
            for _ in range(steps):
                accepted = s._step()
                s._kept(accepted.size)
                trace.append(s.threshold)
            results[rank] = trace
        except BaseException as error:   # reported by the main thread
            errors.append(error)
            hub.barrier.abort()

    threads = [threading.Thread(target=rank_main, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    # Rank 0's calls: each round is a gather of the decided dr2 then a reduce; each step ends
    # with the gather of the accepted counts.
    union = dirrm.Prioritizer(100 * N, ema_weight=0.8, initial_threshold=-1.05, seed=0)
    want, rounds, events = [], [], hub.events
    per_step = 0
    for i, event in enumerate(events):
        if event[0] != "gather":
            continue
        if i + 1 < len(events) and events[i + 1][0] == "reduce":   # a round
            everything = np.concatenate([part.reshape(-1) for part in event[1]])
            per_step += 1
            if everything.size:
                union.decide(union.propose(everything.size), everything)
                union.end_step()
        else:   # the step's end
            want.append(union.threshold)
            rounds.append(per_step)
            per_step = 0
    assert len(want) == steps and max(rounds) > 1, rounds
    for step in range(steps):
        thresholds = [results[r][step] for r in range(world)]
        assert thresholds == [want[step]] * world, (step, thresholds, want[step])
    assert len(set(results[0])) > 1   # it moved


def test_a_state_of_the_old_sampler_with_its_own_threshold_is_refused():
    state = sampler().state_dict()
    assert "threshold" not in state
    with pytest.raises(ValueError, match="older"):
        sampler().load_state_dict({**state, "threshold": 0.5})


def test_the_rule_has_no_python_copy():
    """The round limit's default and the EMA live in the library only."""
    package = os.path.dirname(os.path.abspath(dirrm.__file__))
    for root, _, files in os.walk(package):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(root, name)) as source:
                    text = source.read()
                assert "max_rounds: int = 8" not in text and "* threshold +" not in text, name
