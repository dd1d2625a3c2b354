// Calibration: wake-up microbenchmarks and the host platform profile they give
// (the NNLS fit is in calibrate_fit.cc, the RAPL power step in calibrate_power.cc).
#include "fastwake/hw/calibrate.h"

#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <thread>

#include "calibrate_internal.h"
#include "fastwake/cli.h"
#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/hw/linux_cpu.h"
#include "fastwake/hw/runtime.h"
#include "fastwake/strategy.h"

namespace fastwake::hw {

// ============================================================== microbenchmarks

namespace {

struct Samples {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  double q(double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
  }
};

/// Runs f0 on cpu0 and f1 on cpu1 concurrently; both start together.
template <class F0, class F1>
void run_pair(int cpu0, int cpu1, F0 f0, F1 f1, bool idle1 = false) {
  std::atomic<int> go{0};
  std::thread t1([&] {
    pin_self(cpu1);
    if (idle1) set_sched_idle_self();
    go.fetch_add(1);
    while (go.load() < 2) cpu_relax();
    f1();
  });
  std::thread t0([&] {
    pin_self(cpu0);
    go.fetch_add(1);
    while (go.load() < 2) cpu_relax();
    f0();
  });
  t0.join();
  t1.join();
}

void bench_syscall(int cpu, int iters, Samples& s) {
  std::thread t([&] {
    pin_self(cpu);
    for (int i = 0; i < iters / 10; ++i) {
      const Nanos a = mono_now();
      for (int k = 0; k < 20; ++k) (void)getppid();
      s.add(static_cast<double>(mono_now() - a) / 20);
    }
  });
  t.join();
}

void bench_yield(int cpu, int iters, Samples& s) {
  std::atomic<bool> stop{false};
  run_pair(
      cpu, cpu,
      [&] {
        for (int i = 0; i < iters / 10; ++i) {
          const Nanos a = mono_now();
          for (int k = 0; k < 10; ++k) sched_yield();
          s.add(static_cast<double>(mono_now() - a) / 20);  // each yield: 2 switches
        }
        stop = true;
      },
      [&] {
        while (!stop) sched_yield();
      });
}

void bench_futex(int cpu0, int cpu1, int iters, Samples& s) {
  Futex a, b;
  run_pair(
      cpu0, cpu1,
      [&] {
        for (int i = 0; i < iters; ++i) {
          const Nanos t = mono_now();
          b.word.store(1);
          b.wake_one();
          while (a.word.load() == 0) a.wait(0);
          a.word.store(0);
          s.add(static_cast<double>(mono_now() - t) / 2);
        }
      },
      [&] {
        for (int i = 0; i < iters; ++i) {
          while (b.word.load() == 0) b.wait(0);
          b.word.store(0);
          a.word.store(1);
          a.wake_one();
        }
      });
}

void bench_eventfd(int cpu0, int cpu1, int iters, Samples& s) {
  const int e0 = eventfd(0, EFD_CLOEXEC), e1 = eventfd(0, EFD_CLOEXEC);
  if (e0 < 0 || e1 < 0) throw DeviceError("eventfd failed");
  const std::uint64_t one = 1;
  std::uint64_t v;
  run_pair(
      cpu0, cpu1,
      [&] {
        for (int i = 0; i < iters; ++i) {
          const Nanos t = mono_now();
          [[maybe_unused]] auto w = write(e1, &one, 8);
          [[maybe_unused]] auto r = read(e0, &v, 8);
          s.add(static_cast<double>(mono_now() - t) / 2);
        }
      },
      [&] {
        std::uint64_t x;
        for (int i = 0; i < iters; ++i) {
          [[maybe_unused]] auto r = read(e1, &x, 8);
          [[maybe_unused]] auto w = write(e0, &one, 8);
        }
      });
  close(e0);
  close(e1);
}

void bench_poll_handoff(int cpu0, int cpu1, int iters, Samples& s) {
  alignas(64) std::atomic<int> ping{0};
  alignas(64) std::atomic<int> pong{0};
  run_pair(
      cpu0, cpu1,
      [&] {
        for (int i = 1; i <= iters; ++i) {
          const Nanos t = mono_now();
          ping.store(i, std::memory_order_release);
          while (pong.load(std::memory_order_acquire) != i) cpu_relax();
          s.add(static_cast<double>(mono_now() - t) / 2);
        }
      },
      [&] {
        for (int i = 1; i <= iters; ++i) {
          while (ping.load(std::memory_order_acquire) != i) cpu_relax();
          pong.store(i, std::memory_order_release);
        }
      });
}

/// A SCHED_IDLE poller wakes a normal thread on its own CPU by futex; the
/// thread preempts it at once: the dispatcher's fallback hand-off.
void bench_dispatcher(int cpu, int iters, Samples& s) {
  Futex f;
  std::atomic<int> blocked{0};
  std::atomic<Nanos> t1{0};
  std::atomic<bool> stop{false};
  std::thread target([&] {
    pin_self(cpu);
    for (;;) {
      f.word.store(0);
      blocked.store(1, std::memory_order_seq_cst);
      while (f.word.load() == 0) f.wait(0);
      if (stop) return;
      s.add(static_cast<double>(mono_now() - t1.load()));
    }
  });
  std::thread disp([&] {
    pin_self(cpu);
    set_sched_idle_self();
    for (int i = 0; i < iters; ++i) {
      while (blocked.load() == 0) cpu_relax();
      // A blocked flag may be set just before futex_wait: let it get there.
      for (int k = 0; k < 50; ++k) cpu_relax();
      blocked.store(0);
      t1.store(mono_now());
      f.word.store(1);
      f.wake_one();
    }
    while (blocked.load() == 0) cpu_relax();
    stop = true;
    f.word.store(1);
    f.wake_one();
  });
  disp.join();
  target.join();
}

/// Cross-CPU wake of a thread whose CPU has been idle for `gap`.
void bench_idle_wake(int cpu0, int cpu1, int iters, Nanos gap, Samples& s) {
  Futex f;
  std::atomic<int> blocked{0};
  std::atomic<Nanos> t1{0};
  std::atomic<bool> stop{false};
  run_pair(
      cpu0, cpu1,
      [&] {
        for (int i = 0; i < iters; ++i) {
          while (blocked.load() == 0) cpu_relax();
          spin_until(mono_now() + gap);  // the other CPU idles meanwhile
          blocked.store(0);
          t1.store(mono_now());
          f.word.store(1);
          f.wake_one();
        }
        while (blocked.load() == 0) cpu_relax();
        stop = true;
        f.word.store(1);
        f.wake_one();
      },
      [&] {
        for (;;) {
          f.word.store(0);
          blocked.store(1, std::memory_order_seq_cst);
          while (f.word.load() == 0) f.wait(0);
          if (stop) return;
          s.add(static_cast<double>(mono_now() - t1.load()));
        }
      });
}

/// Cost of polling an empty ring whose lines stay in this CPU's cache.
double bench_empty_poll(int cpu) {
  double per = 0;
  std::thread t([&] {
    pin_self(cpu);
    alignas(64) std::atomic<std::uint64_t> head{0}, tail{0};
    const int n = 2'000'000;
    int hits = 0;
    const Nanos a = mono_now();
    for (int i = 0; i < n; ++i)
      if (tail.load(std::memory_order_acquire) != head.load(std::memory_order_relaxed)) ++hits;
    per = static_cast<double>(mono_now() - a) / n + hits;
  });
  t.join();
  return per;
}

}  // namespace

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  std::string h = buf;
  for (char& c : h)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '-';
  return h.empty() ? "unknown" : h;
}

