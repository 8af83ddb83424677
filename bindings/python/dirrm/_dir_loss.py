"""DIR's loss (docs/mathematics.md §2): its policy (dirrm_dir_params), the loss in one call
and the gradient cap, around the estimator of dirrm.club."""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

import numpy as np
import numpy.typing as npt

from ._arrays import as_f32, ptr
from ._errors import ERR_INVALID_ARGUMENT, ERR_SHAPE, DirrmError
from ._lib import DirParams, check_call, lib
from ._params import defaults, flag, overridden

if TYPE_CHECKING:
    from .club import Club

__all__ = ["dir_loss", "dir_cap", "DirLoss", "DirPolicy", "dir_policy"]


class DirLoss(NamedTuple):
    """What dir_loss returns. The gradients are None when it was called with grad=False.

    Attributes
    ----------
    total : float
        pref + lam * max(mi, 0) with the policy's clip (the default), pref + lam * mi
        without it.
    pref : float
        The Bradley-Terry loss.
    mi : float
        The CLUB bound, unclipped (it can be negative).
    grad_r_chosen, grad_r_rejected : ndarray, shape (n,), float32, or None
        Gradients of total with respect to the rewards.
    grad_h_chosen, grad_h_rejected : ndarray, shape (n, d), float32, or None
        Gradients of total with respect to the hidden states.
    """

    total: float
    pref: float
    mi: float
    grad_r_chosen: Optional[npt.NDArray[np.float32]]
    grad_r_rejected: Optional[npt.NDArray[np.float32]]
    grad_h_chosen: Optional[npt.NDArray[np.float32]]
    grad_h_rejected: Optional[npt.NDArray[np.float32]]


class DirPolicy(NamedTuple):
    """DIR's policy outside the estimator (dirrm_dir_params): lam, clip, cap."""

    lam: float
    clip: bool
    cap: bool


def dir_policy(lam: Optional[float] = None, clip: Optional[bool] = None, cap: Optional[bool] = None) -> DirPolicy:
    """DIR's policy with the library's defaults (dirrm_dir_params_init) where an argument is None.

    Parameters
    ----------
    lam : float, optional
        Weight of the bound, >= 0. None: the library's default (see dirrm.h).
    clip : bool, optional
        Penalize max(Î, 0) rather than Î. None: the library's default (see dirrm.h).
    cap : bool, optional
        Cap the penalty's gradient on the hidden states at the preference gradient's norm.
        None: the library's default (see dirrm.h).

    Returns
    -------
    DirPolicy
    """
    p = overridden(defaults(DirParams), lam=lam, clip=flag(clip), cap=flag(cap))
    if not (np.isfinite(p.lam) and p.lam >= 0):
        raise DirrmError(ERR_INVALID_ARGUMENT, f"lam = {p.lam} must be finite and >= 0")
    return DirPolicy(float(p.lam), bool(p.clip), bool(p.cap))


