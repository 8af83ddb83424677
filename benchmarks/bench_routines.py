"""benchmarks/bench.py's rows of dirrm's routines against torch: bt_loss, the CLUB bound and
the DIR step (with its floor and the bound's scaling in n and d), pf_gap and cluster_threshold."""

import numpy as np
import torch

import bench_rates
import bench_refs as refs
import dirrm
from bench_report import FLOOR_TARGET, PROFILES, check, fmt, ms, verdict
from timing import SIDE, alternate


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


def sgemm_cell(flops, seconds):
    """The main table's sgemm column: GFLOP/s of the row's products in dirrm's OpenBLAS with
    the kernels in use, with the CPU class's kernels, and in torch.mm (bench_rates.gemm_rates)."""
    rate = lambda t: "–" if t is None else f"{flops / t / 1e9:.0f}"  # noqa: E731
    return " / ".join(rate(seconds[k]) for k in ("in use", "class", "torch.mm"))


def checked_bound(n, d, hidden, label):
    """dirrm's CLUB bound + grads and torch's on the same q and batch, checked against each
    other (bound rtol 1e-4; grads rtol 1e-4 atol 1e-7), as two calls to time, and the batch
    (numpy hc, hr, b; torch hc, hr, b)."""
    hc, hr, b = refs.club_batch(n, d)
    club = dirrm.Club(d, q_hidden=hidden, seed=0)
    q = refs.TorchQ(club.weights, d, hidden)
    thc, thr = torch.tensor(hc, requires_grad=True), torch.tensor(hr, requires_grad=True)
    tb = torch.tensor(b).long()
    mi, gc, gr = club.bound(hc, hr, b)
    want, wc, wr = q.bound_and_grads(thc, thr, tb)
    check(f"CLUB bound{label}", mi, want, 1e-4, 1e-6)
    check(f"CLUB grads{label}", np.concatenate([gc, gr]), np.concatenate([wc, wr]), 1e-4, 1e-7)
    return (lambda: club.bound(hc, hr, b)), (lambda: q.bound_and_grads(thc, thr, tb)), (hc, hr, b, thc, thr, tb)


