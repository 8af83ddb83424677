"""One side of benchmarks/bench.py's peak-memory row, in a process of its own: one DIR step
(q fitted by fit_steps AdamW steps, then the CLUB bound and its input gradients) on a
categorical q created inside the measured window, by dirrm or by torch.

    python3 benchmarks/peak_memory.py {dirrm,torch} N D HIDDEN WEIGHTS OUT

Prints one line of JSON: the resident set size before the step (after the imports and the
inputs) and the peak increase over it, in bytes. The peak is the kernel's high-water mark
(VmHWM), reset at the start of the window through /proc/self/clear_refs. WEIGHTS holds
dirrm.Club(D, q_hidden=HIDDEN, seed=0)'s initial weights as raw float32, which the torch side
reads straight into its parameters (no temporary copy), so that both sides compute the same
numbers; OUT (.npz) receives the bound and the gradients after the measurement, for the parent
to compare.
"""

import gc
import json
import os
import sys

import numpy as np
import torch

import dirrm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_refs as refs  # noqa: E402


def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise SystemExit(f"peak_memory: no {field} in /proc/self/status")


def main():
    side, n, d, hidden, weights, out = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5], sys.argv[6]
    torch.set_num_threads(2)
    dirrm.set_num_threads(2)
    hc, hr, b = refs.club_batch(n, d)
    thc, thr = torch.from_numpy(hc).requires_grad_(True), torch.from_numpy(hr).requires_grad_(True)
    tb = torch.from_numpy(b).long()
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    base = status("VmRSS")
    if side == "dirrm":
        club = dirrm.Club(d, q_hidden=hidden, seed=0)
        club.fit(hc, hr, b)
        result = club.bound(hc, hr, b)
    else:
        q = refs.TorchQ(None, d, hidden)
        with open(weights, "rb") as f, torch.no_grad():
            for p in q.parameters():
                f.readinto(memoryview(p.numpy()).cast("B"))
        optimizer = torch.optim.AdamW(q.parameters(), lr=1e-4, weight_decay=0.01)
        q.fit(optimizer, thc.detach(), thr.detach(), tb, steps=5)
        result = q.bound_and_grads(thc, thr, tb)
    peak = status("VmHWM")
    np.savez(out, bound=result[0], grad_chosen=result[1], grad_rejected=result[2])
    print(json.dumps({"base": base, "increase": peak - base}))


if __name__ == "__main__":
    main()