std::string today() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}


// ============================================================== profile

nlohmann::json profile_from_components(const std::string& name,
                                       const std::vector<std::pair<std::string, double>>& comp,
                                       const std::vector<PathMeasurement>& paths,
                                       const std::vector<double>& residual) {
  std::map<std::string, double> c(comp.begin(), comp.end());
  auto get = [&](const char* k) { return c.count(k) ? c.at(k) : 0.0; };
  const std::string when = today();
  const std::string machine = machine_description();
  const std::string cal = "calibration run " + when + " on " + machine + ": ";
  nlohmann::json p = builtin_platform("x86");  // template: every param present
  p["name"] = name;
  p["description"] =
      "Calibrated on " + machine + " (" + when +
      ") with fastwake-bench calibrate, for the loopback NIC: the 'NIC' is a thread on its own "
      "CPU, the 'interrupt' is its eventfd write, there is no wire. Wake-up costs are this "
      "host's (a VM's are 10-20x bare metal); power figures are x86 estimates, not measured.";
  auto& params = p["params"];
  auto set = [&](const char* k, double v, const std::string& why) {
    params[k] = {{"value", static_cast<long long>(std::llround(std::max(0.0, v)))},
                 {"source", cal + why}};
  };
  auto zero = [&](const char* k, const std::string& why) {
    params[k] = {{"value", 0}, {"source", "loopback NIC: " + why}};
  };
  const double S = get("syscall"), C = get("ctx_switch"), TL = get("ttwu_local"), B = get("block"),
               R = get("remote_wake"), RD = get("eventfd_read"), H = get("cacheline");
  // Each increment is identified by one path difference: syscall (getppid),
  // ctx_switch (sched_yield - syscall), ttwu_local (SCHED_IDLE hand-off -
  // syscall - switch), block (same-CPU futex ping-pong - hand-off - syscall).
  set("syscall_ns", S,
      "fitted 'syscall' (getppid loop; a blocking call pays half before, half after)");
  set("block_ns", B,
      "fitted 'block': same-CPU futex ping-pong minus the SCHED_IDLE hand-off and a "
      "syscall (futex_wait's queueing and dequeue, without syscall or switch)");
  set("ctx_switch_ns", C,
      "fitted 'ctx_switch': sched_yield between two threads on one CPU minus "
      "the syscall (the switch alone)");
  set("ttwu_local_ns", TL,
      "fitted 'ttwu_local': SCHED_IDLE poller futex-wakes a thread on its CPU, "
      "minus the syscall and the switch (the same-core wake alone)");
  set("ttwu_remote_ns", R / 3,
      "fitted 'remote_wake' (cross-CPU ping-pongs), one third: only the "
      "sum of ttwu_remote + ipi_latency + ipi_handler is identified");
  set("ipi_latency_ns", R / 3, "fitted 'remote_wake', one third (only the sum is identified)");
  set("ipi_handler_ns", R - 2 * std::llround(R / 3), "fitted 'remote_wake', the rest");
  set("read_return_ns", RD,
      "fitted 'eventfd_read': eventfd minus futex ping-pong on one CPU (the "
      "read()'s own work after the wake-up, no syscall exit)");
  set("hardirq_ns", S, "the loopback NIC's eventfd write is a syscall ('syscall' fit)");
  double handoff = S + TL + C;
  std::string handoff_src =
      "fitted 'syscall' + 'ttwu_local' + 'ctx_switch': without fastwake.ko the dispatcher hands "
      "over by futex wake and a SCHED_IDLE preemption";
  for (const auto& p : paths)
    if (p.name == "dispatcher_handoff") {
      handoff = p.median_ns;
      handoff_src =
          "measured path 'dispatcher_handoff' (median): without fastwake.ko the "
          "dispatcher hands over by futex wake and a SCHED_IDLE preemption; this is that "
          "mechanism, measured directly";
    }
  set("fast_switch_ns", handoff, handoff_src);
  set("cq_poll_ns", H, "fitted 'cacheline' (busy-poll hand-off between CPUs through one line)");
  if (c.count("loopback_base"))
    set("client_ns", H + get("loopback_base"),
        "the NIC thread sees a reply through one cache-line transfer ('cacheline') plus the "
        "loopback's own per-request overhead ('loopback_base', from its busy-poll round trip)");
  else
    set("client_ns", H,
        "the NIC thread sees a reply through one cache-line transfer ('cacheline')");
  zero("msix_ns", "the eventfd write is the interrupt; no MSI-X");
  zero("softirq_ns", "no softirq hop");
  zero("uverbs_handler_ns", "no uverbs handler; eventfd_signal is inside the write syscall");
  zero("fw_handler_ns", "no module callback on this host");
  zero("nic_rx_ns", "completions are written straight into shared memory");
  zero("nic_tx_ns", "replies are read straight from shared memory");
  zero("link_latency_ns", "no wire");
  params["link_gbps"] = {{"value", 1e6}, {"source", "loopback NIC: no wire (serialisation ~0)"}};
  const double empty = c.count("empty_poll") ? c.at("empty_poll") : 5.0;
  set("cq_poll_empty_ns", empty, "measured empty-ring poll (lines in the poller's cache)");
  set("rearm_ns", empty, "arming is one atomic store, measured like an empty poll");
  set("post_send_ns", empty, "posting a reply is one ring write, measured like an empty poll");
  // Scheduler: fitted by calibrate_sched (apply_sched_calibration).
  // C-states: a vCPU has none; idle means halting into the hypervisor.
  const double XL = get("halt_exit_long");
  p["cstates"] = nlohmann::json::array(
      {{{"name", "POLL"},
        {"exit_latency_ns",
         {{"value", 0},
          {"source", cal + "short idle periods: the hypervisor's halt polling wakes the vCPU with "
                           "no extra cost beyond the fitted 'remote_wake'"}}},
        {"target_residency_ns",
         {{"value", 0},
          {"source", "POLL state: no residency requirement (Linux drivers/cpuidle/poll_state.c)"}}},
        {"power_w",
         {{"value", 3.5}, {"estimate", "x86 profile's poll power; no energy meter here"}}}},
       {{"name", "halt"},
        {"exit_latency_ns",
         {{"value", static_cast<long long>(std::llround(XL))},
          {"source", cal + "fitted 'halt_exit_long' (cross-CPU wake after 300 us idle minus the "
                           "short-idle wake)"}}},
        {"target_residency_ns",
         {{"value", 150000},
          {"estimate",
           "shared/reference/this-host.md: wake-ups after >= 150 us of idleness cost 70-90 us on "
           "these VMs"}}},
        {"power_w",
         {{"value", 0.2},
          {"estimate", "x86 profile's deepest-state power; no energy meter here"}}}}});
  for (const char* k : {"poll_w", "work_w", "irq_w", "cstate_exit_w", "package_w"}) {
    auto& e = params[k];
    const double v = e["value"].get<double>();
    e = {{"value", v},
         {"estimate", "x86 profile value: this host has no RAPL/powercap to measure power"}};
  }
  nlohmann::json pj = nlohmann::json::array();
  for (std::size_t i = 0; i < paths.size(); ++i)
    pj.push_back({{"path", paths[i].name},
                  {"description", paths[i].description},
                  {"median_ns", paths[i].median_ns},
                  {"p10_ns", paths[i].p10_ns},
                  {"p90_ns", paths[i].p90_ns},
                  {"components", paths[i].components},
                  {"residual_ns", i < residual.size() ? residual[i] : 0.0}});
  nlohmann::json cj = nlohmann::json::object();
  for (const auto& [k, v] : comp) cj[k] = v;
  // Per increment: its value, the fitted paths that contain it and their
  // residuals (RMS and worst), so a badly identified increment shows.
  nlohmann::json inc = nlohmann::json::object();
  for (const auto& [k, v] : comp) {
    double ss = 0, worst = 0;
    int n = 0;
    nlohmann::json used = nlohmann::json::array();
    for (std::size_t i = 0; i < paths.size(); ++i) {
      if (!paths[i].fitted || i >= residual.size()) continue;
      if (std::find(paths[i].components.begin(), paths[i].components.end(), k) ==
          paths[i].components.end())
        continue;
      used.push_back(paths[i].name);
      ss += residual[i] * residual[i];
      if (std::abs(residual[i]) > std::abs(worst)) worst = residual[i];
      ++n;
    }
    inc[k] = {{"value_ns", v},
              {"paths", used},
              {"residual_rms_ns", n ? std::sqrt(ss / n) : 0.0},
              {"residual_worst_ns", worst}};
  }
  p["calibration"] = {{"date", when},        {"machine", machine},
                      {"components_ns", cj}, {"increments", inc},
                      {"paths", pj},         {"tool", "fastwake-bench calibrate"}};
  return p;
}

