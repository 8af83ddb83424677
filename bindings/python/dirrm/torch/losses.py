"""BTLoss (Bradley-Terry) and DIRLoss (Bradley-Terry + CLUBPenalty) as nn.Modules."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import numpy.typing as npt
import torch

from dirrm.club import Club
from dirrm.loss import bt_loss
from dirrm.torch._distributed import _Group
from dirrm.torch._tensors import ArrayOrTensor, _attach, _hidden, _host32, _like, _tensor
from dirrm.torch.club_penalty import CLUBPenalty, FitMode
from dirrm._errors import DirrmError, ERR_SHAPE


class BTLoss(torch.nn.Module):
    """The Bradley-Terry loss of dirrm_bt_loss as an nn.Module.

    L = sum_i w_i softplus(-(r_c,i - r_r,i - m_i)) / sum_i w_i + center (1/n) sum_i (r_c,i + r_r,i)^2

    Parameters
    ----------
    center : float
        Reward-centering coefficient >= 0 (TRL's center_rewards_coefficient).
    process_group, distributed
        As CLUBPenalty's. Distributed, the value is the loss of the global batch (weights
        normalized by their global sum, centering by the global count) and rank r's gradient
        is scaled so that DDP's averaging yields the global loss's gradient.

    Attributes
    ----------
    last_loss : float or None
    """

    last_loss: Optional[float]

    def __init__(self, center: float = 0.0, process_group: Any = None, distributed: Optional[bool] = None) -> None:
        super().__init__()
        self.center = float(center)
        self._group = _Group(process_group, distributed)
        self.last_loss = None

    def forward(self, r_chosen: ArrayOrTensor, r_rejected: ArrayOrTensor, margin: Optional[ArrayOrTensor] = None,
                weight: Optional[ArrayOrTensor] = None) -> torch.Tensor:
        """The loss of the batch.

        Parameters
        ----------
        r_chosen, r_rejected : Tensor or ndarray, n >= 1 elements each (e.g. (n,) or (n, 1))
            Rewards; any float dtype and device.
        margin : Tensor or ndarray, n elements, optional
            Per-pair margins m_i (default 0).
        weight : Tensor or ndarray, n elements, optional
            Per-pair weights >= 0, not all zero (default 1).

        Returns
        -------
        Tensor, shape (), r_chosen's dtype (float32 for float16 and bfloat16) and device
            Differentiable with respect to both rewards.
        """
        rc_t, rr_t = _tensor(r_chosen, "r_chosen"), _tensor(r_rejected, "r_rejected")
        n = rc_t.numel()
        if n == 0:
            raise DirrmError(ERR_SHAPE, "r_chosen has n = 0 pairs; a batch needs at least one")
        if rr_t.numel() != n:
            raise DirrmError(ERR_SHAPE, f"r_rejected has {rr_t.numel()} values but r_chosen has {n}")
        extra: dict[str, npt.NDArray[np.float32]] = {}
        for name, value in (("margin", margin), ("weight", weight)):
            if value is not None:
                t = _tensor(value, name)
                if t.numel() != n:
                    raise DirrmError(ERR_SHAPE, f"{name} has {t.numel()} values but r_chosen has {n}")
                extra[name] = _host32(t).reshape(n)
        rc, rr = _host32(rc_t).reshape(n), _host32(rr_t).reshape(n)
        if not self._group.active():
            loss, gc, gr = bt_loss(rc, rr, extra.get("margin"), extra.get("weight"), self.center)
            self.last_loss = loss
            return _attach(loss, rc_t, (rc_t, rr_t), (_like(gc, rc_t), _like(gr, rr_t)))
        # The weighted mean and the centering term have different normalizers: reduce both.
        main, gc, gr = bt_loss(rc, rr, extra.get("margin"), extra.get("weight"), 0.0)
        w_local = float(np.sum(extra["weight"], dtype=np.float64)) if "weight" in extra else float(n)
        s = (rc.astype(np.float64) + rr.astype(np.float64))
        sums = self._group.all_reduce([w_local * main, w_local, n, float(np.sum(s * s))])
        w_total, count = float(sums[1]), float(sums[2])
        loss = float(sums[0] / w_total + self.center * sums[3] / count)
        world = self._group.world()
        scale = world * w_local / w_total
        center_grad = (world * 2.0 * self.center / count) * s
        grads = [np.asarray(g, np.float64) * scale + center_grad for g in (gc, gr)]
        self.last_loss = loss
        return _attach(loss, rc_t, (rc_t, rr_t), (_like(grads[0], rc_t), _like(grads[1], rr_t)))

    def extra_repr(self) -> str:
        return f"center={self.center}"



class DIRLoss(torch.nn.Module):
    """DIR's training loss under DIR's policy: BTLoss + CLUBPenalty (lam * max(Î, 0), its
    gradient on the hidden states capped at the Bradley-Terry gradient's norm there), q fitted
    alternately. With no options it is the DIR that dirrm_train, dirrm.dir_loss and the TRL
    trainers run (dirrm_dir_params_init's defaults).

    Parameters
    ----------
    hidden_dim : int
        d, the size of one response's hidden state.
    lam : float, optional
        Weight of the CLUB bound, >= 0. None: the library's default (see dirrm.h).
    clip, cap : bool, optional
        The policy's protections (see CLUBPenalty). None: the library's default (see dirrm.h)
        (both on).
    fit : bool or "async"
        Fit q in training-mode forwards with gradients enabled (DIR's Alg. 1); "async": after
        the bound, on a dirrm thread, one step stale (see CLUBPenalty).
    center : float
        The Bradley-Terry reward-centering coefficient.
    process_group, distributed
        As CLUBPenalty's (both terms reduce over the same group).
    **club_options
        Those of dirrm.Club (bias_kind, bias_dim, pair_mode, q_hidden, fit_steps,
        learning_rate, weight_decay, logvar_bound, seed); None or left out: the policy's.

    Attributes
    ----------
    bt : BTLoss
    penalty : CLUBPenalty
    club : dirrm.Club
        penalty.club.
    lam : float
        penalty.lam.
    last_pref, last_mi : float or None
        The Bradley-Terry loss and the unclipped bound of the last forward (global when
        distributed).
    """

    last_pref: Optional[float]
    last_mi: Optional[float]

    def __init__(self, hidden_dim: int, lam: Optional[float] = None, clip: Optional[bool] = None,
                 cap: Optional[bool] = None, fit: FitMode = True, center: float = 0.0, process_group: Any = None,
                 distributed: Optional[bool] = None, **club_options: Any) -> None:
        super().__init__()
        self.bt = BTLoss(center, process_group=process_group, distributed=distributed)
        self.penalty = CLUBPenalty(hidden_dim, lam=lam, clip=clip, cap=cap, fit=fit, process_group=process_group,
                                   distributed=distributed, **club_options)
        self.last_pref = self.last_mi = None

    @property
    def club(self) -> Club:
        return self.penalty.club

    @property
    def lam(self) -> float:
        return self.penalty.lam

    @property
    def fit(self) -> FitMode:
        return self.penalty.fit

    @fit.setter
    def fit(self, value: FitMode) -> None:
        self.penalty.fit = value

    def finish(self) -> Optional[float]:
        """Waits for a background fit (fit="async"); see CLUBPenalty.finish."""
        return self.penalty.finish()

    def forward(self, r_chosen: ArrayOrTensor, r_rejected: ArrayOrTensor, h_chosen: ArrayOrTensor,
                h_rejected: ArrayOrTensor, bias: ArrayOrTensor, margin: Optional[ArrayOrTensor] = None,
                weight: Optional[ArrayOrTensor] = None, cap_wrt: Optional[Sequence[torch.Tensor]] = None
                ) -> torch.Tensor:
        """L_pref + lam * max(Î, 0) as a 0-dim tensor of r_chosen's dtype (float32 for
        float16 and bfloat16) and device.

        Parameters
        ----------
        r_chosen, r_rejected : Tensor or ndarray, n elements each
            Rewards, computed from h_chosen and h_rejected in the same graph for the cap to
            see the preference gradient on them (otherwise the first call warns).
        h_chosen, h_rejected : Tensor or ndarray, shape (n, hidden_dim)
            Hidden states.
        bias : Tensor or ndarray
            Shape (n,) of class ids (categorical), (n,) or (n, bias_dim) (Gaussian; e.g. the
            length gap).
        margin, weight : Tensor or ndarray, n elements, optional
            As BTLoss's.
        cap_wrt : sequence of Tensor, optional
            As CLUBPenalty's: where the cap measures the preference gradient when the
            rewards reach the hidden states only through other tensors (slices h[:n], h[n:]
            of one h are found by themselves).

        Returns
        -------
        Tensor, shape ()
            Backpropagates to the rewards and the hidden states.
        """
        n = int(_hidden(h_chosen, "h_chosen").shape[0])
        for name, value in (("r_chosen", r_chosen), ("r_rejected", r_rejected)):
            if _tensor(value, name).numel() != n:
                raise DirrmError(ERR_SHAPE, f"{name} has {_tensor(value, name).numel()} values but h_chosen has {n} pairs")
        pref: torch.Tensor = self.bt(r_chosen, r_rejected, margin, weight)
        penalty: torch.Tensor = self.penalty(h_chosen, h_rejected, bias, pref=pref, cap_wrt=cap_wrt)
        self.last_pref, self.last_mi = self.bt.last_loss, self.penalty.last_mi
        total: torch.Tensor = pref + penalty.to(pref.device, pref.dtype)
        return total

    def extra_repr(self) -> str:
        return f"lam={self.lam}, clip={self.penalty.clip}, cap={self.penalty.cap}"

