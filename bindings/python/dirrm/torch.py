"""PyTorch integration: DIR's loss terms as nn.Modules and prompt-free prioritization as a
DataLoader batch sampler.

    import dirrm.torch
    penalty = dirrm.torch.CLUBPenalty(hidden_dim=d)          # DIR's penalty, DIR's policy
    loss = my_loss + penalty(h_chosen, h_rejected, bias, pref=my_loss)   # pref: for the cap
    # or, Bradley-Terry and the penalty in one module:
    dir_loss = dirrm.torch.DIRLoss(hidden_dim=d)
    loss = dir_loss(r_chosen, r_rejected, h_chosen, h_rejected, bias)
    loss.backward()

Every module computes with the library in float32 on the host and hands torch the gradients
in each input's dtype and on its device (CPU or CUDA; float16, bfloat16, float32, float64).
The estimator q is module state: it is trained by the library's own AdamW (never by your
optimizer, so it is not in parameters()), and its weights and AdamW moments are saved in
state_dict() and restored by load_state_dict().

Data parallel (torch.distributed initialized, or a process_group given): CLUBPenalty fits q
on the all-gathered pairs of every rank, so q is the same on every rank, and uses the
all-reduced bias statistics; the value it returns is the bound of the global batch, and its
gradient is scaled so that after DDP's gradient averaging (sum over ranks / world size) the
update equals single-process training on the concatenation of the ranks' batches in rank
order, for equal and uneven shards. BTLoss does the same for the Bradley-Terry term.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from typing import Any, Callable, Iterator, Optional, Sequence, Union, cast

import numpy as np
import numpy.typing as npt
import torch
import torch.distributed as dist

from ._lib import DirParams, TrainParams
from ._params import defaults, name_of
from .club import Club, dir_cap, dir_policy
from .loss import bt_loss
from .prompt_free import _CLUSTER, _REINSERT, _SOLVERS, Prioritizer, cluster_threshold, prompt_free_gap
from .prompt_free import sample_prompts

__all__ = ["CLUBPenalty", "BTLoss", "DIRLoss", "PromptFreeBatchSampler", "prompt_free_score_fn", "cap_scale"]

ArrayOrTensor = Union[torch.Tensor, npt.ArrayLike]


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------

def _tensor(value: ArrayOrTensor, name: str) -> torch.Tensor:
    """A tensor for a tensor, numpy array or sequence (never copied when it is a tensor)."""
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: not convertible to a tensor ({error})") from None


def _host32(t: torch.Tensor) -> npt.NDArray[np.float32]:
    """float32, C-contiguous, on the host, detached."""
    return cast(npt.NDArray[np.float32], t.detach().to("cpu", torch.float32).contiguous().numpy())


def _hidden(value: ArrayOrTensor, name: str) -> torch.Tensor:
    t = _tensor(value, name)
    if t.ndim != 2:
        raise ValueError(f"{name} must be (n, hidden_dim), got shape {tuple(t.shape)}; "
                         "pick one vector per response first (e.g. the last token's hidden state)")
    if t.shape[0] == 0:
        raise ValueError(f"{name} has n = 0 pairs; a batch needs at least one")
    if not t.is_floating_point():
        t = t.to(torch.float32)
    return t


def _like(g: npt.ArrayLike, t: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """A host float32 gradient as a tensor of t's shape, dtype and device."""
    out = torch.from_numpy(np.ascontiguousarray(g, np.float32).reshape(tuple(t.shape)))
    if scale != 1.0:
        out = out * scale
    dtype = t.dtype if t.is_floating_point() else torch.float32
    return out.to(t.device, dtype)


class _WithGradients(torch.autograd.Function):
    """A value whose gradients with respect to the inputs were computed already."""

    @staticmethod
    def forward(ctx: Any, value: torch.Tensor, grads: tuple[torch.Tensor, ...], *inputs: torch.Tensor
                ) -> torch.Tensor:
        ctx.grads = grads
        return value.clone()

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Optional[torch.Tensor], ...]:
        grads = tuple((g * grad_output.to(g.device, g.dtype)) for g in ctx.grads)
        return (None, None, *grads)


