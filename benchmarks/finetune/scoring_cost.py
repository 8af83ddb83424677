"""What prompt-free's scoring costs in the fine-tuning benchmark, against a training step.

Trains the benchmark's prompt-free model (skewed set, K = 4 prompts, one torch thread, the
library's sampler defaults) for a few steps with the scoring timed and counted, and times at
each step the floor of any scoring policy that decides every trained pair by its own Δr2:
the step's trained pairs scored once each (2 K no-grad forwards per pair). Writes
benchmarks/finetune/SCORING_COST.md (`make finetune-scoring-cost DATA=...`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np
import numpy.typing as npt

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="the AlpacaEval annotations folder")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--out", default=os.path.join(HERE, "SCORING_COST.md"))
    args = parser.parse_args()

    import torch
    torch.set_num_threads(1)
    import dirrm.torch
    import methods
    import model as M
    from data import Budget
    from splits import make_splits

    counted = {"seconds": 0.0, "inputs": 0}
    real_score = M.score

    def timed_score(model: Any, batcher: Any, ins: npt.ArrayLike, res: npt.ArrayLike) -> Any:
        t = time.perf_counter()
        out = real_score(model, batcher, ins, res)
        counted["seconds"] += time.perf_counter() - t
        counted["inputs"] += int(np.asarray(res).size)
        return out

    methods.score = timed_score   # what the sampler's gap_fn calls
    splits = make_splits(args.data, Budget(24, 72), M.load_tokenizer(), 384, 800, skew=0.8, data_seed=0)
    pairs = splits.train_skewed
    job = methods.Job(label="prompt_free", method="prompt_free", train_set="skewed", seed=0)
    torch.manual_seed(job.seed)
    batcher = M.Batcher(splits.corpus)
    model = M.RewardModel()
    model.train()
    sampler = methods._prompt_free_sampler(job, model, batcher, pairs)
    opt, sched = M.make_optimizer(model, len(sampler), 1e-4, 1e-3, 0.1, 0.01)
    bt = dirrm.torch.BTLoss()
    pool = np.unique(pairs.instruction)
    rng = np.random.default_rng(0)
    k = methods.PF_PROMPTS
    rows: list[tuple[float, int, int, float, float]] = []
    batches = iter(sampler)
    for step in range(args.steps):
        seconds, inputs = counted["seconds"], counted["inputs"]
        found = next(batches, None)
        if found is None:
            break
        scoring = counted["seconds"] - seconds
        candidates = (counted["inputs"] - inputs) // (2 * k)
        idx = np.asarray(found, np.int64)
        n = idx.size
        c, r, ins = pairs.chosen[idx], pairs.rejected[idx], pairs.instruction[idx]
        t = time.perf_counter()
        h = model.encode(*batcher.inputs(np.concatenate([ins, ins]), np.concatenate([c, r])))
        rew = model.head(h)
        loss = bt(rew[:n, 0], rew[n:, 0])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        training = time.perf_counter() - t
        # The floor: these n pairs scored once, under their own and k - 1 other instructions.
        prompts = np.concatenate([ins[:, None], rng.choice(pool, (n, k - 1))], 1)
        t = time.perf_counter()
        real_score(model, batcher, np.repeat(prompts.reshape(-1), 2),
                   np.stack([np.repeat(c, k), np.repeat(r, k)], 1).reshape(-1))
        floor = time.perf_counter() - t
        rows.append((scoring, candidates, n, training, floor))
        print(f"step {step}: scoring {scoring:.2f} s ({candidates} candidates), training {training:.2f} s on "
              f"{n} pairs, the trained pairs scored once {floor:.2f} s", flush=True)

    a = np.array(rows, dtype=np.float64)
    ratio = a[:, 0] / a[:, 3]
    floor = a[:, 4] / a[:, 3]
    lines = [
        "# Prompt-free scoring in the fine-tune: what it costs against a training step",
        "",
        f"Written by `make finetune-scoring-cost DATA=...` (benchmarks/finetune/scoring_cost.py): the "
        f"benchmark's prompt-free training (all-MiniLM-L6-v2, skewed set of {len(pairs)} pairs, 16 pairs "
        f"per step, K = {k}, seed 0, one torch thread, the sampler's defaults) for its first {len(rows)} "
        "steps, alone on the machine. *Scoring*: the sampler's calls of the model (no gradients, "
        "64 inputs per forward, sorted by length) for the step's rounds; *floor*: the step's trained "
        "pairs scored once each, the least any policy that decides each trained pair by its own "
        "fresh Δr2 can spend.",
        "",
        "| step | scoring (s) | candidates scored | pairs trained | training step (s) | scoring / step | "
        "floor (s) | floor / step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, (s, cand, n, tr, fl) in enumerate(rows):
        lines.append(f"| {i} | {s:.2f} | {cand} | {n} | {tr:.2f} | {s / tr:.2f} | {fl:.2f} | {fl / tr:.2f} |")
    lines += [
        "",
        f"Median scoring / training step {np.median(ratio):.2f}; candidates scored per trained pair "
        f"{a[:, 1].sum() / a[:, 2].sum():.2f}; median floor / training step {np.median(floor):.2f}.",
        "",
    ]
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines[-2:]))


if __name__ == "__main__":
    main()
