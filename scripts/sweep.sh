#!/usr/bin/env bash
# The sweep that chose the trainer's defaults where the papers give no value: each row is
# `dirrm-cli experiment --seeds 3` with one setting changed from the defaults. Writes the
# table into README.md between <!-- sweep:begin --> and <!-- sweep:end -->. About 12 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
cli=.build/release/dirrm-cli
# The AVX2 kernels, as `make results` uses (see the Makefile): the rows reproduce on any x86-64.
export OPENBLAS_CORETYPE=Haswell
rows=(
  "defaults|"
  "p = 0.5 (the own prompt weighted half, dirrm_pf_params' default)|--own-weight 0.5"
  "p = 0.125 (about uniform over K = 8)|--own-weight 0.125"
  "K = 16 prompts|--pf-prompts 16"
  "one reinsertion per pair and epoch|--reinsertions 1"
  "EMA weight alpha = 0.8|--ema-weight 0.8"
  "lambda = 0.1 (DIR's code default)|--lambda 0.1"
  "lambda = 0.3|--lambda 0.3"
  "lambda = 1.5 (the default before the estimator standardized its bias)|--lambda 1.5"
  "lambda = 3|--lambda 3"
  "lambda = 10|--lambda 10"
  "q_hidden = 1024 (DIR's code default)|--q-hidden 1024"
  "categorical q on 1[bias > 0] (DIR's code)|--categorical"
  "categorical q, q_hidden 1024, lambda 0.1 (DIR's code defaults)|--categorical --q-hidden 1024 --lambda 0.1"
  "q learning rate 3e-4|--club-lr 0.0003"
  "q learning rate 1e-3|--club-lr 0.001"
  "20 q steps per training step (5 by default)|--fit-steps 20"
)
table="| setting | DIR accuracy − vanilla | DIR / vanilla Spearman | prompt-free recovery (length) | DIR + prompt-free vs better of the two | DIR / vanilla sycophancy gap | prompt-free recovery (adversarial) |
|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
  label=${row%%|*}
  args=${row#*|}
  echo "sweep: $label" >&2
  # shellcheck disable=SC2086
  table+=$'\n'$("$cli" experiment --seeds 3 --row "$label" $args 2>/dev/null)
done
python3 - "$table" <<'PY'
import sys
table = sys.argv[1]
text = open("README.md").read()
begin, end = "<!-- sweep:begin -->", "<!-- sweep:end -->"
a, b = text.index(begin) + len(begin), text.index(end)
open("README.md", "w").write(text[:a] + "\n" + table + "\n" + text[b:])
PY
echo "$table"
