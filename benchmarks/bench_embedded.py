"""benchmarks/bench.py's embedded row: a torch training step timed alone and with dirrm calls
between its steps."""

import time

import numpy as np

import bench_refs as refs
import dirrm
from bench_report import EMBEDDED_TARGET, PROFILES, fmt, verdict
from timing import chained, timed


def embedded_rows(report, repeat):
    """A torch step timed alone and with dirrm calls between steps, block by block (a pause
    before each block lets every thread pool go idle; each block's first step is not timed)."""
    torch_step = refs.EmbeddedStep()
    pairs = torch_step.pairs
    hidden = torch_step.backbone[-2].out_features
    club = dirrm.Club(hidden, q_hidden=1024, seed=0)
    b = (refs.normal(9, pairs) > 0).astype(np.float32)
    h, r = torch_step.step()

    def dirrm_calls(h, r):
        hn, rn = h.numpy(), r.numpy()
        club.bound(hn[:pairs], hn[pairs:], b)
        dirrm.bt_loss(rn[:pairs], rn[pairs:])

    times = {"torch alone": [], "torch with dirrm": [], "dirrm alone": [], "dirrm with torch": [],
             "torch with a pause": []}
    block = 15
    for _ in range(max(repeat // 4, 3)):
        time.sleep(0.3)
        times["torch alone"] += timed(torch_step.step, block, warmup=1, budget=None).tolist()
        time.sleep(0.3)
        steps, calls, (h, r) = chained(torch_step.step, lambda hr: dirrm_calls(*hr), block)
        times["torch with dirrm"] += steps.tolist()
        times["dirrm with torch"] += calls.tolist()
        time.sleep(0.3)
        times["dirrm alone"] += timed(lambda: dirrm_calls(h, r), block, warmup=1, budget=None).tolist()
        # The control: the same gap between steps, idle (as a data loader's wait would be), so
        # that what any pause costs torch (its threads fall asleep) is told from dirrm's share.
        time.sleep(0.3)
        gap = float(np.median(times["dirrm with torch"]))
        times["torch with a pause"] += timed(torch_step.step, block, warmup=1, budget=None, pause=gap).tolist()
    t = {k: np.array(v) for k, v in times.items()}
    slowdown = (np.median(t["torch with dirrm"]) / np.median(t["torch alone"]) - 1) * 100
    reverse = (np.median(t["dirrm with torch"]) / np.median(t["dirrm alone"]) - 1) * 100
    paused = (np.median(t["torch with a pause"]) / np.median(t["torch alone"]) - 1) * 100
    target = verdict(slowdown, EMBEDDED_TARGET, at_least=False, profile=PROFILES["embedded"], unit="%")
    report.mark("embedded", slowdown <= EMBEDDED_TARGET, PROFILES["embedded"])
    features = torch_step.backbone[0].in_features
    report.table(
        "dirrm inside a torch training step",
        [f"The torch step: a reward-model MLP ({features} → {hidden} → {hidden} → 1, ReLU) on {pairs} pairs, "
         "Bradley-Terry, backward, AdamW, torch on 2 threads.",
         f"The dirrm calls between steps, on that step's hidden states and rewards: dirrm.Club({hidden}, q_hidden 1024, "
         f"C 2).bound with its gradients, then dirrm.bt_loss, on {pairs} pairs.",
         f"Blocks of {block} steps (torch alone, torch + dirrm, dirrm alone, torch with an idle pause as long as "
         "the dirrm calls) repeated; each time excludes the other side's (the torch step's own time, the dirrm "
         "calls' own time). No numbers to compare: nothing is "
         "computed twice."],
        ["timed", "alone", "with the other between", "slowdown", "target"],
        [["torch step (its own time)", fmt(t["torch alone"]), fmt(t["torch with dirrm"]), f"{slowdown:+.1f}%", target],
         ["torch step, an idle pause as long as the dirrm calls between steps (control)", fmt(t["torch alone"]),
          fmt(t["torch with a pause"]), f"{paused:+.1f}%", "– (information)"],
         ["dirrm calls (their own time)", fmt(t["dirrm alone"]), fmt(t["dirrm with torch"]), f"{reverse:+.1f}%",
          "– (information)"]])
    report.summary.append(f"- A torch training step with dirrm calls between steps: {fmt(t['torch with dirrm']).split(' [')[0]} "
                          f"against {fmt(t['torch alone']).split(' [')[0]} alone ({slowdown:+.1f}%; target ≤ "
                          f"{EMBEDDED_TARGET:g}%: {target.split(' (')[0]}); an idle pause of the same length costs it {paused:+.1f}%.")
