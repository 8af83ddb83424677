"""Every code block in README.md runs as written.

Python blocks run in a fresh interpreter in an empty folder, with this tree's package on the
path (as ``make python-test`` has it); a block whose first line is ``# continues the block
above`` runs after that block, in the same interpreter, as a reader would paste them. C blocks
are compiled against this tree's header and library and run. Shell and CMake blocks install
things or need data, so each is listed below with the test or script that runs it, and the
test checks that script holds the block's commands. ``text`` blocks and blocks without a
language are not code.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
CONTINUES = "# continues the block above"

# Shell commands safe to run here as written (from the repository's root).
RUN_HERE = {"make demo"}
# Blocks run here as written, from the repository's root, in a temporary folder's copy of
# what they write (their first line names them).
RUN_BLOCKS = {"python3 -c 'import numpy as np; r = np.random.default_rng(0);"}
# Shell and CMake blocks, by their first line: the file that runs each command of the block
# (the commands in RUN_HERE excepted).
RUN_ELSEWHERE = {
    "make demo": ".ci/run",
    "pip install ./bindings/python": "scripts/install-test.sh",
    "make wheel": "scripts/install-test.sh",
    "make install PREFIX=/usr/local": "scripts/install-test.sh",
    "cc prog.c $(pkg-config --cflags --libs dirrm) -o prog": "scripts/install-test.sh",
    "find_package(dirrm 0.1 REQUIRED)": "examples/cmake/CMakeLists.txt",
    "torchrun --standalone --nproc_per_node 2 examples/python/ddp_dir.py": "bindings/python/tests/test_torch_examples.py",
    "make real-results DATA=/path/to/alpaca_eval CACHE=/path/to/embedding-cache": "Makefile",
}
# What each command must be found as in its file (a command may be spelled with variables there).
SPELLED = {
    "make install PREFIX=/usr/local": ["make", "install", "uninstall", "PREFIX="],
    "make uninstall PREFIX=/usr/local": ["make", "uninstall", "PREFIX="],
    "pip install ./bindings/python": ["bin/pip\" install -q ./bindings/python"],
    'pip install "./bindings/python[torch]"': ['install -q -c "$work/constraint.txt" "./bindings/python[torch]"'],
    'pip install "./bindings/python[trl]"': ['install -q -c "$work/constraint.txt" "./bindings/python[trl]"'],
    "make wheel": ["make", "wheel"],
    "cc prog.c $(pkg-config --cflags --libs dirrm) -o prog": ["pkg-config --cflags --libs dirrm"],
    "find_package(dirrm 0.1 REQUIRED)": ["find_package(dirrm"],
    "target_link_libraries(prog PRIVATE dirrm::dirrm)": ["dirrm::dirrm"],
    "torchrun --standalone --nproc_per_node 2 examples/python/ddp_dir.py": ["torchrun", "ddp_dir.py"],
    "make real-results DATA=/path/to/alpaca_eval CACHE=/path/to/embedding-cache": ["real-results:"],
}


@dataclass
class Block:
    language: str
    line: int
    code: str

    @property
    def first(self) -> str:
        return next((ln.strip() for ln in self.code.splitlines() if ln.strip()), "")

    @property
    def name(self) -> str:
        return f"README.md:{self.line} {self.first[:48]}"


def blocks() -> list[Block]:
    found, lines = [], README.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = re.match(r"^```(\S*)\s*$", lines[i])
        if match:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            found.append(Block(match.group(1), i + 1, "\n".join(lines[i + 1:end]) + "\n"))
            i = end
        i += 1
    return found


def of(language: str) -> list[Block]:
    return [b for b in blocks() if b.language == language]


def test_every_block_is_known_code_or_text() -> None:
    kinds = {b.language for b in blocks()}
    assert kinds <= {"python", "c", "sh", "cmake", "text", ""}, kinds


def _runs_here(block: Block) -> bool:
    return any(block.first.startswith(prefix) for prefix in RUN_BLOCKS)


@pytest.mark.parametrize("block", [b for b in of("sh") if _runs_here(b)], ids=lambda b: b.name)
def test_shell_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    # In a temporary folder, with the tree's build reachable as written (.build/release/...).
    (tmp_path / ".build").symlink_to(ROOT / ".build")
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT / "bindings" / "python")))
    assert run.returncode == 0, f"{block.name} failed:\n{run.stdout[-2000:]}{run.stderr[-3000:]}"


@pytest.mark.parametrize("block", [b for b in blocks() if b.language in ("sh", "cmake") and not _runs_here(b)],
                         ids=lambda b: b.name)
def test_shell_block_is_run_by_a_named_test(block: Block) -> None:
    key = block.first.split("#")[0].strip()
    assert key in RUN_ELSEWHERE, f"{block.name}: say which test runs this block (RUN_ELSEWHERE)"
    runner = (ROOT / RUN_ELSEWHERE[key]).read_text(encoding="utf-8")
    for command in (ln.split("#")[0].strip() for ln in block.code.splitlines()):
        if command and command not in RUN_HERE:
            for piece in SPELLED.get(command, [command]):
                assert piece in runner, f"{block.name}: {RUN_ELSEWHERE[key]} does not run {command!r}"


def _program(block: Block) -> str:
    """The block's source, with the block it continues in front of it."""
    if not block.first.startswith(CONTINUES):
        return block.code
    python = of("python")
    return _program(python[python.index(block) - 1]) + block.code


def _needs(source: str) -> list[str]:
    imported = re.findall(r"^\s*(?:import|from)\s+([A-Za-z_][A-Za-z0-9_]*)", source, re.MULTILINE)
    return sorted({m for m in imported if m != "dirrm" and importlib.util.find_spec(m) is None})


@pytest.mark.parametrize("block", of("python"), ids=lambda b: b.name)
def test_python_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    source = _program(block)
    missing = _needs(source)
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (make setup installs them)")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "bindings" / "python"), TOKENIZERS_PARALLELISM="false",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    run = subprocess.run([sys.executable, "-c", source], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, f"{block.name} failed:\n{run.stderr[-3000:]}"


@pytest.mark.parametrize("block", of("c"), ids=lambda b: b.name)
def test_c_block_compiles_and_runs(block: Block, tmp_path: Path) -> None:
    library = ROOT / ".build" / "release"
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler")
    (tmp_path / "prog.c").write_text(block.code, encoding="utf-8")
    build = subprocess.run([compiler, "-std=c11", "-Wall", "-Werror", f"-I{ROOT / 'include'}", "prog.c",
                            f"-L{library}", "-ldirrm", f"-Wl,-rpath,{library}", "-o", "prog"],
                           cwd=tmp_path, capture_output=True, text=True)
    assert build.returncode == 0, f"{block.name} does not compile:\n{build.stderr}"
    run = subprocess.run([str(tmp_path / "prog")], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"{block.name} failed:\n{run.stdout}{run.stderr}"


@pytest.mark.parametrize("command", sorted(RUN_HERE))
def test_shell_command_runs_as_written(command: str) -> None:
    assert any(command in b.code for b in of("sh")), f"no README block runs {command!r}"
    run = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"{command} failed:\n{run.stdout[-2000:]}{run.stderr[-3000:]}"
    if command == "make demo":  # what the README says it writes
        written = {p.name for p in (ROOT / "out").iterdir()}
        assert "curves.svg" in written and any(n.startswith("pairs-") for n in written), written
