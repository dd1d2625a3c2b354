#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CTest driver (label pkg): the lab-host packages, as a lab host gets them (docs/install.md).
#
#   1. `cpack -G DEB` in the build directory: fastwake-tools, fastwake-preload, fastwake-dkms
#      (and python3-fastwake);
#   2. unpacks each into a fresh root (dpkg-deb -x: the machine's own /usr and dpkg database
#      are not touched; maintainer scripts do not run) and checks its control fields: every
#      shared library a binary needs (DT_NEEDED) comes from a package it Depends on;
#   3. runs ROOT/usr/bin/fastwake-bench --version and fastwake-sim --version from that root, and
#      preloads ROOT's libfastwake-preload.so into a program;
#   4. builds ROOT/usr/src/fastwake-VERSION/ with dkms(8) (private --dkmstree, so nothing is
#      registered or installed on the machine) against the headers of the guest kernel and
#      checks the module: vermagic, license, version.
# Leaves OUT/root (the unpacked packages) and OUT/fastwake.ko for the guest test (pkg_guest).
#
# usage: pkg-test.sh --build-dir DIR --out DIR --version X.Y.Z [--kernel-release KVER]
# Exit: 0 pass; 1 fail; 77 skipped (reason printed).
set -euo pipefail

BUILD="" OUT="" VERSION="" KVER=""
while [ $# -gt 0 ]; do
  case $1 in
    --build-dir) BUILD=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --version) VERSION=$2; shift 2 ;;
    --kernel-release) KVER=$2; shift 2 ;;
    *) echo "pkg-test: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ -n "$BUILD" ] && [ -n "$OUT" ] && [ -n "$VERSION" ] || { echo "pkg-test: --build-dir, --out and --version are required" >&2; exit 2; }

fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
for t in cpack dpkg-deb readelf; do
  command -v "$t" >/dev/null || skip "$t is missing (scripts/install-deps.sh)"
done

rm -rf "$OUT"
mkdir -p "$OUT/debs" "$OUT/root"
ROOT=$OUT/root

echo "== cpack -G DEB"
(cd "$BUILD" && cpack -G DEB -B "$OUT/debs") >"$OUT/cpack.log" 2>&1 || { tail -40 "$OUT/cpack.log"; fail "cpack -G DEB failed (log: $OUT/cpack.log)"; }
ARCH=$(dpkg --print-architecture)
declare -A DEB
for p in fastwake-tools fastwake-preload fastwake-dkms fastwake-simgrid python3-fastwake; do
  f=$(ls "$OUT/debs/${p}_${VERSION}"_*.deb 2>/dev/null | head -1 || true)
  [ -n "$f" ] && DEB[$p]=$f
done
for p in fastwake-tools fastwake-dkms; do
  [ -n "${DEB[$p]:-}" ] || fail "cpack made no $p ${VERSION} package (got: $(ls "$OUT/debs"))"
done
if [ -e "$BUILD/hw/libfastwake-preload.so" ]; then
  [ -n "${DEB[fastwake-preload]:-}" ] || fail "the shim is built but cpack made no fastwake-preload package"
fi
for p in "${!DEB[@]}"; do
  echo "-- ${DEB[$p]##*/}: Depends: $(dpkg-deb -f "${DEB[$p]}" Depends)"
  [ "$(dpkg-deb -f "${DEB[$p]}" Package)" = "$p" ] || fail "${DEB[$p]}: Package is not $p"
  [ "$(dpkg-deb -f "${DEB[$p]}" Version)" = "$VERSION" ] || fail "${DEB[$p]}: Version is not $VERSION"
  dpkg-deb -x "${DEB[$p]}" "$ROOT"
done
[ "$(dpkg-deb -f "${DEB[fastwake-dkms]}" Architecture)" = all ] || fail "fastwake-dkms is not Architecture: all"
dpkg-deb -f "${DEB[fastwake-dkms]}" Depends | grep -q '\bdkms\b' || fail "fastwake-dkms does not depend on dkms"
dpkg-deb --ctrl-tarfile "${DEB[fastwake-dkms]}" | tar -t | grep -q postinst || fail "fastwake-dkms has no postinst (dkms add/build/install)"

