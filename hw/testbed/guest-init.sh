#!/usr/bin/busybox sh
# hw/testbed/guest-init.sh: /init of the testbed guest: Soft-RoCE setup, runs the command, sends results to the host.
#
# Inputs (put into the initramfs by run-in-guest.sh):
#   /fw/run.conf   FW_CMD_TIMEOUT (s), FW_MODULES (file names in /fw/modules, load order)
#   /fw/env        exports for the command (--env)
#   /fw/cmd.sh     the command (run with /bin/sh = bash); absent: interactive shell
# Output: one tar archive (status, stdout, stderr, out/ = /out incl. dmesg.txt),
# written to the results disk /dev/vda (layout in lib.sh), or if that fails
# gzip'ed, as base64 between FW-RESULT-BEGIN / FW-RESULT-END <md5> <bytes> lines on
# /dev/ttyS1 (a serial port only this script writes to; the kernel console is
# ttyS0), then power off.

export PATH=/usr/sbin:/usr/bin:/opt/fw
export HOME=/root LC_ALL=C
umask 022
BB=/usr/bin/busybox
IP=/usr/sbin/ip # iproute2's: busybox's ip applet cannot make a veth pair

$BB mount -t proc proc /proc
$BB mount -t sysfs sysfs /sys
$BB mount -t devtmpfs devtmpfs /dev
$BB mkdir -p /dev/pts /dev/shm
$BB mount -t devpts devpts /dev/pts
$BB mount -t tmpfs tmpfs /dev/shm
$BB mount -t tmpfs tmpfs /run
$BB mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
$BB mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
$BB hostname fw-guest

log() { echo "fw-init: $*"; }
uptime_s() { $BB cut -d' ' -f1 /proc/uptime; }

RES=/run/fw/res
mkdir -p "$RES" /out
STATUS=ok
MSG=
RC=0
fail() {
  STATUS=setup
  MSG=$*
  log "SETUP FAILED: $*"
}

FW_CMD_TIMEOUT=300
FW_MODULES=
[ -f /fw/run.conf ] && . /fw/run.conf
KVER=$(uname -r)
log "kernel $KVER up at $(uptime_s) s"

# 1. The RDMA stack's modules, dependencies first (order made at build time).
while read -r rel; do
  [ -n "$rel" ] || continue
  insmod "/lib/modules/$KVER/$rel" || { fail "insmod $rel failed"; break; }
done </etc/fw/modules.load

# 2. A veth pair in 198.18.0.0/15 (benchmark range; nothing leaves the guest)
#    and one rxe device on veth0, shared by every process in the guest.
if [ $STATUS = ok ]; then
  $IP link set lo up &&
    $IP link add veth0 type veth peer name veth1 &&
    $IP addr add 198.18.0.1/24 dev veth0 &&
    $IP addr add 198.18.0.2/24 dev veth1 &&
    $IP link set veth0 up &&
    $IP link set veth1 up || fail "veth setup failed"
fi
if [ $STATUS = ok ]; then
  rdma link add rxe0 type rxe netdev veth0 || fail "rdma link add rxe0 failed"
fi
GID_INDEX=
if [ $STATUS = ok ]; then
  # Wait (at most 30 s) for the port to be ACTIVE and for the IPv4 GID.
  i=0
  while [ $i -lt 300 ]; do
    state=$(cat /sys/class/infiniband/rxe0/ports/1/state 2>/dev/null)
    case $state in
      *ACTIVE*)
        for g in /sys/class/infiniband/rxe0/ports/1/gids/*; do
          if [ "$(cat "$g" 2>/dev/null)" = "0000:0000:0000:0000:0000:ffff:c612:0001" ]; then
            GID_INDEX=${g##*/}
            break
          fi
        done
        ;;
    esac
    [ -n "$GID_INDEX" ] && [ -c /dev/infiniband/uverbs0 ] && break
    sleep 0.1
    i=$((i + 1))
  done
  if [ -z "$GID_INDEX" ] || [ ! -c /dev/infiniband/uverbs0 ]; then
    fail "rxe0 not ACTIVE with an IPv4 GID after 30 s (state: ${state:-none})"
  else
    log "rxe0 ACTIVE on veth0 (198.18.0.1, gid index $GID_INDEX) at $(uptime_s) s"
  fi
fi

# 3. The caller's modules (--module), in order.
if [ $STATUS = ok ]; then
  for m in $FW_MODULES; do
    out=$(insmod "/fw/modules/$m" 2>&1) || { fail "insmod ${m#*-} failed: $out (see dmesg.txt)"; break; }
    log "loaded ${m#*-}"
  done
