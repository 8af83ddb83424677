"""benchmarks/bench.py's report: the targets, the rows and tables, their formatting, and the
Markdown, JSON and README outputs."""

import json
import os

import numpy as np

from readme_block import replace_block
from timing import BUDGET

# Issue 13's targets on the same-process ratio torch / dirrm (2 threads, this machine's kind),
# by row key, and the profile (benchmarks/PROFILE.md) that shows where a row's dirrm time goes.
TARGETS = {
    "bt_loss n 4096": 1.5, "bt_loss n 1000000": 1.5, "club": 1.5,
    "dir default": 1.5, "dir fused": 1.2,
    "pf K 16 bisection": 10, "pf K 16 newton": 3,
    "cluster lloyd": 2, "cluster numpy": 1,
    "trainer vanilla": 1.5, "trainer dir": 3,
}
PROFILES = {
    "bt_loss n 4096": "bt_loss_4096", "bt_loss n 1000000": "bt_loss_1e6", "club": "club_bound",
    "dir default": "dir_step", "dir fused": "dir_step", "pf K 16 bisection": "pf_gap_k16",
    "pf K 16 newton": "pf_gap_k16", "cluster lloyd": "cluster_threshold", "cluster numpy": "cluster_threshold",
    "trainer vanilla": "trainer_vanilla", "trainer dir": "trainer_dir", "floor": "dir_step",
    "embedded": "embedded",
}
FLOOR_TARGET = 1.5      # DIR step time / its floor, at most
EMBEDDED_TARGET = 5.0   # slowdown of a torch step with dirrm calls between steps, in %, at most
ASYNC_TARGET = 5.0      # slowdown of an idle host step by the async DIR step, in %, at most


def fmt(t):
    if np.isnan(t).any():
        return "–"
    med = np.median(t)
    unit, scale = ("µs", 1e6) if med < 1e-3 else ("ms", 1e3)
    return f"{med * scale:.3g} {unit} [{t.min() * scale:.3g}–{t.max() * scale:.3g}]{'' if len(t) >= 5 else f' ×{len(t)}'}"


def ms(seconds):
    return f"{seconds * 1e3:.3g} ms"


def check(name, got, want, rtol, atol):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        worst = np.max(np.abs(got - want) - rtol * np.abs(want))
        raise SystemExit(f"bench: {name}: dirrm and torch disagree (rtol {rtol}, atol {atol}; worst excess {worst:.3g})")


def verdict(value, target, at_least=True, profile=None, unit=""):
    """'met' or 'missed by X%' (X: how far the value falls short of the target, relative to the
    target; in points for a target that is itself a percentage), with the target and, for a
    miss, a link to the row's profile."""
    met = value >= target if at_least else value <= target
    sign = "≥" if at_least else "≤"
    if met:
        return f"met ({sign} {target:g}{unit})"
    if unit == "%":
        gap = abs(value - target)
        by = f"{gap:.1f} points" if gap >= 0.05 else f"{gap:.2f} points"  # never "missed by 0.0"
    else:
        by = f"{(1 - value / target) * 100 if at_least else (value / target - 1) * 100:.0f}%"
    link = f"; [profile](PROFILE.md#{profile})" if profile else ""
    return f"missed by {by} ({sign} {target:g}{unit}{link})"


class Report:
    def __init__(self):
        self.rows = []
        self.times = {}
        self.notes = []
        self.tables = []      # (title, intro, header, rows), after the main table
        self.summary = []     # README lines under the table
        self.status = {}      # key -> {"met": bool, "profile": str} for RESULTS.json

    def row(self, key, routine, shapes, ours, theirs_name, theirs, checked, extra="", sgemm="–"):
        ratio = np.median(theirs) / np.median(ours)
        self.times[key] = (ours.tolist(), theirs.tolist())
        self.rows.append({"key": key, "routine": routine, "shapes": shapes, "against": theirs_name,
                          "ours": fmt(ours), "theirs": fmt(theirs), "ratio": f"{ratio:.2f}", "same": float(ratio),
                          "isolated": float("nan"), "iso": ["–", "–", "–"], "class": "–", "sgemm": sgemm,
                          "checked": checked, "target": "–",
                          "notes": extra, "unmet": None, "dirrm_median": float(np.median(ours))})
        print(f"{routine:28s} {shapes:28s} dirrm {fmt(ours):30s} {theirs_name} {fmt(theirs):30s} ratio {ratio:5.2f} "
              f"{extra}", flush=True)

    def judge(self):
        """Each target row: met when the same-process ratio (issue 13's measure) and, where it
        was measured, the isolated one both reach the target; a miss says by how much on which."""
        for row in self.rows:
            key = row["key"]
            if key not in TARGETS or np.isnan(row["same"]):
                continue
            target, profile = TARGETS[key], PROFILES.get(key)
            link = f"; [profile](PROFILE.md#{profile})" if profile else ""
            misses = [f"by {(1 - value / target) * 100:.0f}% {name}"
                      for name, value in (("same process", row["same"]), ("isolated", row["isolated"]))
                      if not np.isnan(value) and value < target]
            if row["unmet"]:
                misses.append(row["unmet"])
            row["target"] = f"missed {', '.join(misses)} (≥ {target:g}{link})" if misses else f"met (≥ {target:g})"
            self.status[key] = {"met": not misses, "profile": profile}

    def table(self, title, intro, header, rows):
        self.tables.append((title, intro, header, rows))
        for r in rows:
            print(f"{title}: " + " | ".join(str(c) for c in r), flush=True)

    def mark(self, key, met, profile=None):
        self.status[key] = {"met": bool(met), "profile": profile}



