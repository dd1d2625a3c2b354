#!/bin/bash
# In-guest driver of the fastwake.ko suite (run by run-kmod-tests.sh through the testbed): tests, fuzz, unload, benchmark.
# Expects the programs, this script and fastwake.ko in /opt/fw and the module loaded.
# Writes /out/kmod-results.txt (one "<step> PASS|FAIL ..." line per step), kmod-gtest.json,
# kmod-fuzz.json, kmod-bench.json; exits non-zero if any step failed.
set -u
cd /opt/fw || exit 1
OUT=${FW_OUT:-/out}
RESULTS=$OUT/kmod-results.txt
: >"$RESULTS"
FAILED=0

step() { # NAME COMMAND...
  local name=$1 t0 rc
  shift
  echo "==== $name"
  t0=$(date +%s)
  "$@"
  rc=$?
  if [ $rc -eq 0 ]; then
    echo "$name PASS ($(($(date +%s) - t0)) s)" | tee -a "$RESULTS"
  else
    echo "$name FAIL (exit $rc, $(($(date +%s) - t0)) s)" | tee -a "$RESULTS"
    FAILED=1
  fi
}

# rmmod must be refused while threads wait in the module (their open files
# hold module references); once they are gone it must succeed, and the module
# must load again.
unload_test() {
  local hp rc refs i
  rm -f /tmp/hold.ready
  ./fastwake_kmod_hold --threads 6 --ready /tmp/hold.ready &
  hp=$!
  i=0
  while [ ! -f /tmp/hold.ready ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  if [ ! -f /tmp/hold.ready ]; then
    echo "unload: the waiters never got ready"
    kill -KILL $hp
    return 1
  fi
  refs=$(cat /sys/module/fastwake/refcnt)
  echo "unload: module refcount with 6 waiting threads: $refs"
  if rmmod fastwake 2>/tmp/rmmod.err; then
    echo "unload: rmmod succeeded while threads wait in the module"
    return 1
  fi
  echo "unload: rmmod refused while in use, as designed: $(cat /tmp/rmmod.err)"
  [ -c /dev/fastwake ] || { echo "unload: /dev/fastwake vanished"; return 1; }
  [ "$refs" -ge 1 ] || { echo "unload: refcount $refs while in use"; return 1; }
  kill -TERM $hp
  wait $hp
  rc=$?
  [ $rc -eq 0 ] || { echo "unload: the waiters did not all end with EINTR (exit $rc)"; return 1; }
  rmmod fastwake || { echo "unload: rmmod failed after the waiters left"; return 1; }
  [ ! -e /dev/fastwake ] || { echo "unload: /dev/fastwake still exists after rmmod"; return 1; }
  insmod /opt/fw/fastwake.ko || { echo "unload: insmod again failed"; return 1; }
  [ -c /dev/fastwake ] || { echo "unload: no /dev/fastwake after insmod"; return 1; }
  echo "unload: refused while in use, clean unload after, reloaded"
}

# hw/'s real-thread runtime with the module: the dispatcher hands over by
# switch-to, fastwake_irq waits on the module with the eventfd attached; the
# same runs with FASTWAKE_NO_KMOD=1 use futex/SCHED_IDLE and read().
loopback_kmod() {
  # One app core: the guest has 4 CPUs, the default server 4 app cores + the NIC thread's.
  local args=(loopback -q --set 'strategies=["fastwake_poll","fastwake_irq","interrupt"]' --set host.app_cores=1
              --set workload.threads_per_core=2 --set run.duration_ms=300 --set run.warmup_ms=30)
  ./fastwake-bench "${args[@]}" --json "$OUT/loopback-kmod.json" || return 1
  FASTWAKE_NO_KMOD=1 ./fastwake-bench "${args[@]}" --json "$OUT/loopback-nokmod.json" || return 1
  grep -q '"handoff_mechanism": "fastwake.ko switch-to"' "$OUT/loopback-kmod.json" ||
    { echo "loopback: the dispatcher did not use the module"; return 1; }
  grep -q '"wait_mechanism": "fastwake.ko wait, channel attached"' "$OUT/loopback-kmod.json" ||
    { echo "loopback: fastwake_irq did not wait on the module"; return 1; }
  grep -q '"handoff_mechanism": "futex + SCHED_IDLE"' "$OUT/loopback-nokmod.json" ||
    { echo "loopback: FASTWAKE_NO_KMOD=1 did not fall back"; return 1; }
}

# The verbs strategies over rxe with the module: the replay tool's server
# uses switch-to for fastwake_poll and the attached completion channel for
# fastwake_irq (ThreadRuntime picks fastwake.ko up when /dev/fastwake exists).
verbs_kmod() {
  local dev=${FW_RDMA_DEV:-rxe0} ip=${FW_SERVER_IP:-198.18.0.1} rc
  local sets=(--set 'strategies=["fastwake_poll","fastwake_irq","interrupt"]' --set host.app_cores=1
              --set workload.threads_per_core=2 --set run.duration_ms=300 --set run.warmup_ms=30)
  timeout 240 ./fastwake-bench server -d "$dev" -p 18600 --cpus 2 "${sets[@]}" \
    --json "$OUT/verbs-kmod.server.json" >"$OUT/verbs-kmod.server.out" 2>&1 &
  local sp=$!
  sleep 1
  timeout 240 ./fastwake-bench client "$ip" -d "$dev" -p 18600 --cpu 3 "${sets[@]}" \
    --json "$OUT/verbs-kmod.client.json" >"$OUT/verbs-kmod.client.out" 2>&1
  rc=$?
  wait $sp || { echo "verbs-kmod: server failed"; tail -5 "$OUT/verbs-kmod.server.out"; return 1; }
  [ $rc -eq 0 ] || { echo "verbs-kmod: client failed"; tail -5 "$OUT/verbs-kmod.client.out"; return 1; }
  grep -q '"handoff_mechanism": "fastwake.ko switch-to"' "$OUT/verbs-kmod.server.json" ||
    { echo "verbs-kmod: the dispatcher did not use the module"; return 1; }
  grep -q '"wait_mechanism": "fastwake.ko wait, channel attached"' "$OUT/verbs-kmod.server.json" ||
    { echo "verbs-kmod: fastwake_irq did not wait on the module"; return 1; }
}

if [ ! -c /dev/fastwake ]; then
  echo "/dev/fastwake is missing: fastwake.ko was not loaded" | tee -a "$RESULTS"
  exit 1
fi
echo "guest: $(uname -r), $(nproc) CPUs; fastwake.ko $(cat /sys/module/fastwake/version 2>/dev/null)"

step gtest ./fastwake_kmod_test --gtest_output="json:$OUT/kmod-gtest.json"
step fuzz ./fastwake_kmod_fuzz --calls "${FW_FUZZ_CALLS:-400000}" --threads 6 --seed "${FW_FUZZ_SEED:-0x5eed}" \
  --json "$OUT/kmod-fuzz.json"
step unload unload_test
step bench ./fastwake_kmod_bench --json "$OUT/kmod-bench.json"
step loopback-kmod loopback_kmod
step verbs-kmod verbs_kmod
# After everything: no registration may be left (the module reports it at unload).
step final-rmmod rmmod fastwake
exit $FAILED
