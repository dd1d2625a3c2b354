// Random-ioctl fuzzer for /dev/fastwake: many calls with random commands and arguments from
// churning threads, with closes and signals; every result must be 0 or an allowed errno.
//
// usage: fastwake_kmod_fuzz [--calls N] [--threads N] [--seed S] [--max-seconds S] [--json FILE]
//                           [--as-user UID:GID[:GROUP]] [--ready FILE] [--min-seconds S]
// --as-user drops root first (supplementary group GROUP: the device's), so that
// several fuzzers of different users run at once (tests/kmod/guest-run.sh);
// --ready is created once the device is open and removed before it is closed;
// --min-seconds keeps calling until that much time has passed too (so that
// concurrent fuzzers overlap however small --calls is).
// Wakes and switch-tos also go to random tids of other processes (other
// users' included): those must never succeed.
// Exit status 0: all calls returned an allowed result; 1: a disallowed result
// (printed); 2: usage or set-up error. Kernel oopses/WARNs are checked in
// dmesg by the caller (tests/kmod/run-kmod-tests.sh).
#include <grp.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <array>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kmod_util.h"

using namespace fwtest;

namespace {

constexpr int kSlots = 3;  // 0, 1: handshaken fastwake files; 2: no handshake
constexpr int kEventfds = 8;

const std::array<unsigned long, 10> kKnown = {
    FW_IOC_ABI,       FW_IOC_REGISTER,    FW_IOC_UNREGISTER, FW_IOC_WAIT,   FW_IOC_WAKE,
    FW_IOC_SWITCH_TO, FW_IOC_SWITCH_WAIT, FW_IOC_ATTACH,     FW_IOC_DETACH, FW_IOC_STATS};

struct Shared {
  std::array<std::atomic<int>, kSlots> slots{};
  std::array<int, kEventfds> efds{};
  std::vector<std::atomic<pid_t>> tids;  // live workers' tids (0 = none)
  std::atomic<long> calls{0};
  std::atomic<bool> stop{false};         // workers: no new calls
  std::atomic<bool> stop_kicker{false};  // after every worker is joined
  std::atomic<long> bad{0};
  unsigned char* guard = nullptr;                        // page followed by a PROT_NONE page
  std::mutex mu;                                         // counts, live
  std::map<unsigned long, std::map<int, long>> results;  // cmd -> errno (0 = success) -> count
  std::set<pthread_t> live;
};

// Which results are legitimate for a command on an fd that may have been
// closed (EBADF) or reused by another kind of file (ENOTTY) meanwhile.
bool allowed(unsigned long cmd, int err) {
  static const std::set<int> common = {0,      EBADF,  ENOTTY, EBADFD,     EPERM, EINVAL,
                                       ESRCH,  ENOENT, EEXIST, EBUSY,      EINTR, ETIMEDOUT,
                                       ENOMEM, EPROTO, ENOSPC, EOPNOTSUPP, E2BIG,
                                       EMFILE};
  bool known = false;
  for (unsigned long k : kKnown) known |= (k == cmd);
  if (!known) return err == ENOTTY || err == EBADF;
  if (cmd == FW_IOC_ABI || cmd == FW_IOC_ATTACH || cmd == FW_IOC_STATS)
    return common.count(err) || err == EFAULT;
  return common.count(err) > 0;  // by-value commands never touch user memory: no EFAULT
}

class Worker {
 public:
  Worker(Shared& sh, int index, std::uint64_t seed) : sh_(sh), index_(index), rng_(seed) {}

