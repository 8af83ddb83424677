"""DIR (docs/mathematics.md §2): the CLUB estimator q(b | X) and the DIR loss."""

from __future__ import annotations

import ctypes
from typing import Any, Literal, NamedTuple, Optional, Union, overload

import numpy as np
import numpy.typing as npt

from ._arrays import as_f32, ptr
from ._handle import Handle
from ._errors import ERR_INVALID_ARGUMENT, ERR_SHAPE, DirrmError
from ._lib import ClubParams, DirParams, check_call, lib
from ._params import choice, defaults, flag, overridden

__all__ = ["Club", "dir_loss", "dir_cap", "DirLoss", "DirPolicy", "dir_policy"]

_KINDS = {"categorical": 0, "gaussian": 1}
# Club.bound's result with the gradients: (mi, grad_chosen, grad_rejected).
_BoundWithGrad = tuple[float, npt.NDArray[np.float32], npt.NDArray[np.float32]]
_MODES = {"difference": 0, "concat": 1}

class DirLoss(NamedTuple):
    """What dir_loss returns. The gradients are None when it was called with grad=False.

    Attributes
    ----------
    total : float
        pref + lam * mi.
    pref : float
        The Bradley-Terry loss.
    mi : float
        The CLUB bound.
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


class Club(Handle):
    """The variational estimator q(b | X) of DIR with its CLUB bound.

    Numpy in, numpy out; pickles through save/load; a context manager. The library's
    defaults (dirrm_club_params_init) follow the official DIR code.

    Parameters
    ----------
    hidden_dim : int
        d, the size of one response's hidden state.
    bias_kind : {"categorical", "gaussian"}, optional
        "categorical": bias_dim classes, the bias given as class ids (float32, shape (n,));
        "gaussian": bias_dim real attributes (float32, shape (n,) or (n, bias_dim)) on any
        scale: q sees them standardized by the running mean and std of every row it has
        been fit on (see dirrm.h). None: the library's default (see dirrm.h).
    bias_dim : int, optional
        Number of classes or attributes. None: the library's default (see dirrm.h).
    pair_mode : {"difference", "concat"}, optional
        X = h_c - h_r (shape (n, d)) or [h_c, h_r] (shape (n, 2d)). None: the library's
        default (see dirrm.h).
    q_hidden, fit_steps : int, optional
        Width of q's hidden layer; AdamW steps per fit. None: the library's default (see
        dirrm.h).
    learning_rate, weight_decay, logvar_bound : float, optional
        q's optimizer and the bound on the Gaussian log-variance. None: the library's default
        (see dirrm.h).
    seed : int, optional
        Seed of q's initialization (taken modulo 2**64). None: the library's default (see
        dirrm.h).
    base : ClubParams, optional
        The struct whose values the options left None keep. None: the library's default (see
        dirrm.h), dirrm_club_params_init's (DIR's paper settings); ``Club.for_dir`` passes DIR's
        policy's estimator (dirrm_dir_params_init's club).

    Attributes
    ----------
    hidden_dim : int
    bias_kind : str
    bias_dim : int
    """

    _PREFIX = "dirrm_club"
    hidden_dim: int
    bias_kind: str
    bias_dim: int

    def __init__(self, hidden_dim: int, bias_kind: Optional[str] = None, bias_dim: Optional[int] = None,
                 pair_mode: Optional[str] = None, q_hidden: Optional[int] = None, fit_steps: Optional[int] = None,
                 learning_rate: Optional[float] = None, weight_decay: Optional[float] = None,
                 logvar_bound: Optional[float] = None, seed: Optional[int] = None,
                 base: Optional[ClubParams] = None) -> None:
        start = defaults(ClubParams) if base is None else ClubParams.from_buffer_copy(base)
        params = overridden(start, hidden_dim=hidden_dim, bias_kind=choice(_KINDS, bias_kind, "bias_kind"),
                        bias_dim=bias_dim, pair_mode=choice(_MODES, pair_mode, "pair_mode"), q_hidden=q_hidden,
                        fit_steps=fit_steps, learning_rate=learning_rate, weight_decay=weight_decay,
                        logvar_bound=logvar_bound, seed=seed)
        handle = ctypes.c_void_p()
        check_call(lib.dirrm_club_create(ctypes.byref(params), ctypes.byref(handle)))
        self._handle = handle
        self._after_load()

    @classmethod
    def for_dir(cls, hidden_dim: int, **options: Any) -> "Club":
        """An estimator whose unset options are DIR's policy's (dirrm_dir_params_init's club:
        a Gaussian q of width 64 on one attribute), the one every DIR loss starts from.

        Parameters
        ----------
        hidden_dim : int
            d, the size of one response's hidden state.
        **options
            Those of Club (bias_kind, bias_dim, pair_mode, q_hidden, fit_steps,
            learning_rate, weight_decay, logvar_bound, seed).

        Returns
        -------
        Club
        """
        return cls(hidden_dim, base=defaults(DirParams).club, **options)

    def _after_load(self) -> None:
        params = ClubParams()
        self._call("get_params", ctypes.byref(params))
        self.hidden_dim = params.hidden_dim
        self.bias_kind = {v: k for k, v in _KINDS.items()}[params.bias_kind]
        self.bias_dim = params.bias_dim

    @property
    def options(self) -> dict[str, Any]:
        """Every setting the estimator was created with (dirrm_club_get_params), by Club's
        keyword names: bias_kind, bias_dim, pair_mode, q_hidden, fit_steps, learning_rate,
        weight_decay, logvar_bound, seed."""
        params = ClubParams()
        self._call("get_params", ctypes.byref(params))
        return {"bias_kind": {v: k for k, v in _KINDS.items()}[params.bias_kind], "bias_dim": params.bias_dim,
                "pair_mode": {v: k for k, v in _MODES.items()}[params.pair_mode], "q_hidden": params.q_hidden,
                "fit_steps": params.fit_steps, "learning_rate": params.learning_rate,
                "weight_decay": params.weight_decay, "logvar_bound": params.logvar_bound, "seed": params.seed}

    def __repr__(self) -> str:
        if self._handle is None:
            return "Club(closed)"
        return f"Club(hidden_dim={self.hidden_dim}, " + ", ".join(f"{k}={v!r}" for k, v in self.options.items()) + ")"

    def _batch(self, h_chosen: npt.ArrayLike, h_rejected: npt.ArrayLike, bias: npt.ArrayLike
               ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        hc = as_f32(h_chosen, "h_chosen")
        hr = as_f32(h_rejected, "h_rejected")
        # The library cannot see an array's size: check every one here.
        if hc.ndim != 2 or hc.shape[1] != self.hidden_dim or hr.shape != hc.shape:
            raise DirrmError(
                ERR_SHAPE, f"h_chosen {hc.shape} and h_rejected {hr.shape} must both be (n, {self.hidden_dim})")
        b = as_f32(bias, "bias")
        columns = self.bias_dim if self.bias_kind == "gaussian" else 1
        if b.size != hc.shape[0] * columns or b.shape[:1] != hc.shape[:1]:
            raise DirrmError(ERR_SHAPE, f"bias has shape {b.shape}; {hc.shape[0]} pairs need {hc.shape[0] * columns} values")
        return hc, hr, b

    def fit(self, h_chosen: npt.ArrayLike, h_rejected: npt.ArrayLike, bias: npt.ArrayLike) -> float:
        """fit_steps AdamW steps of q on this batch (hidden states fixed).

        Parameters
        ----------
        h_chosen, h_rejected : array_like, shape (n, hidden_dim), float32
            Hidden states of the chosen and the rejected responses.
        bias : array_like, float32
            Shape (n,) of class ids for a categorical bias, (n,) or (n, bias_dim) for a
            Gaussian one.

        Returns
        -------
        float
            q's mean negative log-likelihood of the batch's bias after the steps (a density
            of b itself, not of its standardized form).
        """
        hc, hr, b = self._batch(h_chosen, h_rejected, bias)
        nll = np.zeros(1, np.float32)
        self._call("fit", hc.shape[0], ptr(hc), ptr(hr), ptr(b), ptr(nll))
        return float(nll[0])

    def log_prob(self, h_chosen: npt.ArrayLike, h_rejected: npt.ArrayLike, bias: npt.ArrayLike
                 ) -> npt.NDArray[np.float32]:
        """log q(b_i | X_i) per pair.

        Parameters
        ----------
        h_chosen, h_rejected : array_like, shape (n, hidden_dim), float32
            Hidden states of the chosen and the rejected responses.
        bias : array_like, float32
            Shape (n,) of class ids for a categorical bias, (n,) or (n, bias_dim) for a
            Gaussian one.

        Returns
        -------
        ndarray, shape (n,), float32
        """
        hc, hr, b = self._batch(h_chosen, h_rejected, bias)
        out = np.empty(hc.shape[0], np.float32)
        self._call("log_prob", hc.shape[0], ptr(hc), ptr(hr), ptr(b), ptr(out))
        return out

    def _stats_len(self) -> int:
        length = ctypes.c_int64()
        self._call("stats_len", ctypes.byref(length))
        return length.value

    def bias_stats(self, bias: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The sufficient statistics of a batch's bias; they add up across workers.

        Parameters
        ----------
        bias : array_like, float32
            Shape (n,) of class ids (categorical), (n,) or (n, bias_dim) (Gaussian).

        Returns
        -------
        ndarray, shape (s,), float32
            Class counts (categorical) or sums of b and b**2 (Gaussian); s depends only on
            the estimator's parameters.
        """
        b = as_f32(bias, "bias")
        columns = self.bias_dim if self.bias_kind == "gaussian" else 1
        n = b.shape[0] if b.ndim else 1
        if b.size != n * columns:
            raise DirrmError(ERR_SHAPE, f"bias has shape {b.shape}; expected (n,{' ' + str(columns) if columns > 1 else ''})")
        out = np.empty(self._stats_len(), np.float32)
        self._call("bias_stats", n, ptr(b), ptr(out))
        return out

    # grad's value picks the return type, so that callers need no cast: (mi, grad_chosen,
    # grad_rejected) by default and for grad=True, mi alone for grad=False.
    @overload
    def bound(self, h_chosen: npt.ArrayLike, h_rejected: npt.ArrayLike, bias: npt.ArrayLike,
              bias_stats: Optional[npt.ArrayLike] = None, grad: Literal[True] = ...) -> _BoundWithGrad: ...
    @overload
    def bound(self, h_chosen: npt.ArrayLike, h_rejected: npt.ArrayLike, bias: npt.ArrayLike,
              bias_stats: Optional[npt.ArrayLike] = None, *, grad: Literal[False]) -> float: ...
    @overload
    def bound(self, h_chosen: npt.ArrayLike, h_rejected: npt.ArrayLike, bias: npt.ArrayLike,
              bias_stats: Optional[npt.ArrayLike], grad: Literal[False]) -> float: ...
    @overload
    def bound(self, h_chosen: npt.ArrayLike, h_rejected: npt.ArrayLike, bias: npt.ArrayLike,
              bias_stats: Optional[npt.ArrayLike] = None, grad: bool = ...) -> Union[float, _BoundWithGrad]: ...

    def bound(self, h_chosen: npt.ArrayLike, h_rejected: npt.ArrayLike, bias: npt.ArrayLike,
              bias_stats: Optional[npt.ArrayLike] = None, grad: bool = True) -> Union[float, _BoundWithGrad]:
        """The CLUB bound of this batch.

        Parameters
        ----------
        h_chosen, h_rejected : array_like, shape (n, hidden_dim), float32
            Hidden states of the chosen and the rejected responses.
        bias : array_like, float32
            Shape (n,) of class ids for a categorical bias, (n,) or (n, bias_dim) for a
            Gaussian one.
        bias_stats : array_like, shape (s,), float32, optional
            The statistics of the global batch (bias_stats summed over workers); by default
            this batch's.
        grad : bool
            Whether to return the gradients too.

        Returns
        -------
        tuple of (float, ndarray, ndarray), or float with grad=False
            (mi, grad_chosen, grad_rejected), the gradients float32 of shape (n, hidden_dim);
            with grad=False the bound mi alone. A type checker infers which from a literal
            grad.
        """
        hc, hr, b = self._batch(h_chosen, h_rejected, bias)
        stats = None if bias_stats is None else as_f32(bias_stats, "bias_stats").reshape(-1)
        if stats is not None and stats.size != self._stats_len():
            raise DirrmError(ERR_SHAPE, f"bias_stats has {stats.size} values; this estimator's have {self._stats_len()}")
        mi = np.zeros(1, np.float32)
        grads: tuple[Any, Any] = (np.empty_like(hc), np.empty_like(hr)) if grad else (None, None)
        self._call("bound", hc.shape[0], ptr(hc), ptr(hr), ptr(b), ptr(stats), ptr(mi), ptr(grads[0]), ptr(grads[1]))
        return (float(mi[0]), *grads) if grad else float(mi[0])

    @property
    def weights(self) -> npt.NDArray[np.float32]:
        """q's parameters, in torch.nn.Linear order: ndarray, shape (num_weights,), float32."""
        count = ctypes.c_int64()
        self._call("num_weights", ctypes.byref(count))
        out = np.empty(count.value, np.float32)
        self._call("get_weights", ptr(out), out.size)
        return out

    @weights.setter
    def weights(self, values: npt.ArrayLike) -> None:
        w = as_f32(values, "weights").reshape(-1)
        self._call("set_weights", ptr(w), w.size)


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
        The capped gradients (new arrays, shape (n, d), float32) and the factor s in (0, 1].
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
