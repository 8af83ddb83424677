"""prompt_free_score_fn: the score_fn of PromptFreeBatchSampler from a model's reward gaps."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import numpy.typing as npt
import torch

from dirrm._lib import TrainParams
from dirrm._params import defaults, name_of
from dirrm.prompt_free import _SOLVERS, normalize_dr2, prompt_free_gap, sample_prompts
from dirrm.torch._tensors import ArrayOrTensor, _host32


def prompt_free_score_fn(gap_fn: Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64]], ArrayOrTensor],
                         own_prompt: npt.ArrayLike, num_prompts: int, k: Optional[int] = None,
                         p: Optional[float] = None, normalize: bool = True, seed: int = 0,
                         solver: Optional[str] = None
                         ) -> Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float32]]:
    """A score_fn for PromptFreeBatchSampler: each pair's prompt-free gap dr2 under K prompts.

    Each pair i is scored under its own prompt and k - 1 others drawn once from the pool
    (dirrm.sample_prompts with this seed, so a pair's prompts do not depend on its batch).
    The decomposition is dirrm_train's: the keywords left None, and the solver's tolerance
    and iteration limit, are those of dirrm_train_params_init (pf_prompts and pf).

    Parameters
    ----------
    gap_fn : callable
        gap_fn(pairs, prompts) with pairs an int64 array (m,) of pair indices and prompts an
        int64 array (m, k) of prompt indices (column 0 the pair's own) returns the reward gaps
        r(x_prompts[i, j], y_chosen_i) - r(x_prompts[i, j], y_rejected_i), shape (m, k), as a
        tensor or array. It is called under torch.no_grad().
    own_prompt : array_like, shape (num_pairs,), integer
        Each pair's own prompt, in [0, num_prompts).
    num_prompts : int
        Size of the prompt pool.
    k : int, optional
        Prompts per pair (own + k - 1 sampled), at most num_prompts. None: the library's
        default (see dirrm.h), dirrm_train_params_init's pf_prompts.
    p : float, optional
        The own prompt's weight in the decomposition; 0 leaves it out, so dr2 measures the
        other prompts only. None: the library's default (see dirrm.h), dirrm_train_params_init's
        pf.p.
    normalize : bool
        Divide dr2 by the batch's RMS own-prompt gap (the gaps of column 0), floored at 1e-12:
        dirrm.normalize_dr2, the rule dirrm_train scores its candidates with, so that the
        threshold does not drift as rewards grow.
    seed : int
        Seed of the prompt sampling.
    solver : {"newton", "bisection"}, optional
        None: the library's default (see dirrm.h), dirrm_train_params_init's pf.solver.

    Returns
    -------
    callable
        score_fn(indices: int64 array (m,)) -> dr2, float32 array (m,).
    """
    train = defaults(TrainParams)
    k = train.pf_prompts if k is None else k
    p = train.pf.p if p is None else p
    solver = name_of(_SOLVERS, train.pf.solver) if solver is None else solver
    tolerance, max_iter = train.pf.tolerance, train.pf.max_iter
    prompts = sample_prompts(own_prompt, k, num_prompts, seed)

    def score(indices: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        idx = np.asarray(indices, np.int64).reshape(-1)
        with torch.no_grad():
            raw = gap_fn(idx, prompts[idx])
        gaps = _host32(raw) if isinstance(raw, torch.Tensor) else np.ascontiguousarray(raw, np.float32)
        gaps = gaps.reshape(idx.size, -1)
        dr2 = prompt_free_gap(gaps, corr_col=np.zeros(idx.size, np.int64), p=p, solver=solver, tolerance=tolerance,
                              max_iter=max_iter).dr2
        return normalize_dr2(dr2, gaps[:, 0]) if normalize else dr2

    return score
