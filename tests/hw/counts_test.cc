// Validation by counts (issue 11, item 9): per request, the model's context
// switches, wake-ups, interrupts and IPIs equal what this host's kernel counts
// on the loopback backend for the same config (docs/hw.md "Kernel counts",
// docs/validation.md "Counts: model vs this host's kernel"). Counts are not
// blurred by timing noise; what noise there is (other processes on a shared
// machine) is measured and bounds the tolerance.
//
// Configs fit a 2-CPU machine: one app core with one thread (so no wake-up
// ever has to decide whether it preempts another application thread: the
// model's CFS-proxy and this kernel's EEVDF would differ there, and that is
// timing, not mechanism), the NIC thread on the other CPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "compare.h"
#include "fastwake/config.h"
#include "fastwake/hw/kernel_counts.h"
#include "fastwake/hw/linux_cpu.h"
#include "fastwake/hw/runtime.h"
#include "fastwake/sim/simulate.h"
#include "fastwake/strategy.h"

using namespace fastwake;

namespace {

Config counts_config(const char* irq_placement) {
  Config c = parse_config(default_config());
  c.host.cores = 2;
  c.host.app_cores = 1;
  c.host.vectors = 1;
  c.host.irq_placement = parse_irq_placement(irq_placement);
  c.workload.kind = parse_load_kind("pingpong");
  c.workload.threads_per_core = 1;
  c.workload.service_ns = 2000;
  c.workload.service_dist = Dist::kFixed;
  c.workload.think_ns = 200'000;
  c.workload.think_dist = Dist::kFixed;
  c.workload.migrations.clear();
  c.run.warmup_ns = 20'000'000;
  c.run.duration_ns = 500'000'000;
  c.run.seed = 1;
  return c;
}

double get(const nlohmann::json& j, const char* k) {
  return j.contains(k) && j[k].is_number() ? j[k].get<double>() : 0.0;
}

struct Sides {
  nlohmann::json model, host;  // extra.per_request of each
  nlohmann::json raw;          // the loopback's extra.kernel_counts
};

Sides run_both(const Config& cfg, const char* strategy) {
  const StrategySpec& s = find_strategy(strategy);
  const Config scfg =
      tools::sim_config_for_loopback(cfg, to_json(cfg)["platform"], hw::host_idle_description());
  const sim::StrategyRun m = sim::simulate(scfg, s);
  hw::HwOptions opt;
  opt.ipi_baseline_s = 0.2;
  const hw::HwRun h = hw::run_loopback(cfg, s, opt);
  return {m.result.extra["per_request"], h.result.extra["per_request"],
          h.result.extra["kernel_counts"]};
}

void print(const char* title, const Sides& x) {
  std::printf("\n%s: %llu requests (model), %llu (host)\n", title,
              static_cast<unsigned long long>(get(x.model, "requests")),
              static_cast<unsigned long long>(get(x.host, "requests")));
  std::printf("  %-26s %10s %10s\n", "per request", "model", "host");
  for (const char* k : {"context_switches", "voluntary_switches", "nonvoluntary_switches",
                        "dispatcher_switches", "cq_events", "interrupts", "handoffs",
                        "irq_thread_wakeups", "ipis_call", "ipis_resched", "irq_thread_ipis_call",
                        "baseline_ipis_call", "baseline_ipis_resched", "baseline_preemptions"})
    std::printf("  %-26s %10.4f %10.4f\n", k, get(x.model, k), get(x.host, k));
  std::printf("  %-26s %10.4f %10.4f   (host: NIC-thread eventfd writes)\n", "remote_wakeups",
              get(x.model, "remote_wakeups"), get(x.host, "remote_signals"));
  std::printf("  %-26s %10.4f %10.4f   (host: IRQ-thread eventfd writes)\n", "local_wakeups",
              get(x.model, "local_wakeups"), get(x.host, "local_signals"));
  std::printf("  idle entries (model) %s\n  idle entries (host)  %s\n",
              x.model["idle_entries"].dump().c_str(), x.host["idle_entries"].dump().c_str());
  std::printf("  host CAL by CPU %s, RES by CPU %s\n  host idle: %s\n  tracing: %s\n",
              x.raw["ipis_call_by_cpu"].dump().c_str(), x.raw["ipis_resched_by_cpu"].dump().c_str(),
              x.raw["idle"].value("reason", std::string()).c_str(),
              x.raw.value("tracing", std::string()).c_str());
  std::printf("  app CPU busy %.3f: ours %.3f, other processes' %.3f\n",
              get(x.raw, "app_cpus_busy"), get(x.raw, "app_cpus_busy_ours"),
              get(x.raw, "app_cpus_busy_others"));
}

// Tolerances, per request, from the noise measured on this 2-vCPU shared VM
// (docs/validation.md "Counts: model vs this host's kernel"):
// * what the run's own threads decide (the owner blocks once per request,
//   the NIC thread or an IRQ thread signals once per interrupt, an IRQ
//   thread is woken once per interrupt, a hand-off per request) does not
//   depend on other processes: in every run recorded there, loaded or quiet,
//   it stayed within 0.002 of the model; kOwnTol = 0.01;
// * what depends on whether the app CPU was idle or busy when a wake-up or a
//   tick came (preemptions: nonvoluntary and dispatcher switches; CAL to an
//   idle CPU vs RES to a busy one) moves with what other processes do there;
//   the model has none. Two side-by-side measures decide: the share of the
//   app CPU other processes used in the window (/proc/stat busy minus our
//   threads' schedstat run time; a wake-up finds the CPU busy with about that
//   probability) and how often other tasks preempted a spinner pinned there
//   just before the run, per request. Both are added to kSharedTol = 0.03
//   (quiet runs: CAL 1.005-1.007 per request against the model's 1, RES and
//   preemptions <= 0.005, dispatcher switches 1.002-1.006 against 1), and so
//   is the CAL/RES background of the run's CPUs before the run. Above
//   kBusyOthers or kMaxPreemptions those counts are printed, not asserted:
//   they describe the other processes then (loaded runs: the owner's
//   wake-up costs a RES instead of a CAL, 0.98-1.03 per request).
// The think time is fixed: with an exponential one (mean 200 us), 2-3.5 %
// of requests arrive while the app CPU is still in the idle loop's polling
// part, before the halt (TIF_POLLING_NRFLAG is set in do_idle and cleared
// only by default_enter_idle right before HLT), and need no CAL; the model
// enters its C-state at once. That is timing, which counts should not be.
constexpr double kOwnTol = 0.01;
constexpr double kSharedTol = 0.03;
constexpr double kBusyOthers = 0.10;
// Likewise when other tasks took the app CPU from a spinning thread more
// often than this per request in the baseline (added to the tolerance below it).
constexpr double kMaxPreemptions = 0.10;

#define EXPECT_COUNT(model, host, tol) \
  EXPECT_NEAR(host, model, tol) << #model " vs " #host " (tolerance " << (tol) << ")"

void expect_counts(const Sides& x) {
  // Mechanism of the run's own threads: always asserted.
  EXPECT_COUNT(get(x.model, "voluntary_switches"), get(x.host, "voluntary_switches"), kOwnTol);
  EXPECT_COUNT(get(x.model, "cq_events"), get(x.host, "cq_events"), kOwnTol);
  EXPECT_COUNT(get(x.model, "handoffs"), get(x.host, "handoffs"), kOwnTol);
  EXPECT_COUNT(get(x.model, "remote_wakeups"), get(x.host, "remote_signals"), kOwnTol);
  EXPECT_COUNT(get(x.model, "local_wakeups"), get(x.host, "local_signals"), kOwnTol);
  EXPECT_COUNT(get(x.model, "irq_thread_wakeups"), get(x.host, "irq_thread_wakeups"), kOwnTol);
  // Depends on what else ran on the app CPU.
  const double others = get(x.raw, "app_cpus_busy_others");
  const double pre = get(x.host, "baseline_preemptions");
  if (others > kBusyOthers || pre > kMaxPreemptions) {
    std::printf(
        "  not asserted: other processes kept the app CPU %.0f%% busy (limit %.0f%%) and took it "
        "from a spinner %.3f times per request (limit %.2f), so preemptions and the CAL/RES "
        "split describe them\n",
        100 * others, 100 * kBusyOthers, pre, kMaxPreemptions);
    return;
  }
  const double sw = kSharedTol + others + pre;
  // Every IPI to the app CPU comes from a wake-up sent from outside it.
  const double cal_app = get(x.raw, "ipis_call_app_cpus") / std::max(1.0, get(x.host, "requests"));
  const double res_app =
      get(x.raw, "ipis_resched_app_cpus") / std::max(1.0, get(x.host, "requests"));
  const double from_outside = get(x.host, "remote_signals") + get(x.host, "irq_thread_wakeups");
  EXPECT_LE(cal_app + res_app, from_outside + kSharedTol + get(x.host, "baseline_ipis_call") +
                                   get(x.host, "baseline_ipis_resched"));
  EXPECT_COUNT(get(x.model, "nonvoluntary_switches"), get(x.host, "nonvoluntary_switches"), sw);
  EXPECT_COUNT(get(x.model, "dispatcher_switches"), get(x.host, "dispatcher_switches"), sw);
  const double bc = get(x.host, "baseline_ipis_call"), br = get(x.host, "baseline_ipis_resched");
  EXPECT_COUNT(get(x.model, "ipis_call"), get(x.host, "ipis_call"), sw + bc);
  EXPECT_COUNT(get(x.model, "ipis_resched"), get(x.host, "ipis_resched"), sw + br);
}

bool two_cpus() { return hw::usable_cpus().size() >= 2; }

// Fewer answered requests than this in the window: the app thread was
// starved by other processes and the per-request figures say little.
constexpr double kMinRequests = 300;

}  // namespace