def write(report, path, header):
    lines = ["# dirrm against torch: benchmark results", "",
             "Written by `make bench` (benchmarks/bench.py). *Same process*: calls alternating between dirrm and",
             "torch after warm-up calls; *isolated*: each side timed alone in its own process, so that",
             "no thread pool of the other side is spinning, the sides taking turns for three rounds whose times",
             "are pooled (the machine's speed drifts over minutes). Times are medians with [min–max] over the",
             f"repetitions (×k: only k, as a row stops after {BUDGET:g} s of timed calls); ratio = torch / dirrm",
             "(above 1: dirrm is faster; for the trainers, dirrm's pairs/s over torch's). Each row's numbers",
             "were compared before timing (column *checked*). *Target*:",
             "issue 13's target, met when the same-process ratio (the issue's measure) and the isolated one both",
             "reach it, else missed by how much (the shortfall relative to the target) on which; on a busy machine",
             "the same-process torch times can swell (the thread pools fight), which the isolated ratio exposes.",
             "A missed row links to its profile in [PROFILE.md](PROFILE.md) (`make profile`).",
             "`make bench` leaves `OPENBLAS_CORETYPE` as the caller has it (unset: what users get). *dirrm isolated, class",
             "kernels*: dirrm's side again in its own process with `OPENBLAS_CORETYPE` set to the kernels of the CPU's class",
             "(build_info's cpu_blas_core), the best this OpenBLAS has for the CPU. *sgemm GFLOP/s*: the row's large products",
             "timed alone at its shapes, in dirrm's OpenBLAS with the kernels in use / with the class's kernels / in torch.mm.",
             "The machine is shared: rerun before trusting a single row.",
             "", *header, "",
             "| routine | shapes | dirrm, same process | torch, same process | ratio | dirrm isolated | torch isolated "
             "| ratio isolated | dirrm isolated, class kernels | sgemm GFLOP/s (in use / class / torch.mm) | checked "
             "| target | notes |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report.rows:
        cells = [r["routine"], r["shapes"], r["ours"], f"{r['against']}: {r['theirs']}", r["ratio"], *r["iso"],
                 r["class"], r["sgemm"], r["checked"], r["target"], r["notes"]]
        lines.append("| " + " | ".join(cells) + " |")
    for title, intro, head, rows in report.tables:
        lines += ["", f"## {title}", "", *intro, "", "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    if report.notes:
        lines += ["", *[f"- {note}" for note in report.notes]]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    rows = [{k: None if isinstance(r[k], float) and np.isnan(r[k]) else r[k]
             for k in ("key", "routine", "shapes", "against", "ours", "theirs", "same", "isolated", "class", "sgemm",
                       "target", "dirrm_median")} for r in report.rows]
    with open(os.path.splitext(path)[0] + ".json", "w") as f:
        json.dump({"header": header, "rows": rows, "targets": report.status,
                   "tables": [{"title": t[0], "header": t[2], "rows": t[3]} for t in report.tables]}, f, indent=1)
        f.write("\n")


def write_readme(report, path, results):
    """Copies each row's isolated medians, its ratios and its target into README between the
    bench markers, with the embedded, memory and floor summaries under the table."""
    lines = [f"From `make bench` (the full report, same-process timings, scaling rows and the checks: {results};"
             " a target is met when both ratios reach it):", "",
             "| routine | shapes | against | dirrm | torch | ratio | ratio, same process | dirrm, class kernels | target |",
             "|---|---|---|---|---|---|---|---|---|"]
    median = lambda cell: cell.split(" [")[0]  # noqa: E731
    for r in report.rows:
        target = r["target"].replace("PROFILE.md", os.path.join(os.path.dirname(results), "PROFILE.md"))
        lines.append(f"| {r['routine']} | {r['shapes']} | {r['against']} | {median(r['iso'][0])} | "
                     f"{median(r['iso'][1])} | {r['iso'][2]} | {r['ratio']} | {median(r['class'])} | {target} |")
    lines += ["", *report.summary]
    replace_block(path, "bench", lines)