  void run(long budget) {
    sh_.tids[index_] = gettid_();
    for (long i = 0; i < budget && !sh_.stop.load(std::memory_order_relaxed); ++i) {
      if (rng_() % 6000 == 0) reopen_a_slot();
      const int fd = pick_fd();
      const unsigned long cmd = pick_cmd();
      unsigned char buf[256];
      const unsigned long arg = pick_arg(cmd, buf);
      const bool foreign_before = is_tid_cmd(cmd) && !ours(arg);
      const long rc = ::ioctl(fd, cmd, arg);
      const int err = rc == 0 ? 0 : errno;
      // A failed handshake locks the file (-EBADFD): unlock it again, mostly.
      if (cmd == FW_IOC_ABI && err != 0 && fd != sh_.slots[2].load() && r(4) != 0) {
        fw_abi abi{};
        abi.version = FW_ABI_VERSION;
        ::ioctl(fd, FW_IOC_ABI, &abi);
      }
      sh_.calls.fetch_add(1, std::memory_order_relaxed);
      if ((rc != 0 && rc != -1) || !allowed(cmd, err)) {
        sh_.bad.fetch_add(1);
        std::fprintf(stderr, "DISALLOWED: fd %d cmd %#lx arg %#lx -> rc %ld errno %d (%s)\n", fd,
                     cmd, arg, rc, err, std::strerror(err));
      }
      // A tid outside our thread group (tgkill(us, tid, 0) fails) must
      // never be woken or switched to. Checked before and after the call:
      // one of our threads may exit meanwhile (after: not ours any more) or
      // a new one get a free tid (before: not ours yet), not both.
      if (err == 0 && rc == 0 && foreign_before && !ours(arg)) {
        sh_.bad.fetch_add(1);
        std::fprintf(stderr, "DISALLOWED: cmd %#lx on tid %lu of another process succeeded\n", cmd,
                     arg);
      }
      ++local_[cmd][err];
    }
    sh_.tids[index_] = 0;
    std::lock_guard<std::mutex> lock(sh_.mu);
    for (auto& [c, m] : local_)
      for (auto& [e, n] : m) sh_.results[c][e] += n;
  }

 private:
  std::uint64_t r(std::uint64_t n) { return rng_() % n; }

  int pick_fd() {
    const int p = static_cast<int>(r(20));
    if (p < 16) return sh_.slots[p % 2].load();
    if (p < 18) return sh_.slots[2].load();
    if (p < 19) return sh_.efds[r(kEventfds)];
    return static_cast<int>(r(64)) - 2;  // anything, even invalid
  }

  unsigned long pick_cmd() {
    const int p = static_cast<int>(r(100));
    if (p < 65) {
      // Bias towards the calls that change state.
      static const int weights[] = {2, 12, 8, 10, 14, 10, 8, 14, 10, 4};
      int w = static_cast<int>(r(92));
      for (int i = 0; i < 10; ++i) {
        if (w < weights[i]) return kKnown[i];
        w -= weights[i];
      }
      return kKnown[4];
    }
    if (p < 80) return _IOC(r(4), FW_IOC_MAGIC, r(32), r(256));
    if (p < 90) {
      const unsigned long k = kKnown[r(kKnown.size())];
      return _IOC(r(4), FW_IOC_MAGIC, _IOC_NR(k), (_IOC_SIZE(k) + r(3) * 8) % 256);
    }
    if (p < 95) return static_cast<std::uint32_t>(rng_());
    return _IOC(r(4), r(256), r(256), r(64));
  }

  static bool ours(unsigned long tid) {
    return tid != 0 && tid <= FW_TID_MAX &&
           ::syscall(SYS_tgkill, ::getpid(), static_cast<pid_t>(tid), 0) == 0;
  }
  static bool is_tid_cmd(unsigned long cmd) {
    return cmd == FW_IOC_WAKE || cmd == FW_IOC_SWITCH_TO || cmd == FW_IOC_SWITCH_WAIT;
  }

  pid_t some_tid() {
    // Now and then anyone's: the other fuzzers' threads, other users', init.
    if (r(8) == 0) return static_cast<pid_t>(1 + r(4000));
    const pid_t t = sh_.tids[r(sh_.tids.size())].load();
    return t ? t : gettid_();
  }

  // Half the time an argument that makes sense for the command (to get past
  // the validation into the deeper paths), else anything from the list.
  unsigned long pick_arg(unsigned long cmd, unsigned char* buf) {
    if (r(2)) {
      switch (cmd) {
        case FW_IOC_REGISTER:
        case FW_IOC_UNREGISTER:
          return 0;
        case FW_IOC_WAIT:
          return r(4) ? r(1'000'000) : FW_WAIT_FOREVER;
        case FW_IOC_WAKE:
        case FW_IOC_SWITCH_TO:
        case FW_IOC_SWITCH_WAIT:
          return static_cast<unsigned long>(some_tid());
        case FW_IOC_ATTACH:
          return any_arg(12, cmd, buf);
        case FW_IOC_DETACH:
          return r(3) ? static_cast<unsigned long>(sh_.efds[r(kEventfds)]) : FW_DETACH_ALL;
        case FW_IOC_ABI:
          return any_arg(13, cmd, buf);
        case FW_IOC_STATS:
          return any_arg(10, cmd, buf);
        default:
          break;
      }
    }
    return any_arg(static_cast<int>(r(24)), cmd, buf);
  }

