#!/bin/bash
# Runs in the testbed guest (or on a host with an RDMA device): the replay
# tool on verbs_counts.json, server pinned to FW_SERVER_CPU, client to
# FW_CLIENT_CPU; the server's result document (extra.per_request: the
# kernel's counts per request) goes to $FW_OUT/counts.server.json for
# verbs_counts_test on the host. Env as guest_checks.sh. Exit: the worse of
# the two sides' statuses.
set -u
BIN=${FW_BIN:-$(cd "$(dirname "$0")" && pwd)}
OUT=${FW_OUT:-/tmp/fw-verbs-counts}
DEV=${FW_RDMA_DEV:?FW_RDMA_DEV is not set}
IP=${FW_SERVER_IP:-127.0.0.1}
NCPU=$(nproc)
SCPU=${FW_SERVER_CPU:-1}
CCPU=${FW_CLIENT_CPU:-$((NCPU - 1))}
[ "$NCPU" -ge 3 ] || { echo "counts_guest: need 3 CPUs, have $NCPU"; exit 1; }
mkdir -p "$OUT"
GIDOPT=()
[ -n "${FW_GID_INDEX:-}" ] && GIDOPT=(-x "$FW_GID_INDEX")
CFG=$BIN/verbs_counts.json
timeout 300 "$BIN/fastwake-bench" server -d "$DEV" "${GIDOPT[@]}" -p 18600 --cpus "$SCPU" "$CFG" \
  --json "$OUT/counts.server.json" >"$OUT/counts.server.out" 2>&1 &
sp=$!
sleep 1
timeout 300 "$BIN/fastwake-bench" client "$IP" -d "$DEV" "${GIDOPT[@]}" -p 18600 --cpu "$CCPU" "$CFG" \
  --json "$OUT/counts.client.json" >"$OUT/counts.client.out" 2>&1
crc=$?
wait $sp
src=$?
echo "server rc $src, client rc $crc"
[ $src -eq 0 ] || { echo "---- server"; tail -n 20 "$OUT/counts.server.out"; }
[ $crc -eq 0 ] || { echo "---- client"; tail -n 20 "$OUT/counts.client.out"; }
[ $src -eq 0 ] && [ $crc -eq 0 ]
