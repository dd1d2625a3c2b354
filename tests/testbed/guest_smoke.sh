#!/bin/bash
# tests/testbed/guest_smoke.sh: runs inside the testbed guest: verbs tools (polling + events), probes, module; results in /out.
set -u
OUT=${FW_OUT:-/out}
DEV=${FW_RDMA_DEV:?not in the testbed guest}
GID=${FW_GID_INDEX:?no GID index}
SRV=${FW_SERVER_IP:?no server IP}
failures=0
checks=0

check() { # NAME COMMAND...: run, record ok/FAIL in summary.txt
  local name=$1
  shift
  checks=$((checks + 1))
  if "$@"; then
    echo "ok   $name" | tee -a "$OUT/summary.txt"
  else
    echo "FAIL $name" | tee -a "$OUT/summary.txt"
    failures=$((failures + 1))
  fi
}

wait_listen() { # PORT: until a TCP listener is on PORT (at most 20 s)
  local i
  for _ in $(seq 1 200); do
    netstat -ltn 2>/dev/null | grep -q ":$1 " && return 0
    sleep 0.1
  done
  return 1
}

pair() { # TAG SERVER-CMD... -- CLIENT-ARGS...: server in background, client to $SRV
  local tag=$1 srv=() rc_s rc_c
  shift
  while [ "$1" != -- ]; do srv+=("$1"); shift; done
  shift
  timeout 120 "${srv[@]}" >"$OUT/${tag}_server.txt" 2>&1 &
  local pid=$!
  wait_listen 18515 || { kill $pid 2>/dev/null; echo "$tag: server never listened"; return 1; }
  timeout 120 "${srv[@]}" "$@" >"$OUT/${tag}_client.txt" 2>&1
  rc_c=$?
  wait $pid
  rc_s=$?
  [ $rc_c = 0 ] && [ $rc_s = 0 ] || { echo "$tag: server rc=$rc_s client rc=$rc_c"; tail -n 5 "$OUT/${tag}_client.txt"; return 1; }
}

: >"$OUT/summary.txt"
check "environment (FW_GUEST, $DEV, gid $GID)" test "${FW_GUEST:-}" = 1
check "ibv_devinfo: $DEV PORT_ACTIVE" \
  bash -c "ibv_devinfo -d $DEV >'$OUT/ibv_devinfo.txt' 2>&1 && grep -q PORT_ACTIVE '$OUT/ibv_devinfo.txt'"
if [ -d /sys/module/fw_testbed_hello ]; then
  check "--module: fw_testbed_hello loaded, magic=$(cat /sys/module/fw_testbed_hello/parameters/magic)" true
  check "rmmod fw_testbed_hello" rmmod fw_testbed_hello
fi
check "ib_send_lat polling" pair send_lat_poll ib_send_lat -d "$DEV" -x "$GID" -F -- "$SRV"
check "ib_send_lat events (-e)" pair send_lat_event ib_send_lat -d "$DEV" -x "$GID" -F -e -- "$SRV"
check "ibv_rc_pingpong polling" pair rc_pingpong_poll ibv_rc_pingpong -d "$DEV" -g "$GID" -- "$SRV"
check "ibv_rc_pingpong events (-e)" pair rc_pingpong_event ibv_rc_pingpong -d "$DEV" -g "$GID" -e -- "$SRV"
if [ -x /opt/fw/verbs_probe ]; then
  check "dynamic C++ program (--add, libstdc++ + libibverbs)" /opt/fw/verbs_probe "$OUT/verbs_probe.txt"
fi
if [ -x /opt/fw/bin/static_probe ]; then
  check "static C program (--add SRC:DEST/)" /opt/fw/bin/static_probe "$OUT/static_probe.txt"
fi

if [ $failures = 0 ]; then
  echo "guest smoke: all $checks checks passed"
else
  echo "guest smoke: $failures of $checks checks FAILED"
fi
exit $failures
