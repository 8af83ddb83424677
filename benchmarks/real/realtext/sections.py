"""The real-text report's result sections, one function each: each returns its Markdown lines
(the context is realtext.report.Results; the opening sections are in realtext.intro)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from realtext.jobs import METHODS
from realtext.metrics import ADVERSARIAL
from realtext.splits import variant_families, variant_label
from realtext.stats import fmt, per_split

if TYPE_CHECKING:
    from realtext.report import Results


def summary(r: Results) -> list[str]:
    """The summary's bullets (without its heading: the README copies them)."""
    by, groups, col, name = r.by, r.groups, r.col, r.name
    L: list[str] = []
    w = L.append
    if ("dir", 0) in by and ("vanilla", 0) in by:
        ratio = [abs(a) / abs(b) for a, b in zip(col("dir", "spearman"), col("vanilla", "spearman"))]
        ratio_b = [abs(a) / abs(b) for a, b in zip(col("dir", "spearman_balanced"), col("vanilla", "spearman_balanced"))]
        verb = [a / b for a, b in zip(col("dir", "verbosity_gap"), col("vanilla", "verbosity_gap"))]
        w(f"- DIR with the library's defaults: abs Spearman(gap, length gap) is {fmt(ratio, 2)} of vanilla's "
          f"({'half or less on every split' if max(ratio) <= 0.5 else 'more than half on at least one split'}: "
          f"{per_split(ratio, 2)}); "
          f"on the length-balanced subset {fmt(ratio_b, 2)}. Its verbose − concise gap is {fmt(verb, 2)} of "
          f"vanilla's ({per_split(verb, 2)}); balanced agreement "
          f"{fmt([a - b for a, b in zip(col('dir', 'accuracy_balanced'), col('vanilla', 'accuracy_balanced'))], 3, True)} "
          f"against vanilla.")
    sweep = [lab for lab in ["dir"] + groups["lambda"] if (lab, 0) in by]
    if sweep:
        lowest = min((v, lab, k) for lab in sweep for k, v in enumerate(col(lab, "spearman")))
        flipped = [(lab, k) for lab in sweep for k, v in enumerate(col(lab, "spearman")) if v < 0]
        flipped_b = [(lab, k) for lab in sweep for k, v in enumerate(col(lab, "spearman_balanced")) if v < 0]
        w(f"- Overshoot: the smallest Spearman(gap, length gap) of the λ sweep is {lowest[0]:+.3f} "
          f"({name(lowest[1])}, split {lowest[2]}); "
          + ("no run flips its sign" if not flipped else
             "the sign flips in " + ", ".join(f"{name(lab)} split {k}" for lab, k in flipped))
          + (", nor on the balanced subset." if not flipped_b and not flipped else
             "; on the balanced subset " + (", ".join(f"{name(lab)} split {k}" for lab, k in flipped_b) or "none") + "."))
    if all((lab, 0) in by for lab in ("dir", "prompt_free", "dir_prompt_free")):
        # Each split against the better of the two single methods on that split.
        spear = [abs(c) - min(abs(a), abs(b)) for a, b, c in
                 zip(col("dir", "spearman"), col("prompt_free", "spearman"), col("dir_prompt_free", "spearman"))]
        agree = [c - max(a, b) for a, b, c in zip(col("dir", "accuracy_balanced"), col("prompt_free", "accuracy_balanced"),
                                                  col("dir_prompt_free", "accuracy_balanced"))]
        w(f"- DIR + prompt-free against the better of DIR and prompt-free on each split: abs Spearman(gap, length "
          f"gap) {per_split(spear, 3, True)} (positive: more length-driven than the better one), balanced "
          f"agreement {per_split(agree, 3, True)} (negative: less accurate than the better one).")
    return L


