#!/usr/bin/env python3
"""Real-text benchmark: dirrm's reward models on AlpacaEval 2 judge annotations.

Usage::

    python3 benchmarks/real/embed.py DATA_DIR CACHE_DIR      # once: the MiniLM embeddings
    python3 benchmarks/real/run.py DATA_DIR CACHE_DIR [--splits 3] [--out benchmarks/real/RESULTS.md]

Each judgment of DATA_DIR (one of 805 instructions answered by a model and by the reference
model, gpt4_1106_preview, judged by GPT-4 Turbo) is one preference pair (instruction, chosen,
rejected): chosen is the model's output when judge_preference > 1.5, else the reference output;
exact 1.5 ties are dropped. Prompts are the instructions' embeddings, responses the embeddings
of the reference and model outputs (CACHE_DIR, from embed.py). Bias column 0 is the length
difference len(chosen) - len(rejected) in characters, z-scored over the training pairs.

The split is by model: each of --splits splits holds out a different ~25% of the models
(disjoint held-out sets; a model's concise/verbose siblings are held out together, and each split
holds out one of the concise/verbose families), trains on the pairs of the other models and
evaluates on the held-out models' pairs. The reference model's own judgments (its output against
itself, all exact ties) give no pair; it is in no split.

Metrics on the held-out pairs (see realtext/metrics.py): agreement with the judge, overall
and on a length-balanced subset; Spearman(reward gap, length gap), overall and balanced; each
held-out model's win rate against the reference under the reward model, the Spearman of that
ranking with the leaderboard's raw and length-controlled win rates; and for the concise/verbose
families, the reward model's win rate per variant and the verbose - concise gap next to the
leaderboard's.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

# One OpenBLAS thread per training: the trainings run side by side, one per worker.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))   # benchmarks/, for readme_block, machine
if os.path.isdir(os.path.join(REPO, "bindings", "python", "dirrm")):
    sys.path.insert(0, os.path.join(REPO, "bindings", "python"))

from machine import load_average  # noqa: E402
from realtext.data import load_data  # noqa: E402
from realtext.jobs import METHODS, plan, run_job  # noqa: E402
from realtext.metrics import baselines  # noqa: E402
from realtext.report import replace_readme_block, write_report  # noqa: E402
from realtext.splits import build_split, make_splits  # noqa: E402


def main(argv: Optional[list[str]] = None) -> int:
    """Runs the benchmark and writes the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir")
    parser.add_argument("cache_dir")
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--out", default=os.path.join("benchmarks", "real", "RESULTS.md"))
    parser.add_argument("--fraction", type=float, default=0.25, help="share of the models each split holds out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: the library's; a smaller value trades accuracy for runtime)")
    parser.add_argument("--jobs", type=int, default=2, help="trainings at a time (one core each)")
    parser.add_argument("--skews", type=float, nargs="*", default=[0.8], help="chosen-longer shares to resample to")
    parser.add_argument("--skew-methods", nargs="*", default=["vanilla", "dir"], choices=list(METHODS))
    parser.add_argument("--max-train-pairs", type=int, default=None,
                        help="train on at most this many pairs per split (seeded subsample; default all)")
    parser.add_argument("--raw-bias", action="store_true", help="bias column in characters, not z-scored")
    parser.add_argument("--readme", default=None,
                        help="also write the summary and the methods' table into this file, between "
                             "<!-- real:begin --> and <!-- real:end -->")
    args = parser.parse_args(argv)
    command = "python3 benchmarks/real/run.py DATA_DIR CACHE_DIR " + " ".join(
        a for a in (argv if argv is not None else sys.argv[3:]))
    start = time.perf_counter()
    load_start = load_average()

    data = load_data(args.data_dir, args.cache_dir)
    held = make_splits(data.models, args.splits, args.fraction, args.seed)
    splits = [build_split(data, k, h, args.seed) for k, h in enumerate(held)]
    base = [baselines(data, s) for s in splits]
    jobs = plan(args.splits, args.skews, args.skew_methods)
    print(f"{data.pairs.shape[0]:,} pairs, {len(data.models)} models, {len(jobs)} trainings "
          f"({args.jobs} at a time)", flush=True)
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_job, data, splits[j.split], j, args, lock) for j in jobs]
        outcomes = [f.result() for f in futures]
    wall = time.perf_counter() - start
    load_end = load_average()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    block = write_report(args.out, data, splits, outcomes, base, args, command.strip(), wall, (load_start, load_end))
    if args.readme:
        replace_readme_block(args.readme, block, args.out)
    print(f"wrote {args.out} in {wall / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
