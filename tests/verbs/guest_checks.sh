#!/bin/bash
# Runs the verbs checks on one machine with an RDMA device (the testbed guest, or a host with a NIC); results go to $FW_OUT for check_results.py.
#
# Env: FW_RDMA_DEV (device), FW_SERVER_IP (address both sides use for the TCP
# side channel), FW_GID_INDEX (GID for perftest; empty: let the tools pick),
# FW_OUT (output directory), FW_BIN (directory with fastwake-bench,
# libfastwake-preload.so, fw_shim_probe, verbs_smoke.json; default: this
# script's directory),
# FW_SERVER_CPU / FW_CLIENT_CPU (default 1 / last CPU), FW_CASES (space-separated
# case names to run; default all - for debugging one case).
# Every case writes <case>.rc, <case>.out (and JSON / shim stats); this script
# only runs things, the host asserts. Exit status: 0 if every case ran.
set -u
BIN=${FW_BIN:-$(cd "$(dirname "$0")" && pwd)}
OUT=${FW_OUT:-/tmp/fw-verbs-out}
DEV=${FW_RDMA_DEV:?FW_RDMA_DEV is not set}
IP=${FW_SERVER_IP:-127.0.0.1}
NCPU=$(nproc)
SCPU=${FW_SERVER_CPU:-1}
CCPU=${FW_CLIENT_CPU:-$((NCPU - 1))}
[ "$NCPU" -ge 3 ] || { echo "guest_checks: need 3 CPUs, have $NCPU"; exit 1; }
GIDOPT=()
[ -n "${FW_GID_INDEX:-}" ] && GIDOPT=(-x "$FW_GID_INDEX")
RCGIDOPT=()
[ -n "${FW_GID_INDEX:-}" ] && RCGIDOPT=(-g "$FW_GID_INDEX")
BENCH=$BIN/fastwake-bench
SHIM=$BIN/libfastwake-preload.so
CFG=$BIN/verbs_smoke.json
PROBE=$BIN/fw_shim_probe
mkdir -p "$OUT"
PORT=18515

stamp() { echo "[$(cut -d' ' -f1 /proc/uptime) s] $*"; }

# pair NAME TIMEOUT SERVER_CMD... -- CLIENT_CMD...: runs a server in the
# background and the client against it; records both exit statuses.
pair() {
  local name=$1 to=$2
  shift 2
  if [ -n "${FW_CASES:-}" ] && [[ " $FW_CASES " != *" $name "* ]]; then return 0; fi
  local srv=() cli=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do srv+=("$1"); shift; done
  shift
  cli=("$@")
  stamp "case $name"
  timeout "$to" "${srv[@]}" >"$OUT/$name.server.out" 2>&1 &
  local sp=$!
  sleep 1
  timeout "$to" "${cli[@]}" >"$OUT/$name.client.out" 2>&1
  echo $? >"$OUT/$name.client.rc"
  wait $sp
  echo $? >"$OUT/$name.server.rc"
  stamp "  $name: server rc $(cat "$OUT/$name.server.rc"), client rc $(cat "$OUT/$name.client.rc")"
  PORT=$((PORT + 1))  # a fresh port per case: no TIME_WAIT surprises
}

# single NAME TIMEOUT CMD...: one process.
single() {
  local name=$1 to=$2
  shift 2
  if [ -n "${FW_CASES:-}" ] && [[ " $FW_CASES " != *" $name "* ]]; then return 0; fi
  stamp "case $name"
  timeout "$to" "$@" >"$OUT/$name.out" 2>&1
  echo $? >"$OUT/$name.rc"
  stamp "  $name: rc $(cat "$OUT/$name.rc")"
}

echo "device $DEV, side channel $IP, GID index ${FW_GID_INDEX:-auto}, $NCPU CPUs, server CPU $SCPU, client CPU $CCPU" \
  >"$OUT/env.txt"
cat "$OUT/env.txt"

# 1. The replay tool: every strategy of the smoke config, exactly-once checked
#    on both sides (a violation exits 1).
pair replay 240 \
  "$BENCH" server -d "$DEV" -p $PORT --cpus "$SCPU" "$CFG" --json "$OUT/replay.server.json" -- \
  "$BENCH" client "$IP" -d "$DEV" -p $PORT --cpu "$CCPU" "$CFG" --json "$OUT/replay.client.json"

