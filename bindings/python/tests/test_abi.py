"""The shipped library: what it links against, what it exports, what it says about itself."""

import json
import os
import re
import shutil
import subprocess
import sys

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
    assert set(info) == {"version", "blas", "blas_core", "blas_core_chosen_by", "blas_core_replaced", "cpu_simd",
                         "cpu_blas_core", "simd_kernels", "pf_exp", "threads",
                         "compiler"}
    assert info["version"] == dirrm.__version__ and "OpenBLAS" in info["blas"]
    dirrm.set_num_threads(1)
    assert dirrm.build_info()["threads"] == 1
    dirrm.set_num_threads(2)
    assert json.loads(lib.dirrm_build_info().decode())["threads"] == 2


def header_version():
    text = open(HEADER).read()
    return tuple(int(re.search(rf"#define DIRRM_VERSION_{part} (\d+)", text).group(1)) for part in ("MAJOR", "MINOR", "PATCH"))


def test_soname_is_the_major_version():
    out = subprocess.run(["readelf", "-d", dirrm.library_path()], capture_output=True, text=True, check=True).stdout
    assert f"Library soname: [libdirrm.so.{header_version()[0]}]" in out, out


def test_library_path_is_the_file_this_process_loaded():
    maps = open("/proc/self/maps").read()
    assert os.path.realpath(dirrm.library_path()) in maps


def test_loader_refuses_another_major_minor_and_names_the_file(tmp_path):
    # A copy of the package that believes it was built for 99.0, loading this library.
    shutil.copytree(os.path.dirname(dirrm.__file__), tmp_path / "dirrm",
                    ignore=shutil.ignore_patterns("libdirrm.so", "__pycache__", "_version.py"))
    (tmp_path / "dirrm" / "_version.py").write_text('VERSION = "99.0.0"\n')
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "DIRRM_LIBRARY": dirrm.library_path()}
    out = subprocess.run([sys.executable, "-c", "import dirrm"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode != 0
    assert "does not match the Python package (expects 99.0.x)" in out.stderr, out.stderr
    assert dirrm.library_path() in out.stderr
