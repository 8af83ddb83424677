"""Loading libdirrm.so, its ctypes signatures, and turning status codes into exceptions.

Over 300 lines for one reason: the header's structs and signatures are mirrored in one table
here, the one place test_header_mirror compares with include/dirrm.h."""

from __future__ import annotations

import ctypes
import importlib
import os
import re
from ctypes import (
    POINTER,
    Structure,
    c_char_p,
    c_double,
    c_float,
    c_int32,
    c_int64,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Any, Optional

from ._errors import (  # noqa: F401  # the codes are part of _lib's namespace (the tests read them there)
    ERR_BUFFER_TOO_SMALL,
    ERR_CORRUPT,
    ERR_INTERNAL,
    ERR_INVALID_ARGUMENT,
    ERR_IO,
    ERR_MISUSE,
    ERR_NONFINITE,
    ERR_NOT_CONVERGED,
    ERR_NULL_POINTER,
    ERR_OUT_OF_MEMORY,
    ERR_SHAPE,
    ERR_VERSION,
    OK,
    DirrmError,
)

__all__ = ["lib", "check_call", "DirrmError", "library_path"]

_HERE = os.path.dirname(os.path.abspath(__file__))
# A source checkout: bindings/python/dirrm/ -> the repository root.
_TREE = os.path.normpath(os.path.join(_HERE, "..", "..", ".."))


_f32p = POINTER(c_float)
_i64p = POINTER(c_int64)
_i32p = POINTER(c_int32)
_u8p = POINTER(c_uint8)


class PfParams(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("weighting", c_int32),
        ("p", c_float),
        ("solver", c_int32),
        ("tolerance", c_float),
        ("max_iter", c_int32),
        ("r_min", c_float),
        ("r_max", c_float),
    ]


class ClubParams(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("bias_kind", c_int32),
        ("bias_dim", c_int32),
        ("hidden_dim", c_int32),
        ("pair_mode", c_int32),
        ("q_hidden", c_int32),
        ("fit_steps", c_int32),
        ("learning_rate", c_float),
        ("weight_decay", c_float),
        ("logvar_bound", c_float),
        ("seed", c_uint64),
    ]


class DirParams(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("lam", c_float),
        ("clip", c_int32),
        ("cap", c_int32),
        ("club", ClubParams),
    ]


class PrioritizerParams(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("cluster_method", c_int32),
        ("ema_weight", c_float),
        ("initial_threshold", c_float),
        ("reinsertion", c_int32),
        ("max_reinsertions", c_int32),
        ("shuffle", c_int32),
        ("seed", c_uint64),
    ]


class SynthParams(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("kind", c_int32),
        ("bias_ratio", c_float),
        ("num_prompts", c_int64),
        ("responses_per_prompt", c_int32),
        ("prompt_dim", c_int64),
        ("response_dim", c_int64),
        ("seed", c_uint64),
    ]


class ModelParams(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("prompt_dim", c_int64),
        ("response_dim", c_int64),
        ("width", c_int32),
        ("depth", c_int32),
        ("seed", c_uint64),
    ]


class TrainParams(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("method", c_int32),
        ("epochs", c_int32),
        ("batch_size", c_int32),
        ("learning_rate", c_float),
        ("weight_decay", c_float),
        ("dir", DirParams),
        ("bias_column", c_int32),
        ("pf_prompts", c_int32),
        ("pf_max_rounds", c_int32),
        ("pf", PfParams),
        ("prioritizer", PrioritizerParams),
        ("seed", c_uint64),
    ]


class EvalReport(Structure):
    _fields_ = [("struct_size", c_uint32), ("pairs", c_int64)] + [
        (name, c_float)
        for name in ("accuracy", "mean_gap", "gap_bias_pearson", "gap_bias_spearman",
                     "accuracy_bias_positive", "accuracy_bias_negative")
    ]


class AuditParams(Structure):
    _fields_ = [
        ("struct_size", c_uint32),
        ("bootstrap", c_int32),
        ("level", c_double),
        ("buckets", c_int32),
        ("club_steps", c_int32),
        ("club_batch", c_int32),
        ("q_hidden", c_int32),
        ("club_learning_rate", c_float),
        ("seed", c_uint64),
    ]


class AuditReport(Structure):
    _fields_ = [("struct_size", c_uint32), ("pairs", c_int64)] + [
        (name, c_double)
        for name in ("agreement", "spearman", "spearman_low", "spearman_high", "attribute_baseline",
                     "agreement_larger", "agreement_smaller", "agreement_equal")
    ] + [(name, c_int64) for name in ("pairs_larger", "pairs_smaller", "pairs_equal")] + [
        (name, c_double)
        for name in ("balanced_agreement", "coefficient", "intercept", "controlled_agreement",
                     "mutual_information")
    ] + [("num_buckets", c_int64)]


PROGRESS_FN = ctypes.CFUNCTYPE(c_int32, c_void_p, c_int64, c_int64, c_float, c_float, c_float)

class PrioritizerStats(Structure):
    _fields_ = [("struct_size", c_uint32)] + [
        (name, c_int64)
        for name in (
            "epoch", "step", "proposed", "accepted", "rejected", "reinserted", "dropped", "pool_remaining"
        )
    ] + [("threshold", c_float)]


_handle = c_void_p
_handle_out = POINTER(c_void_p)

# name: (restype, argtypes). The one place the C signatures are written down in Python.
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "dirrm_version_number": (c_int32, []),
    "dirrm_version_string": (c_char_p, []),
    "dirrm_build_info": (c_char_p, []),
    "dirrm_set_num_threads": (c_int32, [c_int32]),
    "dirrm_last_error": (c_char_p, []),
    "dirrm_status_string": (c_char_p, [c_int32]),
    "dirrm_bt_loss": (
        c_int32,
        [c_int64, _f32p, _f32p, _f32p, _f32p, c_float, _f32p, _f32p, _f32p],
    ),
    "dirrm_club_params_init": (None, [POINTER(ClubParams)]),
    "dirrm_club_create": (c_int32, [POINTER(ClubParams), _handle_out]),
    "dirrm_club_free": (c_int32, [_handle]),
    "dirrm_club_get_params": (c_int32, [_handle, POINTER(ClubParams)]),
    "dirrm_club_fit": (c_int32, [_handle, c_int64, _f32p, _f32p, _f32p, _f32p]),
    "dirrm_club_fit_begin": (c_int32, [_handle, c_int64, _f32p, _f32p, _f32p]),
    "dirrm_club_fit_finish": (c_int32, [_handle, _f32p]),
    "dirrm_club_log_prob": (c_int32, [_handle, c_int64, _f32p, _f32p, _f32p, _f32p]),
    "dirrm_club_stats_len": (c_int32, [_handle, _i64p]),
    "dirrm_club_bias_stats": (c_int32, [_handle, c_int64, _f32p, _f32p]),
    "dirrm_club_bound": (c_int32, [_handle, c_int64, _f32p, _f32p, _f32p, _f32p, _f32p, _f32p, _f32p]),
    "dirrm_club_num_weights": (c_int32, [_handle, _i64p]),
    "dirrm_club_get_weights": (c_int32, [_handle, _f32p, c_int64]),
    "dirrm_club_set_weights": (c_int32, [_handle, _f32p, c_int64]),
    "dirrm_club_save": (c_int32, [_handle, _u8p, c_int64, _i64p]),
    "dirrm_club_load": (c_int32, [_u8p, c_int64, _handle_out]),
    "dirrm_dir_params_init": (None, [POINTER(DirParams)]),
    "dirrm_dir_loss": (
        c_int32,
        [_handle, POINTER(DirParams), c_int64, _f32p, _f32p, _f32p, _f32p, _f32p, c_int32,
         _f32p, _f32p, _f32p, _f32p, _f32p, _f32p, _f32p],
    ),
    "dirrm_dir_cap": (c_int32, [c_int64, c_int64, _f32p, _f32p, _f32p, _f32p, _f32p]),
    "dirrm_dataset_create": (
        c_int32,
        [c_int64, c_int64, _f32p, c_int64, c_int64, _f32p, c_int64, _i64p, c_int64, _f32p, _handle_out],
    ),
    "dirrm_dataset_free": (c_int32, [_handle]),
    "dirrm_dataset_shape": (c_int32, [_handle, _i64p, _i64p, _i64p, _i64p, _i64p, _i64p]),
    "dirrm_dataset_copy": (c_int32, [_handle, _f32p, _f32p, _i64p, _f32p]),
    "dirrm_synth_params_init": (None, [POINTER(SynthParams)]),
    "dirrm_synth_generate": (c_int32, [POINTER(SynthParams), _handle_out, _handle_out]),
    "dirrm_model_params_init": (None, [POINTER(ModelParams)]),
    "dirrm_model_create": (c_int32, [POINTER(ModelParams), _handle_out]),
    "dirrm_model_free": (c_int32, [_handle]),
    "dirrm_model_shape": (c_int32, [_handle, _i64p, _i64p, _i32p, _i32p]),
    "dirrm_model_score": (c_int32, [_handle, c_int64, _f32p, _f32p, _f32p, _f32p]),
    "dirrm_model_save": (c_int32, [_handle, _u8p, c_int64, _i64p]),
    "dirrm_model_load": (c_int32, [_u8p, c_int64, _handle_out]),
    "dirrm_train_params_init": (None, [POINTER(TrainParams)]),
    "dirrm_train": (c_int32, [_handle, _handle, POINTER(TrainParams), PROGRESS_FN, c_void_p]),
    "dirrm_evaluate": (c_int32, [_handle, _handle, c_int32, POINTER(EvalReport)]),
    "dirrm_audit_params_init": (None, [POINTER(AuditParams)]),
    "dirrm_audit": (
        c_int32,
        [POINTER(AuditParams), c_int64, _f32p, _f32p, _f32p, _f32p, c_int64, _f32p, _f32p, POINTER(AuditReport),
         POINTER(c_double), POINTER(c_double), _i64p, POINTER(c_double)],
    ),
    "dirrm_pf_params_init": (None, [POINTER(PfParams)]),
    "dirrm_pf_gap": (
        c_int32,
        [POINTER(PfParams), c_int64, c_int64, _f32p, _i64p, _f32p, _f32p, _f32p, _i32p],
    ),
    "dirrm_pf_normalize": (c_int32, [c_int64, _f32p, _f32p, _f32p]),
    "dirrm_pf_sample_prompts": (c_int32, [c_int64, c_int64, c_int64, _i64p, c_uint64, _i64p]),
    "dirrm_cluster_threshold": (c_int32, [c_int64, _f32p, c_int32, _f32p]),
    "dirrm_prioritizer_params_init": (None, [POINTER(PrioritizerParams)]),
    "dirrm_prioritizer_create": (c_int32, [POINTER(PrioritizerParams), c_int64, _handle_out]),
    "dirrm_prioritizer_free": (c_int32, [_handle]),
    "dirrm_prioritizer_propose": (c_int32, [_handle, c_int64, _i64p, _i64p]),
    "dirrm_prioritizer_decide": (c_int32, [_handle, c_int64, _i64p, _f32p, _u8p]),
    "dirrm_prioritizer_observe": (c_int32, [_handle, c_int64, _f32p]),
    "dirrm_prioritizer_end_step": (c_int32, [_handle, _f32p]),
    "dirrm_prioritizer_num_samples": (c_int32, [_handle, _i64p]),
    "dirrm_prioritizer_get_stats": (c_int32, [_handle, POINTER(PrioritizerStats)]),
    "dirrm_prioritizer_save": (c_int32, [_handle, _u8p, c_int64, _i64p]),
    "dirrm_prioritizer_load": (c_int32, [_u8p, c_int64, _handle_out]),
}


