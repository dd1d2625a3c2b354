# hw/testbed/lib.sh: shell helpers shared by build-guest.sh and run-in-guest.sh (sourced, not run).
# shellcheck shell=bash

# Where the guest image lives unless told otherwise (relative to the repository).
fw_repo_root() { (cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd); }

# The kernel modules the guest loads at boot, in any order (dependencies are
# resolved with modinfo when the image is built): Soft-RoCE, veth, and
# virtio-blk for the results disk.
FW_BASE_MODULES=(crc32_generic udp_tunnel ip6_udp_tunnel ib_core ib_uverbs rdma_rxe veth virtio_pci virtio_blk)

# Layout of the results disk (a sparse raw image, /dev/vda in the guest; the
# guest side is in guest-init.sh): the archive starts at 1 MiB; the first
# sector holds "FW-RESULT v1 <bytes> <md5>\n", written last, after the
# archive is synced.
FW_RESULT_DISK_SIZE=4G

# True if FILE starts with the ELF magic.
fw_is_elf() {
  local magic
  [ -f "$1" ] && [ -r "$1" ] || return 1
  magic=$(head -c 4 -- "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')
  [ "$magic" = "7f454c46" ]
}

# Prints the absolute paths of the shared libraries an ELF file needs, the
# dynamic loader included, one per line, as ldd resolves them on this host.
# A library ldd cannot find is printed as "NOTFOUND name". Prints nothing for
# static executables, kernel modules and other non-dynamic ELF files.
# (Parsed in bash on purpose: mawk has no \s, which once dropped the loader.)
fw_elf_deps() {
  local out line path
  out=$(LC_ALL=C ldd -- "$1" 2>/dev/null) || return 0
  while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    case $line in
      *"=> not found"*) echo "NOTFOUND ${line%% *}" ;;
      *"=> /"*) path=${line#*=> }; echo "${path%% (*}" ;;
      /*) echo "${line%% (*}" ;;
    esac
  done <<<"$out"
}

# Maps an absolute path to where it lives in the guest's merged-/usr tree
# (/bin, /sbin, /lib, /lib64 are symlinks into /usr there, as on Debian 12).
fw_guest_path() {
  case $1 in
    /bin/* | /sbin/* | /lib/* | /lib64/*) echo "/usr$1" ;;
    /bin | /sbin | /lib | /lib64) echo "/usr$1" ;;
    *) echo "$1" ;;
  esac
}

# Copies host file SRC into staging tree ROOT at guest path DEST (dereferenced,
# mode kept); for ELF files also copies every library it needs (and theirs).
# Libraries already present in ROOT are not copied again.
# Usage: fw_stage_file ROOT SRC DEST
fw_stage_file() {
  local root=$1 src=$2 dest
  dest=$(fw_guest_path "$3")
  [ -d "$root$dest" ] && dest=$dest/$(basename -- "$src")
  mkdir -p -- "$root$(dirname -- "$dest")"
  rm -f -- "$root$dest"
  cp -L --preserve=mode -- "$src" "$root$dest"
  fw_is_elf "$src" && fw_stage_libs "$root" "$src"
  return 0
}

# Copies the libraries ELF file SRC needs into ROOT (see fw_stage_file).
fw_stage_libs() {
  local root=$1 src=$2 lib gl
  while IFS= read -r lib; do
    [ -n "$lib" ] || continue
    case $lib in
      NOTFOUND*)
        echo "testbed: warning: $src needs ${lib#NOTFOUND } which ldd cannot find on this host" >&2
        continue ;;
    esac
    gl=$(fw_guest_path "$lib")
    [ -e "$root$gl" ] && continue
    mkdir -p -- "$root$(dirname -- "$gl")"
    cp -L --preserve=mode -- "$lib" "$root$gl"
  done < <(fw_elf_deps "$src")
}

# Single-quotes each argument for a POSIX shell and joins them with spaces.
fw_shell_quote() {
  local out="" a
  for a in "$@"; do
    out+="'${a//\'/\'\\\'\'}' "
  done
  printf '%s' "${out% }"
}
