"""Data-parallel DIR with torch.distributed (gloo, CPU): exact against one process.

    torchrun --standalone --nproc_per_node 2 examples/python/ddp_dir.py [--out DIR]

Part 1 trains a small encoder and reward head with DistributedDataParallel and
dirrm.torch.DIRLoss, each rank on its shard of every global batch (equal shards, then uneven
ones, then uneven ones with a Gaussian bias given as raw token-count gaps, which the estimator
standardizes on every rank alike, then uneven ones with q fitted on a dirrm thread after each
bound, fit="async"), and rank 0 compares the final weights with one process trained on the
whole batches (on the same schedule).
Part 2 samples with dirrm.torch.PromptFreeBatchSampler on every rank and trains on what it
accepts; the ranks' thresholds are printed (they are identical after every step).
With --out, each rank writes its results to DIR/rank{r}.npz (the tests read them).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import dirrm.torch

D_IN, D_HIDDEN = 10, 8


class RewardModel(torch.nn.Module):
    """A two-layer encoder with a linear reward head: x (m, 10) -> reward (m,), hidden (m, 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Linear(D_IN, 16), torch.nn.Tanh(), torch.nn.Linear(16, D_HIDDEN))
        self.head = torch.nn.Linear(D_HIDDEN, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.head(h).squeeze(-1), h


def global_batches(steps: int, n: int, seed: int = 0, tokens: bool = False
                   ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Preference pairs whose chosen response is better in feature 0; bias: feature 1 larger
    (a class), or with `tokens` the length gap in tokens that feature 1 stands for."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        a, c = rng.normal(0, 1, (2, n, D_IN)).astype(np.float32)
        swap = a[:, 0] < c[:, 0]
        chosen, rejected = np.where(swap[:, None], c, a), np.where(swap[:, None], a, c)
        bias = (chosen[:, 1] > rejected[:, 1]).astype(np.float32)
        if tokens:
            bias = (300 * (chosen[:, 1] - rejected[:, 1]) + 40).astype(np.float32)
        out.append((torch.tensor(chosen), torch.tensor(rejected), torch.tensor(bias)))
    return out


def build(distributed: bool, gaussian: bool = False, fit: Any = True) -> tuple[RewardModel, dirrm.torch.DIRLoss]:
    torch.manual_seed(0)
    model = RewardModel()
    kind = dict(bias_kind="gaussian", bias_dim=1) if gaussian else dict(bias_kind="categorical", bias_dim=2)
    loss_fn = dirrm.torch.DIRLoss(D_HIDDEN, lam=0.5, q_hidden=32, learning_rate=1e-2, seed=0,
                                  distributed=distributed, fit=fit, **kind)
    return model, loss_fn


def train(model: torch.nn.Module, loss_fn: dirrm.torch.DIRLoss,
          batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], lr: float = 0.1) -> list[float]:
    """SGD steps on DIR's loss; returns each step's loss (global when distributed)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for xc, xr, b in batches:
        rewards, hidden = model(torch.cat([xc, xr]))   # one forward per backward, as DDP wants
        r_c, r_r = rewards.chunk(2)
        h_c, h_r = hidden.chunk(2)
        loss = loss_fn(r_c, r_r, h_c, h_r, b)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def flat_weights(model: torch.nn.Module) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy()


def reference_weights(split: list[int], steps: int, gaussian: bool = False, fit: Any = True) -> np.ndarray:
    """One process on the concatenated batches."""
    model, loss_fn = build(distributed=False, gaussian=gaussian, fit=fit)
    train(model, loss_fn, global_batches(steps, sum(split), tokens=gaussian))
    return flat_weights(model)


def data_parallel(split: list[int], steps: int, gaussian: bool = False, fit: Any = True
                  ) -> tuple[np.ndarray, list[float]]:
    rank = dist.get_rank()
    start, stop = sum(split[:rank]), sum(split[: rank + 1])
    model, loss_fn = build(distributed=True, gaussian=gaussian, fit=fit)
    ddp = DistributedDataParallel(model)
    shards = [(xc[start:stop], xr[start:stop], b[start:stop])
              for xc, xr, b in global_batches(steps, sum(split), tokens=gaussian)]
    losses = train(ddp, loss_fn, shards)
    return flat_weights(model), losses


def prompt_free(steps: int) -> tuple[list[float], list[int]]:
    """PromptFreeBatchSampler on each rank's shard of a pool of 256 pairs, 8 prompts."""
    rng = np.random.default_rng(1)
    pool, num_prompts = 256, 8
    chosen, rejected = (torch.tensor(a) for a in rng.normal(0, 1, (2, pool, D_IN)).astype(np.float32))
    prompts = torch.tensor(rng.normal(0, 1, (num_prompts, D_IN)).astype(np.float32))
    bias = (chosen[:, 1] > rejected[:, 1]).float()
    model, loss_fn = build(distributed=True)
    ddp = DistributedDataParallel(model)

    def gap_fn(pairs: np.ndarray, prompt_ids: np.ndarray) -> torch.Tensor:
        # r(x, y) = model(y + 0.3 x): the prompt shifts the response features.
        x = prompts[torch.as_tensor(prompt_ids)]                       # (m, k, 10)
        yc, yr = chosen[torch.as_tensor(pairs)][:, None], rejected[torch.as_tensor(pairs)][:, None]
        r_c = model(( yc + 0.3 * x).reshape(-1, D_IN))[0]
        r_r = model((yr + 0.3 * x).reshape(-1, D_IN))[0]
        return (r_c - r_r).reshape(len(pairs), -1)

    score_fn = dirrm.torch.prompt_free_score_fn(gap_fn, rng.integers(0, num_prompts, pool), num_prompts, k=4)
    sampler = dirrm.torch.PromptFreeBatchSampler(pool, 16, score_fn, initial_threshold=0.5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    thresholds, sizes = [], []
    for step, batch in enumerate(sampler):
        if step == steps:
            break
        idx = torch.tensor(batch)
        rewards, hidden = ddp(torch.cat([chosen[idx], rejected[idx]]))
        loss = loss_fn(*rewards.chunk(2), *hidden.chunk(2), bias[idx])   # uneven shards: exact too
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        thresholds.append(sampler.threshold)
        sizes.append(len(batch))
    return thresholds, sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", default=None, help="folder for rank{r}.npz")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    results: dict[str, Any] = {}
    uneven = [30 - 12 * (r % 2) for r in range(world)]
    # "async": q fitted on a dirrm thread after each bound (fit="async"), against one process
    # running the same one-step-stale schedule.
    for name, split, gaussian in (("equal", [24] * world, False), ("uneven", uneven, False), ("tokens", uneven, True),
                                  ("async", uneven, False)):
        fit = "async" if name == "async" else True
        weights, losses = data_parallel(split, args.steps, gaussian, fit)
        results[f"{name}_weights"], results[f"{name}_split"] = weights, np.array(split)
        if rank == 0:
            want = reference_weights(split, args.steps, gaussian, fit)
            rel = float(np.abs(weights - want).max() / np.abs(want).max())
            print(f"{name} shards {split}: losses {np.round(losses, 4).tolist()}; "
                  f"max relative difference to one process {rel:.2e}")
    thresholds, sizes = prompt_free(args.steps)
    results["thresholds"], results["sizes"] = np.array(thresholds), np.array(sizes)
    print(f"rank {rank}: prompt-free batch sizes {sizes}, thresholds {np.round(thresholds, 5).tolist()}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        np.savez(os.path.join(args.out, f"rank{rank}.npz"), **results)
    dist.destroy_process_group()
    # gloo's worker thread releases a finished collective's tensors after the caller's wait
    # returns, and their Python objects need the GIL: if the interpreter is finalizing by then,
    # the thread exits inside C++ and the process aborts ("terminate called without an active
    # exception", six runs in 63 here; torch 2.13). Letting go of the GIL for a moment before
    # the interpreter finalizes lets it finish.
    time.sleep(0.2)


if __name__ == "__main__":
    main()
