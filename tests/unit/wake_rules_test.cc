// IRQ placement (core/placement) and the remote wake-up rules of the host
// model (Linux 6.1 kernel/sched/core.c ttwu_queue_cond, ttwu_queue_wakelist,
// set_nr_if_polling, resched_curr; docs/model.md "Remote wake-ups"), each
// asserted through the mechanism's own counters.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "fastwake/config.h"
#include "fastwake/placement.h"
#include "fastwake/sim/simulate.h"
#include "fastwake/strategy.h"

using namespace fastwake;
using fastwake::sim::simulate;

namespace {

Config base() {
  Config c = parse_config(default_config());
  c.workload.migrations.clear();
  c.run.warmup_ns = 1'000'000;
  c.run.duration_ns = 20'000'000;
  return c;
}

Topology topo(int cores, int nodes, int llc, int nic) {
  Topology t;
  t.cores = cores;
  t.numa_nodes = nodes;
  t.llc_cores = llc;
  t.nic_node = nic;
  return t;
}

std::uint64_t x(const StrategyResult& r, const char* k) {
  return r.extra.at(k).get<std::uint64_t>();
}

/// Fraction of CQs whose vector's IRQ core differs from their thread's core.
double placed_remote_fraction(const Config& c) {
  const Placement p = Placement::of(c);
  int remote = 0;
  for (int t = 0; t < p.threads(); ++t) remote += p.vector_core[p.cq_vector[t]] != p.thread_core[t];
  return static_cast<double>(remote) / p.threads();
}

/// Stock interrupt wake-ups that were remote.
double measured_remote_fraction(const Config& c) {
  const auto r = simulate(c, find_strategy("interrupt")).result;
  const double rem = static_cast<double>(x(r, "remote_wakeups"));
  const double loc = static_cast<double>(x(r, "local_wakeups"));
  EXPECT_GT(rem + loc, 1000);
  return rem / (rem + loc);
}

/// Threads on core 1 of a 2-core host, every IRQ on core 0: every wake-up
/// of a stock thread is remote (core 0 -> core 1).
Config remote_config(int threads) {
  Config c = base();
  c.host.cores = 2;
  c.host.app_cores = 1;
  c.host.app_core_list = {1};
  c.host.vectors = 1;
  c.host.irq_placement = IrqPlacement::kCore0;
  c.workload.threads_per_core = threads;
  c.strategies = {"interrupt"};
  return c;
}

}  // namespace

// ------------------------------------------------------------------ placement policies

TEST(Placement, DriverIsCpumaskLocalSpreadOverTheNicsNode) {
  // One node: vector i on core i, wrapping.
  const Topology one = topo(16, 1, 16, 0);
  for (int v = 0; v < 20; ++v) EXPECT_EQ(stock_irq_core(v, IrqPlacement::kDriver, one), v % 16);
  // Two nodes of 8, NIC on node 1: node 1's cores first, then node 0's in order, then wrap.
  const Topology two = topo(16, 2, 8, 1);
  for (int v = 0; v < 8; ++v) EXPECT_EQ(stock_irq_core(v, IrqPlacement::kDriver, two), 8 + v);
  for (int v = 8; v < 16; ++v) EXPECT_EQ(stock_irq_core(v, IrqPlacement::kDriver, two), v - 8);
  EXPECT_EQ(stock_irq_core(16, IrqPlacement::kDriver, two), 8);
  // NIC on node 0 of 3: 0..3, then 4..11.
  const Topology three = topo(12, 3, 4, 0);
  for (int v = 0; v < 12; ++v) EXPECT_EQ(stock_irq_core(v, IrqPlacement::kDriver, three), v);
  // "spread" is "driver" on one node.
  for (int v = 0; v < 20; ++v)
    EXPECT_EQ(stock_irq_core(v, IrqPlacement::kSpread, one),
              stock_irq_core(v, IrqPlacement::kDriver, one));
}

TEST(Placement, IrqbalanceStaysInTheNicsNodeAndAlternatesLlcDomains) {
  // Two nodes of 8 cores, two LLC domains of 4 per node, NIC on node 1 (cores 8..15).
  const Topology t = topo(16, 2, 4, 1);
  const int expect[] = {8, 12, 9, 13, 10, 14, 11, 15, 8, 12};
  for (int v = 0; v < 10; ++v)
    EXPECT_EQ(stock_irq_core(v, IrqPlacement::kIrqbalance, t), expect[v]) << v;
}

