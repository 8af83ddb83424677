"""Prompt-free reward decomposition (docs/mathematics.md §3) and prioritized sampling (docs/mathematics.md §4).

Just over 300 lines for one reason: the Δr2 solver, the prompt sampling, the normalization and
the Prioritizer are the numpy face of one C section (dirrm.h's prompt-free part), each a thin
call, and they share its enum tables."""

from __future__ import annotations

import ctypes
from typing import Callable, Iterator, NamedTuple, Optional

import numpy as np
import numpy.typing as npt

from ._arrays import as_f32, as_i64, ptr
from ._handle import Handle
from ._errors import ERR_SHAPE, DirrmError
from ._lib import PfParams, PrioritizerParams, PrioritizerStats, check_call, lib
from ._params import choice, filled, flag

__all__ = ["prompt_free_gap", "normalize_dr2", "sample_prompts", "cluster_threshold", "Prioritizer",
           "PromptFreeGap"]

_WEIGHTINGS = {"uniform": 0, "corresponding": 1, "explicit": 2, "log_weights": 3}
_SOLVERS = {"newton": 0, "bisection": 1}
_CLUSTER = {"kmeans": 0, "otsu": 1}
_REINSERT = {"immediate": 0, "lazy": 1}

class PromptFreeGap(NamedTuple):
    """What prompt_free_gap returns.

    Attributes
    ----------
    dr2 : ndarray, shape (n,), float32
        The prompt-free gap of each pair.
    dr1 : ndarray, shape (n,), float32, or None
        g_corr - dr2, the prompt-related part; None without corr_col.
    iterations : ndarray, shape (n,), int32
        Evaluations of Phi (Newton) or bisection steps each row took.
    """

    dr2: npt.NDArray[np.float32]
    dr1: Optional[npt.NDArray[np.float32]]
    iterations: npt.NDArray[np.int32]


def prompt_free_gap(gaps: npt.ArrayLike, corr_col: Optional[npt.ArrayLike] = None,
                    weights: Optional[npt.ArrayLike] = None, weighting: Optional[str] = None,
                    p: Optional[float] = None, solver: Optional[str] = None, tolerance: Optional[float] = None,
                    max_iter: Optional[int] = None, r_min: Optional[float] = None,
                    r_max: Optional[float] = None) -> PromptFreeGap:
    """The prompt-free gap dr2 of each row of the (n, K) gap matrix.

    Parameters
    ----------
    gaps : array_like, shape (n, K) or (n,), float32
        gaps[i, j] = r(x_j, y1_i) - r(x_j, y2_i); a 1-D array is one column.
    corr_col : array_like, shape (n,), integer, optional
        The column of each pair's own prompt.
    weights : array_like, shape (n, K), float32, optional
        Weights (or log-weights) of the prompts, for the "explicit" and "log_weights" weightings.
    weighting : {"uniform", "corresponding", "explicit", "log_weights"}, optional
        "corresponding" puts p on the own prompt; "explicit" rows need not sum to 1. By default
        "explicit" when weights are given, else "corresponding" when corr_col is, else "uniform".
    p : float, optional
        The own prompt's weight under "corresponding". None: the library's default (see
        dirrm.h).
    solver : {"newton", "bisection"}, optional
        None: the library's default (see dirrm.h).
    tolerance : float, optional
        Bisection's bracket width; Newton ignores it (it returns the root's own float32).
        None: the library's default (see dirrm.h).
    max_iter : int, optional
        None: the library's default (see dirrm.h).
    r_min, r_max : float, optional
        Reward range for the bisection bracket (0, 0: from the gaps). None: the library's
        default (see dirrm.h).

    Returns
    -------
    PromptFreeGap
        (dr2, dr1, iterations); dr1 = g_corr - dr2 is None without corr_col.
    """
    g = as_f32(gaps, "gaps")
    if g.ndim == 1:
        g = g.reshape(-1, 1)
    if g.ndim != 2:
        raise DirrmError(ERR_SHAPE, f"gaps must be (n, K), got shape {g.shape}")
    n, k = g.shape
    if weighting is None:
        weighting = "explicit" if weights is not None else "corresponding" if corr_col is not None else "uniform"
    params = filled(PfParams, weighting=choice(_WEIGHTINGS, weighting, "weighting"), p=p,
                    solver=choice(_SOLVERS, solver, "solver"), tolerance=tolerance, max_iter=max_iter,
                    r_min=r_min, r_max=r_max)
    corr = None if corr_col is None else as_i64(corr_col, "corr_col").reshape(-1)
    if corr is not None and corr.shape != (n,):
        raise DirrmError(ERR_SHAPE, f"corr_col has {corr.size} entries for {n} pairs")
    w = None if weights is None else as_f32(weights, "weights")
    if w is not None and w.shape != g.shape:
        raise DirrmError(ERR_SHAPE, f"weights has shape {w.shape} but gaps has {g.shape}")
    dr2 = np.empty(n, np.float32)
    dr1 = np.empty(n, np.float32) if corr is not None else None
    iterations = np.empty(n, np.int32)
    check_call(lib.dirrm_pf_gap(ctypes.byref(params), n, k, ptr(g), ptr(corr), ptr(w),
                                ptr(dr2), ptr(dr1), ptr(iterations)))
    return PromptFreeGap(dr2, dr1, iterations)


