// Micro-benchmark of fastwake.ko against the futex/VFS paths: threads pinned to one CPU hand it
// back and forth; medians per round trip and paired ratios, as JSON.
//
// usage: fastwake_kmod_bench [--rounds N] [--batch-size N] [--cpu C] [--json FILE]
// Variants (each a round trip: the driver thread A -> its partner B -> A):
//   futex_pingpong     futex wake + futex wait on each side (the fallback)
//   fw_wake_wait       FW_IOC_WAKE + FW_IOC_WAIT on each side (two ioctls)
//   fw_switch_wait     FW_IOC_SWITCH_WAIT on each side (one ioctl)
//   eventfd_read       write() the peer's eventfd, blocking read() of one's own (stock VFS path)
//   eventfd_attached   write() the peer's eventfd, FW_IOC_WAIT woken by the attached eventfd
//   dispatcher_futex   A at SCHED_IDLE: futex-wakes B, which runs and futex-waits again
//   dispatcher_switch  A at SCHED_IDLE: FW_IOC_SWITCH_TO B, which runs and FW_IOC_WAITs again
// Every partner thread lives for the whole run; each round times one batch
// of every variant back to back, so host noise hits them alike, and a ratio
// is the median over rounds of the per-round ratio. In an emulated guest the
// times are not hardware times: read the ratios and the counts.
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kmod_util.h"

using namespace fwtest;

namespace {

struct Options {
  int rounds = 300;
  int batch_size = 50;  // short batches: host noise then hits all variants of a round alike
  int warmup = 200;
  int cpu = 1;
};

long csw_self() {
  rusage ru{};
  ::getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_nvcsw + ru.ru_nivcsw;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * (v.size() - 1);
  const auto i = static_cast<size_t>(pos);
  const double f = pos - i;
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

void set_policy_self(int policy) {
  sched_param sp{};
  ::sched_setscheduler(0, policy, &sp);
}

bool emulated() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.find("QEMU") != std::string::npos || line.find("hypervisor") != std::string::npos)
      return true;
  return false;
}

// A 32-bit futex flag: post() sets it and wakes; take() sleeps until set, clears it.
struct Flag {
  alignas(64) std::uint32_t word = 0;
  void post() {
    __atomic_store_n(&word, 1, __ATOMIC_SEQ_CST);
    futex(&word, FUTEX_WAKE_PRIVATE, 1);
  }
  void take() {
    while (__atomic_load_n(&word, __ATOMIC_SEQ_CST) == 0) futex(&word, FUTEX_WAIT_PRIVATE, 0);
    __atomic_store_n(&word, 0, __ATOMIC_SEQ_CST);
  }
};