  unsigned long any_arg(int p, unsigned long cmd, unsigned char* buf) {
    switch (p) {
      case 0:
        return 0;
      case 1:
        return r(80);
      case 2:
        return static_cast<unsigned long>(-static_cast<long>(r(5) + 1));
      case 3:
        return rng_();
      case 4:
      case 5:
      case 6:
        return static_cast<unsigned long>(some_tid());
      case 7:
        return 1;  // init: another process
      case 8:
        return r(2) ? FW_WAIT_FOREVER : FW_DETACH_ALL;
      case 9:
        return r(2'000'000);  // a timeout up to 2 ms
      case 10: {
        for (int i = 0; i < 256; ++i) buf[i] = static_cast<unsigned char>(rng_());
        return reinterpret_cast<unsigned long>(buf);
      }
      case 11:
      case 12: {
        auto* at = reinterpret_cast<fw_attach*>(buf);
        std::memset(buf, 0, 256);
        const int q = static_cast<int>(r(6));
        at->fd = q < 3    ? sh_.efds[r(kEventfds)]
                 : q == 3 ? sh_.slots[r(kSlots)].load()
                          : static_cast<int>(r(40)) - 1;
        at->flags = r(4) ? static_cast<std::uint32_t>(r(2)) : static_cast<std::uint32_t>(rng_());
        at->events = r(3) ? 0 : static_cast<std::uint32_t>(rng_());
        at->reserved = r(8) ? 0 : 1;
        return reinterpret_cast<unsigned long>(buf);
      }
      case 13: {
        auto* abi = reinterpret_cast<fw_abi*>(buf);
        std::memset(buf, 0, 256);
        abi->version = r(4) ? FW_ABI_VERSION : static_cast<std::uint32_t>(rng_());
        abi->flags = r(8) ? 0 : 1;
        return reinterpret_cast<unsigned long>(buf);
      }
      case 14:
        return 0;  // NULL
      case 15:
        return 0xffffffff81000000UL;  // kernel text
      case 16:
        return 0xffff888000000000UL;  // direct map
      case 17:
        return 0x1000;  // unmapped user page
      case 18:
        return reinterpret_cast<unsigned long>(sh_.guard + 4096);  // PROT_NONE
      case 19:
        return reinterpret_cast<unsigned long>(sh_.guard + 4096 - 4 - r(16));  // straddles it
      case 20:
        return static_cast<unsigned long>(sh_.efds[r(kEventfds)]);
      case 21:
        return static_cast<unsigned long>(sh_.slots[r(kSlots)].load());
      case 22:
        return FW_TID_MAX + r(3) - 1;
      default:
        return (cmd == FW_IOC_WAIT) ? 0 : static_cast<unsigned long>(gettid_());
    }
  }

  void reopen_a_slot() {
    const int s = static_cast<int>(r(kSlots));
    const int nfd = s == 2 ? open_raw() : open_ready();
    if (nfd < 0) return;
    const int old = sh_.slots[s].exchange(nfd);
    ::close(old);  // other threads may still be inside an ioctl on it
  }

  Shared& sh_;
  int index_;
  std::mt19937_64 rng_;
  std::map<unsigned long, std::map<int, long>> local_;
};

const char* cmd_name(unsigned long cmd) {
  switch (cmd) {
    case FW_IOC_ABI:
      return "ABI";
    case FW_IOC_REGISTER:
      return "REGISTER";
    case FW_IOC_UNREGISTER:
      return "UNREGISTER";
    case FW_IOC_WAIT:
      return "WAIT";
    case FW_IOC_WAKE:
      return "WAKE";
    case FW_IOC_SWITCH_TO:
      return "SWITCH_TO";
    case FW_IOC_SWITCH_WAIT:
      return "SWITCH_WAIT";
    case FW_IOC_ATTACH:
      return "ATTACH";
    case FW_IOC_DETACH:
      return "DETACH";
    case FW_IOC_STATS:
      return "STATS";
    default:
      return nullptr;
  }
}

}  // namespace

