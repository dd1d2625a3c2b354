// FastwakeDevice: opening /dev/fastwake with the ABI handshake and the set-up ioctls (the fast path
// is inline in the header).
#include "fastwake/hw/fastwake_dev.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "fastwake/errors.h"

namespace fastwake::hw {

namespace {

std::string errno_text(int err) {
  return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")";
}

constexpr const char* kLoadHint =
    "load the module: sudo insmod build/kmod/kbuild/fastwake.ko (built by "
    "`cmake --build build --target fastwake_kmod` for the kernel it runs on)";

}  // namespace

FastwakeDevice FastwakeDevice::open(const std::string& path, std::uint32_t expected_abi) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENXIO || err == ENODEV)
      throw DeviceError(path + ": " + errno_text(err) +
                        ": the fastwake kernel module is not loaded; " + kLoadHint);
    if (err == EACCES || err == EPERM)
      throw DeviceError(
          path + ": " + errno_text(err) +
          ": no permission (the module creates it root:root 0660: ask the administrator for "
          "its group, docs/kmod.md \"Who may open it\"; or run without it: FASTWAKE_NO_KMOD=1)");
    throw DeviceError(path + ": cannot open: " + errno_text(err));
  }
  struct fw_abi abi {};
  abi.version = expected_abi;
  if (::ioctl(fd, FW_IOC_ABI, &abi) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EPROTO)
      throw DeviceError(
          path + ": kernel module ABI version " + std::to_string(abi.version) +
          ", this program expects " + std::to_string(expected_abi) +
          ": rebuild the module and this program from the same source tree, then reload "
          "it (sudo rmmod fastwake; " +
          kLoadHint + ")");
    if (err == ENOTTY || err == EINVAL)
      throw DeviceError(path + ": does not answer the fastwake ABI handshake (" + errno_text(err) +
                        "): not the fastwake module, or one built from a different source tree; "
                        "rebuild and reload it (" +
                        kLoadHint + ")");
    throw DeviceError(path + ": ABI handshake failed: " + errno_text(err));
  }
  return FastwakeDevice(fd, path, abi.version, abi.features);
}

std::optional<FastwakeDevice> FastwakeDevice::open_if_present(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 && (errno == ENOENT || errno == ENOTDIR)) return std::nullopt;
  return open(path);
}

FastwakeDevice::FastwakeDevice(FastwakeDevice&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      abi_version_(other.abi_version_),
      features_(other.features_),
      path_(std::move(other.path_)) {}

FastwakeDevice& FastwakeDevice::operator=(FastwakeDevice&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    abi_version_ = other.abi_version_;
    features_ = other.features_;
    path_ = std::move(other.path_);
  }
  return *this;
}

FastwakeDevice::~FastwakeDevice() {
  if (fd_ >= 0) ::close(fd_);
}

pid_t FastwakeDevice::current_tid() noexcept { return static_cast<pid_t>(::syscall(SYS_gettid)); }

void FastwakeDevice::check(unsigned long cmd, unsigned long arg, const char* what) const {
  if (::ioctl(fd_, cmd, arg) != 0) {
    const int err = errno;
    std::string hint;
    if (err == EEXIST) hint = ": this thread is already registered on this file";
    if (err == EBUSY) hint = ": this thread is registered on another /dev/fastwake file";
    if (err == ENOENT) hint = ": the calling thread is not registered on this file";
    if (err == EPERM)
      hint = ": the file was opened by another process (a fork child must open its own)";
    throw DeviceError(path_ + ": " + what + ": " + errno_text(err) + hint);
  }
}

void FastwakeDevice::register_thread() { check(FW_IOC_REGISTER, 0, "register thread"); }

void FastwakeDevice::unregister_thread() { check(FW_IOC_UNREGISTER, 0, "unregister thread"); }

void FastwakeDevice::attach(int fd, bool preempt, std::uint32_t events) {
  struct fw_attach req {};
  req.fd = fd;
  req.flags = preempt ? FW_ATTACH_PREEMPT : 0;
  req.events = events;
  if (::ioctl(fd_, FW_IOC_ATTACH, &req) != 0) {
    const int err = errno;
    std::string hint;
    if (err == EOPNOTSUPP) hint = ": the file cannot be polled";
    if (err == EEXIST) hint = ": already attached to this thread";
    if (err == ENOSPC) hint = ": too many files attached to this thread";
    if (err == ENOENT) hint = ": the calling thread is not registered on this file";
    throw DeviceError(path_ + ": attach fd " + std::to_string(fd) + ": " + errno_text(err) + hint);
  }
}

void FastwakeDevice::detach(int fd) {
  if (fd < 0) throw DeviceError(path_ + ": detach: bad fd " + std::to_string(fd));
  check(FW_IOC_DETACH, static_cast<unsigned long>(fd), "detach");
}

void FastwakeDevice::detach_all() {
  check(FW_IOC_DETACH, static_cast<unsigned long>(FW_DETACH_ALL), "detach all");
}

FastwakeStats FastwakeDevice::stats() const {
  struct fw_stats st {};
  if (::ioctl(fd_, FW_IOC_STATS, &st) != 0)
    throw DeviceError(path_ + ": stats: " + errno_text(errno));
  FastwakeStats out;
  out.threads = st.threads;
  out.attached = st.attached;
  out.wakes = st.wakes;
  out.switches = st.switches;
  out.yields = st.yields;
  out.irq_wakes = st.irq_wakes;
  out.irq_preempts = st.irq_preempts;
  out.exits = st.exits;
  return out;
}

}  // namespace fastwake::hw
