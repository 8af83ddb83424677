"""The Bradley-Terry preference loss (docs/mathematics.md §1)."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union, overload

import numpy as np
import numpy.typing as npt

from ._arrays import as_f32, ptr, same_shape
from ._lib import check_call, lib

__all__ = ["bt_loss"]


@overload
def bt_loss(r_chosen: npt.ArrayLike, r_rejected: npt.ArrayLike, margin: Optional[npt.ArrayLike] = ...,
            weight: Optional[npt.ArrayLike] = ..., center: float = ...,
            grad: Literal[True] = ...) -> tuple[float, npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...
@overload
def bt_loss(r_chosen: npt.ArrayLike, r_rejected: npt.ArrayLike, margin: Optional[npt.ArrayLike] = ...,
            weight: Optional[npt.ArrayLike] = ..., center: float = ..., *, grad: Literal[False]) -> float: ...
@overload
def bt_loss(r_chosen: npt.ArrayLike, r_rejected: npt.ArrayLike, margin: Optional[npt.ArrayLike] = ...,
            weight: Optional[npt.ArrayLike] = ..., center: float = ..., grad: bool = ...
            ) -> Union[float, tuple[float, npt.NDArray[np.float32], npt.NDArray[np.float32]]]: ...


def bt_loss(r_chosen: npt.ArrayLike, r_rejected: npt.ArrayLike, margin: Optional[npt.ArrayLike] = None,
            weight: Optional[npt.ArrayLike] = None, center: float = 0.0, grad: bool = True
            ) -> Union[float, tuple[float, npt.NDArray[np.float32], npt.NDArray[np.float32]]]:
    """Bradley-Terry loss of a batch of pairs.

    Parameters
    ----------
    r_chosen, r_rejected : array_like, any shape, converted to float32
        Rewards of the chosen and the rejected responses; the same shape, every element is
        one pair.
    margin : array_like, shape of r_chosen, float32, optional
        Per-pair margins (default 0).
    weight : array_like, shape of r_chosen, float32, optional
        Per-pair weights >= 0, not all zero (default 1).
    center : float
        Reward-centering coefficient >= 0.
    grad : bool
        Whether to return the gradients too.

    Returns
    -------
    float or tuple of (float, ndarray, ndarray)
        The loss; with grad=True, (loss, grad_chosen, grad_rejected), the gradients float32
        arrays shaped like r_chosen.

    Raises
    ------
    DirrmError
        For bad input (non-finite values, negative weights, mismatched shapes, ...).
    """
    chosen = as_f32(r_chosen, "r_chosen")
    rejected = as_f32(r_rejected, "r_rejected")
    same_shape(chosen, "r_chosen", rejected, "r_rejected")
    optional: dict[str, npt.NDArray[np.float32]] = {}
    for name, value in (("margin", margin), ("weight", weight)):
        if value is not None:
            optional[name] = as_f32(value, name)
            same_shape(chosen, "r_chosen", optional[name], name)
    loss = np.zeros(1, dtype=np.float32)
    grads: tuple[Any, Any] = (np.empty_like(chosen), np.empty_like(chosen)) if grad else (None, None)
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
