#!/usr/bin/env bash
# Builds the shipped library, .build/release/libdirrm.so: optimized, with the Swift runtime
# linked in statically (so it loads into any C or Python process) and only dirrm_* exported.
# Its SONAME is libdirrm.so.MAJOR, so programs linked against it keep loading it across
# compatible releases installed by `make install`.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release \
  -Xswiftc -static-stdlib \
  -Xlinker --version-script="$PWD/Sources/DirRM/exports.map" \
  -Xlinker -soname -Xlinker "libdirrm.so.$(scripts/version.sh major)" "$@"
# Programs linked against the build folder (make examples) ask for the SONAME.
ln -sf libdirrm.so ".build/release/libdirrm.so.$(scripts/version.sh major)"
