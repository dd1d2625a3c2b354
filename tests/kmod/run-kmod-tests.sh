#!/usr/bin/env bash
# CTest driver (label kmod): boots the QEMU testbed with fastwake.ko, runs tests/kmod/guest-run.sh there, checks the guest's dmesg.
#
# usage: run-kmod-tests.sh --ko PATH --bin-dir DIR --out DIR [--guest-dir DIR] [--skip-reason TEXT] [--timeout S]
# Exit: 0 pass; 1 fail; 77 skipped (reason printed: no qemu, no kernel headers).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TESTBED=$REPO/hw/testbed
KO="" BIN_DIR="" OUT="" SKIP_REASON="" TIMEOUT=900
while [ $# -gt 0 ]; do
  case $1 in
    --ko) KO=$2; shift 2 ;;
    --bin-dir) BIN_DIR=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --skip-reason) SKIP_REASON=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --guest-dir) export FW_TESTBED_DIR=$2; shift 2 ;;
    *) echo "run-kmod-tests: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$BIN_DIR" ] && [ -n "$OUT" ] || { echo "run-kmod-tests: --bin-dir and --out are required" >&2; exit 2; }

skip() { echo "SKIP: $*"; exit 77; }
[ -z "$SKIP_REASON" ] || skip "fastwake.ko was not built: $SKIP_REASON"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed (Debian package qemu-system-x86; run scripts/install-deps.sh)"
[ -x "$TESTBED/run-in-guest.sh" ] || [ -f "$TESTBED/run-in-guest.sh" ] || { echo "FAIL: $TESTBED/run-in-guest.sh is missing"; exit 1; }
[ -f "$KO" ] || { echo "FAIL: $KO does not exist (build target fastwake_kmod)"; exit 1; }

# The module must match the kernel the guest boots; if Debian moved on since
# the build was configured, build a matching one here.
GUEST_KVER=$(bash "$TESTBED/build-guest.sh" --print-kernel-version)
KO_KVER=$(modinfo -F vermagic "$KO" | cut -d' ' -f1)
mkdir -p "$OUT"
if [ "$GUEST_KVER" != "$KO_KVER" ]; then
  HDRS=/usr/src/linux-headers-$GUEST_KVER
  [ -f "$HDRS/Makefile" ] || skip "the guest boots $GUEST_KVER but $HDRS is missing (fastwake.ko is for $KO_KVER; run scripts/install-deps.sh)"
  echo "run-kmod-tests: fastwake.ko is for $KO_KVER, the guest boots $GUEST_KVER: rebuilding for the guest"
  rm -rf "$OUT/kbuild"
  mkdir -p "$OUT/kbuild"
  cp -r "$REPO/kmod/Kbuild" "$REPO/kmod/fastwake.c" "$REPO/kmod/uapi" "$OUT/kbuild/"
  env -u MAKEFLAGS -u MFLAGS make -s -C "$HDRS" M="$OUT/kbuild" modules
  KO=$OUT/kbuild/fastwake.ko
fi

ADDS=()
for b in fastwake_kmod_test fastwake_kmod_fuzz fastwake_kmod_bench fastwake_kmod_hold; do
  [ -x "$BIN_DIR/$b" ] || { echo "FAIL: $BIN_DIR/$b is missing"; exit 1; }
  ADDS+=(--add "$BIN_DIR/$b")
done
ADDS+=(--add "$HERE/guest-run.sh" --add "$KO:/opt/fw/fastwake.ko")
# The Linux backend's loopback runs, with and without the module (hw/ uses it
# when /dev/fastwake exists).
BENCH="$BIN_DIR/../../hw/fastwake-bench"
[ -x "$BENCH" ] || { echo "FAIL: $BENCH is missing"; exit 1; }
ADDS+=(--add "$BENCH")

