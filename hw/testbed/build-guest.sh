#!/usr/bin/env bash
# Builds the QEMU + Soft-RoCE testbed guest (Debian's 6.1 kernel + a busybox/rdma-core initramfs); cached.
#
# Output (default build/testbed/):
#   vmlinuz            the Debian kernel (bzImage)
#   vmlinux            the same, uncompressed (what run-in-guest.sh boots: PVH
#                      entry, no in-guest decompression)
#   initramfs.cpio     base initramfs (uncompressed newc): busybox, bash, iproute2,
#                      rdma-core user space + rxe provider, perftest, ibverbs-utils,
#                      the RDMA kernel modules, /init (guest-init.sh)
#   kernel-version     e.g. 6.1.0-56-amd64 (out-of-tree modules must be built
#                      against /usr/src/linux-headers-<that>)
#   rootfs/            the unpacked initramfs, for inspection
#   cache/             the downloaded linux-image .deb
# Re-running with nothing changed only checks a stamp (well under a second).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
REPO=$(fw_repo_root)

usage() {
  cat <<EOF
usage: hw/testbed/build-guest.sh [options]

Builds (or checks) the testbed guest image. Cached: fast when nothing changed.

  --out DIR                 output directory (default: build/testbed in the repo,
                            or \$FW_TESTBED_DIR)
  --kernel-version VER      guest kernel, e.g. 6.1.0-56-amd64 (default: \$FW_GUEST_KVER,
                            else the one linux-image-amd64 depends on in apt's lists)
  --print-kernel-version    print the guest kernel version and exit (no build)
  --force                   rebuild even if the stamp says up to date
  -q, --quiet               print nothing when up to date
  -h, --help                this help

Environment: FW_TESTBED_DIR (default --out), FW_GUEST_KVER (default
--kernel-version), FW_GUEST_EXTRA_MODULES="name ..." (more modules from the
Debian kernel, with their dependencies, put into the image but not loaded:
'modprobe NAME' in the guest; run-in-guest.sh sees the same variable).
EOF
}

OUT=${FW_TESTBED_DIR:-$REPO/build/testbed}
KVER=${FW_GUEST_KVER:-}
read -r -a EXTRA_MODULES <<<"${FW_GUEST_EXTRA_MODULES:-}"
FORCE=0
QUIET=0
PRINT_KVER=0
while [ $# -gt 0 ]; do
  case $1 in
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --out=*) OUT=${1#*=}; shift ;;
    --kernel-version) KVER=${2:?--kernel-version needs a value}; shift 2 ;;
    --kernel-version=*) KVER=${1#*=}; shift ;;
    --print-kernel-version) PRINT_KVER=1; shift ;;
    --force) FORCE=1; shift ;;
    -q | --quiet) QUIET=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "build-guest: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

say() { [ "$QUIET" = 1 ] || echo "build-guest: $*" >&2; }
die() { echo "build-guest: error: $*" >&2; exit 1; }

# The guest kernel: the ABI that Debian's linux-image-amd64 metapackage points
# at (what scripts/install-deps.sh installs the headers for); without apt lists,
# the newest installed 6.1 headers, then a previously built image.
resolve_kver() {
  local v
  # Reuse the last answer while apt's lists have not changed since (apt-cache is slow).
  local memo=$OUT/cache/apt-kernel-version
  if [ -s "$memo" ] && [ -d /var/lib/apt/lists ] &&
    [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -newer "$memo" 2>/dev/null | head -n 1)" ]; then
    cat "$memo"
    return
  fi
  v=$(LC_ALL=C apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-amd64\)$/\1/p' | head -n 1) || true
  if [ -n "$v" ]; then
    mkdir -p "$OUT/cache" && echo "$v" >"$memo" || true
    echo "$v"
    return
  fi
  if [ -z "$v" ]; then
    v=$(find /usr/src -maxdepth 1 -name 'linux-headers-6.1.*-amd64' -printf '%f\n' 2>/dev/null |
      sed 's/^linux-headers-//' | sort -V | tail -n 1) || true
  fi
  if [ -z "$v" ] && [ -f "$OUT/kernel-version" ]; then
    v=$(cat "$OUT/kernel-version")
  fi
  [ -n "$v" ] || die "cannot tell the guest kernel version: apt has no lists (run 'apt-get update' or scripts/install-deps.sh) and no linux-headers-6.1.*-amd64 is installed"
  echo "$v"
}

