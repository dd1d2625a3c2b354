#!/usr/bin/env bash
# Boots the Soft-RoCE testbed guest under QEMU, runs one command in it and brings back its output, /out and dmesg.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
REPO=$(fw_repo_root)

# Exit statuses of this script besides COMMAND's own (documented in docs/testbed.md).
readonly kSkip=77          # --skip-unavailable and qemu-system-x86_64 is missing
readonly kUsage=120        # bad options
readonly kNoTestbed=121    # guest image cannot be built or QEMU cannot start
readonly kSetupFailed=122  # guest booted, but module loading / RDMA bring-up failed
readonly kNoResult=123     # guest did not boot, crashed or hung: no result came back
readonly kCmdTimeout=124   # COMMAND ran past --timeout and was killed (results came back)

usage() {
  cat <<EOF
usage: hw/testbed/run-in-guest.sh [options] -- COMMAND [ARGS...]

Boots a QEMU guest (Debian's 6.1 kernel, Soft-RoCE device rxe0 on veth0 =
198.18.0.1), runs COMMAND in it as root with /bin/sh (bash), prints its stdout
and stderr, and exits with its status. One argument after -- is a shell command
line ('a && b'); several are one command with those exact arguments.

Options:
  --add SRC[:DEST]    copy a host file or directory into the guest (default DEST
                      /opt/fw/<basename of SRC>; a DEST ending in / gets the
                      basename appended). ELF programs and libraries get the
                      shared libraries they need (ldd) copied too. Repeatable.
  --module PATH.ko    insmod this module after the RDMA stack is up, before
                      COMMAND (in the order given). Repeatable.
  --out DIR           copy what the guest wrote to /out into DIR (created; files
                      are added, nothing is deleted), plus dmesg.txt (the guest's
                      dmesg after COMMAND) and console.log (its serial console).
  --env NAME=VALUE    set an environment variable for COMMAND. Repeatable.
  --timeout SECONDS   kill COMMAND after this long (default 300); results still
                      come back and the exit status is $kCmdTimeout.
  --boot-timeout SEC  allowance for boot, setup and sending results, on top of
                      --timeout, before QEMU itself is killed (default 150).
  --guest-dir DIR     guest image (default \$FW_TESTBED_DIR or build/testbed);
                      built or refreshed with build-guest.sh first (cached).
  --no-build          do not run build-guest.sh; use the image as it is.
  --smp N             guest CPUs (default 4; -smp 2 showed ms outliers)
  --memory SIZE       guest memory (default 2G)
  --append ARGS       extra kernel command-line arguments (after the defaults
                      "console=ttyS0 panic=-1 quiet tsc=reliable log_buf_len=4M").
                      Repeatable.
  --qemu-arg ARG      extra QEMU argument (e.g. --qemu-arg=-cpu --qemu-arg=max).
                      Repeatable.
  --skip-unavailable  exit $kSkip with a reason if qemu-system-x86_64 is missing
                      (for CTest's SKIP_RETURN_CODE).
  --shell             no COMMAND: interactive shell on this terminal (debugging).
  --keep              keep the run directory (printed) instead of deleting it.
  -v, --verbose       stream the guest's serial console to stderr while it runs.
  -h, --help          this help.

In the guest: FW_GUEST=1 FW_RDMA_DEV=rxe0 FW_NETDEV=veth0 FW_SERVER_IP=198.18.0.1
FW_PEER_IP=198.18.0.2 FW_GID_INDEX=<IPv4 GID of rxe0> FW_OUT=/out FW_KERNEL=<uname -r>;
the working directory is /opt/fw, also last on PATH.

Exit status: COMMAND's; $kUsage bad options; $kNoTestbed image/QEMU unusable; $kSetupFailed guest
setup failed (module load, RDMA); $kNoResult no result (no boot, crash, hang);
$kCmdTimeout COMMAND timed out; $kSkip with --skip-unavailable when QEMU is missing.
EOF
}

usage_error() {
  echo "run-in-guest: $*  (see --help)" >&2
  exit $kUsage
}

GUEST_DIR=${FW_TESTBED_DIR:-$REPO/build/testbed}
ADDS=()
MODULES=()
ENVS=()
QEMU_EXTRA=()
APPEND=""
OUT_DIR=""
TIMEOUT=300
BOOT_TIMEOUT=150
SMP=4
MEMORY=2G
BUILD=1
SKIP_UNAVAILABLE=0
SHELL_MODE=0
KEEP=0
VERBOSE=0

while [ $# -gt 0 ]; do
  opt=$1
  shift
  has_val=0
  if [[ $opt == --*=* ]]; then
    val=${opt#*=}
    opt=${opt%%=*}
    has_val=1
  fi
  case $opt in
    --add | --module | --out | --env | --timeout | --boot-timeout | --guest-dir | --smp | --memory | --qemu-arg | --append)
      if [ $has_val = 0 ]; then
        [ $# -gt 0 ] || usage_error "$opt needs a value"
        val=$1
        shift
      fi
      ;;
    *) [ $has_val = 0 ] || usage_error "$opt takes no value" ;;
  esac
  case $opt in
    --add) ADDS+=("$val") ;;
    --module) MODULES+=("$val") ;;
    --out) OUT_DIR=$val ;;
    --env) ENVS+=("$val") ;;
    --timeout) TIMEOUT=$val ;;
    --boot-timeout) BOOT_TIMEOUT=$val ;;
    --guest-dir) GUEST_DIR=$val ;;
    --smp) SMP=$val ;;
    --memory) MEMORY=$val ;;
    --qemu-arg) QEMU_EXTRA+=("$val") ;;
    --append) APPEND+="${APPEND:+ }$val" ;;
    --no-build) BUILD=0 ;;
    --skip-unavailable) SKIP_UNAVAILABLE=1 ;;
    --shell) SHELL_MODE=1 ;;
    --keep) KEEP=1 ;;
    -v | --verbose) VERBOSE=1 ;;
    -h | --help) usage; exit 0 ;;
    --) break ;;
    *) usage_error "unknown option '$opt'" ;;
  esac
