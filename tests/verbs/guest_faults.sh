#!/bin/bash
# Fault cases of the replay tool (issue 15 item 4), run where guest_checks.sh
# runs (the testbed guest, or a host with an RDMA device); results go to
# $FW_OUT for check_results.py --faults. Every process is bounded by timeout(1)
# (rc 124 = it hung); this script only injects and records, the host asserts.
#
# One long-running server (--forever --idle-timeout 5) meets: a good client
# (baseline), a client killed with SIGKILL mid-strategy, a client whose QP is
# moved to the error state mid-strategy (FW_REPLAY_TEST_QP_ERROR), a client
# whose second strategy announces another message size (FW_REPLAY_TEST_SIZE_AT),
# a client stopped (SIGSTOP) longer than the idle timeout, the link of rxe's
# netdev taken down and up mid-strategy, and a good client afterwards. Its fds,
# QPs, CQs and MRs are counted after the baseline client and after the last.
# Two one-shot servers: one whose client is killed (the server must exit 1 and
# write the strategy that finished), one killed itself (the client must).
#
# Env: as guest_checks.sh (FW_RDMA_DEV, FW_SERVER_IP, FW_OUT, FW_BIN,
# FW_SERVER_CPU, FW_CLIENT_CPU, FW_CASES), FW_NETDEV (rxe's netdev; default:
# read from `rdma link`).
set -u
BIN=${FW_BIN:-$(cd "$(dirname "$0")" && pwd)}
OUT=${FW_OUT:-/tmp/fw-verbs-out}
DEV=${FW_RDMA_DEV:?FW_RDMA_DEV is not set}
IP=${FW_SERVER_IP:-127.0.0.1}
NCPU=$(nproc)
SCPU=${FW_SERVER_CPU:-1}
CCPU=${FW_CLIENT_CPU:-$((NCPU - 1))}
NETDEV=${FW_NETDEV:-$(rdma link show "$DEV/1" 2>/dev/null | sed -n 's/.*netdev \([^ ]*\).*/\1/p')}
BENCH=$BIN/fastwake-bench
CFG=$BIN/verbs_smoke.json
mkdir -p "$OUT"
PORT=18615
TWO=busy_poll,interrupt

stamp() { echo "[$(cut -d' ' -f1 /proc/uptime) s] $*"; }
now() { cut -d' ' -f1 /proc/uptime; }
want() { [ -z "${FW_CASES:-}" ] || [[ " $FW_CASES " == *" $1 "* ]]; }

# wait_for FILE REGEX SECONDS: until the file has a line matching.
wait_for() {
  local i=0
  while ! grep -qE "$2" "$1" 2>/dev/null; do
    i=$((i + 1))
    [ $i -gt $(($3 * 10)) ] && return 1
    sleep 0.1
  done
}

# watchdog PID SECONDS FILE: SIGKILLs PID after SECONDS and writes FILE (a
# hang); WD is the watchdog's pid (killed when PID ends in time).
watchdog() {
  (
    sleep "$2"
    kill -0 "$1" 2>/dev/null && { echo "killed after $2 s" >"$3"; kill -KILL "$1"; }
  ) &
  WD=$!
}

# client NAME SECONDS [ENV=...] -- ARGS...: a client in the background;
# CPID is its pid; finish_client NAME records rc and elapsed time.
client() {
  local name=$1 to=$2
  shift 2
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  stamp "case $name"
  echo "$(now)" >"$OUT/$name.t0"
  env "${envs[@]}" "$BENCH" client "$IP" -d "$DEV" -p "$SPORT" --cpu "$CCPU" "$CFG" \
    --json "$OUT/$name.client.json" "$@" >"$OUT/$name.client.out" 2>&1 &
  CPID=$!
  watchdog "$CPID" "$to" "$OUT/$name.client.hung"
  CWD=$WD
}
finish_client() {
  wait "$CPID"
  echo $? >"$OUT/$1.client.rc"
  kill "$CWD" 2>/dev/null
  echo "$(now) $(cat "$OUT/$1.t0")" | awk '{ printf "%.1f\n", $1 - $2 }' >"$OUT/$1.client.secs"
  stamp "  $1: client rc $(cat "$OUT/$1.client.rc") after $(cat "$OUT/$1.client.secs") s"
}

