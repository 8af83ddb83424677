"""The inputs benchmarks/bench.py and benchmarks/perf_profile.py time dirrm on (numpy only, no torch,
so that a profiled process holds nothing but dirrm and numpy)."""

import numpy as np


def normal(seed, shape, scale=1.0):
    return (np.random.default_rng(seed).normal(0, scale, shape)).astype(np.float32)


def club_batch(n, d):
    rng = np.random.default_rng(1)
    hc, hr = rng.normal(size=(2, n, d)).astype(np.float32)
    b = rng.integers(0, 2, n).astype(np.float32)
    return hc, hr, b


def synth_length(num_prompts=2000, responses_per_prompt=4, prompt_dim=64, response_dim=64, bias_ratio=0.8, seed=0):
    """Length-biased preference data of the library's design (dirrm.h, DIRRM_SYNTH_LENGTH, at its
    default sizes), drawn with numpy so that the dirrm and the torch trainer read the very same
    arrays: prompt features [content, +1], response features [content, length block, flag
    block], true reward x̃ᵀAc with A of rank 2, Bradley-Terry-noisy training labels, every
    chosen-longer pair kept and chosen-shorter ones making them a share bias_ratio; the test set
    (a quarter as many prompts, at least 50) has every pair, labelled by the ground truth.

    Returns two dicts (train, test) of prompts (P, dp), responses (R, dr), pairs (N, 3) int64 and
    bias (N,) float32 (the chosen-minus-rejected length)."""
    rng = np.random.default_rng(seed)
    surface = max(1, response_dim // 8)
    content, prompt_content = response_dim - 2 * surface, prompt_dim - 1
    u, w = rng.normal(size=(prompt_content, 2)), rng.normal(size=(content, 2))
    a = 3 / np.sqrt(2 * prompt_content * content) * u @ w.T

    def build(count, noisy):
        prompts = np.concatenate([rng.normal(size=(count, prompt_content)), np.ones((count, 1))], 1)
        k = responses_per_prompt
        lengths = rng.normal(size=count * k)
        responses = np.concatenate([rng.normal(size=(count * k, content)), np.repeat(lengths[:, None], surface, 1),
                                    np.zeros((count * k, surface))], 1)
        truth = np.einsum("pi,ij,prj->pr", prompts[:, :-1], a, responses[:, :content].reshape(count, k, content))
        first, second = np.triu_indices(k, 1)
        gap = truth[:, first] - truth[:, second]
        wins = rng.random(gap.shape) < 1 / (1 + np.exp(-gap)) if noisy else gap > 0
        p = np.repeat(np.arange(count), len(first))
        i, j = (np.arange(count)[:, None] * k + first).ravel(), (np.arange(count)[:, None] * k + second).ravel()
        chosen, rejected = np.where(wins.ravel(), i, j), np.where(wins.ravel(), j, i)
        return {"prompts": prompts.astype(np.float32), "responses": responses.astype(np.float32),
                "pairs": np.stack([p, chosen, rejected], 1).astype(np.int64),
                "bias": (lengths[chosen] - lengths[rejected]).astype(np.float32)}

    train = build(num_prompts, True)
    keep = (train["bias"] > 0) | (rng.random(len(train["bias"])) < (1 - bias_ratio) / bias_ratio)
    train["pairs"], train["bias"] = train["pairs"][keep], train["bias"][keep]
    return train, build(max(50, num_prompts // 4), False)
