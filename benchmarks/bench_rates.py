"""The machine's own rates the benchmarks measure dirrm against: sgemm at the CLUB bound's shapes
in dirrm's OpenBLAS (with the kernels in use and with those of the CPU's class) and in torch, and
the copy bandwidth of memory.

    python3 benchmarks/bench_rates.py SHAPES_JSON REPEAT   # (the class-kernel child) seconds per shape
"""

import ctypes
import json
import os
import subprocess
import sys

import numpy as np
import torch

import dirrm
from timing import median_seconds


_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112



def openblas():
    """The OpenBLAS dirrm links (the same handle: the loader shares the library)."""
    blas = ctypes.CDLL("libopenblas.so.0")
    blas.cblas_sgemm.restype = None
    blas.cblas_sgemm.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int,
                                                      ctypes.c_void_p, ctypes.c_int, ctypes.c_float,
                                                      ctypes.c_void_p, ctypes.c_int]
    return blas


def sgemm_seconds(m, n, k, trans_a, trans_b, repeat):
    """Median time of one row-major cblas_sgemm C(m×n) = op(A) op(B), inner size k, in
    dirrm's OpenBLAS on dirrm's thread count: OpenBLAS's own threads for the measurement,
    then back to one thread, as dirrm runs it (dirrm splits products over its own pool)."""
    blas = openblas()
    blas.openblas_set_num_threads(dirrm.build_info()["threads"])
    try:
        return _sgemm_median(blas, m, n, k, trans_a, trans_b, repeat)
    finally:
        blas.openblas_set_num_threads(1)


def _sgemm_median(blas, m, n, k, trans_a, trans_b, repeat):
    rng = np.random.default_rng(6)
    a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.normal(size=(n, k) if trans_b else (k, n)).astype(np.float32)
    c = np.zeros((m, n), np.float32)
    args = (_ROW_MAJOR, _TRANS if trans_a else _NO_TRANS, _TRANS if trans_b else _NO_TRANS, m, n, k, 1.0,
            a.ctypes.data, a.shape[1], b.ctypes.data, b.shape[1], 0.0, c.ctypes.data, n)
    return median_seconds(lambda: blas.cblas_sgemm(*args), repeat)


def torch_mm_seconds(m, n, k, trans_a, trans_b, repeat):
    """Median time of torch.mm on the same product as sgemm_seconds (torch's own threads)."""
    rng = np.random.default_rng(6)
    a = torch.tensor(rng.normal(size=(k, m) if trans_a else (m, k)).astype(np.float32))
    b = torch.tensor(rng.normal(size=(n, k) if trans_b else (k, n)).astype(np.float32))
    a, b = (a.t() if trans_a else a), (b.t() if trans_b else b)
    return median_seconds(lambda: torch.mm(a, b), repeat)


def class_kernel_seconds(shapes, repeat):
    """sgemm_seconds of each (m, n, k, trans_a, trans_b) in shapes with OpenBLAS's kernels of
    this CPU's class (build_info's cpu_blas_core), measured in a child process that sets
    OPENBLAS_CORETYPE (OpenBLAS reads it when it loads); the in-use kernels' seconds when those
    are the class's already, None when the class has no kernels of its own (below AVX)."""
    info = dirrm.build_info()
    core = info["cpu_blas_core"]
    if not core:
        return None
    if info["blas_core"] == core:
        return [sgemm_seconds(*shape, repeat) for shape in shapes]
    out = subprocess.run([sys.executable, os.path.abspath(__file__), json.dumps(shapes), str(repeat)],
                         env={**os.environ, "OPENBLAS_CORETYPE": core}, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def gemm_rates(n, d, hidden, counts, repeat):
    """The products of q's first layer that `counts` names ({"forward": k, ...}, club_gemms),
    timed one by one: their FLOPs and their total seconds in dirrm's OpenBLAS with the kernels
    in use ("in use"), with the CPU class's kernels ("class", None without), and in torch.mm."""
    shapes = club_gemms(n, d, hidden)
    names = list(counts)
    flops = sum(counts[k] * 2 * shapes[k][0] * shapes[k][1] * shapes[k][2] for k in names)
    total = lambda seconds: sum(counts[k] * t for k, t in zip(names, seconds))  # noqa: E731
    class_seconds = class_kernel_seconds([shapes[k] for k in names], repeat)
    return flops, {
        "in use": total(sgemm_seconds(*shapes[k], repeat) for k in names),
        "class": None if class_seconds is None else total(class_seconds),
        "torch.mm": total(torch_mm_seconds(*shapes[k], repeat) for k in names),
    }


def club_gemms(n, d, hidden):
    """The large products of q's first layer (X: n×d, W1: hidden×d) as (m, n, k, trans_a,
    trans_b): the forward X W1ᵀ, the input gradient dZ W1, the weight gradient dZᵀ X."""
    return {"forward": (n, hidden, d, False, True), "input_grad": (n, d, hidden, False, False),
            "weight_grad": (hidden, d, n, True, False)}


BANDWIDTH_MIB = 256


def bandwidth(repeat, mib=BANDWIDTH_MIB):
    """Copy bandwidth in bytes/s (bytes read + bytes written per second) of a large float32
    array: numpy's copy (one thread) and torch's copy_ (its threads); the larger is returned
    with both."""
    src = np.ones(mib * 2**20 // 4, np.float32)
    dst = np.zeros_like(src)
    tsrc, tdst = torch.from_numpy(src), torch.from_numpy(dst)
    rates = {}
    for name, fn in (("numpy copy", lambda: np.copyto(dst, src)), ("torch copy_", lambda: tdst.copy_(tsrc))):
        rates[name] = 2 * src.nbytes / median_seconds(fn, repeat)
    best = max(rates, key=rates.get)
    return rates[best], best, rates


def adamw_bytes(count):
    """Memory traffic of one AdamW step over `count` float32 parameters: read p, g, m, v and
    write p, m, v."""
    return 7 * 4 * count



if __name__ == "__main__":
    print(json.dumps([sgemm_seconds(*shape, int(sys.argv[2])) for shape in json.loads(sys.argv[1])]))
