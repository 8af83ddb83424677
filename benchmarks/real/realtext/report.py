"""The real-text report: RESULTS.md from its sections (realtext.sections), the same numbers as
JSON beside it, and the README's excerpt."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from typing import Any

import dirrm
from readme_block import replace_block
from realtext import intro, sections
from realtext.data import RealData
from realtext.jobs import Outcome, job_order
from realtext.splits import Split


@dataclass
class Results:
    """Everything the sections read: the run's inputs and outcomes, indexed.

    Attributes
    ----------
    by : dict of (label, split) to Outcome
    labels : list of str
        The row labels, in the report's order (job_order).
    groups : dict of str to list of str
        The labels of each group ("methods", "lambda", "skewed").
    defaults : dict
        library_defaults(), read once.
    pretty : dict of str to str
        The methods' names as the report prints them.
    """

    data: RealData
    splits: list[Split]
    outcomes: list[Outcome]
    base: list[dict[str, Any]]
    args: argparse.Namespace
    by: dict[tuple[str, int], Outcome]
    labels: list[str]
    groups: dict[str, list[str]]
    defaults: dict[str, Any]
    pretty: dict[str, str]

    @classmethod
    def of(cls, data: RealData, splits: list[Split], outcomes: list[Outcome], base: list[dict[str, Any]],
           args: argparse.Namespace) -> "Results":
        """Indexes the outcomes by label and split and reads the library's defaults."""
        by: dict[tuple[str, int], Outcome] = {(o.job.label, o.job.split): o for o in outcomes}
        labels: list[str] = []
        for o in sorted(outcomes, key=job_order):
            if o.job.label not in labels:
                labels.append(o.job.label)
        groups = {group: [lab for lab in labels if any(o.job.label == lab and o.job.group == group for o in outcomes)]
                  for group in ("methods", "lambda", "skewed")}
        defaults = library_defaults()
        pretty = {"vanilla": "vanilla", "dir": f"DIR (default λ = {defaults['lam']})",
                  "prompt_free": "prompt-free", "dir_prompt_free": "DIR + prompt-free"}
        return cls(data, splits, outcomes, base, args, by, labels, groups, defaults, pretty)

    @property
    def S(self) -> int:
        """The number of splits."""
        return len(self.splits)

    def col(self, label: str, key: str) -> list[float]:
        """The metric `key` of the row `label` on each split (NaN where it did not run)."""
        return [float(self.by[(label, s)].metrics[key]) if (label, s) in self.by else float("nan")
                for s in range(self.S)]

    def name(self, label: str) -> str:
        """A row label as the report prints it."""
        if label in self.pretty:
            return self.pretty[label]
        head, _, tail = label.partition(",")
        for key, value in self.pretty.items():
            if head == key:
                head = value.split(" (")[0]
        return (head + ("," + tail if tail else "")).replace("dir λ", "DIR λ")


def write_report(path: str, data: RealData, splits: list[Split], outcomes: list[Outcome],
                 base: list[dict[str, Any]], args: argparse.Namespace, command: str, wall: float,
                 loads: tuple[str, str]) -> list[str]:
    """Writes RESULTS.md (and the same numbers as JSON next to it); returns the README's excerpt:
    the summary and the four methods' table."""
    r = Results.of(data, splits, outcomes, base, args)
    summary = sections.summary(r)
    methods = sections.table(r, r.groups["methods"], "The four methods, library defaults")
    lam_rows = ["vanilla", "dir"] + r.groups["lambda"]
    lines = (intro.header(r, command, wall, loads) + intro.setup(r)
             + ["## Summary (computed from the tables below)", ""] + summary + [""]
             + sections.baselines(r) + methods
             + sections.table(r, [lab for lab in lam_rows if lab in r.labels],
                              "DIR λ sweep (λ = 0 is vanilla; the default row is DIR's default λ)")
             + sections.skewed(r) + sections.against_vanilla(r) + sections.honest_ranking(r)
             + sections.verbosity(r) + sections.per_split_numbers(r))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    write_json(os.path.splitext(path)[0] + ".json", r, command, wall)
    # The methods' table without its heading and the blank line under it.
    return summary + [""] + methods[2:]


def write_json(path: str, r: Results, command: str, wall: float) -> None:
    """The report's numbers: the splits, the baselines and every outcome with its metrics."""
    raw = {"command": command, "wall_seconds": wall, "splits": [s.held_out for s in r.splits], "baselines": r.base,
           "outcomes": [{"split": o.job.split, "label": o.job.label, "method": o.job.method, "lam": o.job.lam,
                         "skew": o.job.skew, "seconds": o.seconds, "train_pairs": o.train_pairs,
                         "chosen_longer_share": o.chosen_longer_share, "gap_mean": o.gap_mean, "gap_sd": o.gap_sd,
                         "mi_last": o.mi_last, "library_accuracy": o.library_accuracy, **o.metrics}
                        for o in r.outcomes]}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(raw, f, indent=1, allow_nan=True)


def replace_readme_block(path: str, block: list[str], results: str) -> None:
    """Puts the excerpt between README's <!-- real:begin --> and <!-- real:end --> markers."""
    body = [f"Generated into {results} and copied here by `make real-results` (mean ± std (standard "
            f"error) over the splits):", ""] + block
    replace_block(path, "real", body)



def library_defaults() -> dict[str, Any]:
    """dirrm_train_params_init's defaults as the loaded library sets them, read through the
    bindings' ctypes structure (the DIR policy's λ, clip, cap and estimator in its dir field)."""
    import ctypes

    from dirrm._lib import TrainParams, lib

    p = TrainParams()
    lib.dirrm_train_params_init(ctypes.byref(p))
    out: dict[str, Any] = {k: round(float(getattr(p, k)), 6) if isinstance(getattr(p, k), float)
                           else getattr(p, k) for k in ("epochs", "batch_size", "learning_rate", "pf_prompts")}
    out["lam"] = round(float(p.dir.lam), 6)
    out["clip"], out["cap"] = bool(p.dir.clip), bool(p.dir.cap)
    club = p.dir.club
    names = {"bias_kind": {0: "categorical", 1: "Gaussian"}, "pair_mode": {0: "difference", 1: "concat"}}
    fields: list[str] = []
    for k, *_ in club._fields_:
        if k in ("struct_size", "seed", "hidden_dim"):
            continue
        v = getattr(club, k)
        shown = names[k].get(v, v) if k in names else round(float(v), 6) if isinstance(v, float) else v
        fields.append(f"{k} {shown}")
    out["club"] = "(" + ", ".join(fields) + ")"
    out["width (RewardModel default)"] = dirrm.RewardModel(prompt_dim=1, response_dim=1).width
    return out