[ -n "$KVER" ] || KVER=$(resolve_kver)
case $KVER in
  *[!A-Za-z0-9._+-]*) die "bad kernel version '$KVER'" ;;
esac
if [ "$PRINT_KVER" = 1 ]; then
  echo "$KVER"
  exit 0
fi

# --- host tools ------------------------------------------------------------
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found (Debian package $2; run scripts/install-deps.sh)"; }
need busybox busybox-static
need cpio cpio
need depmod kmod
need modinfo kmod
need dpkg-deb dpkg
need apt-get apt
need ldd libc-bin
need flock util-linux
need bash bash
BUSYBOX=$(command -v busybox)
fw_is_elf "$BUSYBOX" && [ -z "$(fw_elf_deps "$BUSYBOX")" ] ||
  die "$BUSYBOX is not a static busybox (install busybox-static)"

mkdir -p "$OUT/cache"
OUT=$(cd "$OUT" && pwd)
exec 9>"$OUT/.lock"
flock -w 900 9 || die "timed out waiting for another build-guest.sh on $OUT"

ALL_MODULES=("${FW_BASE_MODULES[@]}" "${EXTRA_MODULES[@]}")
manifest() {
  echo "kver=$KVER"
  echo "modules=${ALL_MODULES[*]}"
  (cd "$HERE" && sha256sum build-guest.sh guest-init.sh lib.sh)
  sha256sum "$BUSYBOX" | cut -d' ' -f1
  dpkg-query -W bash iproute2 ibverbs-utils ibverbs-providers libibverbs1 perftest libc6 2>/dev/null || true
}
MANIFEST=$(manifest)
if [ "$FORCE" = 0 ] && [ -f "$OUT/stamp" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initramfs.cpio" ] &&
  [ "$(cat "$OUT/stamp")" = "$MANIFEST" ]; then
  say "up to date ($KVER) in $OUT"
  exit 0
fi
T0=$(date +%s%N)

# --- 1. the Debian kernel: download the .deb, extract vmlinuz + modules ----
DEB=$(find "$OUT/cache" -maxdepth 1 -name "linux-image-${KVER}_*_amd64.deb" | sort -V | tail -n 1)
if [ -z "$DEB" ]; then
  say "downloading linux-image-$KVER (Debian)"
  if ! (cd "$OUT/cache" && apt-get download -q "linux-image-$KVER" >/dev/null 2>"$OUT/cache/download.log"); then
    if [ "$(id -u)" = 0 ]; then
      say "apt-get download failed; refreshing apt lists once"
      apt-get update -qq >/dev/null 2>&1 || true
      (cd "$OUT/cache" && apt-get download -q "linux-image-$KVER" >/dev/null 2>"$OUT/cache/download.log") ||
        die "apt-get download linux-image-$KVER failed: $(tail -n 3 "$OUT/cache/download.log")"
    else
      die "apt-get download linux-image-$KVER failed: $(tail -n 3 "$OUT/cache/download.log")"
    fi
  fi
  DEB=$(find "$OUT/cache" -maxdepth 1 -name "linux-image-${KVER}_*_amd64.deb" | sort -V | tail -n 1)
  [ -n "$DEB" ] || die "apt-get download left no linux-image-${KVER}_*.deb in $OUT/cache"
  # Keep only the kernel in use.
  find "$OUT/cache" -maxdepth 1 -name 'linux-image-*.deb' ! -path "$DEB" -delete
  rm -f "$OUT/cache/"*.list
fi

KDIR=$OUT/kernel/$KVER
MODDIR=lib/modules/$KVER
if [ ! -f "$KDIR/.complete" ] || [ "$(cat "$KDIR/.complete")" != "${ALL_MODULES[*]}" ]; then
  say "extracting vmlinuz and modules (${ALL_MODULES[*]} + dependencies)"
  LIST=$DEB.list
  [ -s "$LIST" ] || dpkg-deb --fsys-tarfile "$DEB" | tar -t >"$LIST"
  rm -rf "$KDIR.tmp"
  mkdir -p "$KDIR.tmp"
  dpkg-deb --fsys-tarfile "$DEB" | tar -x -C "$KDIR.tmp" "./boot/vmlinuz-$KVER" \
    "./$MODDIR/modules.order" "./$MODDIR/modules.builtin" "./$MODDIR/modules.builtin.modinfo"
  declare -A mod_path=()
  while IFS= read -r p; do
    b=${p##*/}
    b=${b%.ko}
    mod_path[${b//-/_}]=${p#./}
  done < <(grep -E '\.ko$' "$LIST")
  declare -A builtin=()
  while IFS= read -r p; do
    b=${p##*/}
    b=${b%.ko}
    builtin[${b//-/_}]=1
  done <"$KDIR.tmp/$MODDIR/modules.builtin"
  # Extract the wanted modules, then their dependencies, until closed.
  declare -A seen=()
  want=()
  for m in "${ALL_MODULES[@]}"; do want+=("${m//-/_}"); done
  : >"$KDIR.tmp/deps"
  while [ ${#want[@]} -gt 0 ]; do
    paths=()
    names=()
    for m in "${want[@]}"; do
      [ -n "${seen[$m]:-}" ] && continue
      seen[$m]=1
      if [ -n "${builtin[$m]:-}" ]; then continue; fi
      [ -n "${mod_path[$m]:-}" ] || die "module '$m' is neither in linux-image-$KVER nor built in"
      paths+=("./${mod_path[$m]}")
      names+=("$m")
    done
    want=()
    [ ${#paths[@]} -gt 0 ] || break
    dpkg-deb --fsys-tarfile "$DEB" | tar -x -C "$KDIR.tmp" "${paths[@]}"
    for m in "${names[@]}"; do
      d=$(modinfo -F depends "$KDIR.tmp/${mod_path[$m]}" | tr ',' ' ')
      echo "$m ${mod_path[$m]#"$MODDIR/"} $d" >>"$KDIR.tmp/deps"
      for x in $d; do want+=("${x//-/_}"); done
    done
  done
  echo "${ALL_MODULES[*]}" >"$KDIR.tmp/.complete"
  rm -rf "$KDIR"
  mv "$KDIR.tmp" "$KDIR"
fi

# --- 2. the root file system -------------------------------------------------
say "assembling the initramfs"
R=$OUT/rootfs.tmp
rm -rf "$R"
mkdir -p "$R"/usr/{bin,sbin,lib,lib64} "$R"/{proc,sys,dev,run,tmp,out,opt/fw,etc/fw,root,mnt,fw/modules}
ln -s usr/bin "$R/bin"
ln -s usr/sbin "$R/sbin"
ln -s usr/lib "$R/lib"
ln -s usr/lib64 "$R/lib64"
chmod 1777 "$R/tmp"

# busybox and its applets (symlinks), except the ones real tools replace
cp "$BUSYBOX" "$R/usr/bin/busybox"
while IFS= read -r a; do
  case ${a##*/} in ip | sh | busybox) continue ;; esac
  dst=$(fw_guest_path "/$a")
  [ -e "$R$dst" ] || [ -L "$R$dst" ] || ln -s /usr/bin/busybox "$R$dst"
done < <("$BUSYBOX" --list-full)

# bash as /bin/sh: busybox's shell would run its own (veth-less) `ip` applet
# before $PATH; bash finds iproute2's.
fw_stage_file "$R" "$(command -v bash)" /usr/bin/bash
ln -s bash "$R/usr/bin/sh"

host_bin() { # NAME PKG: path of a host program or die
  local p
  p=$(command -v "$1" 2>/dev/null) || p=""
  [ -z "$p" ] && [ -x "/usr/sbin/$1" ] && p=/usr/sbin/$1
  [ -n "$p" ] || die "'$1' not found on the host (Debian package $2; run scripts/install-deps.sh)"
  echo "$p"
}
fw_stage_file "$R" "$(host_bin ip iproute2)" /usr/sbin/ip
ln -s ../sbin/ip "$R/usr/bin/ip"
fw_stage_file "$R" "$(host_bin rdma iproute2)" /usr/bin/rdma
for pkg in ibverbs-utils perftest; do
  n=0
  while IFS= read -r f; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    fw_stage_file "$R" "$f" "/usr/bin/${f##*/}"
    n=$((n + 1))
  done < <(dpkg -L "$pkg" 2>/dev/null | grep -E '^/usr/s?bin/')
  [ "$n" -gt 0 ] || die "no programs from Debian package $pkg (run scripts/install-deps.sh)"
done
host_bin ib_send_lat perftest >/dev/null
host_bin ibv_rc_pingpong ibverbs-utils >/dev/null

# rdma-core: the rxe provider (dlopen'ed by libibverbs) and its driver file
PROV=$(find /usr/lib/*/libibverbs /usr/lib/libibverbs -maxdepth 1 -name 'librxe-rdmav*.so' 2>/dev/null | head -n 1) || true
[ -n "$PROV" ] || die "the rxe provider librxe-rdmav*.so is missing (Debian package ibverbs-providers)"
[ -f /etc/libibverbs.d/rxe.driver ] || die "/etc/libibverbs.d/rxe.driver is missing (Debian package ibverbs-providers)"
fw_stage_file "$R" "$PROV" "$PROV"
mkdir -p "$R/etc/libibverbs.d"
cp /etc/libibverbs.d/rxe.driver "$R/etc/libibverbs.d/"
[ -e "$R/usr/lib64/ld-linux-x86-64.so.2" ] || die "the dynamic loader did not make it into the image"

# a few files programs expect
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
printf '127.0.0.1 localhost\n198.18.0.1 fw-server\n198.18.0.2 fw-peer\n' >"$R/etc/hosts"
printf 'passwd: files\ngroup: files\nhosts: files\n' >"$R/etc/nsswitch.conf"

# kernel modules + depmod; the boot-time load order (dependencies first)
mkdir -p "$R/usr/$MODDIR"
cp -a "$KDIR/$MODDIR/." "$R/usr/$MODDIR/"
depmod -b "$R" "$KVER" || die "depmod -b failed"
declare -A mdeps=() mrel=() placed=()
while read -r m rel d; do
  mrel[$m]=$rel
  mdeps[$m]=$d
done <"$KDIR/deps"
order=()
place() {
  local m=${1//-/_} d
  [ -n "${placed[$m]:-}" ] && return 0
  placed[$m]=1
  [ -n "${mrel[$m]:-}" ] || return 0 # built in
  for d in ${mdeps[$m]}; do place "$d"; done
  order+=("${mrel[$m]}")
}
for m in "${FW_BASE_MODULES[@]}"; do place "$m"; done
printf '%s\n' "${order[@]}" >"$R/etc/fw/modules.load"
echo "$KVER" >"$R/etc/fw/kernel-version"

cp "$HERE/guest-init.sh" "$R/init"
chmod 755 "$R/init"

# --- 3. pack -------------------------------------------------------------------
(cd "$R" && find . -mindepth 1 -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) >"$OUT/initramfs.cpio.tmp"
cp "$KDIR/boot/vmlinuz-$KVER" "$OUT/vmlinuz.tmp"
# The uncompressed kernel (ELF with a PVH entry note, CONFIG_PVH=y): QEMU boots
# it directly, which saves the bzImage's xz decompression, 5-12 s under TCG.
extract_vmlinux() { # BZIMAGE OUT: 0 if OUT is an ELF kernel with a PVH entry
  local img=$1 out=$2 off
  off=$(LC_ALL=C grep -abo $'\xfd7zXZ\x00' "$img" | head -n 1 | cut -d: -f1) || true
  [ -n "$off" ] && command -v xz >/dev/null || return 1
  tail -c +$((off + 1)) "$img" | xz -dc --single-stream >"$out" 2>/dev/null || true
  fw_is_elf "$out" || return 1
  # XEN_ELFNOTE_PHYS32_ENTRY (18): QEMU's PVH boot needs it.
  LC_ALL=C readelf -n "$out" 2>/dev/null | grep -q 'Unknown note type: (0x00000012)' || return 1
}
if extract_vmlinux "$OUT/vmlinuz.tmp" "$OUT/vmlinux.tmp"; then
  mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
else
  say "warning: could not extract a PVH-bootable vmlinux (xz-utils, binutils); booting the slower bzImage"
  rm -f "$OUT/vmlinux.tmp" "$OUT/vmlinux"
fi
mv "$OUT/initramfs.cpio.tmp" "$OUT/initramfs.cpio"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
rm -rf "$OUT/rootfs"
mv "$R" "$OUT/rootfs"
echo "$KVER" >"$OUT/kernel-version"
echo "$MANIFEST" >"$OUT/stamp"

if [ ! -d "/usr/src/linux-headers-$KVER" ]; then
  say "warning: /usr/src/linux-headers-$KVER is missing: modules for this guest cannot be built (run scripts/install-deps.sh)"
fi
say "built $KVER guest in $OUT ($(du -h "$OUT/initramfs.cpio" | cut -f1) initramfs) in $((($(date +%s%N) - T0) / 1000000)) ms"
