"""The fine-tuning report's tables (main, post-hoc, DIR, ablation) and the helpers they share;
report.py writes them with the findings into RESULTS.md, RESULTS.json and the README block."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from stats import mean_se

NAMES = {"vanilla": "vanilla (BT)", "dir": "DIR", "prompt_free": "prompt-free (K = 4)",
         "dir_prompt_free": "DIR + prompt-free", "odin": "ODIN (quality head)"}
Run = dict[str, Any]


def runs_of(results: list[Run], train_set: str, label: str) -> list[Run]:
    rows = [r for r in results if r["job"]["train_set"] == train_set and r["job"]["label"] == label]
    return sorted(rows, key=lambda r: int(r["job"]["seed"]))


def metric(run: Run, key: str, posthoc: bool = False) -> float:
    src = run["posthoc"] if posthoc else run
    value = src.get(key)
    return float(value) if value is not None else math.nan


def _fmt(values: list[float], digits: int = 3, signed: bool = False) -> str:
    m, se = mean_se(values)
    if math.isnan(m):
        return "–"
    sign = "+" if signed else ""
    return f"{m:{sign}.{digits}f} ± {se:.{digits}f}" if len(values) > 1 else f"{m:{sign}.{digits}f}"


def _by_seed(runs: list[Run], key: str, posthoc: bool = False) -> dict[int, float]:
    return {int(r["job"]["seed"]): metric(r, key, posthoc) for r in runs}


def recovery(method: list[Run], vanilla: list[Run], oracle: list[Run], key: str = "agreement",
             posthoc: bool = False) -> str:
    """(method - vanilla) / (oracle - vanilla) in ``key``, on the seed means, with the per-seed
    values (paired by seed) in parentheses; "n/a" when the oracle is not above vanilla."""
    m, v, o = (mean_se([metric(r, key, p) for r in runs])[0]
               for runs, p in ((method, posthoc), (vanilla, False), (oracle, False)))
    if any(math.isnan(x) for x in (m, v, o)):
        return "–"
    if o - v <= 1e-9:
        return "n/a"
    text = f"{100 * (m - v) / (o - v):.0f}%"
    ms, vs, os_ = (_by_seed(runs, key, p) for runs, p in ((method, posthoc), (vanilla, False), (oracle, False)))
    per = [100 * (ms[s] - vs[s]) / (os_[s] - vs[s]) for s in sorted(ms) if s in vs and s in os_
           and os_[s] - vs[s] > 1e-9]
    if len(per) > 1:
        text += " (" + ", ".join(f"{x:.0f}%" for x in per) + ")"
    return text


def _step_ratio(runs: list[Run], vanilla: list[Run]) -> str:
    v = _by_seed(vanilla, "step_seconds_median")
    ratios = [r["step_seconds_median"] / v[int(r["job"]["seed"])] for r in runs if int(r["job"]["seed"]) in v]
    return f"{np.mean(ratios):.2f}×" if ratios else "–"


TRAIN_SETS = ("natural", "balanced", "skewed")


def _oracles(results: list[Run]) -> tuple[list[Run], list[Run], list[Run]]:
    """(skewed-set vanilla, natural-set vanilla, balanced-set vanilla)."""
    return (runs_of(results, "skewed", "vanilla"), runs_of(results, "natural", "vanilla"),
            runs_of(results, "balanced", "vanilla"))


def denominators(results: list[Run]) -> str:
    """The two recoveries' denominators, as a sentence."""
    vanilla, natural, balanced = _oracles(results)
    parts = []
    for name, oracle, key in (("natural-set oracle − skewed vanilla, agreement", natural, "agreement"),
                              ("balanced-set oracle − skewed vanilla, balanced agreement", balanced,
                               "agreement_balanced")):
        if oracle and vanilla:
            o, v = _by_seed(oracle, key), _by_seed(vanilla, key)
            diffs = [o[s] - v[s] for s in sorted(o) if s in v]
            m, se = mean_se(diffs)
            parts.append(f"{name}: {m:+.3f} ± {se:.3f}")
    return "Recovery denominators (per seed, mean ± standard error): " + "; ".join(parts) + \
        ". A recovery is n/a when its oracle does not beat vanilla, and noise when the denominator is within " \
        "about two standard errors of zero." if parts else ""


