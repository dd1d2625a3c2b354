// The host model's scheduler as Linux 6.1's CFS runs it (kernel/sched/fair.c:
// tunables scaled by get_update_sysctl_factor, sched_slice, check_preempt_tick
// from the periodic tick; docs/model.md "Scheduler"), asserted through the
// slice preemptions it counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "fastwake/config.h"
#include "fastwake/sim/simulate.h"
#include "fastwake/strategy.h"

using namespace fastwake;
using fastwake::sim::simulate;

namespace {

/// Two busy-polling threads share one core: every run ends by a slice
/// preemption, so the count gives the run length.
Config two_spinners(int host_cores, Nanos tick_ns) {
  Config c = parse_config(default_config());
  c.workload.migrations.clear();
  c.host.cores = host_cores;
  c.host.app_cores = 1;
  c.host.app_core_list.clear();
  c.host.first_app_core = 0;
  c.host.vectors = 1;
  c.workload.threads_per_core = 2;
  c.platform.tick_ns = tick_ns;
  c.run.warmup_ns = 1'000'000;
  c.run.duration_ns = 200'000'000;
  return c;
}

/// The run length CFS gives each of two equal threads: the first tick after
/// the slice has been exceeded (check_preempt_tick: delta_exec > ideal), a
/// run starting at a tick since the previous one ended there.
Nanos run_length(const Config& c) {
  const int cpus = std::min(c.host.cores, 8);
  const Nanos factor = 1 + static_cast<Nanos>(std::floor(std::log2(cpus)));
  const Nanos ideal = std::max(c.platform.sched_latency_ns * factor / 2,
                               c.platform.sched_min_granularity_ns * factor);
  return (ideal / c.platform.tick_ns + 1) * c.platform.tick_ns;
}

/// Slice preemptions and the number of runs the simulated time holds.
std::pair<double, double> slices(const Config& c, Nanos run) {
  const auto r = simulate(c, find_strategy("busy_poll"));
  return {r.result.extra.at("slice_preemptions").get<double>(),
          static_cast<double>(r.end_ns) / static_cast<double>(run)};
}

}  // namespace

TEST(Sched, SliceEndsAtTheFirstTickPastTheScaledSlice) {
  // 2 CPUs: factor 2, slice = 12 ms / 2 = 6 ms; 16 CPUs: factor 4, 12 ms.
  for (const int cores : {2, 16}) {
    for (const Nanos tick : {1'000'000LL, 4'000'000LL, 10'000'000LL}) {
      const Config c = two_spinners(cores, tick);
      SCOPED_TRACE("cores " + std::to_string(cores) + " tick " + std::to_string(tick));
      const Nanos run = run_length(c);
      const auto [n, expect] = slices(c, run);
      EXPECT_NEAR(n, expect, 1.0) << "run length " << run;
    }
  }
  // The kernel's numbers, not the helper's: 6 ms on 2 CPUs rounds to 8 ms
  // at HZ=250, 12 ms on 16 CPUs to 16 ms.
  EXPECT_EQ(run_length(two_spinners(2, 4'000'000)), 8'000'000);
  EXPECT_EQ(run_length(two_spinners(16, 4'000'000)), 16'000'000);
}

TEST(Sched, ManyRunnableThreadsStretchThePeriod) {
  // 12 spinners (> sched_nr_latency = 8): period = 12 x min_granularity, so
  // each slice is the (scaled) min_granularity: 1.5 ms on 2 CPUs, ending at
  // the next 1 ms tick (2 ms).
  Config c = two_spinners(2, 1'000'000);
  c.workload.threads_per_core = 12;
  const auto [n, expect] = slices(c, 2'000'000);
  EXPECT_NEAR(n, expect, 1.0);
}

// ------------------------------------------------------------------ stalls

TEST(Stalls, TakeTheirShareOfEveryCoreAndStretchTheTail) {
  // One busy-polling thread: without stalls every request costs the same;
  // with 2000 stalls/s of 40 us mean on every core, a busy core loses ~8 %
  // of its time and the requests that meet one wait for it.
  Config c = two_spinners(2, 4'000'000);
  c.workload.threads_per_core = 1;
  c.workload.think_ns = 20'000;
  c.run.duration_ns = 100'000'000;
  const auto clean = simulate(c, find_strategy("busy_poll"));
  c.platform.stall_rate_hz = 2000;
  c.platform.stall_mean_ns = 40'000;
  const auto stalled = simulate(c, find_strategy("busy_poll"));
  EXPECT_EQ(clean.result.extra.at("stalls").get<int>(), 0);
  // Core 0 spins all the time, core 1 idles (an idle core does not notice a
  // stall): the stalls counted are core 0's share.
  const double share = stalled.result.extra.at("stall_time_ns").get<double>() /
                       static_cast<double>(stalled.end_ns);
  // ~400 stalls: the sum of exponential durations has a relative sd of
  // sqrt(2 / 400) = 7 %, so 3 sd = 0.017.
  EXPECT_NEAR(share, 2000 * 40e-6, 0.017);
  EXPECT_LT(clean.result.latency_us.p99 - clean.result.latency_us.p50, 1.0);
  EXPECT_GT(stalled.result.latency_us.p99, clean.result.latency_us.p99 + 10.0);
  // The median request meets no stall.
  EXPECT_NEAR(stalled.result.latency_us.p50, clean.result.latency_us.p50, 0.5);
  // Interrupt-driven threads leave the core idle most of the time: most
  // stalls find nothing to stall.
  const auto irq = simulate(c, find_strategy("interrupt"));
  EXPECT_LT(irq.result.extra.at("stalls").get<double>(),
            0.6 * stalled.result.extra.at("stalls").get<double>());
}
