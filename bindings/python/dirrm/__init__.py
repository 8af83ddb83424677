"""dirrm: information-theoretic debiasing for reward models (Python binding of libdirrm).

Every failing call raises DirrmError, carrying the status code and the message; its subclass
names the family of the status (ShapeError, InvalidArgumentError, ... see docs/abi.md §2), and
those for a caller's mistake in the arguments are ValueErrors too.
"""

from __future__ import annotations

import json
from typing import Any

from ._errors import (
    DirrmError,
    FormatError,
    InvalidArgumentError,
    MisuseError,
    NonFiniteError,
    NotConvergedError,
    OutOfMemoryError,
    ShapeError,
)
from ._lib import check_call, lib, library_path
from .club import Club, DirLoss, DirPolicy, dir_cap, dir_loss, dir_policy
from .loss import bt_loss
from .audit import Audit, AttributeAudit, AuditBucket, audit
from .model import Dataset, DatasetArrays, RewardModel, synth
from .prompt_free import (Prioritizer, PromptFreeGap, cluster_threshold, normalize_dr2, prompt_free_gap,
                          sample_prompts)

__version__: str = lib.dirrm_version_string().decode()

__all__ = [
    "DirrmError",
    "InvalidArgumentError",
    "ShapeError",
    "NonFiniteError",
    "OutOfMemoryError",
    "MisuseError",
    "NotConvergedError",
    "FormatError",
    "bt_loss",
    "audit",
    "Audit",
    "AttributeAudit",
    "AuditBucket",
    "Dataset",
    "DatasetArrays",
    "synth",
    "RewardModel",
    "Club",
    "dir_loss",
    "dir_cap",
    "dir_policy",
    "DirLoss",
    "DirPolicy",
    "prompt_free_gap",
    "normalize_dr2",
    "PromptFreeGap",
    "sample_prompts",
    "cluster_threshold",
    "Prioritizer",
    "build_info", "set_num_threads", "library_path"]


def build_info() -> dict[str, Any]:
    """The library's build description.

    Returns
    -------
    dict
        "version" (str), "blas" (str, OpenBLAS's build string), "blas_core" (str, the
        OpenBLAS kernels in use), "blas_core_chosen_by" (str: "openblas",
        "OPENBLAS_CORETYPE", "dirrm" or "fixed"), "blas_core_replaced" (str, OpenBLAS's
        fallback dirrm replaced, or ""), "cpu_simd" (str: "sse", "avx", "avx2", "avx512"),
        "cpu_blas_core" (str, the kernels of that class: "SkylakeX", "Haswell",
        "Sandybridge" or ""), "simd_kernels" (str, the variant of dirrm's own vector kernels:
        "sse", "avx2" or "avx512"), "pf_exp" (str, "vector" or "libm": how prompt_free_gap
        computes its exponentials, with the same bits either way), "threads" (int, dirrm's
        thread count now) and "compiler" (str). See dirrm.h.
    """
    info: dict[str, Any] = json.loads(lib.dirrm_build_info().decode())
    return info


def set_num_threads(num_threads: int) -> None:
    """Sets how many threads dirrm's calls may use, the caller's included (process-wide).

    dirrm's helper threads sleep as soon as a call's work is done, so they leave the cores
    to torch between calls; OpenBLAS runs single-threaded inside them. The default is the
    number of online cores.

    Parameters
    ----------
    num_threads : int
        In [1, 1024].
    """
    check_call(lib.dirrm_set_num_threads(int(num_threads)))
