"""The Bradley-Terry preference loss (SPEC §1.1)."""

import numpy as np

from ._arrays import as_f32, ptr, same_shape
from ._lib import check_call, lib


def bt_loss(r_chosen, r_rejected, margin=None, weight=None, center=0.0, grad=True):
    """Bradley-Terry loss of a batch of pairs.

    r_chosen, r_rejected: rewards of the same shape (any shape; every element is one pair).
    margin: per-pair margins (default 0). weight: per-pair weights >= 0 (default 1).
    center: reward-centering coefficient >= 0.
    Returns the loss as a float, or with grad=True the tuple
    (loss, grad_chosen, grad_rejected), the gradients shaped like r_chosen.
    Raises dirrm.DirrmError for bad input (non-finite values, negative weights, ...).
    """
    chosen = as_f32(r_chosen, "r_chosen")
    rejected = as_f32(r_rejected, "r_rejected")
    same_shape(chosen, "r_chosen", rejected, "r_rejected")
    optional = {}
    for name, value in (("margin", margin), ("weight", weight)):
        if value is not None:
            optional[name] = as_f32(value, name)
            same_shape(chosen, "r_chosen", optional[name], name)
    loss = np.zeros(1, dtype=np.float32)
    grads = (np.empty_like(chosen), np.empty_like(chosen)) if grad else (None, None)
    check_call(
        lib.dirrm_bt_loss(
            chosen.size,
            ptr(chosen),
            ptr(rejected),
            ptr(optional.get("margin")),
            ptr(optional.get("weight")),
            float(center),
            ptr(loss),
            ptr(grads[0]),
            ptr(grads[1]),
        )
    )
    return (float(loss[0]), *grads) if grad else float(loss[0])