done
CMD=("$@")

[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || usage_error "--timeout needs a whole number of seconds > 0, not '$TIMEOUT'"
[[ $BOOT_TIMEOUT =~ ^[1-9][0-9]*$ ]] || usage_error "--boot-timeout needs a whole number of seconds > 0, not '$BOOT_TIMEOUT'"
[[ $SMP =~ ^[1-9][0-9]*$ ]] || usage_error "--smp needs a CPU count, not '$SMP'"
if [ "$SHELL_MODE" = 1 ]; then
  [ ${#CMD[@]} -eq 0 ] || usage_error "--shell takes no COMMAND"
else
  [ ${#CMD[@]} -gt 0 ] || usage_error "no COMMAND given after --"
fi
for e in "${ENVS[@]}"; do
  [[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || usage_error "--env needs NAME=VALUE, not '$e'"
done
for a in "${ADDS[@]}"; do
  src=$a
  [[ $a == *:/* ]] && src=${a%:/*}
  [ -e "$src" ] || usage_error "--add $src: no such file or directory"
done
for m in "${MODULES[@]}"; do
  [ -f "$m" ] || usage_error "--module $m: no such file"
  [[ $m == *.ko ]] || usage_error "--module $m: not a .ko file"
done

# --- availability -------------------------------------------------------------
# FW_QEMU: another qemu-system-x86_64 binary (also lets tests fake its absence).
QEMU=${FW_QEMU:-$(command -v qemu-system-x86_64 || true)}
if [ -z "$QEMU" ] || [ ! -x "$QEMU" ]; then
  why="qemu-system-x86_64 is not installed (Debian package qemu-system-x86; run scripts/install-deps.sh)"
  [ -n "${FW_QEMU:-}" ] && why="FW_QEMU=$FW_QEMU is not an executable"
  if [ "$SKIP_UNAVAILABLE" = 1 ]; then
    echo "SKIP: $why"
    exit $kSkip
  fi
  echo "run-in-guest: $why" >&2
  exit $kNoTestbed
fi
if [ "$BUILD" = 1 ]; then
  if ! bash "$HERE/build-guest.sh" --quiet --out "$GUEST_DIR"; then
    echo "run-in-guest: building the guest image failed (see above)" >&2
    exit $kNoTestbed
  fi
fi
for f in vmlinuz initramfs.cpio; do
  [ -f "$GUEST_DIR/$f" ] || { echo "run-in-guest: $GUEST_DIR/$f is missing (run hw/testbed/build-guest.sh)" >&2; exit $kNoTestbed; }
done

# --- the run's own initramfs layer -------------------------------------------
RUN=$(mktemp -d "${TMPDIR:-/tmp}/fw-testbed.XXXXXX")
QEMU_PID=""
cleanup() {
  [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null || true
  if [ "$KEEP" = 1 ]; then
    echo "run-in-guest: run directory kept: $RUN" >&2
  else
    rm -rf "$RUN"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
ROOT=$RUN/root
mkdir -p "$ROOT/fw/modules" "$ROOT/opt/fw"

for a in "${ADDS[@]}"; do
  src=$a
  dest=""
  if [[ $a == *:/* ]]; then
    src=${a%:/*}
    dest=/${a##*:/}
  fi
  [ -e "$src" ] || usage_error "--add $src: no such file or directory"
  base=$(basename -- "$(realpath -- "$src")")
  if [ -z "$dest" ]; then
    dest=/opt/fw/$base
  elif [[ $dest == */ ]]; then
    dest=$dest$base
  fi
  dest=$(fw_guest_path "$dest")
  if [ -d "$src" ]; then
    mkdir -p -- "$ROOT$dest"
    cp -rL -- "$src/." "$ROOT$dest/"
    while IFS= read -r -d '' f; do
      fw_is_elf "$f" && fw_stage_libs "$ROOT" "$f"
    done < <(find "$ROOT$dest" -type f -print0)
  else
    fw_stage_file "$ROOT" "$src" "$dest"
  fi
done

i=0
mods=""
for m in "${MODULES[@]}"; do
  i=$((i + 1))
  name=$(printf '%02d-%s' "$i" "$(basename -- "$m" | tr -c 'A-Za-z0-9._\n-' '_')")
  cp -L -- "$m" "$ROOT/fw/modules/$name"
  mods+="$name "
done

{
  echo "FW_CMD_TIMEOUT=$TIMEOUT"
  echo "FW_MODULES=$(fw_shell_quote "${mods% }")"
} >"$ROOT/fw/run.conf"
for e in "${ENVS[@]}"; do
  echo "export ${e%%=*}=$(fw_shell_quote "${e#*=}")"
done >"$ROOT/fw/env"
if [ "$SHELL_MODE" = 0 ]; then
  if [ ${#CMD[@]} -eq 1 ]; then
    printf '%s\n' "${CMD[0]}" >"$ROOT/fw/cmd.sh"
  else
    printf '%s\n' "$(fw_shell_quote "${CMD[@]}")" >"$ROOT/fw/cmd.sh"
  fi
fi

(cd "$ROOT" && find . -mindepth 1 -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) >"$RUN/run.cpio"
cat "$GUEST_DIR/initramfs.cpio" "$RUN/run.cpio" >"$RUN/initrd"

# --- boot -----------------------------------------------------------------------
# tsc=reliable: under TCG the guest TSC is the host's (synchronised), but the
# guest's sync check sees emulation skew, marks it unstable and falls back to
# HPET, whose noisy reads made perftest's clock calibration fail now and then
# (r^2 < 0.9 -> latencies printed as "inf").
# log_buf_len=4M: dmesg.txt keeps the whole boot even after a noisy test.
KERNEL_CMDLINE="console=ttyS0 panic=-1 quiet tsc=reliable log_buf_len=4M${APPEND:+ $APPEND}"
# The uncompressed kernel boots much faster under TCG (no xz decompression).
KERNEL=$GUEST_DIR/vmlinuz
[ -f "$GUEST_DIR/vmlinux" ] && KERNEL=$GUEST_DIR/vmlinux
QEMU_ARGS=(-accel tcg -m "$MEMORY" -smp "$SMP" -nodefaults -no-user-config -display none
  -no-reboot -nic none -kernel "$KERNEL" -initrd "$RUN/initrd"
  -append "$KERNEL_CMDLINE")

if [ "$SHELL_MODE" = 1 ]; then
  "$QEMU" "${QEMU_ARGS[@]}" -serial mon:stdio -serial "file:$RUN/data.txt" "${QEMU_EXTRA[@]}"
  exit 0
fi

HARD=$((TIMEOUT + BOOT_TIMEOUT))
: >"$RUN/console.log"
truncate -s "$FW_RESULT_DISK_SIZE" "$RUN/results.img"
DISK_ARGS=(-drive "file=$RUN/results.img,format=raw,if=virtio")
DATA_ARGS=(-serial "file:$RUN/data.txt")
# For testing the fallbacks: FW_TESTBED_RESULTS=serial (no results disk) or
# console (no results disk, no data port).
case ${FW_TESTBED_RESULTS:-disk} in
  serial) DISK_ARGS=() ;;
  console) DISK_ARGS=(); DATA_ARGS=() ;;
esac
T0=$(date +%s)
timeout -k 10 "$HARD" "$QEMU" "${QEMU_ARGS[@]}" \
  -serial "file:$RUN/console.log" "${DATA_ARGS[@]}" \
  "${DISK_ARGS[@]}" "${QEMU_EXTRA[@]}" \
  </dev/null >"$RUN/qemu.log" 2>&1 &
QEMU_PID=$!
TAIL_PID=""
if [ "$VERBOSE" = 1 ]; then
  tail -n +1 -F --pid="$QEMU_PID" "$RUN/console.log" >&2 2>/dev/null &
  TAIL_PID=$!
fi
set +e
wait "$QEMU_PID"
QEMU_RC=$?
set -e
QEMU_PID=""
[ -n "$TAIL_PID" ] && wait "$TAIL_PID" 2>/dev/null
ELAPSED=$(($(date +%s) - T0))

console_tail() {
  echo "---- guest console (last 40 lines; $RUN/console.log) ----" >&2
  tr -d '\r' <"$RUN/console.log" | sed '/^FW-RESULT-BEGIN$/,/^FW-RESULT-END /d' | tail -n 40 >&2
  echo "----" >&2
}
save_console() {
  [ -n "$OUT_DIR" ] || return 0
  mkdir -p -- "$OUT_DIR"
  tr -d '\r' <"$RUN/console.log" | sed '/^FW-RESULT-BEGIN$/,/^FW-RESULT-END /d' >"$OUT_DIR/console.log"
}

# --- results ---------------------------------------------------------------------
# The guest writes the archive to the results disk; if it could not, it sent it
# as base64 on the data port ttyS1, or on the console (where kernel messages
# may interleave: the checksum catches that).
decode_disk() { # -> $RUN/res.tar, 0 if complete and intact
  local header size md5
  header=$(head -c 512 "$RUN/results.img" | tr -d '\0' | head -n 1)
  [[ $header =~ ^FW-RESULT\ v1\ ([0-9]+)\ ([0-9a-f]{32})$ ]] || return 1
  size=${BASH_REMATCH[1]}
  md5=${BASH_REMATCH[2]}
  dd if="$RUN/results.img" of="$RUN/res.tar" bs=1M skip=1 count="$size" iflag=count_bytes status=none || return 1
  [ "$(wc -c <"$RUN/res.tar")" = "$size" ] || return 1
  [ "$(md5sum <"$RUN/res.tar" | cut -c1-32)" = "$md5" ] || return 1
}
decode_from() { # FILE -> $RUN/res.tar, 0 if complete and intact
  local f=$1 endline md5 size
  [ -s "$f" ] || return 1
  tr -d '\r' <"$f" | sed -n '/^FW-RESULT-BEGIN$/,/^FW-RESULT-END /p' >"$RUN/block" || return 1
  endline=$(grep -E '^FW-RESULT-END [0-9a-f]{32} [0-9]+$' "$RUN/block" | tail -n 1)
  [ -n "$endline" ] || return 1
  md5=$(echo "$endline" | cut -d' ' -f2)
  size=$(echo "$endline" | cut -d' ' -f3)
  grep -E '^[A-Za-z0-9+/=]+$' "$RUN/block" | base64 -d >"$RUN/res.tgz" 2>/dev/null || return 1
  [ "$(wc -c <"$RUN/res.tgz")" = "$size" ] || return 1
  [ "$(md5sum <"$RUN/res.tgz" | cut -c1-32)" = "$md5" ] || return 1
  gzip -dc "$RUN/res.tgz" >"$RUN/res.tar"
}
if ! decode_disk && ! decode_from "$RUN/data.txt" && ! decode_from "$RUN/console.log"; then
  save_console
  if [ "$QEMU_RC" = 124 ] || [ "$QEMU_RC" = 137 ]; then
    why="the guest did not finish within $HARD s (--timeout $TIMEOUT + --boot-timeout $BOOT_TIMEOUT); QEMU was killed"
  elif ! grep -q 'fw-init: kernel' "$RUN/console.log"; then
    if [ "$QEMU_RC" != 0 ] && [ ! -s "$RUN/console.log" ]; then
      echo "run-in-guest: QEMU failed to start (exit $QEMU_RC):" >&2
      cat "$RUN/qemu.log" >&2
      exit $kNoTestbed
    fi
    why="the guest kernel did not reach /init (QEMU exit $QEMU_RC after $ELAPSED s)"
  elif grep -q 'Kernel panic' "$RUN/console.log"; then
    why="the guest kernel panicked (QEMU exit $QEMU_RC after $ELAPSED s)"
  else
    why="no intact result came back from the guest (QEMU exit $QEMU_RC after $ELAPSED s)"
  fi
  echo "run-in-guest: $why" >&2
  [ -s "$RUN/qemu.log" ] && { echo "---- qemu ----" >&2; cat "$RUN/qemu.log" >&2; }
  console_tail
  exit $kNoResult
fi

mkdir -p "$RUN/res"
tar -xf "$RUN/res.tar" -C "$RUN/res"
status=$(sed -n 's/^status=//p' "$RUN/res/status")
rc=$(sed -n 's/^rc=//p' "$RUN/res/status")
msg=$(sed -n 's/^msg=//p' "$RUN/res/status")

cat "$RUN/res/stdout"
cat "$RUN/res/stderr" >&2
if [ -n "$OUT_DIR" ]; then
  mkdir -p -- "$OUT_DIR"
  cp -a -- "$RUN/res/out/." "$OUT_DIR/"
  save_console
fi

case $status in
  ok)
    exit "$rc" ;;
  timeout)
    echo "run-in-guest: $msg" >&2
    exit $kCmdTimeout ;;
  setup)
    echo "run-in-guest: guest setup failed: $msg" >&2
    echo "---- guest dmesg (last 30 lines) ----" >&2
    tail -n 30 "$RUN/res/out/dmesg.txt" >&2 || true
    echo "----" >&2
    exit $kSetupFailed ;;
  *)
    echo "run-in-guest: unreadable status from the guest: '$status'" >&2
    exit $kNoResult ;;
esac
