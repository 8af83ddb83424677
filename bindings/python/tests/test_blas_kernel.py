"""OpenBLAS's kernels follow the CPU's instruction set (docs/decisions.md §5): dirrm replaces
a fallback below the CPU's class when the library loads, and never a caller's
OPENBLAS_CORETYPE."""
import json
import os
import subprocess
import sys
from pathlib import Path

import dirrm

BINDINGS = str(Path(dirrm.__file__).resolve().parent.parent)
# The kernel families of OpenBLAS's x86-64 table by instruction set, written out here from
# OpenBLAS's sources rather than taken from the library under test.
FAMILIES = {
    "avx512": {"skylakex", "cooperlake", "sapphirerapids"},
    "avx2": {"haswell", "zen", "excavator"},
    "avx": {"sandybridge", "bulldozer", "piledriver", "steamroller"},
}
ORDER = ["sse", "avx", "avx2", "avx512"]


def cpu_class_from_proc() -> str:
    """The CPU's class from /proc/cpuinfo's flags (the kernel's view, independent of cpuid code)."""
    flags: set[str] = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    if {"avx512f", "avx512cd", "avx512dq", "avx512bw", "avx512vl"} <= flags:
        return "avx512"
    if {"avx2", "fma"} <= flags:
        return "avx2"
    return "avx" if "avx" in flags else "sse"


def level(core: str) -> str:
    return next((name for name, cores in FAMILIES.items() if core.lower() in cores), "sse")


def linked_openblas() -> str:
    """The OpenBLAS libdirrm loads (the system's, or the copy a repaired wheel bundles)."""
    out = subprocess.run(["ldd", dirrm.library_path()], capture_output=True, text=True, check=True).stdout
    paths = [line.split("=>")[1].split("(")[0].strip() for line in out.splitlines()
             if "openblas" in line and "=>" in line]
    assert paths, out
    return paths[0]


def run(code: str, env: dict[str, str]) -> dict[str, object]:
    full = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    full["OPENBLAS_LIBRARY"] = linked_openblas()
    full.update(env)
    full["PYTHONPATH"] = BINDINGS + os.pathsep + full.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# A product through dirrm (the CLUB bound multiplies q's layers) and its build info; OpenBLAS
# is loaded first with OPENBLAS_CORETYPE=Prescott, as an OpenBLAS that does not know the CPU
# would choose, and the variable is removed before dirrm loads.
FORCED = """
import ctypes, json, os
import numpy as np
force = os.environ.pop("FORCE_CORE", None)
if force:
    os.environ["OPENBLAS_CORETYPE"] = force
    ctypes.CDLL(os.environ.pop("OPENBLAS_LIBRARY"))
    del os.environ["OPENBLAS_CORETYPE"]
import dirrm
rng = np.random.default_rng(0)
n, d = 64, 96
hc, hr = rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(n, d)).astype(np.float32)
bias = rng.integers(0, 2, size=n).astype(np.float32)
club = dirrm.Club(d, fit_steps=3, seed=1)
club.fit(hc, hr, bias)
info = dirrm.build_info()
info["bound"] = float(club.bound(hc, hr, bias, grad=False))
info["env_after"] = os.environ.get("OPENBLAS_CORETYPE")
print(json.dumps(info))
"""


def test_build_info_names_the_kernels_in_use() -> None:
    info = dirrm.build_info()
    assert info["cpu_simd"] == cpu_class_from_proc()
    assert info["blas_core_chosen_by"] in {"openblas", "OPENBLAS_CORETYPE", "dirrm", "fixed"}
    assert isinstance(info["blas_core"], str) and info["blas_core"]
    # The class's kernels, named independently of blas_kernel.c's table.
    assert info["cpu_blas_core"] == {"avx512": "SkylakeX", "avx2": "Haswell", "avx": "Sandybridge", "sse": ""}[
        info["cpu_simd"]]


def test_dirrms_own_kernels_use_the_cpus_widest_vectors() -> None:
    """The loss's vector kernels run the variant of the CPU's class, not the x86-64 baseline,
    on a CPU with AVX2 or AVX-512 (AVX alone has no integer vectors wide enough: baseline)."""
    info = dirrm.build_info()
    assert info["simd_kernels"] == {"avx512": "avx512", "avx2": "avx2", "avx": "sse", "sse": "sse"}[
        cpu_class_from_proc()]


def test_kernels_are_not_a_fallback_below_the_cpu() -> None:
    """With the variable unset, the kernels are at least the CPU's class (AVX2 or AVX-512)."""
    info = run(FORCED, {})
    cpu = cpu_class_from_proc()
    if info["blas_core_chosen_by"] == "fixed":
        return   # an OpenBLAS built for one CPU: nothing to choose
    assert ORDER.index(level(str(info["blas_core"]))) >= ORDER.index(cpu), info


def test_a_fallback_is_replaced_by_the_cpus_class() -> None:
    cpu = cpu_class_from_proc()
    if cpu == "sse":
        return
    swapped = run(FORCED, {"FORCE_CORE": "Prescott"})
    assert swapped["blas_core_chosen_by"] == "dirrm", swapped
    assert swapped["blas_core_replaced"] == "Prescott"
    assert level(str(swapped["blas_core"])) == cpu
    assert swapped["blas_core"] == swapped["cpu_blas_core"]   # what build_info names as the class's
    assert swapped["env_after"] is None   # the caller's environment is left as it was
    # The same products as with those kernels chosen by the variable.
    pinned = run(FORCED, {"OPENBLAS_CORETYPE": str(swapped["blas_core"])})
    assert pinned["blas_core_chosen_by"] == "OPENBLAS_CORETYPE"
    assert abs(float(swapped["bound"]) - float(pinned["bound"])) <= 1e-5 * max(1.0, abs(float(pinned["bound"])))


def test_the_callers_variable_is_never_overridden() -> None:
    info = run(FORCED, {"OPENBLAS_CORETYPE": "Prescott"})
    assert info["blas_core"] == "Prescott"
    assert info["blas_core_chosen_by"] == "OPENBLAS_CORETYPE"
    assert info["blas_core_replaced"] == ""
