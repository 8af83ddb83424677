"""Where dirrm's time goes in the benchmark rows that missed their targets: each row's dirrm
call looped alone in a process of its own under `perf record -g`, the top symbols (self time)
and the shares by library written to benchmarks/PROFILE.md.

    make profile                # after make bench: the rows RESULTS.json marks missed
    PYTHONPATH=bindings/python python3 benchmarks/perf_profile.py [--all] [--seconds S] [ROW ...]

Rows: the keys of DRIVERS below. Without ROW arguments, the rows that benchmarks/RESULTS.json
(written by make bench) marks missed, or every row with --all or without RESULTS.json. The
sampling is enabled only after the driver's setup (imports, inputs, warm-up calls), through
perf's control FIFO. Needs perf (Debian: linux-perf) and perf_event_paranoid <= 2.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

import dirrm

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_data as data  # noqa: E402
from timing import run_for  # noqa: E402


# ---------------------------------------------------------------------------------------------
# The drivers: each returns (description, one call), its inputs prepared; the same shapes and
# inputs as benchmarks/bench.py's rows.
# ---------------------------------------------------------------------------------------------

def bt_loss(n):
    rc, rr = data.normal(0, (2, n))
    return f"dirrm.bt_loss with its gradients, n {n:,}", lambda: dirrm.bt_loss(rc, rr)


def club_bound():
    hc, hr, b = data.club_batch(64, 4096)
    club = dirrm.Club(4096, q_hidden=1024, seed=0)
    return "dirrm.Club.bound with its gradients, n 64, d 4096, q 1024, C 2", lambda: club.bound(hc, hr, b)


def dir_step():
    hc, hr, b = data.club_batch(64, 4096)
    club = dirrm.Club(4096, q_hidden=1024, seed=0)

    def step():
        club.fit(hc, hr, b)
        return club.bound(hc, hr, b)
    return "one DIR step: dirrm.Club.fit (5 AdamW steps) then .bound with its gradients, n 64, d 4096, q 1024, C 2", step


def pf_gap_k16():
    gaps = data.normal(2, (65_536, 16), scale=3.0)
    return "dirrm.prompt_free_gap (Newton, uniform weights), n 65,536, K 16", \
        lambda: dirrm.prompt_free_gap(gaps, weighting="uniform")


def cluster_threshold():
    values = data.normal(3, 1_000_000)
    return "dirrm.cluster_threshold, n 1,000,000", lambda: dirrm.cluster_threshold(values)


def trainer(method):
    train, _ = data.synth_length()
    dataset = dirrm.Dataset(train["prompts"], train["responses"], train["pairs"], train["bias"])
    dims = train["prompts"].shape[1], train["responses"].shape[1]
    return (f"dirrm's trainer, {method}: one epoch of {len(train['pairs']):,} pairs, batch 64, from a new model",
            lambda: dirrm.RewardModel(*dims, seed=0).fit(dataset, method=method, epochs=1))


def embedded():
    import torch
    import bench_refs as refs
    torch.set_num_threads(2)
    step = refs.EmbeddedStep()
    hidden = step.backbone[-2].out_features
    club = dirrm.Club(hidden, q_hidden=1024, seed=0)
    b = (data.normal(9, step.pairs) > 0).astype(np.float32)

    def both():
        h, r = step.step()
        hn, rn = h.numpy(), r.numpy()
        club.bound(hn[:step.pairs], hn[step.pairs:], b)
        dirrm.bt_loss(rn[:step.pairs], rn[step.pairs:])
    return "a torch training step (benchmarks/bench.py's embedded row) with dirrm.Club.bound and dirrm.bt_loss " \
           "between steps: the whole process, torch included", both


DRIVERS = {
    "bt_loss_4096": lambda: bt_loss(4096), "bt_loss_1e6": lambda: bt_loss(1_000_000), "club_bound": club_bound,
    "dir_step": dir_step, "pf_gap_k16": pf_gap_k16, "cluster_threshold": cluster_threshold,
    "trainer_vanilla": lambda: trainer("vanilla"), "trainer_dir": lambda: trainer("dir"), "embedded": embedded,
}


def drive(key, seconds, control, ack):
    """The child under perf: setup and warm-up unsampled, then the loop sampled."""
    dirrm.set_num_threads(2)
    description, call = DRIVERS[key]()
    for _ in range(2):
        call()

    def command(word):
        with open(control, "w") as f:
            f.write(word + "\n")
        with open(ack) as f:
            f.readline()

    command("enable")
    calls, elapsed = run_for(call, seconds)
    command("disable")
    print(json.dumps({"description": description, "calls": calls, "seconds": elapsed}))


# ---------------------------------------------------------------------------------------------
# perf record, perf report
# ---------------------------------------------------------------------------------------------

LINE = re.compile(r"^\s*([0-9.]+)%\s+(.*)$")


def demangle(text):
    tool = shutil.which("swift-demangle")
    if tool is None:
        return text
    return subprocess.run([tool, "--simplified"], input=text, stdout=subprocess.PIPE, text=True, check=True).stdout


def report(perf_data, sort, top):
    """The top lines of perf report's flat self-time profile, sorted by `sort`."""
    out = subprocess.run(["perf", "report", "-i", perf_data, "--stdio", "--no-children", "-g", "none",
                          "--sort", sort], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True)
    lines = []
    for line in demangle(out.stdout).splitlines():
        match = LINE.match(line)
        if match:
            name = re.sub(r"\s+", " ", match.group(2)).strip()
            name = re.sub(r"(\s+-)+$", "", name)
            lines.append(f"{float(match.group(1)):6.2f}%  {name[:150]}")
        if len(lines) == top:
            break
    return lines


