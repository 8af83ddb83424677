"""dirrm's routines against PyTorch CPU code computing the same numbers, in one process,
alternating call by call, on the same inputs; writes a Markdown report (issue 13's table).

    make bench                                                      # writes benchmarks/RESULTS.md
    OPENBLAS_CORETYPE=Haswell PYTHONPATH=bindings/python python3 benchmarks/bench.py [--out FILE] [--quick]

Before a row is timed, both sides' results are compared (np.allclose with the tolerances the
row states) and the run stops with an error if they differ. Ratios are torch time / dirrm time
(above 1: dirrm is faster); for the trainer that is dirrm's pairs/s over torch's. Not a test:
nothing here asserts a speed; each row with a target of issue 13 says whether the run met it.

Besides the routines: the trainers (pairs/s), a torch training step with dirrm calls between
its steps, the peak memory of a large DIR step (benchmarks/peak_memory.py, one process per
side), the DIR step against its floor (sgemm and memory bandwidth measured here), and scaling
rows of the CLUB bound in n and d. `--out` also writes RESULTS.json beside the report, which
`make profile` (benchmarks/perf_profile.py) reads to profile the rows that missed their targets.
"""

import argparse
import ctypes
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

import dirrm
from readme_block import replace_block

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_refs as refs  # noqa: E402


# "both": same process, alternating. "dirrm" or "torch": a child process that times only that
# side, so neither side's thread pool is awake (OpenBLAS's workers spin after each call,
# torch's OpenMP workers too) while the other runs.
SIDE = os.environ.get("BENCH_SIDE", "both")
NOTHING = np.array([np.nan])

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


# A row stops repeating once its timed calls have taken this long and it has MIN_REPEAT
# samples, so that a loaded machine (torch's thread pool slows by orders of magnitude when the
# cores are oversubscribed) cannot stretch `make bench` without bound; on a quiet machine the
# rows finish their repetitions well within it.
BUDGET = 8.0
MIN_REPEAT = 3


def alternate(ours, theirs, repeat, warmup=2):
    """Times both, interleaved (ours, theirs, ours, ...) after `warmup` calls each."""
    if SIDE == "dirrm":
        return timed(ours, repeat, warmup), NOTHING
    if SIDE == "torch":
        return NOTHING, timed(theirs, repeat, warmup)
    for _ in range(warmup):
        ours()
        theirs()
    times = {id(ours): [], id(theirs): []}
    began = time.perf_counter()
    for i in range(repeat):
        for fn in (ours, theirs):
            start = time.perf_counter()
            fn()
            times[id(fn)].append(time.perf_counter() - start)
        if i + 1 >= MIN_REPEAT and time.perf_counter() - began > BUDGET:
            break
    return np.array(times[id(ours)]), np.array(times[id(theirs)])