def _attach(value: float, like: torch.Tensor, inputs: Sequence[torch.Tensor],
            grads: Sequence[torch.Tensor]) -> torch.Tensor:
    dtype = like.dtype if like.is_floating_point() else torch.float32
    v = torch.tensor(value, dtype=dtype, device=like.device)
    out: torch.Tensor = cast(Any, _WithGradients).apply(v, tuple(grads), *inputs)
    return out


def cap_scale(penalty_norm: float, preference_norm: float) -> float:
    """The factor in (0, 1] that brings a penalty gradient of norm penalty_norm to at most
    preference_norm: the library's rule (dirrm_dir_cap), asked on two one-element vectors."""
    if not (penalty_norm > 0 and math.isfinite(penalty_norm) and math.isfinite(preference_norm)):
        return 1.0
    # In units of the penalty's norm, clamped where the answer is 1 anyway, so float32 holds it.
    ratio = min(preference_norm / penalty_norm, 2.0)
    one = np.ones((1, 1), np.float32)
    _, _, scale = dir_cap(one * ratio, one * 0, one, one * 0)
    return scale


# ---------------------------------------------------------------------------------------------
# Distribution
# ---------------------------------------------------------------------------------------------

class _Group:
    """The process group a module communicates over, or none."""

    def __init__(self, process_group: Any, distributed: Optional[bool]) -> None:
        self.process_group = process_group
        self.distributed = distributed

    def active(self) -> bool:
        if self.distributed is False:
            return False
        if not (dist.is_available() and dist.is_initialized()):
            if self.distributed or self.process_group is not None:
                raise RuntimeError("dirrm.torch: distributed=True or a process_group needs torch.distributed "
                                   "to be initialized (dist.init_process_group)")
            return False
        return True

    def world(self) -> int:
        return int(dist.get_world_size(self.process_group))

    def rank(self) -> int:
        return int(dist.get_rank(self.process_group))

    def device(self) -> torch.device:
        # NCCL communicates CUDA tensors only; gloo (and MPI) host ones.
        if dist.get_backend(self.process_group) == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def all_reduce(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        t = torch.as_tensor(np.asarray(values, np.float64)).to(self.device())
        dist.all_reduce(t, group=self.process_group)
        return cast(npt.NDArray[np.float64], t.cpu().numpy())

    def all_gather_rows(self, rows: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        """Each rank's (n_rank, c) rows, in rank order (n_rank may differ)."""
        device = self.device()
        size = torch.tensor([rows.shape[0]], dtype=torch.int64, device=device)
        sizes = [torch.zeros_like(size) for _ in range(self.world())]
        dist.all_gather(sizes, size, group=self.process_group)
        counts = [int(s.item()) for s in sizes]
        padded = np.zeros((max(counts), rows.shape[1]), np.float32)
        padded[: rows.shape[0]] = rows
        local = torch.from_numpy(padded).to(device)
        parts = [torch.empty_like(local) for _ in counts]
        dist.all_gather(parts, local, group=self.process_group)
        return [p.cpu().numpy()[:c] for p, c in zip(parts, counts)]

    def broadcast_bytes(self, data: bytes, src_rank: int = 0) -> bytes:
        device = self.device()
        src = dist.get_global_rank(self.process_group, src_rank) if self.process_group is not None else src_rank
        size = torch.tensor([len(data)], dtype=torch.int64, device=device)
        dist.broadcast(size, src, group=self.process_group)
        buffer = torch.zeros(int(size.item()), dtype=torch.uint8)
        if self.rank() == src_rank:
            buffer = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        buffer = buffer.to(device)
        dist.broadcast(buffer, src, group=self.process_group)
        return bytes(buffer.cpu().numpy().tobytes())


# ---------------------------------------------------------------------------------------------
# CLUBPenalty
# ---------------------------------------------------------------------------------------------

class CLUBPenalty(torch.nn.Module):
    """DIR's penalty: lam * max(Î, 0), Î the CLUB upper bound of I(X; b), X built from the two
    hidden states of each pair, under DIR's policy (dirrm_dir_params: the same lambda,
    estimator, clip and cap as dirrm_train and every other DIR entry point).

    forward(h_chosen, h_rejected, bias, pref=...) returns the penalty as a 0-dim tensor with
    gradients to both hidden states. In training mode (``module.train()``, the default) with
    gradients enabled and ``fit=True`` it first fits q on the detached hidden states
    (``fit_steps`` AdamW steps, DIR's Alg. 1); in eval mode, or under ``torch.no_grad()``, q is
    never changed.

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
    fit : bool
        Fit q before each training-mode forward.
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
        q's mean negative log-likelihood after the last fit (None if the forward did not fit).
    last_cap_scale : float or None
        The factor the cap applied to the penalty's gradient in the last forward (1: not
        binding; None: not applied).
    history : collections.deque of dict
        One entry per forward, {"mi": float, "nll": float (nan without a fit), "n": int (global
        pairs), "cap_scale": float (nan when not applied)}, the newest last.

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
    fit: bool
    lam: float
    clip: bool
    cap: bool
    last_mi: Optional[float]
    last_nll: Optional[float]
    last_cap_scale: Optional[float]
    history: deque[dict[str, float]]

    def __init__(self, hidden_dim: int, lam: Optional[float] = None, clip: Optional[bool] = None,
                 cap: Optional[bool] = None, fit: bool = True, process_group: Any = None,
                 distributed: Optional[bool] = None, log_size: int = 10000, **club_options: Any) -> None:
        super().__init__()
        self.lam, self.clip, self.cap = dir_policy(lam, clip, cap)
        self.club = Club(hidden_dim, base=defaults(DirParams).club, **club_options)   # Club.for_dir
        self.hidden_dim = int(hidden_dim)
        self.fit = bool(fit)
        self._group = _Group(process_group, distributed)
        self._synced = False
        self._warned = False
        self.last_mi = None
        self.last_nll = None
        self.last_cap_scale = None
        self.history = deque(maxlen=int(log_size))

    # -- state ---------------------------------------------------------------------------------

    def get_extra_state(self) -> torch.Tensor:
        """q's configuration, weights and AdamW state (dirrm.Club.save) as a uint8 tensor."""
        return torch.frombuffer(bytearray(self.club.save()), dtype=torch.uint8)

    def set_extra_state(self, state: Any) -> None:
        """Restores what get_extra_state returned (a uint8 tensor or bytes)."""
        data = bytes(state.cpu().numpy().tobytes()) if isinstance(state, torch.Tensor) else bytes(state)
        club = Club.load(data)
        saved, mine = (club.hidden_dim, club.bias_kind, club.bias_dim), (self.hidden_dim, self.club.bias_kind,
                                                                          self.club.bias_dim)
        if saved != mine:
            raise ValueError(f"the saved estimator has (hidden_dim, bias_kind, bias_dim) = {saved}, this module {mine}")
        self.club = club

    # -- the bound -----------------------------------------------------------------------------

    def _bias(self, bias: ArrayOrTensor, n: int) -> npt.NDArray[np.float32]:
        b = _tensor(bias, "bias")
        if b.ndim == 0 or b.shape[0] != n:
            raise ValueError(f"bias has shape {tuple(b.shape)}; h_chosen has {n} pairs")
        out = b.detach().to("cpu", torch.float32).contiguous().numpy()
        if self.club.bias_kind == "categorical":
            if out.size != n:
                raise ValueError(f"bias has shape {tuple(b.shape)}; a categorical bias is (n,) class ids")
            return cast(npt.NDArray[np.float32], out.reshape(n))
        if out.size != n * self.club.bias_dim:
            raise ValueError(f"bias has shape {tuple(b.shape)}; a Gaussian bias is (n, {self.club.bias_dim})")
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
        Tensor, shape (), h_chosen's dtype and device
            The penalty (of the global batch when distributed), differentiable with respect
            to both hidden states.

        Raises
        ------
        ValueError
            A hidden state that is not 2-D, n = 0, or arguments with different n.
        DirrmError
            What the library refuses (hidden_dim mismatch, a class id out of range, ...).
        """
        hc_t = _hidden(h_chosen, "h_chosen")
        hr_t = _hidden(h_rejected, "h_rejected")
        if tuple(hr_t.shape) != tuple(hc_t.shape):
            raise ValueError(f"h_rejected has shape {tuple(hr_t.shape)} but h_chosen has {tuple(hc_t.shape)}")
        if hc_t.shape[1] != self.hidden_dim:
            raise ValueError(f"h_chosen has {hc_t.shape[1]} features; this module's hidden_dim is {self.hidden_dim}")
        n = int(hc_t.shape[0])
        b = self._bias(bias, n)
        hc, hr = _host32(hc_t), _host32(hr_t)
        fit = self.fit and self.training and torch.is_grad_enabled()
        nll = math.nan
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
                nll = self.club.fit(everything[:, :d], everything[:, d:2 * d], all_b)
                stats = self.club.bias_stats(all_b)
            else:
                stats = group.all_reduce(self.club.bias_stats(b)).astype(np.float32)
            total = float(stats[0])
            mi_local, gc, gr = cast(tuple[float, Any, Any], self.club.bound(hc, hr, b, bias_stats=stats))
            share = group.all_reduce([n * mi_local])
            mi = float(share[0] / total)
            scale = world * n / total
        else:
            if fit:
                nll = self.club.fit(hc, hr, b)
            mi, gc, gr = cast(tuple[float, Any, Any], self.club.bound(hc, hr, b))
            scale, total = 1.0, float(n)
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
        problem = None
        if pref is None:
            problem = "pass pref=<the preference loss> to forward"
        else:
            targets = [t for t in wrt if t.requires_grad]
            grads = (torch.autograd.grad(pref, targets, retain_graph=True, allow_unused=True)
                     if pref.requires_grad else [])
            present = [g for g in grads if g is not None]
            bases = list({id(t._base): t._base for t in targets if t._base is not None}.values())
            if not present and bases and pref.requires_grad:
                # h_chosen = h[:n], h_rejected = h[n:] with the rewards computed from h: pref
                # reaches the slices only through the tensor they view.
                grads = torch.autograd.grad(pref, [b for b in bases if b.requires_grad], retain_graph=True,
                                            allow_unused=True)
                present = [g for g in grads if g is not None]
            if not present:
                problem = "pref has no gradient on the hidden states (pass cap_wrt= the tensors they come from)"
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
                f"bias_kind={self.club.bias_kind!r}, bias_dim={self.club.bias_dim}, fit={self.fit}")


# ---------------------------------------------------------------------------------------------
# BTLoss
# ---------------------------------------------------------------------------------------------

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
        Tensor, shape (), r_chosen's dtype and device
            Differentiable with respect to both rewards.
        """
        rc_t, rr_t = _tensor(r_chosen, "r_chosen"), _tensor(r_rejected, "r_rejected")
        n = rc_t.numel()
        if n == 0:
            raise ValueError("r_chosen has n = 0 pairs; a batch needs at least one")
        if rr_t.numel() != n:
            raise ValueError(f"r_rejected has {rr_t.numel()} values but r_chosen has {n}")
        extra: dict[str, npt.NDArray[np.float32]] = {}
        for name, value in (("margin", margin), ("weight", weight)):
            if value is not None:
                t = _tensor(value, name)
                if t.numel() != n:
                    raise ValueError(f"{name} has {t.numel()} values but r_chosen has {n}")
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


# ---------------------------------------------------------------------------------------------
# DIRLoss
# ---------------------------------------------------------------------------------------------

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
    fit : bool
        Fit q in training-mode forwards with gradients enabled (DIR's Alg. 1).
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
                 cap: Optional[bool] = None, fit: bool = True, center: float = 0.0, process_group: Any = None,
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
    def fit(self) -> bool:
        return self.penalty.fit

    @fit.setter
    def fit(self, value: bool) -> None:
        self.penalty.fit = bool(value)

    def forward(self, r_chosen: ArrayOrTensor, r_rejected: ArrayOrTensor, h_chosen: ArrayOrTensor,
                h_rejected: ArrayOrTensor, bias: ArrayOrTensor, margin: Optional[ArrayOrTensor] = None,
                weight: Optional[ArrayOrTensor] = None, cap_wrt: Optional[Sequence[torch.Tensor]] = None
                ) -> torch.Tensor:
        """L_pref + lam * max(Î, 0) as a 0-dim tensor of r_chosen's dtype and device.

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
                raise ValueError(f"{name} has {_tensor(value, name).numel()} values but h_chosen has {n} pairs")
        pref: torch.Tensor = self.bt(r_chosen, r_rejected, margin, weight)
        penalty: torch.Tensor = self.penalty(h_chosen, h_rejected, bias, pref=pref, cap_wrt=cap_wrt)
        self.last_pref, self.last_mi = self.bt.last_loss, self.penalty.last_mi
        total: torch.Tensor = pref + penalty.to(pref.device, pref.dtype)
        return total

    def extra_repr(self) -> str:
        return f"lam={self.lam}, clip={self.penalty.clip}, cap={self.penalty.cap}"


# ---------------------------------------------------------------------------------------------
# Prompt-free prioritization as a DataLoader batch sampler
# ---------------------------------------------------------------------------------------------

def prompt_free_score_fn(gap_fn: Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64]], ArrayOrTensor],
                         own_prompt: npt.ArrayLike, num_prompts: int, k: Optional[int] = None,
                         p: Optional[float] = None, normalize: bool = True, seed: int = 0,
                         solver: Optional[str] = None
                         ) -> Callable[[npt.NDArray[np.int64]], npt.NDArray[np.float32]]:
    """A score_fn for PromptFreeBatchSampler: each pair's prompt-free gap dr2 under K prompts.

    Each pair i is scored under its own prompt and k - 1 others drawn once from the pool
    (dirrm.sample_prompts with this seed, so a pair's prompts do not depend on its batch).
    The decomposition is dirrm_train's: the keywords left None, and the solver's tolerance
    and iteration limit, are those of dirrm_train_params_init (pf_prompts and pf).

    Parameters
    ----------
    gap_fn : callable
        gap_fn(pairs, prompts) with pairs an int64 array (m,) of pair indices and prompts an
        int64 array (m, k) of prompt indices (column 0 the pair's own) returns the reward gaps
        r(x_prompts[i, j], y_chosen_i) - r(x_prompts[i, j], y_rejected_i), shape (m, k), as a
        tensor or array. It is called under torch.no_grad().
    own_prompt : array_like, shape (num_pairs,), integer
        Each pair's own prompt, in [0, num_prompts).
    num_prompts : int
        Size of the prompt pool.
    k : int, optional
        Prompts per pair (own + k - 1 sampled), at most num_prompts. None: the library's
        default (see dirrm.h), dirrm_train_params_init's pf_prompts.
    p : float, optional
        The own prompt's weight in the decomposition; 0 leaves it out, so dr2 measures the
        other prompts only. None: the library's default (see dirrm.h), dirrm_train_params_init's
        pf.p.
    normalize : bool
        Divide dr2 by the batch's RMS own-prompt gap, as dirrm_train does, so that the
        threshold does not drift as rewards grow.
    seed : int
        Seed of the prompt sampling.
    solver : {"newton", "bisection"}, optional
        None: the library's default (see dirrm.h), dirrm_train_params_init's pf.solver.

    Returns
    -------
    callable
        score_fn(indices: int64 array (m,)) -> dr2, float32 array (m,).
    """
    train = defaults(TrainParams)
    k = train.pf_prompts if k is None else k
    p = train.pf.p if p is None else p
    solver = name_of(_SOLVERS, train.pf.solver) if solver is None else solver
    tolerance, max_iter = train.pf.tolerance, train.pf.max_iter
    prompts = sample_prompts(own_prompt, k, num_prompts, seed)

    def score(indices: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        idx = np.asarray(indices, np.int64).reshape(-1)
        with torch.no_grad():
            raw = gap_fn(idx, prompts[idx])
        gaps = _host32(raw) if isinstance(raw, torch.Tensor) else np.ascontiguousarray(raw, np.float32)
        gaps = gaps.reshape(idx.size, -1)
        dr2 = prompt_free_gap(gaps, corr_col=np.zeros(idx.size, np.int64), p=p, solver=solver, tolerance=tolerance,
                              max_iter=max_iter).dr2
        if normalize:
            rms = float(np.sqrt(np.mean(gaps[:, 0].astype(np.float64) ** 2)))
            if rms > 0:
                dr2 = (dr2 / rms).astype(np.float32)
        return dr2

    return score


class PromptFreeBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Alg. 2 of the prompt-free paper as a torch DataLoader batch_sampler.

    Each step proposes candidates, scores them with score_fn, accepts those with
    dr2 < threshold and proposes again until the batch holds batch_size accepted pairs or
    max_rounds proposals were made (as dirrm_train does); then the threshold follows the EMA
    of the two-cluster boundary of every dr2 the step decided. The prioritizer's epochs roll
    over as its pool runs dry, so batches stay full across its epoch boundaries.

        sampler = dirrm.torch.PromptFreeBatchSampler(len(data), 64, score_fn)
        loader = torch.utils.data.DataLoader(data, batch_sampler=sampler)
        for epoch in range(3):
            for batch in loader:   # len(loader) == len(sampler)
                ...

    The prioritizer keywords left None take the library's defaults for dirrm_train, those of
    dirrm_train_params_init's prioritizer (no reinsertion, where dirrm_prioritizer_params_init
    allows one).

    One iteration (one DataLoader epoch) is len(self) steps. A step that accepts nothing in
    max_rounds rounds yields no batch, so len() is an upper bound, reached unless the
    threshold rejects nearly everything. The steps are taken lazily: score_fn sees the model
    as trained on every earlier batch when the DataLoader has num_workers=0 (with workers,
    the DataLoader prefetches batches and scores them with a slightly older model).

    Parameters
    ----------
    num_samples : int
        Size of the dataset; indices are in [0, num_samples).
    batch_size : int
    score_fn : callable
        score_fn(indices: int64 array (m,)) -> their dr2 (array or tensor, m values, finite);
        see prompt_free_score_fn.
    max_rounds : int
        Proposals per step at most.
    cluster_method : {"kmeans", "otsu"}, optional
        None: the library's default (see dirrm.h).
    ema_weight : float, optional
        alpha in threshold <- alpha * threshold + (1 - alpha) * boundary. None: the library's
        default (see dirrm.h).
    initial_threshold : float, optional
        None: the library's default (see dirrm.h).
    reinsertion : {"immediate", "lazy"}, optional
        None: the library's default (see dirrm.h).
    max_reinsertions : int, optional
        Second chances per pair and prioritizer epoch. None: the library's default (see
        dirrm.h).
    shuffle : bool, optional
        None: the library's default (see dirrm.h).
    seed : int, optional
        None: the library's default (see dirrm.h).
    process_group, distributed
        As CLUBPenalty's. Distributed, rank r draws its candidates from its own shard
        [r, r + world, r + 2 world, ...] of the pool (as DistributedSampler), and each step's
        dr2 values of every rank are all-gathered for the clustering, so every rank holds the
        same threshold and the same accept rule. The threshold then follows exactly the
        single-process formula applied to the union of the ranks' dr2; the union of the
        batches is not the batch one process would draw (each rank fills its own batch from
        its own shard), and a step is skipped on every rank when any rank accepted nothing.
        Whether to communicate is decided when the sampler is created (create it after
        init_process_group).
    even_batches : bool
        Distributed: every rank yields the same batch size in a step, the smallest any rank
        filled (the others drop their extra accepted pairs, which count as decided); trainers
        that gather per-sample tensors across ranks (TRL, accelerate's gather) need this.
        False: each rank yields what it accepted (DIRLoss and BTLoss are exact either way).

    Attributes
    ----------
    threshold : float
        The current threshold on dr2 (identical on every rank).
    epoch : int
        Completed or started iterations.
    """

    threshold: float
    epoch: int

    def __init__(self, num_samples: int, batch_size: int,
                 score_fn: Callable[[npt.NDArray[np.int64]], ArrayOrTensor], max_rounds: int = 8,
                 cluster_method: Optional[str] = None, ema_weight: Optional[float] = None,
                 initial_threshold: Optional[float] = None, reinsertion: Optional[str] = None,
                 max_reinsertions: Optional[int] = None, shuffle: Optional[bool] = None, seed: Optional[int] = None,
                 process_group: Any = None, distributed: Optional[bool] = None, even_batches: bool = True) -> None:
        library = defaults(TrainParams).prioritizer   # dirrm_train's prioritizer
        cluster_method = name_of(_CLUSTER, library.cluster_method) if cluster_method is None else cluster_method
        ema_weight = library.ema_weight if ema_weight is None else ema_weight
        initial_threshold = library.initial_threshold if initial_threshold is None else initial_threshold
        reinsertion = name_of(_REINSERT, library.reinsertion) if reinsertion is None else reinsertion
        max_reinsertions = library.max_reinsertions if max_reinsertions is None else max_reinsertions
        shuffle = bool(library.shuffle) if shuffle is None else shuffle
        seed = library.seed if seed is None else seed
        if int(num_samples) < 1 or int(batch_size) < 1 or int(max_rounds) < 1:
            raise ValueError(f"num_samples ({num_samples}), batch_size ({batch_size}) and max_rounds "
                             f"({max_rounds}) must be >= 1")
        if not 0.0 <= float(ema_weight) <= 1.0:
            raise ValueError(f"ema_weight = {ema_weight} is not in [0, 1]")
        cluster_threshold(np.zeros(1, np.float32), cluster_method)   # validates the name
        self.num_samples, self.batch_size, self.max_rounds = int(num_samples), int(batch_size), int(max_rounds)
        self.score_fn = score_fn
        self.cluster_method = cluster_method
        self.even_batches = bool(even_batches)
        # The library keeps alpha as a C float; the update is computed in double from it.
        self._alpha = float(np.float32(ema_weight))
        self._group = _Group(process_group, distributed)
        self._world, self._rank = (self._group.world(), self._group.rank()) if self._group.active() else (1, 0)
        self._shard = np.arange(self._rank, self.num_samples, self._world, dtype=np.int64)
        if self._shard.size == 0:
            raise ValueError(f"num_samples ({num_samples}) is smaller than the world size ({self._world})")
        # The library's prioritizer keeps the pool, the shuffling and the reinsertions; its own
        # threshold stays 0 (ema_weight 1) and is fed -1 / +1 for this sampler's decisions,
        # which are taken against self.threshold, the one every rank shares.
        self._prioritizer = Prioritizer(int(self._shard.size), cluster_method=cluster_method, ema_weight=1.0,
                                        initial_threshold=0.0, reinsertion=reinsertion,
                                        max_reinsertions=max_reinsertions, shuffle=shuffle,
                                        seed=int(seed) + 1000003 * self._rank)
        self.threshold = float(np.float32(initial_threshold))
        largest_shard = -(-self.num_samples // self._world)
        self._steps = -(-largest_shard * (1 + int(max_reinsertions)) // self.batch_size)
        self._step_in_epoch = 0
        self.epoch = 0

    def __len__(self) -> int:
        """Steps per iteration: ceil(ceil(num_samples / world) * (1 + max_reinsertions) / batch_size),
        dirrm_train's count; an upper bound on the batches (see the class notes)."""
        return self._steps

    def _step(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """One step's accepted shard positions and every dr2 it decided."""
        accepted: list[npt.NDArray[np.int64]] = []
        decided: list[npt.NDArray[np.float32]] = []
        count = rounds = 0
        while count < self.batch_size and rounds < self.max_rounds:
            candidates = self._prioritizer.propose(self.batch_size - count)
            if candidates.size == 0:   # the prioritizer's epoch ended: the next propose starts one
                candidates = self._prioritizer.propose(self.batch_size - count)
                if candidates.size == 0:
                    break
            rounds += 1
            raw = self.score_fn(self._shard[candidates])
            dr2 = _host32(raw) if isinstance(raw, torch.Tensor) else np.ascontiguousarray(raw, np.float32)
            dr2 = dr2.reshape(-1)
            if dr2.size != candidates.size or not np.all(np.isfinite(dr2)):
                raise ValueError(f"score_fn returned {dr2.size} values for {candidates.size} candidates "
                                 "(they must be as many, and finite)")
            accept = dr2 < np.float32(self.threshold)
            self._prioritizer.decide(candidates, np.where(accept, np.float32(-1), np.float32(1)))
            accepted.append(candidates[accept])
            decided.append(dr2)
            count += int(accept.sum())
        empty64, empty32 = np.zeros(0, np.int64), np.zeros(0, np.float32)
        return (np.concatenate(accepted) if accepted else empty64, np.concatenate(decided) if decided else empty32)

    def _end_step(self, decided: npt.NDArray[np.float32], accepted: int) -> int:
        """Updates the threshold from every rank's decided dr2; returns how many accepted pairs
        to yield (0: skip the step on every rank)."""
        keep = accepted
        if self._world > 1:
            values = np.concatenate(self._group.all_gather_rows(decided.reshape(-1, 1)), axis=0).reshape(-1)
            counts = self._group.all_gather_rows(np.array([[accepted]], np.float32))
            smallest = int(min(float(c[0, 0]) for c in counts))
            keep = 0 if smallest == 0 else smallest if self.even_batches else accepted
        else:
            values = decided
        if values.size:
            boundary = float(np.float32(cluster_threshold(values, self.cluster_method)))
            self.threshold = float(np.float32(self._alpha * self.threshold + (1.0 - self._alpha) * boundary))
        self._prioritizer.end_step()
        return keep

    def __iter__(self) -> Iterator[list[int]]:
        if self._step_in_epoch >= self._steps:
            self._step_in_epoch = 0
            self.epoch += 1
        while self._step_in_epoch < self._steps:
            accepted, decided = self._step()
            keep = self._end_step(decided, accepted.size)
            self._step_in_epoch += 1
            if keep:
                yield [int(i) for i in self._shard[accepted[:keep]]]

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly where the last yielded batch left off.

        Returns
        -------
        dict
            "prioritizer" (bytes), "threshold" (float), "epoch", "step_in_epoch", "rank",
            "world" (int).
        """
        return {"prioritizer": self._prioritizer.save(), "threshold": self.threshold, "epoch": self.epoch,
                "step_in_epoch": self._step_in_epoch, "rank": self._rank, "world": self._world}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores state_dict()'s result; the next iteration continues the saved one.

        Raises
        ------
        ValueError
            A state of another rank or world size.
        """
        if (int(state["rank"]), int(state["world"])) != (self._rank, self._world):
            raise ValueError(f"the state is rank {state['rank']} of {state['world']}; this sampler is rank "
                             f"{self._rank} of {self._world}")
        prioritizer = Prioritizer.load(state["prioritizer"])
        if prioritizer.num_samples != self._shard.size:
            raise ValueError(f"the state's pool has {prioritizer.num_samples} pairs; this shard has {self._shard.size}")
        self._prioritizer = prioritizer
        self.threshold = float(state["threshold"])
        self.epoch = int(state["epoch"])
        self._step_in_epoch = int(state["step_in_epoch"])
