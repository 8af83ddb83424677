#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 30) in libFuzzer's fork mode, which keeps
# going after a crash so that one run reports every failure family, not just the first.
# Corpus: fuzz/corpus/<target> (committed seeds, read only) plus .build-fuzz/corpus/<target>
# (what the run learns). Before fuzzing, each input in fuzz/regressions/<target>/ (known
# crash families) is run once. Reproducers: fuzz/findings/<target>/ (git-ignored).
# Prints executions, coverage (cov = edges, ft = features) and crashes per target, then
# groups the crashes by cause (triage.sh). Exits 1 if any target crashed, timed out or
# ran out of memory.
# Usage: fuzz/run.sh [SECONDS] [target ...]
set -uo pipefail
cd "$(dirname "$0")/.."
source fuzz/env.sh
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(fuzz/targets.sh))
mkdir -p .build-fuzz/logs .build-fuzz/scratch
failed=0
summary=()
for target in "${targets[@]}"; do
  mkdir -p ".build-fuzz/corpus/$target" "fuzz/findings/$target" "fuzz/corpus/$target"
  log=.build-fuzz/logs/$target.log
  # The hand-made inputs of known crash families first, one process each; a crashing one
  # is copied to the findings as regression-<name> so that triage.sh reports it.
  regressions=0
  for input in fuzz/regressions/"$target"/*; do
    [ -f "$input" ] || continue
    if ! timeout 300 ".build-fuzz/fuzz-$target" -rss_limit_mb="$FUZZ_RSS_MB" -malloc_limit_mb="$FUZZ_MALLOC_MB" \
      -timeout="$FUZZ_TIMEOUT" -artifact_prefix=.build-fuzz/scratch/ "$input" >"$log" 2>&1; then
      regressions=$((regressions + 1))
      cp "$input" "fuzz/findings/$target/regression-$(basename "$input")"
      rm -f "fuzz/findings/$target/regression-$(basename "$input").log"
    fi
  done
  # A dictionary of the format's tokens, where one exists.
  dict=()
  [ -f "fuzz/$target.dict" ] && dict=(-dict="fuzz/$target.dict")
  echo "fuzz: $target for ${seconds}s" >&2
  start=$(date +%s)
  timeout $((seconds + 300)) ".build-fuzz/fuzz-$target" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 \
    -ignore_ooms=1 -max_total_time="$seconds" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$FUZZ_RSS_MB" \
    -malloc_limit_mb="$FUZZ_MALLOC_MB" -artifact_prefix="fuzz/findings/$target/" "${dict[@]}" \
    ".build-fuzz/corpus/$target" "fuzz/corpus/$target" >"$log" 2>&1
  elapsed=$(($(date +%s) - start))
  # Fork mode's status lines: "#<execs>: cov: <n> ft: <n> corp: <n> exec/s: <n> oom/timeout/crash: a/b/c ..."
  last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
  execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
  cov=$(sed -E 's/.* cov: ([0-9]+).*/\1/' <<<"$last")
  ft=$(sed -E 's/.* ft: ([0-9]+).*/\1/' <<<"$last")
  bad=$(sed -E 's/.*oom\/timeout\/crash: ([0-9]+\/[0-9]+\/[0-9]+).*/\1/' <<<"$last")
  [ -n "$last" ] || { execs=?; cov=?; ft=?; bad="?/?/?"; }
  line=$(printf '%-18s %5ss  execs %10s  cov %6s  ft %6s  oom/timeout/crash %-8s  regressions crashed %s' \
    "$target" "$elapsed" "$execs" "$cov" "$ft" "$bad" "$regressions")
  summary+=("$line")
  if [ -z "$last" ] || [ "$bad" != "0/0/0" ] || [ $regressions != 0 ]; then failed=1; fi
done
echo
printf '%s\n' "${summary[@]}"
if [ $failed = 1 ]; then
  echo
  echo "fuzz: failures; reproducers in fuzz/findings/, grouped by cause:"
  fuzz/triage.sh "${targets[@]}"
fi
exit $failed
