// Client of the kernel module's /dev/fastwake (kmod/): an ABI-checked RAII handle for wait, wake,
// switch-to and attach.
#pragma once

#include <sys/ioctl.h>
#include <sys/types.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

#include <uapi/fastwake.h>

namespace fastwake::hw {

/// Counters of one open device file (FW_IOC_STATS; a snapshot).
struct FastwakeStats {
  std::uint32_t threads = 0;   ///< threads registered now
  std::uint32_t attached = 0;  ///< files attached now
  std::uint64_t wakes = 0;
  std::uint64_t switches = 0;
  std::uint64_t yields = 0;  ///< switch-tos the scheduler accepted as a direct hand-over
  std::uint64_t irq_wakes = 0;
  std::uint64_t irq_preempts = 0;
  std::uint64_t exits = 0;  ///< registrations removed because their thread exited
};

/// One open /dev/fastwake. The module binds the file to the opening process:
/// only its threads may use it (a fork child must open its own). Every
/// thread that wants to be woken calls register_thread() once.
///
/// Thread safety: every method may be called from any thread of the process
/// concurrently; methods "about the calling thread" act on the caller.
/// Set-up methods throw DeviceError; fast-path methods (wait, wake, switch)
/// are noexcept and return an empty std::error_code on success.
class FastwakeDevice {
 public:
  static constexpr const char* kDefaultPath = FW_DEVICE_PATH;

  /// Opens `path` and performs the ABI handshake. Throws DeviceError with a
  /// message that says what to do: load the module (missing device), fix
  /// permissions, or rebuild/reload (not the module, or ABI mismatch).
  /// `expected_abi` exists for tests; everyone else keeps the default.
  static FastwakeDevice open(const std::string& path = kDefaultPath,
                             std::uint32_t expected_abi = FW_ABI_VERSION);

  /// As open(), but nullopt when `path` does not exist (module not loaded):
  /// the caller falls back to futex waits and a SCHED_IDLE dispatcher. A
  /// device that exists but cannot be used still throws: a wrong module must
  /// not silently turn into the fallback.
  static std::optional<FastwakeDevice> open_if_present(const std::string& path = kDefaultPath);

  FastwakeDevice(FastwakeDevice&& other) noexcept;
  FastwakeDevice& operator=(FastwakeDevice&& other) noexcept;
  FastwakeDevice(const FastwakeDevice&) = delete;
  FastwakeDevice& operator=(const FastwakeDevice&) = delete;
  ~FastwakeDevice();

  // ---- set-up (calling thread; throw DeviceError) ----
  /// Registers the calling thread (its wake token starts clear). A thread may
  /// be registered on one device file at a time. Registration ends with
  /// unregister_thread(), the thread's exit, or the last close of the file.
  void register_thread();
  void unregister_thread();
  /// Events on `fd` (an ibv completion channel, an eventfd, any pollable
  /// file) set the calling thread's token and wake it from the file's wait
  /// queue, without a read(). `preempt`: if the thread is queued on the CPU
  /// that runs the wake-up, that CPU reschedules at once. `events`: poll bits
  /// that count (0 = input, error, hang-up). The module keeps a reference to
  /// the file until detach, unregister or close. It does not consume the
  /// file's events: drain them (non-blocking read) off the critical path.
  void attach(int fd, bool preempt = true, std::uint32_t events = 0);
  void detach(int fd);
  void detach_all();
  FastwakeStats stats() const;

  // ---- fast path (noexcept, any registered/unregistered thread as noted) ----
  /// Calling thread (registered) sleeps until its token is set; consumes it.
  /// Errors: EINTR (signal), ETIMEDOUT, ENOENT (not registered here).
  std::error_code wait() noexcept { return call(FW_IOC_WAIT, FW_WAIT_FOREVER); }
  std::error_code wait(std::chrono::nanoseconds timeout) noexcept {
    const auto ns = timeout.count() < 0 ? 0 : static_cast<unsigned long long>(timeout.count());
    return call(FW_IOC_WAIT, ns == FW_WAIT_FOREVER ? ns - 1 : ns);
  }
  /// Sets `tid`'s token and wakes it if it sleeps. Errors: EPERM (not this
  /// process), ESRCH (no such thread), ENOENT (not registered here), EINVAL.
  std::error_code wake(pid_t tid) noexcept { return call(FW_IOC_WAKE, tid_arg(tid)); }
  /// Wakes `tid` and hands it this CPU now (when its affinity allows this
  /// CPU); the caller stays runnable and returns when it runs again. The
  /// dispatcher's fast path; the caller need not be registered.
  std::error_code switch_to(pid_t tid) noexcept { return call(FW_IOC_SWITCH_TO, tid_arg(tid)); }
  /// switch_to(tid), then wait() with no timeout, in one call (registered
  /// caller). EINTR means the target was woken but the caller's wait was
  /// interrupted.
  std::error_code switch_and_wait(pid_t tid) noexcept {
    return call(FW_IOC_SWITCH_WAIT, tid_arg(tid));
  }

  int fd() const noexcept { return fd_; }
  std::uint32_t abi_version() const noexcept { return abi_version_; }
  std::uint64_t features() const noexcept { return features_; }
  const std::string& path() const noexcept { return path_; }
  /// The calling thread's id, as the tid arguments above expect.
  static pid_t current_tid() noexcept;

 private:
  FastwakeDevice(int fd, std::string path, std::uint32_t abi, std::uint64_t features)
      : fd_(fd), abi_version_(abi), features_(features), path_(std::move(path)) {}
  // A negative tid maps to 0, which the module rejects with EINVAL.
  static unsigned long tid_arg(pid_t tid) noexcept {
    return tid > 0 ? static_cast<unsigned long>(tid) : 0UL;
  }
  std::error_code call(unsigned long cmd, unsigned long long arg) const noexcept {
    if (::ioctl(fd_, cmd, static_cast<unsigned long>(arg)) == 0) return {};
    return {errno, std::generic_category()};
  }
  void check(unsigned long cmd, unsigned long arg, const char* what) const;

  int fd_ = -1;
  std::uint32_t abi_version_ = 0;
  std::uint64_t features_ = 0;
  std::string path_;
};

}  // namespace fastwake::hw