def normalize_dr2(dr2: npt.ArrayLike, own_gap: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """dr2 in units of the batch's RMS own-prompt gap, as dirrm_train scores its candidates
    (dirrm_pf_normalize): dr2 / max(sqrt(mean(own_gap**2)), 1e-12), in double.

    Parameters
    ----------
    dr2 : array_like, shape (n,), float32
        The batch's prompt-free gaps, n >= 1.
    own_gap : array_like, shape (n,), float32
        Each pair's reward gap under its own prompt.

    Returns
    -------
    ndarray, shape (n,), float32
    """
    values = as_f32(dr2, "dr2").reshape(-1)
    own = as_f32(own_gap, "own_gap").reshape(-1)
    if own.size != values.size:
        raise DirrmError(ERR_SHAPE, f"own_gap has {own.size} values for {values.size} dr2")
    out = np.empty(values.size, np.float32)
    check_call(lib.dirrm_pf_normalize(values.size, ptr(own), ptr(values), ptr(out)))
    return out


def sample_prompts(corr_prompt: npt.ArrayLike, k: int, num_prompts: int, seed: int = 0) -> npt.NDArray[np.int64]:
    """Prompts to score each pair under: its own, then k - 1 distinct others.

    Parameters
    ----------
    corr_prompt : array_like, shape (n,), integer
        Each pair's own prompt, in [0, num_prompts).
    k : int
        Prompts per pair (at most num_prompts).
    num_prompts : int
        Size of the prompt pool.
    seed : int
        A pair's prompts depend only on (seed, its index).

    Returns
    -------
    ndarray, shape (n, k), int64
        Column 0 is corr_prompt.
    """
    own = as_i64(corr_prompt, "corr_prompt").reshape(-1)
    out = np.empty((own.size, max(int(k), 0)), np.int64)
    check_call(lib.dirrm_pf_sample_prompts(own.size, int(k), int(num_prompts), ptr(own),
                                           int(seed) & (2**64 - 1), ptr(out)))
    return out


def cluster_threshold(values: npt.ArrayLike, method: str = "kmeans") -> float:
    """The exact two-cluster boundary of 1-D values.

    Parameters
    ----------
    values : array_like, any shape (flattened), float32
    method : {"kmeans", "otsu"}
        Where the boundary is placed between the two clusters.

    Returns
    -------
    float
    """
    v = as_f32(values, "values").reshape(-1)
    out = np.zeros(1, np.float32)
    check_call(lib.dirrm_cluster_threshold(v.size, ptr(v), choice(_CLUSTER, method, "method"), ptr(out)))
    return float(out[0])


class Prioritizer(Handle):
    """Alg. 2 of the prompt-free paper: propose candidates, decide them by dr2 < threshold,
    end the step (the threshold follows an EMA of the two-cluster boundary).

    Use `batches(batch_size, score_fn)` for the whole loop, or the steps one by one.
    Pickles through save/load; closes with close() or as a context manager.

    Parameters
    ----------
    num_samples : int
        Size of the pool; candidates are indices in [0, num_samples).
    cluster_method : {"kmeans", "otsu"}, optional
        None: the library's default (see dirrm.h).
    ema_weight : float, optional
        alpha, the weight the threshold's EMA keeps on its old value at each end of step
        (the update is the library's, dirrm_prioritizer_end_step). None: the library's
        default (see dirrm.h).
    initial_threshold : float, optional
        None: the library's default (see dirrm.h).
    reinsertion : {"immediate", "lazy"}, optional
        When a rejected candidate returns to the pool. None: the library's default (see
        dirrm.h).
    max_reinsertions : int, optional
        Second chances per sample and epoch. None: the library's default (see dirrm.h).
    shuffle : bool, optional
        None: the library's default (see dirrm.h).
    seed : int, optional
        Taken modulo 2**64. None: the library's default (see dirrm.h).

    Attributes
    ----------
    num_samples : int
    """

    _PREFIX = "dirrm_prioritizer"
    num_samples: int

    def __init__(self, num_samples: int, cluster_method: Optional[str] = None, ema_weight: Optional[float] = None,
                 initial_threshold: Optional[float] = None, reinsertion: Optional[str] = None,
                 max_reinsertions: Optional[int] = None, shuffle: Optional[bool] = None,
                 seed: Optional[int] = None) -> None:
        params = filled(PrioritizerParams, cluster_method=choice(_CLUSTER, cluster_method, "cluster_method"),
                        ema_weight=ema_weight, initial_threshold=initial_threshold,
                        reinsertion=choice(_REINSERT, reinsertion, "reinsertion"),
                        max_reinsertions=max_reinsertions, shuffle=flag(shuffle), seed=seed)
        self._handle = None
        handle = ctypes.c_void_p()
        check_call(lib.dirrm_prioritizer_create(ctypes.byref(params), int(num_samples), ctypes.byref(handle)))
        self._handle = handle
        self.num_samples = int(num_samples)

    def _after_load(self) -> None:
        count = ctypes.c_int64()
        self._call("num_samples", ctypes.byref(count))
        self.num_samples = count.value

    def propose(self, max_count: int) -> npt.NDArray[np.int64]:
        """Up to max_count candidate indices.

        Returns
        -------
        ndarray, shape (m,), int64, m <= max_count
            An empty array means the epoch is over.
        """
        out = np.empty(max(int(max_count), 1), np.int64)
        count = ctypes.c_int64()
        self._call("propose", int(max_count), ptr(out), ctypes.byref(count))
        return out[: count.value].copy()

    def decide(self, indices: npt.ArrayLike, dr2: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Accepts candidate i iff dr2[i] < threshold.

        Parameters
        ----------
        indices : array_like, shape (m,), integer
            Candidates from propose.
        dr2 : array_like, shape (m,), float32
            Their prompt-free gaps.

        Returns
        -------
        ndarray, shape (m,), bool
        """
        idx = as_i64(indices, "indices").reshape(-1)
        values = as_f32(dr2, "dr2").reshape(-1)
        if values.size != idx.size:
            raise DirrmError(ERR_SHAPE, f"dr2 has {values.size} values for {idx.size} indices")
        accept = np.empty(idx.size, np.uint8)
        self._call("decide", idx.size, ptr(idx), ptr(values), ptr(accept))
        return accept.astype(bool)

    def observe(self, dr2: npt.ArrayLike) -> None:
        """Adds dr2 values decided elsewhere (other ranks' prioritizers) to this step's
        clustering without deciding anything; end_step then clusters them with this step's own.

        Parameters
        ----------
        dr2 : array_like, shape (m,), float32
            Finite values; m = 0 does nothing.
        """
        values = as_f32(dr2, "dr2").reshape(-1)
        if values.size:
            self._call("observe", values.size, ptr(values))

    def end_step(self) -> float:
        """Ends the step (one round of propose and decide, as dirrm_train ends one per round):
        updates the threshold from every value decided or observed since the last end_step,
        and returns it."""
        out = np.zeros(1, np.float32)
        self._call("end_step", ptr(out))
        return float(out[0])

    @property
    def stats(self) -> dict[str, float]:
        """This epoch's counts ("epoch", "step", "proposed", "accepted", "rejected",
        "reinserted", "dropped", "pool_remaining", ints) and the "threshold" (float)."""
        s = PrioritizerStats()
        s.struct_size = ctypes.sizeof(PrioritizerStats)
        self._call("get_stats", ctypes.byref(s))
        return {name: getattr(s, name) for name, *_ in PrioritizerStats._fields_[1:]}

    @property
    def threshold(self) -> float:
        """The current threshold on dr2."""
        return self.stats["threshold"]

    def batches(self, batch_size: int, score_fn: Callable[[npt.NDArray[np.int64]], npt.ArrayLike]
                ) -> Iterator[npt.NDArray[np.int64]]:
        """One epoch of Alg. 2: yields the accepted indices of each step (int64, shape (m,)).

        score_fn(indices) returns their dr2. The step ends (threshold update) when the
        consumer asks for the next batch, i.e. after it has trained on this one. Steps in
        which nothing is accepted are not yielded, and batches are not refilled (they hold
        the accepted part of batch_size candidates). The generator covers one epoch; call
        batches() again for the next. For a torch DataLoader use
        dirrm.torch.PromptFreeBatchSampler (re-iterable, len(), full batches, resumable)."""
        while True:
            candidates = self.propose(batch_size)
            if candidates.size == 0:
                return
            accepted = candidates[self.decide(candidates, score_fn(candidates))]
            if accepted.size:
                yield accepted
            self.end_step()