fi

export FW_GUEST=1 FW_RDMA_DEV=rxe0 FW_NETDEV=veth0 FW_SERVER_IP=198.18.0.1 FW_PEER_IP=198.18.0.2
export FW_GID_INDEX=$GID_INDEX FW_OUT=/out FW_KERNEL=$KVER
[ -f /fw/env ] && . /fw/env

if [ ! -f /fw/cmd.sh ]; then
  # Interactive (run-in-guest.sh --shell): a shell on the console, then power off.
  cd /opt/fw
  log "no command: interactive shell; 'exit' powers off"
  setsid cttyhack /bin/sh -l
  sync
  poweroff -f
fi

# 4. The command: own session (so a timeout kills all its processes),
#    stdout/stderr both to files and live to the console.
if [ $STATUS = ok ]; then
  cd /opt/fw
  mkfifo /run/fw/o /run/fw/e
  tee "$RES/stdout" </run/fw/o &
  t1=$!
  tee "$RES/stderr" </run/fw/e >&2 &
  t2=$!
  log "running command (timeout ${FW_CMD_TIMEOUT} s) at $(uptime_s) s"
  setsid /bin/sh /fw/cmd.sh </dev/null >/run/fw/o 2>/run/fw/e &
  cpid=$!
  (
    sleep "$FW_CMD_TIMEOUT"
    : >/run/fw/timed_out
    kill -KILL -"$cpid" 2>/dev/null
  ) &
  wd=$!
  wait "$cpid"
  RC=$?
  kill "$wd" 2>/dev/null
  kill -KILL -"$cpid" 2>/dev/null # leftovers of the command's session
  i=0
  while [ $i -lt 50 ] && { kill -0 $t1 2>/dev/null || kill -0 $t2 2>/dev/null; }; do
    sleep 0.1
    i=$((i + 1))
  done
  kill $t1 $t2 2>/dev/null
  if [ -f /run/fw/timed_out ]; then
    STATUS=timeout
    MSG="command timed out after ${FW_CMD_TIMEOUT} s (killed)"
    log "$MSG"
  else
    log "command exited with status $RC at $(uptime_s) s"
  fi
fi

# 5. Results: dmesg into /out, then everything to the host.
dmesg >/out/dmesg.txt 2>&1
{
  echo "status=$STATUS"
  echo "rc=$RC"
  echo "msg=$MSG"
} >"$RES/status"
touch "$RES/stdout" "$RES/stderr"
mkdir -p "$RES/out"
mount --bind /out "$RES/out" || cp -a /out/. "$RES/out/"
tar -C "$RES" -cf /run/fw/res.tar . || log "tar of the results failed"
umount "$RES/out" 2>/dev/null

# First choice: the results disk (/dev/vda, fast; plain tar); else the serial
# port ttyS1 (~250 KB/s; gzip'ed tar in base64), else the console (same, and
# checksummed, since kernel messages may interleave).
send_disk() {
  [ -b /dev/vda ] || return 1
  size=$(wc -c </run/fw/res.tar)
  cap=$(blockdev --getsize64 /dev/vda 2>/dev/null) || return 1
  [ $((size + 1048576)) -le "$cap" ] || { log "results ($size bytes) do not fit the results disk"; return 1; }
  dd if=/run/fw/res.tar of=/dev/vda bs=1M seek=1 conv=fsync 2>/dev/null || return 1
  printf 'FW-RESULT v1 %s %s\n' "$size" "$(md5sum </run/fw/res.tar | cut -c1-32)" >/run/fw/header
  dd if=/run/fw/header of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null || return 1
}
send_serial() { # DEVICE
  [ -f /run/fw/res.tgz ] || gzip -c /run/fw/res.tar >/run/fw/res.tgz
  {
    echo
    echo "FW-RESULT-BEGIN"
    base64 /run/fw/res.tgz
    echo "FW-RESULT-END $(md5sum </run/fw/res.tgz | cut -c1-32) $(wc -c </run/fw/res.tgz)"
  } >"$1"
}
if send_disk; then
  how="results disk"
else
  stty -F /dev/ttyS1 raw -echo 2>/dev/null
  if send_serial /dev/ttyS1 2>/dev/null; then
    how="serial port ttyS1"
  else
    how="console"
    send_serial /dev/console
  fi
fi
log "results sent ($(wc -c </run/fw/res.tar) bytes of tar, $how) at $(uptime_s) s"
sync
poweroff -f