def baselines(r: Results) -> list[str]:
    """The rules that need no model, and the leaderboard's own rank correlations."""
    base = r.base
    L: list[str] = []
    w = L.append
    w("## Baselines without a model (same held-out pairs)")
    w("")
    w("| rule | agreement | agreement, balanced |")
    w("|---|---|---|")
    w(f"| the longer response wins | {fmt([b['longer_wins'] for b in base])} | "
      f"{fmt([b['longer_wins_balanced'] for b in base])} |")
    w(f"| the reference wins | {fmt([b['reference_wins'] for b in base])} | "
      f"{fmt([b['reference_wins_balanced'] for b in base])} |")
    w("")
    w(f"Leaderboard, over each split's held-out models: Spearman(LC, raw) {fmt([b['lc_vs_raw'] for b in base], 2)}; "
      f"Spearman(average length, raw) {fmt([b['length_vs_raw'] for b in base], 2, True)}; "
      f"Spearman(average length, LC) {fmt([b['length_vs_lc'] for b in base], 2, True)}.")
    w("")
    return L


def table(r: Results, group_labels: list[str], title: str) -> list[str]:
    """One table of the held-out metrics, a row per label (mean ± std (SE) over the splits)."""
    by, S, col, name = r.by, r.S, r.col, r.name
    L: list[str] = []
    w = L.append
    w(f"## {title}")
    w("")
    w("| trained as | agreement | agreement, balanced | Spearman(gap, length gap) | Spearman, balanced "
      "| ranking vs raw | ranking vs LC | verbosity gap (points) | train time (s) |")
    w("|---|---|---|---|---|---|---|---|---|")
    for label in group_labels:
        secs = [by[(label, s)].seconds for s in range(S) if (label, s) in by]
        w(f"| {name(label)} | {fmt(col(label, 'accuracy'))} | {fmt(col(label, 'accuracy_balanced'))} | "
          f"{fmt(col(label, 'spearman'), signed=True)} | {fmt(col(label, 'spearman_balanced'), signed=True)} | "
          f"{fmt(col(label, 'rank_raw'), 2, True)} | {fmt(col(label, 'rank_lc'), 2, True)} | "
          f"{fmt(col(label, 'verbosity_gap'), 1, True)} | {np.mean(secs):.0f} |")
    w("")
    return L


def skewed(r: Results) -> list[str]:
    """The skewed-training table and the chosen-longer shares before and after resampling."""
    outcomes = r.outcomes
    groups = r.groups
    L: list[str] = []
    w = L.append
    if groups["skewed"]:
        skewed_rows = [o for o in outcomes if o.job.group == "skewed"]
        w_share = fmt([o.chosen_longer_share for o in skewed_rows])
        L.extend(table(r, groups["skewed"], "Skewed training: pairs resampled to a fixed chosen-longer share"))
        natural = [o.chosen_longer_share for o in outcomes if o.job.label == "vanilla"]
        w(f"Chosen-longer share of the training pairs: {fmt(natural)} as they are, {w_share} after resampling "
          f"(the larger side subsampled, no pair repeated; {fmt([float(o.train_pairs) for o in skewed_rows], 0)} "
          f"pairs). The natural AlpacaEval pairs are already more skewed than 80%, so this variant "
          f"trains on slightly *less* length-skewed pairs than the main table, and on fewer of them.")
        w("")
    return L