TEST(Placement, RandomIsSeededAndDeterministic) {
  const Topology t = topo(16, 1, 16, 0);
  std::set<std::vector<CoreId>> seen;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    std::vector<CoreId> a, b;
    for (int v = 0; v < 16; ++v) {
      a.push_back(stock_irq_core(v, IrqPlacement::kRandom, t, seed));
      b.push_back(stock_irq_core(v, IrqPlacement::kRandom, t, seed));
      EXPECT_GE(a.back(), 0);
      EXPECT_LT(a.back(), 16);
    }
    EXPECT_EQ(a, b);
    seen.insert(a);
  }
  EXPECT_EQ(seen.size(), 5u);  // every seed its own placement
  // Through the config: run.seed decides it.
  Config c = base();
  c.host.irq_placement = IrqPlacement::kRandom;
  EXPECT_EQ(Placement::of(c).vector_core, Placement::of(c).vector_core);
  Config d = c;
  d.run.seed = 2;
  EXPECT_NE(Placement::of(c).vector_core, Placement::of(d).vector_core);
}

TEST(Placement, ThreadCoresAreIndependentOfIrqPlacement) {
  Config c = base();  // 16 cores, driver, 4 app cores x 8 threads
  Placement p = Placement::of(c);
  EXPECT_EQ(p.app_cores, (std::vector<CoreId>{0, 1, 2, 3}));
  EXPECT_EQ(p.thread_core[0], 0);
  EXPECT_EQ(p.thread_core[31], 3);
  EXPECT_EQ(p.vector_core[9], 9);  // CQ 9's IRQ on core 9, its thread on core 1
  c.host.first_app_core = 6;
  p = Placement::of(c);
  EXPECT_EQ(p.thread_core[0], 6);
  EXPECT_EQ(p.thread_core[31], 9);
  c.host.app_core_list = {15, 3, 7, 11};
  p = Placement::of(c);
  EXPECT_EQ(p.thread_core[0], 15);
  EXPECT_EQ(p.thread_core[8], 3);
  EXPECT_EQ(p.thread_core[31], 11);
  EXPECT_EQ(p.vector_core, Placement::of(base()).vector_core);  // IRQs did not move
}

// ------------------------------------------------------------------ remote wake-ups

TEST(WakeRules, RemoteFractionFollowsPlacement) {
  Config c = base();  // driver placement, threads on cores 0-3 of 16
  c.strategies = {"interrupt"};
  const double placed0 = placed_remote_fraction(c);
  EXPECT_NEAR(placed0, 30.0 / 32, 1e-9);  // only CQs 0 and 18 have their vector on their core
  EXPECT_NEAR(measured_remote_fraction(c), placed0, 0.03);

  // Moving the application cores keeps the rule (cores 12-15: CQs 13 and 31
  // local) ...
  Config far = c;
  far.host.app_core_list = {12, 13, 14, 15};
  EXPECT_NEAR(placed_remote_fraction(far), 30.0 / 32, 1e-9);
  EXPECT_NEAR(measured_remote_fraction(far), placed_remote_fraction(far), 0.03);
  // ... and with one thread per core and as many vectors as threads, every
  // CQ's IRQ is on its thread's core: no remote wake-up at all.
  Config one = c;
  one.workload.threads_per_core = 1;
  one.host.vectors = 4;
  EXPECT_EQ(placed_remote_fraction(one), 0.0);
  EXPECT_EQ(measured_remote_fraction(one), 0.0);
  // The same threads moved to cores 4-7 (the IRQs stay on 0-3): all remote.
  Config moved = one;
  moved.host.first_app_core = 4;
  EXPECT_EQ(placed_remote_fraction(moved), 1.0);
  EXPECT_EQ(measured_remote_fraction(moved), 1.0);
  // Threads 0..3 on cores 0,0,1,1, vectors 0..3 on cores 0..3: CQ 0 local,
  // the rest remote (computed from the placement, not assumed).
  Config half = one;
  half.host.app_cores = 2;
  half.workload.threads_per_core = 2;
  EXPECT_NEAR(measured_remote_fraction(half), placed_remote_fraction(half), 0.03);
  EXPECT_NE(placed_remote_fraction(half), placed_remote_fraction(one));
}

