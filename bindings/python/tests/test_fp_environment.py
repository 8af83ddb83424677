"""The caller's floating-point environment is an input: dirrm runs every exported call in the
default environment and gives the caller's back (Sources/DirRM/FloatingPointEnvironment.swift).
Traps enabled by the caller must not turn dirrm's own NaN checks into SIGFPE, and
flush-to-zero must not change results."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dirrm

TRAPPING = textwrap.dedent(
    """
    import ctypes, sys
    import numpy as np
    import dirrm

    libm = ctypes.CDLL("libm.so.6")
    FE_INVALID, FE_DIVBYZERO, FE_OVERFLOW, FE_ALL_EXCEPT = 0x01, 0x04, 0x08, 0x3D
    libm.feenableexcept(FE_INVALID | FE_DIVBYZERO | FE_OVERFLOW)
    libm.feclearexcept(FE_ALL_EXCEPT)
    x = np.array([np.inf, 1.0], np.float32)
    try:
        dirrm.bt_loss(x, np.ones(2, np.float32))
        sys.exit("an infinite reward was accepted")
    except dirrm.DirrmError:
        pass
    # AdamW's overflow path: a step so large that q's new values would not be finite.
    rng = np.random.default_rng(0)
    h = rng.normal(size=(32, 4)).astype(np.float32)
    b = rng.normal(size=32).astype(np.float32)
    club = dirrm.Club(4, seed=1, bias_kind="gaussian", learning_rate=1e38)
    try:
        club.fit(h, 0.5 * h, b)
    except dirrm.DirrmError:
        pass
    gaps = np.array([[1e30, -1e30, 0.0, 3.0]], np.float32)
    chosen, rejected = np.array([100.0, 0.5], np.float32), np.array([0.0, 0.25], np.float32)
    libm.feclearexcept(FE_ALL_EXCEPT)
    dirrm.prompt_free_gap(gaps)
    dirrm.bt_loss(chosen, rejected)
    print(hex(libm.fegetexcept()), libm.fetestexcept(FE_ALL_EXCEPT))
    """
)


def test_traps_the_caller_enabled_do_not_fire_inside_dirrm_and_stay_enabled() -> None:
    # A child process: a trap that fires kills it with SIGFPE, not the test run.
    done = subprocess.run([sys.executable, "-c", TRAPPING], env=dict(os.environ), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-2000:])
    traps, flags = done.stdout.split()
    assert traps == "0xd"  # the caller's traps, as it set them
    assert flags == "0"  # and none of dirrm's exception flags leak into the caller's


def test_flush_to_zero_in_the_caller_does_not_change_results() -> None:
    torch = pytest.importorskip("torch")
    # σ(−100) ≈ 3.7e-44 is subnormal in float32: the gradients of these pairs are subnormal.
    chosen = np.array([100.0, 0.0, 2.0], np.float32)
    rejected = np.array([0.0, 0.5, -1.0], np.float32)
    want = dirrm.bt_loss(chosen, rejected)
    assert want[1][0] != 0 and abs(want[1][0]) < np.finfo(np.float32).tiny
    assert torch.set_flush_denormal(True)
    try:
        got = dirrm.bt_loss(chosen, rejected)
    finally:
        torch.set_flush_denormal(False)
    assert want[0] == got[0]
    for a, b in zip(want[1:], got[1:]):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))