# Every DT_NEEDED of a packaged ELF file comes from a package its .deb depends on.
check_needed() {  # check_needed PACKAGE FILE
  local deps lib path owner
  deps=$(dpkg-deb -f "${DEB[$1]}" Depends)
  for lib in $(readelf -d "$2" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    # awk reads all of ldconfig's output (an early exit would SIGPIPE ldconfig, and with
    # pipefail + set -e end the script without a message: seen once in CI).
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|x86_64/ && !found {print $NF; found = 1}')
    [ -n "$path" ] || fail "$2 needs $lib, which this machine does not have"
    owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1) || owner=""
    [ -n "$owner" ] || owner=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1) || true
    [ -n "$owner" ] || fail "$2 needs $lib ($path), which no Debian package provides"
    echo "$deps" | tr ',|' '\n\n' | sed 's/(.*//; s/ //g' | grep -qx "$owner" \
      || fail "$1: ${2##*/} needs $lib from $owner, which is not in Depends: $deps"
  done
}

echo "== the tools from the unpacked root"
BIN=$ROOT/usr/bin
for t in fastwake-bench fastwake-sim; do
  [ -x "$BIN/$t" ] || fail "fastwake-tools has no /usr/bin/$t"
  check_needed fastwake-tools "$BIN/$t"
done
if dpkg-deb -f "${DEB[fastwake-tools]}" Depends | grep -q simgrid; then
  fail "fastwake-tools depends on SimGrid (lab hosts have rdma-core and little else)"
fi
[ -z "${DEB[fastwake-simgrid]:-}" ] || check_needed fastwake-simgrid "$BIN/fastwake-sim-fabric"
[ -f "$ROOT/usr/share/doc/fastwake/LICENSE" ] || fail "fastwake-tools has no /usr/share/doc/fastwake/LICENSE"
# The build tree must not be what answers: run from a folder outside it, with a PATH of the root only.
for t in fastwake-bench fastwake-sim; do
  got=$(cd / && env -i PATH="$BIN:/usr/bin:/bin" "$BIN/$t" --version 2>&1) \
    || fail "$BIN/$t --version exited $? (output: $got)"
  echo "$t --version: $got"
  echo "$got" | grep -Eq "^$t $VERSION \(commit ([0-9a-f]+(-dirty)?|unknown)\)" \
    || fail "$t --version printed '$got', expected '$t $VERSION (commit ...)'"
done

if [ -n "${DEB[fastwake-preload]:-}" ]; then
  echo "== the preload shim from the unpacked root"
  SHIM=$(find "$ROOT/usr/lib" -name libfastwake-preload.so | head -1)
  [ -n "$SHIM" ] || fail "fastwake-preload has no libfastwake-preload.so under /usr/lib"
  check_needed fastwake-preload "$SHIM"
  # Loaded into a program that does not use verbs: constructor runs, program unaffected.
  got=$(LD_PRELOAD=$SHIM /bin/echo shim-loaded 2>&1) || fail "LD_PRELOAD=$SHIM /bin/echo failed: $got"
  [ "$got" = shim-loaded ] || fail "LD_PRELOAD=$SHIM changed /bin/echo's output: '$got'"
  nm -D --defined-only "$SHIM" | grep -q ' T ibv_' || fail "$SHIM exports no ibv_* interposer"
  echo "preload: $SHIM loads, exports $(nm -D --defined-only "$SHIM" | grep -c ' T ibv_') ibv_* functions"
fi

