#!/usr/bin/env sh
# Prints the version from include/dirrm.h, the single place it is written down:
# `version.sh` gives MAJOR.MINOR.PATCH, `version.sh major` gives MAJOR.
set -eu
header="$(dirname "$0")/../include/dirrm.h"
field() { sed -n "s/^#define DIRRM_VERSION_$1 \([0-9][0-9]*\)\$/\1/p" "$header"; }
major=$(field MAJOR) minor=$(field MINOR) patch=$(field PATCH)
[ -n "$major" ] && [ -n "$minor" ] && [ -n "$patch" ] || { echo "version.sh: no version in $header" >&2; exit 1; }
case "${1:-full}" in
  major) echo "$major" ;;
  full) echo "$major.$minor.$patch" ;;
  *) echo "usage: version.sh [major]" >&2; exit 2 ;;
esac
