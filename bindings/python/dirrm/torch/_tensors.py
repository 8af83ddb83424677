"""Tensors to and from the library: inputs as tensors, host float32 copies, and the autograd
bridge that hands torch gradients the library computed."""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union, cast

import numpy as np
import numpy.typing as npt
import torch
from dirrm._errors import DirrmError, ERR_INVALID_ARGUMENT, ERR_SHAPE

ArrayOrTensor = Union[torch.Tensor, npt.ArrayLike]


def _tensor(value: ArrayOrTensor, name: str) -> torch.Tensor:
    """A tensor for a tensor, numpy array or sequence (never copied when it is a tensor)."""
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError) as error:
        raise DirrmError(ERR_INVALID_ARGUMENT, f"{name}: not convertible to a tensor ({error})") from None


def _host32(t: torch.Tensor) -> npt.NDArray[np.float32]:
    """float32, C-contiguous, on the host, detached."""
    return cast(npt.NDArray[np.float32], t.detach().to("cpu", torch.float32).contiguous().numpy())


def _hidden(value: ArrayOrTensor, name: str) -> torch.Tensor:
    t = _tensor(value, name)
    if t.ndim != 2:
        raise DirrmError(ERR_SHAPE, f"{name} must be (n, hidden_dim), got shape {tuple(t.shape)}; "
                         "pick one vector per response first (e.g. the last token's hidden state)")
    if t.shape[0] == 0:
        raise DirrmError(ERR_SHAPE, f"{name} has n = 0 pairs; a batch needs at least one")
    if not t.is_floating_point():
        t = t.to(torch.float32)
    return t


def _carried(t: torch.Tensor) -> torch.dtype:
    """The dtype a value or gradient for t is kept in: t's own, but at least float32. A float16
    loss would overflow under GradScaler's first scale (2^16 is inf in float16) and a float16
    gradient would be rounded before the scale multiplies it; autocast's own losses are float32
    for the same reason."""
    if not t.is_floating_point() or t.element_size() < 4:
        return torch.float32
    return t.dtype


def _like(g: npt.ArrayLike, t: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """A host float32 gradient as a tensor of t's shape and device, in _carried(t); the
    backward pass multiplies it by the incoming gradient and only then casts it to t's dtype."""
    out = torch.from_numpy(np.ascontiguousarray(g, np.float32).reshape(tuple(t.shape)))
    if scale != 1.0:
        out = out * scale
    return out.to(t.device, _carried(t))


class _WithGradients(torch.autograd.Function):
    """A value whose gradients with respect to the inputs were computed already."""

    @staticmethod
    def forward(ctx: Any, value: torch.Tensor, grads: tuple[torch.Tensor, ...], *inputs: torch.Tensor
                ) -> torch.Tensor:
        ctx.grads = grads
        ctx.dtypes = [t.dtype if t.is_floating_point() else g.dtype for t, g in zip(inputs, grads)]
        return value.clone()

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Optional[torch.Tensor], ...]:
        grads = tuple((g * grad_output.to(g.device, g.dtype)).to(dtype) for g, dtype in zip(ctx.grads, ctx.dtypes))
        return (None, None, *grads)


def _attach(value: float, like: torch.Tensor, inputs: Sequence[torch.Tensor],
            grads: Sequence[torch.Tensor]) -> torch.Tensor:
    v = torch.tensor(value, dtype=_carried(like), device=like.device)
    out: torch.Tensor = cast(Any, _WithGradients).apply(v, tuple(grads), *inputs)
    return out

