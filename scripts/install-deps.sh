#!/usr/bin/env bash
# Installs the Debian packages the toolkit needs, only those missing.
# Idempotent; needs root (or sudo). Used by scripts/main.sh and scripts/test.sh.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  nlohmann-json3-dev libeigen3-dev
  # the C++ tools' command lines (header-only; find_package(CLI11 CONFIG))
  libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # python/ (issue 3): pybind11 module, sweeps, Dask, plots, pytest
  python3-dev python3-pybind11 pybind11-dev python3-numpy python3-pandas
  python3-matplotlib python3-pytest python3-tqdm python3-dask python3-distributed
  # the tutorial notebook (nbclient + ipykernel) and the paper page's check (headless Chromium)
  python3-nbclient python3-nbformat python3-ipykernel python3-matplotlib-inline chromium
  # hw/testbed (issue 5): QEMU + Soft-RoCE guest (the guest kernel's headers are added below)
  qemu-system-x86 busybox-static rdma-core ibverbs-utils ibverbs-providers perftest
  libibverbs-dev librdmacm-dev cpio kmod iproute2 xz-utils
  # sim/ SimGrid fabric (issue 7): multi-host networks, co-simulated (pkg-config simgrid)
  libsimgrid-dev
  # tests/fuzz (issue 15): libFuzzer + ASan/UBSan runtimes come with clang's compiler-rt
  clang libclang-rt-dev
  # packaging (issue 12, docs/install.md): pip install . offline (setuptools backend, venv),
  # cpack -G DEB (dpkg-shlibdeps), the fastwake-dkms sources built with dkms in tests/pkg
  python3-setuptools python3-wheel python3-pip python3-venv dpkg-dev dkms
)

# hw/testbed: the headers of the kernel the testbed guest boots (the ABI that
# Debian's linux-image-amd64 points at, as hw/testbed/build-guest.sh resolves
# it), so out-of-tree modules load there. A fresh machine has no apt lists yet.
fw_guest_headers() {
  local tb v
  tb="$(dirname "$0")/../hw/testbed/build-guest.sh"
  v=$(bash "$tb" --print-kernel-version 2>/dev/null) || v=""
  if [ -z "$v" ]; then
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq >/dev/null 2>&1 || true
    elif command -v sudo >/dev/null; then sudo apt-get update -qq >/dev/null 2>&1 || true; fi
    v=$(bash "$tb" --print-kernel-version 2>/dev/null) || v=""
  fi
  echo "linux-headers-${v:-amd64}"
}
PKGS+=("$(fw_guest_headers)")

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