def _row(results: list[Run], train_set: str, label: str, runs: list[Run], name: str, posthoc: bool,
         steps: bool) -> str:
    vanilla, natural, balanced = _oracles(results)
    van = runs_of(results, train_set, "vanilla")
    skew = train_set == "skewed" and not (label == "vanilla" and not posthoc)
    rec = recovery(runs, vanilla, natural, "agreement", posthoc) if skew else "–"
    rec_b = recovery(runs, vanilla, balanced, "agreement_balanced", posthoc) if skew else "–"
    cells = [_fmt([metric(r, k, posthoc) for r in runs]) for k in
             ("agreement", "agreement_longer", "agreement_shorter", "agreement_balanced")]
    row = (f"| {train_set} | {name} | " + " | ".join(cells) +
           f" | {_fmt([metric(r, 'spearman', posthoc) for r in runs], signed=True)} | {rec} | {rec_b} |")
    if steps:
        step = "–" if posthoc else _fmt([r["step_seconds_median"] for r in runs], 2)
        ratio = "none" if posthoc else ("1×" if label == "vanilla" else _step_ratio(runs, van))
        row += f" {step} | {ratio} | {_fmt([r['trained_chosen_longer'] for r in runs], 2)} |"
    return row


MAIN_HEAD = ("| training set | trained as | agreement | chosen longer | chosen shorter | balanced agreement "
             "| Spearman(reward gap, length gap) | recovery: agreement, natural-set oracle "
             "| recovery: balanced agreement, balanced-set oracle |")