struct Variant {
  std::string name;
  double syscalls_per_rt;        // by construction
  bool a_idle = false;           // A runs at SCHED_IDLE (the dispatcher)
  std::function<void()> a_step;  // one round trip, seen from A
  std::function<void()> b_loop;  // B's service loop; returns after `stop`
  std::function<void()> stop_b;  // unblocks B once `stop` is set
  std::atomic<pid_t> b_tid{0};
  std::atomic<long> b_csw{0};
  std::thread b;
  std::vector<double> samples;  // ns per round trip, one per round
  long a_csw = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  std::string json;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--rounds")
      opt.rounds = std::atoi(val());
    else if (a == "--batch-size")
      opt.batch_size = std::atoi(val());
    else if (a == "--warmup")
      opt.warmup = std::atoi(val());
    else if (a == "--cpu")
      opt.cpu = std::atoi(val());
    else if (a == "--json")
      json = val();
    else {
      std::fprintf(stderr,
                   "usage: fastwake_kmod_bench [--rounds N] [--batch-size N] [--warmup N] [--cpu "
                   "C] [--json FILE]\n");
      return 2;
    }
  }
  if (opt.rounds < 3 || opt.batch_size < 1 || opt.warmup < 0) return 2;
  if (opt.cpu >= ncpus()) opt.cpu = 0;
  const int fd = open_ready();
  if (fd < 0) {
    std::fprintf(stderr, "bench: %s: %s (is fastwake.ko loaded?)\n", FW_DEVICE_PATH,
                 std::strerror(-fd));
    return 2;
  }
  auto fw = [fd](unsigned long cmd, unsigned long arg) {
    const int err = xioctl(fd, cmd, arg);
    if (err != 0) {
      std::fprintf(stderr, "bench: ioctl %#lx(%#lx): %s\n", cmd, arg, std::strerror(err));
      std::exit(1);
    }
  };
  auto attach_self = [&](int e) {
    fw_attach at{};
    at.fd = e;
    at.flags = FW_ATTACH_PREEMPT;
    fw(FW_IOC_ATTACH, reinterpret_cast<unsigned long>(&at));
  };
  const std::uint64_t one = 1;
  std::atomic<bool> stop{false};

  // A is this thread: pinned, registered once, attached to its eventfd.
  pin_self(opt.cpu);
  fw(FW_IOC_REGISTER, 0);
  const auto ta = static_cast<unsigned long>(gettid_());
  Flag fa, fb, fdisp;
  const int ea_read = ::eventfd(0, EFD_CLOEXEC), eb_read = ::eventfd(0, EFD_CLOEXEC);
  const int ea_att = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
            eb_att = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  attach_self(ea_att);
  std::atomic<long> served{0};
  int a_n = 0;

  std::vector<std::unique_ptr<Variant>> vs;
  auto add = [&](const char* name, double sys, bool idle) -> Variant& {
    vs.push_back(std::make_unique<Variant>());
    Variant& v = *vs.back();
    v.name = name;
    v.syscalls_per_rt = sys;
    v.a_idle = idle;
    return v;
  };
  {
    Variant& v = add("futex_pingpong", 4, false);
    v.a_step = [&] {
      fb.post();
      fa.take();
    };
    v.b_loop = [&] {
      for (fb.take(); !stop; fb.take()) fa.post();
    };
    v.stop_b = [&] { fb.post(); };
  }
  {
    Variant& v = add("fw_wake_wait", 4, false);
    v.a_step = [&, &v = v] {
      fw(FW_IOC_WAKE, v.b_tid);
      fw(FW_IOC_WAIT, FW_WAIT_FOREVER);
    };
    v.b_loop = [&] {
      for (fw(FW_IOC_WAIT, FW_WAIT_FOREVER); !stop; fw(FW_IOC_WAIT, FW_WAIT_FOREVER))
        fw(FW_IOC_WAKE, ta);
    };
    v.stop_b = [&, &v = v] { fw(FW_IOC_WAKE, v.b_tid); };
  }
  {
    Variant& v = add("fw_switch_wait", 2, false);
    v.a_step = [&, &v = v] { fw(FW_IOC_SWITCH_WAIT, v.b_tid); };
    v.b_loop = [&] {
      fw(FW_IOC_WAIT, FW_WAIT_FOREVER);
      while (!stop) fw(FW_IOC_SWITCH_WAIT, ta);
    };
    v.stop_b = [&, &v = v] { fw(FW_IOC_WAKE, v.b_tid); };
  }
  {
    Variant& v = add("eventfd_read", 4, false);
    v.a_step = [&] {
      std::uint64_t x;
      (void)!::write(eb_read, &one, 8);
      (void)!::read(ea_read, &x, 8);
    };
    v.b_loop = [&] {
      std::uint64_t x;
      for ((void)!::read(eb_read, &x, 8); !stop; (void)!::read(eb_read, &x, 8))
        (void)!::write(ea_read, &one, 8);
    };
    v.stop_b = [&] { (void)!::write(eb_read, &one, 8); };
  }
  {
    // The eventfd counters are drained every 64 round trips, off the hot path.
    Variant& v = add("eventfd_attached", 2 + 2.0 / 64, false);
    v.a_step = [&] {
      (void)!::write(eb_att, &one, 8);
      fw(FW_IOC_WAIT, FW_WAIT_FOREVER);
      std::uint64_t x;
      if (++a_n % 64 == 0) (void)!::read(ea_att, &x, 8);
    };
    v.b_loop = [&] {
      attach_self(eb_att);
      std::uint64_t x;
      for (long n = 1;; ++n) {
        fw(FW_IOC_WAIT, FW_WAIT_FOREVER);
        if (n % 64 == 0) (void)!::read(eb_att, &x, 8);
        if (stop) break;
        (void)!::write(ea_att, &one, 8);
      }
    };
    v.stop_b = [&] { (void)!::write(eb_att, &one, 8); };
  }
  for (bool sw : {false, true}) {
    Variant& v = add(sw ? "dispatcher_switch" : "dispatcher_futex", 2, true);
    v.a_step = [&, sw, &v = v] {
      const long before = served.load();
      if (sw)
        fw(FW_IOC_SWITCH_TO, v.b_tid);
      else
        fdisp.post();
      while (served.load() == before) {
      }  // normally served already: B preempted us or got the CPU handed over
    };
    v.b_loop = [&, sw] {
      for (;;) {
        if (sw)
          fw(FW_IOC_WAIT, FW_WAIT_FOREVER);
        else
          fdisp.take();
        if (stop) break;
        served.fetch_add(1);
      }
    };
    v.stop_b = [&, sw, &v = v] {
      if (sw)
        fw(FW_IOC_WAKE, v.b_tid);
      else
        fdisp.post();
    };
  }

  // Partners: pinned to the same CPU, registered, then into their loops.
  for (auto& vp : vs) {
    Variant& v = *vp;
    v.b = std::thread([&] {
      pin_self(opt.cpu);
      fw(FW_IOC_REGISTER, 0);
      const long c0 = csw_self();
      v.b_tid = gettid_();
      v.b_loop();
      v.b_csw = csw_self() - c0;
      fw(FW_IOC_UNREGISTER, 0);
    });
    while (!v.b_tid) std::this_thread::yield();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // B of eventfd_attached has attached

  auto batch = [&](Variant& v, int n) -> double {
    if (v.a_idle) set_policy_self(SCHED_IDLE);
    const long c0 = csw_self();
    const auto t0 = now_ns();
    for (int i = 0; i < n; ++i) v.a_step();
    const auto dt = now_ns() - t0;
    v.a_csw += csw_self() - c0;
    if (v.a_idle) set_policy_self(SCHED_OTHER);
    return static_cast<double>(dt) / n;
  };
  for (auto& v : vs) batch(*v, opt.warmup);
  for (auto& v : vs) v->a_csw = 0;
  for (int r = 0; r < opt.rounds; ++r)
    for (auto& v : vs) v->samples.push_back(batch(*v, opt.batch_size));

  stop = true;
  for (auto& v : vs) {
    v->stop_b();
    v->b.join();
  }
  fw_stats st{};
  xioctl(fd, FW_IOC_STATS, &st);
  ::close(fd);

  const long rts = static_cast<long>(opt.rounds) * opt.batch_size;
  auto get = [&](const std::string& n) -> Variant& {
    for (auto& v : vs)
      if (v->name == n) return *v;
    std::abort();
  };
  auto ratio = [&](const std::string& a, const std::string& b) {
    std::vector<double> r;
    for (int i = 0; i < opt.rounds; ++i) r.push_back(get(a).samples[i] / get(b).samples[i]);
    return std::make_pair(percentile(r, 0.5),
                          std::make_pair(percentile(r, 0.25), percentile(r, 0.75)));
  };
  struct Named {
    const char* key;
    const char* what;
    std::pair<double, std::pair<double, double>> r;
  };
  const std::vector<Named> ratios = {
      {"switch_wait_vs_futex", "switch-to (one ioctl) : futex wake+wait  ",
       ratio("fw_switch_wait", "futex_pingpong")},
      {"wake_wait_vs_futex", "fastwake wake+wait ioctls : futex       ",
       ratio("fw_wake_wait", "futex_pingpong")},
      {"dispatcher_switch_vs_futex", "dispatcher switch-to : futex wake       ",
       ratio("dispatcher_switch", "dispatcher_futex")},
      {"eventfd_attached_vs_read", "attached eventfd wait : blocking read() ",
       ratio("eventfd_attached", "eventfd_read")},
  };
  const bool emu = emulated();
  // B's context switches include its warm-up rounds: scale to the measured share.
  const double b_share = static_cast<double>(rts) / (rts + opt.warmup);

  std::printf(
      "fastwake micro-benchmark: threads pinned to CPU %d, %d rounds x %d round trips per "
      "variant%s\n",
      opt.cpu, opt.rounds, opt.batch_size,
      emu ? " (EMULATED/virtual CPU: read ratios and counts, not times)" : "");
  std::printf("  %-18s %12s %10s %10s %9s %9s\n", "variant", "median ns/rt", "p10", "p90", "csw/rt",
              "sys/rt");
  std::ostringstream vj;
  for (size_t i = 0; i < vs.size(); ++i) {
    const Variant& v = *vs[i];
    const double csw = (v.a_csw + v.b_csw.load() * b_share) / rts;
    std::printf("  %-18s %12.0f %10.0f %10.0f %9.2f %9.2f\n", v.name.c_str(),
                percentile(v.samples, 0.5), percentile(v.samples, 0.1), percentile(v.samples, 0.9),
                csw, v.syscalls_per_rt);
    vj << "    {\"name\": \"" << v.name << "\", \"median_ns\": " << percentile(v.samples, 0.5)
       << ", \"p10_ns\": " << percentile(v.samples, 0.1)
       << ", \"p90_ns\": " << percentile(v.samples, 0.9) << ", \"csw_per_rt\": " << csw
       << ", \"syscalls_per_rt\": " << v.syscalls_per_rt << "}"
       << (i + 1 < vs.size() ? ",\n" : "\n");
  }
  std::ostringstream rj;
  for (size_t i = 0; i < ratios.size(); ++i) {
    const auto& n = ratios[i];
    std::printf("  ratio %s = %.3f  (IQR of per-round ratios %.3f-%.3f)\n", n.what, n.r.first,
                n.r.second.first, n.r.second.second);
    rj << "    \"" << n.key << "\": {\"median\": " << n.r.first << ", \"q25\": " << n.r.second.first
       << ", \"q75\": " << n.r.second.second << "}" << (i + 1 < ratios.size() ? ",\n" : "\n");
  }
  std::printf(
      "  module counters: switches %llu, direct hand-overs (yield_to) %llu, irq wakes %llu "
      "(preempt %llu)\n",
      static_cast<unsigned long long>(st.switches), static_cast<unsigned long long>(st.yields),
      static_cast<unsigned long long>(st.irq_wakes),
      static_cast<unsigned long long>(st.irq_preempts));
  if (!json.empty()) {
    std::ofstream(json) << "{\n  \"emulated\": " << (emu ? "true" : "false")
                        << ",\n  \"cpu\": " << opt.cpu << ",\n  \"rounds\": " << opt.rounds
                        << ",\n  \"round_trips_per_variant\": " << rts << ",\n  \"variants\": [\n"
                        << vj.str() << "  ],\n  \"ratios\": {\n"
                        << rj.str() << "  },\n  \"module\": {\"switches\": " << st.switches
                        << ", \"yields\": " << st.yields << ", \"irq_wakes\": " << st.irq_wakes
                        << ", \"irq_preempts\": " << st.irq_preempts << "}\n}\n";
  }
  return 0;
}
