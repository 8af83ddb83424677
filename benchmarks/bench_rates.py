"""The machine's own rates the benchmarks measure dirrm against: sgemm in dirrm's OpenBLAS and
in torch at the CLUB bound's shapes, and the copy bandwidth of memory."""

import ctypes

import numpy as np
import torch

import dirrm
from timing import median_seconds


def sgemm_rate(n, d, hidden, repeat):
    """torch.mm's GFLOP/s on the bound's two large products: (n×d)(d×h) and (n×h)(h×d)."""
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.normal(size=(n, d)).astype(np.float32))
    w = torch.tensor(rng.normal(size=(hidden, d)).astype(np.float32))
    dh = torch.tensor(rng.normal(size=(n, hidden)).astype(np.float32))

    def both():
        torch.mm(x, w.t())
        torch.mm(dh, w)

    return 4 * n * d * hidden / median_seconds(both, repeat) / 1e9


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

