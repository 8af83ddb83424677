"""benchmarks/bench.py's async row: the DIR step of the main table with q's fit in the
background (dirrm_club_fit_begin/_finish), inside a host step that leaves the CPU idle for 300 ms
as a GPU trainer's step does while the GPU works."""

import time

import numpy as np

import bench_refs as refs
import dirrm
from bench_report import ASYNC_TARGET, fmt, verdict
from timing import timed

HOST_IDLE = 0.3   # seconds the host step leaves the CPU idle


def async_rows(report, repeat, n=64, d=4096, hidden=1024):
    """Per step: the host's idle time alone; with the DIR step synchronous (bound, fit); with
    it asynchronous (finish the previous fit, bound, begin this batch's fit). The async run's q
    is checked against the synchronous schedule it stands for (bound(t), then fit(t)), bit for
    bit."""
    hc, hr, b = refs.club_batch(n, d)
    sync, background, stale = (dirrm.Club(d, q_hidden=hidden, seed=0) for _ in range(3))

    def host():
        time.sleep(HOST_IDLE)

    def synchronous():
        sync.fit(hc, hr, b)
        sync.bound(hc, hr, b)
        host()

    def asynchronous():
        background.fit_finish()
        background.bound(hc, hr, b)
        background.fit_begin(hc, hr, b)
        host()

    background.fit_begin(hc, hr, b)   # the first step's fit, so that every timed step finishes one
    steps = max(repeat // 2, 7)
    times = {"host step alone": timed(host, steps, warmup=1, budget=None),
             "with the DIR step, synchronous": timed(synchronous, steps, warmup=1, budget=None),
             "with the DIR step, async": timed(asynchronous, steps, warmup=1, budget=None)}
    background.fit_finish()
    for _ in range(steps + 2):   # the same schedule, synchronously: fit, then the bound of the next step
        stale.fit(hc, hr, b)
        stale.bound(hc, hr, b)
    exact = background.save() == stale.save()
    if not exact:
        raise SystemExit("bench: async DIR step: q differs from its synchronous stale-q schedule")
    alone = float(np.median(times["host step alone"]))
    overhead = {k: float(np.median(t)) / alone - 1 for k, t in times.items()}
    target = verdict(overhead["with the DIR step, async"] * 100, ASYNC_TARGET, at_least=False, unit="%")
    report.mark("async", overhead["with the DIR step, async"] * 100 <= ASYNC_TARGET)
    report.table(
        "DIR off the critical path",
        [f"A host step that leaves the CPU idle for {HOST_IDLE * 1e3:.0f} ms (standing for a GPU trainer's step), with",
         f"the main table's DIR step (n {n}, d {d}, q {hidden}, C 2, 5 AdamW) synchronous (fit, bound) or async",
         "(the previous batch's fit finished, the bound, this batch's fit begun: dirrm_club_fit_begin/_finish,",
         "CLUBPenalty(fit=\"async\")); each step timed whole, medians of "
         f"{steps}. The async run's q equals its synchronous stale-q schedule bit for bit: {'yes' if exact else 'no'}."],
        ["step", "time", "over the host step alone", "target"],
        [[k, fmt(t), f"{overhead[k] * 100:+.1f}%", target if k.endswith("async") else "–"]
         for k, t in times.items()])
    report.summary.append(
        f"- DIR off the critical path: a host step idle for {HOST_IDLE * 1e3:.0f} ms takes "
        f"{overhead['with the DIR step, synchronous'] * 100:+.1f}% with the DIR step synchronous, "
        f"{overhead['with the DIR step, async'] * 100:+.1f}% with it async (target ≤ {ASYNC_TARGET:g}%: "
        f"{target.split(' (')[0]}).")
