// In-guest tests of fastwake.ko: ABI, register/wait/wake/switch-to with many threads, process
// isolation, signals, attach, exit and close clean-up. Runs where /dev/fastwake exists (the QEMU
// testbed); skips with the reason elsewhere.
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "fastwake/errors.h"
#include "fastwake/hw/fastwake_dev.h"
#include "kmod_util.h"

using fastwake::DeviceError;
using fastwake::hw::FastwakeDevice;
using namespace fwtest;

// Exec.*: the test execs this binary with FW_EXEC_CHECK_FD naming a fastwake
// file that stayed open across the exec (no O_CLOEXEC); before gtest starts,
// check what the new program finds on it and exit with the result.
__attribute__((constructor)) static void fw_exec_check() {
  const char* v = std::getenv("FW_EXEC_CHECK_FD");
  if (!v) return;
  const int fd = std::atoi(v);
  fw_stats st{};
  if (fwtest::xioctl(fd, FW_IOC_STATS, &st) != 0) ::_exit(30);  // same thread group: allowed
  if (st.threads != 0) ::_exit(31);                               // the registration is gone
  if (st.attached != 0) ::_exit(32);                              // and its attachments
  if (st.exits < 1) ::_exit(33);
  if (fwtest::xioctl(fd, FW_IOC_REGISTER, 0UL) != 0) ::_exit(34);  // the new program may use it
  ::_exit(0);
}

namespace {

constexpr std::uint64_t kMs = 1000000ULL;
constexpr std::uint64_t kWatchdogNs = 10000 * kMs;  // any legitimate wait here ends far sooner

#define REQUIRE_DEVICE() \
  if (!device_present()) GTEST_SKIP() << FW_DEVICE_PATH " is missing: fastwake.ko is not loaded"

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

Fd ready_fd() {
  const int fd = open_ready();
  EXPECT_GE(fd, 0) << "open+handshake: " << std::strerror(-fd);
  return Fd(fd);
}

fw_stats stats_of(int fd) {
  fw_stats st{};
  EXPECT_EQ(xioctl(fd, FW_IOC_STATS, &st), 0);
  return st;
}

// pthread_join() returns once the kernel cleared the thread's tid, which
// happens in exit_mm(), a little before the sched_process_exit tracepoint
// that unregisters it: poll the counters instead of reading them once.
fw_stats stats_when(int fd, const std::function<bool(const fw_stats&)>& ok) {
  fw_stats st{};
  for (int i = 0; i < 5000; ++i) {
    st = stats_of(fd);
    if (ok(st)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return st;
}

// Restores the calling thread's CPU affinity on scope exit.
class AffinityGuard {
 public:
  AffinityGuard() { sched_getaffinity(0, sizeof(saved_), &saved_); }
  ~AffinityGuard() { sched_setaffinity(0, sizeof(saved_), &saved_); }

 private:
  cpu_set_t saved_{};
};

// Runs fn in a forked child; returns its exit status (or 128+signal).
int in_child(const std::function<int()>& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// ---------------------------------------------------------------- ABI -------

TEST(Abi, HandshakeRequiredBeforeAnythingElse) {
  REQUIRE_DEVICE();
  Fd fd(open_raw());
  ASSERT_GE(fd.get(), 0);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_REGISTER, 0UL), EBADFD);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAKE, static_cast<unsigned long>(gettid_())), EBADFD);
  fw_stats st{};
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_STATS, &st), EBADFD);
  fw_abi abi{};
  abi.version = FW_ABI_VERSION;
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_ABI, &abi), 0);
  EXPECT_EQ(abi.version, FW_ABI_VERSION);
  EXPECT_EQ(abi.features & (FW_FEAT_SWITCH | FW_FEAT_ATTACH | FW_FEAT_EXIT_CLEANUP),
            FW_FEAT_SWITCH | FW_FEAT_ATTACH | FW_FEAT_EXIT_CLEANUP);
  EXPECT_GT(abi.max_attach, 0u);
  EXPECT_EQ(abi.reserved, 0u);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_STATS, &st), 0);
}

TEST(Abi, VersionMismatchIsRefusedAndReported) {
  REQUIRE_DEVICE();
  Fd fd(open_raw());
  ASSERT_GE(fd.get(), 0);
  for (std::uint32_t wrong : {0u, FW_ABI_VERSION + 1, 0xffffffffu}) {
    fw_abi abi{};
    abi.version = wrong;
    EXPECT_EQ(xioctl(fd.get(), FW_IOC_ABI, &abi), EPROTO) << wrong;
    EXPECT_EQ(abi.version, FW_ABI_VERSION) << "the module must tell its own version";
    EXPECT_EQ(xioctl(fd.get(), FW_IOC_REGISTER, 0UL), EBADFD)
        << "a failed handshake must not unlock";
  }
  // A later mismatch also revokes an earlier success.
  fw_abi ok{};
  ok.version = FW_ABI_VERSION;
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_ABI, &ok), 0);
  fw_abi bad{};
  bad.version = FW_ABI_VERSION + 7;
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ABI, &bad), EPROTO);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_REGISTER, 0UL), EBADFD);
}

TEST(Abi, WrongStructSizeOrReservedBitsAreRefused) {
  REQUIRE_DEVICE();
  Fd fd(open_raw());
  ASSERT_GE(fd.get(), 0);
  // A caller built against another layout encodes another size: -ENOTTY.
  struct Old {
    std::uint32_t version, flags;
  } old{FW_ABI_VERSION, 0};
  EXPECT_EQ(xioctl(fd.get(), _IOWR(FW_IOC_MAGIC, 0x00, Old), &old), ENOTTY);
  char big[64] = {};
  EXPECT_EQ(xioctl(fd.get(), _IOWR(FW_IOC_MAGIC, 0x00, char[64]), big), ENOTTY);
  EXPECT_EQ(xioctl(fd.get(), _IOR(FW_IOC_MAGIC, 0x00, fw_abi), big), ENOTTY);
  fw_abi abi{};
  abi.version = FW_ABI_VERSION;
  abi.flags = 1;
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ABI, &abi), EINVAL);
  abi.flags = 0;
  abi.reserved = 5;
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ABI, &abi), EINVAL);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ABI, static_cast<unsigned long>(0)), EFAULT);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ABI, 0xffffffff81000000UL), EFAULT) << "kernel address";
  // Unknown commands, ours or not.
  EXPECT_EQ(xioctl(fd.get(), _IO(FW_IOC_MAGIC, 0x3f), 0UL), ENOTTY);
  EXPECT_EQ(xioctl(fd.get(), _IO('T', 0x01), 0UL), ENOTTY);
}

