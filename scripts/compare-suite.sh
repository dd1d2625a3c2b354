#!/usr/bin/env bash
# Predicted vs measured on several configs (docs/validation.md "compare"):
# closed and open loop, 1-16 threads per app core, fixed and exponential
# service, each as ROUNDS rounds of (calibrate, measure) interleaved.
# Usage: scripts/compare-suite.sh [ROUNDS] [OUT_DIR]   (default 3, results/compare)
# Needs 2 CPUs (one app core, one for the loopback NIC thread); ~2 min at 3 rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"
out="${2:-results/compare}"
bench="${BUILD_DIR:-build}/hw/fastwake-bench"
[ -x "$bench" ] || { echo "compare-suite: $bench not built (bash scripts/build.sh)" >&2; exit 2; }
mkdir -p "$out"
# name | overrides of configs/compare.json (closed loop, 4 threads, exp think 100 us, 2 us service)
cases=(
  "closed-4t-fixed|"
  "closed-1t-fixed|--set workload.threads_per_core=1"
  "closed-16t-fixed|--set workload.threads_per_core=16 --set workload.think_ns=1000000"
  "closed-4t-exp|--set workload.service_dist=exp --set workload.service_ns=10000"
  "open-4t-fixed|--set workload.kind=poisson --set workload.rate_rps=2000"
)
for c in "${cases[@]}"; do
  name="${c%%|*}"
  sets="${c#*|}"
  echo "== $name ($rounds rounds) ${sets}"
  # shellcheck disable=SC2086
  "$bench" compare configs/compare.json $sets --rounds "$rounds" -q --json "$out/$name.json" \
    | grep -v '^wrote '
done
echo "wrote $out/*.json"