#define REQUIRE_ENOUGH_REQUESTS(x)                                                 \
  if (get(x.host, "requests") < kMinRequests)                                      \
  GTEST_SKIP() << "only " << get(x.host, "requests")                               \
               << " requests answered in the window: other processes starved the " \
                  "app thread"

#define REQUIRE_TWO_CPUS() \
  if (!two_cpus()) GTEST_SKIP() << "needs 2 CPUs: one app core + the loopback NIC thread's"

// The interrupt of the CQ's vector is taken on the app core: the NIC thread
// wakes that core's IRQ thread (a remote wake-up: CAL to the idle core), which
// signals the eventfd there (a local wake-up of the application thread).
TEST(Counts, InterruptVectorOnTheAppCore) {
  REQUIRE_TWO_CPUS();
  const Sides x = run_both(counts_config("core0"), "interrupt");
  print("interrupt, vector on the app core", x);
  REQUIRE_ENOUGH_REQUESTS(x);
  expect_counts(x);
  EXPECT_NEAR(get(x.model, "local_wakeups"), 1.0, 0.01);
  EXPECT_NEAR(get(x.model, "remote_wakeups"), 0.0, 0.01);
}

// The vector is off the app cores: the NIC thread signals the eventfd from
// its own CPU, so every wake-up is remote (wake list + CAL to the idle core).
TEST(Counts, InterruptVectorOffTheAppCores) {
  REQUIRE_TWO_CPUS();
  const Sides x = run_both(counts_config("last"), "interrupt");
  print("interrupt, vector off the app cores", x);
  REQUIRE_ENOUGH_REQUESTS(x);
  expect_counts(x);
  EXPECT_NEAR(get(x.model, "remote_wakeups"), 1.0, 0.01);
}

// Busy polling: no wake-up, no switch, no IPI per request.
TEST(Counts, BusyPoll) {
  REQUIRE_TWO_CPUS();
  const Sides x = run_both(counts_config("last"), "busy_poll");
  print("busy_poll", x);
  REQUIRE_ENOUGH_REQUESTS(x);
  expect_counts(x);
}

// The dispatcher's hand-off: the owner yields (voluntary) and the SCHED_IDLE
// dispatcher is preempted by the woken owner (nonvoluntary); all on one CPU,
// so no IPI.
TEST(Counts, FastwakePollDispatcher) {
  REQUIRE_TWO_CPUS();
  const Sides x = run_both(counts_config("last"), "fastwake_poll");
  print("fastwake_poll (futex hand-off)", x);
  REQUIRE_ENOUGH_REQUESTS(x);
  expect_counts(x);
}
