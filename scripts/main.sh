#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, runs the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# Main job: the paper-style default scenario, every strategy, result saved.
mkdir -p results
build/sim/fastwake-sim --json results/default.json "$@"