TEST(Abi, ClientLibraryExplainsMismatchAndOpens) {
  REQUIRE_DEVICE();
  try {
    (void)FastwakeDevice::open(FW_DEVICE_PATH, FW_ABI_VERSION + 1);
    FAIL() << "an ABI mismatch must throw";
  } catch (const DeviceError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("ABI version " + std::to_string(FW_ABI_VERSION)), std::string::npos) << msg;
    EXPECT_NE(msg.find("expects " + std::to_string(FW_ABI_VERSION + 1)), std::string::npos) << msg;
    EXPECT_NE(msg.find("rebuild"), std::string::npos) << msg;
  }
  auto dev = FastwakeDevice::open_if_present();
  ASSERT_TRUE(dev.has_value());
  EXPECT_EQ(dev->abi_version(), FW_ABI_VERSION);
  dev->register_thread();
  EXPECT_THROW(dev->register_thread(), DeviceError);
  EXPECT_FALSE(dev->wake(FastwakeDevice::current_tid()));
  EXPECT_FALSE(dev->wait(std::chrono::milliseconds(0)));
  EXPECT_EQ(dev->wait(std::chrono::milliseconds(1)), std::errc::timed_out);
  EXPECT_EQ(dev->wake(-5), std::errc::invalid_argument);
  EXPECT_EQ(dev->stats().threads, 1u);
  dev->unregister_thread();
  EXPECT_EQ(dev->wait(), std::errc::no_such_file_or_directory);
}

// ------------------------------------------------------ register / wait ------

TEST(Register, OncePerThreadAndOneFileAtATime) {
  REQUIRE_DEVICE();
  Fd a = ready_fd(), b = ready_fd();
  EXPECT_EQ(xioctl(a.get(), FW_IOC_REGISTER, 1UL), EINVAL) << "argument must be 0";
  ASSERT_EQ(xioctl(a.get(), FW_IOC_REGISTER, 0UL), 0);
  EXPECT_EQ(xioctl(a.get(), FW_IOC_REGISTER, 0UL), EEXIST);
  EXPECT_EQ(xioctl(b.get(), FW_IOC_REGISTER, 0UL), EBUSY);
  // Registered on a, not on b: b does not know this thread.
  EXPECT_EQ(xioctl(b.get(), FW_IOC_WAIT, 0UL), ENOENT);
  EXPECT_EQ(xioctl(b.get(), FW_IOC_WAKE, static_cast<unsigned long>(gettid_())), ENOENT);
  EXPECT_EQ(stats_of(a.get()).threads, 1u);
  EXPECT_EQ(xioctl(a.get(), FW_IOC_UNREGISTER, 0UL), 0);
  EXPECT_EQ(xioctl(a.get(), FW_IOC_UNREGISTER, 0UL), ENOENT);
  EXPECT_EQ(stats_of(a.get()).threads, 0u);
  EXPECT_EQ(xioctl(b.get(), FW_IOC_REGISTER, 0UL), 0) << "free to register elsewhere now";
  EXPECT_EQ(xioctl(a.get(), FW_IOC_WAIT, 0UL), ENOENT);
}

TEST(Wait, TokenIsOneBitAndTimeoutsWork) {
  REQUIRE_DEVICE();
  Fd fd = ready_fd();
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_REGISTER, 0UL), 0);
  const auto me = static_cast<unsigned long>(gettid_());
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAIT, 0UL), ETIMEDOUT) << "no token yet";
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAKE, me), 0);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAKE, me), 0);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAIT, FW_WAIT_FOREVER), 0) << "pending token: returns at once";
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAIT, 0UL), ETIMEDOUT) << "two wakes are one token";
  const auto t0 = now_ns();
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAIT, 30 * kMs), ETIMEDOUT);
  const auto dt = now_ns() - t0;
  EXPECT_GE(dt, static_cast<std::int64_t>(30 * kMs));
  EXPECT_LT(dt, static_cast<std::int64_t>(5000 * kMs));
  // A huge timeout is not "forever"-special-cased into an overflow.
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAKE, me), 0);
  });
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAIT, FW_WAIT_FOREVER - 1), 0);
  waker.join();
}

TEST(Wake, ArgumentsAndTargetsAreValidated) {
  REQUIRE_DEVICE();
  Fd fd = ready_fd();
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_REGISTER, 0UL), 0);
  for (unsigned long bad : {0UL, FW_TID_MAX + 1UL, ~0UL, 0xffffffff81000000UL}) {
    EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAKE, bad), EINVAL) << bad;
    EXPECT_EQ(xioctl(fd.get(), FW_IOC_SWITCH_TO, bad), EINVAL) << bad;
  }
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAKE, 1UL), EPERM) << "init is another process";
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_SWITCH_TO, 1UL), EPERM);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAKE, FW_TID_MAX - 3UL), ESRCH);
  std::atomic<pid_t> other{0};
  std::atomic<bool> done{false};
  std::thread t([&] {
    other = gettid_();
    while (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (!other) std::this_thread::yield();
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAKE, static_cast<unsigned long>(other.load())), ENOENT)
      << "own thread, not registered";
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_SWITCH_TO, static_cast<unsigned long>(other.load())), ENOENT);
  done = true;
  t.join();
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_SWITCH_TO, static_cast<unsigned long>(gettid_())), EINVAL)
      << "switch to oneself";
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_SWITCH_WAIT, static_cast<unsigned long>(gettid_())), EINVAL);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_UNREGISTER, 0UL), 0);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_SWITCH_WAIT, 1UL), ENOENT) << "caller not registered";
}

