"""Rank statistics and the mean ± std (standard error) summary of the real-text benchmark."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


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

