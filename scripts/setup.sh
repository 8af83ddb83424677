#!/usr/bin/env bash
# Installs what dirrm needs when it is missing: OpenBLAS (headers and library), a C compiler,
# and the Python packages the tests use. Does nothing when everything is there.
set -euo pipefail

have_openblas() {
  echo '#include <cblas.h>' | cc -E -x c - >/dev/null 2>&1 &&
    { ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\b'; }
}

if ! command -v cc >/dev/null || ! have_openblas; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing libopenblas-dev" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev gcc >/dev/null
  else
    echo "setup: OpenBLAS is missing; install it (Debian/Ubuntu: sudo apt-get install libopenblas-dev)" >&2
    exit 1
  fi
fi

if ! python3 -c 'import numpy, pytest' 2>/dev/null; then
  echo "setup: installing numpy and pytest" >&2
  python3 -m pip install -q numpy pytest
fi

# PyTorch (CPU build) for the tests that compare against it or plug into its DataLoader.
if ! python3 -c 'import torch' 2>/dev/null; then
  echo "setup: installing torch (CPU)" >&2
  python3 -m pip install -q torch==2.13.0+cpu ||
    echo "setup: torch could not be installed; the tests that need it will be skipped" >&2
fi