// Every post is followed by a wake; a consumer that sees nothing to consume
// waits. A wait that times out while a post is outstanding is a lost wake-up.
TEST(Wake, NoLostWakeupsWithManyWakersAndWaiters) {
  REQUIRE_DEVICE();
  Fd fd = ready_fd();
  constexpr int kWaiters = 16, kWakers = 4, kPostsPerWaker = 3000;
  struct Slot {
    std::atomic<pid_t> tid{0};
    std::atomic<std::uint64_t> posted{0};
    std::uint64_t consumed = 0;
    std::uint64_t waits = 0;
    int lost = 0;
  };
  std::vector<Slot> slots(kWaiters);
  std::atomic<bool> stop{false};
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&, i] {
      Slot& s = slots[i];
      if (xioctl(fd.get(), FW_IOC_REGISTER, 0UL) != 0) return;
      s.tid = gettid_();
      for (;;) {
        const std::uint64_t p = s.posted.load();
        if (s.consumed < p) {
          s.consumed = p;
          continue;
        }
        if (stop) break;
        ++s.waits;
        // Timing out with a post outstanding means its wake was lost.
        if (xioctl(fd.get(), FW_IOC_WAIT, kWatchdogNs) == ETIMEDOUT && s.posted.load() > s.consumed)
          ++s.lost;
      }
    });
  }
  for (auto& s : slots)
    while (!s.tid) std::this_thread::yield();
  std::vector<std::thread> wakers;
  std::atomic<int> wake_errors{0};
  for (int w = 0; w < kWakers; ++w) {
    wakers.emplace_back([&, w] {
      std::mt19937 rng(w);
      for (int k = 0; k < kPostsPerWaker; ++k) {
        Slot& s = slots[rng() % kWaiters];
        s.posted.fetch_add(1);
        if (xioctl(fd.get(), FW_IOC_WAKE, static_cast<unsigned long>(s.tid.load())) != 0)
          ++wake_errors;
      }
    });
  }
  for (auto& t : wakers) t.join();
  stop = true;
  for (auto& s : slots) xioctl(fd.get(), FW_IOC_WAKE, static_cast<unsigned long>(s.tid.load()));
  for (auto& t : waiters) t.join();
  std::uint64_t total = 0, waits = 0;
  for (auto& s : slots) {
    EXPECT_EQ(s.lost, 0) << "lost wake-up";
    EXPECT_EQ(s.consumed, s.posted.load());
    total += s.consumed;
    waits += s.waits;
  }
  EXPECT_EQ(total, static_cast<std::uint64_t>(kWakers) * kPostsPerWaker);
  EXPECT_EQ(wake_errors.load(), 0);
  EXPECT_GE(stats_of(fd.get()).wakes, total);
  std::printf("  %llu posts, %llu waits over %d waiters\n", static_cast<unsigned long long>(total),
              static_cast<unsigned long long>(waits), kWaiters);
}

// A baton passed around a ring of N threads, M times: each thread, when it
// holds the baton, hands it to the next one (wake + wait, or one switch).
void baton_ring(bool use_switch, bool pin_one_cpu) {
  Fd fd = ready_fd();
  constexpr int kThreads = 24, kRounds = 150;
  std::vector<std::atomic<pid_t>> tids(kThreads);
  std::atomic<int> holder{-1};
  std::atomic<int> registered{0};
  std::atomic<int> errors{0};
  std::atomic<std::uint64_t> passes{0};
  const int cpu = ncpus() > 1 ? 1 : 0;
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&, i] {
      if (pin_one_cpu) pin_self(cpu);
      if (xioctl(fd.get(), FW_IOC_REGISTER, 0UL) != 0) {
        ++errors;
        return;
      }
      tids[i] = gettid_();
      ++registered;
      int err = xioctl(fd.get(), FW_IOC_WAIT, kWatchdogNs);  // the first baton
      for (int r = 0;; ++r) {
        if (err != 0 || holder.load() != i) {
          ++errors;
          std::fprintf(stderr, "thread %d: err %d holder %d\n", i, err, holder.load());
          return;
        }
        passes.fetch_add(1);
        const bool last = (i == kThreads - 1 && r == kRounds - 1);
        if (last) return;
        const int next = (i + 1) % kThreads;
        holder = next;
        const bool my_last = (r == kRounds - 1);
        const auto next_tid = static_cast<unsigned long>(tids[next].load());
        if (my_last) {
          err = xioctl(fd.get(), use_switch ? FW_IOC_SWITCH_TO : FW_IOC_WAKE, next_tid);
          if (err != 0) ++errors;
          return;
        }
        if (use_switch) {
          err = xioctl(fd.get(), FW_IOC_SWITCH_WAIT, next_tid);
        } else {
          err = xioctl(fd.get(), FW_IOC_WAKE, next_tid);
          if (err == 0) err = xioctl(fd.get(), FW_IOC_WAIT, kWatchdogNs);
        }
      }
    });
  }
  while (registered.load() + errors.load() < kThreads) std::this_thread::yield();
  ASSERT_EQ(errors.load(), 0);
  holder = 0;
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_WAKE, static_cast<unsigned long>(tids[0].load())), 0);
  for (auto& t : ts) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(passes.load(), static_cast<std::uint64_t>(kThreads) * kRounds);
  const fw_stats st = stats_when(fd.get(), [](const fw_stats& s) { return s.threads == 0; });
  if (use_switch) {
    EXPECT_GE(st.switches, static_cast<std::uint64_t>(kThreads) * kRounds - 1);
  }
  EXPECT_EQ(st.threads, 0u) << "exited threads must be unregistered";
  EXPECT_EQ(st.exits, static_cast<std::uint64_t>(kThreads));
  std::printf("  %llu passes; switches %llu, direct hand-overs (yield_to) %llu\n",
              static_cast<unsigned long long>(passes.load()),
              static_cast<unsigned long long>(st.switches),
              static_cast<unsigned long long>(st.yields));
}

TEST(Ring, WakeWaitManyThreads) {
  REQUIRE_DEVICE();
  baton_ring(false, false);
}
TEST(Ring, SwitchWaitManyThreads) {
  REQUIRE_DEVICE();
  baton_ring(true, false);
}
TEST(Ring, SwitchWaitManyThreadsOneCpu) {
  REQUIRE_DEVICE();
  baton_ring(true, true);
}

