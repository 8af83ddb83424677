"""DIR (docs/mathematics.md §2): the CLUB estimator q(b | X). DIR's loss, policy and cap, which
use it, are in _dir_loss.py; import them from dirrm or from here.

Just over 300 lines for one reason: one class, the estimator, each method a thin call of one
function of dirrm.h's CLUB section with its numpy-style docstring."""

from __future__ import annotations

import ctypes
import math
from typing import Any, Literal, Optional, Union, overload

import numpy as np
import numpy.typing as npt

from ._arrays import as_f32, ptr
from ._handle import Handle
from ._errors import ERR_SHAPE, DirrmError
from ._lib import ClubParams, DirParams, check_call, lib
from ._params import choice, defaults, overridden

__all__ = ["Club", "dir_loss", "dir_cap", "DirLoss", "DirPolicy", "dir_policy"]

_KINDS = {"categorical": 0, "gaussian": 1}
_MODES = {"difference": 0, "concat": 1}
# Club.bound's result with the gradients: (mi, grad_chosen, grad_rejected).
_BoundWithGrad = tuple[float, npt.NDArray[np.float32], npt.NDArray[np.float32]]


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

    # A fit begun in the background (fit_begin) and not yet collected; its (NLL, error) once
    # another method has waited for it, until fit_finish hands it over.
    _pending: bool = False
    _collected: Optional[tuple[float, Optional[DirrmError]]] = None

    def _call(self, suffix: str, *args: Any) -> None:
        if self._pending and suffix != "fit_finish":
            self._collect()
        super()._call(suffix, *args)

    def _collect(self) -> None:
        """Waits for the background fit and keeps its result for fit_finish."""
        nll = np.zeros(1, np.float32)
        self._pending = False
        try:
            super()._call("fit_finish", ptr(nll))
            self._collected = (float(nll[0]), None)
        except DirrmError as error:
            self._collected = (math.nan, error)

    @property
    def fit_pending(self) -> bool:
        """Whether a fit begun with fit_begin awaits fit_finish."""
        return self._pending or self._collected is not None

    def fit_begin(self, h_chosen: npt.ArrayLike, h_rejected: npt.ArrayLike, bias: npt.ArrayLike) -> None:
        """Starts fit on this batch on a thread of dirrm's and returns at once (dirrm_club_fit_begin).

        The batch is copied first. Until fit_finish, every other method waits for the fit
        first (in C, other calls return DIRRM_ERR_MISUSE); close and garbage collection wait
        too. fit_finish's q equals fit's on the same batch bit for bit.

        Parameters
        ----------
        h_chosen, h_rejected : array_like, shape (n, hidden_dim), float32
        bias : array_like, float32
            As in fit.

        Raises
        ------
        DirrmError
            What the previous background fit raised, if fit_finish was not called for it;
            MisuseError when 32 fits already run in the background in this process.
        """
        if self.fit_pending:
            self.fit_finish()
        hc, hr, b = self._batch(h_chosen, h_rejected, bias)
        self._call("fit_begin", hc.shape[0], ptr(hc), ptr(hr), ptr(b))
        self._pending = True

    def fit_finish(self) -> float:
        """Waits for the fit fit_begin started (dirrm_club_fit_finish).

        Returns
        -------
        float
            As fit: q's mean negative log-likelihood of that batch after the steps.

        Raises
        ------
        MisuseError
            No fit was begun.
        NonFiniteError
            The fit stopped at a non-finite step, as fit would have.
        """
        if self._pending:
            self._collect()
        if self._collected is None:
            super()._call("fit_finish", None)   # the library's MISUSE: no fit was begun
        assert self._collected is not None
        (nll, error), self._collected = self._collected, None
        if error is not None:
            raise error
        return nll

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


# dirrm.club's public path for DIR's loss, which needs Club (defined above) only as a type.
from ._dir_loss import DirLoss, DirPolicy, dir_cap, dir_loss, dir_policy  # noqa: E402
