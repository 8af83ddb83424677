"""Throughput of dirrm's routines against PyTorch CPU implementations of the same computation,
measured in the same run on the same inputs. Prints one line per routine: the median time of
each and the ratio (torch time / dirrm time; above 1 means dirrm is faster).

    python3 benchmarks/bench.py                                   # with dirrm installed
    PYTHONPATH=bindings/python python3 benchmarks/bench.py        # or after `make build`

Not a test: nothing here asserts a speed.
"""

import os
import time

import numpy as np
import torch

import dirrm


def median_time(fn, repeat=7):
    fn()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def report(name, ours, theirs):
    print(f"{name:44s} dirrm {ours * 1e3:9.2f} ms   torch {theirs * 1e3:9.2f} ms   ratio {theirs / ours:6.2f}")


def bt_loss(n):
    rng = np.random.default_rng(0)
    rc, rr = rng.normal(size=(2, n)).astype(np.float32)
    tc, tr = torch.tensor(rc, requires_grad=True), torch.tensor(rr, requires_grad=True)

    def reference():
        loss = torch.nn.functional.softplus(-(tc - tr)).mean()
        tc.grad = tr.grad = None
        loss.backward()

    report(f"bt_loss + gradients, n = {n:,}", median_time(lambda: dirrm.bt_loss(rc, rr)), median_time(reference))


def club_bound(n, d, hidden):
    rng = np.random.default_rng(1)
    hc, hr = rng.normal(size=(2, n, d)).astype(np.float32)
    b = rng.integers(0, 2, n).astype(np.float32)
    club = dirrm.Club(d, q_hidden=hidden, seed=0)
    weights = club.weights
    net = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 2))
    with torch.no_grad():
        offset = 0
        for p in (net[0].weight, net[0].bias, net[2].weight, net[2].bias):
            p.copy_(torch.tensor(weights[offset: offset + p.numel()]).reshape(p.shape))
            offset += p.numel()
    thc, thr, tb = torch.tensor(hc, requires_grad=True), torch.tensor(hr, requires_grad=True), torch.tensor(b).long()

    def reference():  # the same O(n·C) closed form, differentiated by autograd
        logq = torch.log_softmax(net(thc - thr), dim=1)
        pi = torch.bincount(tb, minlength=2).float() / len(tb)
        bound = (logq[torch.arange(len(tb)), tb] - (logq * pi).sum(1)).mean()
        thc.grad = thr.grad = None
        bound.backward()

    report(f"CLUB bound + gradients, n = {n}, d = {d}, q {hidden}",
           median_time(lambda: club.bound(hc, hr, b)), median_time(reference))


def prompt_free(n, k):
    rng = np.random.default_rng(2)
    gaps = rng.normal(0, 3, (n, k)).astype(np.float32)
    tg = torch.tensor(gaps, dtype=torch.float64)

    def reference():  # vectorized bisection to the same tolerance, in double
        lo, hi = tg.min(1).values, tg.max(1).values
        while (hi - lo).max() > 1e-6:
            mid = (lo + hi) / 2
            above = torch.sigmoid(tg - mid[:, None]).mean(1) > 0.5
            lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)

    report(f"prompt-free gap (Newton), n = {n:,}, K = {k}",
           median_time(lambda: dirrm.prompt_free_gap(gaps, weighting="uniform")), median_time(reference))


if __name__ == "__main__":
    torch.set_num_threads(2)
    dirrm.set_num_threads(2)
    print(f"dirrm {dirrm.__version__} ({dirrm.build_info()['blas']}), torch {torch.__version__}, "
          f"{os.cpu_count()} cores")
    bt_loss(1_000_000)
    club_bound(4096, 256, 1024)
    prompt_free(100_000, 8)