def main_table(results: list[Run], meta: dict[str, Any]) -> list[str]:
    """The headline table: every method on each training set, and the post-hoc rows."""
    lines = [MAIN_HEAD + " step (s) | step / vanilla's | chosen-longer share trained on |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    longer = meta["data"]["longer_wins_test"]
    lines.append(f"| – | the rule \"longer wins\" | {longer:.3f} | 1.000 | 0.000 | 0.500 | +1 | – | – | – | – | – |")
    for train_set in TRAIN_SETS:
        labels = [label for label in NAMES if runs_of(results, train_set, label)]
        for label in labels:
            name = NAMES[label] + {"natural": " = the oracle", "balanced": " = the balanced oracle"}.get(
                train_set, "") * (label == "vanilla")
            lines.append(_row(results, train_set, label, runs_of(results, train_set, label), name, False, True))
        van = runs_of(results, train_set, "vanilla")
        if van:
            lines.append(_row(results, train_set, "vanilla", van, "vanilla + post-hoc length correction", True,
                              True))
    return lines


def posthoc_table(results: list[Run], meta: dict[str, Any]) -> list[str]:
    """Every trained method with the post-hoc correction applied on top."""
    lines = [MAIN_HEAD.replace("| trained as |", "| trained as, then reward − β·length |") + " β (per word piece) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for train_set in TRAIN_SETS:
        for label in NAMES:
            runs = runs_of(results, train_set, label)
            if runs:
                lines.append(_row(results, train_set, label, runs, NAMES[label], True, False)
                             + f" {_fmt([metric(r, 'beta', True) for r in runs], 4, signed=True)} |")
    return lines


def dir_table(results: list[Run]) -> list[str]:
    """What q learned, for every run with DIR, and the linear length probe for every run."""
    lines = ["| training set | trained as | Î, first 10% of steps | Î, last 10% | Î on held-out pairs "
             "| corr(q's mean, length gap), held out | steps where the cap bound | length probe R² on h_c − h_r |",
             "|---|---|---|---|---|---|---|---|"]
    labels = sorted({r["job"]["label"] for r in results}, key=lambda x: (x.startswith("ablation"), x))
    order = [x for x in NAMES if x in labels] + [x for x in labels if x not in NAMES]
    for train_set in TRAIN_SETS:
        for label in order:
            runs = runs_of(results, train_set, label)
            if not runs:
                continue
            def d(key: str, signed: bool = False) -> str:
                return _fmt([float(r["dir"][key]) for r in runs], 3, signed) if "dir" in runs[0] else "–"

            name = NAMES.get(label, label.replace("ablation: ", "DIR, "))
            lines.append(f"| {train_set} | {name} | {d('mi_first10')} | {d('mi_last10')} | {d('mi_heldout')} | "
                         f"{d('q_mean_corr_heldout', True)} | {d('cap_binding_share')} | "
                         f"{_fmt([r['length_probe_r2'] for r in runs])} |")
    return lines


def _paired(runs: list[Run], vanilla: list[Run], key: str, ratio: bool) -> str:
    """Mean ± standard error over seeds of run − vanilla (or run / vanilla) of the same seed."""
    v = _by_seed(vanilla, key)
    values = [float(r[key]) / v[s] if ratio else float(r[key]) - v[s]
              for r in runs if (s := int(r["job"]["seed"])) in v and (v[s] != 0 or not ratio)]
    if not values:
        return "–"
    m, se = mean_se(values)
    text = f"{m:.2f}" if ratio else f"{100 * m:+.1f}"
    if len(values) == 1:
        return text
    return text + (f" ± {se:.2f}" if ratio else f" ± {100 * se:.1f}")


def ablation_table(results: list[Run], meta: dict[str, Any]) -> list[str]:
    """DIR's defaults against each ablation, on the ablations' training set, with the paired
    (same seed) differences to vanilla that decide the 1-point and the halving targets."""
    train_set = meta["args"].get("ablation_set", "skewed")
    lines = [f"| DIR on the {train_set} set | DIRLoss keywords | seeds | agreement | agreement − vanilla's, "
             "points (paired) | Spearman / vanilla's (paired) | chosen shorter | balanced agreement "
             "| Spearman | Î on held-out | corr(q's mean, length gap) | steps where the cap bound "
             "| q's fits per step (of at most) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = [("dir", "the DIR rows" if meta["dir_options"] else "defaults", meta["dir_overrides"] | meta["dir_options"])]
    rows += [("ablation: " + a["name"], a["name"], meta["dir_overrides"] | meta["dir_options"] | a["options"])
             for a in meta["ablations"]]
    vanilla = runs_of(results, train_set, "vanilla")
    for label, name, kwargs in rows:
        runs = runs_of(results, train_set, label)
        if not runs:
            continue
        lines.append(
            f"| {name} | `{json.dumps(kwargs)}` | {len(runs)} | {_fmt([r['agreement'] for r in runs])} | "
            f"{_paired(runs, vanilla, 'agreement', False)} | {_paired(runs, vanilla, 'spearman', True)} | "
            f"{_fmt([r['agreement_shorter'] for r in runs])} | {_fmt([r['agreement_balanced'] for r in runs])} | "
            f"{_fmt([r['spearman'] for r in runs], signed=True)} | {_fmt([r['dir']['mi_heldout'] for r in runs])} | "
            f"{_fmt([r['dir']['q_mean_corr_heldout'] for r in runs], signed=True)} | "
            f"{_fmt([r['dir']['cap_binding_share'] for r in runs], 2)} | {_fits(runs, kwargs)} |")
    return lines


def _fits(runs: list[Run], kwargs: dict[str, Any]) -> str:
    """The mean number of club.fit calls per step of a WindowFit schedule, and its cap."""
    calls = [c for r in runs for c in r["dir"].get("fit_calls", [])]
    if not calls or "_max_calls" not in kwargs:
        return "–"
    return f"{np.mean(calls):.1f} ({kwargs['_max_calls']})"