// The dispatcher's use: a pinned thread switches to a pinned sleeper on the
// same CPU; the sleeper must have run before switch-to returns.
TEST(Switch, TargetRunsBeforeSwitchToReturnsOnOneCpu) {
  REQUIRE_DEVICE();
  if (ncpus() < 2) GTEST_SKIP() << "needs 2 CPUs";
  Fd fd = ready_fd();
  AffinityGuard guard;
  constexpr int kIters = 2000;
  std::atomic<int> seen{-1};
  std::atomic<pid_t> tid{0};
  std::atomic<bool> stop{false};
  std::thread target([&] {
    pin_self(1);
    if (xioctl(fd.get(), FW_IOC_REGISTER, 0UL) != 0) return;
    tid = gettid_();
    int last = -1;
    while (!stop) {
      if (xioctl(fd.get(), FW_IOC_WAIT, kWatchdogNs) != 0) continue;
      last = seen.load() + 1;
      seen = last;
    }
  });
  pin_self(1);
  while (!tid) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  int ran_before_return = 0;
  for (int i = 0; i < kIters; ++i) {
    const int before = seen.load();
    ASSERT_EQ(xioctl(fd.get(), FW_IOC_SWITCH_TO, static_cast<unsigned long>(tid.load())), 0);
    if (seen.load() > before) ++ran_before_return;
    // Let it go back to sleep if it did not run yet (not part of the measure).
    for (int spin = 0; seen.load() == before && spin < 1000; ++spin) std::this_thread::yield();
  }
  stop = true;
  xioctl(fd.get(), FW_IOC_WAKE, static_cast<unsigned long>(tid.load()));
  target.join();
  const fw_stats st = stats_of(fd.get());
  std::printf("  target ran before switch-to returned: %d/%d; yield_to accepted %llu/%llu\n",
              ran_before_return, kIters, static_cast<unsigned long long>(st.yields),
              static_cast<unsigned long long>(st.switches));
  EXPECT_GE(ran_before_return, kIters * 8 / 10);
  EXPECT_GE(st.yields, static_cast<std::uint64_t>(kIters) * 8 / 10);
}

// switch-and-wait ping-pong: strict alternation, whatever the placement.
TEST(Switch, PingPongAlternatesStrictly) {
  REQUIRE_DEVICE();
  for (bool pinned : {true, false}) {
    AffinityGuard guard;
    Fd fd = ready_fd();
    constexpr int kRounds = 3000;
    std::atomic<pid_t> tb{0};
    std::atomic<int> turn{0};  // even: A's, odd: B's
    std::atomic<int> bad{0};
    const pid_t ta = gettid_();
    if (pinned) pin_self(ncpus() > 1 ? 1 : 0);
    ASSERT_EQ(xioctl(fd.get(), FW_IOC_REGISTER, 0UL), 0);
    std::thread b([&] {
      if (pinned) pin_self(ncpus() > 1 ? 1 : 0);
      if (xioctl(fd.get(), FW_IOC_REGISTER, 0UL) != 0) return;
      tb = gettid_();
      if (xioctl(fd.get(), FW_IOC_WAIT, kWatchdogNs) != 0) ++bad;
      for (int r = 0; r < kRounds; ++r) {
        if (turn.load() % 2 != 1) ++bad;
        turn.fetch_add(1);
        const int err = r == kRounds - 1
                            ? xioctl(fd.get(), FW_IOC_WAKE, static_cast<unsigned long>(ta))
                            : xioctl(fd.get(), FW_IOC_SWITCH_WAIT, static_cast<unsigned long>(ta));
        if (err != 0) ++bad;
      }
    });
    while (!tb) std::this_thread::yield();
    for (int r = 0; r < kRounds; ++r) {
      if (turn.load() % 2 != 0) ++bad;
      turn.fetch_add(1);
      ASSERT_EQ(xioctl(fd.get(), FW_IOC_SWITCH_WAIT, static_cast<unsigned long>(tb.load())), 0);
    }
    b.join();
    EXPECT_EQ(bad.load(), 0) << (pinned ? "pinned" : "unpinned");
    EXPECT_EQ(turn.load(), 2 * kRounds);
    EXPECT_EQ(xioctl(fd.get(), FW_IOC_UNREGISTER, 0UL), 0);
  }
}

// ------------------------------------------------------------ signals --------

TEST(Signals, InterruptWaitAndSwitchWait) {
  REQUIRE_DEVICE();
  install_interrupt_signal(SIGUSR1);
  Fd fd = ready_fd();
  std::atomic<pid_t> tid{0}, peer{0};
  std::atomic<int> r_wait{-1}, r_switch{-1}, r_timed{-1};
  std::atomic<int> stage{0};
  std::thread p([&] {  // a registered peer that never answers
    if (xioctl(fd.get(), FW_IOC_REGISTER, 0UL) != 0) return;
    peer = gettid_();
    while (stage.load() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  std::thread t([&] {
    if (xioctl(fd.get(), FW_IOC_REGISTER, 0UL) != 0) return;
    tid = gettid_();
    stage = 1;
    r_wait = xioctl(fd.get(), FW_IOC_WAIT, FW_WAIT_FOREVER);
    stage = 2;
    while (!peer) std::this_thread::yield();
    r_switch = xioctl(fd.get(), FW_IOC_SWITCH_WAIT, static_cast<unsigned long>(peer.load()));
    stage = 3;
    r_timed = xioctl(fd.get(), FW_IOC_WAIT, kWatchdogNs);
    stage = 4;
  });
  auto interrupt_at = [&](int s) {
    while (stage.load() < s) std::this_thread::yield();
    for (int i = 0; i < 20000 && stage.load() == s; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      ::pthread_kill(t.native_handle(), SIGUSR1);
    }
  };
  interrupt_at(1);
  interrupt_at(2);
  interrupt_at(3);
  t.join();
  p.join();
  EXPECT_EQ(r_wait.load(), EINTR);
  EXPECT_EQ(r_switch.load(), EINTR);
  EXPECT_EQ(r_timed.load(), EINTR);
}

// ------------------------------------------------------ process isolation ----

TEST(Isolation, OtherProcessesThreadsAreRefused) {
  REQUIRE_DEVICE();
  Fd fd = ready_fd();
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_REGISTER, 0UL), 0);
  int tochild[2], toparent[2];
  ASSERT_EQ(::pipe(tochild), 0);
  ASSERT_EQ(::pipe(toparent), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Child: its own file, a registered thread that waits and must NOT be woken.
    const int cfd = open_ready();
    if (cfd < 0 || xioctl(cfd, FW_IOC_REGISTER, 0UL) != 0) ::_exit(10);
    // The inherited file belongs to the parent: refused for everything but the handshake.
    if (xioctl(fd.get(), FW_IOC_REGISTER, 0UL) != EPERM) ::_exit(11);
    if (xioctl(fd.get(), FW_IOC_WAKE, static_cast<unsigned long>(::getppid())) != EPERM)
      ::_exit(12);
    const pid_t me = gettid_();
    if (::write(toparent[1], &me, sizeof(me)) != sizeof(me)) ::_exit(13);
    char c;
    if (::read(tochild[0], &c, 1) != 1) ::_exit(14);  // parent has tried everything
    const int err = xioctl(cfd, FW_IOC_WAIT, 0UL);
    ::_exit(err == ETIMEDOUT ? 0 : 15);  // a pending token = the parent got through
  }
  pid_t child_tid = 0;
  ASSERT_EQ(::read(toparent[0], &child_tid, sizeof(child_tid)),
            static_cast<ssize_t>(sizeof(child_tid)));
  const auto ct = static_cast<unsigned long>(child_tid);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAKE, ct), EPERM);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_SWITCH_TO, ct), EPERM);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_SWITCH_WAIT, ct), EPERM);
  // The child's own device file, passed over: still not ours.
  const fw_stats before = stats_of(fd.get());
  EXPECT_EQ(before.wakes, 0u);
  ASSERT_EQ(::write(tochild[1], "x", 1), 1);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child step that failed (10..15)";
  for (int f : {tochild[0], tochild[1], toparent[0], toparent[1]}) ::close(f);
}

