#!/usr/bin/env bash
# The README's test command (and CI's): installs what is missing, builds, runs
# every test, then builds and runs the unit tests again under ASan + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)"
echo "== AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/)"
# Only what the unit tests need (the Python module, kernel module and guest
# tests are not sanitizer targets): keeps CI's second build short.
if [ ! -f build-asan/CMakeCache.txt ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFASTWAKE_SANITIZE=ON \
        -DFASTWAKE_BUILD_BENCH=OFF
fi
cmake --build build-asan -j "$(nproc)" --target fastwake_unit_tests fastwake-sim
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)" -L unit
