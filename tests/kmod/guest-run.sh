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

# fastwake.ko creates /dev/fastwake root:root 0660; access is given by group,
# as an administrator would (docs/kmod.md "Who may open it"): group
# "fastwake", and the two unprivileged users the tests switch to (1001, 1002).
FW_GID=1500
grep -q '^fastwake:' /etc/group 2>/dev/null || echo "fastwake:x:$FW_GID:" >>/etc/group
give_device() { chgrp "$FW_GID" /dev/fastwake; }
load_module() { insmod /opt/fw/fastwake.ko && give_device; }

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
  load_module || { echo "unload: insmod again failed"; return 1; }
  [ -c /dev/fastwake ] || { echo "unload: no /dev/fastwake after insmod"; return 1; }
  echo "unload: refused while in use, clean unload after, reloaded"
}

# Several fuzzers at once, as three users (root and two unprivileged members
# of the device's group), each with churning threads and reopened files,
# while rmmod is tried again and again: it must be refused for as long as
# they all hold the device (their --ready files exist), and succeed after.
fuzz_procs() {
  local calls=$((${FW_FUZZ_CALLS:-400000} / 4)) dir=/tmp/fwfuzz pids=() i rc=0 tries=0 refused=0
  rm -rf "$dir"
  mkdir -p "$dir"
  chmod 1777 "$dir"
  ./fastwake_kmod_fuzz --calls "$calls" --threads 4 --min-seconds 5 --seed 0x1001 --ready "$dir/p0" \
    --json "$OUT/kmod-fuzz-procs.json" >"$dir/p0.out" 2>&1 &
  pids+=($!)
  ./fastwake_kmod_fuzz --calls "$calls" --threads 4 --min-seconds 5 --seed 0x1002 --ready "$dir/p1" \
    --as-user "1001:1001:$FW_GID" >"$dir/p1.out" 2>&1 &
  pids+=($!)
  ./fastwake_kmod_fuzz --calls "$calls" --threads 4 --min-seconds 5 --seed 0x1003 --ready "$dir/p2" \
    --as-user "1002:1002:$FW_GID" >"$dir/p2.out" 2>&1 &
  pids+=($!)
  all() { [ -f "$dir/p0" ] && [ -f "$dir/p1" ] && [ -f "$dir/p2" ]; }
  i=0
  while ! all && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
  all || { echo "fuzz-procs: the fuzzers never all opened the device"; cat "$dir"/p*.out; rc=1; }
  while all; do
    tries=$((tries + 1))
    if rmmod fastwake 2>/dev/null; then
      if all; then
        echo "fuzz-procs: rmmod succeeded while three processes hold /dev/fastwake"
        rc=1
      fi
      load_module
    else
      refused=$((refused + 1))
    fi
    sleep 0.3
  done
  for i in 0 1 2; do
    wait "${pids[$i]}" || { echo "fuzz-procs: fuzzer $i failed:"; tail -20 "$dir/p$i.out"; rc=1; }
    grep '^fuzz:' "$dir/p$i.out"
  done
  echo "fuzz-procs: rmmod refused $refused of $tries attempts while in use"
  [ "$refused" -ge 1 ] || { echo "fuzz-procs: no rmmod attempt while in use"; rc=1; }
  rmmod fastwake || { echo "fuzz-procs: rmmod failed after the fuzzers ended"; rc=1; }
  load_module || { echo "fuzz-procs: insmod again failed"; return 1; }
  return $rc
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
give_device
echo "guest: $(uname -r), $(nproc) CPUs; fastwake.ko $(cat /sys/module/fastwake/version 2>/dev/null); $(ls -l /dev/fastwake)"

step gtest ./fastwake_kmod_test --gtest_output="json:$OUT/kmod-gtest.json"
step fuzz ./fastwake_kmod_fuzz --calls "${FW_FUZZ_CALLS:-400000}" --threads 6 --seed "${FW_FUZZ_SEED:-0x5eed}" \
  --json "$OUT/kmod-fuzz.json"
step fuzz-procs fuzz_procs
step unload unload_test
step bench ./fastwake_kmod_bench --json "$OUT/kmod-bench.json"
step loopback-kmod loopback_kmod
step verbs-kmod verbs_kmod
# After everything: no registration may be left (the module reports it at unload).
step final-rmmod rmmod fastwake
exit $FAILED
