"""Issue 23: the long commands (train, experiment, demo) draw a progress line with the elapsed
time and an ETA on stderr when stderr is a terminal (checked on a pseudo-terminal), never with
--quiet, and write nothing on stderr when it is not a terminal; stdout is the same either way."""

import os
import re
import time

import pytest

from cli_helpers import CLI, data_args, run_cli, run_on_pty, small_dataset

pytestmark = pytest.mark.skipif(not os.path.exists(CLI), reason="dirrm-cli is not built")

# Small runs of each long command: about a second each.
QUICK = {
    "experiment": ["experiment", "--seeds", 1, "--epochs", 1, "--prompt-count", 100],
    "demo": ["demo", "--seeds", 1, "--epochs", 1, "--prompt-count", 100],
}


def command(name, tmp_path):
    if name == "train":
        paths = small_dataset(str(tmp_path))
        return ["train", *data_args(paths), "--method", "dir", "--width", 16, "--epochs", 200,
                "--batch-size", 4, "--output", tmp_path / "model.bin"]
    if name == "demo":
        return [*QUICK["demo"], "--out", tmp_path / "out"]
    return QUICK[name]


def percents(screen):
    return [int(p) for p in re.findall(r"\] (\d+)%", screen)]


@pytest.mark.parametrize("name", ["train", "experiment", "demo"])
def test_progress_on_a_terminal_nothing_otherwise(tmp_path, name):
    args = command(name, tmp_path)
    status, stdout, screen = run_on_pty(*args)
    assert status == 0, screen
    # Redrawn in place (carriage returns), rising to 100%, with the time left, and ended on its
    # own line with the total time.
    seen = percents(screen)
    assert seen and seen == sorted(seen) and seen[-1] == 100, screen[-500:]
    assert "\r" in screen and "elapsed, ETA " in screen, screen[-500:]
    assert re.search(r"done in \d+:\d\d\s*\r?\n$", screen), screen[-300:]

    quiet_status, quiet_stdout, quiet_screen = run_on_pty(*args, "--quiet")
    assert quiet_status == 0 and quiet_screen == "", quiet_screen[-500:]

    piped = run_cli(*args)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr[-500:]
    # The progress line never reaches stdout (the numbers may carry timings: compare lines).
    assert len(stdout.splitlines()) == len(quiet_stdout.splitlines()) == len(piped.stdout.splitlines())
    assert "ETA" not in stdout + piped.stdout


def test_the_eta_counts_down_on_a_long_run(tmp_path):
    paths = small_dataset(str(tmp_path))
    started = time.monotonic()
    status, _, screen = run_on_pty("train", *data_args(paths), "--method", "dir", "--width", 16,
                                   "--epochs", 3000, "--batch-size", 4, "--output", tmp_path / "model.bin")
    assert status == 0, screen[-500:]
    if time.monotonic() - started < 1.0:
        pytest.skip("the training was too quick to estimate a time left")
    # Once half a second has passed the ETA is a time, m:ss, no longer --:--.
    estimates = re.findall(r"ETA (\d+):(\d\d)", screen)
    assert estimates, screen[-500:]
    assert all(0 <= int(s) < 60 for _, s in estimates)