TEST(Isolation, FileReceivedOverUnixSocketIsRefused) {
  REQUIRE_DEVICE();
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int cfd = open_ready();
    if (cfd < 0) ::_exit(10);
    char buf[1] = {'f'};
    iovec iov{buf, 1};
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl;
    msg.msg_controllen = sizeof(ctrl);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &cfd, sizeof(int));
    ::_exit(::sendmsg(sv[1], &msg, 0) == 1 ? 0 : 11);
  }
  char buf[1];
  iovec iov{buf, 1};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctrl;
  msg.msg_controllen = sizeof(ctrl);
  ASSERT_EQ(::recvmsg(sv[0], &msg, 0), 1);
  int rfd = -1;
  std::memcpy(&rfd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(xioctl(rfd, FW_IOC_REGISTER, 0UL), EPERM);
  fw_stats st{};
  EXPECT_EQ(xioctl(rfd, FW_IOC_STATS, &st), EPERM);
  // A failed handshake from here must not lock the owner out (the child did
  // its handshake; a wrong version from us gets an answer, changes nothing).
  fw_abi bad{};
  bad.version = FW_ABI_VERSION + 3;
  EXPECT_EQ(xioctl(rfd, FW_IOC_ABI, &bad), EPROTO);
  EXPECT_EQ(bad.version, FW_ABI_VERSION);
  EXPECT_EQ(xioctl(rfd, FW_IOC_REGISTER, 0UL), EPERM)
      << "still EPERM, not EBADFD: the owner's state is intact";
  ::close(rfd);
  ::close(sv[0]);
  ::close(sv[1]);
}

// ------------------------------------------------------------ attach ---------

TEST(Attach, EventfdWriteWakesTheWaiterWithoutARead) {
  REQUIRE_DEVICE();
  Fd fd = ready_fd();
  Fd efd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_REGISTER, 0UL), 0);
  fw_attach at{};
  at.fd = efd.get();
  at.flags = FW_ATTACH_PREEMPT;
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), 0);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), EEXIST);
  EXPECT_EQ(stats_of(fd.get()).attached, 1u);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAIT, 0UL), ETIMEDOUT) << "nothing written yet";
  for (int round = 0; round < 50; ++round) {
    std::thread writer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(round == 0 ? 30 : 1));
      const std::uint64_t one = 1;
      EXPECT_EQ(::write(efd.get(), &one, sizeof(one)), 8);
    });
    const auto t0 = now_ns();
    EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAIT, kWatchdogNs), 0);
    if (round == 0) {
      EXPECT_GE(now_ns() - t0, static_cast<std::int64_t>(25 * kMs));
    }
    writer.join();
  }
  EXPECT_GE(stats_of(fd.get()).irq_wakes, 50u);
  // The module did not read the eventfd: its counter holds every write.
  std::uint64_t count = 0;
  ASSERT_EQ(::read(efd.get(), &count, sizeof(count)), 8);
  EXPECT_EQ(count, 50u);
  // A read wakes the queue with EPOLLOUT only: filtered out.
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAIT, 0UL), ETIMEDOUT);
  const std::uint64_t one = 1;
  ASSERT_EQ(::write(efd.get(), &one, 8), 8);
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_WAIT, 0UL), 0);
  ASSERT_EQ(::read(efd.get(), &count, sizeof(count)), 8);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAIT, 20 * kMs), ETIMEDOUT)
      << "EPOLLOUT from the read must not wake";
  // Detach: writes no longer wake.
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_DETACH, static_cast<unsigned long>(efd.get())), 0);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_DETACH, static_cast<unsigned long>(efd.get())), ENOENT);
  ASSERT_EQ(::write(efd.get(), &one, 8), 8);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAIT, 20 * kMs), ETIMEDOUT);
  EXPECT_EQ(stats_of(fd.get()).attached, 0u);
}

TEST(Attach, ReadyAtAttachTimeSetsTheToken) {
  REQUIRE_DEVICE();
  Fd fd = ready_fd();
  Fd efd(::eventfd(3, EFD_CLOEXEC));
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_REGISTER, 0UL), 0);
  fw_attach at{};
  at.fd = efd.get();
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), 0);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAIT, 0UL), 0) << "the event came before the hook";
}

TEST(Attach, ArgumentsAreValidated) {
  REQUIRE_DEVICE();
  Fd fd = ready_fd();
  Fd efd(::eventfd(0, EFD_CLOEXEC));
  fw_attach at{};
  at.fd = efd.get();
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), ENOENT) << "caller not registered";
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_REGISTER, 0UL), 0);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, static_cast<unsigned long>(0)), EFAULT);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, 0xffff888000000000UL), EFAULT);
  at.flags = 0x80;
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), EINVAL);
  at.flags = 0;
  at.reserved = 1;
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), EINVAL);
  at.reserved = 0;
  at.fd = -1;
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), EBADF);
  at.fd = 999999;
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), EBADF);
  at.fd = fd.get();
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), EINVAL) << "its own device: a reference cycle";
  Fd other = ready_fd();
  at.fd = other.get();
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), EINVAL) << "any fastwake file";
  char path[] = "/tmp/fwattachXXXXXX";
  Fd reg(::mkstemp(path));
  ::unlink(path);
  at.fd = reg.get();
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), EOPNOTSUPP) << "regular files cannot be polled";
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_DETACH, 999999UL), EBADF);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_DETACH, static_cast<unsigned long>(efd.get())), ENOENT);
  // Up to max_attach files per thread, then -ENOSPC; detach-all releases them.
  fw_abi abi{};
  abi.version = FW_ABI_VERSION;
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_ABI, &abi), 0);
  std::vector<Fd> many;
  for (std::uint32_t i = 0; i < abi.max_attach; ++i) {
    many.emplace_back(::eventfd(0, EFD_CLOEXEC));
    at.fd = many.back().get();
    ASSERT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), 0) << i;
  }
  at.fd = efd.get();
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), ENOSPC);
  EXPECT_EQ(stats_of(fd.get()).attached, abi.max_attach);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_DETACH, static_cast<unsigned long>(FW_DETACH_ALL)), 0);
  EXPECT_EQ(stats_of(fd.get()).attached, 0u);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), 0);
}

