"""The cap of DIR's penalty gradient in torch: the preference loss's gradient on the hidden
states, measured through the caller's graph, and the library's factor (dirrm_dir_cap)."""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch

from dirrm.club import dir_cap


def cap_scale(penalty_norm: float, preference_norm: float) -> float:
    """The factor in [0, 1] (0 when preference_norm is 0) that brings a penalty gradient of norm penalty_norm to at most
    preference_norm: the library's rule (dirrm_dir_cap), asked on two one-element vectors."""
    if not (penalty_norm > 0 and math.isfinite(penalty_norm) and math.isfinite(preference_norm)):
        return 1.0
    # In units of the penalty's norm, clamped where the answer is 1 anyway, so float32 holds it.
    ratio = min(preference_norm / penalty_norm, 2.0)
    one = np.ones((1, 1), np.float32)
    _, _, scale = dir_cap(one * ratio, one * 0, one, one * 0)
    return scale


def preference_gradients(pref: Optional[torch.Tensor], wrt: Sequence[torch.Tensor]
                         ) -> tuple[list[torch.Tensor], Optional[str]]:
    """pref's gradients on the tensors of wrt that require one, through the caller's graph.

    Returns
    -------
    list of Tensor, str or None
        The gradients found, and None; or [] and why none could be measured (the caller warns).
    """
    if pref is None:
        return [], "pass pref=<the preference loss> to forward"
    targets = [t for t in wrt if t.requires_grad]
    # (autograd.grad refuses an empty list of inputs: no candidate means no gradient found.)
    grads = torch.autograd.grad(pref, targets, retain_graph=True, allow_unused=True) \
        if pref.requires_grad and targets else []
    present = [g for g in grads if g is not None]
    bases = [b for b in {id(t._base): t._base for t in targets if t._base is not None}.values() if b.requires_grad]
    if not present and bases and pref.requires_grad:
        # h_chosen = h[:n], h_rejected = h[n:] with the rewards computed from h: pref reaches
        # the slices only through the tensor they view.
        grads = torch.autograd.grad(pref, bases, retain_graph=True, allow_unused=True)
        present = [g for g in grads if g is not None]
    if not present:
        return [], "pref has no gradient on the hidden states (pass cap_wrt= the tensors they come from)"
    return present, None
