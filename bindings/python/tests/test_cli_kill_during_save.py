"""SIGKILL at any moment of `dirrm-cli train --output model.bin` leaves either the previous
model byte for byte or the complete new one, never a truncated or empty file.

Training is deterministic for a seed, so "complete" means byte-identical to an uninterrupted
run. The model is large (12 MB) and the data tiny, so the save is a sizeable part of each
run. A third of the kills land at random moments of the whole run, a third at random moments
after the progress bar ends (the save starts then), and a third within milliseconds of the
save's first change on disk."""

import glob
import os
import pty
import random
import select
import signal
import subprocess
import time

import pytest

from cli_helpers import CLI, run_cli, small_dataset

pytestmark = pytest.mark.skipif(not os.path.exists(CLI), reason="dirrm-cli is not built")

KILLS = 24


class Run:
    """One `train` child whose stderr is a terminal, so that it draws the progress bar."""

    def __init__(self, paths, output, seed):
        master, slave = pty.openpty()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [CLI, "train", "--prompts", paths["prompts"], "--responses", paths["responses"],
             "--pairs", paths["pairs"], "--width", "1024", "--depth", "4", "--seed", str(seed),
             "--output", output],
            stdout=subprocess.DEVNULL, stderr=slave, stdin=subprocess.DEVNULL)
        os.close(slave)
        self.master = master

    def wait_for_progress_end(self, timeout=30):
        """Returns once the bar's line ends (training is over, the save begins) or the child
        has exited."""
        seen = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    return
                if not chunk:
                    return
                seen += chunk
            elif self.process.poll() is not None:
                return

    def wait_for_write(self, target, timeout=30):
        """Returns as soon as the save touches the disk: a temporary file appears next to the
        target, or the target itself changes (as it does when written in place)."""
        before = os.stat(target)
        folder, name = os.path.split(target)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if any(entry.startswith("." + name + ".tmp-") for entry in os.listdir(folder)):
                return
            now = os.stat(target)
            if (now.st_ino, now.st_size, now.st_mtime_ns) != (before.st_ino, before.st_size, before.st_mtime_ns):
                return

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.finish()

    def finish(self):
        self.process.wait(timeout=60)
        os.close(self.master)
        return self.process.returncode


def complete_run(paths, output, seed):
    """An uninterrupted run: its model bytes, its duration and the time its save took."""
    run = Run(paths, output, seed)
    run.wait_for_progress_end()
    save_started = time.monotonic()
    assert run.finish() == 0
    ended = time.monotonic()
    with open(output, "rb") as f:
        return f.read(), ended - run.started, ended - save_started


def test_kill_during_save_keeps_the_old_or_the_new_model(tmp_path):
    paths = small_dataset(str(tmp_path))
    target = str(tmp_path / "model.bin")
    old, _, _ = complete_run(paths, target, seed=1)
    new, duration, save = complete_run(paths, str(tmp_path / "reference.bin"), seed=0)
    assert old != new
    evaluated = run_cli("evaluate", "--prompts", paths["prompts"], "--responses", paths["responses"],
                        "--pairs", paths["pairs"], "--model", tmp_path / "reference.bin")
    assert evaluated.returncode == 0 and "accuracy" in evaluated.stdout, evaluated.stderr
    rng = random.Random(0)
    outcomes = {"old": 0, "new": 0, "killed while writing": 0}
    for attempt in range(KILLS):
        with open(target, "wb") as f:
            f.write(old)
        run = Run(paths, target, seed=0)
        if attempt % 3 == 0:
            time.sleep(rng.uniform(0, duration))
        elif attempt % 3 == 1:
            run.wait_for_progress_end()
            time.sleep(rng.uniform(0, 1.2 * save))
        else:
            run.wait_for_write(target)
            time.sleep(rng.uniform(0, 0.005))
        run.kill()
        with open(target, "rb") as f:
            found = f.read()
        intact = found == old or found == new  # not in the assert: pytest would print 12 MB
        assert intact, (
            f"kill {attempt}: model.bin holds {len(found)} bytes, neither the old model ({len(old)}) "
            f"nor the new one ({len(new)})")
        outcomes["old" if found == old else "new"] += 1
        leftovers = glob.glob(str(tmp_path / ".model.bin.tmp-*"))
        if leftovers:
            outcomes["killed while writing"] += 1
        for path in leftovers:
            os.remove(path)
    print(f"\n{KILLS} kills, run {duration:.2f} s, save {save * 1000:.0f} ms: {outcomes}")
    # The schedule must have reached the save itself, or the test would prove nothing.
    assert outcomes["killed while writing"] >= 1, outcomes
    assert outcomes["old"] >= 1, outcomes


@pytest.mark.parametrize("output", ["folder", "missing/model.bin"])
def test_a_failed_save_names_the_path_and_leaves_no_temporary_file(tmp_path, output):
    paths = small_dataset(str(tmp_path))
    (tmp_path / "folder").mkdir()
    before = sorted(os.listdir(tmp_path))
    out = run_cli("train", "--prompts", paths["prompts"], "--responses", paths["responses"],
                  "--pairs", paths["pairs"], "--width", 8, "--output", tmp_path / output)
    assert out.returncode == 1 and str(tmp_path / output) in out.stderr, (out.returncode, out.stderr)
    assert sorted(os.listdir(tmp_path)) == before
    assert os.listdir(tmp_path / "folder") == []
