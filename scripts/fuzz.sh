#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz/) for SECONDS each (default 60):
#   scripts/fuzz.sh [SECONDS] [TARGET...]     TARGET: config set platform side_channel
# Builds them with clang, ASan + UBSan into build-fuzz/ (FASTWAKE_FUZZ=ON), then
# fuzzes each from its seed corpus tests/fuzz/corpus/TARGET/ (never modified: new
# inputs go to build-fuzz/corpus/TARGET/, crashes to build-fuzz/artifacts/TARGET/).
# Prints one line per target (executions, corpus, crashes); exits 1 if any target
# crashed, leaked, hung or broke an invariant. FUZZ_NICE=19 runs them at nice 19;
# FUZZ_SEED=N makes the mutations repeatable (the CTest fuzz.smoke sets 1).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(config set platform side_channel)
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (scripts/install-deps.sh installs clang)" >&2; exit 2; }
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFASTWAKE_FUZZ=ON \
    -DFASTWAKE_WITH_SIMGRID=OFF -DFASTWAKE_BUILD_BENCH=OFF -DFASTWAKE_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$BUILD" -j "$(nproc)" --target "${TARGETS[@]/#/fuzz_}" >/dev/null
NICE=${FUZZ_NICE:-0}
status=0
for t in "${TARGETS[@]}"; do
  work="$BUILD/corpus/$t" art="$BUILD/artifacts/$t"
  mkdir -p "$work" "$art"
  seed=()
  [ -n "${FUZZ_SEED:-}" ] && seed=(-seed="$FUZZ_SEED")
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  log="$BUILD/fuzz-$t.log"
  rc=0
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    nice -n "$NICE" "$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 "${seed[@]}" "${dict[@]}" -artifact_prefix="$art/" "$work" "tests/fuzz/corpus/$t" \
    >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(find "$art" -type f | wc -l)
  echo "fuzz $t: ${execs:-?} executions in ${SECS} s, corpus $(find "$work" -type f | wc -l) files, exit $rc, $crashes artifact(s) in $art"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    status=1
    grep -E "ERROR|SUMMARY|invariant|runtime error|uncaught|Test unit written" "$log" | head -20 >&2 || true
  fi
done
exit $status