# resources PID FILE: fds, and the QPs/CQs/MRs rdma(8) lists for the pid.
resources() {
  local pid=$1 f=$2 fds qp cq mr
  fds=$(ls /proc/"$pid"/fd 2>/dev/null | wc -l)
  qp=$(rdma res show qp 2>/dev/null | grep -cw "pid $pid")
  cq=$(rdma res show cq 2>/dev/null | grep -cw "pid $pid")
  mr=$(rdma res show mr 2>/dev/null | grep -cw "pid $pid")
  echo "fds $fds qps $qp cqs $cq mrs $mr" >"$f"
  { rdma res show qp; rdma res show cq; rdma res show mr; ls -l /proc/"$pid"/fd; } >"$f.raw" 2>&1
}

wait_active() {
  for _ in $(seq 1 300); do
    grep -q ACTIVE /sys/class/infiniband/"$DEV"/ports/1/state 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

echo "device $DEV on $NETDEV, side channel $IP, $NCPU CPUs, server CPU $SCPU, client CPU $CCPU" >"$OUT/faults.env"
cat "$OUT/faults.env"

# ---- the long-running server ------------------------------------------------
SPORT=$PORT
PORT=$((PORT + 1))
"$BENCH" server -d "$DEV" -p "$SPORT" --cpus "$SCPU" "$CFG" --forever --idle-timeout 5 \
  >"$OUT/forever.server.out" 2>&1 &
FPID=$!
watchdog "$FPID" 600 "$OUT/forever.server.hung"
WDF=$WD
sleep 1

client good0 120 -- --strategy $TWO
finish_client good0
resources "$FPID" "$OUT/forever.before"

if want client_kill; then
  client client_kill 120 -- --strategy $TWO --set run.duration_ms=8000
  wait_for "$OUT/client_kill.client.out" 'client: \[1/2\]' 90 && sleep 1.5
  resources "$FPID" "$OUT/forever.during"  # mid-session: the counts must see its QPs
  kill -KILL "$CPID"
  finish_client client_kill
fi

if want qp_error; then
  client qp_error 120 FW_REPLAY_TEST_QP_ERROR=1:50 -- --strategy $TWO
  finish_client qp_error
fi

if want mismatch_mid; then
  client mismatch_mid 120 FW_REPLAY_TEST_SIZE_AT=1:128 -- --strategy $TWO
  finish_client mismatch_mid
fi

if want slow_client; then
  client slow_client 120 -- --strategy $TWO --set run.duration_ms=4000
  wait_for "$OUT/slow_client.client.out" 'client: \[1/2\]' 90 && sleep 1.5
  kill -STOP "$CPID"
  stamp "  slow_client: stopped for 9 s (server --idle-timeout 5)"
  sleep 9
  kill -CONT "$CPID"
  finish_client slow_client
fi

if want link_flap; then
  client link_flap 120 -- --strategy $TWO --set run.duration_ms=5000
  wait_for "$OUT/link_flap.client.out" 'client: \[1/2\]' 90 && sleep 1.5
  stamp "  link_flap: ip link set $NETDEV down for 3 s"
  ip link set "$NETDEV" down
  sleep 3
  ip link set "$NETDEV" up
  wait_active || stamp "  link_flap: $DEV not ACTIVE 30 s after link up"
  finish_client link_flap
  # the address's routes come back with the link; give rxe a moment
  sleep 1
fi

client good_after 120 -- --strategy $TWO
finish_client good_after
sleep 1
resources "$FPID" "$OUT/forever.after"

# The replay tool's soak, short form: 20 more clients (three short
# strategies each) against the same server; its VmRSS and fds after each go to
# forever.soak (check_results.py: flat after a warm-up). The full recipe is
# in docs/hw.md "Soak".
if want soak; then
  : >"$OUT/forever.soak"
  for i in $(seq 1 20); do
    client soak 60 -- --strategy busy_poll,fastwake_poll,interrupt --set run.duration_ms=100
    finish_client soak >/dev/null
    [ "$(cat "$OUT/soak.client.rc")" = 0 ] || { echo "client $i rc $(cat "$OUT/soak.client.rc")" >>"$OUT/forever.soak"; break; }
    echo "$i $(ls /proc/"$FPID"/fd 2>/dev/null | wc -l) $(awk '/^VmRSS/ {print $2}' /proc/"$FPID"/status)" >>"$OUT/forever.soak"
  done
fi
if kill -0 "$FPID" 2>/dev/null; then echo alive >"$OUT/forever.server.alive"; else echo dead >"$OUT/forever.server.alive"; fi
kill -TERM "$FPID" 2>/dev/null
wait "$FPID" 2>/dev/null
kill "$WDF" 2>/dev/null
stamp "forever server: before $(cat "$OUT/forever.before"), after $(cat "$OUT/forever.after")"

# ---- one-shot servers -----------------------------------------------------------
# oneshot NAME: a server that exits after its client's last strategy.
oneshot() {
  SPORT=$PORT
  PORT=$((PORT + 1))
  echo "$(now)" >"$OUT/$1.server.t0"
  "$BENCH" server -d "$DEV" -p "$SPORT" --cpus "$SCPU" "$CFG" --idle-timeout 5 \
    --json "$OUT/$1.server.json" >"$OUT/$1.server.out" 2>&1 &
  SPID=$!
  watchdog "$SPID" 180 "$OUT/$1.server.hung"
  SWD=$WD
  sleep 1
}
finish_server() {
  wait "$SPID"
  echo $? >"$OUT/$1.server.rc"
  kill "$SWD" 2>/dev/null
  echo "$(now) $(cat "$OUT/$1.server.t0")" | awk '{ printf "%.1f\n", $1 - $2 }' >"$OUT/$1.server.secs"
  stamp "  $1: server rc $(cat "$OUT/$1.server.rc")"
}

if want client_kill_oneshot; then
  oneshot client_kill_oneshot
  client client_kill_oneshot 120 -- --strategy $TWO --set run.duration_ms=4000
  wait_for "$OUT/client_kill_oneshot.client.out" 'client: \[1/2\]' 90 && sleep 1.5
  kill -KILL "$CPID"
  finish_client client_kill_oneshot
  finish_server client_kill_oneshot
fi

if want server_kill; then
  oneshot server_kill
  client server_kill 120 -- --strategy $TWO --set run.duration_ms=4000
  wait_for "$OUT/server_kill.client.out" 'client: \[1/2\]' 90 && sleep 1.5
  kill -KILL "$SPID"
  finish_server server_kill
  finish_client server_kill
fi
# ---- the shim under stress: same stdout with and without it ---------------------
STRESS=$BIN/fw_shim_stress
SHIM=$BIN/libfastwake-preload.so
# stress NAME ENV...: fw_shim_stress under env, watchdog 150 s.
stress() {
  local name=$1
  shift
  want "$name" || return 0
  stamp "case $name"
  env "$@" "$STRESS" "$DEV" ${FW_GID_INDEX:-} >"$OUT/$name.out" 2>"$OUT/$name.err" &
  local p=$!
  watchdog "$p" 150 "$OUT/$name.hung"
  wait "$p"
  echo $? >"$OUT/$name.rc"
  kill "$WD" 2>/dev/null
  stamp "  $name: rc $(cat "$OUT/$name.rc")"
}
if [ -x "$STRESS" ]; then
  stress stress_stock FW_STRESS=stock
  for mode in dispatcher irq; do
    stress "stress_shim_$mode" LD_PRELOAD="$SHIM" FW_PRELOAD_MODE=$mode FW_PRELOAD_STATS="$OUT/stress_shim_$mode.stats"
  done
fi
stamp "all fault cases ran"