def profile(key, seconds, folder):
    control, ack, perf_data = (os.path.join(folder, f"{key}.{x}") for x in ("ctl", "ack", "data"))
    for fifo in (control, ack):
        os.mkfifo(fifo)
    command = ["perf", "record", "-g", "-D", "-1", "--control", f"fifo:{control},{ack}", "-o", perf_data, "--",
               sys.executable, os.path.abspath(__file__), "--drive", key, "--seconds", str(seconds),
               "--control-fifo", control, "--ack-fifo", ack]
    run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        raise SystemExit(f"profile: perf record failed for {key} (perf needs kernel.perf_event_paranoid <= 2: "
                         f"sysctl -w kernel.perf_event_paranoid=2 as root):\n{run.stderr}")
    info = json.loads(run.stdout.strip().splitlines()[-1])
    samples = re.search(r"\((\d+) samples\)", run.stderr)
    info["samples"] = int(samples.group(1)) if samples else None
    info["symbols"] = report(perf_data, "dso,symbol", 8)
    info["libraries"] = report(perf_data, "dso", 5)
    return info


def missed_rows(results):
    with open(results) as f:
        status = json.load(f)["targets"]
    return sorted({s["profile"] for s in status.values() if not s["met"] and s.get("profile")})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="*", help=f"rows to profile, of: {', '.join(DRIVERS)}")
    parser.add_argument("--all", action="store_true", help="profile every row")
    parser.add_argument("--results", default=os.path.join(HERE, "RESULTS.json"))
    parser.add_argument("--out", default=os.path.join(HERE, "PROFILE.md"))
    parser.add_argument("--seconds", type=float, default=5.0, help="sampled time per row")
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    parser.add_argument("--control-fifo", help=argparse.SUPPRESS)
    parser.add_argument("--ack-fifo", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        drive(args.drive, args.seconds, args.control_fifo, args.ack_fifo)
        return
    if shutil.which("perf") is None:
        raise SystemExit("profile: perf is not installed (Debian: apt-get install linux-perf)")
    unknown = [r for r in args.rows if r not in DRIVERS]
    if unknown:
        raise SystemExit(f"profile: unknown rows {unknown}; known: {', '.join(DRIVERS)}")
    if args.rows:
        rows, why = args.rows, "the rows named on the command line"
    elif args.all or not os.path.exists(args.results):
        rows, why = list(DRIVERS), "every row with a target"
    else:
        rows = [r for r in DRIVERS if r in missed_rows(args.results)]
        stamp = datetime.datetime.fromtimestamp(os.path.getmtime(args.results)).strftime("%Y-%m-%d %H:%M")
        why = f"the rows that missed their targets in {os.path.basename(args.results)} ({stamp})"
    start = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for key in rows:
            print(f"profiling {key} ...", flush=True)
            results[key] = profile(key, args.seconds, folder)
            print("\n".join(results[key]["symbols"]), flush=True)
    perf_version = subprocess.run(["perf", "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    info = dirrm.build_info()
    lines = ["# Where dirrm's time goes: profiles", "",
             "Written by `make profile` (benchmarks/perf_profile.py): each row's dirrm call looped alone in its own",
             "process under `perf record -g` (sampling enabled after the setup and two warm-up calls), then",
             "`perf report --no-children` (self time): the top symbols, Swift names demangled, and the shares by",
             "library. The same inputs and shapes as the rows of [RESULTS.md](RESULTS.md). dirrm and its BLAS on",
             "2 threads. The machine is shared: rerun before trusting a single profile.", "",
             f"- Rows: {why}",
             f"- {perf_version}; dirrm {info['version']}; BLAS: {info['blas']}; "
             f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}",
             f"- Total run: {time.perf_counter() - start:.0f} s"]
    if not rows:
        lines += ["", "No row missed its target: nothing to profile."]
    for key, r in results.items():
        per_call = r["seconds"] / max(r["calls"], 1)
        lines += ["", f'<a id="{key}"></a>', "", f"## {key}", "",
                  f"{r['description']}: {r['calls']} calls in {r['seconds']:.1f} s ({per_call * 1e3:.3g} ms per call), "
                  f"{r['samples']} samples.", "", "Top symbols (self time):", "", "```", *r["symbols"], "```", "",
                  "By library:", "", "```", *r["libraries"], "```"]
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
