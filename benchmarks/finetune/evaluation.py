"""The evaluation of a trained model of the fine-tuning benchmark on the held-out pairs.

Every run also reports its post-hoc length correction: the reward minus β · length, β the
least-squares slope of the reward on the response length over (a sample of) the training
responses; for vanilla that is the benchmark's sixth method.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from data import Pairs
from model import Batcher, RewardModel, score
from splits import Splits
from stats import probe_r2, spearman

if TYPE_CHECKING:
    from methods import Job

POSTHOC_RESPONSES = 128


def _pair_metrics(gap: npt.NDArray[np.float64], length_gap: npt.NDArray[np.float64]) -> dict[str, float]:
    """Agreement with the judge overall, on chosen-longer and on chosen-shorter pairs, their mean
    (the agreement of a length-balanced test set), and Spearman(reward gap, length gap); a tied
    reward counts half."""
    agree = (gap > 0).astype(np.float64) + 0.5 * (gap == 0)
    longer = length_gap > 0
    a_longer, a_shorter = float(agree[longer].mean()), float(agree[~longer].mean())
    return {"agreement": float(agree.mean()), "agreement_longer": a_longer, "agreement_shorter": a_shorter,
            "agreement_balanced": 0.5 * (a_longer + a_shorter), "spearman": spearman(gap, length_gap)}


def evaluate(model: RewardModel, batcher: Batcher, splits: Splits, train_pairs: Pairs, job: Job) -> dict[str, Any]:
    """Test metrics of a trained model, plain and after the post-hoc length correction."""
    t0 = time.perf_counter()
    corpus, test = splits.corpus, splits.test
    rows = np.unique(np.concatenate([test.chosen, test.rejected]))
    rewards, hidden = score(model, batcher, corpus.resp_instruction[rows], rows)
    where = {int(r): k for k, r in enumerate(rows)}
    ci = np.array([where[int(r)] for r in test.chosen])
    ri = np.array([where[int(r)] for r in test.rejected])
    reward = rewards[:, 0]   # ODIN: the quality head
    length_gap = corpus.length_gap(test)
    gap = reward[ci] - reward[ri]
    out: dict[str, Any] = _pair_metrics(gap, length_gap)
    hc, hr = hidden[ci], hidden[ri]
    z = (length_gap - length_gap.mean()) / (length_gap.std() or 1.0)
    out["length_probe_r2"] = probe_r2(hc.astype(np.float64) - hr, z, seed=0)
    # Post-hoc: the least-squares slope of reward on length over a sample of training responses.
    train_rows = np.unique(np.concatenate([train_pairs.chosen, train_pairs.rejected]))
    sample = np.random.default_rng(job.seed).choice(train_rows, min(POSTHOC_RESPONSES, train_rows.size),
                                                    replace=False)
    r_train, _ = score(model, batcher, corpus.resp_instruction[sample], sample)
    x = corpus.resp_len[sample].astype(np.float64)
    beta = float(np.polyfit(x, r_train[:, 0], 1)[0])
    out["posthoc"] = {"beta": beta, **_pair_metrics(gap - beta * length_gap, length_gap)}
    if model.head.out_features == 2:
        out["odin_length_head_spearman"] = spearman(rewards[ci, 1] - rewards[ri, 1], length_gap)
    out["eval_seconds"] = time.perf_counter() - t0
    out["_hc"], out["_hr"], out["_gap"] = hc, hr, gap
    return out
