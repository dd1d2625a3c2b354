// Loopback runs: option checks, timing of the window, result assembly.
#include "fastwake/hw/runtime.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <mutex>
#include <optional>
#include <set>

#include "fastwake/errors.h"
#include "fastwake/hw/kernel_counts.h"
#include "fastwake/hw/linux_cpu.h"
#include "fastwake/hw/loopback_nic.h"
#include "fastwake/hw/thread_runtime.h"
#include "fastwake/migration_plan.h"
#include "fastwake/placement.h"
#include "fastwake/remap_driver.h"
#include "fastwake/version.h"
#include "fastwake/wait_policy.h"

namespace fastwake::hw {

namespace {

void sleep_until(Nanos t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000), static_cast<long>(t % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

constexpr int kMaxThreadsPerCore = 256;

}  // namespace

HwOptions resolve_options(const Config& cfg, HwOptions opt) {
  // The real backends number application cores 0..app_cores-1 (mapped onto
  // --cpus / the usable CPUs); the model's placement of them among host.cores
  // (first_app_core, app_core_list) has no meaning here.
  const std::vector<CoreId> app = app_cores_of(cfg);
  for (std::size_t i = 0; i < app.size(); ++i)
    if (app[i] != static_cast<CoreId>(i))
      throw ConfigError(std::string(cfg.host.app_core_list.empty() ? "host.first_app_core"
                                                                   : "host.app_core_list") +
                        ": the loopback and verbs backends run application threads on app cores "
                        "0..app_cores-1 (choose real CPUs with --cpus)");
  const std::vector<int> usable = usable_cpus();
  const std::set<int> ok(usable.begin(), usable.end());
  const int need = cfg.host.app_cores + 1;
  auto list = [&] {
    std::string s;
    for (int c : usable) s += (s.empty() ? "" : ",") + std::to_string(c);
    return s;
  };
  if (opt.app_cpus.empty()) {
    if (static_cast<int>(usable.size()) < need)
      throw ConfigError(
          "host.app_cores: the loopback needs app_cores + 1 CPUs (one for the NIC "
          "thread) = " +
          std::to_string(need) + ", this process may use " + std::to_string(usable.size()) + " (" +
          list() + "); for fewer app cores: --set host.app_cores=N");
    opt.app_cpus.assign(usable.begin(), usable.begin() + cfg.host.app_cores);
  }
  if (static_cast<int>(opt.app_cpus.size()) != cfg.host.app_cores)
    throw ConfigError("--cpus: " + std::to_string(opt.app_cpus.size()) +
                      " CPUs given for host.app_cores = " + std::to_string(cfg.host.app_cores));
  for (int c : opt.app_cpus)
    if (!ok.count(c))
      throw ConfigError("--cpus: no such CPU " + std::to_string(c) + " (usable: " + list() + ")");
  if (std::set<int>(opt.app_cpus.begin(), opt.app_cpus.end()).size() != opt.app_cpus.size())
    throw ConfigError("--cpus: a CPU is listed twice");
  if (opt.nic_cpu < 0) {
    for (int c : usable)
      if (std::find(opt.app_cpus.begin(), opt.app_cpus.end(), c) == opt.app_cpus.end()) {
        opt.nic_cpu = c;
        break;
      }
    if (opt.nic_cpu < 0)
      throw ConfigError("--nic-cpu: no CPU left for the loopback NIC thread (usable: " + list() +
                        ")");
  }
  if (!ok.count(opt.nic_cpu))
    throw ConfigError("--nic-cpu: no such CPU " + std::to_string(opt.nic_cpu) +
                      " (usable: " + list() + ")");
  if (std::find(opt.app_cpus.begin(), opt.app_cpus.end(), opt.nic_cpu) != opt.app_cpus.end())
    throw ConfigError("--nic-cpu: CPU " + std::to_string(opt.nic_cpu) +
                      " also runs application threads; the NIC thread needs its own CPU");
  if (cfg.workload.threads_per_core > kMaxThreadsPerCore)
    throw ConfigError(
        "workload.threads_per_core: " + std::to_string(cfg.workload.threads_per_core) +
        " threads per core is too many for real threads (at most " +
        std::to_string(kMaxThreadsPerCore) + ")");
  check_moves_between_app_cores(cfg, "the loopback");
  return opt;
}

void check_moves_between_app_cores(const Config& cfg, const std::string& who) {
  auto check = [&](const std::string& key, CoreId to) {
    if (to >= cfg.host.app_cores)
      throw ConfigError(key + ".to_core: " + who + " can only move threads between app cores (0.." +
                        std::to_string(cfg.host.app_cores - 1) + ")");
  };
  for (std::size_t i = 0; i < cfg.workload.migrations.size(); ++i)
    check("workload.migrations[" + std::to_string(i) + "]", cfg.workload.migrations[i].to_core);
  for (std::size_t i = 0; i < cfg.workload.script.size(); ++i)
    check("workload.script[" + std::to_string(i) + "]", cfg.workload.script[i].migrate_to);
}

HwRun run_loopback(const Config& cfg, const StrategySpec& s, const HwOptions& opt_in) {
  const HwOptions opt = resolve_options(cfg, opt_in);
  const auto wall0 = std::chrono::steady_clock::now();
  std::vector<int> run_cpus = opt.app_cpus;
  run_cpus.push_back(opt.nic_cpu);
  nlohmann::json baseline;  // null unless asked for
  if (opt.ipi_baseline_s > 0) {
    baseline = measure_ipi_baseline(run_cpus, opt.ipi_baseline_s);
    baseline["preemptions"] = measure_preemption_baseline(opt.app_cpus, opt.ipi_baseline_s);
  }
  LoopbackNic nic(cfg, opt);
  ThreadRuntime<LoopbackNic> rt(cfg, s, nic, opt);
  {
    std::vector<CoreId> tc(cfg.threads());
    std::vector<VectorId> cv(cfg.threads());
    for (int t = 0; t < cfg.threads(); ++t) tc[t] = rt.thread_core(t), cv[t] = nic.cq_vector(t);
    trace_setup(opt.trace, tc, cv, nic);
  }
  // The remapper runs on this control thread (and, for scripted
  // migrations, on the NIC thread): one mutex keeps it single-threaded.
  std::mutex control_mu;
  std::optional<RemapDriver> remap;
  if (WaitPolicy(s).remaps_irqs()) {
    const Placement place = Placement::of(cfg);
    remap.emplace(cfg.remapper, nic, place.cq_vector, place.thread_core, opt.trace);
  }
  RemapDriver* remap_p = remap ? &*remap : nullptr;
  auto move = [&rt](ThreadId t, CoreId to) { rt.migrate(t, to); };
  nic.on_migrate([&](ThreadId t, CoreId to) {
    std::lock_guard<std::mutex> g(control_mu);
    const Nanos now = mono_now();
    carry_out_migration(t, to, now, move, remap_p, opt.trace);
    if (remap_p) remap_p->run_due(now);
  });
  rt.start();

  const Nanos t0 = mono_now() + 20'000'000;  // let every thread settle into its wait
  nic.start(t0);
  MigrationPlan plan(cfg.workload.migrations);
  const Nanos ws = t0 + cfg.run.warmup_ns, we = ws + cfg.run.duration_ns;
  CpuTimes c0, c1;
  std::optional<double> e0, e1;
  // The kernel's counters and the emulator's own, at both ends of the window.
  TidGroups tids;
  KernelSnapshot k0, k1;
  LoopbackNic::LiveCounts n0{}, n1{};
  std::uint64_t h0 = 0, h1 = 0;
  auto read_counts = [&](KernelSnapshot& k, LoopbackNic::LiveCounts& n, std::uint64_t& h) {
    h = rt.handoffs();
    if (tids.app.empty())
      tids = {rt.app_tids(), rt.dispatcher_tids(), nic.irq_thread_tids(), nic.nic_tid()};
    n = nic.live_counts();
    k = take_kernel_snapshot(tids, opt.app_cpus);
  };
  bool window_read = false, end_read = false;
  // Control loop: window readings, migrations, remap moves, in time order.
  while (!end_read) {
    Nanos next = window_read ? we : ws;
    {
      std::lock_guard<std::mutex> g(control_mu);
      if (const auto m = plan.next_at()) next = std::min(next, t0 + *m);
      if (remap_p)
        if (const auto d = remap_p->next_deadline()) next = std::min(next, *d);
    }
    // Scripted migrations may add a remap deadline meanwhile: look again
    // within 1 ms. Otherwise sleep until the next event: a wake-up every
    // millisecond would preempt the application (or the dispatcher) ~1,000
    // times a second, switches the model has no reason to count.
    const bool rescan = remap_p && !cfg.workload.script.empty();
    sleep_until(rescan ? std::min(next, mono_now() + 1'000'000) : next);
    const Nanos now = mono_now();
    if (!window_read && now >= ws) {
      c0 = read_cpu_times();
      e0 = read_rapl_energy_j();
      read_counts(k0, n0, h0);
      window_read = true;
    }
    if (!end_read && now >= we) {
      c1 = read_cpu_times();
      e1 = read_rapl_energy_j();
      read_counts(k1, n1, h1);
      end_read = true;
    }
    std::lock_guard<std::mutex> g(control_mu);
    plan.run_due(now - t0, now, move, remap_p, opt.trace);
    if (remap_p) remap_p->run_due(now);
  }
  nic.join();
  rt.stop();
  const nlohmann::json adaptive = rt.adaptive_report(ws, we);  // null unless fastwake_adaptive
  double poll_share = WaitPolicy(s).cores_poll() ? 1.0 : 0.0;
  if (!adaptive.is_null()) {
    poll_share = 0;
    for (const auto& x : adaptive["poll_share"]) poll_share += x.get<double>();
    poll_share /= std::max<std::size_t>(1, adaptive["poll_share"].size());
  }

  const auto& st = nic.stats();
  HwRun out;
  StrategyResult& r = out.result;
  r.strategy = s.name;
  r.backend = "loopback";
  r.platform = cfg.platform.name;
  r.seed = cfg.run.seed;
  r.requests = st.measured;
  r.latency_us = LatencySummary::from(st.hist);
  const double span = static_cast<double>(cfg.run.duration_ns) * 1e-9;
  r.throughput_rps = static_cast<double>(st.completed_in_window) / span;
  r.cpu_util = cpu_busy_fraction(c0, c1, opt.app_cpus);
  // One entry per application CPU (core k of the config = app_cpus[k]), from /proc/stat.
  for (int cpu : opt.app_cpus) {
    const int one[] = {cpu};
    r.core_util.push_back(cpu_busy_fraction(c0, c1, one));
  }
  // /proc/stat cannot tell spinning from work: a blocking strategy's busy time
  // is its load; a polling one's is not known (saturated stays false).
  if (!WaitPolicy(s).cores_poll() && adaptive.is_null()) r.core_load = r.core_util;
  set_saturation(r, cfg.host.app_cores);
  const int nic_cpu[] = {opt.nic_cpu};
  const double nic_util = cpu_busy_fraction(c0, c1, nic_cpu);
  if (e0 && e1) {
    // The meter reads the package domain, which contains the cores: no split.
    r.power_w = (*e1 - *e0) / span;
    r.package_power_w = r.power_w;
    r.core_power_w = 0;
    r.power_estimated = false;
  } else {
    // No energy meter: utilisation x the profile's active power, the rest in
    // the deepest C-state, plus the package constant. Labelled as estimated.
    const auto& p = cfg.platform;
    const double idle_w = p.cstates.empty() ? 0.0 : p.cstates.back().power_w;
    // (fastwake_adaptive: weighted by the app cores' mean share of the window in poll mode)
    const double busy_w = poll_share * p.poll_w + (1 - poll_share) * p.work_w;
    r.core_power_w = static_cast<double>(opt.app_cpus.size()) *
                     (r.cpu_util * busy_w + (1 - r.cpu_util) * idle_w);
    r.package_power_w = p.package_w;
    r.power_w = r.core_power_w + r.package_power_w;
    r.power_estimated = true;
  }
  r.energy_per_req_uj = st.completed_in_window
                            ? r.power_w * span * 1e6 / static_cast<double>(st.completed_in_window)
                            : 0;
  r.extra = {
      {"interrupts", st.interrupts},
      {"handoffs", rt.handoffs()},
      {"sent", st.sent},
      {"completed", st.completed},
      {"drained", st.drained},
      {"ring_full", st.ring_full},
      {"served", rt.served()},
      {"bad_replies", st.bad_replies},
      {"nic_cpu_util", nic_util},
      {"app_cpus", opt.app_cpus},
      {"nic_cpu", opt.nic_cpu},
      {"handoff_mechanism", rt.handoff_mechanism()},
      {"wait_mechanism", rt.wait_mechanism()},
      {"power_source", r.power_estimated ? "estimate: /proc/stat utilisation x platform power model"
                                         : "RAPL package energy (package_power_w: the whole "
                                           "package, cores included; core_power_w not measured)"},
      {"irq_affinity",
       "emulated: a vector on an app core is signalled by that core's IRQ thread, "
       "any other vector by the NIC thread (docs/hw.md)"},
      {"machine", machine_description()}};
  if (!adaptive.is_null()) r.extra["adaptive"] = adaptive;
  {
    const nlohmann::json emulator = {
        {"cq_events", static_cast<double>(n1.interrupts - n0.interrupts)},
        {"local_signals", static_cast<double>(n1.local_signals - n0.local_signals)},
        {"remote_signals", static_cast<double>(n1.remote_signals - n0.remote_signals)},
        {"irq_thread_wakeups", static_cast<double>(n1.irq_thread_wakeups - n0.irq_thread_wakeups)},
        {"handoffs", static_cast<double>(h1 - h0)}};
    // Normalised by the requests answered between the same two readings (the
    // control thread may read a few ms after ws / we on a busy machine).
    nlohmann::json rep = kernel_count_report(k0, k1, tids, opt.app_cpus, opt.nic_cpu,
                                             n1.completed - n0.completed, span, emulator, baseline);
    // How busy the app CPUs were with other processes' work (a shared
    // machine): /proc/stat's busy share minus our pinned threads' run time.
    std::vector<pid_t> ours = tids.app;
    ours.insert(ours.end(), tids.dispatchers.begin(), tids.dispatchers.end());
    ours.insert(ours.end(), tids.irq_threads.begin(), tids.irq_threads.end());
    const double cpu_s = span * static_cast<double>(opt.app_cpus.size());
    const double our_share = static_cast<double>(runtime_between(k0, k1, ours)) * 1e-9 / cpu_s;
    const double busy = cpu_busy_fraction(c0, c1, opt.app_cpus);
    rep["kernel_counts"]["app_cpus_busy"] = busy;
    rep["kernel_counts"]["app_cpus_busy_ours"] = our_share;
    rep["kernel_counts"]["app_cpus_busy_others"] = std::max(0.0, busy - our_share);
    r.extra["per_request"] = std::move(rep["per_request"]);
    r.extra["kernel_counts"] = std::move(rep["kernel_counts"]);
  }
  out.sent = st.sent;
  out.completed = st.completed;
  out.served = rt.served();
  out.bad_replies = st.bad_replies;
  out.drained = st.drained;
  out.late = st.late;
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  if (!opt.throw_on_loss) return out;
  if (!st.drained)
    throw DeviceError("loopback run of " + s.name +
                      " did not drain: " + std::to_string(st.sent - st.completed) +
                      " requests unanswered 2 s after the window");
  if (st.bad_replies != 0 || rt.served() != st.completed)
    throw DeviceError("loopback run of " + s.name + " lost or duplicated completions: " +
                      std::to_string(st.completed) + " answered, " + std::to_string(rt.served()) +
                      " served, " + std::to_string(st.bad_replies) + " bad replies");
  return out;
}

nlohmann::json run_loopback_all(const Config& cfg, const HwOptions& opt, std::ostream* progress) {
  const HwOptions resolved = resolve_options(cfg, opt);
  nlohmann::json doc;
  doc["schema"] = "fastwake-result/1";
  doc["meta"] = result_meta("fastwake-bench loopback");
  doc["config"] = to_json(cfg);
  doc["results"] = nlohmann::json::array();
  int i = 0;
  for (const auto& name : cfg.strategies) {
    ++i;
    const HwRun run = run_loopback(cfg, find_strategy(name), resolved);
    if (progress)
      *progress << "[" << i << "/" << cfg.strategies.size() << "] " << name << ": "
                << run.result.requests << " requests, " << run.wall_s << " s\n";
    doc["results"].push_back(run.result.to_json());
  }
  return doc;
}

}  // namespace fastwake::hw
