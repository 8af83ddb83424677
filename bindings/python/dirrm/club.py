"""DIR (SPEC §1.2): the CLUB estimator q(b | X) and the DIR loss."""

import ctypes
from collections import namedtuple

import numpy as np

from ._arrays import as_f32, ptr
from ._handle import Handle
from ._lib import ERR_INVALID_ARGUMENT, ERR_SHAPE, ClubParams, DirrmError, check_call, lib

__all__ = ["Club", "dir_loss", "DirLoss"]

_KINDS = {"categorical": 0, "gaussian": 1}
_MODES = {"difference": 0, "concat": 1}

DirLoss = namedtuple(
    "DirLoss", ["total", "pref", "mi", "grad_r_chosen", "grad_r_rejected", "grad_h_chosen", "grad_h_rejected"]
)


def _choice(table, value, name):
    if value not in table:
        raise DirrmError(ERR_INVALID_ARGUMENT, f"{name} = {value!r} is not one of {sorted(table)}")
    return table[value]


class Club(Handle):
    """The variational estimator q(b | X) of DIR with its CLUB bound.

    hidden_dim: d, the size of one response's hidden state. bias_kind: "categorical"
    (bias_dim classes, bias given as class ids) or "gaussian" (bias_dim attributes).
    pair_mode: "difference" (X = h_c - h_r) or "concat". Defaults follow the official DIR code.
    Numpy in, numpy out; pickles through save/load; a context manager."""

    _PREFIX = "dirrm_club"

    def __init__(self, hidden_dim, bias_kind="categorical", bias_dim=2, pair_mode="difference",
                 q_hidden=1024, fit_steps=5, learning_rate=1e-4, weight_decay=0.01, logvar_bound=5.0,
                 seed=0):
        params = ClubParams()
        lib.dirrm_club_params_init(ctypes.byref(params))
        params.hidden_dim = int(hidden_dim)
        params.bias_kind = _choice(_KINDS, bias_kind, "bias_kind")
        params.bias_dim = int(bias_dim)
        params.pair_mode = _choice(_MODES, pair_mode, "pair_mode")
        params.q_hidden = int(q_hidden)
        params.fit_steps = int(fit_steps)
        params.learning_rate = float(learning_rate)
        params.weight_decay = float(weight_decay)
        params.logvar_bound = float(logvar_bound)
        params.seed = int(seed) & (2**64 - 1)
        handle = ctypes.c_void_p()
        check_call(lib.dirrm_club_create(ctypes.byref(params), ctypes.byref(handle)))
        self._handle = handle
        self.hidden_dim = int(hidden_dim)
        self.bias_kind = bias_kind
        self.bias_dim = int(bias_dim)

    def _after_load(self):
        params = ClubParams()
        self._call("get_params", ctypes.byref(params))
        self.hidden_dim = params.hidden_dim
        self.bias_kind = {v: k for k, v in _KINDS.items()}[params.bias_kind]
        self.bias_dim = params.bias_dim

    def _batch(self, h_chosen, h_rejected, bias):
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

    def fit(self, h_chosen, h_rejected, bias):
        """fit_steps AdamW steps of q on this batch (hidden states fixed); the NLL after."""
        hc, hr, b = self._batch(h_chosen, h_rejected, bias)
        nll = np.zeros(1, np.float32)
        self._call("fit", hc.shape[0], ptr(hc), ptr(hr), ptr(b), ptr(nll))
        return float(nll[0])

    def log_prob(self, h_chosen, h_rejected, bias):
        """log q(b_i | X_i) per pair."""
        hc, hr, b = self._batch(h_chosen, h_rejected, bias)
        out = np.empty(hc.shape[0], np.float32)
        self._call("log_prob", hc.shape[0], ptr(hc), ptr(hr), ptr(b), ptr(out))
        return out

    def _stats_len(self):
        length = ctypes.c_int64()
        self._call("stats_len", ctypes.byref(length))
        return length.value

    def bias_stats(self, bias):
        """The sufficient statistics of a batch's bias; they add up across workers."""
        b = as_f32(bias, "bias")
        columns = self.bias_dim if self.bias_kind == "gaussian" else 1
        n = b.shape[0] if b.ndim else 1
        if b.size != n * columns:
            raise DirrmError(ERR_SHAPE, f"bias has shape {b.shape}; expected (n,{' ' + str(columns) if columns > 1 else ''})")
        out = np.empty(self._stats_len(), np.float32)
        self._call("bias_stats", n, ptr(b), ptr(out))
        return out

    def bound(self, h_chosen, h_rejected, bias, bias_stats=None, grad=True):
        """The CLUB bound of this batch; with grad=True, (mi, grad_chosen, grad_rejected).
        bias_stats: the statistics of the global batch (summed over workers), or None."""
        hc, hr, b = self._batch(h_chosen, h_rejected, bias)
        stats = None if bias_stats is None else as_f32(bias_stats, "bias_stats").reshape(-1)
        if stats is not None and stats.size != self._stats_len():
            raise DirrmError(ERR_SHAPE, f"bias_stats has {stats.size} values; this estimator's have {self._stats_len()}")
        mi = np.zeros(1, np.float32)
        grads = (np.empty_like(hc), np.empty_like(hr)) if grad else (None, None)
        self._call("bound", hc.shape[0], ptr(hc), ptr(hr), ptr(b), ptr(stats), ptr(mi), ptr(grads[0]), ptr(grads[1]))
        return (float(mi[0]), *grads) if grad else float(mi[0])

    @property
    def weights(self):
        """q's parameters as one flat float32 array, in torch.nn.Linear order."""
        count = ctypes.c_int64()
        self._call("num_weights", ctypes.byref(count))
        out = np.empty(count.value, np.float32)
        self._call("get_weights", ptr(out), out.size)
        return out

    @weights.setter
    def weights(self, values):
        w = as_f32(values, "weights").reshape(-1)
        self._call("set_weights", ptr(w), w.size)


def dir_loss(club, r_chosen, r_rejected, h_chosen, h_rejected, bias, lam=0.1, fit_first=True, grad=True):
    """DIR's loss in one call: optionally fit q, then BT + lam * CLUB bound.

    Returns DirLoss(total, pref, mi, grad_r_chosen, grad_r_rejected, grad_h_chosen,
    grad_h_rejected); the gradients are None with grad=False."""
    hc, hr, b = club._batch(h_chosen, h_rejected, bias)
    rc = as_f32(r_chosen, "r_chosen").reshape(-1)
    rr = as_f32(r_rejected, "r_rejected").reshape(-1)
    n = hc.shape[0]
    if rc.size != n or rr.size != n:
        raise DirrmError(ERR_SHAPE, f"r_chosen ({rc.size}) and r_rejected ({rr.size}) need {n} values")
    scalars = np.zeros(3, np.float32)
    if grad:
        grads = [np.empty(n, np.float32), np.empty(n, np.float32), np.empty_like(hc), np.empty_like(hr)]
    else:
        grads = [None] * 4
    check_call(lib.dirrm_dir_loss(
        club._live(), n, ptr(rc), ptr(rr), ptr(hc), ptr(hr), ptr(b), float(lam), 1 if fit_first else 0,
        ptr(scalars[0:1]), ptr(scalars[1:2]), ptr(scalars[2:3]), *(ptr(g) for g in grads)))
    return DirLoss(float(scalars[0]), float(scalars[1]), float(scalars[2]), *grads)