def _expected_version() -> tuple[int, int]:
    """The major.minor this package must run with.

    An installed package carries _version.py, written at build time from include/dirrm.h; a
    source checkout reads the header itself. Either way the header is the one source.
    """
    try:
        version = str(importlib.import_module(f"{__package__}._version").VERSION)
    except ImportError:
        header = os.path.join(_TREE, "include", "dirrm.h")
        try:
            with open(header) as file:
                text = file.read()
        except OSError:
            raise ImportError(
                f"dirrm: this package has no _version.py (it was not built by setup.py) and sits in no "
                f"source tree ({header} not found); install it with `pip install ./bindings/python`"
            ) from None
        found = [re.search(rf"^#define DIRRM_VERSION_{name} (\d+)$", text, re.M) for name in ("MAJOR", "MINOR")]
        version = ".".join(match.group(1) for match in found if match)
        if version.count(".") != 1:
            raise ImportError(f"dirrm: {header} lacks DIRRM_VERSION_MAJOR/MINOR")
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def _find_library() -> str:
    """$DIRRM_LIBRARY, else the copy inside this package, else the source tree's build folder."""
    explicit = os.environ.get("DIRRM_LIBRARY")
    if explicit:
        return explicit
    candidates = [
        os.path.join(_HERE, "libdirrm.so"),
        os.path.join(_TREE, ".build", "release", "libdirrm.so"),
    ]
    for path in candidates:
        if os.path.exists(path):
            return os.path.normpath(path)
    raise ImportError(
        "libdirrm.so not found: install the package (`pip install ./bindings/python`), build it in the "
        "source tree with `make build`, or set DIRRM_LIBRARY to its path "
        f"(looked in: {', '.join(os.path.normpath(p) for p in candidates)})"
    )