CalibrateReport calibrate(const CalibrateOptions& opt_in, std::ostream* progress) {
  CalibrateOptions opt = opt_in;
  if (opt.cpus.empty()) {
    const auto u = usable_cpus();
    if (u.size() < 2)
      throw ConfigError("calibrate: needs two usable CPUs, this process has " +
                        std::to_string(u.size()));
    opt.cpus = {u[0], u[1]};
  }
  if (opt.name.empty()) opt.name = "host-" + host_name();
  if (opt.out.empty()) {
    if (opt.out_dir.empty()) {
      opt.out_dir = opt.source_dir + "/configs/platforms";
    } else {
      std::error_code ec;
      std::filesystem::create_directories(opt.out_dir, ec);
      if (ec)
        throw ConfigError("calibrate: cannot create " + opt.out_dir + ": " + ec.message());
    }
    opt.out = opt.out_dir + "/" + opt.name + ".json";
  }
  const int A = opt.cpus[0], B = opt.cpus[1];
  const int n = opt.iterations;

  std::map<std::string, Samples> s;
  double empty = 0;
  // Interleave the benchmarks in rounds (A B C A B C ...) so slow drift of a
  // shared machine spreads over all of them instead of biasing one.
  const int rounds = 3;
  for (int r = 0; r < rounds; ++r) {
    if (progress) *progress << "calibrate: round " << r + 1 << "/" << rounds << "\n";
    bench_syscall(A, n / rounds, s["syscall"]);
    bench_yield(A, n / rounds, s["yield_switch"]);
    bench_futex(A, A, n / rounds, s["futex_same"]);
    bench_futex(A, B, n / rounds, s["futex_cross"]);
    bench_eventfd(A, A, n / rounds, s["eventfd_same"]);
    bench_eventfd(A, B, n / rounds, s["eventfd_cross"]);
    bench_dispatcher(A, n / rounds, s["dispatcher_handoff"]);
    bench_poll_handoff(A, B, n / rounds, s["poll_handoff"]);
    bench_idle_wake(A, B, std::max(50, n / rounds / 20), 30'000, s["idle_wake_short"]);
    bench_idle_wake(A, B, std::max(50, n / rounds / 40), 300'000, s["idle_wake_long"]);
    empty += bench_empty_poll(A) / rounds;
  }
  struct Def {
    const char* name;
    const char* desc;
    std::vector<std::string> comp;
  };
  const std::vector<Def> defs = {
      {"syscall", "getppid()", {"syscall"}},
      {"yield_switch",
       "sched_yield between two threads on one CPU, per switch",
       {"syscall", "ctx_switch"}},
      {"futex_same",
       "futex ping-pong on one CPU, one way: wake (syscall + local wake), the waker's wait "
       "(syscall entry + block), the switch, the wakee's syscall exit",
       {"syscall", "syscall", "ttwu_local", "block", "ctx_switch"}},
      {"futex_cross",
       "futex ping-pong across CPUs, one way (not fitted: both partners keep halting their vCPUs, "
       "unlike a busy waker)",
       {"syscall", "syscall", "remote_wake", "block", "ctx_switch"}},
      {"eventfd_same",
       "eventfd ping-pong on one CPU, one way (futex_same + the read's own work)",
       {"syscall", "syscall", "ttwu_local", "block", "ctx_switch", "eventfd_read"}},
      {"eventfd_cross",
       "eventfd ping-pong across CPUs, one way (not fitted, as futex_cross)",
       {"syscall", "syscall", "remote_wake", "block", "ctx_switch", "eventfd_read"}},
      {"dispatcher_handoff",
       "SCHED_IDLE poller futex-wakes a thread on its CPU -> it runs",
       {"syscall", "ttwu_local", "ctx_switch"}},
      {"poll_handoff",
       "busy-poll hand-off across CPUs through one cache line, one way",
       {"cacheline"}},
      {"idle_wake_short",
       "cross-CPU futex wake, target CPU idle 30 us",
       {"syscall", "remote_wake", "ctx_switch"}},
      {"idle_wake_long",
       "cross-CPU futex wake, target CPU idle 300 us",
       {"syscall", "remote_wake", "halt_exit_long", "ctx_switch"}},
  };
  std::vector<PathMeasurement> paths;
  for (const Def& d : defs) {
    Samples& x = s[d.name];
    // A cross-CPU ping-pong measures two vCPUs that both halt between
    // messages; the model's remote wake-up is a busy waker (NIC, IRQ core)
    // waking an idle CPU, which idle_wake_short measures. Shown, not fitted.
    const bool fitted =
        std::string(d.name) != "futex_cross" && std::string(d.name) != "eventfd_cross";
    paths.push_back({d.name, d.desc, x.q(0.5), x.q(0.1), x.q(0.9), d.comp, fitted});
  }
  // The loopback NIC's own per-request overhead (ring writes, the NIC's
  // scan, clock reads): its busy-poll round trip with no service time.
  {
    if (progress) *progress << "calibrate: loopback busy-poll round trip\n";
    Config lc = parse_config(default_config());
    lc.host.cores = 2;
    lc.host.app_cores = 1;
    lc.host.vectors = 1;
    lc.workload.kind = LoadKind::kPingPong;
    lc.workload.threads_per_core = 1;
    lc.workload.service_ns = 0;
    lc.workload.think_ns = 20'000;
    lc.workload.think_dist = Dist::kFixed;
    lc.workload.migrations.clear();
    lc.run.warmup_ns = 10'000'000;
    lc.run.duration_ns = 100'000'000;
    HwOptions ho;
    ho.app_cpus = {A};
    ho.nic_cpu = B;
    const HwRun lr = run_loopback(lc, find_strategy("busy_poll"), ho);
    const double p50 = lr.result.latency_us.p50 * 1e3;
    paths.push_back({"loopback_busy_poll",
                     "loopback NIC round trip, busy-polling thread, no service",
                     p50,
                     lr.result.latency_us.p50 * 1e3,
                     lr.result.latency_us.p90 * 1e3,
                     {"cacheline", "cacheline", "loopback_base"},
                     true});
  }
  std::vector<double> residual;
  auto comp = fit_components(paths, &residual);
  comp.emplace_back("empty_poll", empty);
  nlohmann::json profile = profile_from_components(opt.name, comp, paths, residual);
  const SchedCalibration sc = calibrate_sched(A, B, progress);
  apply_sched_calibration(profile["params"], sc,
                          "calibration run " + today() + " on " + machine_description() + ": ");
  profile["calibration"]["scheduler"] = {
      {"cpus_online", sc.cpus_online},
      {"tick_ns", sc.tick_ns ? nlohmann::json(*sc.tick_ns) : nlohmann::json(nullptr)},
      {"two_spinners_run_ns", {{"median", sc.run_median_ns}, {"p10", sc.run_p10_ns},
                               {"p90", sc.run_p90_ns}, {"runs", sc.runs}}},
      {"wake_beside_spinner_ns",
       {{"median", sc.wake_delay_median_ns}, {"p90", sc.wake_delay_p90_ns}, {"wakes", sc.wakes}}},
      {"lone_spinner_stalls",
       {{"per_s", sc.stall_rate_hz}, {"mean_ns", sc.stall_mean_ns}, {"p99_ns", sc.stall_p99_ns},
        {"max_ns", sc.stall_max_ns}, {"count", sc.stalls}}}};
  const std::string power_line = calibrate_power_rapl(profile, usable_cpus(), progress);
  parse_config({{"platform", profile}});  // the profile must validate before it is written
  write_file_atomic(opt.out, profile.dump(2) + "\n");

  std::ostringstream o;
  o << std::fixed << std::setprecision(0);
  o << "measured paths (one way, ns) on " << machine_description() << ", CPUs " << A << "," << B
    << ":\n";
  o << std::left << std::setw(20) << "path" << std::right << std::setw(10) << "median"
    << std::setw(10) << "p10" << std::setw(10) << "p90" << std::setw(12) << "residual"
    << "  components\n";
  for (std::size_t i = 0; i < paths.size(); ++i) {
    std::string cs;
    for (const auto& c : paths[i].components) cs += (cs.empty() ? "" : "+") + c;
    o << std::left << std::setw(20) << paths[i].name << std::right << std::setw(10)
      << paths[i].median_ns << std::setw(10) << paths[i].p10_ns << std::setw(10) << paths[i].p90_ns
      << std::setw(12) << residual[i] << "  " << cs << "\n";
  }
  o << "fitted components (increments, ns, non-negative least squares; residuals of the paths "
       "using each):\n";
  const auto& inc = profile["calibration"]["increments"];
  for (const auto& [k, v] : comp) {
    o << "  " << std::left << std::setw(16) << k << std::right << std::setw(8) << v;
    if (inc.contains(k))
      o << "   rms " << std::setw(7) << inc[k]["residual_rms_ns"].get<double>() << "   worst "
        << std::setw(7) << inc[k]["residual_worst_ns"].get<double>();
    o << "\n";
  }
  o << std::setprecision(2) << "scheduler: two spinners on one CPU run " << sc.run_median_ns / 1e6 << " ms each (p10 "
    << sc.run_p10_ns / 1e6 << ", p90 " << sc.run_p90_ns / 1e6 << ", " << sc.runs
    << " runs); a sleeper woken beside a spinner waits " << sc.wake_delay_median_ns / 1e3
    << " us (median, p90 " << sc.wake_delay_p90_ns / 1e3 << "); tick "
    << (sc.tick_ns ? std::to_string(*sc.tick_ns) + " ns" : std::string("unknown"))
    << "\nstalls of a lone spinner (> 10 us): " << sc.stall_rate_hz << " /s, mean "
    << sc.stall_mean_ns / 1e3 << " us, p99 " << sc.stall_p99_ns / 1e3 << " us, max "
    << sc.stall_max_ns / 1e3 << " us\n" << std::setprecision(0);
  o << power_line << "\n";
  return {opt.out, o.str(), profile};
}

}  // namespace fastwake::hw