int main(int argc, char** argv) {
  long calls = 150000;
  int threads = 6;
  std::uint64_t seed = 0x5eed;
  int max_seconds = 300;
  int min_seconds = 0;
  std::string json, as_user, ready;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fuzz: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--calls")
      calls = std::atol(next());
    else if (a == "--threads")
      threads = std::atoi(next());
    else if (a == "--seed")
      seed = std::strtoull(next(), nullptr, 0);
    else if (a == "--max-seconds")
      max_seconds = std::atoi(next());
    else if (a == "--json")
      json = next();
    else if (a == "--as-user")
      as_user = next();
    else if (a == "--ready")
      ready = next();
    else if (a == "--min-seconds")
      min_seconds = std::atoi(next());
    else {
      std::fprintf(stderr,
                   "usage: fastwake_kmod_fuzz [--calls N] [--threads N] [--seed S] [--max-seconds "
                   "S] [--json FILE] [--as-user UID:GID[:GROUP]] [--ready FILE] [--min-seconds S]\n");
      return 2;
    }
  }
  if (calls < 1 || threads < 1 || threads > 64 || max_seconds < 1 || min_seconds < 0 ||
      min_seconds >= max_seconds) {
    std::fprintf(stderr, "fuzz: bad arguments\n");
    return 2;
  }
  if (!as_user.empty()) {
    unsigned uid = 0, gid = 0, group = 0;
    const int n = std::sscanf(as_user.c_str(), "%u:%u:%u", &uid, &gid, &group);
    const gid_t groups[1] = {static_cast<gid_t>(group)};
    if (n < 2 || ::setgroups(n == 3 ? 1 : 0, groups) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(uid, uid, uid) != 0) {
      std::fprintf(stderr, "fuzz: cannot become %s: %s\n", as_user.c_str(), std::strerror(errno));
      return 2;
    }
  }
  install_interrupt_signal(SIGUSR1);
  Shared sh;
  sh.tids = std::vector<std::atomic<pid_t>>(threads);
  for (int s = 0; s < kSlots; ++s) {
    const int fd = s == 2 ? open_raw() : open_ready();
    if (fd < 0) {
      std::fprintf(stderr, "fuzz: cannot open %s: %s\n", FW_DEVICE_PATH, std::strerror(-fd));
      return 2;
    }
    sh.slots[s] = fd;
  }
  for (int& e : sh.efds) e = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (!ready.empty()) {
    const int rf = ::open(ready.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (rf < 0) {
      std::fprintf(stderr, "fuzz: cannot create %s: %s\n", ready.c_str(), std::strerror(errno));
      return 2;
    }
    ::close(rf);
  }
  void* g = ::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g == MAP_FAILED || ::mprotect(static_cast<char*>(g) + 4096, 4096, PROT_NONE) != 0) return 2;
  sh.guard = static_cast<unsigned char*>(g);

  // The kicker: interrupts blocked waits, fires the eventfds, wakes workers.
  std::thread kicker([&] {
    std::mt19937 rng(static_cast<unsigned>(seed));
    while (!sh.stop_kicker.load()) {
      {
        std::lock_guard<std::mutex> lock(sh.mu);
        for (pthread_t t : sh.live) ::pthread_kill(t, SIGUSR1);
      }
      const std::uint64_t one = 1;
      (void)::write(sh.efds[rng() % kEventfds], &one, 8);
      std::uint64_t drain;
      (void)::read(sh.efds[rng() % kEventfds], &drain, 8);
      const pid_t t = sh.tids[rng() % sh.tids.size()].load();
      if (t) ::ioctl(sh.slots[rng() % 2].load(), FW_IOC_WAKE, static_cast<unsigned long>(t));
      ::usleep(1000);
    }
  });

  // Workers live for a random number of calls, then exit (exit clean-up under
  // load) and are replaced, until the budget is spent.
  const auto t0 = now_ns();
  std::mt19937_64 rng(seed);
  std::vector<std::thread> workers(threads);
  std::vector<bool> running(threads, false);
  long spawned = 0;
  std::vector<std::atomic<bool>> done(threads);
  auto spawn = [&](int i) {
    done[i] = false;
    const long budget = 100 + static_cast<long>(rng() % 2000);
    const std::uint64_t s = rng();
    workers[i] = std::thread([&, i, budget, s] {
      {
        std::lock_guard<std::mutex> lock(sh.mu);
        sh.live.insert(::pthread_self());
      }
      Worker(sh, i, s).run(budget);
      done[i] = true;
    });
    running[i] = true;
    ++spawned;
  };
  for (int i = 0; i < threads; ++i) spawn(i);
  bool timed_out = false;
  while (true) {
    const bool enough =
        sh.calls.load() >= calls &&
        now_ns() - t0 >= static_cast<std::int64_t>(min_seconds) * 1000000000LL;
    timed_out = now_ns() - t0 > static_cast<std::int64_t>(max_seconds) * 1000000000LL;
    if (enough || timed_out) sh.stop = true;
    bool any_running = false;
    for (int i = 0; i < threads; ++i) {
      if (running[i] && done[i]) {
        {
          std::lock_guard<std::mutex> lock(sh.mu);
          sh.live.erase(workers[i].native_handle());
        }
        workers[i].join();
        running[i] = false;
        if (!sh.stop) spawn(i);
      }
      any_running |= running[i];
    }
    if (sh.stop && !any_running) break;
    ::usleep(2000);
  }
  sh.stop_kicker = true;
  kicker.join();
  const double secs = (now_ns() - t0) / 1e9;
  if (!ready.empty()) ::unlink(ready.c_str());  // before the device's files close
  for (int s = 0; s < kSlots; ++s) ::close(sh.slots[s]);
  for (int e : sh.efds) ::close(e);

  long total = 0;
  std::string out = "{\n  \"calls\": " + std::to_string(sh.calls.load()) +
                    ",\n  \"threads_spawned\": " + std::to_string(spawned) +
                    ",\n  \"seconds\": " + std::to_string(secs) +
                    ",\n  \"disallowed\": " + std::to_string(sh.bad.load()) +
                    ",\n  \"by_command\": {";
  bool first = true;
  std::printf(
      "fuzz: %ld calls from %ld threads in %.1f s (%d at a time, seed %#llx), disallowed results: "
      "%ld\n",
      sh.calls.load(), spawned, secs, threads, static_cast<unsigned long long>(seed),
      sh.bad.load());
  for (auto& [cmd, m] : sh.results) {
    long n = 0;
    for (auto& [e, c] : m) n += c;
    total += n;
    const char* name = cmd_name(cmd);
    if (!name) continue;
    std::string line;
    out += std::string(first ? "" : ",") + "\n    \"" + name + "\": {";
    bool f2 = true;
    for (auto& [e, c] : m) {
      line += std::string(" ") + (e ? std::strerror(e) : "ok") + "=" + std::to_string(c);
      out += std::string(f2 ? "" : ", ") + "\"" + (e ? std::to_string(e) : "0") +
             "\": " + std::to_string(c);
      f2 = false;
    }
    out += "}";
    first = false;
    std::printf("  %-12s %7ld:%s\n", name, n, line.c_str());
  }
  out += "\n  }\n}\n";
  std::printf(
      "  (other commands: %ld calls, all ENOTTY/EBADF unless reported above)\n", total - [&] {
        long k = 0;
        for (auto& [cmd, m] : sh.results)
          if (cmd_name(cmd))
            for (auto& [e, c] : m) k += c;
        return k;
      }());
  if (!json.empty()) {
    if (FILE* f = std::fopen(json.c_str(), "w")) {
      std::fputs(out.c_str(), f);
      std::fclose(f);
    }
  }
  if (sh.calls.load() < calls) {
    std::fprintf(stderr, "fuzz: only %ld of %ld calls within %d s\n", sh.calls.load(), calls,
                 max_seconds);
    return 1;
  }
  return sh.bad.load() == 0 ? 0 : 1;
}
