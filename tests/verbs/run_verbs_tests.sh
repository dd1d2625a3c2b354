#!/usr/bin/env bash
# CTest entry of the verbs checks: on this host's RDMA device if it has one, else in the QEMU + Soft-RoCE testbed guest; skips (77) only when neither exists.
# Usage: run_verbs_tests.sh [--faults] FASTWAKE_BENCH LIBFASTWAKE_PRELOAD FW_SHIM_PROBE OUT_DIR [GUEST_DIR]
# --faults: the fault cases and the shim stress (guest_faults.sh, check_results.py
# --faults) instead; FW_SHIM_PROBE is then fw_shim_stress.
set -euo pipefail
SCRIPT=guest_checks.sh
CHECK=()
if [ "${1:-}" = --faults ]; then
  SCRIPT=guest_faults.sh
  CHECK=(--faults)
  shift
fi
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH=${1:?fastwake-bench path}
SHIM=${2:?libfastwake-preload.so path}
PROBE=${3:?fw_shim_probe path}
OUT=${4:?output directory}
GUEST_DIR=${5:-${FW_TESTBED_DIR:-$REPO/build/testbed}}
PY=/usr/bin/python3

rm -rf "$OUT"
mkdir -p "$OUT"

host_dev=""
for d in /sys/class/infiniband/*; do
  [ -e "$d" ] || continue
  grep -q ACTIVE "$d"/ports/1/state 2>/dev/null && { host_dev=$(basename "$d"); break; }
done

if [ -n "$host_dev" ]; then
  echo "verbs checks on this host's RDMA device $host_dev"
  STAGE=$OUT/bin
  mkdir -p "$STAGE"
  cp "$BENCH" "$SHIM" "$PROBE" "$HERE/verbs_smoke.json" "$STAGE/"
  # RoCE needs a GID for perftest and the probe: a RoCE v2 IPv4 one, as the testbed uses.
  gid=""
  if grep -q Ethernet "/sys/class/infiniband/$host_dev/ports/1/link_layer" 2>/dev/null; then
    for t in /sys/class/infiniband/"$host_dev"/ports/1/gid_attrs/types/*; do
      i=${t##*/}
      if grep -q "RoCE v2" "$t" 2>/dev/null &&
        grep -q "^0000:0000:0000:0000:0000:ffff:" "/sys/class/infiniband/$host_dev/ports/1/gids/$i" 2>/dev/null; then
        gid=$i
        break
      fi
    done
  fi
  FW_RDMA_DEV=$host_dev FW_GID_INDEX=$gid FW_SERVER_IP=127.0.0.1 FW_OUT=$OUT/results FW_BIN=$STAGE \
    bash "$HERE/$SCRIPT"
else
  if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "SKIP: no RDMA device on this host and qemu-system-x86_64 is not installed (Debian package qemu-system-x86; run scripts/install-deps.sh) - the testbed cannot run"
    exit 77
  fi
  echo "no RDMA device on this host: running the checks in the QEMU + Soft-RoCE testbed guest (rxe0; emulated: functional figures only)"
  set +e
  "$REPO/hw/testbed/run-in-guest.sh" --skip-unavailable --guest-dir "$GUEST_DIR" --timeout 420 \
    --add "$BENCH" --add "$SHIM" --add "$PROBE" --add "$HERE/verbs_smoke.json" --add "$HERE/$SCRIPT" \
    --out "$OUT/results" -- "FW_OUT=/out bash /opt/fw/$SCRIPT"
  rc=$?
  set -e
  [ $rc -eq 77 ] && exit 77
  if [ $rc -ne 0 ]; then
    echo "run-in-guest.sh exited $rc (see docs/testbed.md for its statuses)"
    exit 1
  fi
fi
exec "$PY" "$HERE/check_results.py" "${CHECK[@]}" "$OUT/results"
