"""dirrm's routines against PyTorch CPU code computing the same numbers, in one process,
alternating call by call, on the same inputs; writes a Markdown report (issue 13's table).

    make bench                                      # writes benchmarks/RESULTS.md
    PYTHONPATH=bindings/python python3 benchmarks/bench.py [--out FILE] [--quick]

OPENBLAS_CORETYPE is left as the caller has it: unset, the run measures what users get (OpenBLAS's
choice, or dirrm's correction of a fallback, docs/decisions.md §5); the isolated runs add dirrm
with the kernels of the CPU's class, and the sgemm column and the floor use the best rate measured.

Before a row is timed, both sides' results are compared (np.allclose with the tolerances the
row states) and the run stops with an error if they differ. Ratios are torch time / dirrm time
(above 1: dirrm is faster); for the trainer that is dirrm's pairs/s over torch's. Not a test:
nothing here asserts a speed; each row with a target of issue 13 says whether the run met it.

Besides the routines: the trainers (pairs/s), a torch training step with dirrm calls between
its steps, the peak memory of a large DIR step (benchmarks/peak_memory.py, one process per
side), the DIR step against its floor (sgemm and memory bandwidth measured here), and scaling
rows of the CLUB bound in n and d. `--out` also writes RESULTS.json beside the report, which
`make profile` (benchmarks/perf_profile.py) reads to profile the rows that missed their targets.

The rows are in bench_routines.py, bench_trainer.py, bench_embedded.py, bench_async.py and
bench_memory.py, what
they compare against in bench_refs.py, bench_trainer_ref.py and bench_rates.py, the report in
bench_report.py; every time comes from timing.py.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

import dirrm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_async import async_rows  # noqa: E402
from bench_embedded import embedded_rows  # noqa: E402
from bench_memory import memory_rows  # noqa: E402
from bench_report import Report, fmt, write, write_readme  # noqa: E402
from bench_routines import bt_rows, club_rows, cluster_rows, pf_rows, scaling_rows  # noqa: E402
from bench_trainer import trainer_rows  # noqa: E402
from machine import bench_lines  # noqa: E402


def isolated(report, repeat, rounds=3):
    """Adds each row's times measured in child processes, one per side, and dirrm's side once
    more with the kernels of the CPU's class (OPENBLAS_CORETYPE set in the child's environment,
    where OpenBLAS reads it when it loads). The sides take turns for `rounds` rounds of `repeat`
    calls each and every side's times are pooled: this machine drifts between speed levels over
    minutes, and one child per side ran each side at whatever level its turn fell on (two runs'
    ratios for the same row differed by 1.7x)."""
    core = dirrm.build_info()["cpu_blas_core"]
    runs = {"dirrm": {}, "torch": {}, "class": {"OPENBLAS_CORETYPE": core}} if core else {"dirrm": {}, "torch": {}}
    sides: dict = {name: {} for name in runs}
    for _ in range(rounds):
        for name, env in runs.items():
            with tempfile.NamedTemporaryFile(suffix=".json") as dump:
                subprocess.run([sys.executable, os.path.abspath(__file__), "--dump", dump.name, "--repeat",
                                str(repeat)],
                               env={**os.environ, "BENCH_SIDE": "dirrm" if name == "class" else name, **env},
                               check=True, stdout=subprocess.DEVNULL)
                for key, times in json.load(open(dump.name)).items():
                    pooled = sides[name].setdefault(key, [[] for _ in times])
                    for side_times, more in zip(pooled, times):
                        side_times.extend(more)
    for row in report.rows:
        if row["key"] in sides["dirrm"]:
            ours, theirs = np.array(sides["dirrm"][row["key"]][0]), np.array(sides["torch"][row["key"]][1])
            row["isolated"] = float(np.median(theirs) / np.median(ours))
            row["iso"] = [fmt(ours), fmt(theirs), f"{row['isolated']:.2f}"]
        if row["key"] in sides.get("class", {}):
            row["class"] = f"{core}: {fmt(np.array(sides['class'][row['key']][0]))}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", help="write the Markdown report here (and its data beside it, .json)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, no isolated runs")
    parser.add_argument("--readme", help="also copy the isolated medians into this file between "
                                         "<!-- bench:begin --> and <!-- bench:end --> (needs --out, not --quick)")
    parser.add_argument("--repeat", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dump", help=argparse.SUPPRESS)  # a child's raw times, as JSON
    args = parser.parse_args()
    torch.set_num_threads(2)
    dirrm.set_num_threads(2)
    repeat = args.repeat or (7 if args.quick else 21)
    header = bench_lines()
    print("\n".join(header), flush=True)
    start = time.perf_counter()
    report = Report()
    sections = {}

    def section(name, fn, *fn_args):
        began = time.perf_counter()
        fn(report, *fn_args)
        sections[name] = time.perf_counter() - began

    section("bt_loss", bt_rows, repeat)
    section("CLUB and DIR step", club_rows, repeat)
    section("pf_gap", pf_rows, repeat)
    section("cluster_threshold", cluster_rows, repeat)
    section("trainer", trainer_rows, repeat)
    if args.dump:
        with open(args.dump, "w") as f:
            json.dump(report.times, f)
        return
    section("embedded", embedded_rows, repeat)
    section("async", async_rows, repeat)
    section("peak memory", memory_rows)
    section("scaling", scaling_rows, 3 if args.quick else 5)
    if not args.quick:
        print("isolated runs, one process per side ...", flush=True)
        section("isolated", isolated, max(repeat // 6, 4))
    report.judge()
    seconds = time.perf_counter() - start
    header.append(f"- Total run: {seconds:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in sections.items()) + ")")
    print(header[-1], flush=True)
    if args.out:
        write(report, args.out, header)
        if args.readme and not args.quick:
            write_readme(report, args.readme, args.out)


if __name__ == "__main__":
    main()
