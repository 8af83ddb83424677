"""The Python package's copies of include/dirrm.h agree with it: every struct (field names, order
and C types), every function's signature, every error code and every enum table.

The header is parsed here, so a change on either side that is not made on the other fails.
"""

from __future__ import annotations

import ctypes
import re

import pytest

from dirrm import _lib, club, model, prompt_free
from conftest import REPO

with open(f"{REPO}/include/dirrm.h", encoding="utf-8") as _f:
    HEADER = _f.read()
# Comments out, so that prose never parses as a declaration.
CODE = re.sub(r"/\*.*?\*/", " ", HEADER, flags=re.S)

SCALARS = {"uint32_t": ctypes.c_uint32, "int32_t": ctypes.c_int32, "int64_t": ctypes.c_int64,
           "uint64_t": ctypes.c_uint64, "float": ctypes.c_float, "double": ctypes.c_double,
           "uint8_t": ctypes.c_uint8}


def _twins() -> dict[str, type[ctypes.Structure]]:
    """Each header struct's ctypes class, found by its name (dirrm_club_params -> ClubParams)."""
    out = {}
    for name in re.findall(r"typedef struct (dirrm_\w+) \{", CODE):
        camel = "".join(part.capitalize() for part in name[len("dirrm_"):].split("_"))
        twin = getattr(_lib, camel, None)
        assert twin is not None, f"{name} has no ctypes twin {camel} in dirrm._lib"
        out[name] = twin
    return out


TWINS = _twins()


def header_fields(name: str) -> list[tuple[str, str]]:
    body = re.search(rf"typedef struct {name} \{{(.*?)\}} {name};", CODE, re.S)
    assert body, name
    fields = []
    for declaration in body.group(1).split(";"):
        words = declaration.split()
        if not words:
            continue
        ctype, names = words[0], " ".join(words[1:])
        fields += [(n.strip(), ctype) for n in names.split(",")]
    return fields


@pytest.mark.parametrize("name", sorted(TWINS))
def test_struct_twins_match_the_header(name):
    twin = TWINS[name]
    got = [(field, ctype) for field, ctype in twin._fields_]
    want = header_fields(name)
    assert [g[0] for g in got] == [("lam" if w[0] == "lambda" else w[0]) for w in want], name
    for (field, ctype), (_, c_name) in zip(got, want):
        expected = SCALARS.get(c_name) or TWINS.get(c_name)
        assert expected is not None, f"{name}.{field}: unknown C type {c_name}"
        assert ctype is expected, f"{name}.{field}: {ctype.__name__} in Python, {c_name} in the header"


def _python_type(c_type: str) -> object:
    """What _lib's signature table must say for one C parameter type."""
    c_type = c_type.replace("const ", "").strip()
    pointers = c_type.count("*")
    base = c_type.replace("*", "").strip()
    if base in SCALARS:
        return SCALARS[base] if pointers == 0 else ctypes.POINTER(SCALARS[base])
    if base in TWINS:
        return ctypes.POINTER(TWINS[base])
    if base == "dirrm_progress_fn":
        return _lib.PROGRESS_FN
    if base == "void" and pointers == 1:
        return ctypes.c_void_p
    if base == "char" and pointers == 1:
        return ctypes.c_char_p
    if base.startswith("dirrm_"):  # an opaque handle, or the place to write one
        return ctypes.c_void_p if pointers == 1 else ctypes.POINTER(ctypes.c_void_p)
    raise AssertionError(f"unknown C type {c_type!r}")


PROTOTYPES = {m.group(2): (m.group(1), m.group(3))
              for m in re.finditer(r"^(int32_t|void|const char \*|char \*)\s*(dirrm_\w+)\((.*?)\);", CODE, re.M | re.S)}


def test_every_exported_function_has_a_signature_in_python():
    assert set(PROTOTYPES) == set(_lib._SIGNATURES), set(PROTOTYPES) ^ set(_lib._SIGNATURES)


@pytest.mark.parametrize("name", sorted(PROTOTYPES))
def test_signatures_match_the_header(name):
    result, params = PROTOTYPES[name]
    restype, argtypes = _lib._SIGNATURES[name]
    want_result = {"int32_t": ctypes.c_int32, "void": None, "const char *": ctypes.c_char_p,
                   "char *": ctypes.c_char_p}[result.strip()]
    assert restype is want_result, name
    params = " ".join(params.split())
    want = [] if params in ("", "void") else [
        _python_type(re.sub(r"\b\w+$", "", p.strip()).strip() or p) for p in params.split(",")]
    assert len(argtypes) == len(want), f"{name}: {len(argtypes)} arguments in Python, {len(want)} in the header"
    for i, (got, expected) in enumerate(zip(argtypes, want)):
        assert got is expected or got == expected, f"{name} argument {i}: {got} in Python, {expected} in the header"


def defines(prefix: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(rf"^#define {prefix}(\w+) (-?\d+)\b", HEADER, re.M)}


def test_error_codes_match_the_header():
    codes = defines("DIRRM_ERR_")
    python = {name[len("ERR_"):]: value for name, value in vars(_lib).items() if re.fullmatch(r"ERR_[A-Z_]+", name)}
    assert python == codes
    assert _lib.OK == defines("DIRRM_")["OK"]


@pytest.mark.parametrize("table, prefix", [
    (club._KINDS, "DIRRM_BIAS_"), (club._MODES, "DIRRM_PAIR_"), (model._SYNTH, "DIRRM_SYNTH_"),
    (model.METHODS, "DIRRM_METHOD_"), (prompt_free._WEIGHTINGS, "DIRRM_PF_"), (prompt_free._SOLVERS, "DIRRM_PF_"),
    (prompt_free._CLUSTER, "DIRRM_CLUSTER_"), (prompt_free._REINSERT, "DIRRM_REINSERT_"),
])
def test_enum_tables_match_the_header(table, prefix):
    header = defines(prefix)
    for name, value in table.items():
        key = name.upper()
        assert header.get(key) == value, f"{name} = {value} in Python; {prefix}{key} = {header.get(key)}"
    if prefix != "DIRRM_PF_":  # the PF prefix holds two tables
        assert len(table) == len(header), (sorted(table), sorted(header))