TEST(Attach, ClosedAttachedFdStaysHookedUntilUnregister) {
  REQUIRE_DEVICE();
  Fd fd = ready_fd();
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_REGISTER, 0UL), 0);
  const int efd = ::eventfd(0, EFD_CLOEXEC);
  const int keep = ::dup(efd);
  fw_attach at{};
  at.fd = efd;
  ASSERT_EQ(xioctl(fd.get(), FW_IOC_ATTACH, &at), 0);
  ::close(efd);  // the module still holds the file
  const std::uint64_t one = 1;
  ASSERT_EQ(::write(keep, &one, 8), 8);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_WAIT, kWatchdogNs), 0);
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_DETACH, static_cast<unsigned long>(efd)), EBADF)
      << "fd number is gone";
  EXPECT_EQ(xioctl(fd.get(), FW_IOC_UNREGISTER, 0UL), 0);
  EXPECT_EQ(stats_of(fd.get()).attached, 0u);
  ASSERT_EQ(::write(keep, &one, 8), 8);
  ::close(keep);
}

// ------------------------------------------------------ clean-up -------------

TEST(Cleanup, ExitingThreadsAreUnregisteredAndDetached) {
  REQUIRE_DEVICE();
  Fd fd = ready_fd();
  constexpr int kThreads = 40;
  std::vector<Fd> efds;
  for (int i = 0; i < kThreads; ++i) efds.emplace_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  std::vector<pid_t> tids(kThreads);
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> ts;
    std::atomic<int> errors{0};
    for (int i = 0; i < kThreads; ++i) {
      ts.emplace_back([&, i] {
        tids[i] = gettid_();
        fw_attach at{};
        at.fd = efds[i].get();
        if (xioctl(fd.get(), FW_IOC_REGISTER, 0UL) != 0 ||
            xioctl(fd.get(), FW_IOC_ATTACH, &at) != 0)
          ++errors;
        // half of them exit while sleeping briefly in the module
        if (i % 2) xioctl(fd.get(), FW_IOC_WAIT, 1 * kMs);
      });
    }
    for (auto& t : ts) t.join();
    ASSERT_EQ(errors.load(), 0);
    const std::uint64_t want = static_cast<std::uint64_t>(kThreads) * (round + 1);
    const fw_stats st = stats_when(fd.get(), [&](const fw_stats& s) { return s.exits == want; });
    EXPECT_EQ(st.threads, 0u);
    EXPECT_EQ(st.attached, 0u);
    EXPECT_EQ(st.exits, want);
    // Writing to the eventfds must not reach the dead threads' entries.
    const std::uint64_t one = 1;
    for (auto& e : efds) ASSERT_EQ(::write(e.get(), &one, 8), 8);
    for (pid_t t : tids) {
      const int err = xioctl(fd.get(), FW_IOC_WAKE, static_cast<unsigned long>(t));
      EXPECT_TRUE(err == ESRCH || err == ENOENT)
          << err;  // tid gone, or reused by an unregistered thread
    }
  }
  EXPECT_EQ(stats_of(fd.get()).irq_wakes, 0u);
}

