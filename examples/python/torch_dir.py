"""A plain PyTorch training loop three ways: vanilla Bradley-Terry, DIR (dirrm.torch.DIRLoss)
and prompt-free prioritization (dirrm.torch.PromptFreeBatchSampler in a DataLoader).

    python examples/python/torch_dir.py [--epochs 3]

The data: responses are feature vectors; the preferred response is the one with the larger
feature 0 (the quality), and in the training pairs it is also the longer one (feature 1)
80% of the time, a spurious "length" cue. The test pairs have no such correlation. Prints,
for each method, the test accuracy and the correlation of the reward gap with the length
label (0 would be a reward that ignores length), and a JSON summary as its last line.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

import dirrm.torch

D_IN, D_HIDDEN, PROMPTS = 10, 8, 16


def make_pairs(n: int, spurious: float, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    a, c = rng.normal(0, 1, (2, n, D_IN)).astype(np.float32)
    better = a[:, 0] > c[:, 0]
    chosen, rejected = np.where(better[:, None], a, c), np.where(better[:, None], c, a)
    # With probability `spurious` the chosen response is made the longer one (feature 1).
    longer = rng.uniform(size=n) < spurious
    lc, lr = np.abs(chosen[:, 1]), np.abs(rejected[:, 1])
    chosen[:, 1] = np.where(longer, np.maximum(lc, lr), np.minimum(lc, lr)) + 1.0
    rejected[:, 1] = np.where(longer, np.minimum(lc, lr), np.maximum(lc, lr)) + 1.0
    return {"chosen": torch.tensor(chosen), "rejected": torch.tensor(rejected),
            "bias": torch.tensor((chosen[:, 1] > rejected[:, 1]).astype(np.float32)),
            "prompt": torch.tensor(rng.integers(0, PROMPTS, n))}


class RewardModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Linear(2 * D_IN, 32), torch.nn.Tanh(), torch.nn.Linear(32, D_HIDDEN))
        self.head = torch.nn.Linear(D_HIDDEN, 1)

    def forward(self, prompt: torch.Tensor, response: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(torch.cat([prompt, response], -1))
        return self.head(h).squeeze(-1), h


def evaluate(model: RewardModel, test: dict[str, torch.Tensor], prompts: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        p = prompts[test["prompt"]]
        gap = model(p, test["chosen"])[0] - model(p, test["rejected"])[0]
    accuracy = float((gap > 0).float().mean())
    corr = float(np.corrcoef(gap.numpy(), test["bias"].numpy())[0, 1])
    return {"accuracy": accuracy, "gap_length_corr": corr}


def train(method: str, data: dict[str, torch.Tensor], prompts: torch.Tensor, epochs: int, batch_size: int = 64
          ) -> RewardModel:
    torch.manual_seed(0)
    model = RewardModel()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    n = len(data["bias"])
    bt = dirrm.torch.BTLoss()
    dir_loss = dirrm.torch.DIRLoss(D_HIDDEN, lam=1.0, q_hidden=64, learning_rate=1e-2)
    if method == "prompt_free":
        def gap_fn(pairs: np.ndarray, prompt_ids: np.ndarray) -> torch.Tensor:
            p = prompts[torch.as_tensor(prompt_ids)]                              # (m, k, d)
            yc = data["chosen"][torch.as_tensor(pairs)][:, None].expand_as(p)
            yr = data["rejected"][torch.as_tensor(pairs)][:, None].expand_as(p)
            return model(p, yc)[0] - model(p, yr)[0]

        score_fn = dirrm.torch.prompt_free_score_fn(gap_fn, data["prompt"].numpy(), PROMPTS, k=8)
        sampler = dirrm.torch.PromptFreeBatchSampler(n, batch_size, score_fn, initial_threshold=1.0)
        loader = torch.utils.data.DataLoader(torch.arange(n), batch_sampler=sampler)
    else:
        loader = torch.utils.data.DataLoader(torch.arange(n), batch_size=batch_size, shuffle=True,
                                             generator=torch.Generator().manual_seed(0))
    for _ in range(epochs):
        for idx in loader:
            p = prompts[data["prompt"][idx]]
            r_c, h_c = model(p, data["chosen"][idx])
            r_r, h_r = model(p, data["rejected"][idx])
            if method == "dir":
                loss = dir_loss(r_c, r_r, h_c, h_r, data["bias"][idx])
            else:
                loss = bt(r_c, r_r)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=2048)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    prompts = torch.tensor(rng.normal(0, 1, (PROMPTS, D_IN)).astype(np.float32))
    data = make_pairs(args.pairs, spurious=0.8, rng=rng)
    test = make_pairs(2000, spurious=0.5, rng=rng)
    results = {}
    print(f"{'method':<12} {'test accuracy':>13} {'gap-length corr':>16}")
    for method in ("vanilla", "dir", "prompt_free"):
        results[method] = evaluate(train(method, data, prompts, args.epochs), test, prompts)
        print(f"{method:<12} {results[method]['accuracy']:>13.3f} {results[method]['gap_length_corr']:>16.3f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
