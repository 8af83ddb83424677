"""CLUBPenalty, DIR's penalty as an nn.Module (the cap's rule is in cap.py).

Just over 300 lines for one reason: one class, most of it the docstrings of the class and of
forward, which are the manual of DIR in torch (policy, cap, async fit, distributed)."""

from __future__ import annotations

import math
import warnings
from collections import deque
from typing import Any, Literal, Optional, Sequence, Union, cast

import numpy as np
import numpy.typing as npt
import torch

from dirrm._lib import DirParams
from dirrm._params import defaults
from dirrm.club import Club, dir_policy
from dirrm.torch._distributed import _Group
from dirrm.torch.cap import cap_scale, preference_gradients
from dirrm.torch._tensors import ArrayOrTensor, _attach, _hidden, _host32, _like, _tensor
from dirrm._errors import DirrmError, ERR_INVALID_ARGUMENT, ERR_SHAPE


# When CLUBPenalty fits q: before the bound (True), after it on a dirrm thread ("async"), never.
FitMode = Union[bool, Literal["async"]]


class CLUBPenalty(torch.nn.Module):
    """DIR's penalty: lam * max(Î, 0), Î the CLUB upper bound of I(X; b), X built from the two
    hidden states of each pair, under DIR's policy (dirrm_dir_params: the same lambda,
    estimator, clip and cap as dirrm_train and every other DIR entry point).

    forward(h_chosen, h_rejected, bias, pref=...) returns the penalty as a 0-dim tensor with
    gradients to both hidden states. In training mode (``module.train()``, the default) with
    gradients enabled and ``fit=True`` it first fits q on the detached hidden states
    (``fit_steps`` AdamW steps, DIR's Alg. 1); in eval mode, or under ``torch.no_grad()``, q is
    never changed.

    ``fit="async"`` takes q's fit off the critical path: forward computes the bound with q as
    it is, starts the fit on this batch on a dirrm thread (dirrm_club_fit_begin) and returns;
    the fit runs while the caller's backward, optimizer step and next forward run, and the next
    forward (or ``finish()``, ``state_dict()``, eval) waits for it. So each bound uses q
    fitted up to the batch before: one step stale. It equals, bit for bit, the synchronous
    schedule "bound(t), then fit(t)" at the same dirrm thread count. For trainers whose step
    leaves the CPU idle (GPU work), the fit then costs no wall time. Every use of ``club``
    waits for a running fit (copying or pickling the module too). A fit that fails (q
    diverged) raises from the call that waits for it: the next forward, ``finish()`` or
    ``state_dict()``; q keeps the steps before, as with fit=True.

    The cap: given ``pref``, the caller's preference loss (a tensor in the same graph), the
    penalty's gradient on the hidden states is scaled to at most the norm of pref's gradient
    there (computed with torch.autograd.grad through the caller's graph; dirrm_dir_cap's rule).
    Without ``pref``, or when pref has no gradient on the hidden states, the gradient is not
    capped and the first such forward warns (a RuntimeWarning).

    Parameters
    ----------
    hidden_dim : int
        d, the size of one response's hidden state.
    lam : float, optional
        Weight of the bound, >= 0. None: the library's default (see dirrm.h), DIR's policy's
        (dirrm_dir_params).
    clip : bool, optional
        Penalize max(Î, 0) (True) or Î (False, DIR as written). None: the library's default
        (see dirrm.h).
    cap : bool, optional
        Cap the penalty's gradient (above). None: the library's default (see dirrm.h).
    fit : bool or "async"
        Fit q before each training-mode forward (True), after it in the background
        ("async", above), or never (False).
    process_group : torch.distributed.ProcessGroup, optional
        The group to reduce over; by default the world when torch.distributed is initialized.
    distributed : bool, optional
        None (default): distributed exactly when torch.distributed is initialized; False:
        never communicate (each rank on its own); True: require torch.distributed.
    log_size : int
        How many forwards ``history`` keeps.
    **club_options
        Those of dirrm.Club, each None or left out meaning DIR's policy's estimator
        (``Club.for_dir``: a Gaussian q of width 64 on one attribute): bias_kind
        ("categorical" or "gaussian"), bias_dim, pair_mode ("difference" or "concat"),
        q_hidden, fit_steps, learning_rate, weight_decay, logvar_bound, seed.

    Attributes
    ----------
    club : dirrm.Club
        The estimator (its weights and AdamW state are this module's extra state).
    lam : float
    clip, cap : bool
    last_mi : float or None
        The bound Î of the last forward, unclipped (of the global batch when distributed).
    last_nll : float or None
        q's mean negative log-likelihood after the last fit that finished in the last forward
        (with fit="async": the previous batch's; None if none finished).
    last_cap_scale : float or None
        The factor the cap applied to the penalty's gradient in the last forward (1: not
        binding; None: not applied).
    history : collections.deque of dict
        One entry per forward, {"mi": float, "nll": float (nan without a fit), "n": float (the
        global pairs), "cap_scale": float (nan when not applied)}, the newest last.

    Notes
    -----
    Distributed: the pairs of every rank are all-gathered (detached, float32) and q is fitted
    on their concatenation in rank order, so q is identical on every rank (the first
    distributed fit also broadcasts rank 0's q, in case the ranks started from different
    ones). The bound uses the all-reduced bias statistics, the value returned is the global
    batch's penalty, and the gradient of rank r is scaled by world_size * n_r / N so that
    DDP's averaging yields the gradient of the global bound; the cap compares the all-reduced
    squared norms. Every rank must call forward the same number of times, in the same mode.
    """

    club: Club
    lam: float
    clip: bool
    cap: bool
    last_mi: Optional[float]
    last_nll: Optional[float]
    last_cap_scale: Optional[float]
    history: deque[dict[str, float]]

    def __init__(self, hidden_dim: int, lam: Optional[float] = None, clip: Optional[bool] = None,
                 cap: Optional[bool] = None, fit: FitMode = True, process_group: Any = None,
                 distributed: Optional[bool] = None, log_size: int = 10000, **club_options: Any) -> None:
        super().__init__()
        self.lam, self.clip, self.cap = dir_policy(lam, clip, cap)
        self.club = Club(hidden_dim, base=defaults(DirParams).club, **club_options)   # Club.for_dir
        self.hidden_dim = int(hidden_dim)
        self.fit = fit
        self._group = _Group(process_group, distributed)
        self._synced = False
        self._warned = False
        self.last_mi = None
        self.last_nll = None
        self._finished_nll: Optional[float] = None   # a background fit's NLL, until a forward logs it
        self.last_cap_scale = None
        self.history = deque(maxlen=int(log_size))

    @property
    def fit(self) -> FitMode:
        """True, False or "async" (see the class notes); settable."""
        return self._fit

    @fit.setter
    def fit(self, value: FitMode) -> None:
        if value is not True and value is not False and value != "async":
            raise DirrmError(ERR_INVALID_ARGUMENT, f"fit is {value!r}; it must be True, False or 'async'")
        self._fit: FitMode = value

    # -- state ---------------------------------------------------------------------------------

    def finish(self) -> Optional[float]:
        """Waits for a fit begun by a forward with fit="async".

        Returns
        -------
        float or None
            That fit's NLL (as last_nll), or None when none was running.
        """
        if self.club.fit_pending:
            # Kept for the next forward's last_nll and history, whoever waited (state_dict too).
            self._finished_nll = self.club.fit_finish()
            return self._finished_nll
        return None

    def get_extra_state(self) -> torch.Tensor:
        """q's configuration, weights and AdamW state (dirrm.Club.save) as a uint8 tensor;
        waits for a background fit first."""
        self.finish()
        return torch.frombuffer(bytearray(self.club.save()), dtype=torch.uint8)

    def set_extra_state(self, state: Any) -> None:
        """Restores what get_extra_state returned (a uint8 tensor or bytes)."""
        data = bytes(state.cpu().numpy().tobytes()) if isinstance(state, torch.Tensor) else bytes(state)
        club = Club.load(data)
        self.finish()
        saved, mine = (club.hidden_dim, club.bias_kind, club.bias_dim), (self.hidden_dim, self.club.bias_kind,
                                                                          self.club.bias_dim)
        if saved != mine:
            raise DirrmError(ERR_INVALID_ARGUMENT, f"the saved estimator has (hidden_dim, bias_kind, bias_dim) = {saved}, this module {mine}")
        # q continues with the settings it was saved with (its width, learning rate, fit
        # steps...), as a torch optimizer's state brings its own; say so when they differ from
        # this module's (the seed only initialized the weights the state replaces).
        given, kept = self.club.options, club.options
        changed = {key: (kept[key], given[key]) for key in kept if key != "seed" and kept[key] != given[key]}
        if changed:
            warnings.warn(f"dirrm CLUBPenalty: the loaded estimator keeps its saved settings, not this module's "
                          f"(saved, given): {changed}", RuntimeWarning, stacklevel=2)
        self.club = club
        self._finished_nll = None   # the replaced estimator's last fit is not this one's

    # -- the bound -----------------------------------------------------------------------------

    def _bias(self, bias: ArrayOrTensor, n: int) -> npt.NDArray[np.float32]:
        b = _tensor(bias, "bias")
        if b.ndim == 0 or b.shape[0] != n:
            raise DirrmError(ERR_SHAPE, f"bias has shape {tuple(b.shape)}; h_chosen has {n} pairs")
        out = b.detach().to("cpu", torch.float32).contiguous().numpy()
        if self.club.bias_kind == "categorical":
            if out.size != n:
                raise DirrmError(ERR_SHAPE, f"bias has shape {tuple(b.shape)}; a categorical bias is (n,) class ids")
            return cast(npt.NDArray[np.float32], out.reshape(n))
        if out.size != n * self.club.bias_dim:
            raise DirrmError(ERR_SHAPE, f"bias has shape {tuple(b.shape)}; a Gaussian bias is (n, {self.club.bias_dim})")
        return cast(npt.NDArray[np.float32], out.reshape(n, self.club.bias_dim))

    def forward(self, h_chosen: ArrayOrTensor, h_rejected: ArrayOrTensor, bias: ArrayOrTensor,
                pref: Optional[torch.Tensor] = None, cap_wrt: Optional[Sequence[torch.Tensor]] = None
                ) -> torch.Tensor:
        """DIR's penalty of the batch, lam * max(Î, 0).

        Parameters
        ----------
        h_chosen, h_rejected : Tensor or ndarray, shape (n, hidden_dim), n >= 1
            Hidden states; float16, bfloat16, float32 or float64, any device.
        bias : Tensor or ndarray
            Shape (n,) of class ids (categorical), (n,) or (n, bias_dim) (Gaussian), e.g. the
            length gap len(chosen) - len(rejected) for the policy's Gaussian q.
        pref : Tensor, shape (), optional
            The preference loss of the same batch, for the cap (see the class notes).
        cap_wrt : sequence of Tensor, optional
            Where to measure pref's gradient: by default (h_chosen, h_rejected); pass the
            tensors your hidden states were picked from when pref reaches the hidden states
            only through them (TRL: the score head's input).

        Returns
        -------
        Tensor, shape (), h_chosen's dtype (float32 for float16 and bfloat16) and device
            The penalty (of the global batch when distributed), differentiable with respect
            to both hidden states.

        Raises
        ------
        ShapeError
            A hidden state that is not 2-D, n = 0, or arguments with different n (a
            ValueError, as every dirrm error for a caller's mistake; docs/abi.md).
        DirrmError
            What the library refuses (hidden_dim mismatch, a class id out of range, ...).
        """
        hc_t = _hidden(h_chosen, "h_chosen")
        hr_t = _hidden(h_rejected, "h_rejected")
        if tuple(hr_t.shape) != tuple(hc_t.shape):
            raise DirrmError(ERR_SHAPE, f"h_rejected has shape {tuple(hr_t.shape)} but h_chosen has {tuple(hc_t.shape)}")
        if hc_t.shape[1] != self.hidden_dim:
            raise DirrmError(ERR_SHAPE, f"h_chosen has {hc_t.shape[1]} features; this module's hidden_dim is {self.hidden_dim}")
        n = int(hc_t.shape[0])
        b = self._bias(bias, n)
        hc, hr = _host32(hc_t), _host32(hr_t)
        fit = bool(self.fit) and self.training and torch.is_grad_enabled()
        background = fit and self.fit == "async"
        self.finish()
        finished, self._finished_nll = self._finished_nll, None
        nll = math.nan if finished is None else finished
        fit_batch = (hc, hr, b)
        if self._group.active():
            group = self._group
            world = group.world()
            if fit:
                if not self._synced:
                    self.club = Club.load(group.broadcast_bytes(self.club.save()))
                    self._synced = True
                rows = np.concatenate([hc, hr, b.reshape(n, -1)], axis=1)
                everything = np.concatenate(group.all_gather_rows(rows), axis=0)
                d = self.hidden_dim
                all_b = everything[:, 2 * d:]
                all_b = all_b.reshape(-1) if b.ndim == 1 else all_b
                fit_batch = (everything[:, :d], everything[:, d:2 * d], all_b)
                if not background:
                    nll = self.club.fit(*fit_batch)
                stats = self.club.bias_stats(all_b)
            else:
                stats = group.all_reduce(self.club.bias_stats(b)).astype(np.float32)
            total = float(stats[0])
            mi_local, gc, gr = self.club.bound(hc, hr, b, bias_stats=stats)
            share = group.all_reduce([n * mi_local])
            mi = float(share[0] / total)
            scale = world * n / total
        else:
            if fit and not background:
                nll = self.club.fit(hc, hr, b)
            mi, gc, gr = self.club.bound(hc, hr, b)
            scale, total = 1.0, float(n)
        if background:
            self.club.fit_begin(*fit_batch)
        # Î < 0 means q lags the representation; descending it would reward anti-correlation
        # with the bias (docs/decisions.md §1): the clip makes that step add nothing.
        active = mi > 0 or not self.clip
        scale *= self.lam if active else 0.0
        cap_scale = self._cap_scale(pref, cap_wrt if cap_wrt is not None else (hc_t, hr_t), scale, gc, gr)
        self.last_mi = mi
        self.last_nll = None if math.isnan(nll) else nll
        self.last_cap_scale = cap_scale
        self.history.append({"mi": mi, "nll": nll, "n": total,
                             "cap_scale": math.nan if cap_scale is None else cap_scale})
        value = self.lam * mi if active else 0.0
        g_scale = scale * (1.0 if cap_scale is None else cap_scale)
        return _attach(value, hc_t, (hc_t, hr_t), (_like(gc, hc_t, g_scale), _like(gr, hr_t, g_scale)))

    def _cap_scale(self, pref: Optional[torch.Tensor], wrt: Sequence[torch.Tensor], scale: float,
                   gc: npt.NDArray[np.float32], gr: npt.NDArray[np.float32]) -> Optional[float]:
        """The cap's factor for a penalty gradient scale * (gc, gr), or None where it is not applied."""
        if not self.cap or not torch.is_grad_enabled() or not any(t.requires_grad for t in wrt):
            return None
        present, problem = preference_gradients(pref, wrt)
        if problem is not None:
            if not self._warned:
                warnings.warn(f"dirrm CLUBPenalty(cap=True): {problem}; the penalty's gradient is not capped",
                              RuntimeWarning, stacklevel=3)
                self._warned = True
            return None
        pref_sq = sum(float(g.detach().double().pow(2).sum()) for g in present)
        pen_sq = scale * scale * (float(np.sum(np.square(gc, dtype=np.float64)))
                                  + float(np.sum(np.square(gr, dtype=np.float64))))
        if self._group.active():
            pen_sq, pref_sq = (float(v) for v in self._group.all_reduce([pen_sq, pref_sq]))
        return cap_scale(math.sqrt(pen_sq), math.sqrt(pref_sq))

    def extra_repr(self) -> str:
        return (f"hidden_dim={self.hidden_dim}, lam={self.lam}, clip={self.clip}, cap={self.cap}, "
                f"bias_kind={self.club.bias_kind!r}, bias_dim={self.club.bias_dim}, fit={self.fit!r}")

