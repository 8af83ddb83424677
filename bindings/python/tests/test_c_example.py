"""The C example, built by `make examples` with the system compiler, agrees with numpy."""

import os
import subprocess

import numpy as np

from conftest import REPO
from test_bt_loss import reference


def test_bt_loss_example_runs_and_agrees():
    exe = os.path.join(REPO, ".build", "examples", "bt_loss")
    out = subprocess.run([exe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    loss = float(next(l.split()[1] for l in lines if l.startswith("loss ")))
    rc = [1.5, 0.2, -0.3, 2.0]
    rr = [0.5, 0.4, -1.0, 2.5]
    margin = [0.0, 0.1, 0.0, 0.5]
    want = reference(np.float32(rc), np.float32(rr), np.float32(margin), None, np.float64(np.float32(0.01)))
    assert abs(loss - want) <= 1e-6 * want
    assert any("status 4" in l and "r_chosen[1]" in l for l in lines)
