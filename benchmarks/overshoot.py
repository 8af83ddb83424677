"""DIR's λ sweep on the synthetic length bias: accuracy on the unbiased test set and the signed
Spearman(reward gap, length gap), per seed, for vanilla and DIR at λ ∈ {0.1, 0.3, 1, 3, 10}
with every other setting at the library's defaults.

Usage: python3 benchmarks/overshoot.py [--seeds 0,1,2] [--readme README.md]   (about 90 s on 2 cores)

The check behind docs/decisions.md's overshoot fix: no λ may flip the sign of vanilla's
Spearman or fall below vanilla's accuracy. Run it against another build with DIRRM_LIBRARY.
"""
from __future__ import annotations

import argparse

import numpy as np

from dirrm import model as dm
from readme_block import replace_block

LAMBDAS = (0.1, 0.3, 1.0, 3.0, 10.0)


def run(seed: int, method: str, lam: float | None) -> tuple[float, float]:
    """Trains one model on the length-biased synthetic data of `seed`.

    Returns
    -------
    (accuracy, spearman) : tuple of float
        Accuracy on the unbiased test set, and Spearman(reward gap, length gap) on it.
    """
    train, test = dm.synth("length", seed=seed)
    shape = train.shape
    model = dm.RewardModel(shape["prompt_dim"], shape["response_dim"], seed=seed)
    model.fit(train, method=method, seed=seed, lam=lam)
    report = model.evaluate(test)
    return report["accuracy"], report["gap_bias_spearman"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--readme", default=None,
                        help="also write the table into this file between <!-- overshoot:begin --> and "
                             "<!-- overshoot:end -->")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows: list[tuple[str, str | None, float | None]] = [("vanilla", "vanilla", None)]
    rows += [(f"DIR, λ = {lam:g}", "dir", lam) for lam in LAMBDAS]
    lines = ["| trained as | accuracy | Spearman(gap, length gap) | per seed (accuracy, Spearman) |", "|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for label, method, lam in rows:
        results = np.array([run(seed, str(method), lam) for seed in seeds])
        cells = " ".join(f"({a:.3f}, {r:+.3f})" for a, r in results)
        lines.append(f"| {label} | {results[:, 0].mean():.3f} | {results[:, 1].mean():+.3f} | {cells} |")
        print(lines[-1], flush=True)
    if args.readme:
        replace_block(args.readme, "overshoot", lines)


if __name__ == "__main__":
    main()
