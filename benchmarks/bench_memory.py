"""benchmarks/bench.py's peak-memory row: one DIR step per side, each in its own process
(benchmarks/peak_memory.py)."""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

import dirrm
from bench_report import check, verdict


def memory_rows(report, n=1024, d=8192, hidden=1024):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peak_memory.py")
    with tempfile.TemporaryDirectory() as folder:
        weights = os.path.join(folder, "weights.f32")
        dirrm.Club(d, q_hidden=hidden, seed=0).weights.tofile(weights)
        result = {}
        for side in ("dirrm", "torch"):
            out = os.path.join(folder, side + ".npz")
            line = subprocess.run([sys.executable, script, side, str(n), str(d), str(hidden), weights, out],
                                  check=True, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
            result[side] = {**json.loads(line), **dict(np.load(out))}
    ours, theirs = result["dirrm"], result["torch"]
    check("peak memory DIR step: bound", ours["bound"], theirs["bound"], 1e-4, 1e-6)
    check("peak memory DIR step: grads", np.concatenate([ours["grad_chosen"], ours["grad_rejected"]]),
          np.concatenate([theirs["grad_chosen"], theirs["grad_rejected"]]), 1e-3, 1e-6)
    ratio = theirs["increase"] / ours["increase"]
    target = verdict(ratio, 1.0) if ratio != 1.0 else "missed (equal)"
    target = target.replace("≥ 1", "dirrm below torch")
    report.mark("memory", ratio > 1.0)
    mb = lambda x: f"+{x / 1e6:.0f} MB"  # noqa: E731
    report.table(
        "Peak memory of a DIR step",
        ["Each side in its own process (benchmarks/peak_memory.py): the peak resident set size (VmHWM, reset",
         "through /proc/self/clear_refs) over the resident set size after the imports and the inputs; the",
         "window covers creating q (its weights, for torch read straight from dirrm's initial ones) and its",
         "optimizer, fitting it and the bound with its gradients. Checked: bound rtol 1e-4, grads rtol 1e-3 atol 1e-6."],
        ["shapes", "dirrm", "torch, default AdamW", "ratio torch / dirrm", "baseline RSS (dirrm, torch)", "target"],
        [[f"n {n}, d {d}, q {hidden}, C 2, 5 AdamW", mb(ours["increase"]), mb(theirs["increase"]), f"{ratio:.2f}",
          f"{ours['base'] / 1e6:.0f} MB, {theirs['base'] / 1e6:.0f} MB", target]])
    report.summary.append(f"- Peak memory of a DIR step (n {n}, d {d}, q {hidden}), each in its own process: "
                          f"dirrm {mb(ours['increase'])}, torch {mb(theirs['increase'])}; target dirrm below torch: "
                          f"{target.split(' (')[0]}.")
