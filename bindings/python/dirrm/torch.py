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

import numpy as np
import torch

from .club import Club, dir_loss

__all__ = ["DIRLoss"]


def _numpy(t):
    return t.detach().to("cpu", torch.float32).contiguous().numpy()


class _DIRFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, r_chosen, r_rejected, h_chosen, h_rejected, bias, club, lam, fit):
        result = dir_loss(club, _numpy(r_chosen), _numpy(r_rejected), _numpy(h_chosen), _numpy(h_rejected),
                          _numpy(bias), lam=lam, fit_first=fit)
        like = lambda g, t: torch.from_numpy(np.asarray(g).reshape(t.shape)).to(t.device, t.dtype)
        ctx.save_for_backward(
            like(result.grad_r_chosen, r_chosen), like(result.grad_r_rejected, r_rejected),
            like(result.grad_h_chosen, h_chosen), like(result.grad_h_rejected, h_rejected))
        ctx.parts = (result.pref, result.mi)
        return torch.tensor(result.total, dtype=r_chosen.dtype, device=r_chosen.device)

    @staticmethod
    def backward(ctx, grad_output):
        grads = [g * grad_output for g in ctx.saved_tensors]
        return (*grads, None, None, None, None)


class DIRLoss(torch.nn.Module):
    """DIR's training loss, L_pref + lam * CLUB(h; b), with q fitted alternately.

    Arguments after lam and fit are those of dirrm.Club. After each forward, `last_pref` and
    `last_mi` hold the two parts of the loss."""

    def __init__(self, hidden_dim, lam=0.1, fit=True, **club_options):
        super().__init__()
        self.club = Club(hidden_dim, **club_options)
        self.lam = float(lam)
        self.fit = bool(fit)
        self.last_pref = self.last_mi = None

    def forward(self, r_chosen, r_rejected, h_chosen, h_rejected, bias):
        h_chosen = h_chosen.reshape(h_chosen.shape[0], -1)
        h_rejected = h_rejected.reshape(h_rejected.shape[0], -1)
        loss = _DIRFunction.apply(r_chosen, r_rejected, h_chosen, h_rejected, bias, self.club, self.lam, self.fit)
        return loss

    def extra_repr(self):
        return f"lam={self.lam}, fit={self.fit}"
