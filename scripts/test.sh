#!/usr/bin/env bash
# The README's test command (and CI's): installs what is missing, builds, runs
# every test, then builds and runs the unit tests again under ASan + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
echo "== AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/)"
BUILD_DIR=build-asan scripts/build.sh -DFASTWAKE_SANITIZE=ON -DFASTWAKE_BUILD_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)" -L unit