TEST(WakeRules, SameLlcBusyTargetGetsDirectEnqueueAndResOnlyWhenItPreempts) {
  Config c = remote_config(6);
  c.workload.service_ns = 20'000;  // core 1 is busy when most wake-ups come
  c.workload.think_ns = 40'000;
  // No wake-up preempts: direct enqueues, and not a single RES.
  c.platform.wakeup_granularity_ns = 1'000'000'000'000LL;
  const auto never = simulate(c, find_strategy("interrupt")).result;
  EXPECT_GT(x(never, "remote_direct"), 500u);
  EXPECT_EQ(x(never, "ipis_resched"), 0u);
  EXPECT_EQ(x(never, "remote_direct") + x(never, "remote_wakelist"), x(never, "remote_wakeups"));
  // Granularity 0: a wake-up preempts whenever the wakee's vruntime is behind
  // the current thread's (wakeup_preempt_entity: vdiff > 0), which a sleeper
  // placed at min_vruntime - sched_latency / 2 mostly is: a RES for most
  // direct enqueues; none for those behind or finding a RES pending.
  c.platform.wakeup_granularity_ns = 0;
  const auto always = simulate(c, find_strategy("interrupt")).result;
  EXPECT_GT(x(always, "remote_direct"), 500u);
  EXPECT_GT(x(always, "ipis_resched"), x(always, "remote_direct") / 2);
  EXPECT_LE(x(always, "ipis_resched"), x(always, "remote_direct"));
  EXPECT_EQ(x(always, "ipis"), x(always, "ipis_call") + x(always, "ipis_resched"));
}

TEST(WakeRules, IdleTargetInTheSameLlcUsesTheWakeListWithOneCalUnlessItPolls) {
  Config c = remote_config(1);
  c.workload.think_ns = 200'000;  // core 1 is idle at every wake-up
  c.workload.think_dist = Dist::kFixed;
  c.host.max_cstate = 1;
  ASSERT_TRUE(c.platform.cstates[1].polling);  // x86 C1 = MWAIT
  const auto poll = simulate(c, find_strategy("interrupt")).result;
  EXPECT_GT(x(poll, "remote_wakeups"), 50u);
  EXPECT_EQ(x(poll, "remote_wakelist"), x(poll, "remote_wakeups"));
  EXPECT_EQ(x(poll, "wakelist_polled"), x(poll, "remote_wakeups"));
  EXPECT_EQ(x(poll, "ipis"), 0u);

  for (auto& s : c.platform.cstates) s.polling = false;  // HLT-like (e.g. a VM guest)
  const auto halt = simulate(c, find_strategy("interrupt")).result;
  EXPECT_EQ(x(halt, "remote_wakelist"), x(halt, "remote_wakeups"));
  EXPECT_EQ(x(halt, "ipis_call"), x(halt, "remote_wakeups"));  // one CAL each
  EXPECT_EQ(x(halt, "ipis_resched"), 0u);
  EXPECT_EQ(x(halt, "wakelist_polled"), 0u);
}

TEST(WakeRules, AnotherLlcAlwaysUsesTheWakeList) {
  Config c = remote_config(6);
  c.workload.service_ns = 20'000;
  c.workload.think_ns = 40'000;
  c.host.llc_cores = 1;  // cores 0 and 1 in different LLC domains
  const auto r = simulate(c, find_strategy("interrupt")).result;
  EXPECT_GT(x(r, "remote_wakeups"), 500u);
  EXPECT_EQ(x(r, "remote_direct"), 0u);
  EXPECT_EQ(x(r, "remote_wakelist"), x(r, "remote_wakeups"));
  EXPECT_EQ(x(r, "ipis_resched"), 0u);  // the wakee's preemption is decided locally on core 1
  // Same load, one LLC: the busy target is mostly enqueued directly.
  c.host.llc_cores = 0;
  const auto same = simulate(c, find_strategy("interrupt")).result;
  EXPECT_GT(x(same, "remote_direct"), x(same, "remote_wakeups") / 2);
}
