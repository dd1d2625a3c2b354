#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CTest driver (labels pkg, testbed): the packages on the QEMU guest. Copies fastwake-bench from
# the root pkg-test.sh unpacked the .debs into, loads the fastwake.ko that dkms built from the
# fastwake-dkms sources, and runs `fastwake-bench --version` and checks /dev/fastwake there.
#
# usage: pkg-guest.sh --out DIR (pkg-test.sh's) --guest-dir DIR --version X.Y.Z
# Exit: 0 pass; 1 fail; 77 skipped (reason printed).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT="" GUEST="" VERSION=""
while [ $# -gt 0 ]; do
  case $1 in
    --out) OUT=$2; shift 2 ;;
    --guest-dir) GUEST=$2; shift 2 ;;
    --version) VERSION=$2; shift 2 ;;
    *) echo "pkg-guest: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$OUT" ] && [ -n "$GUEST" ] && [ -n "$VERSION" ] || { echo "pkg-guest: --out, --guest-dir and --version are required" >&2; exit 2; }
BENCH=$OUT/root/usr/bin/fastwake-bench
KO=$OUT/fastwake.ko
[ -x "$BENCH" ] && [ -f "$KO" ] || { echo "SKIP: $BENCH or $KO is missing: pkg_debs did not pass (run it first)"; exit 77; }
# The guest runs the packaged binary (its shared libraries come along, as run-in-guest.sh
# copies them) and the module dkms built from /usr/src/fastwake-$VERSION.
cmd="set -e; out=\$(/opt/fw/fastwake-bench --version); echo \"guest: \$out\";
case \"\$out\" in \"fastwake-bench $VERSION (commit \"*) ;; *) echo 'FAIL: wrong --version'; exit 1;; esac;
grep -q '^fastwake ' /proc/modules || { echo 'FAIL: fastwake is not in /proc/modules'; exit 1; };
[ -c /dev/fastwake ] || { echo 'FAIL: no /dev/fastwake'; exit 1; };
echo \"guest: fastwake.ko loaded on \$(uname -r), /dev/fastwake present\""
exec bash "$REPO/hw/testbed/run-in-guest.sh" --skip-unavailable --guest-dir "$GUEST" --timeout 120 \
  --add "$BENCH" --module "$KO" -- "$cmd"