_path: Optional[str] = None


def library_path() -> str:
    """The path of the libdirrm.so this process loaded.

    Returns
    -------
    str
        The file ctypes opened: $DIRRM_LIBRARY if set, else the copy inside this package, else
        the source tree's ``.build/release/libdirrm.so``.
    """
    return _path if _path is not None else _find_library()


def _load() -> ctypes.CDLL:
    global _path
    path = _find_library()
    library = ctypes.CDLL(path)
    for name, (restype, argtypes) in _SIGNATURES.items():
        function = getattr(library, name)
        function.restype = restype
        function.argtypes = argtypes
    # The version string, not the number: the number's formula lives in the header alone.
    text = library.dirrm_version_string().decode()
    found = tuple(int(part) for part in text.split(".")[:2])
    expected = _expected_version()
    if found != expected:
        raise ImportError(
            f"libdirrm {text} at {path} does not "
            f"match the Python package (expects {expected[0]}.{expected[1]}.x)"
        )
    _path = path
    return library


lib = _load()


def check_call(status: int) -> None:
    """Raises the DirrmError of a non-zero status (its subclass, see dirrm._errors), with this
    thread's last error message: the one bridge from a status to an exception.

    Parameters
    ----------
    status : int
        A dirrm_* function's return value.

    Raises
    ------
    DirrmError
        If `status` is not DIRRM_OK: ShapeError, InvalidArgumentError, ... by the status.
    """
    if status != OK:
        raise DirrmError(status, lib.dirrm_last_error().decode("utf-8", "replace"))
