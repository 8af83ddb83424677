"""Prompt-free reward decomposition (SPEC §1.3) and prioritized sampling (SPEC §1.4)."""

import ctypes
from collections import namedtuple

import numpy as np

from ._arrays import as_f32, as_i64, ptr
from ._handle import Handle
from ._lib import ERR_INVALID_ARGUMENT, ERR_SHAPE, DirrmError, PfParams, PrioritizerParams
from ._lib import PrioritizerStats, check_call, lib

__all__ = ["prompt_free_gap", "sample_prompts", "cluster_threshold", "Prioritizer", "PromptFreeGap"]

_WEIGHTINGS = {"uniform": 0, "corresponding": 1, "explicit": 2, "log_weights": 3}
_SOLVERS = {"newton": 0, "bisection": 1}
_CLUSTER = {"kmeans": 0, "otsu": 1}
_REINSERT = {"immediate": 0, "lazy": 1}

PromptFreeGap = namedtuple("PromptFreeGap", ["dr2", "dr1", "iterations"])


def _choice(table, value, name):
    if value not in table:
        raise DirrmError(ERR_INVALID_ARGUMENT, f"{name} = {value!r} is not one of {sorted(table)}")
    return table[value]


def prompt_free_gap(gaps, corr_col=None, weights=None, weighting=None, p=0.5, solver="newton",
                    tolerance=1e-6, max_iter=100, r_min=0.0, r_max=0.0):
    """The prompt-free gap dr2 of each row of the (n, K) gap matrix.

    gaps[i, j] = r(x_j, y1_i) - r(x_j, y2_i). corr_col: (n,) column of each pair's own prompt.
    weighting: "uniform", "corresponding" (p on the own prompt), "explicit" (weights, rows
    need not sum to 1) or "log_weights" (weights are log-weights); by default "explicit"
    when weights are given, else "corresponding" when corr_col is, else "uniform".
    Returns PromptFreeGap(dr2, dr1, iterations); dr1 = g_corr - dr2 is None without corr_col.
    """
    g = as_f32(gaps, "gaps")
    if g.ndim == 1:
        g = g.reshape(-1, 1)
    if g.ndim != 2:
        raise DirrmError(ERR_SHAPE, f"gaps must be (n, K), got shape {g.shape}")
    n, k = g.shape
    if weighting is None:
        weighting = "explicit" if weights is not None else "corresponding" if corr_col is not None else "uniform"
    params = PfParams()
    lib.dirrm_pf_params_init(ctypes.byref(params))
    params.weighting = _choice(_WEIGHTINGS, weighting, "weighting")
    params.solver = _choice(_SOLVERS, solver, "solver")
    params.p, params.tolerance, params.max_iter = float(p), float(tolerance), int(max_iter)
    params.r_min, params.r_max = float(r_min), float(r_max)
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


def sample_prompts(corr_prompt, k, num_prompts, seed=0):
    """(n, k) prompt indices: column 0 each pair's own prompt, then k-1 distinct others."""
    own = as_i64(corr_prompt, "corr_prompt").reshape(-1)
    out = np.empty((own.size, max(int(k), 0)), np.int64)
    check_call(lib.dirrm_pf_sample_prompts(own.size, int(k), int(num_prompts), ptr(own),
                                           int(seed) & (2**64 - 1), ptr(out)))
    return out


def cluster_threshold(values, method="kmeans"):
    """The exact two-cluster boundary of 1-D values ("kmeans" or "otsu" placement)."""
    v = as_f32(values, "values").reshape(-1)
    out = np.zeros(1, np.float32)
    check_call(lib.dirrm_cluster_threshold(v.size, ptr(v), _choice(_CLUSTER, method, "method"), ptr(out)))
    return float(out[0])


class Prioritizer(Handle):
    """Alg. 2 of the prompt-free paper: propose candidates, decide them by dr2 < threshold,
    end the step (the threshold follows an EMA of the two-cluster boundary).

    Use `batches(batch_size, score_fn)` for the whole loop, or the steps one by one.
    Pickles through save/load; closes with close() or as a context manager."""

    _PREFIX = "dirrm_prioritizer"

    def __init__(self, num_samples, cluster_method="kmeans", ema_weight=0.9, initial_threshold=0.0,
                 reinsertion="immediate", max_reinsertions=1, shuffle=True, seed=0):
        params = PrioritizerParams()
        lib.dirrm_prioritizer_params_init(ctypes.byref(params))
        params.cluster_method = _choice(_CLUSTER, cluster_method, "cluster_method")
        params.ema_weight = float(ema_weight)
        params.initial_threshold = float(initial_threshold)
        params.reinsertion = _choice(_REINSERT, reinsertion, "reinsertion")
        params.max_reinsertions = int(max_reinsertions)
        params.shuffle = 1 if shuffle else 0
        params.seed = int(seed) & (2**64 - 1)
        self._handle = None
        handle = ctypes.c_void_p()
        check_call(lib.dirrm_prioritizer_create(ctypes.byref(params), int(num_samples), ctypes.byref(handle)))
        self._handle = handle
        self.num_samples = int(num_samples)

    def _after_load(self):
        count = ctypes.c_int64()
        self._call("num_samples", ctypes.byref(count))
        self.num_samples = count.value

    def propose(self, max_count):
        """Up to max_count candidate indices; an empty array means the epoch is over."""
        out = np.empty(max(int(max_count), 1), np.int64)
        count = ctypes.c_int64()
        self._call("propose", int(max_count), ptr(out), ctypes.byref(count))
        return out[: count.value].copy()

    def decide(self, indices, dr2):
        """Boolean array: accept candidate i iff dr2[i] < threshold."""
        idx = as_i64(indices, "indices").reshape(-1)
        values = as_f32(dr2, "dr2").reshape(-1)
        if values.size != idx.size:
            raise DirrmError(ERR_SHAPE, f"dr2 has {values.size} values for {idx.size} indices")
        accept = np.empty(idx.size, np.uint8)
        self._call("decide", idx.size, ptr(idx), ptr(values), ptr(accept))
        return accept.astype(bool)

    def end_step(self):
        """Updates and returns the threshold."""
        out = np.zeros(1, np.float32)
        self._call("end_step", ptr(out))
        return float(out[0])

    @property
    def stats(self):
        s = PrioritizerStats()
        s.struct_size = ctypes.sizeof(PrioritizerStats)
        self._call("get_stats", ctypes.byref(s))
        return {name: getattr(s, name) for name, _ in PrioritizerStats._fields_[1:]}

    @property
    def threshold(self):
        return self.stats["threshold"]

    def batches(self, batch_size, score_fn):
        """One epoch of Alg. 2: yields the accepted indices of each step (an int64 array).

        score_fn(indices) returns their dr2. The step ends (threshold update) when the
        consumer asks for the next batch, i.e. after it has trained on this one. Steps in
        which nothing is accepted are not yielded. Iterating again runs the next epoch, so
        `lambda: p.batches(...)` serves as a torch DataLoader batch_sampler per epoch."""
        while True:
            candidates = self.propose(batch_size)
            if candidates.size == 0:
                return
            accepted = candidates[self.decide(candidates, score_fn(candidates))]
            if accepted.size:
                yield accepted
            self.end_step()
