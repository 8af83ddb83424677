"""Small statistics for the fine-tuning benchmark: ranks, correlations, a linear probe, summaries."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def rankdata(x: npt.ArrayLike) -> F64:
    """Ranks from 1, ties given their average rank (scipy.stats.rankdata's 'average')."""
    a = np.asarray(x, np.float64).reshape(-1)
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(a.size, np.float64)
    sorted_a = a[order]
    i = 0
    while i < a.size:
        j = i
        while j + 1 < a.size and sorted_a[j + 1] == sorted_a[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return ranks


def pearson(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Pearson correlation; nan when either side is constant."""
    a = np.asarray(x, np.float64).reshape(-1)
    b = np.asarray(y, np.float64).reshape(-1)
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b / den) if den > 0 else math.nan


def spearman(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Spearman rank correlation (Pearson of the average ranks)."""
    return pearson(rankdata(x), rankdata(y))


def probe_r2(features: npt.ArrayLike, target: npt.ArrayLike, folds: int = 5, ridge: float = 1.0,
             seed: int = 0) -> float:
    """Cross-validated R² of a ridge regression of target on features.

    How much of the target (e.g. the standardized length gap) a linear read-out of the
    features (e.g. h_chosen - h_rejected) recovers on pairs it was not fitted on.

    Parameters
    ----------
    features : array_like, shape (n, d)
    target : array_like, shape (n,)
    folds : int
    ridge : float
        L2 penalty on the standardized features.
    seed : int
        Seed of the fold assignment.

    Returns
    -------
    float
        1 - SSE / SST over the held-out folds (SST about the training folds' mean).
    """
    X = np.asarray(features, np.float64)
    y = np.asarray(target, np.float64).reshape(-1)
    fold = np.random.default_rng(seed).permutation(y.size) % folds
    sse = sst = 0.0
    for k in range(folds):
        tr, te = fold != k, fold == k
        mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-8
        A = (X[tr] - mu) / sd
        ym = y[tr].mean()
        w = np.linalg.solve(A.T @ A + ridge * np.eye(A.shape[1]), A.T @ (y[tr] - ym))
        pred = ((X[te] - mu) / sd) @ w + ym
        sse += float(np.sum((y[te] - pred) ** 2))
        sst += float(np.sum((y[te] - ym) ** 2))
    return 1.0 - sse / sst if sst > 0 else math.nan


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error (sample std / sqrt(n); 0 for one value) of the finite values."""
    v = np.array([x for x in values if x is not None and np.isfinite(x)], np.float64)
    if v.size == 0:
        return math.nan, math.nan
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0
    return float(v.mean()), se
