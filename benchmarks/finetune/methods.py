"""One training run of the fine-tuning benchmark: the methods' losses and batch orders; the
trained model is evaluated by evaluation.py.

Methods (``Job.method``):

- ``vanilla``: Bradley–Terry, ``dirrm.torch.BTLoss()``.
- ``dir``: ``dirrm.torch.DIRLoss(hidden_dim=384, **DIR_DEFAULT_OVERRIDES, **options)`` on
  (r_c, r_r, h_c, h_r, length gap in word pieces); the rewards are the head applied to h.
- ``prompt_free``: Bradley–Terry on the batches of ``dirrm.torch.PromptFreeBatchSampler``, each
  candidate scored by ``dirrm.torch.prompt_free_score_fn`` (K = 4) under its own and three other
  training instructions with the current model (eval mode, no gradients, batched).
- ``dir_prompt_free``: both.
- ``odin``: ODIN (Chen et al., ICML 2024): a quality and a length head on h; BT on their sum,
  + |Pearson(quality, length)| - |Pearson(length reward, length)| + |w_quality · w_length|; the
  quality head alone is the reward at test.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Optional

import numpy as np
import numpy.typing as npt
import torch

from data import Pairs
from evaluation import evaluate
from model import HIDDEN, Batcher, RewardModel, make_optimizer, score
from splits import Splits
from stats import pearson

# Keyword arguments the benchmark's "DIR" rows pass to DIRLoss on top of the library's defaults.
# Empty: the rows use the library's DIR policy as it ships (since 9c4b62e: λ 1, a Gaussian q of
# width 64 on the standardized length gap, clip at 0, the gradient cap through autograd).
DIR_DEFAULT_OVERRIDES: dict[str, Any] = {}

METHODS = ("vanilla", "dir", "prompt_free", "dir_prompt_free", "odin")
PF_PROMPTS = 4
ODIN_LENGTH_WEIGHT = 1.0
ODIN_ORTHO_WEIGHT = 1.0


@dataclass
class Hyper:
    """Optimization settings shared by every run.

    Attributes
    ----------
    batch_pairs : int
    epochs : int
    encoder_lr, head_lr : float
    warmup : float
        Fraction of the steps.
    weight_decay : float
    """

    batch_pairs: int = 16
    epochs: int = 1
    encoder_lr: float = 1e-4
    head_lr: float = 1e-3
    warmup: float = 0.1
    weight_decay: float = 0.01


@dataclass
class Job:
    """One training run.

    Attributes
    ----------
    label : str
        The row it belongs to (e.g. "dir" or an ablation's name).
    method : str
        One of METHODS.
    train_set : str
        "natural", "skewed" or "balanced".
    seed : int
    dir_options : dict
        Keyword arguments to DIRLoss on top of DIR_DEFAULT_OVERRIDES; keys starting with "_"
        are the benchmark's own q schedule instead (``WindowFit``).
    hyper : Hyper
    """

    label: str
    method: str
    train_set: str
    seed: int
    dir_options: dict[str, Any] = field(default_factory=dict)
    hyper: Hyper = field(default_factory=Hyper)


class WindowFit:
    """A q schedule the benchmark runs itself, for the ablations (the library's DIRLoss fits q
    for fit_steps steps on the batch): before each step, q is fitted on the ``_window`` latest
    pairs' detached hidden states, ``fit_steps`` AdamW steps at a time (``club.fit``), up to
    ``_max_calls`` times, stopping once its NLL falls by less than ``_tol`` (relative).

    Parameters
    ----------
    options : dict
        The job's dir_options; ``_window`` (pairs, required), ``_max_calls`` (default 1),
        ``_tol`` (default 0).
    """

    def __init__(self, options: dict[str, Any]) -> None:
        self.pairs = int(options["_window"])
        self.max_calls = int(options.get("_max_calls", 1))
        self.tol = float(options.get("_tol", 0.0))
        self.rows: list[tuple[npt.NDArray[np.float32], ...]] = []
        self.calls: list[int] = []

    def fit(self, club: Any, hc: torch.Tensor, hr: torch.Tensor, bias: torch.Tensor) -> float:
        """Adds the batch (hc, hr: (n, 384) float32; bias: (n,) float32) and fits q; q's NLL."""
        self.rows.append(tuple(t.detach().numpy().copy() for t in (hc, hr, bias)))
        while sum(r[0].shape[0] for r in self.rows) > self.pairs and len(self.rows) > 1:
            self.rows.pop(0)
        wc, wr, wb = (np.concatenate([r[k] for r in self.rows]) for k in range(3))
        previous, nll, calls = math.inf, math.nan, 0
        for calls in range(1, self.max_calls + 1):
            nll = float(club.fit(wc, wr, wb))
            if previous - nll < self.tol * abs(previous):
                break
            previous = nll
        self.calls.append(calls)
        return nll


def dir_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    """DIRLoss's keyword arguments: DIR_DEFAULT_OVERRIDES updated by ``options``."""
    options = {k: v for k, v in options.items() if not k.startswith("_")}
    return {**DIR_DEFAULT_OVERRIDES, **options}


def q_mean_correlation(club: Any, hc: npt.NDArray[np.float32], hr: npt.NDArray[np.float32],
                       gap: npt.NDArray[np.float64]) -> float:
    """Pearson(q's predicted mean of the length gap, the length gap) on held-out pairs.

    A Gaussian q's log-density is quadratic in b, so its mean is the vertex of the parabola
    through log q at b = -s, 0, +s (s the gaps' std). nan for a categorical q.
    """
    if club.bias_kind != "gaussian":
        return math.nan
    s = float(np.std(gap)) or 1.0
    f = [club.log_prob(hc, hr, np.full((hc.shape[0], 1), v * s, np.float32)).astype(np.float64)
         for v in (-1.0, 0.0, 1.0)]
    a = (f[2] + f[0] - 2.0 * f[1]) / 2.0
    b = (f[2] - f[0]) / 2.0
    mean = np.where(a < 0, -b / (2.0 * np.minimum(a, -1e-12)), 0.0)
    return pearson(mean, gap)


def heldout_bound(club: Any, hc: npt.NDArray[np.float32], hr: npt.NDArray[np.float32],
                  gap: npt.NDArray[np.float64]) -> float:
    """The trained q's CLUB bound on held-out pairs (q not refitted)."""
    bias = gap.astype(np.float32).reshape(-1, 1) if club.bias_kind == "gaussian" else (gap > 0).astype(np.float32)
    return float(club.bound(hc, hr, bias, grad=False))


def _batches(job: Job, pairs: Pairs, sampler: Optional[Any]) -> Iterator[list[int]]:
    """The training batches: a seeded shuffle per epoch, or the prompt-free sampler's."""
    rng = np.random.default_rng(job.seed)
    for _ in range(job.hyper.epochs):
        if sampler is not None:
            yield from sampler
            continue
        order = rng.permutation(len(pairs))
        for start in range(0, len(pairs), job.hyper.batch_pairs):
            yield [int(i) for i in order[start:start + job.hyper.batch_pairs]]


def _prompt_free_sampler(job: Job, model: RewardModel, batcher: Batcher, pairs: Pairs) -> Any:
    """PromptFreeBatchSampler over the training pairs, scored by the current model."""
    import dirrm.torch
    pool, own = np.unique(pairs.instruction, return_inverse=True)

    def gap_fn(idx: npt.NDArray[np.int64], prompts: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        m, k = prompts.shape
        ins = np.repeat(pool[prompts.reshape(-1)], 2)                      # (m*k*2,)
        res = np.stack([np.repeat(pairs.chosen[idx], k), np.repeat(pairs.rejected[idx], k)], 1).reshape(-1)
        r, _ = score(model, batcher, ins, res)
        r = r[:, 0].reshape(m, k, 2)
        return r[:, :, 0] - r[:, :, 1]

    score_fn = dirrm.torch.prompt_free_score_fn(gap_fn, own.astype(np.int64), num_prompts=int(pool.size),
                                                k=PF_PROMPTS, seed=job.seed)
    return dirrm.torch.PromptFreeBatchSampler(len(pairs), job.hyper.batch_pairs, score_fn, seed=job.seed)


def _odin_loss(bt: Any, rew: torch.Tensor, model: RewardModel, lengths: torch.Tensor, n: int) -> torch.Tensor:
    """ODIN's loss on a batch: rew (2n, 2) = [quality, length] rewards, chosen rows first."""
    total = rew.sum(1)
    loss: torch.Tensor = bt(total[:n], total[n:])

    def corr(x: torch.Tensor) -> torch.Tensor:
        xc, yc = x - x.mean(), lengths - lengths.mean()
        r: torch.Tensor = (xc * yc).sum() / (xc.norm() * yc.norm() + 1e-8)
        return r

    w = model.head.weight
    total_loss: torch.Tensor = (loss + ODIN_LENGTH_WEIGHT * (corr(rew[:, 0]).abs() - corr(rew[:, 1]).abs())
                               + ODIN_ORTHO_WEIGHT * (w[0] * w[1]).sum().abs())
    return total_loss


def train_and_evaluate(job: Job, splits: Splits, keep_outputs: bool = False) -> dict[str, Any]:
    """Trains one reward model and evaluates it on the held-out pairs.

    Parameters
    ----------
    job : Job
    splits : Splits
    keep_outputs : bool
        Also return the test pairs' reward gaps and hidden states under "_outputs" (arrays
        "gap" (n,), "hc" and "hr" (n, 384)), for benchmarks/audit.

    Returns
    -------
    dict
        The job, the test metrics (agreement overall / chosen-longer / chosen-shorter,
        Spearman(reward gap, length gap), length probe R², the same after the post-hoc
        correction), the step times, and for DIR the bound's history and q's diagnostics.
    """
    import dirrm.torch
    torch.manual_seed(job.seed)
    corpus = splits.corpus
    pairs = {"natural": splits.train_natural, "skewed": splits.train_skewed,
             "balanced": splits.train_balanced}[job.train_set]
    batcher = Batcher(corpus)
    model = RewardModel(heads=2 if job.method == "odin" else 1)
    model.train()
    use_dir = job.method in ("dir", "dir_prompt_free")
    use_pf = job.method in ("prompt_free", "dir_prompt_free")
    bt = dirrm.torch.BTLoss()
    dir_loss = dirrm.torch.DIRLoss(hidden_dim=HIDDEN, **dir_kwargs(job.dir_options)) if use_dir else None
    window = WindowFit(job.dir_options) if use_dir and "_window" in job.dir_options else None
    if dir_loss is not None and window is not None:
        dir_loss.fit = False
    sampler = _prompt_free_sampler(job, model, batcher, pairs) if use_pf else None
    steps_per_epoch = len(sampler) if sampler is not None else -(-len(pairs) // job.hyper.batch_pairs)
    opt, sched = make_optimizer(model, steps_per_epoch * job.hyper.epochs, job.hyper.encoder_lr,
                                job.hyper.head_lr, job.hyper.warmup, job.hyper.weight_decay)
    step_seconds: list[float] = []
    losses: list[float] = []
    mi: list[float] = []
    nll: list[float] = []
    cap: list[float] = []
    trained_longer: list[int] = []
    batches = _batches(job, pairs, sampler)
    start_train = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        idx_list = next(batches, None)
        if idx_list is None:
            break
        idx = np.asarray(idx_list, np.int64)
        n = idx.size
        c, r = pairs.chosen[idx], pairs.rejected[idx]
        ins = pairs.instruction[idx]
        h = model.encode(*batcher.inputs(np.concatenate([ins, ins]), np.concatenate([c, r])))
        # The rewards are the head applied to the very tensors DIR sees, so that the preference
        # loss's gradient on them (DIRLoss's cap) is in the graph.
        hc, hr = h[:n], h[n:]
        rew = torch.cat([model.head(hc), model.head(hr)])
        gap = torch.tensor((corpus.resp_len[c] - corpus.resp_len[r]).astype(np.float32))
        if dir_loss is not None:
            bias = gap if dir_loss.club.bias_kind == "gaussian" else (gap > 0).float()
            own_nll = window.fit(dir_loss.club, hc, hr, bias) if window is not None else None
            loss = dir_loss(rew[:n, 0], rew[n:, 0], hc, hr, bias)
            cap.append(float(dir_loss.penalty.history[-1].get("cap_scale", math.nan)))
            mi.append(float(dir_loss.last_mi if dir_loss.last_mi is not None else math.nan))
            last_nll = dir_loss.penalty.last_nll if own_nll is None else own_nll
            nll.append(float(last_nll) if last_nll is not None else math.nan)
        elif job.method == "odin":
            lengths = torch.tensor(corpus.resp_len[np.concatenate([c, r])].astype(np.float32))
            loss = _odin_loss(bt, rew, model, lengths, n)
        else:
            loss = bt(rew[:n, 0], rew[n:, 0])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        trained_longer += (gap > 0).int().tolist()
        step_seconds.append(time.perf_counter() - t0)
    train_seconds = time.perf_counter() - start_train
    result = evaluate(model, batcher, splits, pairs, job)
    outputs = {"gap": result.pop("_gap"), "hc": result["_hc"], "hr": result["_hr"]}
    if dir_loss is not None:
        club = dir_loss.club
        test = splits.test
        hc, hr = result.pop("_hc"), result.pop("_hr")
        test_gap = corpus.length_gap(test)
        result["dir"] = {
            "config": repr(dir_loss), "kwargs": dir_kwargs(job.dir_options),
            "mi_history": mi, "nll_history": nll, "cap_scale_history": cap,
            "cap_binding_share": float(np.mean(np.array(cap) < 1.0)) if cap else math.nan,
            "mi_first10": float(np.nanmean(mi[:max(1, len(mi) // 10)])),
            "mi_last10": float(np.nanmean(mi[-max(1, len(mi) // 10):])),
            "mi_heldout": heldout_bound(club, hc, hr, test_gap),
            "q_mean_corr_heldout": q_mean_correlation(club, hc, hr, test_gap),
            "fit_calls": window.calls if window is not None else [],
        }
    else:
        result.pop("_hc")
        result.pop("_hr")
    result.update({
        "job": {**asdict(job)},
        "steps": len(step_seconds), "train_seconds": train_seconds,
        "step_seconds_median": float(np.median(step_seconds)) if step_seconds else math.nan,
        "step_seconds_mean": float(np.mean(step_seconds)) if step_seconds else math.nan,
        "loss_history": losses,
        "trained_chosen_longer": float(np.mean(trained_longer)) if trained_longer else math.nan,
        "trained_pairs": len(trained_longer),
    })
    if keep_outputs:
        result["_outputs"] = outputs
    return result
