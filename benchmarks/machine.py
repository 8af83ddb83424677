"""What the benchmarks' reports say about where they ran: the CPU, the system, the libraries
and the commit, read in one place."""

from __future__ import annotations

import os
import platform
import subprocess

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def cpu_models() -> list[str]:
    """The model name of each logical CPU in /proc/cpuinfo; empty if it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        return []


def cpu_name() -> str:
    """'MODEL x COUNT' (the cache index of benchmarks/real/embed.py), or 'unknown'."""
    names = cpu_models()
    return f"{names[0]} x {len(names)}" if names else "unknown"


def one_line() -> str:
    """CPU model and count, OS, Python, numpy and dirrm versions, on one line (the real-text
    benchmark's report)."""
    import numpy as np

    import dirrm

    names = cpu_models()
    cpu = f"{names[0]}, {len(names)} logical CPUs" if names else "unknown CPU"
    return (f"{cpu}; {platform.system()} {platform.release()}; Python {platform.python_version()}, "
            f"numpy {np.__version__}; dirrm {getattr(dirrm, '__version__', '?')}")


def bench_lines() -> list[str]:
    """The Markdown list benchmarks/bench.py's report opens with: CPU, dirrm's build and BLAS
    (with the OpenBLAS kernel in use), the OpenBLAS environment, both sides' threads and
    versions."""
    import ctypes

    import numpy as np
    import torch

    import dirrm

    names = cpu_models()
    model = names[0] if names else "unknown"
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


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, one decimal each."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def git_commit() -> str:
    """The repository's HEAD commit (short), with '+dirty' for uncommitted changes, or 'unknown'."""
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
