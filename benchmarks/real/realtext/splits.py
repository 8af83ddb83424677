"""Splits by model: the held-out sets, the length-balanced and skewed subsets, each split's pairs."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from realtext.data import RealData

VARIANT_SUFFIX = re.compile(r"(_concise|_verbose)$")
SAME_WEIGHTS_SUFFIX = re.compile(r"-togetherai$")  # the same model served by another host

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


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



def variant_families(models: list[str]) -> dict[str, list[str]]:
    """The families among models with at least two of concise / base / verbose, variants sorted
    concise, base, verbose."""
    families: dict[str, list[str]] = {}
    for m in models:
        families.setdefault(family_of(m), []).append(m)
    return {f: sorted(ms, key=variant_rank) for f, ms in families.items()
            if len({variant_rank(m) for m in ms}) >= 2}



def variant_label(model: str) -> str:
    """'verbose', 'base' or 'concise'."""
    return ["concise", "base", "verbose"][variant_rank(model)]

