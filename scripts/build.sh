#!/usr/bin/env bash
# Builds the shipped library, .build/release/libdirrm.so: optimized, with the Swift runtime
# linked in statically (so it loads into any C or Python process) and only dirrm_* exported.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release \
  -Xswiftc -static-stdlib \
  -Xlinker --version-script="$PWD/Sources/DirRM/exports.map" "$@"