# 2. Poisson load, perftest-style options: -s size, -n iterations, two
#    strategies (one blocking, the dispatcher).
pair poisson 120 \
  "$BENCH" server -d "$DEV" -p $PORT --cpus "$SCPU" -s 256 -X 0 "$CFG" \
  --set workload.kind=poisson --set workload.rate_rps=500 --json "$OUT/poisson.server.json" -- \
  "$BENCH" client "$IP" -d "$DEV" -p $PORT --cpu "$CCPU" -s 256 -n 200 --strategy interrupt,fastwake_poll "$CFG" \
  --set workload.kind=poisson --set workload.rate_rps=500 --json "$OUT/poisson.client.json"

# 3. Two app cores, a thread migrating mid-run: the server moves it
#    (ThreadRuntime::migrate) and the remapper follows it with its vector;
#    8-byte messages (the 16-byte header still goes on the wire).
pair migrate 120 \
  "$BENCH" server -d "$DEV" -p $PORT --cpus "$SCPU,$((SCPU + 1))" -s 8 "$CFG" --set host.app_cores=2 \
  --set workload.threads_per_core=2 --set 'workload.migrations=[{"at_ms":60,"thread":0,"to_core":1}]' \
  --json "$OUT/migrate.server.json" -- \
  "$BENCH" client "$IP" -d "$DEV" -p $PORT --cpu "$CCPU" -s 8 --strategy fastwake_irq,fastwake_poll "$CFG" \
  --set host.app_cores=2 --set workload.threads_per_core=2 \
  --set 'workload.migrations=[{"at_ms":60,"thread":0,"to_core":1}]' --json "$OUT/migrate.client.json"

# 4. Mismatched configs must be refused on both sides with a clear message.
pair mismatch 60 \
  "$BENCH" server -d "$DEV" -p $PORT --cpus "$SCPU" "$CFG" -- \
  "$BENCH" client "$IP" -d "$DEV" -p $PORT --cpu "$CCPU" -s 128 -e "$CFG"

# 5. Unmodified perftest: polling, events, events under the shim (each mode).
#    Both processes pinned (taskset); the shim's dispatcher follows its
#    process's CPU. Shim counters go to <case>.{server,client}.stats.
ITERS=200
pair lat_poll 120 \
  taskset -c "$SCPU" ib_send_lat -d "$DEV" "${GIDOPT[@]}" -F -n $ITERS -p $PORT -- \
  taskset -c "$CCPU" ib_send_lat -d "$DEV" "${GIDOPT[@]}" -F -n $ITERS -p $PORT "$IP"
pair lat_events 120 \
  taskset -c "$SCPU" ib_send_lat -d "$DEV" "${GIDOPT[@]}" -F -e -n $ITERS -p $PORT -- \
  taskset -c "$CCPU" ib_send_lat -d "$DEV" "${GIDOPT[@]}" -F -e -n $ITERS -p $PORT "$IP"
for mode in dispatcher irq off; do
  pair "lat_shim_$mode" 150 \
    env LD_PRELOAD="$SHIM" FW_PRELOAD_MODE=$mode FW_PRELOAD_STATS="$OUT/lat_shim_$mode.server.stats" \
    taskset -c "$SCPU" ib_send_lat -d "$DEV" "${GIDOPT[@]}" -F -e -n $ITERS -p $PORT -- \
    env LD_PRELOAD="$SHIM" FW_PRELOAD_MODE=$mode FW_PRELOAD_STATS="$OUT/lat_shim_$mode.client.stats" \
    taskset -c "$CCPU" ib_send_lat -d "$DEV" "${GIDOPT[@]}" -F -e -n $ITERS -p $PORT "$IP"
