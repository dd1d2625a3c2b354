#!/usr/bin/env bash
# tests/testbed/exit_codes.sh: run-in-guest.sh contract: exit statuses, stdout/stderr, argv quoting, --env, timeouts, bad modules.
# Usage: exit_codes.sh [--guest-dir DIR]   Exit: 0 pass, 1 fail, 77 skip (no QEMU).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
GUEST_DIR=${FW_TESTBED_DIR:-$REPO/build/testbed}
[ "${1:-}" = --guest-dir ] && GUEST_DIR=$2
RIG=("$REPO/hw/testbed/run-in-guest.sh" --guest-dir "$GUEST_DIR")

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  echo "SKIP: qemu-system-x86_64 is not installed (Debian package qemu-system-x86; run scripts/install-deps.sh)"
  exit 77
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/fw-exitcodes.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$W"/*.out "$W"/*.err; do [ -s "$f" ] && { echo "---- $f" >&2; tail -n 20 "$f" >&2; }; done
  exit 1
}
run() { # NAME EXPECTED-STATUS ARGS...: run-in-guest.sh ARGS, check the status
  local name=$1 want=$2 rc
  shift 2
  set +e
  "${RIG[@]}" "$@" >"$W/$name.out" 2>"$W/$name.err"
  rc=$?
  set -e
  [ "$rc" = "$want" ] || fail "$name: exit status $rc, expected $want"
  echo "ok   $name (exit $rc)"
}

bash "$REPO/hw/testbed/build-guest.sh" --out "$GUEST_DIR" || fail "build-guest.sh failed"

# No boot needed.
run usage 120 --no-such-option -- true
grep -q "unknown option '--no-such-option'" "$W/usage.err" || fail "usage: no message"
run no_command 120
run missing_add 120 --add "$W/does-not-exist" -- true
FW_QEMU=$W/no-qemu run skip_unavailable 77 --skip-unavailable -- true
grep -q '^SKIP: ' "$W/skip_unavailable.out" || fail "skip_unavailable: no SKIP line"
FW_QEMU=$W/no-qemu run no_qemu 121 -- true

# COMMAND's status, stdout and stderr apart, --env (value with spaces and $).
run status 7 --env 'FW_X=a b$c' -- 'echo "out $FW_X"; echo err >&2; exit 7'
[ "$(cat "$W/status.out")" = 'out a b$c' ] || fail "status: stdout is '$(cat "$W/status.out")'"
[ "$(cat "$W/status.err")" = 'err' ] || fail "status: stderr is '$(cat "$W/status.err")'"

# Several arguments are one argv (quotes kept); --timeout kills it and results
# (stdout so far, dmesg) still come back.
run timeout 124 --timeout 5 --out "$W/timeout-out" -- sh -c 'echo "started $1"; sleep 600' sh "a b'c"
[ "$(cat "$W/timeout.out")" = "started a b'c" ] || fail "timeout: stdout is '$(cat "$W/timeout.out")'"
grep -q 'timed out after 5 s' "$W/timeout.err" || fail "timeout: no message"
[ -s "$W/timeout-out/dmesg.txt" ] || fail "timeout: dmesg.txt did not come back"

# A module that does not load is a setup failure; COMMAND does not run.
echo "not a module" >"$W/bad.ko"
run bad_module 122 --module "$W/bad.ko" -- 'echo SHOULD-NOT-RUN'
grep -q 'insmod bad.ko failed' "$W/bad_module.err" || fail "bad_module: no message"
! grep -q SHOULD-NOT-RUN "$W/bad_module.out" || fail "bad_module: COMMAND ran"

# No result at all: QEMU killed at --timeout + --boot-timeout; a guest kernel crash.
run hard_timeout 123 --timeout 3 --boot-timeout 1 -- 'sleep 30'
grep -q 'did not finish within 4 s' "$W/hard_timeout.err" || fail "hard_timeout: no message"
run panic 123 -- 'echo c >/proc/sysrq-trigger'
grep -q 'panicked' "$W/panic.err" || fail "panic: no message"

echo "exit codes: PASS"