if [ -n "${DEB[python3-fastwake]:-}" ]; then
  echo "== the Python package from the unpacked root"
  PYDIR=$(dirname "$(find "$ROOT/usr/lib" -path '*-packages/fastwake/__init__.py' | head -1)")
  [ -d "$PYDIR" ] || fail "python3-fastwake has no fastwake package under /usr/lib/python3*"
  check_needed python3-fastwake "$(ls "$PYDIR"/_fastwake*.so)"
  got=$(cd / && env -u FASTWAKE_BUILD_DIR PYTHONPATH="${PYDIR%/fastwake}" /usr/bin/python3 -c \
        'import fastwake, sys; from fastwake import _native; assert not _native.IN_TREE and (_native.DATA / "experiments").is_dir(); print(fastwake.__version__, fastwake.__file__)' 2>&1) \
    || fail "import fastwake from the python3-fastwake root failed: $got"
  echo "import fastwake: $got"
  case "$got" in "$VERSION $PYDIR/__init__.py") ;; *) fail "import fastwake gave '$got'" ;; esac
  got=$(cd / && env -u PYTHONPATH -u FASTWAKE_BUILD_DIR "$BIN/fastwake" --version 2>&1) || fail "$BIN/fastwake --version: $got"
  echo "fastwake --version: $got"
  case "$got" in "fastwake $VERSION (commit "*) ;; *) fail "fastwake --version printed '$got'" ;; esac
fi

echo "== the DKMS tree"
SRC=$ROOT/usr/src/fastwake-$VERSION
for f in dkms.conf Kbuild Makefile fastwake.c uapi/fastwake.h LICENSE; do
  [ -f "$SRC/$f" ] || fail "fastwake-dkms has no /usr/src/fastwake-$VERSION/$f"
done
grep -q "^PACKAGE_VERSION=\"$VERSION\"" "$SRC/dkms.conf" || fail "$SRC/dkms.conf: PACKAGE_VERSION is not $VERSION"
[ -n "$KVER" ] || skip "no guest kernel release known (kmod/CMakeLists.txt found no linux-headers-6.1.*; run scripts/install-deps.sh)"
HDRS=/usr/src/linux-headers-$KVER
[ -f "$HDRS/Makefile" ] || skip "$HDRS is missing (Debian package linux-headers-$KVER; scripts/install-deps.sh)"
command -v dkms >/dev/null || skip "dkms is missing (Debian package dkms; scripts/install-deps.sh)"
# A private DKMS tree and source tree: nothing is added to /var/lib/dkms, nothing installed.
# No signing: dkms would otherwise create a MOK key pair in /var/lib/dkms (the guest's kernel
# does not enforce module signatures; a lab host with Secure Boot signs with its own MOK).
DT=$OUT/dkms-tree
mkdir -p "$DT"
dkms_() { env -u MAKEFLAGS -u MFLAGS sign_file=/nonexistent/sign-file mok_signing_key=/nonexistent/mok.key \
              mok_certificate=/nonexistent/mok.pub dkms "$@" --dkmstree "$DT" --sourcetree "$ROOT/usr/src"; }
{ dkms_ add -m fastwake -v "$VERSION" &&
  dkms_ build -m fastwake -v "$VERSION" -k "$KVER" --kernelsourcedir "$HDRS"; } >"$OUT/dkms.log" 2>&1 \
  || { cat "$OUT/dkms.log"; for l in "$DT"/fastwake/"$VERSION"/build/make.log; do [ -f "$l" ] && tail -30 "$l"; done; fail "dkms build against $HDRS failed"; }
KO=$(find "$DT/fastwake/$VERSION" -name fastwake.ko | head -1)
[ -n "$KO" ] || { cat "$OUT/dkms.log"; fail "dkms build made no fastwake.ko"; }
cp "$KO" "$OUT/fastwake.ko"
vm=$(modinfo -F vermagic "$OUT/fastwake.ko" | cut -d' ' -f1)
[ "$vm" = "$KVER" ] || fail "fastwake.ko from the DKMS tree has vermagic $vm, not $KVER"
lic=$(modinfo -F license "$OUT/fastwake.ko")
[ "$lic" = GPL ] || fail "fastwake.ko license is '$lic', not GPL"
echo "dkms: built fastwake.ko for $KVER from /usr/src/fastwake-$VERSION (license $lic) -> $OUT/fastwake.ko"
echo "PASS"