done
# 5a. Dispatcher mode whose dispatcher thread cannot be started (the test
#     seam makes pthread_create fail): the channels must stay on the stock
#     path, and the run must complete (before: every waiter hung).
pair lat_shim_nothread 150 \
  env LD_PRELOAD="$SHIM" FW_PRELOAD_MODE=dispatcher FW_PRELOAD_TEST_FAIL_THREAD=1 \
  FW_PRELOAD_STATS="$OUT/lat_shim_nothread.server.stats" \
  taskset -c "$SCPU" ib_send_lat -d "$DEV" "${GIDOPT[@]}" -F -e -n $ITERS -p $PORT -- \
  env LD_PRELOAD="$SHIM" FW_PRELOAD_MODE=dispatcher FW_PRELOAD_TEST_FAIL_THREAD=1 \
  FW_PRELOAD_STATS="$OUT/lat_shim_nothread.client.stats" \
  taskset -c "$CCPU" ib_send_lat -d "$DEV" "${GIDOPT[@]}" -F -e -n $ITERS -p $PORT "$IP"
for mode in dispatcher irq; do
  pair "rc_shim_$mode" 150 \
    env LD_PRELOAD="$SHIM" FW_PRELOAD_MODE=$mode FW_PRELOAD_STATS="$OUT/rc_shim_$mode.server.stats" \
    taskset -c "$SCPU" ibv_rc_pingpong -d "$DEV" "${RCGIDOPT[@]}" -e -n $ITERS -p $PORT -- \
    env LD_PRELOAD="$SHIM" FW_PRELOAD_MODE=$mode FW_PRELOAD_STATS="$OUT/rc_shim_$mode.client.stats" \
    taskset -c "$CCPU" ibv_rc_pingpong -d "$DEV" "${RCGIDOPT[@]}" -e -n $ITERS -p $PORT "$IP"
done
# 5b. irq mode with an IRQ to move: rxe has no IRQs, so the server's shim is
#     given one of this machine's virtio IRQs as vector 0's (FW_PRELOAD_IRQS);
#     core's remap driver must re-pin it to the waiting thread's CPU.
#     (virtio-net's receive IRQ, else a config IRQ: not kernel-managed, so movable).
virtio_irq() { awk -v pat="$1" '$0 ~ pat && $1 ~ /^[0-9]+:$/ { sub(":", "", $1); print $1; exit }' /proc/interrupts; }
PIN_IRQ=$(virtio_irq 'virtio[0-9]+-input')
[ -n "$PIN_IRQ" ] || PIN_IRQ=$(virtio_irq 'virtio[0-9]+-config')
if [ -n "$PIN_IRQ" ] && { [ -z "${FW_CASES:-}" ] || [[ " $FW_CASES " == *" lat_shim_irq_pin "* ]]; }; then
  before=$(cat /proc/irq/"$PIN_IRQ"/smp_affinity_list 2>/dev/null)
  pair lat_shim_irq_pin 150 \
    env LD_PRELOAD="$SHIM" FW_PRELOAD_MODE=irq FW_PRELOAD_IRQS="$PIN_IRQ" \
    FW_PRELOAD_STATS="$OUT/lat_shim_irq_pin.server.stats" \
    taskset -c "$SCPU" ib_send_lat -d "$DEV" "${GIDOPT[@]}" -F -e -n $ITERS -p $PORT -- \
    env LD_PRELOAD="$SHIM" FW_PRELOAD_MODE=irq FW_PRELOAD_STATS="$OUT/lat_shim_irq_pin.client.stats" \
    taskset -c "$CCPU" ib_send_lat -d "$DEV" "${GIDOPT[@]}" -F -e -n $ITERS -p $PORT "$IP"
  echo "irq $PIN_IRQ cpu $SCPU before $before after $(cat /proc/irq/"$PIN_IRQ"/smp_affinity_list 2>/dev/null)" \
    >"$OUT/lat_shim_irq_pin.affinity"
  [ -n "$before" ] && echo "$before" >/proc/irq/"$PIN_IRQ"/smp_affinity_list 2>/dev/null
fi
# 6. A verbs program with threads, 2 CQs on one channel, a non-blocking
#    channel fd driven by poll(), and fork(): stock, and under the shim.
single probe_stock 120 "$PROBE" "$DEV" ${FW_GID_INDEX:-}
for mode in dispatcher irq; do
  single "probe_shim_$mode" 120 env LD_PRELOAD="$SHIM" FW_PRELOAD_MODE=$mode \
    FW_PRELOAD_STATS="$OUT/probe_shim_$mode.stats" taskset -c "$SCPU" "$PROBE" "$DEV" ${FW_GID_INDEX:-}
done
stamp "all cases ran"
