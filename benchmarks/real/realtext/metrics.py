"""The held-out metrics: a trained model's agreement, length correlation, win rates, ranking
and verbosity gap, and the rules that need no model."""

from __future__ import annotations

from typing import Any

import numpy as np

from realtext.data import RealData
from realtext.splits import Split, variant_families
from realtext.stats import spearman

# Submissions built to game the judge (the data's README): their leaderboard win rates say
# nothing about answer quality, so the ranking is also reported without them.
ADVERSARIAL = ("NullModel", "gpt4_gamed")


def evaluate(data: RealData, split: Split, model: Any) -> dict[str, Any]:
    """Held-out metrics of a trained dirrm.RewardModel.

    Parameters
    ----------
    data : RealData
    split : Split
    model : dirrm.RewardModel

    Returns
    -------
    dict
        "accuracy", "accuracy_balanced", "spearman", "spearman_balanced" (floats);
        "winrate": per held-out model, the share (%) of its outputs the model scores above the
        reference output of the same instruction; "rank_raw", "rank_lc": Spearman of those win
        rates with the leaderboard's raw and length-controlled ones over the held-out models
        on the leaderboard; "verbosity_gap": the mean over the split's length-variant families
        of win rate (longest variant) - win rate (concise), in points of %.
    """
    # Every response answers exactly one prompt, and every pair is scored under that prompt:
    # score each response the split needs once (the references and the held-out models' outputs).
    rows = np.concatenate([np.arange(data.prompts.shape[0], dtype=np.int64)] + list(split.winrate_rows.values()))
    scores = np.full(data.responses.shape[0], np.nan, np.float64)
    scores[rows] = model.score(data.prompts[data.response_prompt[rows]], data.responses[rows])
    pairs = data.pairs[split.test_rows]
    gap = scores[pairs[:, 1]] - scores[pairs[:, 2]]
    length_gap = data.pair_length_gap(split.test_rows)
    b = split.balanced
    out: dict[str, Any] = {
        "accuracy": float(np.mean(gap > 0)),
        "accuracy_balanced": float(np.mean(gap[b] > 0)),
        "spearman": spearman(gap, length_gap),
        "spearman_balanced": spearman(gap[b], length_gap[b]),
    }
    winrate: dict[str, float] = {}
    for m, own in split.winrate_rows.items():
        # Row p of the responses is the reference output of prompt p.
        winrate[m] = 100.0 * float(np.mean(scores[own] > scores[data.response_prompt[own]]))
    out["winrate"] = winrate
    out.update(ranking(winrate, data.leaderboard))
    out["verbosity_gap"] = verbosity_gap(winrate)
    return out


def ranking(winrate: dict[str, float], leaderboard: dict[str, dict[str, float]]) -> dict[str, float]:
    """Spearman of per-model win rates with the leaderboard's raw and length-controlled win rates,
    over the models on the leaderboard ("rank_raw", "rank_lc") and without the adversarial
    submissions ("rank_raw_honest", "rank_lc_honest")."""
    out: dict[str, float] = {}
    for suffix, skip in (("", ()), ("_honest", ADVERSARIAL)):
        on_board = sorted(m for m in winrate if m in leaderboard and m not in skip)
        ours = [winrate[m] for m in on_board]
        out["rank_raw" + suffix] = spearman(ours, [leaderboard[m]["win_rate"] for m in on_board])
        out["rank_lc" + suffix] = spearman(ours, [leaderboard[m]["length_controlled_winrate"] for m in on_board])
    return out



def verbosity_gap(winrate: dict[str, float]) -> float:
    """Mean over the length-variant families of winrate[longest variant] - winrate[concise]; NaN
    if there is none (or a family has no concise variant)."""
    gaps = [winrate[ms[-1]] - winrate[ms[0]] for ms in variant_families(list(winrate)).values()
            if ms[0].endswith("_concise")]
    return float(np.mean(gaps)) if gaps else float("nan")



def baselines(data: RealData, split: Split) -> dict[str, Any]:
    """Rules that need no model, on the same held-out pairs: 'the longer wins' and 'the reference
    wins' (agreement, ties in length count half), and the leaderboard's own length-controlled
    vs raw ranking and average length vs either ranking, over the held-out models."""
    gap = data.pair_length_gap(split.test_rows)
    longer = np.where(gap > 0, 1.0, np.where(gap < 0, 0.0, 0.5))
    reference = (~data.pair_model_won[split.test_rows]).astype(np.float64)
    b = split.balanced
    board = sorted(m for m in split.held_out if m in data.leaderboard)
    raw = [data.leaderboard[m]["win_rate"] for m in board]
    lc = [data.leaderboard[m]["length_controlled_winrate"] for m in board]
    length = [data.leaderboard[m]["avg_length"] for m in board]
    return {"longer_wins": float(longer.mean()), "longer_wins_balanced": float(longer[b].mean()),
            "reference_wins": float(reference.mean()), "reference_wins_balanced": float(reference[b].mean()),
            "lc_vs_raw": spearman(lc, raw), "length_vs_raw": spearman(length, raw),
            "length_vs_lc": spearman(length, lc)}

