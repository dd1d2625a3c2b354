#!/usr/bin/env bash
# tests/testbed/smoke.sh: testbed smoke test: boot the guest, verbs tools in both modes, --add/--module/--out round trip.
# Usage: smoke.sh [--guest-dir DIR]   Exit: 0 pass, 1 fail, 77 skip (no QEMU).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RUN_IN_GUEST=$REPO/hw/testbed/run-in-guest.sh
GUEST_DIR=${FW_TESTBED_DIR:-$REPO/build/testbed}
[ "${1:-}" = --guest-dir ] && GUEST_DIR=$2

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  echo "SKIP: qemu-system-x86_64 is not installed (Debian package qemu-system-x86; run scripts/install-deps.sh)"
  exit 77
fi
fail() {
  echo "FAIL: $*" >&2
  KEEP=1
  exit 1
}

W=$(mktemp -d "${TMPDIR:-/tmp}/fw-smoke.XXXXXX")
KEEP=0
trap '[ $KEEP = 1 ] && echo "smoke: work directory kept: $W" >&2 || rm -rf "$W"' EXIT
T0=$(date +%s)

# Host-built programs and module, as other tests will do.
bash "$REPO/hw/testbed/build-guest.sh" --out "$GUEST_DIR" || fail "build-guest.sh failed"
KVER=$(bash "$REPO/hw/testbed/build-guest.sh" --out "$GUEST_DIR" --print-kernel-version)
HDRS=/usr/src/linux-headers-$KVER
[ -d "$HDRS" ] || fail "$HDRS missing: the guest kernel's headers (run scripts/install-deps.sh)"
${CXX:-c++} -std=c++20 -O2 -Wall -Wextra -o "$W/verbs_probe" "$HERE/verbs_probe.cc" -libverbs ||
  fail "cannot build verbs_probe (needs libibverbs-dev)"
${CC:-cc} -O2 -Wall -static -o "$W/static_probe" "$HERE/static_probe.c" || fail "cannot build static_probe"
cp -r "$HERE/hello_mod" "$W/mod"
make -s -C "$HDRS" M="$W/mod" modules >"$W/kbuild.log" 2>&1 || { cat "$W/kbuild.log" >&2; fail "module build failed"; }
T1=$(date +%s)

# One boot runs every guest-side check.
set +e
"$RUN_IN_GUEST" --skip-unavailable --guest-dir "$GUEST_DIR" --no-build --timeout 240 --out "$W/out" \
  --add "$W/verbs_probe" --add "$W/static_probe:/opt/fw/bin/" --add "$HERE/guest_smoke.sh" \
  --module "$W/mod/fw_testbed_hello.ko" \
  -- /opt/fw/guest_smoke.sh >"$W/stdout" 2>"$W/stderr"
rc=$?
set -e
T2=$(date +%s)
cat "$W/stdout"
[ $rc = 77 ] && { cat "$W/stderr"; exit 77; }
[ $rc = 0 ] || { cat "$W/stderr" >&2; fail "run-in-guest.sh exited $rc"; }

# Assertions on what came back.
O=$W/out
grep -q "guest smoke: all .* checks passed" "$W/stdout" || fail "guest-side summary missing from stdout"
for f in summary.txt ibv_devinfo.txt dmesg.txt console.log verbs_probe.txt static_probe.txt \
  send_lat_poll_server.txt send_lat_poll_client.txt send_lat_event_server.txt send_lat_event_client.txt \
  rc_pingpong_poll_server.txt rc_pingpong_poll_client.txt rc_pingpong_event_server.txt rc_pingpong_event_client.txt; do
  [ -s "$O/$f" ] || fail "$f did not come back from the guest"
done
[ "$(grep -c '^ok ' "$O/summary.txt")" -ge 9 ] || fail "expected >= 9 guest checks: $(cat "$O/summary.txt")"
! grep -q '^FAIL' "$O/summary.txt" || fail "guest checks failed: $(grep '^FAIL' "$O/summary.txt")"
grep -q 'PORT_ACTIVE' "$O/ibv_devinfo.txt" || fail "rxe0 not PORT_ACTIVE"
grep -q 'Test with events' "$O/send_lat_event_client.txt" || fail "ib_send_lat -e did not use events"
for m in poll event; do
  for side in server client; do
    grep -qE '^ *2 +1000 +[0-9.]+' "$O/send_lat_${m}_${side}.txt" || fail "no result row in send_lat_${m}_${side}.txt"
    grep -q '1000 iters in' "$O/rc_pingpong_${m}_${side}.txt" || fail "no result in rc_pingpong_${m}_${side}.txt"
  done
done
grep -Eqi 'port_state=(port_)?active$' "$O/verbs_probe.txt" || fail "verbs_probe: $(cat "$O/verbs_probe.txt")"
grep -q "release=$KVER" "$O/static_probe.txt" || fail "static_probe: $(cat "$O/static_probe.txt")"
grep -q "fw_testbed_hello: loaded on $KVER (magic 42)" "$O/dmesg.txt" || fail "module load not in dmesg.txt"
grep -q 'fw_testbed_hello: unloaded' "$O/dmesg.txt" || fail "module unload not in dmesg.txt"
grep -q 'fw-init: rxe0 ACTIVE' "$O/console.log" || fail "console.log incomplete"

typical() { awk '/^ *2 +1000 /{print $5; exit}' "$1"; }
echo "smoke: ib_send_lat t_typical (emulated, not hardware timings): polling $(typical "$O/send_lat_poll_client.txt") us, events $(typical "$O/send_lat_event_client.txt") us"
echo "smoke: PASS (host builds $((T1 - T0)) s, guest run $((T2 - T1)) s)"