def against_vanilla(r: Results) -> list[str]:
    """Each method's abs Spearman, verbosity gap and balanced agreement against vanilla's, per split."""
    by, groups, col, name = r.by, r.groups, r.col, r.name
    L: list[str] = []
    w = L.append
    w("## Each method against vanilla (ratios and differences per split)")
    w("")
    w("| | split values | mean ± std (SE) |")
    w("|---|---|---|")
    pairs_compared = [(label, "vanilla") for label in ["dir", "prompt_free", "dir_prompt_free"] + groups["lambda"]]
    pairs_compared += [(label, "vanilla" + label[label.index(","):]) for label in groups["skewed"]
                       if not label.startswith("vanilla")]
    for label, against in pairs_compared:
        if (label, 0) not in by or (against, 0) not in by:
            continue
        ratio = [abs(a) / abs(b) if b != 0 else float("nan")
                 for a, b in zip(col(label, "spearman"), col(against, "spearman"))]
        w(f"| {name(label)}: abs Spearman / {name(against)}'s | {per_split(ratio, 2)} | {fmt(ratio, 2)} |")
        ratio = [abs(a) / abs(b) if b != 0 else float("nan")
                 for a, b in zip(col(label, "spearman_balanced"), col(against, "spearman_balanced"))]
        w(f"| {name(label)}: abs Spearman (balanced) / {name(against)}'s | {per_split(ratio, 2)} | {fmt(ratio, 2)} |")
        vg = [a / b if b != 0 else float("nan")
              for a, b in zip(col(label, "verbosity_gap"), col(against, "verbosity_gap"))]
        w(f"| {name(label)}: verbosity gap / {name(against)}'s | {per_split(vg, 2, True)} | {fmt(vg, 2, True)} |")
        da = [a - b for a, b in zip(col(label, "accuracy_balanced"), col(against, "accuracy_balanced"))]
        w(f"| {name(label)}: balanced agreement − {name(against)}'s | {per_split(da, 3, True)} | {fmt(da, 3, True)} |")
    w("")
    return L


def honest_ranking(r: Results) -> list[str]:
    """The ranking Spearman over the held-out models without the adversarial submissions."""
    labels, col, name = r.labels, r.col, r.name
    L: list[str] = []
    w = L.append
    w("## Ranking without the adversarial submissions")
    w("")
    w(f"{' and '.join(ADVERSARIAL)} game the judge (the leaderboard puts NullModel far above its answers' "
      "quality); a reward model that is not fooled by them loses ranking agreement on the splits that "
      "hold them out. The same Spearman over the held-out models without them:")
    w("")
    w("| trained as | ranking vs raw | ranking vs LC | per split (raw) | per split (LC) |")
    w("|---|---|---|---|---|")
    for label in labels:
        w(f"| {name(label)} | {fmt(col(label, 'rank_raw_honest'), 2, True)} | {fmt(col(label, 'rank_lc_honest'), 2, True)} | "
          f"{per_split(col(label, 'rank_raw_honest'), 2, True)} | {per_split(col(label, 'rank_lc_honest'), 2, True)} |")
    w("")
    return L


def verbosity(r: Results) -> list[str]:
    """Win rates per length variant against the leaderboard's, and the verbose − concise gaps."""
    data, splits = r.data, r.splits
    by, col, name = r.by, r.col, r.name
    L: list[str] = []
    w = L.append
    w("## Verbosity: win rate against the reference per length variant (%)")
    w("")
    methods_present = [m for m in METHODS if (m, 0) in by]
    w("| split | model | leaderboard raw | leaderboard LC | avg length | " +
      " | ".join(name(m) for m in methods_present) + " |")
    w("|---|---|---|---|---|" + "---|" * len(methods_present))
    for sp in splits:
        for fam, members in variant_families(sp.held_out).items():
            for m in members:
                lb = data.leaderboard.get(m, {})
                w(f"| {sp.number} | {m} | {lb.get('win_rate', float('nan')):.1f} | "
                  f"{lb.get('length_controlled_winrate', float('nan')):.1f} | {lb.get('avg_length', float('nan')):.0f} | "
                  + " | ".join(f"{by[(meth, sp.number)].metrics['winrate'][m]:.1f}" for meth in methods_present) + " |")
            if members[0].endswith("_concise"):
                top, low = members[-1], members[0]
                lb_t, lb_l = data.leaderboard.get(top, {}), data.leaderboard.get(low, {})
                w(f"| {sp.number} | **gap {variant_label(top)} − concise** | "
                  f"{lb_t.get('win_rate', np.nan) - lb_l.get('win_rate', np.nan):+.1f} | "
                  f"{lb_t.get('length_controlled_winrate', np.nan) - lb_l.get('length_controlled_winrate', np.nan):+.1f} | "
                  f"{lb_t.get('avg_length', np.nan) - lb_l.get('avg_length', np.nan):+.0f} | "
                  + " | ".join(f"**{by[(meth, sp.number)].metrics['winrate'][top] - by[(meth, sp.number)].metrics['winrate'][low]:+.1f}**"
                               for meth in methods_present) + " |")
    w("")
    lb_raw, lb_lc = [], []
    for sp in splits:
        g_raw, g_lc = [], []
        for members in variant_families(sp.held_out).values():
            if members[0].endswith("_concise"):
                t, c = data.leaderboard.get(members[-1]), data.leaderboard.get(members[0])
                if t and c:
                    g_raw.append(t["win_rate"] - c["win_rate"])
                    g_lc.append(t["length_controlled_winrate"] - c["length_controlled_winrate"])
        lb_raw.append(float(np.mean(g_raw)) if g_raw else float("nan"))
        lb_lc.append(float(np.mean(g_lc)) if g_lc else float("nan"))
    w(f"Over the splits, the leaderboard's gap is {fmt(lb_raw, 1, True)} points raw and "
      f"{fmt(lb_lc, 1, True)} length-controlled; the reward models': "
      + "; ".join(f"{name(m)} {fmt(col(m, 'verbosity_gap'), 1, True)}" for m in methods_present) + ".")
    w("")
    return L


