// Small raw-syscall helpers shared by the in-guest kernel-module tests, fuzzer and benchmark.
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include <uapi/fastwake.h>

namespace fwtest {

inline pid_t gettid_() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

/// ioctl returning 0 or the errno (never -1).
inline int xioctl(int fd, unsigned long cmd, unsigned long arg) {
  return ::ioctl(fd, cmd, arg) == 0 ? 0 : errno;
}
inline int xioctl(int fd, unsigned long cmd, const void* arg) {
  return ::ioctl(fd, cmd, arg) == 0 ? 0 : errno;
}

/// Opens /dev/fastwake without the handshake; -errno on failure.
inline int open_raw() {
  const int fd = ::open(FW_DEVICE_PATH, O_RDWR | O_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

/// Opens and performs the handshake; -errno on failure.
inline int open_ready() {
  const int fd = open_raw();
  if (fd < 0) return fd;
  struct fw_abi abi {};
  abi.version = FW_ABI_VERSION;
  const int err = xioctl(fd, FW_IOC_ABI, &abi);
  if (err != 0) {
    ::close(fd);
    return -err;
  }
  return fd;
}

inline bool device_present() { return ::access(FW_DEVICE_PATH, F_OK) == 0; }

inline std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

/// Pins the calling thread to `cpu`; false if that CPU is not usable.
inline bool pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return ::sched_setaffinity(0, sizeof(set), &set) == 0;
}

inline int ncpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return CPU_COUNT(&set);
}

/// SIGUSR1 with an empty handler and no SA_RESTART: interrupts blocking ioctls with EINTR.
inline void install_interrupt_signal(int sig = SIGUSR1) {
  struct sigaction sa {};
  sa.sa_handler = [](int) {};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  ::sigaction(sig, &sa, nullptr);
}

inline long futex(std::uint32_t* uaddr, int op, std::uint32_t val) {
  return ::syscall(SYS_futex, uaddr, op, val, nullptr, nullptr, 0);
}

}  // namespace fwtest