def timed(fn, repeat, warmup=1):
    for _ in range(warmup):
        fn()
    out = []
    began = time.perf_counter()
    for i in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
        if i + 1 >= MIN_REPEAT and time.perf_counter() - began > BUDGET:
            break
    return np.array(out)


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
        by = f"{abs(value - target):.1f} points"
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

    def row(self, key, routine, shapes, ours, theirs_name, theirs, checked, extra=""):
        ratio = np.median(theirs) / np.median(ours)
        self.times[key] = (ours.tolist(), theirs.tolist())
        self.rows.append({"key": key, "routine": routine, "shapes": shapes, "against": theirs_name,
                          "ours": fmt(ours), "theirs": fmt(theirs), "ratio": f"{ratio:.2f}", "same": float(ratio),
                          "isolated": float("nan"), "iso": ["–", "–", "–"], "checked": checked, "target": "–",
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


def bt_rows(report, repeat):
    for n in (4096, 1_000_000):
        rc, rr = refs.normal(0, (2, n))
        tc, tr = torch.tensor(rc, requires_grad=True), torch.tensor(rr, requires_grad=True)

        def theirs():
            tc.grad = tr.grad = None
            loss = torch.nn.functional.softplus(-(tc - tr)).mean()
            loss.backward()
            return loss

        loss, gc, gr = dirrm.bt_loss(rc, rr)
        want = theirs()
        check("bt_loss", loss, want.item(), 1e-5, 0)
        check("bt_loss grads", np.concatenate([gc, gr]), np.concatenate([tc.grad, tr.grad]), 1e-5, 1e-12)
        ours_t, theirs_t = alternate(lambda: dirrm.bt_loss(rc, rr), theirs, repeat if n < 10**6 else max(repeat // 2, 7))
        report.row(f"bt_loss n {n}", "bt_loss + grads", f"n {n:,}", ours_t, "torch autograd", theirs_t,
                   "loss, grads: rtol 1e-5")


def gemm_seconds(n, d, hidden, counts, repeat):
    """The time the products of q's first layer take in dirrm's sgemm (OpenBLAS), `counts`
    naming how many of each (refs.club_gemms), and their FLOPs."""
    shapes = refs.club_gemms(n, d, hidden)
    seconds = sum(c * refs.sgemm_seconds(*shapes[k], repeat) for k, c in counts.items())
    flops = sum(c * 2 * shapes[k][0] * shapes[k][1] * shapes[k][2] for k, c in counts.items())
    return seconds, flops


def club_rows(report, repeat, n=64, d=4096, hidden=1024):
    hc, hr, b = refs.club_batch(n, d)
    club = dirrm.Club(d, q_hidden=hidden, seed=0)
    q = refs.TorchQ(club.weights, d, hidden)
    thc, thr = torch.tensor(hc, requires_grad=True), torch.tensor(hr, requires_grad=True)
    tb = torch.tensor(b).long()

    mi, gc, gr = club.bound(hc, hr, b)
    want, wc, wr = q.bound_and_grads(thc, thr, tb)
    check("CLUB bound", mi, want, 1e-4, 1e-6)
    check("CLUB grads", np.concatenate([gc, gr]), np.concatenate([wc, wr]), 1e-4, 1e-7)
    ours_t, theirs_t = alternate(lambda: club.bound(hc, hr, b), lambda: q.bound_and_grads(thc, thr, tb), repeat)
    flops = refs.bound_flops(n, d, hidden)
    sgemm = refs.sgemm_rate(n, d, hidden, repeat)
    blas_s, blas_flops = gemm_seconds(n, d, hidden, {"forward": 1, "input_grad": 1}, repeat)
    rate = flops / np.median(ours_t) / 1e9
    report.row("club", "CLUB bound + grads", f"n {n}, d {d}, q {hidden}, C 2", ours_t, "torch autograd", theirs_t,
               "bound rtol 1e-4; grads rtol 1e-4 atol 1e-7",
               f"{rate:.0f} GFLOP/s overall (GEMM part {flops / 1e9:.2f} GFLOP; sgemm at these shapes: "
               f"dirrm's OpenBLAS {blas_flops / blas_s / 1e9:.0f} GFLOP/s, torch.mm {sgemm:.0f} GFLOP/s)")

    # One DIR step: fit (5 AdamW steps on q's NLL), then the bound and its input gradients.
    dirrm_times = []
    for fused in (False, True):
        club = dirrm.Club(d, q_hidden=hidden, seed=0)
        q = refs.TorchQ(club.weights, d, hidden)
        try:
            optimizer = torch.optim.AdamW(q.parameters(), lr=1e-4, weight_decay=0.01, fused=fused)
        except (RuntimeError, TypeError) as error:
            report.notes.append(f"torch.optim.AdamW(fused=True) is not available on CPU here: {error}")
            continue

        def ours():
            club.fit(hc, hr, b)
            return club.bound(hc, hr, b)

        def theirs():
            q.fit(optimizer, thc.detach(), thr.detach(), tb, steps=5)
            return q.bound_and_grads(thc, thr, tb)

        got, want = ours(), theirs()
        # Adam's steps are normalized: where a gradient is near zero, GEMM rounding can change
        # a weight's step by up to lr = 1e-4, so the weights are compared to a tenth of that.
        check("DIR step: q's weights after fit", club.weights, q.flat(), 1e-4, 1e-5)
        check("DIR step: bound", got[0], want[0], 1e-4, 1e-6)
        check("DIR step: grads", np.concatenate(got[1:]), np.concatenate(want[1:]), 1e-3, 1e-6)
        ours_t, theirs_t = alternate(ours, theirs, max(repeat // 2, 7))
        dirrm_times += ours_t.tolist()
        step_flops = 5 * refs.fit_step_flops(n, d, hidden) + flops
        report.row("dir fused" if fused else "dir default", "DIR step", f"n {n}, d {d}, q {hidden}, C 2, 5 AdamW",
                   ours_t, "torch, fused AdamW" if fused else "torch, default AdamW", theirs_t,
                   "weights rtol 1e-4 atol 1e-5; bound rtol 1e-4; grads rtol 1e-3 atol 1e-6",
                   f"{step_flops / np.median(ours_t) / 1e9:.0f} GFLOP/s overall ({step_flops / 1e9:.1f} GFLOP of GEMM)")
    if SIDE == "both":
        floor_row(report, np.array(dirrm_times), n, d, hidden, repeat)


def floor_row(report, dirrm_times, n, d, hidden, repeat, classes=2, steps=5):
    """The DIR step against its floor: its first-layer products at the rate dirrm's sgemm
    reaches on exactly those shapes, plus AdamW's traffic at the copy bandwidth."""
    counts = {"forward": steps + 1, "weight_grad": steps, "input_grad": 1}
    gemm_s, gemm_flops = gemm_seconds(n, d, hidden, counts, max(repeat // 2, 5))
    parameters = d * hidden + hidden + hidden * classes + classes
    traffic = steps * refs.adamw_bytes(parameters)
    bw, how, rates = refs.bandwidth(max(repeat // 3, 5))
    floor = gemm_s + traffic / bw
    ours = float(np.median(dirrm_times))
    key = "floor"
    target = verdict(ours / floor, FLOOR_TARGET, at_least=False, profile=PROFILES[key])
    report.mark(key, ours / floor <= FLOOR_TARGET, PROFILES[key])
    report.table(
        "DIR step against its floor",
        [f"Floor = the step's products of q's first layer ({counts['forward']} forwards X·W1ᵀ, {counts['weight_grad']} "
         f"weight gradients dZᵀ·X, {counts['input_grad']} input",
         "gradient dZ·W1) timed one by one in dirrm's OpenBLAS (its own threads, as many as dirrm's) at exactly those shapes,",
         f"plus AdamW's traffic (read p, g, m, v, write p, m, v: {refs.adamw_bytes(1)} bytes per parameter and step) "
         "at the copy",
         f"bandwidth of a {refs.BANDWIDTH_MIB} MiB array (" + ", ".join(f"{k} {v / 1e9:.1f} GB/s" for k, v in rates.items())
         + "; the larger is used). dirrm time: median of both DIR rows' same-process dirrm times."],
        ["shapes", "GEMM", "sgemm time", "AdamW traffic", "AdamW at bandwidth", "floor", "dirrm", "dirrm / floor",
         "target"],
        [[f"n {n}, d {d}, q {hidden}, C {classes}, {steps} AdamW", f"{gemm_flops / 1e9:.2f} GFLOP",
          f"{ms(gemm_s)} ({gemm_flops / gemm_s / 1e9:.0f} GFLOP/s)", f"{traffic / 1e6:.0f} MB",
          f"{ms(traffic / bw)} ({bw / 1e9:.1f} GB/s, {how})", ms(floor), ms(ours), f"{ours / floor:.2f}", target]])
    report.summary.append(f"- DIR step against its floor (sgemm at the step's shapes + AdamW at copy bandwidth): "
                          f"{ms(ours)} against {ms(floor)}, {ours / floor:.2f}×; target ≤ {FLOOR_TARGET:g}×: "
                          f"{target.split(' (')[0]}.")


def scaling_rows(report, repeat, hidden=1024):
    """The CLUB bound + grads over n at d 4096 and over d at n 64."""
    shapes = [(n, 4096) for n in (16, 64, 256, 1024)] + [(64, d) for d in (1024, 2048, 8192)]
    rows = []
    for n, d in sorted(shapes, key=lambda s: (s[1] != 4096, s)):
        hc, hr, b = refs.club_batch(n, d)
        club = dirrm.Club(d, q_hidden=hidden, seed=0)
        q = refs.TorchQ(club.weights, d, hidden)
        thc, thr = torch.tensor(hc, requires_grad=True), torch.tensor(hr, requires_grad=True)
        tb = torch.tensor(b).long()
        mi, gc, gr = club.bound(hc, hr, b)
        want, wc, wr = q.bound_and_grads(thc, thr, tb)
        check(f"CLUB bound n {n} d {d}", mi, want, 1e-4, 1e-6)
        check(f"CLUB grads n {n} d {d}", np.concatenate([gc, gr]), np.concatenate([wc, wr]), 1e-4, 1e-7)
        ours_t, theirs_t = alternate(lambda: club.bound(hc, hr, b), lambda: q.bound_and_grads(thc, thr, tb),
                                     repeat, warmup=1)
        flops = refs.bound_flops(n, d, hidden)
        blas_s, blas_flops = gemm_seconds(n, d, hidden, {"forward": 1, "input_grad": 1}, repeat)
        ours = float(np.median(ours_t))
        rows.append([f"n {n}, d {d}", fmt(ours_t), fmt(theirs_t), f"{np.median(theirs_t) / ours:.2f}",
                     f"{flops / ours / 1e9:.0f}", f"{blas_flops / blas_s / 1e9:.0f}", f"{blas_s / ours:.2f}"])
    report.table(
        "Scaling: CLUB bound + grads",
        [f"q hidden {hidden}, C 2; same process, alternating, {repeat} repetitions after one warm-up each;",
         "each shape's bound and gradients checked as in the main table (bound rtol 1e-4; grads rtol 1e-4 atol 1e-7).",
         "GEMM GFLOP/s: the bound's GEMM FLOPs (forward and input gradient of both layers) over dirrm's whole time;",
         "sgemm GFLOP/s: dirrm's OpenBLAS on the first layer's two products (X·W1ᵀ, dZ·W1) alone at the same shapes;",
         "sgemm share: the time of those two products over dirrm's time."],
        ["shapes", "dirrm", "torch autograd", "ratio", "dirrm GEMM GFLOP/s", "sgemm GFLOP/s", "sgemm share"], rows)


# ---------------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------------

def trainer_rows(report, repeat):
    train, _ = refs.synth_length()
    dataset = dirrm.Dataset(train["prompts"], train["responses"], train["pairs"], train["bias"])
    pairs = len(train["pairs"])
    model = dirrm.RewardModel(train["prompts"].shape[1], train["responses"].shape[1], seed=0)
    shape = (model.prompt_dim, model.response_dim, model.width, model.depth)
    flat = refs.model_parameters(model)
    q_hidden = 64  # dirrm_train_params_init's Gaussian estimator
    q_flat = dirrm.Club(model.width, bias_kind="gaussian", bias_dim=1, q_hidden=q_hidden, seed=0).weights

    x = train["prompts"][train["pairs"][:256, 0]]
    y = train["responses"][train["pairs"][:256, 1]]
    with torch.no_grad():
        tr, th = refs.TorchRewardModel(flat, *shape)(torch.tensor(x), torch.tensor(y))
    dr, dh = model.score(x, y, hidden=True)
    check("trainer: rewards at initialization", dr, tr.numpy(), 1e-4, 1e-6)
    check("trainer: hidden states at initialization", dh, th.numpy(), 1e-4, 1e-6)

    full_steps = 6
    for method in ("vanilla", "dir"):
        # Full-batch steps: the shuffle cannot matter, so both trainers take the same steps.
        m = dirrm.RewardModel(*shape[:2], seed=0)
        records = m.fit(dataset, method=method, epochs=full_steps, batch_size=pairs)
        t = refs.TorchTrainer(train, flat, shape, method, q_flat=q_flat, q_hidden=q_hidden, batch_size=pairs)
        steps = np.array([t.step(torch.arange(pairs)) for _ in range(full_steps)])
        check(f"trainer {method}: loss per full-batch step", records["loss_pref"], steps[:, 0], 1e-5, 1e-7)
        if method == "dir":
            check("trainer dir: bound per full-batch step", records["mi"], steps[:, 1], 0, 1e-5)
            active = int((steps[:, 1] > 0).sum())

        def ours():
            dirrm.RewardModel(*shape[:2], seed=0).fit(dataset, method=method, epochs=1)

        def theirs():
            refs.TorchTrainer(train, flat, shape, method, q_flat=q_flat, q_hidden=q_hidden).epoch()

        ours_t, theirs_t = alternate(ours, theirs, max(repeat // 4, 3) if method == "dir" else max(repeat // 3, 5),
                                     warmup=1)
        rate = lambda t: f"{pairs / np.median(t) / 1e3:.1f}K" if not np.isnan(t).any() else "–"  # noqa: E731
        checked = f"{full_steps} full-batch steps: loss rtol 1e-5"
        if method == "dir":
            checked += f", bound atol 1e-5 (positive, so penalizing, on {active} of them)"
        checked += "; initial rewards and hidden states rtol 1e-4"
        shapes = (f"{pairs:,} pairs, 1 epoch, batch 64, {shape[0]}+{shape[1]} features, width {shape[2]}, depth {shape[3]}"
                  + (f"; Gaussian q {q_hidden}, 5 fit steps, λ 1" if method == "dir" else ""))
        report.row(f"trainer {method}", f"trainer, {method} (time per epoch)", shapes, ours_t,
                   f"torch trainer, {method}", theirs_t, checked,
                   f"pairs/s: dirrm {rate(ours_t)}, torch {rate(theirs_t)} (ratio = dirrm pairs/s / torch pairs/s)")


# ---------------------------------------------------------------------------------------------
# dirrm inside a torch training step
# ---------------------------------------------------------------------------------------------

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
        torch_step.step()
        for _ in range(block):
            start = time.perf_counter()
            torch_step.step()
            times["torch alone"].append(time.perf_counter() - start)
        time.sleep(0.3)
        h, r = torch_step.step()
        dirrm_calls(h, r)
        for _ in range(block):
            start = time.perf_counter()
            h, r = torch_step.step()
            middle = time.perf_counter()
            dirrm_calls(h, r)
            times["torch with dirrm"].append(middle - start)
            times["dirrm with torch"].append(time.perf_counter() - middle)
        time.sleep(0.3)
        dirrm_calls(h, r)
        for _ in range(block):
            start = time.perf_counter()
            dirrm_calls(h, r)
            times["dirrm alone"].append(time.perf_counter() - start)
        # The control: the same gap between steps, idle (as a data loader's wait would be), so
        # that what any pause costs torch (its threads fall asleep) is told from dirrm's share.
        time.sleep(0.3)
        gap = float(np.median(times["dirrm with torch"]))
        torch_step.step()
        for _ in range(block):
            start = time.perf_counter()
            torch_step.step()
            times["torch with a pause"].append(time.perf_counter() - start)
            time.sleep(gap)
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


# ---------------------------------------------------------------------------------------------
# Peak memory, one process per side
# ---------------------------------------------------------------------------------------------

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


def pf_rows(report, repeat):
    for k in (4, 16, 64):
        n = 65_536
        gaps = refs.normal(2, (n, k), scale=3.0)
        truth = refs.pf_bisection(torch.tensor(gaps, dtype=torch.float64), 1e-10).numpy()
        ours = dirrm.prompt_free_gap(gaps, weighting="uniform").dr2
        tg64, tg32 = torch.tensor(gaps, dtype=torch.float64), torch.tensor(gaps)
        bis = refs.pf_bisection(tg64, 1e-6).numpy()
        newton = refs.pf_newton(tg32).numpy()
        scale = 1 + np.abs(truth)
        # dirrm stops on |Φ − ½| ≤ its tolerance (1e-6), which leaves d uncertain by about
        # 1e-6/|Φ'|: up to ~1e-4 where Φ is flat (issue 13 asks for the root in Δr2 instead).
        check(f"pf_gap K {k} (dirrm vs float64 root)", ours / scale, truth / scale, 0, 1e-3)
        check(f"pf_gap K {k} (torch Newton vs float64 root)", newton / scale, truth / scale, 0, 1e-3)
        error = {name: float(np.max(np.abs(x - truth) / scale)) for name, x in (("dirrm", ours), ("bisection", bis),
                                                                              ("Newton", newton))}
        errors = ", ".join(f"{name} {e:.1e}" for name, e in error.items())
        ours_fn = lambda: dirrm.prompt_free_gap(gaps, weighting="uniform")  # noqa: E731
        reps = repeat if k < 64 else max(repeat // 2, 5)
        ours_t, bis_t = alternate(ours_fn, lambda: refs.pf_bisection(tg64, 1e-6), reps)
        report.row(f"pf K {k} bisection", "pf_gap (dirrm Newton)", f"n {n:,}, K {k}", ours_t,
                   "torch bisection f64 to 1e-6", bis_t, "vs float64 root: abs(Δ)/(1+abs(root)) ≤ 1e-3",
                   f"max abs(error)/(1+abs(root)): {errors}")
        ours_t, newton_t = alternate(ours_fn, lambda: refs.pf_newton(tg32), reps)
        report.row(f"pf K {k} newton", "pf_gap (dirrm Newton)", f"n {n:,}, K {k}", ours_t, "torch Newton f32",
                   newton_t, "as above", "")
        # The target asks for equal or better accuracy too.
        for key, other in ((f"pf K {k} bisection", "bisection"), (f"pf K {k} newton", "Newton")):
            if error["dirrm"] > error[other]:
                row = next(r for r in report.rows if r["key"] == key)
                row["unmet"] = f"in accuracy (dirrm {error['dirrm']:.1e} > {other} {error[other]:.1e})"


def cluster_rows(report, repeat):
    n = 1_000_000
    values = refs.normal(3, n)
    exact = refs.numpy_threshold(values)
    got = dirrm.cluster_threshold(values)
    check("cluster_threshold vs numpy sort + prefix sums", got, exact, 1e-6, 1e-6)
    lloyd = refs.lloyd(torch.tensor(values), 10)
    check("cluster_threshold vs 10 Lloyd iterations", got, lloyd, 0, 0.05)
    tv = torch.tensor(values)
    ours_t, lloyd_t = alternate(lambda: dirrm.cluster_threshold(values), lambda: refs.lloyd(tv, 10), repeat)
    report.row("cluster lloyd", "cluster_threshold", f"n {n:,}", ours_t, "torch 10 Lloyd iterations", lloyd_t,
               "exact optimum: rtol 1e-6 vs numpy; Lloyd within 0.05", f"Lloyd's threshold {lloyd:.4f}, exact {exact:.4f}")
    ours_t, numpy_t = alternate(lambda: dirrm.cluster_threshold(values), lambda: refs.numpy_threshold(values), repeat)
    report.row("cluster numpy", "cluster_threshold", f"n {n:,}", ours_t, "numpy sort + prefix sums", numpy_t,
               "as above", "")


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    blas = ctypes.CDLL("libopenblas.so.0")
    blas.openblas_get_corename.restype = ctypes.c_char_p
    info = dirrm.build_info()
    return [
        f"- Machine: {model}, {os.cpu_count()} logical CPUs ({platform.machine()}), {platform.platform()}",
        f"- dirrm {info['version']} ({info['compiler']}); BLAS: {info['blas']}; "
        f"kernel in use: {blas.openblas_get_corename().decode()}",
        f"- OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
        f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')}",
        f"- Threads: dirrm {info['threads']}, torch {torch.get_num_threads()}; torch {torch.__version__}, numpy {np.__version__}",
    ]


def isolated(report, repeat):
    """Adds each row's times measured in two child processes, one per side."""
    sides = {}
    for side in ("dirrm", "torch"):
        with tempfile.NamedTemporaryFile(suffix=".json") as dump:
            subprocess.run([sys.executable, os.path.abspath(__file__), "--dump", dump.name, "--repeat", str(repeat)],
                           env={**os.environ, "BENCH_SIDE": side}, check=True, stdout=subprocess.DEVNULL)
            sides[side] = json.load(open(dump.name))
    for row in report.rows:
        if row["key"] in sides["dirrm"]:
            ours, theirs = np.array(sides["dirrm"][row["key"]][0]), np.array(sides["torch"][row["key"]][1])
            row["isolated"] = float(np.median(theirs) / np.median(ours))
            row["iso"] = [fmt(ours), fmt(theirs), f"{row['isolated']:.2f}"]


def write(report, path, header):
    lines = ["# dirrm against torch: benchmark results", "",
             "Written by `make bench` (benchmarks/bench.py). *Same process*: calls alternating between dirrm and",
             "torch after warm-up calls; *isolated*: each side timed alone in its own process, so that",
             "no thread pool of the other side is spinning. Times are medians with [min–max] over the",
             f"repetitions (×k: only k, as a row stops after {BUDGET:g} s of timed calls); ratio = torch / dirrm",
             "(above 1: dirrm is faster; for the trainers, dirrm's pairs/s over torch's). Each row's numbers",
             "were compared before timing (column *checked*). *Target*:",
             "issue 13's target, met when the same-process ratio (the issue's measure) and the isolated one both",
             "reach it, else missed by how much (the shortfall relative to the target) on which; on a busy machine",
             "the same-process torch times can swell (the thread pools fight), which the isolated ratio exposes.",
             "A missed row links to its profile in [PROFILE.md](PROFILE.md) (`make profile`).",
             "The machine is shared: rerun before trusting a single row.",
             "", *header, "",
             "| routine | shapes | dirrm, same process | torch, same process | ratio | dirrm isolated | torch isolated "
             "| ratio isolated | checked | target | notes |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report.rows:
        cells = [r["routine"], r["shapes"], r["ours"], f"{r['against']}: {r['theirs']}", r["ratio"], *r["iso"],
                 r["checked"], r["target"], r["notes"]]
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
             for k in ("key", "routine", "shapes", "against", "ours", "theirs", "same", "isolated", "target",
                       "dirrm_median")} for r in report.rows]
    with open(os.path.splitext(path)[0] + ".json", "w") as f:
        json.dump({"header": header, "rows": rows, "targets": report.status,
                   "tables": [{"title": t[0], "header": t[2], "rows": t[3]} for t in report.tables]}, f, indent=1)
        f.write("\n")


def write_readme(report, path, results):
    """Copies each row's isolated medians, its ratios and its target into README between the
    bench markers, with the embedded, memory and floor summaries under the table."""
    lines = [f"From `make bench` (the full report, same-process timings, scaling rows and the checks: {results};"
             " a target is met when both ratios reach it):", "",
             "| routine | shapes | against | dirrm | torch | ratio | ratio, same process | target |",
             "|---|---|---|---|---|---|---|---|"]
    median = lambda cell: cell.split(" [")[0]  # noqa: E731
    for r in report.rows:
        target = r["target"].replace("PROFILE.md", os.path.join(os.path.dirname(results), "PROFILE.md"))
        lines.append(f"| {r['routine']} | {r['shapes']} | {r['against']} | {median(r['iso'][0])} | "
                     f"{median(r['iso'][1])} | {r['iso'][2]} | {r['ratio']} | {target} |")
    lines += ["", *report.summary]
    replace_block(path, "bench", lines)


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
    header = machine()
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
    section("peak memory", memory_rows)
    section("scaling", scaling_rows, 3 if args.quick else 5)
    if not args.quick:
        print("isolated runs, one process per side ...", flush=True)
        section("isolated", isolated, max(repeat // 2, 7))
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
