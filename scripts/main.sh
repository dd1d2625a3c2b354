#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# Main job: every paper-style figure and the headline table, x86 and arm, into
# results/paper/ (arguments go to `fastwake paper`, e.g. --quick or --out DIR).
FASTWAKE_BUILD_DIR="$PWD/${BUILD_DIR:-build}" ./fastwake paper "$@"
