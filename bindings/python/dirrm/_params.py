"""Parameter structs filled the library's way: its _params_init, then the fields the caller set.

A keyword that fills a struct field defaults to None, meaning the library's default: the value
the struct's _params_init writes (documented in dirrm.h beside each field). The binding states
no default of its own.
"""

from __future__ import annotations

import ctypes
from ctypes import Structure, c_float, c_double, c_uint64
from typing import Any, Optional, TypeVar, overload

from ._errors import ERR_INVALID_ARGUMENT, DirrmError
from ._lib import (
    AuditParams,
    ClubParams,
    DirParams,
    ModelParams,
    PfParams,
    PrioritizerParams,
    SynthParams,
    TrainParams,
    lib,
)

__all__ = ["INIT", "defaults", "filled", "overridden", "choice", "name_of", "flag"]

# Each parameter struct and the function that fills it with the library's defaults.
INIT: dict[type[Structure], str] = {
    AuditParams: "dirrm_audit_params_init",
    ClubParams: "dirrm_club_params_init",
    DirParams: "dirrm_dir_params_init",
    PfParams: "dirrm_pf_params_init",
    PrioritizerParams: "dirrm_prioritizer_params_init",
    SynthParams: "dirrm_synth_params_init",
    ModelParams: "dirrm_model_params_init",
    TrainParams: "dirrm_train_params_init",
}

_S = TypeVar("_S", bound=Structure)


def defaults(kind: type[_S]) -> _S:
    """A new `kind` struct as its _params_init fills it."""
    struct = kind()
    getattr(lib, INIT[kind])(ctypes.byref(struct))
    return struct


def filled(kind: type[_S], /, **fields: Any) -> _S:
    """A `kind` struct with the library's defaults, then every field of `fields` that is not None
    (`kind` is positional, so that a struct may have a field named kind).

    Values are converted to the field's C type as int() or float() do; a uint64 (a seed) is
    taken modulo 2**64.
    """
    return overridden(defaults(kind), **fields)


def overridden(struct: _S, /, **fields: Any) -> _S:
    """`struct` (changed in place and returned) with every field of `fields` that is not None,
    converted as `filled` does: for a nested struct whose defaults come from its parent's
    _params_init (e.g. DirParams.club)."""
    types = dict((name, ctype) for name, ctype, *_ in type(struct)._fields_)
    for name, value in fields.items():
        if value is None:
            continue
        ctype = types[name]   # a KeyError here is a bug in the binding, not the caller's error
        if ctype in (c_float, c_double):
            value = float(value)
        elif ctype is c_uint64:
            value = int(value) & (2**64 - 1)
        else:
            value = int(value)
        setattr(struct, name, value)
    return struct


@overload
def choice(table: dict[str, int], value: str, name: str) -> int: ...
@overload
def choice(table: dict[str, int], value: Optional[str], name: str) -> Optional[int]: ...


def choice(table: dict[str, int], value: Optional[str], name: str) -> Optional[int]:
    """The C constant a name stands for; None stays None (the library's default)."""
    if value is None:
        return None
    if value not in table:
        raise DirrmError(ERR_INVALID_ARGUMENT, f"{name} = {value!r} is not one of {sorted(table)}")
    return table[value]


def name_of(table: dict[str, int], value: int) -> str:
    """The name of a C constant in `table` (the inverse of choice)."""
    return next(key for key, constant in table.items() if constant == value)


def flag(value: Optional[bool]) -> Optional[int]:
    """A bool as the library's 0/1; None stays None."""
    return None if value is None else (1 if value else 0)

