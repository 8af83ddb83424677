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

Metrics on the held-out pairs (see the module's functions): agreement with the judge, overall
and on a length-balanced subset; Spearman(reward gap, length gap), overall and balanced; each
held-out model's win rate against the reference under the reward model, the Spearman of that
ranking with the leaderboard's raw and length-controlled win rates; and for the concise/verbose
families, the reward model's win rate per variant and the verbose - concise gap next to the
leaderboard's.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

# One OpenBLAS thread per training: the trainings run side by side, one per worker.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import numpy.typing as npt

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))   # benchmarks/, for readme_block
if os.path.isdir(os.path.join(REPO, "bindings", "python", "dirrm")):
    sys.path.insert(0, os.path.join(REPO, "bindings", "python"))

import dirrm  # noqa: E402
from embed import read_jsonl, text_hash  # noqa: E402
from readme_block import replace_block  # noqa: E402

REFERENCE_MODEL = "gpt4_1106_preview"
# Submissions built to game the judge (the data's README): their leaderboard win rates say
# nothing about answer quality, so the ranking is also reported without them.
ADVERSARIAL = ("NullModel", "gpt4_gamed")
VARIANT_SUFFIX = re.compile(r"(_concise|_verbose)$")
SAME_WEIGHTS_SUFFIX = re.compile(r"-togetherai$")  # the same model served by another host
METHODS = ("vanilla", "dir", "prompt_free", "dir_prompt_free")
LAMBDAS = (0.1, 0.3, 1.0, 3.0, 10.0)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------

def rankdata(x: npt.ArrayLike) -> F64:
    """Ranks 1..n with ties given their average rank (scipy.stats.rankdata's 'average').

    Parameters
    ----------
    x : array_like, shape (n,), any real dtype

    Returns
    -------
    ndarray, shape (n,), float64
    """
    a = np.asarray(x, dtype=np.float64)
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    # Start of each run of equal values, and the average of 1-based positions over the run.
    starts = np.flatnonzero(np.r_[True, sorted_a[1:] != sorted_a[:-1]])
    ends = np.r_[starts[1:], a.size]
    averages = (starts + 1 + ends) / 2.0
    ranks = np.empty(a.size, np.float64)
    ranks[order] = np.repeat(averages, ends - starts)
    return ranks


