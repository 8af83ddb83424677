#!/usr/bin/env python3
"""dirrm's AdamW arithmetic against torch.optim.AdamW's, element by element.

Usage::

    python3 benchmarks/adamw_vs_torch.py [--swift]

dirrm's pass (``dirrm_adamw_step``, Sources/SIMDKernels/simd_kernels.c) computes each element
in float32 as torch's single-tensor AdamW does on x86: lerp_ and addcmul_ as fused
multiply-adds, addcdiv_ as ``p + (value·m) / d``. This script runs ``torch.optim.AdamW(...,
foreach=False)`` for 20 steps on 65,536 elements and prints the share of p, m and v whose bits
differ from a numpy transcription of dirrm's order (and, for comparison, of the same operations
each rounded on its own). The transcription emulates a float32 fused multiply-add in float64
(exact product, one rounding to double, one to float), which can differ from a true fma in
about one case in 2^29. dirrm takes lr and weight decay as float32, so torch is given those
floats' values.

``--swift`` prints the fixed case AdamWTests.testTorchsOwnBits checks instead: 13 elements
(a block of eight and a partial one), four steps, torch's p, m and v after each as float32 bit
patterns.
"""

from __future__ import annotations

import argparse

import numpy as np
import numpy.typing as npt
import torch

F32 = np.float32
Array = npt.NDArray[np.float32]


def fma(a: Array | np.float32, b: Array, c: Array) -> Array:
    """a·b + c rounded once to float32 (via float64; see the module notes)."""
    return (np.float64(a) * np.float64(b) + np.float64(c)).astype(F32)


def dirrm_step(p: Array, m: Array, v: Array, g: Array, step: int, lr: float, wd: float,
               fused: bool = True) -> tuple[Array, Array, Array]:
    """One element-wise AdamW step in dirrm's order (``fused=False``: every operation rounded
    on its own). ``lr`` and ``wd`` are the float32 values as doubles, as dirrm computes the
    step's scalars in double from them."""
    decay = F32(1 - lr * wd)
    step_size = F32(-(lr / (1 - 0.9 ** step)))
    root = F32((1 - 0.999 ** step) ** 0.5)
    decayed = p * decay
    if fused:
        m1 = fma(F32(1 - 0.9), g - m, m)
        v1 = fma(F32(1 - 0.999) * g, g, v * F32(0.999))
    else:
        m1 = m + F32(1 - 0.9) * (g - m)
        v1 = v * F32(0.999) + F32(1 - 0.999) * g * g
    denominator = np.sqrt(v1) / root + F32(1e-8)
    return decayed + (step_size * m1) / denominator, m1, v1


def torch_steps(p0: Array, gradients: list[Array], lr: float, wd: float) -> list[tuple[Array, Array, Array]]:
    """torch.optim.AdamW (single-tensor path, one thread): p, m and v after each step."""
    torch.set_num_threads(1)
    p = torch.tensor(p0.copy(), requires_grad=True)
    optimizer = torch.optim.AdamW([p], lr=lr, weight_decay=wd, foreach=False)
    states = []
    for g in gradients:
        p.grad = torch.tensor(g)
        optimizer.step()
        state = optimizer.state[p]
        states.append((p.detach().numpy().copy(), state["exp_avg"].numpy().copy(),
                       state["exp_avg_sq"].numpy().copy()))
    return states


def agreement() -> None:
    rng = np.random.default_rng(0)
    n, steps = 1 << 16, 20
    lr, wd = float(F32(1e-3)), float(F32(0.01))
    p0 = rng.normal(size=n).astype(F32)
    gradients = [(rng.normal(size=n) * 10.0 ** rng.integers(-8, 1, size=n)).astype(F32) for _ in range(steps)]
    want = torch_steps(p0, gradients, lr, wd)[-1]
    print(f"torch {torch.__version__}, {n} elements, {steps} steps, lr {lr:.9g}, weight decay {wd:.9g}")
    for fused, name in ((True, "dirrm's order (fused lerp and addcmul)"), (False, "every operation rounded alone")):
        p, m, v = p0.copy(), np.zeros(n, F32), np.zeros(n, F32)
        for step, g in enumerate(gradients, 1):
            p, m, v = dirrm_step(p, m, v, g, step, lr, wd, fused)
        shares = [float(np.mean(a.view(np.uint32) != b.view(np.uint32))) for a, b in zip(want, (p, m, v))]
        print(f"{name}: bits differ in p {shares[0]:.4%}, m {shares[1]:.4%}, v {shares[2]:.4%}")


def swift_case() -> None:
    n, steps = 13, 4
    lr, wd = float(F32(1e-3)), float(F32(0.01))
    i = np.arange(n)
    p0 = ((i - 18) / 8).astype(F32)
    gradients = [(((i * 7 + s * 13) % 23 - 11) / 16 * 10.0 ** -(i % 5)).astype(F32) for s in range(steps)]
    states = torch_steps(p0, gradients, lr, wd)

    def literal(a: Array) -> str:
        return "[" + ", ".join(f"0x{x:08x}" for x in a.view(np.uint32)) + "]"

    print(f"// benchmarks/adamw_vs_torch.py --swift, torch {torch.__version__}")
    print(f"let start: [UInt32] = {literal(p0)}")
    print("let gradients: [[UInt32]] = [")
    for g in gradients:
        print(f"  {literal(g)},")
    print("]")
    for name, k in (("p", 0), ("m", 1), ("v", 2)):
        print(f"let torch{name.upper()}: [[UInt32]] = [")
        for state in states:
            print(f"  {literal(state[k])},")
        print("]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swift", action="store_true", help="print AdamWTests' fixed torch case")
    args = parser.parse_args()
    swift_case() if args.swift else agreement()


if __name__ == "__main__":
    main()