def club_rows(report, repeat, n=64, d=4096, hidden=1024):
    ours, theirs, (hc, hr, b, thc, thr, tb) = checked_bound(n, d, hidden, "")
    ours_t, theirs_t = alternate(ours, theirs, repeat)
    flops = refs.bound_flops(n, d, hidden)
    # (an isolated child times one side's calls only: the products are the parent's to time)
    sgemm = sgemm_cell(*bench_rates.gemm_rates(n, d, hidden, {"forward": 1, "input_grad": 1}, repeat)) \
        if SIDE == "both" else "–"
    rate = flops / np.median(ours_t) / 1e9
    report.row("club", "CLUB bound + grads", f"n {n}, d {d}, q {hidden}, C 2", ours_t, "torch autograd", theirs_t,
               "bound rtol 1e-4; grads rtol 1e-4 atol 1e-7",
               f"{rate:.0f} GFLOP/s overall (GEMM part {flops / 1e9:.2f} GFLOP)",
               sgemm=sgemm)

    # One DIR step: fit (5 AdamW steps on q's NLL), then the bound and its input gradients.
    dirrm_times = []
    steps = 5
    counts = {"forward": steps + 1, "weight_grad": steps, "input_grad": 1}
    step_gemm = bench_rates.gemm_rates(n, d, hidden, counts, max(repeat // 2, 5)) if SIDE == "both" else None
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
                   f"{step_flops / np.median(ours_t) / 1e9:.0f} GFLOP/s overall ({step_flops / 1e9:.1f} GFLOP of GEMM)",
                   sgemm=sgemm_cell(*step_gemm) if step_gemm else "–")
    if SIDE == "both":
        floor_row(report, np.array(dirrm_times), n, d, hidden, counts, step_gemm, repeat, steps=steps)


def floor_row(report, dirrm_times, n, d, hidden, counts, gemm, repeat, classes=2, steps=5):
    """The DIR step against its floor: its first-layer products (counts, timed in gemm by
    bench_rates.gemm_rates) at the best sgemm rate measured on exactly those shapes, plus
    AdamW's traffic at the best copy bandwidth measured."""
    gemm_flops, seconds = gemm
    best = min((t, k) for k, t in seconds.items() if t is not None)
    gemm_s = best[0]
    parameters = d * hidden + hidden + hidden * classes + classes
    traffic = steps * bench_rates.adamw_bytes(parameters)
    bw, how, rates = bench_rates.bandwidth(max(repeat // 3, 5))
    floor = gemm_s + traffic / bw
    ours = float(np.median(dirrm_times))
    key = "floor"
    target = verdict(ours / floor, FLOOR_TARGET, at_least=False, profile=PROFILES[key])
    report.mark(key, ours / floor <= FLOOR_TARGET, PROFILES[key])
    report.table(
        "DIR step against its floor",
        [f"Floor = the step's products of q's first layer ({counts['forward']} forwards X·W1ᵀ, {counts['weight_grad']} "
         f"weight gradients dZᵀ·X, {counts['input_grad']} input",
         "gradient dZ·W1) timed one by one at exactly those shapes in dirrm's OpenBLAS (its own threads, as many as dirrm's)",
         "with the kernels in use and with the CPU class's kernels, and in torch.mm; the fastest of the three is the floor's",
         "(" + ", ".join(f"{k} {'–' if t is None else f'{gemm_flops / t / 1e9:.0f} GFLOP/s'}" for k, t in seconds.items())
         + "), "
         f"plus AdamW's traffic (read p, g, m, v, write p, m, v: {bench_rates.adamw_bytes(1)} bytes per parameter and step) "
         "at the copy",
         f"bandwidth of a {bench_rates.BANDWIDTH_MIB} MiB array (" + ", ".join(f"{k} {v / 1e9:.1f} GB/s" for k, v in rates.items())
         + "; the larger is used). dirrm time: median of both DIR rows' same-process dirrm times."],
        ["shapes", "GEMM", "sgemm time", "AdamW traffic", "AdamW at bandwidth", "floor", "dirrm", "dirrm / floor",
         "target"],
        [[f"n {n}, d {d}, q {hidden}, C {classes}, {steps} AdamW", f"{gemm_flops / 1e9:.2f} GFLOP",
          f"{ms(gemm_s)} ({gemm_flops / gemm_s / 1e9:.0f} GFLOP/s, {best[1]})", f"{traffic / 1e6:.0f} MB",
          f"{ms(traffic / bw)} ({bw / 1e9:.1f} GB/s, {how})", ms(floor), ms(ours), f"{ours / floor:.2f}", target]])
    report.summary.append(f"- DIR step against its floor (sgemm at the step's shapes + AdamW at copy bandwidth): "
                          f"{ms(ours)} against {ms(floor)}, {ours / floor:.2f}×; target ≤ {FLOOR_TARGET:g}×: "
                          f"{target.split(' (')[0]}.")


def scaling_rows(report, repeat, hidden=1024):
    """The CLUB bound + grads over n at d 4096 and over d at n 64."""
    shapes = [(n, 4096) for n in (16, 64, 256, 1024)] + [(64, d) for d in (1024, 2048, 8192)]
    rows = []
    for n, d in sorted(shapes, key=lambda s: (s[1] != 4096, s)):
        ours, theirs, _ = checked_bound(n, d, hidden, f" n {n} d {d}")
        ours_t, theirs_t = alternate(ours, theirs, repeat, warmup=1)
        flops = refs.bound_flops(n, d, hidden)
        blas_flops, blas_s = bench_rates.gemm_rates(n, d, hidden, {"forward": 1, "input_grad": 1}, repeat)
        ours = float(np.median(ours_t))
        rows.append([f"n {n}, d {d}", fmt(ours_t), fmt(theirs_t), f"{np.median(theirs_t) / ours:.2f}",
                     f"{flops / ours / 1e9:.0f}", sgemm_cell(blas_flops, blas_s), f"{blas_s['in use'] / ours:.2f}"])
    report.table(
        "Scaling: CLUB bound + grads",
        [f"q hidden {hidden}, C 2; same process, alternating, {repeat} repetitions after one warm-up each;",
         "each shape's bound and gradients checked as in the main table (bound rtol 1e-4; grads rtol 1e-4 atol 1e-7).",
         "GEMM GFLOP/s: the bound's GEMM FLOPs (forward and input gradient of both layers) over dirrm's whole time;",
         "sgemm GFLOP/s: the first layer's two products (X·W1ᵀ, dZ·W1) alone at the same shapes, in dirrm's OpenBLAS with",
         "the kernels in use / with the CPU class's kernels / in torch.mm;",
         "sgemm share: the time of those two products (kernels in use) over dirrm's time."],
        ["shapes", "dirrm", "torch autograd", "ratio", "dirrm GEMM GFLOP/s", "sgemm GFLOP/s (in use / class / torch.mm)",
         "sgemm share"], rows)



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
