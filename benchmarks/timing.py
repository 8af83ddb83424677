"""The benchmarks' one timing loop: wall-clock times of repeated calls, medians taken by the
caller.

Every benchmark times through these functions, so that warm-up, the time budget of a row and
the switch to one side in an isolated child process mean the same everywhere.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Optional

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

# "both": the caller times both sides in this process, alternating. "dirrm" or "torch": a child
# process (benchmarks/bench.py's isolated runs) times only that side, so that neither side's
# thread pool is awake (OpenBLAS's workers spin after each call, torch's OpenMP workers too)
# while the other runs.
SIDE = os.environ.get("BENCH_SIDE", "both")
# The times of a side that was not run.
NOTHING: F64 = np.array([np.nan])

# A loop stops repeating once its timed calls have taken this long and it has MIN_REPEAT
# samples, so that a loaded machine (torch's thread pool slows by orders of magnitude when the
# cores are oversubscribed) cannot stretch a benchmark without bound; on a quiet machine the
# loops finish their repetitions well within it.
BUDGET = 8.0
MIN_REPEAT = 3


def timed(fn: Callable[[], Any], repeat: int, warmup: int = 1, budget: Optional[float] = BUDGET,
          pause: float = 0.0) -> F64:
    """Times `repeat` calls of fn after `warmup` untimed ones.

    Parameters
    ----------
    fn : callable, no arguments
    repeat, warmup : int
    budget : float or None
        Stop early once the timed calls took this many seconds (and MIN_REPEAT were made);
        None: always `repeat` calls.
    pause : float
        Seconds to sleep after each timed call, outside the timing.

    Returns
    -------
    ndarray, shape (k,), float64
        Seconds per call, k <= repeat.
    """
    for _ in range(warmup):
        fn()
    out: list[float] = []
    began = time.perf_counter()
    for i in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
        if pause > 0:
            time.sleep(pause)
        if budget is not None and i + 1 >= MIN_REPEAT and time.perf_counter() - began > budget:
            break
    return np.array(out)


def alternate(ours: Callable[[], Any], theirs: Callable[[], Any], repeat: int, warmup: int = 2,
              budget: Optional[float] = BUDGET) -> tuple[F64, F64]:
    """Times both, interleaved (ours, theirs, ours, ...) after `warmup` calls each; in an
    isolated child (SIDE "dirrm" or "torch") only that side, the other's times NOTHING.

    Returns
    -------
    tuple of two ndarrays, shape (k,), float64
        Seconds per call of ours and of theirs.
    """
    if SIDE == "dirrm":
        return timed(ours, repeat, warmup, budget), NOTHING
    if SIDE == "torch":
        return NOTHING, timed(theirs, repeat, warmup, budget)
    for _ in range(warmup):
        ours()
        theirs()
    times: tuple[list[float], list[float]] = ([], [])
    began = time.perf_counter()
    for i in range(repeat):
        for fn, out in ((ours, times[0]), (theirs, times[1])):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
        if budget is not None and i + 1 >= MIN_REPEAT and time.perf_counter() - began > budget:
            break
    return np.array(times[0]), np.array(times[1])


def chained(first: Callable[[], Any], then: Callable[[Any], Any], repeat: int,
            warmup: int = 1) -> tuple[F64, F64, Any]:
    """Times `first` and `then(first())` separately, call after call, after `warmup` untimed
    rounds.

    Returns
    -------
    tuple
        The seconds of each first() and of each then() (ndarrays, shape (repeat,), float64),
        and the last value first() returned.
    """
    value = None
    for _ in range(warmup):
        value = first()
        then(value)
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        value = first()
        middle = time.perf_counter()
        then(value)
        a.append(middle - start)
        b.append(time.perf_counter() - middle)
    return np.array(a), np.array(b), value


def median_seconds(fn: Callable[[], Any], repeat: int) -> float:
    """Median wall time of fn() over `repeat` calls, after one untimed call (no budget)."""
    return float(np.median(timed(fn, repeat, warmup=1, budget=None)))


def run_for(fn: Callable[[], Any], seconds: float) -> tuple[int, float]:
    """Calls fn until `seconds` have passed; returns the number of calls and the time they took."""
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls, time.perf_counter() - start
