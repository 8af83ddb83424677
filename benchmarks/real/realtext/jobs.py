"""The trainings: the plan of jobs, one job's dataset, training and evaluation."""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

import dirrm
from realtext.data import RealData
from realtext.metrics import evaluate
from realtext.splits import Split, skew

METHODS = ("vanilla", "dir", "prompt_free", "dir_prompt_free")
LAMBDAS = (0.1, 0.3, 1.0, 3.0, 10.0)

I64 = npt.NDArray[np.int64]


def make_dataset(data: RealData, rows: I64, raw_bias: bool) -> tuple[Any, float, float]:
    """A dirrm.Dataset of the given pairs, bias column 0 = their length gap.

    Only the responses the pairs use are copied (re-indexed); every prompt is kept, so that
    prompt-free training can score any prompt with any response.

    Parameters
    ----------
    data : RealData
    rows : ndarray, shape (n,), int64
        Rows of data.pairs.
    raw_bias : bool
        Keep the gap in characters instead of z-scoring it over these pairs.

    Returns
    -------
    tuple of (dirrm.Dataset, float, float)
        The dataset, and the mean and standard deviation (characters) of the raw gap.
    """
    pairs = data.pairs[rows]
    used, inverse = np.unique(pairs[:, 1:], return_inverse=True)
    local = np.column_stack([pairs[:, 0], inverse.reshape(-1, 2)]).astype(np.int64)
    gap = data.pair_length_gap(rows)
    mean, sd = float(gap.mean()), float(gap.std())
    bias = (gap if raw_bias else (gap - mean) / sd).astype(np.float32)
    dataset = dirrm.Dataset(prompt_features=data.prompts, response_features=data.responses[used],
                            pairs=local, bias=bias)
    return dataset, mean, sd



@dataclass
class Job:
    """One training: a method (and λ) on a split's training pairs, possibly skewed."""

    split: int
    label: str
    method: str
    lam: Optional[float] = None
    skew: Optional[float] = None
    group: str = "methods"


@dataclass
class Outcome:
    job: Job
    metrics: dict[str, Any]
    seconds: float
    train_pairs: int
    chosen_longer_share: float
    gap_mean: float
    gap_sd: float
    mi_last: float
    library_accuracy: float


def run_job(data: RealData, split: Split, job: Job, args: argparse.Namespace, lock: threading.Lock) -> Outcome:
    """Trains and evaluates one job (in a worker thread: the library releases the GIL)."""
    rows = split.train_rows
    if args.max_train_pairs is not None and rows.size > args.max_train_pairs:
        rng = np.random.default_rng(args.seed + 200 + split.number)
        rows = np.sort(rng.choice(rows, args.max_train_pairs, replace=False))
    if job.skew is not None:
        rows = rows[skew(data.pair_length_gap(rows), job.skew, args.seed + 100 + split.number)]
    gap = data.pair_length_gap(rows)
    start = time.perf_counter()
    dataset, mean, sd = make_dataset(data, rows, args.raw_bias)
    model = dirrm.RewardModel(prompt_dim=data.prompts.shape[1], response_dim=data.responses.shape[1],
                              seed=args.seed + split.number)
    options: dict[str, Any] = {"method": job.method, "seed": args.seed + split.number}
    if args.epochs is not None:
        options["epochs"] = args.epochs
    if job.lam is not None:
        options["lam"] = job.lam
    records = model.fit(dataset, **options)
    seconds = time.perf_counter() - start
    metrics = evaluate(data, split, model)
    # Cross-check of the held-out accuracy against the library's own evaluation.
    test_set, _, _ = make_dataset(data, split.test_rows, args.raw_bias)
    library_accuracy = float(model.evaluate(test_set, bias_column=0)["accuracy"])
    mi = records["mi"][np.isfinite(records["mi"])]
    tail = mi[-max(1, mi.size // 10):] if mi.size else mi
    with lock:
        print(f"  split {split.number} {job.label:<28} {seconds:6.1f} s  acc {metrics['accuracy']:.3f} "
              f"bal {metrics['accuracy_balanced']:.3f}  rho {metrics['spearman']:+.3f} "
              f"bal {metrics['spearman_balanced']:+.3f}  rank raw {metrics['rank_raw']:+.2f} "
              f"lc {metrics['rank_lc']:+.2f}  verb gap {metrics['verbosity_gap']:+.1f}", flush=True)
    return Outcome(job=job, metrics=metrics, seconds=seconds, train_pairs=int(rows.size),
                   chosen_longer_share=float(np.mean(gap > 0)), gap_mean=mean, gap_sd=sd,
                   mi_last=float(tail.mean()) if tail.size else float("nan"),
                   library_accuracy=library_accuracy)


def plan(num_splits: int, skews: list[float], skew_methods: list[str]) -> list[Job]:
    """Every training of the benchmark, the longest (prompt-free) first."""
    jobs: list[Job] = []
    for s in range(num_splits):
        for method in METHODS:
            jobs.append(Job(s, method, method))
        for lam in LAMBDAS:
            jobs.append(Job(s, f"dir λ={lam:g}", "dir", lam=lam, group="lambda"))
        for share in skews:
            for method in skew_methods:
                jobs.append(Job(s, f"{method}, skewed {share:.0%}", method, skew=share, group="skewed"))
    return sorted(jobs, key=lambda j: (0 if "prompt_free" in j.method else 1, j.split))



def job_order(o: Outcome) -> tuple[int, int, float, float]:
    """Rows in the order: the methods as METHODS lists them, the λ sweep, the skewed variants."""
    group = ["methods", "lambda", "skewed"].index(o.job.group)
    return (group, METHODS.index(o.job.method), o.job.lam or 0.0, o.job.skew or 0.0)