def spearman(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Spearman's rank correlation (Pearson's on average ranks); NaN if n < 3 or either is constant.

    Parameters
    ----------
    x, y : array_like, shape (n,), real

    Returns
    -------
    float
    """
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if a.size < 3:
        return float("nan")
    ra, rb = rankdata(a) - (a.size + 1) / 2.0, rankdata(b) - (b.size + 1) / 2.0
    denominator = float(np.sqrt(np.dot(ra, ra) * np.dot(rb, rb)))
    return float(np.dot(ra, rb) / denominator) if denominator > 0 else float("nan")


def summary(values: list[float]) -> tuple[float, float, float, int]:
    """Mean, sample standard deviation (ddof 1), standard error and count over the finite values."""
    v = np.asarray([x for x in values if np.isfinite(x)], np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan"), 0
    sd = float(v.std(ddof=1)) if v.size > 1 else float("nan")
    return float(v.mean()), sd, sd / np.sqrt(v.size) if v.size > 1 else float("nan"), int(v.size)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

@dataclass
class RealData:
    """The AlpacaEval pairs over the cached embeddings.

    Attributes
    ----------
    prompts : ndarray, shape (P, 384), float32
        Instruction embeddings, row i = instruction_ids[i].
    responses : ndarray, shape (R, 384), float32
        Rows 0..P-1: the reference output of prompt i; then every model output.
    response_len : ndarray, shape (R,), int64
        Length of each response in characters.
    response_prompt : ndarray, shape (R,), int64
        The prompt row each response answers.
    response_model : ndarray, shape (R,), int64
        Index into models, or -1 for a reference output.
    models : list of str
        The models with judgments (the reference model excluded).
    pairs : ndarray, shape (N, 3), int64
        (prompt, chosen, rejected) rows of the non-tied judgments.
    pair_model : ndarray, shape (N,), int64
        The judged model of each pair (index into models).
    pair_model_won : ndarray, shape (N,), bool
        Whether the judge preferred the model's output.
    ties : int
        Judgments dropped as exact 1.5 ties (the reference model's excluded).
    leaderboard : dict of str to dict of str to float
        Per model: win_rate, length_controlled_winrate (both %), avg_length.
    """

    prompts: F32
    responses: F32
    response_len: I64
    response_prompt: I64
    response_model: I64
    models: list[str]
    pairs: I64
    pair_model: I64
    pair_model_won: B
    ties: int
    leaderboard: dict[str, dict[str, float]]
    embedding_seconds: float = float("nan")
    encoder: dict[str, Any] = field(default_factory=dict)

    def pair_length_gap(self, rows: I64) -> F64:
        """len(chosen) - len(rejected) in characters of the given pairs, shape (n,), float64."""
        p = self.pairs[rows]
        return (self.response_len[p[:, 1]] - self.response_len[p[:, 2]]).astype(np.float64)


def load_data(data_dir: str, cache_dir: str) -> RealData:
    """Reads DATA_DIR's judgments and leaderboard and CACHE_DIR's embeddings (embed.py).

    Models whose outputs are not in the cache are left out (with a message); the cached texts
    are checked against the data by their SHA-256.

    Parameters
    ----------
    data_dir, cache_dir : str

    Returns
    -------
    RealData
    """
    with open(os.path.join(cache_dir, "index.json"), encoding="utf-8") as f:
        index = json.load(f)
    instructions = sorted(read_jsonl(os.path.join(data_dir, "instructions.jsonl.gz")),
                          key=lambda row: int(row["instruction_id"]))
    judgments = read_jsonl(os.path.join(data_dir, "judgments.jsonl.gz"))
    ids = [int(r["instruction_id"]) for r in instructions]
    for key, texts in (("instructions", [str(r["instruction"]) for r in instructions]),
                       ("references", [str(r["reference_output"]) for r in instructions])):
        if key not in index or index[key]["ids"] != ids or index[key]["sha256"] != text_hash(texts):
            raise SystemExit(f"run.py: {cache_dir} has no up-to-date {key}; run embed.py first")
    prompts = np.load(os.path.join(cache_dir, index["instructions"]["file"])).astype(np.float32)
    references = np.load(os.path.join(cache_dir, index["references"]["file"])).astype(np.float32)
    row_of_id = {i: k for k, i in enumerate(ids)}

    by_model: dict[str, list[dict[str, Any]]] = {}
    for row in judgments:
        by_model.setdefault(str(row["model"]), []).append(row)
    models: list[str] = []
    blocks: list[F32] = [references]
    lengths: list[int] = [len(str(r["reference_output"])) for r in instructions]
    owners: list[int] = [-1] * len(ids)
    answered: list[int] = list(range(len(ids)))
    pairs: list[tuple[int, int, int]] = []
    pair_model: list[int] = []
    won: list[bool] = []
    ties = 0
    missing = []
    for name in sorted(by_model):
        if name == REFERENCE_MODEL:
            continue
        rows = sorted(by_model[name], key=lambda r: int(r["instruction_id"]))
        entry = index.get("outputs", {}).get(name)
        texts = [str(r["output"] or "") for r in rows]
        if entry is None or entry["ids"] != [int(r["instruction_id"]) for r in rows] \
                or entry["sha256"] != text_hash(texts):
            missing.append(name)
            continue
        m = len(models)
        models.append(name)
        base = sum(len(b) for b in blocks)
        blocks.append(np.load(os.path.join(cache_dir, entry["file"])).astype(np.float32))
        for k, r in enumerate(rows):
            prompt = row_of_id[int(r["instruction_id"])]
            response = base + k
            lengths.append(len(texts[k]))
            owners.append(m)
            answered.append(prompt)
            preference = float(r["judge_preference"])
            if preference == 1.5:
                ties += 1
                continue
            model_won = preference > 1.5
            pairs.append((prompt, response, prompt) if model_won else (prompt, prompt, response))
            pair_model.append(m)
            won.append(model_won)
    if missing:
        print(f"run.py: not in the cache (run embed.py), left out: {', '.join(missing)}", file=sys.stderr)

    leaderboard: dict[str, dict[str, float]] = {}
    with open(os.path.join(data_dir, "leaderboard.csv"), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            leaderboard[row["model"]] = {"win_rate": float(row["win_rate"]),
                                         "length_controlled_winrate": float(row["length_controlled_winrate"]),
                                         "avg_length": float(row["avg_length"])}
    timing = index.get("timing", {})
    return RealData(
        prompts=prompts, responses=np.concatenate(blocks).astype(np.float32),
        response_len=np.asarray(lengths, np.int64), response_prompt=np.asarray(answered, np.int64),
        response_model=np.asarray(owners, np.int64), models=models,
        pairs=np.asarray(pairs, np.int64).reshape(-1, 3), pair_model=np.asarray(pair_model, np.int64),
        pair_model_won=np.asarray(won, np.bool_), ties=ties, leaderboard=leaderboard,
        embedding_seconds=float(timing.get("seconds_embedding", float("nan"))),
        encoder=index.get("encoder_settings", {}))


# ---------------------------------------------------------------------------------------------
# Splits by model
# ---------------------------------------------------------------------------------------------

def family_of(model: str) -> str:
    """The system a model belongs to: its name without _concise/_verbose/-togetherai."""
    return SAME_WEIGHTS_SUFFIX.sub("", VARIANT_SUFFIX.sub("", model))


def variant_rank(model: str) -> int:
    """0 for a _concise variant, 1 for the base model, 2 for a _verbose variant."""
    return 0 if model.endswith("_concise") else 2 if model.endswith("_verbose") else 1


def make_splits(models: list[str], num_splits: int, fraction: float, seed: int) -> list[list[str]]:
    """Disjoint held-out sets of models, each about fraction of them.

    Families (a model with its _concise/_verbose variants, or the same weights served elsewhere)
    stay together. The families with length variants (at least two of concise / base / verbose)
    go first, one per split in turn; the other families are shuffled (numpy Generator, seed)
    and each is put into the split with the fewest models while that split is below its share.

    Parameters
    ----------
    models : list of str
    num_splits : int
    fraction : float
        Share of the models each split holds out; num_splits * fraction must be at most 1.
    seed : int

    Returns
    -------
    list of list of str
        The held-out models of each split, sorted.
    """
    if num_splits < 1 or num_splits * fraction > 1.0 + 1e-9:
        raise SystemExit(f"run.py: {num_splits} disjoint splits of {fraction:.0%} of the models do not fit")
    families: dict[str, list[str]] = {}
    for m in models:
        families.setdefault(family_of(m), []).append(m)
    variant = sorted((f for f, ms in families.items() if len({variant_rank(m) for m in ms}) >= 2),
                     key=lambda f: (-len(families[f]), f))
    others = sorted(f for f in families if f not in variant)
    rng = np.random.default_rng(seed)
    others = [others[i] for i in rng.permutation(len(others))]
    target = int(round(fraction * len(models)))
    held: list[list[str]] = [[] for _ in range(num_splits)]
    for k, f in enumerate(variant):
        held[k % num_splits].extend(families[f])
    for f in others:
        k = min(range(num_splits), key=lambda s: len(held[s]))
        if len(held[k]) + len(families[f]) <= target:
            held[k].extend(families[f])
    return [sorted(h) for h in held]


def length_balanced(gap: F64, seed: int) -> I64:
    """Indices of an equal number of chosen-longer (gap > 0) and chosen-shorter (gap < 0) pairs.

    The smaller side is kept whole and the larger side sampled without replacement (numpy
    Generator, seed); pairs of equal length are left out.

    Parameters
    ----------
    gap : ndarray, shape (n,), float64
        len(chosen) - len(rejected).
    seed : int

    Returns
    -------
    ndarray, shape (2 m,), int64
        Sorted indices into gap.
    """
    longer, shorter = np.flatnonzero(gap > 0), np.flatnonzero(gap < 0)
    m = min(longer.size, shorter.size)
    rng = np.random.default_rng(seed)
    keep = [rng.choice(side, m, replace=False) if side.size > m else side for side in (longer, shorter)]
    return np.sort(np.concatenate(keep)).astype(np.int64)


def skew(gap: F64, share_longer: float, seed: int) -> I64:
    """Indices of pairs resampled so that share_longer of them are chosen-longer.

    Pairs of equal length are dropped; the side that is over-represented is subsampled without
    replacement (numpy Generator, seed), the other kept whole, so that no pair repeats.

    Parameters
    ----------
    gap : ndarray, shape (n,), float64
        len(chosen) - len(rejected).
    share_longer : float in (0, 1)
    seed : int

    Returns
    -------
    ndarray, shape (k,), int64
        Sorted indices into gap.
    """
    longer, shorter = np.flatnonzero(gap > 0), np.flatnonzero(gap < 0)
    rng = np.random.default_rng(seed)
    if longer.size / max(longer.size + shorter.size, 1) > share_longer:
        n_longer = int(round(shorter.size * share_longer / (1.0 - share_longer)))
        longer = rng.choice(longer, n_longer, replace=False)
    else:
        n_shorter = int(round(longer.size * (1.0 - share_longer) / share_longer))
        shorter = rng.choice(shorter, n_shorter, replace=False)
    return np.sort(np.concatenate([longer, shorter])).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# One split: its datasets and the held-out evaluation
# ---------------------------------------------------------------------------------------------

@dataclass
class Split:
    """A split's training and held-out pairs (row indices into RealData.pairs) and what the
    evaluation needs.

    Attributes
    ----------
    number : int
    held_out : list of str
        Held-out models.
    train_rows, test_rows : ndarray, shape (n,), int64
    balanced : ndarray, shape (m,), int64
        Indices into test_rows: the length-balanced subset.
    winrate_rows : dict of str to ndarray of int64
        Per held-out model, its responses (all of them, tied judgments included).
    """

    number: int
    held_out: list[str]
    train_rows: I64
    test_rows: I64
    balanced: I64
    winrate_rows: dict[str, I64]


def build_split(data: RealData, number: int, held_out: list[str], seed: int) -> Split:
    """The pairs of a split; the balanced subset is drawn with seed + number."""
    held_index = np.asarray([data.models.index(m) for m in held_out], np.int64)
    is_test = np.isin(data.pair_model, held_index)
    test_rows = np.flatnonzero(is_test).astype(np.int64)
    return Split(number=number, held_out=held_out, train_rows=np.flatnonzero(~is_test).astype(np.int64),
                 test_rows=test_rows, balanced=length_balanced(data.pair_length_gap(test_rows), seed + number),
                 winrate_rows={m: np.flatnonzero(data.response_model == data.models.index(m)).astype(np.int64)
                               for m in held_out})


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


def evaluate(data: RealData, split: Split, model: Any) -> dict[str, Any]:
    """Held-out metrics of a trained dirrm.RewardModel.

    Parameters
    ----------
    data : RealData
    split : Split
    model : dirrm.RewardModel

    Returns
    -------
    dict
        "accuracy", "accuracy_balanced", "spearman", "spearman_balanced" (floats);
        "winrate": per held-out model, the share (%) of its outputs the model scores above the
        reference output of the same instruction; "rank_raw", "rank_lc": Spearman of those win
        rates with the leaderboard's raw and length-controlled ones over the held-out models
        on the leaderboard; "verbosity_gap": the mean over the split's length-variant families
        of win rate (longest variant) - win rate (concise), in points of %.
    """
    # Every response answers exactly one prompt, and every pair is scored under that prompt:
    # score each response the split needs once (the references and the held-out models' outputs).
    rows = np.concatenate([np.arange(data.prompts.shape[0], dtype=np.int64)] + list(split.winrate_rows.values()))
    scores = np.full(data.responses.shape[0], np.nan, np.float64)
    scores[rows] = model.score(data.prompts[data.response_prompt[rows]], data.responses[rows])
    pairs = data.pairs[split.test_rows]
    gap = scores[pairs[:, 1]] - scores[pairs[:, 2]]
    length_gap = data.pair_length_gap(split.test_rows)
    b = split.balanced
    out: dict[str, Any] = {
        "accuracy": float(np.mean(gap > 0)),
        "accuracy_balanced": float(np.mean(gap[b] > 0)),
        "spearman": spearman(gap, length_gap),
        "spearman_balanced": spearman(gap[b], length_gap[b]),
    }
    winrate: dict[str, float] = {}
    for m, own in split.winrate_rows.items():
        # Row p of the responses is the reference output of prompt p.
        winrate[m] = 100.0 * float(np.mean(scores[own] > scores[data.response_prompt[own]]))
    out["winrate"] = winrate
    out.update(ranking(winrate, data.leaderboard))
    out["verbosity_gap"] = verbosity_gap(winrate)
    return out


def ranking(winrate: dict[str, float], leaderboard: dict[str, dict[str, float]]) -> dict[str, float]:
    """Spearman of per-model win rates with the leaderboard's raw and length-controlled win rates,
    over the models on the leaderboard ("rank_raw", "rank_lc") and without the adversarial
    submissions ("rank_raw_honest", "rank_lc_honest")."""
    out: dict[str, float] = {}
    for suffix, skip in (("", ()), ("_honest", ADVERSARIAL)):
        on_board = sorted(m for m in winrate if m in leaderboard and m not in skip)
        ours = [winrate[m] for m in on_board]
        out["rank_raw" + suffix] = spearman(ours, [leaderboard[m]["win_rate"] for m in on_board])
        out["rank_lc" + suffix] = spearman(ours, [leaderboard[m]["length_controlled_winrate"] for m in on_board])
    return out


def variant_families(models: list[str]) -> dict[str, list[str]]:
    """The families among models with at least two of concise / base / verbose, variants sorted
    concise, base, verbose."""
    families: dict[str, list[str]] = {}
    for m in models:
        families.setdefault(family_of(m), []).append(m)
    return {f: sorted(ms, key=variant_rank) for f, ms in families.items()
            if len({variant_rank(m) for m in ms}) >= 2}


def verbosity_gap(winrate: dict[str, float]) -> float:
    """Mean over the length-variant families of winrate[longest variant] - winrate[concise]; NaN
    if there is none (or a family has no concise variant)."""
    gaps = [winrate[ms[-1]] - winrate[ms[0]] for ms in variant_families(list(winrate)).values()
            if ms[0].endswith("_concise")]
    return float(np.mean(gaps)) if gaps else float("nan")


# ---------------------------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Baselines and the report
# ---------------------------------------------------------------------------------------------

def baselines(data: RealData, split: Split) -> dict[str, Any]:
    """Rules that need no model, on the same held-out pairs: 'the longer wins' and 'the reference
    wins' (agreement, ties in length count half), and the leaderboard's own length-controlled
    vs raw ranking and average length vs either ranking, over the held-out models."""
    gap = data.pair_length_gap(split.test_rows)
    longer = np.where(gap > 0, 1.0, np.where(gap < 0, 0.0, 0.5))
    reference = (~data.pair_model_won[split.test_rows]).astype(np.float64)
    b = split.balanced
    board = sorted(m for m in split.held_out if m in data.leaderboard)
    raw = [data.leaderboard[m]["win_rate"] for m in board]
    lc = [data.leaderboard[m]["length_controlled_winrate"] for m in board]
    length = [data.leaderboard[m]["avg_length"] for m in board]
    return {"longer_wins": float(longer.mean()), "longer_wins_balanced": float(longer[b].mean()),
            "reference_wins": float(reference.mean()), "reference_wins_balanced": float(reference[b].mean()),
            "lc_vs_raw": spearman(lc, raw), "length_vs_raw": spearman(length, raw),
            "length_vs_lc": spearman(length, lc)}


def fmt(values: list[float], digits: int = 3, signed: bool = False) -> str:
    """'mean ± std (SE)' over splits."""
    mean, sd, se, n = summary(values)
    if n == 0:
        return "n/a"
    sign = "+" if signed else ""
    if n == 1:
        return f"{mean:{sign}.{digits}f}"
    return f"{mean:{sign}.{digits}f} ± {sd:.{digits}f} ({se:.{digits}f})"


def per_split(values: list[float], digits: int = 3, signed: bool = False) -> str:
    """The split values separated by ' / '."""
    sign = "+" if signed else ""
    return " / ".join("n/a" if not np.isfinite(v) else f"{v:{sign}.{digits}f}" for v in values)


def machine() -> str:
    """CPU model and count, OS, Python, numpy and OpenBLAS thread setting."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = f"{names[0]}, {len(names)} logical CPUs" if names else cpu
    except OSError:
        pass
    return (f"{cpu}; {platform.system()} {platform.release()}; Python {platform.python_version()}, "
            f"numpy {np.__version__}; dirrm {getattr(dirrm, '__version__', '?')}")


def git_commit() -> str:
    """The repository's HEAD commit (short), with '+dirty' for uncommitted changes, or 'unknown'."""
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_report(path: str, data: RealData, splits: list[Split], outcomes: list[Outcome],
                 base: list[dict[str, Any]], args: argparse.Namespace, command: str, wall: float,
                 loads: tuple[str, str]) -> list[str]:
    """Writes RESULTS.md (and the same numbers as JSON next to it); returns the README's excerpt:
    the summary and the four methods' table."""
    S = len(splits)
    by: dict[tuple[str, int], Outcome] = {(o.job.label, o.job.split): o for o in outcomes}
    labels: list[str] = []
    for o in sorted(outcomes, key=job_order):
        if o.job.label not in labels:
            labels.append(o.job.label)

    groups = {group: [lab for lab in labels if any(o.job.label == lab and o.job.group == group for o in outcomes)]
              for group in ("methods", "lambda", "skewed")}

    def col(label: str, key: str) -> list[float]:
        return [float(by[(label, s)].metrics[key]) if (label, s) in by else float("nan") for s in range(S)]

    defaults = library_defaults()
    pretty = {"vanilla": "vanilla", "dir": f"DIR (default λ = {defaults.get('lam', '?')})",
              "prompt_free": "prompt-free", "dir_prompt_free": "DIR + prompt-free"}

    def name(label: str) -> str:
        if label in pretty:
            return pretty[label]
        head, _, tail = label.partition(",")
        for key, value in pretty.items():
            if head == key:
                head = value.split(" (")[0]
        return (head + ("," + tail if tail else "")).replace("dir λ", "DIR λ")

    train_gap = [by[("vanilla", s)] for s in range(S) if ("vanilla", s) in by]
    L: list[str] = []
    w = L.append
    w("# Real-text benchmark: AlpacaEval 2 judge annotations")
    w("")
    w(f"Generated by `{command}` on {datetime.date.today().isoformat()}, commit {git_commit()}.")
    w(f"Machine: {machine()}. Load average {loads[0]} at the start and {loads[1]} at the end "
      f"(the machine is shared; times are wall clock).")
    w(f"Runtime: {wall / 60:.1f} min for run.py ({args.jobs} trainings at a time, one OpenBLAS thread each); "
      f"embedding (embed.py, cached, not part of this run): {data.embedding_seconds / 60:.1f} min in all.")
    w("")
    w("## Setup")
    w("")
    enc = data.encoder
    w(f"- **Features.** Prompts: the 805 instructions; responses: the reference output "
      f"(gpt4_1106_preview) and every model output; each embedded with {enc.get('encoder', 'all-MiniLM-L6-v2')} "
      f"({enc.get('dim', 384)}-d, mean-pooled, L2-normalized, truncated to {enc.get('max_seq_length', 256)} word "
      f"pieces, so the features see about the first 1,000 characters of a response).")
    n_pairs = data.pairs.shape[0]
    share = float(np.mean(data.pair_length_gap(np.arange(n_pairs)) > 0))
    w(f"- **Pairs.** {n_pairs:,} judgments of {len(data.models)} models (the reference model's "
      f"805 self-judgments are all exact ties and give no pair; {data.ties} other exact 1.5 ties dropped); "
      f"chosen = the model's output when judge_preference > 1.5 ({np.mean(data.pair_model_won):.1%} of pairs), "
      f"else the reference. The chosen response is the longer one in {share:.1%} of all pairs.")
    if train_gap:
        w(f"- **Bias column 0.** len(chosen) − len(rejected) in characters, "
          f"{'raw' if args.raw_bias else 'z-scored over each split’s training pairs'}; the raw scale: mean "
          + ", ".join(f"{o.gap_mean:+.0f}" for o in train_gap) + " and std "
          + ", ".join(f"{o.gap_sd:.0f}" for o in train_gap) + " characters (splits 0, 1, 2, ...).")
    w(f"- **Training.** `dirrm.RewardModel(prompt_dim=384, response_dim=384, seed=split)` and "
      f"`fit(dataset, method=..., seed=split{', epochs=' + str(args.epochs) if args.epochs is not None else ''})`"
      f" (plus `lam=` for the λ sweep): every other option is the library's default "
      f"(`dirrm_train_params_init`; DIR's default λ, q and estimator included). The defaults the "
      f"library reported at run time: " + ", ".join(f"{k} {v}" for k, v in defaults.items()) + ".")
    if args.epochs is not None:
        w(f"  Traded for runtime: `epochs={args.epochs}` instead of the default; with "
          f"~{int(np.mean([o.train_pairs for o in train_gap])):,} training pairs that is "
          f"~{int(np.mean([o.train_pairs for o in train_gap]) * args.epochs / 64):,} steps at the default batch size.")
    w(f"- **Splits.** {S} splits by model, seed {args.seed}; each holds out a disjoint "
      f"~{args.fraction:.0%} of the models (families with concise/verbose variants held out together, "
      f"one such family per split) and trains on all other models' pairs:")
    for sp in splits:
        fam = ", ".join(variant_families(sp.held_out)) or "none"
        w(f"  - split {sp.number}: {len(sp.held_out)} models, {sp.test_rows.size:,} held-out pairs "
          f"({sp.balanced.size:,} in the length-balanced subset), {sp.train_rows.size:,} training pairs; "
          f"length-variant family: {fam}; held out: {', '.join(sp.held_out)}.")
    w("- **Metrics** (held-out pairs; signed Spearman throughout, positive = the reward gap grows "
      "with the length gap). *Agreement*: share of pairs where r(chosen) > r(rejected). *Balanced*: "
      "the chosen-shorter pairs and as many chosen-longer ones drawn at random (seed), equal lengths left out. "
      "*Win rate*: share of a held-out model's outputs (all 805, tied judgments included) that the reward "
      "model scores above the reference output of the same instruction. *Ranking*: Spearman of those "
      "win rates with the leaderboard's raw / length-controlled (LC) win rates over the held-out models "
      "on the leaderboard. *Verbosity gap*: win rate of the longest variant − of the concise one "
      "(points of %), the split's length-variant family.")
    w("- Every cell is mean ± std (standard error) over the splits; per-split numbers follow.")
    w("")

    w("## Summary (computed from the tables below)")
    w("")
    summary_start = len(L)
    if ("dir", 0) in by and ("vanilla", 0) in by:
        ratio = [abs(a) / abs(b) for a, b in zip(col("dir", "spearman"), col("vanilla", "spearman"))]
        ratio_b = [abs(a) / abs(b) for a, b in zip(col("dir", "spearman_balanced"), col("vanilla", "spearman_balanced"))]
        verb = [a / b for a, b in zip(col("dir", "verbosity_gap"), col("vanilla", "verbosity_gap"))]
        w(f"- DIR with the library's defaults: abs Spearman(gap, length gap) is {fmt(ratio, 2)} of vanilla's "
          f"({'half or less on every split' if max(ratio) <= 0.5 else 'more than half on at least one split'}: "
          f"{per_split(ratio, 2)}); "
          f"on the length-balanced subset {fmt(ratio_b, 2)}. Its verbose − concise gap is {fmt(verb, 2)} of "
          f"vanilla's ({per_split(verb, 2)}); balanced agreement "
          f"{fmt([a - b for a, b in zip(col('dir', 'accuracy_balanced'), col('vanilla', 'accuracy_balanced'))], 3, True)} "
          f"against vanilla.")
    sweep = [lab for lab in ["dir"] + groups["lambda"] if (lab, 0) in by]
    if sweep:
        lowest = min((v, lab, k) for lab in sweep for k, v in enumerate(col(lab, "spearman")))
        flipped = [(lab, k) for lab in sweep for k, v in enumerate(col(lab, "spearman")) if v < 0]
        flipped_b = [(lab, k) for lab in sweep for k, v in enumerate(col(lab, "spearman_balanced")) if v < 0]
        w(f"- Overshoot: the smallest Spearman(gap, length gap) of the λ sweep is {lowest[0]:+.3f} "
          f"({name(lowest[1])}, split {lowest[2]}); "
          + ("no run flips its sign" if not flipped else
             "the sign flips in " + ", ".join(f"{name(lab)} split {k}" for lab, k in flipped))
          + (", nor on the balanced subset." if not flipped_b and not flipped else
             "; on the balanced subset " + (", ".join(f"{name(lab)} split {k}" for lab, k in flipped_b) or "none") + "."))
    if all((lab, 0) in by for lab in ("dir", "prompt_free", "dir_prompt_free")):
        # Each split against the better of the two single methods on that split.
        spear = [abs(c) - min(abs(a), abs(b)) for a, b, c in
                 zip(col("dir", "spearman"), col("prompt_free", "spearman"), col("dir_prompt_free", "spearman"))]
        agree = [c - max(a, b) for a, b, c in zip(col("dir", "accuracy_balanced"), col("prompt_free", "accuracy_balanced"),
                                                  col("dir_prompt_free", "accuracy_balanced"))]
        w(f"- DIR + prompt-free against the better of DIR and prompt-free on each split: abs Spearman(gap, length "
          f"gap) {per_split(spear, 3, True)} (positive: more length-driven than the better one), balanced "
          f"agreement {per_split(agree, 3, True)} (negative: less accurate than the better one).")
    summary_end = len(L)
    w("")

    w("## Baselines without a model (same held-out pairs)")
    w("")
    w("| rule | agreement | agreement, balanced |")
    w("|---|---|---|")
    w(f"| the longer response wins | {fmt([b['longer_wins'] for b in base])} | "
      f"{fmt([b['longer_wins_balanced'] for b in base])} |")
    w(f"| the reference wins | {fmt([b['reference_wins'] for b in base])} | "
      f"{fmt([b['reference_wins_balanced'] for b in base])} |")
    w("")
    w(f"Leaderboard, over each split's held-out models: Spearman(LC, raw) {fmt([b['lc_vs_raw'] for b in base], 2)}; "
      f"Spearman(average length, raw) {fmt([b['length_vs_raw'] for b in base], 2, True)}; "
      f"Spearman(average length, LC) {fmt([b['length_vs_lc'] for b in base], 2, True)}.")
    w("")

    def table(group_labels: list[str], title: str) -> None:
        w(f"## {title}")
        w("")
        w("| trained as | agreement | agreement, balanced | Spearman(gap, length gap) | Spearman, balanced "
          "| ranking vs raw | ranking vs LC | verbosity gap (points) | train time (s) |")
        w("|---|---|---|---|---|---|---|---|---|")
        for label in group_labels:
            secs = [by[(label, s)].seconds for s in range(S) if (label, s) in by]
            w(f"| {name(label)} | {fmt(col(label, 'accuracy'))} | {fmt(col(label, 'accuracy_balanced'))} | "
              f"{fmt(col(label, 'spearman'), signed=True)} | {fmt(col(label, 'spearman_balanced'), signed=True)} | "
              f"{fmt(col(label, 'rank_raw'), 2, True)} | {fmt(col(label, 'rank_lc'), 2, True)} | "
              f"{fmt(col(label, 'verbosity_gap'), 1, True)} | {np.mean(secs):.0f} |")
        w("")

    methods_start = len(L)
    table(groups["methods"], "The four methods, library defaults")
    methods_end = len(L)
    lam_rows = ["vanilla", "dir"] + groups["lambda"]
    table([lab for lab in lam_rows if lab in labels], "DIR λ sweep (λ = 0 is vanilla; the default row is DIR's "
          "default λ)")
    if groups["skewed"]:
        skewed_rows = [o for o in outcomes if o.job.group == "skewed"]
        w_share = fmt([o.chosen_longer_share for o in skewed_rows])
        table(groups["skewed"], "Skewed training: pairs resampled to a fixed chosen-longer share")
        natural = [o.chosen_longer_share for o in outcomes if o.job.label == "vanilla"]
        w(f"Chosen-longer share of the training pairs: {fmt(natural)} as they are, {w_share} after resampling "
          f"(the larger side subsampled, no pair repeated; {fmt([float(o.train_pairs) for o in skewed_rows], 0)} "
          f"pairs). The natural AlpacaEval pairs are already more skewed than 80%, so this variant "
          f"trains on slightly *less* length-skewed pairs than the main table, and on fewer of them.")
        w("")

    # Reward-model summary comparisons.
    w("## Each method against vanilla (ratios and differences per split)")
    w("")
    w("| | split values | mean ± std (SE) |")
    w("|---|---|---|")
    pairs_compared = [(label, "vanilla") for label in ["dir", "prompt_free", "dir_prompt_free"] + groups["lambda"]]
    pairs_compared += [(label, "vanilla" + label[label.index(","):]) for label in groups["skewed"]
                       if not label.startswith("vanilla")]
    for label, against in pairs_compared:
        if (label, 0) not in by or (against, 0) not in by:
            continue
        ratio = [abs(a) / abs(b) if b != 0 else float("nan")
                 for a, b in zip(col(label, "spearman"), col(against, "spearman"))]
        w(f"| {name(label)}: abs Spearman / {name(against)}'s | {per_split(ratio, 2)} | {fmt(ratio, 2)} |")
        ratio = [abs(a) / abs(b) if b != 0 else float("nan")
                 for a, b in zip(col(label, "spearman_balanced"), col(against, "spearman_balanced"))]
        w(f"| {name(label)}: abs Spearman (balanced) / {name(against)}'s | {per_split(ratio, 2)} | {fmt(ratio, 2)} |")
        vg = [a / b if b != 0 else float("nan")
              for a, b in zip(col(label, "verbosity_gap"), col(against, "verbosity_gap"))]
        w(f"| {name(label)}: verbosity gap / {name(against)}'s | {per_split(vg, 2, True)} | {fmt(vg, 2, True)} |")
        da = [a - b for a, b in zip(col(label, "accuracy_balanced"), col(against, "accuracy_balanced"))]
        w(f"| {name(label)}: balanced agreement − {name(against)}'s | {per_split(da, 3, True)} | {fmt(da, 3, True)} |")
    w("")

    w("## Ranking without the adversarial submissions")
    w("")
    w(f"{' and '.join(ADVERSARIAL)} game the judge (the leaderboard puts NullModel far above its answers' "
      "quality); a reward model that is not fooled by them loses ranking agreement on the splits that "
      "hold them out. The same Spearman over the held-out models without them:")
    w("")
    w("| trained as | ranking vs raw | ranking vs LC | per split (raw) | per split (LC) |")
    w("|---|---|---|---|---|")
    for label in labels:
        w(f"| {name(label)} | {fmt(col(label, 'rank_raw_honest'), 2, True)} | {fmt(col(label, 'rank_lc_honest'), 2, True)} | "
          f"{per_split(col(label, 'rank_raw_honest'), 2, True)} | {per_split(col(label, 'rank_lc_honest'), 2, True)} |")
    w("")

    w("## Verbosity: win rate against the reference per length variant (%)")
    w("")
    methods_present = [m for m in METHODS if (m, 0) in by]
    w("| split | model | leaderboard raw | leaderboard LC | avg length | " +
      " | ".join(name(m) for m in methods_present) + " |")
    w("|---|---|---|---|---|" + "---|" * len(methods_present))
    for sp in splits:
        for fam, members in variant_families(sp.held_out).items():
            for m in members:
                lb = data.leaderboard.get(m, {})
                w(f"| {sp.number} | {m} | {lb.get('win_rate', float('nan')):.1f} | "
                  f"{lb.get('length_controlled_winrate', float('nan')):.1f} | {lb.get('avg_length', float('nan')):.0f} | "
                  + " | ".join(f"{by[(meth, sp.number)].metrics['winrate'][m]:.1f}" for meth in methods_present) + " |")
            if members[0].endswith("_concise"):
                top, low = members[-1], members[0]
                lb_t, lb_l = data.leaderboard.get(top, {}), data.leaderboard.get(low, {})
                w(f"| {sp.number} | **gap {variant_label(top)} − concise** | "
                  f"{lb_t.get('win_rate', np.nan) - lb_l.get('win_rate', np.nan):+.1f} | "
                  f"{lb_t.get('length_controlled_winrate', np.nan) - lb_l.get('length_controlled_winrate', np.nan):+.1f} | "
                  f"{lb_t.get('avg_length', np.nan) - lb_l.get('avg_length', np.nan):+.0f} | "
                  + " | ".join(f"**{by[(meth, sp.number)].metrics['winrate'][top] - by[(meth, sp.number)].metrics['winrate'][low]:+.1f}**"
                               for meth in methods_present) + " |")
    w("")
    lb_raw, lb_lc = [], []
    for sp in splits:
        g_raw, g_lc = [], []
        for members in variant_families(sp.held_out).values():
            if members[0].endswith("_concise"):
                t, c = data.leaderboard.get(members[-1]), data.leaderboard.get(members[0])
                if t and c:
                    g_raw.append(t["win_rate"] - c["win_rate"])
                    g_lc.append(t["length_controlled_winrate"] - c["length_controlled_winrate"])
        lb_raw.append(float(np.mean(g_raw)) if g_raw else float("nan"))
        lb_lc.append(float(np.mean(g_lc)) if g_lc else float("nan"))
    w(f"Over the splits, the leaderboard's gap is {fmt(lb_raw, 1, True)} points raw and "
      f"{fmt(lb_lc, 1, True)} length-controlled; the reward models': "
      + "; ".join(f"{name(m)} {fmt(col(m, 'verbosity_gap'), 1, True)}" for m in methods_present) + ".")
    w("")

    w("## Per-split numbers")
    w("")
    w("Each cell: split 0 / split 1 / ... .")
    w("")
    w("| trained as | agreement | agreement, balanced | Spearman | Spearman, balanced | ranking vs raw "
      "| ranking vs LC | verbosity gap | CLUB estimate (last 10% of steps) | training pairs | "
      "library's accuracy (check) |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for label in labels:
        outs = [by[(label, s)] for s in range(S) if (label, s) in by]
        w(f"| {name(label)} | {per_split(col(label, 'accuracy'))} | {per_split(col(label, 'accuracy_balanced'))} | "
          f"{per_split(col(label, 'spearman'), signed=True)} | {per_split(col(label, 'spearman_balanced'), signed=True)} | "
          f"{per_split(col(label, 'rank_raw'), 2, True)} | {per_split(col(label, 'rank_lc'), 2, True)} | "
          f"{per_split(col(label, 'verbosity_gap'), 1, True)} | {per_split([o.mi_last for o in outs], 2)} | "
          f"{' / '.join(f'{o.train_pairs:,}' for o in outs)} | {per_split([o.library_accuracy for o in outs])} |")
    w("")
    w("Baselines per split: the longer wins " + per_split([b["longer_wins"] for b in base]) +
      " (balanced " + per_split([b["longer_wins_balanced"] for b in base]) + "); the reference wins " +
      per_split([b["reference_wins"] for b in base]) + " (balanced " +
      per_split([b["reference_wins_balanced"] for b in base]) + ").")
    w("")
    w("Held-out models' win rates against the reference (%), per split and method:")
    w("")
    for sp in splits:
        w(f"<details><summary>split {sp.number}</summary>")
        w("")
        w("| model | leaderboard raw | leaderboard LC | " + " | ".join(name(m) for m in methods_present) + " |")
        w("|---|---|---|" + "---|" * len(methods_present))
        for m in sp.held_out:
            entry = data.leaderboard.get(m)
            w(f"| {m} | {entry['win_rate']:.1f} | {entry['length_controlled_winrate']:.1f} | " if entry
              else f"| {m} | n/a | n/a | ")
            L[-1] += " | ".join(f"{by[(meth, sp.number)].metrics['winrate'][m]:.1f}" for meth in methods_present) + " |"
        w("")
        w("</details>")
        w("")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(L))
    raw = {"command": command, "wall_seconds": wall, "splits": [s.held_out for s in splits], "baselines": base,
           "outcomes": [{"split": o.job.split, "label": o.job.label, "method": o.job.method, "lam": o.job.lam,
                         "skew": o.job.skew, "seconds": o.seconds, "train_pairs": o.train_pairs,
                         "chosen_longer_share": o.chosen_longer_share, "gap_mean": o.gap_mean, "gap_sd": o.gap_sd,
                         "mi_last": o.mi_last, "library_accuracy": o.library_accuracy, **o.metrics}
                        for o in outcomes]}
    with open(os.path.splitext(path)[0] + ".json", "w", encoding="utf-8") as f:
        json.dump(raw, f, indent=1, allow_nan=True)
    return L[summary_start:summary_end] + [""] + L[methods_start + 2:methods_end]


def replace_readme_block(path: str, block: list[str], results: str) -> None:
    """Puts the excerpt between README's <!-- real:begin --> and <!-- real:end --> markers."""
    body = [f"Generated into {results} and copied here by `make real-results` (mean ± std (standard "
            f"error) over the splits):", ""] + block
    replace_block(path, "real", body)


def job_order(o: Outcome) -> tuple[int, int, float, float]:
    """Rows in the order: the methods as METHODS lists them, the λ sweep, the skewed variants."""
    group = ["methods", "lambda", "skewed"].index(o.job.group)
    return (group, METHODS.index(o.job.method), o.job.lam or 0.0, o.job.skew or 0.0)


def library_defaults() -> dict[str, Any]:
    """dirrm_train_params_init's defaults as the loaded library sets them (through the
    bindings' ctypes structure), or {} if the bindings do not expose it."""
    try:
        import ctypes

        from dirrm._lib import TrainParams, lib

        p = TrainParams()
        lib.dirrm_train_params_init(ctypes.byref(p))
        out: dict[str, Any] = {k: round(float(getattr(p, k)), 6) if isinstance(getattr(p, k), float)
                               else getattr(p, k) for k in ("epochs", "batch_size", "learning_rate", "lam",
                                                            "pf_prompts")}
        club = p.club
        names = {"bias_kind": {0: "categorical", 1: "Gaussian"}, "pair_mode": {0: "difference", 1: "concat"}}
        fields: list[str] = []
        for k, *_ in club._fields_:
            if k in ("struct_size", "seed", "hidden_dim"):
                continue
            v = getattr(club, k)
            shown = names[k].get(v, v) if k in names else round(float(v), 6) if isinstance(v, float) else v
            fields.append(f"{k} {shown}")
        out["club"] = "(" + ", ".join(fields) + ")"
        out["width (RewardModel default)"] = dirrm.RewardModel(prompt_dim=1, response_dim=1).width
        return out
    except Exception:  # the report must not fail on a changed private structure
        return {}


def variant_label(model: str) -> str:
    """'verbose', 'base' or 'concise'."""
    return ["concise", "base", "verbose"][variant_rank(model)]


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
    load_start = " ".join(f"{x:.1f}" for x in os.getloadavg())

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
    load_end = " ".join(f"{x:.1f}" for x in os.getloadavg())
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    block = write_report(args.out, data, splits, outcomes, base, args, command.strip(), wall, (load_start, load_end))
    if args.readme:
        replace_readme_block(args.readme, block, args.out)
    print(f"wrote {args.out} in {wall / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
