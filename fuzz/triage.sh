#!/usr/bin/env bash
# Re-runs every reproducer in fuzz/findings/ and groups them by cause: the sanitizer or
# Swift runtime message plus the first stack frames inside the library (not the harness).
# Usage: fuzz/triage.sh [target ...]   Prints one line per cause with a count and an example.
set -uo pipefail
cd "$(dirname "$0")/.."
source fuzz/env.sh
mkdir -p .build-fuzz/scratch
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(fuzz/targets.sh))
for target in "${targets[@]}"; do
  dir=fuzz/findings/$target
  [ -d "$dir" ] || continue
  for file in "$dir"/*; do
    [ -f "$file" ] || continue
    case $(basename "$file") in *.log) continue ;; crash-* | oom-* | timeout-* | leak-* | slow-unit-* | regression-*) ;; *) continue ;; esac
    log=$file.log
    [ -s "$log" ] || timeout 120 ".build-fuzz/fuzz-$target" -rss_limit_mb="$FUZZ_RSS_MB" \
      -malloc_limit_mb="$FUZZ_MALLOC_MB" -timeout="$FUZZ_TIMEOUT" -artifact_prefix=.build-fuzz/scratch/ \
      "$file" >"$log" 2>&1
    # A Swift trap names its reason in a frame ("Swift runtime failure: arithmetic overflow").
    message=$({ grep -a -m1 -oE "Swift runtime failure: [^/]*" "$log" ||
      grep -a -m1 -oE "Fatal error.*|ERROR: AddressSanitizer.*|ERROR: libFuzzer.*|dirrm fuzz check failed.*" "$log"; } |
      sed -E 's/==[0-9]+==//; s/0x[0-9a-f]+/0x../g; s/[0-9]{6,}/N/g' | cut -c1-150)
    # The innermost three frames in library code, demangled, without argument lists.
    frames=$(swift demangle --simplified <"$log" | grep -E "^ +#[0-9]+ " | grep -E "DirRM|dirrm_|NumpyFile" |
      grep -v "Fuzz_" | sed -E 's/^ +#[0-9]+ 0x[0-9a-f]+ in (specialized )?//; s/^([^(]*)\(.* \/[^ ]*\/([^/ :]+:[0-9]+)(:[0-9]+)?$/\1 (\2)/; s/ \/<compiler-generated>//' |
      head -3 | paste -sd'<' -)
    echo "$target|$message|$frames|$file"
  done
done | sort | awk -F'|' '{key=$1"|"$2"|"$3; n[key]++; if (!(key in ex)) ex[key]=$4}
  END {for (k in n) {split(k, a, "|"); printf "%s x%d: %s\n    at %s\n    e.g. %s\n", a[1], n[k], a[2], a[3], ex[k]}}'