rm -f "$OUT/dmesg.txt" "$OUT/kmod-results.txt" "$OUT/kmod-bench.json"
set +e
# slub_debug: red zones, poisoning and free checks on every slab (the module's
# objects included): a use-after-free or overflow shows up as "BUG kmalloc-…".
bash "$TESTBED/run-in-guest.sh" "${ADDS[@]}" --module "$KO" --out "$OUT" --timeout "$TIMEOUT" \
  --append "slub_debug=FZPU" \
  ${FW_FUZZ_CALLS:+--env FW_FUZZ_CALLS=$FW_FUZZ_CALLS} ${FW_FUZZ_SEED:+--env FW_FUZZ_SEED=$FW_FUZZ_SEED} \
  -- bash /opt/fw/guest-run.sh
RC=$?
set -e

if [ -f "$OUT/loopback-kmod.json" ] && [ -f "$OUT/loopback-nokmod.json" ]; then
  echo "==== loopback in the guest (emulated timings): p50 / p99 us, with and without fastwake.ko"
  /usr/bin/python3 - "$OUT/loopback-kmod.json" "$OUT/loopback-nokmod.json" <<'PY' || true
import json, sys
k, n = (json.load(open(p)) for p in sys.argv[1:3])
for a, b in zip(k["results"], n["results"]):
    mech = a["extra"]["handoff_mechanism"] if a["extra"]["handoff_mechanism"] != "-" else a["extra"]["wait_mechanism"]
    print(f'  {a["strategy"]:<16} module {a["latency_us"]["p50"]:8.1f} / {a["latency_us"]["p99"]:8.1f}'
          f'   fallback {b["latency_us"]["p50"]:8.1f} / {b["latency_us"]["p99"]:8.1f}   ({mech})')
PY
fi
if [ -f "$OUT/verbs-kmod.client.json" ]; then
  echo "==== verbs over rxe with fastwake.ko (emulated timings): client round trip p50 / p99 us"
  /usr/bin/python3 - "$OUT/verbs-kmod.client.json" "$OUT/verbs-kmod.server.json" <<'PY' || true
import json, sys
c, s = (json.load(open(p)) for p in sys.argv[1:3])
mech = {r["strategy"]: r.get("extra", {}).get("server", r.get("extra", {})) for r in s["results"]}
for r in c["results"]:
    e = mech.get(r["strategy"], {})
    m = e.get("handoff_mechanism", "-") if e.get("handoff_mechanism", "-") != "-" else e.get("wait_mechanism", "-")
    print(f'  {r["strategy"]:<16} {r["latency_us"]["p50"]:8.1f} / {r["latency_us"]["p99"]:8.1f}   ({m})')
PY
fi
echo "==== summary (guest results in $OUT)"
[ -f "$OUT/kmod-results.txt" ] && cat "$OUT/kmod-results.txt"
if [ ! -f "$OUT/dmesg.txt" ]; then
  echo "FAIL: no dmesg came back from the guest (run-in-guest.sh exit $RC)"
  exit 1
fi
# Anything the kernel says when something went wrong: oops, WARN, BUG, lockups,
# list/refcount corruption, sleeping in atomic context, our own leak report.
BAD='WARNING:|BUG:|Oops|general protection|Call Trace|kernel BUG|Kernel panic|refcount_t:|list_(add|del) corruption|scheduling while atomic|sleeping function called|soft lockup|hard LOCKUP|blocked for more than|rcu_.*(stall|detected)|Unable to handle|stack-protector|double fault|UBSAN|KASAN|registrations left'
if grep -E -q "$BAD" "$OUT/dmesg.txt"; then
  grep -E -n "$BAD" "$OUT/dmesg.txt" | head -n 40
  echo "FAIL: the guest's dmesg shows a kernel problem ($(grep -E -c "$BAD" "$OUT/dmesg.txt") lines, first 40 above; $OUT/dmesg.txt)"
  exit 1
fi
echo "dmesg: clean ($(grep -c 'fastwake' "$OUT/dmesg.txt") fastwake lines, no oops/WARN/BUG)"
if [ $RC -ne 0 ]; then
  echo "FAIL: the in-guest suite exited with $RC"
  exit 1
fi
echo "PASS"