// The main thread registers and leaves with pthread_exit: its task lingers as
// a zombie leader, its registration must be gone.
TEST(Cleanup, ExitedGroupLeaderIsNotWakeable) {
  REQUIRE_DEVICE();
  const int rc = in_child([] {
    const int fd = open_ready();
    if (fd < 0 || xioctl(fd, FW_IOC_REGISTER, 0UL) != 0) return 10;
    static int sfd;
    sfd = fd;
    static pid_t leader;
    leader = gettid_();
    pthread_t t;
    pthread_create(
        &t, nullptr,
        [](void*) -> void* {
          // wait until the leader is gone (its stats count the exit)
          for (int i = 0; i < 10000; ++i) {
            fw_stats st{};
            if (xioctl(sfd, FW_IOC_STATS, &st) == 0 && st.exits == 1) {
              const int err = xioctl(sfd, FW_IOC_WAKE, static_cast<unsigned long>(leader));
              ::_exit(err == ENOENT ? 0 : 20 + err);
            }
            ::usleep(1000);
          }
          ::_exit(11);
        },
        nullptr);
    // Only this thread ends (no unwinding through gtest's frames, as pthread_exit would).
    ::syscall(SYS_exit, 0);
    return 12;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Cleanup, KilledProcessWithWaitingAttachedThreads) {
  REQUIRE_DEVICE();
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = open_ready();
    if (fd < 0) ::_exit(10);
    std::vector<std::thread> ts;
    std::atomic<int> ready{0};
    for (int i = 0; i < 8; ++i) {
      ts.emplace_back([&] {
        const int efd = ::eventfd(0, 0);
        fw_attach at{};
        at.fd = efd;
        if (xioctl(fd, FW_IOC_REGISTER, 0UL) == 0 && xioctl(fd, FW_IOC_ATTACH, &at) == 0) ++ready;
        xioctl(fd, FW_IOC_WAIT, FW_WAIT_FOREVER);
      });
    }
    while (ready.load() < 8) std::this_thread::yield();
    ::write(p[1], "r", 1);
    for (;;) ::pause();
  }
  char c;
  ASSERT_EQ(::read(p[0], &c, 1), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
  ::close(p[0]);
  ::close(p[1]);
}

TEST(Cleanup, CloseWhileAThreadWaitsThenSignal) {
  REQUIRE_DEVICE();
  install_interrupt_signal(SIGUSR1);
  const int fd = open_ready();
  ASSERT_GE(fd, 0);
  std::atomic<int> stage{0}, result{-1};
  std::thread t([&] {
    const int efd = ::eventfd(0, EFD_CLOEXEC);
    fw_attach at{};
    at.fd = efd;
    if (xioctl(fd, FW_IOC_REGISTER, 0UL) != 0 || xioctl(fd, FW_IOC_ATTACH, &at) != 0) return;
    stage = 1;
    result = xioctl(fd, FW_IOC_WAIT, FW_WAIT_FOREVER);
    stage = 2;
    ::close(efd);
  });
  while (stage.load() < 1) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(::close(fd), 0);  // the waiter's ioctl keeps the file alive
  for (int i = 0; i < 2000 && stage.load() < 2; ++i) {
    ::pthread_kill(t.native_handle(), SIGUSR1);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  t.join();
  EXPECT_EQ(result.load(), EINTR);
}

TEST(Cleanup, CloseWithRegisteredAttachedThreadsAlive) {
  REQUIRE_DEVICE();
  const int fd = open_ready();
  ASSERT_GE(fd, 0);
  constexpr int kThreads = 8;
  std::atomic<int> ready{0};
  std::atomic<bool> closed{false};
  std::vector<int> efds(kThreads);
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    efds[i] = ::eventfd(0, EFD_CLOEXEC);
    ts.emplace_back([&, i] {
      fw_attach at{};
      at.fd = efds[i];
      if (xioctl(fd, FW_IOC_REGISTER, 0UL) == 0 && xioctl(fd, FW_IOC_ATTACH, &at) == 0) ++ready;
      while (!closed) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      const std::uint64_t one = 1;
      (void)::write(efds[i], &one, 8);  // no hook left
      // The thread may now register on a new file.
      const int nfd = open_ready();
      const int err = nfd >= 0 ? xioctl(nfd, FW_IOC_REGISTER, 0UL) : -1;
      if (err != 0) ready = -1000;
      if (nfd >= 0) ::close(nfd);
    });
  }
  while (ready.load() < kThreads && ready.load() >= 0) std::this_thread::yield();
  ASSERT_EQ(ready.load(), kThreads);
  ::close(fd);  // last reference: release tears down 8 registrations + attachments
  closed = true;
  for (auto& t : ts) t.join();
  EXPECT_EQ(ready.load(), kThreads);
  for (int e : efds) ::close(e);
}

// ------------------------------------------------- permissions, users --------
// The guest's driver (guest-run.sh) gives /dev/fastwake to group "fastwake";
// these tests switch to two unprivileged users in forked children.

constexpr uid_t kUserA = 1001;  // the "first user"
constexpr uid_t kUserB = 1002;  // the "second user"

gid_t device_gid() {
  struct stat st {};
  return ::stat(FW_DEVICE_PATH, &st) == 0 ? st.st_gid : 0;
}

// In a forked child: become `uid` (primary group = uid), in the device's group or in none.
bool become(uid_t uid, bool in_device_group) {
  const gid_t g[1] = {device_gid()};
  return ::setgroups(in_device_group ? 1 : 0, g) == 0 && ::setresgid(uid, uid, uid) == 0 &&
         ::setresuid(uid, uid, uid) == 0;
}

#define REQUIRE_ROOT() \
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (switches to unprivileged users)"

TEST(Permissions, OnlyRootAndTheDevicesGroupMayOpen) {
  REQUIRE_DEVICE();
  REQUIRE_ROOT();
  struct stat st {};
  ASSERT_EQ(::stat(FW_DEVICE_PATH, &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u) << "fastwake.ko creates its device root:root 0660";
  EXPECT_EQ(in_child([] {
              if (!become(kUserB, false)) return 10;
              return open_raw() == -EACCES ? 0 : 11;
            }),
            0)
      << "a user outside the device's group (gid " << device_gid() << ") must get EACCES";
  EXPECT_EQ(in_child([] {
              if (!become(kUserB, true)) return 10;
              const int fd = open_ready();
              if (fd < 0) return 11;
              return xioctl(fd, FW_IOC_REGISTER, 0UL) == 0 ? 0 : 12;
            }),
            0)
      << "a member of the device's group may open and use it";
}

// User A waits with an eventfd attached (FW_ATTACH_PREEMPT) on CPU 0; user B,
// in the group too, cannot wake or switch to A's thread, and B's write of
// that eventfd on CPU 0 wakes A normally but must not force B off the CPU
// (irq_preempts stays 0). A's own thread writing it on CPU 0 may (control).
TEST(Permissions, SecondUserCannotWakeSwitchToOrPreemptTheFirstUsersThreads) {
  REQUIRE_DEVICE();
  REQUIRE_ROOT();
  {
    AffinityGuard keep;
    if (!pin_self(0)) GTEST_SKIP() << "CPU 0 is not usable";
  }
  const int efd = ::eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  int a2b[2];
  ASSERT_EQ(::pipe(a2b), 0);
  const pid_t a = ::fork();
  if (a == 0) {
    if (!become(kUserA, true) || !pin_self(0)) ::_exit(10);
    const int fd = open_ready();
    if (fd < 0 || xioctl(fd, FW_IOC_REGISTER, 0UL) != 0) ::_exit(11);
    fw_attach at{};
    at.fd = efd;
    at.flags = FW_ATTACH_PREEMPT;
    if (xioctl(fd, FW_IOC_ATTACH, &at) != 0) ::_exit(12);
    const pid_t me = gettid_();
    if (::write(a2b[1], &me, sizeof(me)) != sizeof(me)) ::_exit(13);
    if (xioctl(fd, FW_IOC_WAIT, kWatchdogNs) != 0) ::_exit(14);  // B's write
    fw_stats st{};
    if (xioctl(fd, FW_IOC_STATS, &st) != 0 || st.irq_wakes < 1) ::_exit(15);
    if (st.irq_preempts != 0) ::_exit(16);  // B was forced off its CPU for A
    // Control: our own thread writes on CPU 0 while we wait there.
    std::thread t([&] {
      pin_self(0);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      const std::uint64_t one = 1;
      (void)::write(efd, &one, 8);
    });
    const int err = xioctl(fd, FW_IOC_WAIT, kWatchdogNs);
    t.join();
    if (err != 0) ::_exit(17);
    if (xioctl(fd, FW_IOC_STATS, &st) != 0 || st.irq_preempts < 1) ::_exit(18);
    ::_exit(0);
  }
  const pid_t b = ::fork();
  if (b == 0) {
    if (!become(kUserB, true) || !pin_self(0)) ::_exit(20);
    pid_t atid = 0;
    if (::read(a2b[0], &atid, sizeof(atid)) != sizeof(atid)) ::_exit(21);
    const int fd = open_ready();
    if (fd < 0 || xioctl(fd, FW_IOC_REGISTER, 0UL) != 0) ::_exit(22);
    const auto t = static_cast<unsigned long>(atid);
    if (xioctl(fd, FW_IOC_WAKE, t) != EPERM) ::_exit(23);
    if (xioctl(fd, FW_IOC_SWITCH_TO, t) != EPERM) ::_exit(24);
    if (xioctl(fd, FW_IOC_SWITCH_WAIT, t) != EPERM) ::_exit(25);
    if (xioctl(fd, FW_IOC_WAKE, static_cast<unsigned long>(FW_TID_MAX)) != ESRCH) ::_exit(26);
    // No ioctl names another process's file or thread for ATTACH: it hooks
    // the caller's own thread on a file the caller holds. B's own works.
    fw_attach at{};
    at.fd = efd;
    at.flags = FW_ATTACH_PREEMPT;
    if (xioctl(fd, FW_IOC_ATTACH, &at) != 0) ::_exit(27);
    if (xioctl(fd, FW_IOC_DETACH, static_cast<unsigned long>(efd)) != 0) ::_exit(28);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // A sleeps in the module
    const std::uint64_t one = 1;
    if (::write(efd, &one, 8) != 8) ::_exit(29);
    ::_exit(0);
  }
  int sa = 0, sb = 0;
  ::waitpid(b, &sb, 0);
  ::waitpid(a, &sa, 0);
  ::close(efd);
  ::close(a2b[0]);
  ::close(a2b[1]);
  ASSERT_TRUE(WIFEXITED(sb) && WIFEXITED(sa));
  EXPECT_EQ(WEXITSTATUS(sb), 0) << "user B's step that failed (20..29)";
  EXPECT_EQ(WEXITSTATUS(sa), 0) << "user A's step that failed (10..18; 16: B was preempted)";
}

// ------------------------------------------------------------ limits ---------

// Attached files stay open after user space closes them: a process's
// attachments over all its fastwake files count against RLIMIT_NOFILE.
TEST(Limits, AttachmentsCountAgainstRlimitNofile) {
  REQUIRE_DEVICE();
  constexpr int kLimit = 16;
  EXPECT_EQ(in_child([] {
              const rlimit rl{kLimit, kLimit};
              if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return 10;
              const int fd = open_ready();
              if (fd < 0 || xioctl(fd, FW_IOC_REGISTER, 0UL) != 0) return 11;
              // attach + close, so the descriptors themselves stay far below the limit
              const auto attach_one = [](int dev) {
                const int e = ::eventfd(0, EFD_CLOEXEC);
                if (e < 0) return -1;
                fw_attach at{};
                at.fd = e;
                const int err = xioctl(dev, FW_IOC_ATTACH, &at);
                ::close(e);
                return err;
              };
              for (int i = 0; i < kLimit - 4; ++i)
                if (attach_one(fd) != 0) return 12;
              // A second thread shares the process's budget, and so does a
              // second file of the same process (a third thread on it, while
              // the second still holds its attachments).
              int in_thread = -1, second_file = -1;
              const int fd2 = open_ready();
              if (fd2 < 0) return 13;
              std::thread([&] {
                if (xioctl(fd, FW_IOC_REGISTER, 0UL) != 0) return;
                for (int i = 0; i < 4; ++i)
                  if (attach_one(fd) != 0) return;
                in_thread = attach_one(fd);
                std::thread([&] {
                  if (xioctl(fd2, FW_IOC_REGISTER, 0UL) == 0) second_file = attach_one(fd2);
                }).join();
              }).join();
              if (in_thread != EMFILE) return 14;
              if (second_file != EMFILE) return 15;
              // The second thread's attachments went with its exit.
              // join() returns at the thread's clear_child_tid (exit_mm), before
              // do_exit reaches the sched_process_exit probe that drops its
              // attachments: wait for the probe (at most 2 s).
              for (int w = 0; w < 2000 && stats_of(fd).attached != kLimit - 4; ++w)
                ::usleep(1000);
              if (stats_of(fd).attached != kLimit - 4) return 16;
              if (attach_one(fd) != 0 || attach_one(fd) != 0 || attach_one(fd) != 0 ||
                  attach_one(fd) != 0)
                return 17;
              if (attach_one(fd) != EMFILE) return 18;
              if (xioctl(fd, FW_IOC_DETACH, static_cast<unsigned long>(FW_DETACH_ALL)) != 0)
                return 19;
              return attach_one(fd) == 0 ? 0 : 20;
            }),
            0);
}

// ------------------------------------------------------------ exec -----------

// exec with the file inherited (no O_CLOEXEC): the exec'ing thread's
// registration and attachments are dropped (the exec tracepoint); the new
// program finds the file without registrations and may register anew
// (fw_exec_check above runs in it).
int exec_with_file(bool from_second_thread) {
  const int fd = open_ready();
  if (fd < 0 || ::fcntl(fd, F_SETFD, 0) != 0) return 40;
  const int efd = ::eventfd(0, 0);  // inherited too: the attachment must not outlive the exec
  if (efd < 0) return 41;
  const std::string v = std::to_string(fd);
  ::setenv("FW_EXEC_CHECK_FD", v.c_str(), 1);
  const auto register_attach_exec = [fd, efd] {
    fw_attach at{};
    at.fd = efd;
    if (xioctl(fd, FW_IOC_REGISTER, 0UL) != 0 || xioctl(fd, FW_IOC_ATTACH, &at) != 0) return 42;
    ::execl("/proc/self/exe", "fastwake_kmod_test", static_cast<char*>(nullptr));
    return 43;
  };
  if (!from_second_thread) return register_attach_exec();
  // The main thread registered and waiting; another thread execs (de_thread
  // kills the waiter: an exit; the exec'ing thread becomes the leader).
  if (xioctl(fd, FW_IOC_REGISTER, 0UL) != 0) return 44;
  std::thread([&] { ::_exit(register_attach_exec()); }).detach();
  (void)xioctl(fd, FW_IOC_WAIT, kWatchdogNs);
  return 45;
}

TEST(Exec, RegistrationAndAttachmentsAreDroppedOnExec) {
  REQUIRE_DEVICE();
  EXPECT_EQ(in_child([] { return exec_with_file(false); }), 0)
      << "30..34: what the new program found (fw_exec_check); 40..45: set-up";
}

TEST(Exec, ExecFromASecondThreadDropsBoth) {
  REQUIRE_DEVICE();
  EXPECT_EQ(in_child([] { return exec_with_file(true); }), 0)
      << "30..34: what the new program found (fw_exec_check); 40..45: set-up";
}

}  // namespace
