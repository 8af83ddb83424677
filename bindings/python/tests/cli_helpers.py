"""Running the built dirrm-cli as a child process, and writing .npy files byte by byte."""

import os
import select
import struct
import subprocess
import time

import numpy as np

from conftest import REPO

# DIRRM_CLI lets the same tests run against another build (e.g. an older commit's binary).
CLI = os.environ.get("DIRRM_CLI", os.path.join(REPO, ".build", "release", "dirrm-cli"))


def run_cli(*args, timeout=60, **kwargs):
    return subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, **kwargs)


def run_on_pty(*args, timeout=60):
    """Runs the CLI with stderr on a pseudo-terminal (stdout a pipe); returns the exit status,
    stdout and everything written to the terminal."""
    controller, terminal = os.openpty()
    try:
        child = subprocess.Popen([CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=terminal,
                                 stdin=subprocess.DEVNULL)
    finally:
        os.close(terminal)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.5)
            if not ready:
                if child.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(controller, 65536)
            except OSError:   # EIO: the child closed its end
                break
            if not chunk:
                break
            seen += chunk
        stdout = child.communicate(timeout=max(deadline - time.monotonic(), 1))[0]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(controller)
    return child.returncode, stdout.decode(), seen.decode(errors="replace")


def raw_npy(path, descr="<f4", shape="(2,)", data=b"", version=1, header=None, length=None):
    """A .npy file with any header text, declared header length and data, valid or not."""
    text = header if header is not None else "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    body = text.encode()
    prefix_size = 10 if version == 1 else 12
    body += b" " * ((64 - (prefix_size + len(body) + 1) % 64) % 64) + b"\n"
    declared = len(body) if length is None else length
    size = struct.pack("<H", declared) if version == 1 else struct.pack("<I", declared)
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY" + bytes([version, 0]) + size + body + data)
    return path


def data_args(paths, bias=True):
    """The --prompts, --responses, --pairs (and --bias) options of a small_dataset."""
    names = ("prompts", "responses", "pairs") + (("bias",) if bias else ())
    return [item for name in names for item in (f"--{name}", paths[name])]


def small_dataset(folder, prompts=8, responses=16, pairs=32, dim=4, seed=0):
    """A tiny valid dataset; returns the paths of prompts, responses, pairs and bias."""
    rng = np.random.default_rng(seed)
    paths = {name: os.path.join(folder, name + ".npy") for name in ("prompts", "responses", "pairs", "bias")}
    np.save(paths["prompts"], rng.standard_normal((prompts, dim)).astype(np.float32))
    np.save(paths["responses"], rng.standard_normal((responses, dim)).astype(np.float32))
    rows = [[i % prompts, (2 * i) % responses, (2 * i + 1) % responses] for i in range(pairs)]
    np.save(paths["pairs"], np.array(rows, dtype=np.int64))
    np.save(paths["bias"], rng.standard_normal(pairs).astype(np.float32))
    return paths
