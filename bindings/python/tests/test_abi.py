"""The shipped library: what it links against, what it exports, what it says about itself."""

import json
import re
import subprocess

import dirrm
from dirrm._lib import lib
from conftest import REPO

HEADER = f"{REPO}/include/dirrm.h"


def header_functions():
    text = open(HEADER).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"^\s*#(?:[^\n]*\\\n)*[^\n]*", "", text, flags=re.M)  # preprocessor lines
    names = set()
    for statement in text.split(";"):
        statement = statement.strip()
        if statement.startswith("typedef"):
            continue
        found = re.search(r"\b(dirrm_\w+)\s*\(", statement)
        if found:
            names.add(found.group(1))
    return names


def test_no_swift_runtime_or_foundation_dependency():
    out = subprocess.run(["ldd", dirrm.library_path()], capture_output=True, text=True, check=True).stdout
    lowered = out.lower()
    assert "swift" not in lowered and "foundation" not in lowered and "dispatch" not in lowered, out
    assert "not found" not in out, out


def test_exports_exactly_the_header_functions():
    out = subprocess.run(
        ["nm", "-D", "--defined-only", "--extern-only", dirrm.library_path()],
        capture_output=True, text=True, check=True,
    ).stdout
    exported = {line.split()[-1] for line in out.splitlines() if line.strip()}
    declared = header_functions()
    assert len(declared) >= 7
    assert exported == declared, (exported - declared, declared - exported)


def test_version_agrees_with_header():
    text = open(HEADER).read()
    major, minor, patch = (
        int(re.search(rf"#define DIRRM_VERSION_{part} (\d+)", text).group(1))
        for part in ("MAJOR", "MINOR", "PATCH")
    )
    assert lib.dirrm_version_number() == major * 10000 + minor * 100 + patch
    assert dirrm.__version__ == f"{major}.{minor}.{patch}"


def test_build_info_is_json_and_follows_thread_count():
    info = dirrm.build_info()
    assert set(info) == {"version", "blas", "threads", "compiler"}
    assert info["version"] == dirrm.__version__ and "OpenBLAS" in info["blas"]
    dirrm.set_num_threads(1)
    assert dirrm.build_info()["threads"] == 1
    dirrm.set_num_threads(2)
    assert json.loads(lib.dirrm_build_info().decode())["threads"] == 2
