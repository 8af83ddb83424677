"""PyTorch integration: DIRLoss, an nn.Module computing DIR's loss with the library.

    import dirrm.torch
    loss_fn = dirrm.torch.DIRLoss(hidden_dim=h.shape[-1], lam=0.1)
    loss = loss_fn(r_chosen, r_rejected, h_chosen, h_rejected, bias)
    loss.backward()

The forward fits the estimator on the detached hidden states (when fit=True, as in DIR's
Alg. 1) and returns L_pref + lam * I; the backward hands torch the library's gradients for
the rewards and the hidden states. Tensors may live on any device: they are computed on the
CPU in float32 and the gradients are returned on the inputs' device and dtype.
"""

from __future__ import annotations

from typing import Any, Optional, cast

import numpy as np
import numpy.typing as npt
import torch

from .club import Club, dir_loss

__all__ = ["DIRLoss"]


def _numpy(t: torch.Tensor) -> npt.NDArray[np.float32]:
    return t.detach().to("cpu", torch.float32).contiguous().numpy()


class _DIRFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, r_chosen: torch.Tensor, r_rejected: torch.Tensor, h_chosen: torch.Tensor,
                h_rejected: torch.Tensor, bias: torch.Tensor, club: Club, lam: float, fit: bool) -> torch.Tensor:
        result = dir_loss(club, _numpy(r_chosen), _numpy(r_rejected), _numpy(h_chosen), _numpy(h_rejected),
                          _numpy(bias), lam=lam, fit_first=fit)
        like: Any = lambda g, t: torch.from_numpy(np.asarray(g).reshape(t.shape)).to(t.device, t.dtype)
        ctx.save_for_backward(
            like(result.grad_r_chosen, r_chosen), like(result.grad_r_rejected, r_rejected),
            like(result.grad_h_chosen, h_chosen), like(result.grad_h_rejected, h_rejected))
        ctx.parts = (result.pref, result.mi)
        return torch.tensor(result.total, dtype=r_chosen.dtype, device=r_chosen.device)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Optional[torch.Tensor], ...]:
        grads = [g * grad_output for g in ctx.saved_tensors]
        return (*grads, None, None, None, None)


class DIRLoss(torch.nn.Module):
    """DIR's training loss, L_pref + lam * CLUB(h; b), with q fitted alternately.

    Parameters
    ----------
    hidden_dim : int
        d, the size of one response's hidden state (after flattening all but the batch axis).
    lam : float
        Weight of the CLUB bound.
    fit : bool
        Fit q on each batch's detached hidden states before the bound (DIR's Alg. 1).
    **club_options
        Those of dirrm.Club (bias_kind, bias_dim, q_hidden, learning_rate, ...).

    Attributes
    ----------
    club : Club
    last_pref, last_mi : float or None
        Meant for the two parts of the loss after a forward.
    """

    club: Club
    lam: float
    fit: bool
    last_pref: Optional[float]
    last_mi: Optional[float]

    def __init__(self, hidden_dim: int, lam: float = 0.1, fit: bool = True, **club_options: Any) -> None:
        super().__init__()
        self.club = Club(hidden_dim, **club_options)
        self.lam = float(lam)
        self.fit = bool(fit)
        self.last_pref = self.last_mi = None

    def forward(self, r_chosen: torch.Tensor, r_rejected: torch.Tensor, h_chosen: torch.Tensor,
                h_rejected: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """L_pref + lam * CLUB as a 0-d tensor of r_chosen's dtype and device.

        Parameters
        ----------
        r_chosen, r_rejected : Tensor, shape (n,) (or n elements), any float dtype and device
        h_chosen, h_rejected : Tensor, shape (n, ...) flattening to (n, hidden_dim)
        bias : Tensor
            Shape (n,) of class ids (categorical), (n,) or (n, bias_dim) (Gaussian).

        Returns
        -------
        Tensor, shape ()
            Backpropagates to the rewards and the hidden states (computed in float32 on the CPU).
        """
        h_chosen = h_chosen.reshape(h_chosen.shape[0], -1)
        h_rejected = h_rejected.reshape(h_rejected.shape[0], -1)
        # torch leaves Function.apply unannotated.
        loss: torch.Tensor = cast(Any, _DIRFunction).apply(r_chosen, r_rejected, h_chosen, h_rejected, bias, self.club, self.lam, self.fit)
        return loss

    def extra_repr(self) -> str:
        return f"lam={self.lam}, fit={self.fit}"