def dir_loss(club: Club, r_chosen: npt.ArrayLike, r_rejected: npt.ArrayLike, h_chosen: npt.ArrayLike,
             h_rejected: npt.ArrayLike, bias: npt.ArrayLike, lam: Optional[float] = None,
             clip: Optional[bool] = None, fit_first: bool = True, grad: bool = True) -> DirLoss:
    """DIR's loss in one call: optionally fit q, then BT + lam * max(CLUB bound, 0).

    The policy's cap needs the preference loss's gradient on the hidden states, which only
    your model gives: apply it to grad_h_* with ``dir_cap`` after your backward pass.

    Parameters
    ----------
    club : Club
        The estimator (e.g. ``Club.for_dir(d)``); fitted in place when fit_first is true.
    r_chosen, r_rejected : array_like, n values, float32
        Rewards of the chosen and the rejected responses (any shape with n elements).
    h_chosen, h_rejected : array_like, shape (n, club.hidden_dim), float32
        Hidden states.
    bias : array_like, float32
        Shape (n,) of class ids (categorical), (n,) or (n, bias_dim) (Gaussian).
    lam : float, optional
        Weight of the CLUB bound. None: the library's default (see dirrm.h), DIR's policy's
        (dirrm_dir_params).
    clip : bool, optional
        Penalize max(Î, 0) (True) or Î. None: the library's default (see dirrm.h), the
        policy's (True).
    fit_first : bool
        Fit q on this batch (club.fit_steps steps) before computing the bound.
    grad : bool
        Whether to compute the gradients.

    Returns
    -------
    DirLoss
        (total, pref, mi, grad_r_chosen, grad_r_rejected, grad_h_chosen, grad_h_rejected);
        the gradients are None with grad=False; mi is the unclipped bound.
    """
    hc, hr, b = club._batch(h_chosen, h_rejected, bias)
    rc = as_f32(r_chosen, "r_chosen").reshape(-1)
    rr = as_f32(r_rejected, "r_rejected").reshape(-1)
    n = hc.shape[0]
    if rc.size != n or rr.size != n:
        raise DirrmError(ERR_SHAPE, f"r_chosen ({rc.size}) and r_rejected ({rr.size}) need {n} values")
    policy = overridden(defaults(DirParams), lam=lam, clip=flag(clip))
    scalars = np.zeros(3, np.float32)
    grads: list[Any]
    if grad:
        grads = [np.empty(n, np.float32), np.empty(n, np.float32), np.empty_like(hc), np.empty_like(hr)]
    else:
        grads = [None] * 4
    check_call(lib.dirrm_dir_loss(
        club._live(), ctypes.byref(policy), n, ptr(rc), ptr(rr), ptr(hc), ptr(hr), ptr(b), 1 if fit_first else 0,
        ptr(scalars[0:1]), ptr(scalars[1:2]), ptr(scalars[2:3]), *(ptr(g) for g in grads)))
    return DirLoss(float(scalars[0]), float(scalars[1]), float(scalars[2]), *grads)


def dir_cap(pref_grad_h_chosen: npt.ArrayLike, pref_grad_h_rejected: npt.ArrayLike, grad_h_chosen: npt.ArrayLike,
            grad_h_rejected: npt.ArrayLike) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], float]:
    """DIR's gradient cap (dirrm_dir_cap): the penalty's gradient scaled to at most the
    preference gradient's norm on the same hidden states.

    Parameters
    ----------
    pref_grad_h_chosen, pref_grad_h_rejected : array_like, shape (n, d), float32
        The preference loss's gradient on the hidden states (your backward pass from grad_r).
    grad_h_chosen, grad_h_rejected : array_like, shape (n, d), float32
        The penalty's gradient (dir_loss's grad_h_*).

    Returns
    -------
    tuple of (ndarray, ndarray, float)
        The capped gradients (new arrays, shape (n, d), float32) and the factor s in [0, 1]
        (0 when the preference gradient is zero).
    """
    pc, pr = as_f32(pref_grad_h_chosen, "pref_grad_h_chosen"), as_f32(pref_grad_h_rejected, "pref_grad_h_rejected")
    gc = np.array(as_f32(grad_h_chosen, "grad_h_chosen"), np.float32, copy=True, order="C")
    gr = np.array(as_f32(grad_h_rejected, "grad_h_rejected"), np.float32, copy=True, order="C")
    if gc.ndim != 2 or any(a.shape != gc.shape for a in (pc, pr, gr)):
        raise DirrmError(ERR_SHAPE, f"the four gradients must have one (n, d) shape; got {pc.shape}, {pr.shape}, "
                         f"{gc.shape}, {gr.shape}")
    scale = np.zeros(1, np.float32)
    check_call(lib.dirrm_dir_cap(gc.shape[0], gc.shape[1], ptr(pc), ptr(pr), ptr(gc), ptr(gr), ptr(scale)))
    return gc, gr, float(scale[0])