def per_split_numbers(r: Results) -> list[str]:
    """Every metric per split, the baselines per split and the held-out models' win rates."""
    data, splits, base = r.data, r.splits, r.base
    by, S, labels, col, name = r.by, r.S, r.labels, r.col, r.name
    L: list[str] = []
    w = L.append
    methods_present = [m for m in METHODS if (m, 0) in by]
    w("## Per-split numbers")
    w("")
    w("Each cell: split 0 / split 1 / ... .")
    w("")
    w("| trained as | agreement | agreement, balanced | Spearman | Spearman, balanced | ranking vs raw "
      "| ranking vs LC | verbosity gap | CLUB estimate (last 10% of steps) | training pairs | "
      "library's accuracy (check) |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for label in labels:
        outs = [by[(label, s)] for s in range(S) if (label, s) in by]
        w(f"| {name(label)} | {per_split(col(label, 'accuracy'))} | {per_split(col(label, 'accuracy_balanced'))} | "
          f"{per_split(col(label, 'spearman'), signed=True)} | {per_split(col(label, 'spearman_balanced'), signed=True)} | "
          f"{per_split(col(label, 'rank_raw'), 2, True)} | {per_split(col(label, 'rank_lc'), 2, True)} | "
          f"{per_split(col(label, 'verbosity_gap'), 1, True)} | {per_split([o.mi_last for o in outs], 2)} | "
          f"{' / '.join(f'{o.train_pairs:,}' for o in outs)} | {per_split([o.library_accuracy for o in outs])} |")
    w("")
    w("Baselines per split: the longer wins " + per_split([b["longer_wins"] for b in base]) +
      " (balanced " + per_split([b["longer_wins_balanced"] for b in base]) + "); the reference wins " +
      per_split([b["reference_wins"] for b in base]) + " (balanced " +
      per_split([b["reference_wins_balanced"] for b in base]) + ").")
    w("")
    w("Held-out models' win rates against the reference (%), per split and method:")
    w("")
    for sp in splits:
        w(f"<details><summary>split {sp.number}</summary>")
        w("")
        w("| model | leaderboard raw | leaderboard LC | " + " | ".join(name(m) for m in methods_present) + " |")
        w("|---|---|---|" + "---|" * len(methods_present))
        for m in sp.held_out:
            entry = data.leaderboard.get(m)
            w(f"| {m} | {entry['win_rate']:.1f} | {entry['length_controlled_winrate']:.1f} | " if entry
              else f"| {m} | n/a | n/a | ")
            L[-1] += " | ".join(f"{by[(meth, sp.number)].metrics['winrate'][m]:.1f}" for meth in methods_present) + " |"
        w("")
        w("</details>")
        w("")
    return L
