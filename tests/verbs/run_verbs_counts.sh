#!/usr/bin/env bash
# CTest entry of the verbs counts check (issue 11, item 9): runs
# counts_guest.sh on this host's RDMA device if it has one, else in the QEMU +
# Soft-RoCE testbed guest, then verbs_counts_test compares the server's kernel
# counts per request with the model's. Skips (77) only when neither exists.
# Usage: run_verbs_counts.sh FASTWAKE_BENCH VERBS_COUNTS_TEST OUT_DIR [GUEST_DIR]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH=${1:?fastwake-bench path}
TEST=${2:?verbs_counts_test path}
OUT=${3:?output directory}
GUEST_DIR=${4:-${FW_TESTBED_DIR:-$REPO/build/testbed}}
rm -rf "$OUT"
mkdir -p "$OUT"

host_dev=""
for d in /sys/class/infiniband/*; do
  [ -e "$d" ] || continue
  grep -q ACTIVE "$d"/ports/1/state 2>/dev/null && { host_dev=$(basename "$d"); break; }
done
if [ -n "$host_dev" ]; then
  echo "verbs counts on this host's RDMA device $host_dev"
  mkdir -p "$OUT/bin"
  cp "$BENCH" "$HERE/verbs_counts.json" "$OUT/bin/"
  FW_RDMA_DEV=$host_dev FW_OUT=$OUT/results FW_BIN=$OUT/bin bash "$HERE/counts_guest.sh"
else
  if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "SKIP: no RDMA device on this host and qemu-system-x86_64 is not installed (Debian package qemu-system-x86; run scripts/install-deps.sh)"
    exit 77
  fi
  echo "no RDMA device on this host: running the counts in the QEMU + Soft-RoCE testbed guest (rxe0)"
  set +e
  "$REPO/hw/testbed/run-in-guest.sh" --skip-unavailable --guest-dir "$GUEST_DIR" --timeout 400 \
    --add "$BENCH" --add "$HERE/verbs_counts.json" --add "$HERE/counts_guest.sh" \
    --out "$OUT/results" -- 'FW_OUT=/out bash /opt/fw/counts_guest.sh'
  rc=$?
  set -e
  [ $rc -eq 77 ] && exit 77
  if [ $rc -ne 0 ]; then
    echo "run-in-guest.sh exited $rc (see docs/testbed.md for its statuses)"
    exit 1
  fi
fi
FW_VERBS_COUNTS_JSON=$OUT/results/counts.server.json exec "$TEST"
