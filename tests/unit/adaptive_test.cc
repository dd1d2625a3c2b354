// fastwake_adaptive: the decision (core's AdaptiveController) and the model
// running it: thresholds from costs, switches when the load crosses them and
// back, switch count bounded by the hysteresis, exactly-once completion
// across switches, the power cap.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "fastwake/adaptive.h"
#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/sim/simulate.h"
#include "fastwake/strategy.h"
#include "fastwake/wait_policy.h"

using namespace fastwake;
using fastwake::sim::simulate;
using nlohmann::json;

namespace {

Config base() {
  Config c = parse_config(default_config());
  c.workload.migrations.clear();
  return c;
}

/// Completions a window holds when the mean idle gap is `gap` ns.
std::uint64_t count_for_gap(const AdaptiveParams& p, double gap) {
  return static_cast<std::uint64_t>(std::llround(
      static_cast<double>(p.window_ns) / (gap + static_cast<double>(p.req_cpu_ns + p.poll_cpu_ns))));
}

/// Energy of one idle gap in each mode, written out independently of derive().
double e_poll(const Platform& p, const AdaptiveParams& a, double g) {
  return static_cast<double>(a.poll_cpu_ns) * p.work_w + g * p.poll_w;
}
double e_irq(const Platform& p, const AdaptiveParams& a, double g) {
  const int s = a.cstate_for(static_cast<Nanos>(g - static_cast<double>(a.irq_cpu_ns - a.poll_cpu_ns)));
  const CState& c = p.cstates[static_cast<std::size_t>(s)];
  const double irq_ctx = static_cast<double>(p.hardirq_ns + p.softirq_ns + p.uverbs_handler_ns +
                                             p.fw_handler_ns);
  const double task = static_cast<double>(a.irq_cpu_ns) - irq_ctx;
  const double ex = static_cast<double>(c.exit_latency_ns);
  return irq_ctx * p.irq_w + task * p.work_w + ex * p.cstate_exit_w +
         std::max(0.0, g - static_cast<double>(a.irq_cpu_ns - a.poll_cpu_ns) - ex) * c.power_w;
}

}  // namespace

TEST(Adaptive, StrategyIsRegisteredWithTheInterruptDesignsMechanisms) {
  const StrategySpec& s = find_strategy("fastwake_adaptive");
  EXPECT_TRUE(s.adaptive);
  EXPECT_TRUE(s.remap_affinity);
  EXPECT_EQ(s.wake_path.kind, WakePathKind::kModule);
  const WaitPolicy wp(s);
  EXPECT_TRUE(wp.adaptive());
  EXPECT_TRUE(wp.runs_dispatchers());
  EXPECT_FALSE(wp.starts_asleep());  // every core starts in interrupt mode
  EXPECT_EQ(wp.for_mode(WaitMode::kDispatcher).asleep(), WaitPolicy::Asleep::kForHandOff);
  EXPECT_EQ(wp.for_mode(WaitMode::kBlock).asleep(), WaitPolicy::Asleep::kOnChannel);
  EXPECT_FALSE(WaitPolicy(find_strategy("fastwake_poll")).adaptive());
}

TEST(Adaptive, WaitBoundaryArmsBeforeItsLastPollWhenEnteringInterrupts) {
  EXPECT_EQ(next_wait_step(WaitMode::kDispatcher, WaitMode::kBlock), Step::kArm);
  EXPECT_EQ(next_wait_step(WaitMode::kBlock, WaitMode::kBlock), Step::kWait);
  EXPECT_EQ(next_wait_step(WaitMode::kBlock, WaitMode::kDispatcher), Step::kYieldDispatcher);
  EXPECT_EQ(next_wait_step(WaitMode::kDispatcher, WaitMode::kDispatcher), Step::kYieldDispatcher);
  // after the arm: poll once more, then (same mode now) the wait
  EXPECT_EQ(ThreadLoop(WaitMode::kBlock).next(Step::kArm), Step::kPoll);
}

TEST(Adaptive, BreakEvenGapIsWhereBothModesCostTheSameEnergy) {
  for (const char* plat : {"x86", "arm"}) {
    SCOPED_TRACE(plat);
    json doc = default_config();
    doc["platform"] = plat;
    Config c = parse_config(doc);
    c.workload.migrations.clear();
    const AdaptiveParams a = AdaptiveParams::derive(c);
    const double g = static_cast<double>(a.break_even_gap_ns);
    ASSERT_GT(g, 0);
    ASSERT_LT(g, 1e6);
    // Just below G* polling is cheaper, just above it the interrupt design.
    EXPECT_LT(e_poll(c.platform, a, g * 0.9), e_irq(c.platform, a, g * 0.9));
    EXPECT_GE(e_poll(c.platform, a, g * 1.1), e_irq(c.platform, a, g * 1.1));
    EXPECT_DOUBLE_EQ(a.hysteresis, 2.0 / std::sqrt(static_cast<double>(a.samples)));
    EXPECT_GE(a.window_ns, a.samples * (a.break_even_gap_ns + a.req_cpu_ns + a.poll_cpu_ns));
  }
  // Costs move it the right way: cheaper polling -> a larger break-even gap.
  Config c = base();
  const Nanos g0 = AdaptiveParams::derive(c).break_even_gap_ns;
  c.platform.poll_w -= 0.5;
  EXPECT_GT(AdaptiveParams::derive(c).break_even_gap_ns, g0);
  c = base();
  c.platform.hardirq_ns *= 3;  // a dearer interrupt -> poll up to larger gaps
  EXPECT_GT(AdaptiveParams::derive(c).break_even_gap_ns, g0);
}

TEST(Adaptive, ControllerFollowsAStepLoadWithHysteresis) {
  Config c = base();
  c.host.app_cores = 1;
  c.workload.kind = LoadKind::kPoisson;  // open loop: no closed-loop correction
  const AdaptiveParams p = AdaptiveParams::derive(c);
  AdaptiveController ctl(p);
  const double g = static_cast<double>(p.break_even_gap_ns);
  EXPECT_EQ(ctl.mode(0), WaitMode::kBlock);
  // Low load: stays in interrupt mode.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(ctl.end_window({count_for_gap(p, g * 10)}).empty());
  // High load: the first window past the band switches to polling.
  auto ch = ctl.end_window({count_for_gap(p, g * 0.3)});
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].to, WaitMode::kDispatcher);
  EXPECT_FALSE(ch[0].by_cap);
  // Inside the band (the threshold +-20 %): no switch either way.
  for (double f : {0.8, 1.2, 1.0, 1.3, 0.7})
    EXPECT_TRUE(ctl.end_window({count_for_gap(p, g * f)}).empty()) << f;
  EXPECT_EQ(ctl.mode(0), WaitMode::kDispatcher);
  // Back to low load: back to interrupts.
  ch = ctl.end_window({count_for_gap(p, g * 3)});
  ASSERT_EQ(ch.size(), 1u);
  EXPECT_EQ(ch[0].to, WaitMode::kBlock);
  for (double f : {1.2, 0.8, 1.0}) EXPECT_TRUE(ctl.end_window({count_for_gap(p, g * f)}).empty());
  EXPECT_EQ(ctl.switches(), 2u);
  // A load flapping across the whole band switches at most once per window.
  std::uint64_t before = ctl.switches();
  for (int i = 0; i < 20; ++i) ctl.end_window({count_for_gap(p, i % 2 ? g * 0.2 : g * 5)});
  EXPECT_LE(ctl.switches() - before, 20u);
  EXPECT_EQ(ctl.windows(), 5u + 1 + 5 + 1 + 3 + 20);
}

TEST(Adaptive, PowerCapLimitsThePollingCoresBusiestFirst) {
  Config c = base();
  c.host.app_cores = 4;
  c.workload.kind = LoadKind::kPoisson;
  // The latency objective polls every core with work as far as the caps
  // allow (under the energy objective polling is never the dearer mode
  // below the band, so a power cap only binds through the band or a host
  // already above it: docs/adaptive.md).
  c.adaptive.objective = AdaptiveObjective::kLatency;
  AdaptiveParams p = AdaptiveParams::derive(c);
  const double g = static_cast<double>(p.break_even_gap_ns);
  const std::vector<std::uint64_t> busy = {count_for_gap(p, g * 5), count_for_gap(p, g * 6),
                                           count_for_gap(p, g * 8), count_for_gap(p, g * 3)};
  // Uncapped: all four poll.
  AdaptiveController free_ctl(p);
  EXPECT_EQ(free_ctl.end_window(busy).size(), 4u);
  const double all_poll = free_ctl.predicted_power_w();
  // A cap that leaves room for two polling cores.
  AdaptiveController probe(p);
  std::vector<std::uint64_t> idle(4, 0);
  probe.end_window(idle);
  double irq_w = p.package_w + p.other_cores_w;
  for (auto k : busy)
    irq_w += p.core_power_w(WaitMode::kBlock, static_cast<double>(k) * 1e9 / p.window_ns);
  const double per = (all_poll - irq_w) / 4;
  p.caps.power_cap_w = irq_w + 2.5 * per;
  AdaptiveController ctl(p);
  for (int i = 0; i < 10; ++i) {
    ctl.end_window(busy);
    EXPECT_LE(ctl.predicted_power_w(), p.caps.power_cap_w + 1e-9);
  }
  int polling = 0;
  for (int i = 0; i < 4; ++i) polling += ctl.mode(i) == WaitMode::kDispatcher;
  EXPECT_EQ(polling, 2);
  EXPECT_EQ(ctl.mode(3), WaitMode::kDispatcher);  // the busiest two
  EXPECT_EQ(ctl.mode(0), WaitMode::kDispatcher);
  EXPECT_EQ(ctl.switches(), 2u);  // steady load at the cap: no flapping
  EXPECT_GT(ctl.cap_limited_windows(), 0u);
  // The CPU cap the same way: 0.5 of 4 cores' time leaves room for ~2 polling cores.
  AdaptiveParams q = AdaptiveParams::derive(c);
  q.caps.cpu_cap = 0.6;
  AdaptiveController cc(q);
  cc.end_window(busy);
  EXPECT_LE(cc.predicted_cpu(), 0.6 + 1e-9);
  int n = 0;
  for (int i = 0; i < 4; ++i) n += cc.mode(i) == WaitMode::kDispatcher;
  EXPECT_GE(n, 1);
  EXPECT_LE(n, 2);
}

TEST(Adaptive, ConfigSectionIsValidatedAndRoundTrips) {
  json doc = default_config();
  doc["adaptive"] = {{"power_cap_w", 30}, {"cpu_cap", 0.5}, {"objective", "latency"}};
  const Config c = parse_config(doc);
  EXPECT_EQ(c.adaptive.objective, AdaptiveObjective::kLatency);
  EXPECT_DOUBLE_EQ(c.adaptive.power_cap_w, 30);
  EXPECT_DOUBLE_EQ(c.adaptive.cpu_cap, 0.5);
  EXPECT_EQ(parse_config(to_json(c)).adaptive, c.adaptive);
  EXPECT_FALSE(to_json(parse_config(default_config())).contains("adaptive"));  // unset: not written
  for (json bad : {json{{"power_cap_w", -1}}, json{{"cpu_cap", 1.5}}, json{{"cpu_cap", "x"}},
                   json{{"power_cap", 3}}, json{{"objective", "speed"}}}) {
    json d = default_config();
    d["adaptive"] = bad;
    try {
      parse_config(d);
      ADD_FAILURE() << bad.dump();
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("adaptive", 0), 0u) << e.what();
    }
  }
}

// ------------------------------------------------------------------ the model

namespace {

/// One app core, 4 threads, a scripted load that steps: quiet (a request
/// every 200 us), busy (back to back), quiet, busy, quiet.
Config step_config() {
  Config c = base();
  c.host.cores = 2;
  c.host.app_cores = 1;
  c.host.vectors = 1;
  c.workload.kind = LoadKind::kScript;
  c.workload.threads_per_core = 4;
  c.workload.service_ns = 500;
  c.workload.script.clear();
  int conn = 0;
  auto phase = [&](Nanos after, Nanos length) {
    for (Nanos t = 0; t < length; t += after + 3'000) {
      c.workload.script.push_back({conn, after, kNoCore});
      conn = (conn + 1) % 4;
    }
  };
  for (int k = 0; k < 2; ++k) {
    phase(200'000, 4'000'000);
    phase(0, 4'000'000);
  }
  phase(200'000, 4'000'000);
  c.run.warmup_ns = 1'000'000;
  c.run.duration_ns = 30'000'000;
  c.run.record_samples = true;
  c.strategies = {"fastwake_adaptive"};
  return c;
}

}  // namespace

TEST(AdaptiveModel, SwitchesWithAStepLoadAndBackExactlyOnce) {
  const Config c = step_config();
  const auto run = simulate(c, find_strategy("fastwake_adaptive"));
  // The script sends one request at a time: every one answered, once
  // (simulate throws on a double completion; a lost one would never end).
  EXPECT_EQ(run.sent, c.workload.script.size());
  EXPECT_EQ(run.completed, run.sent);
  const json a = run.result.extra["adaptive"];
  const json tr = a["trace"];
  // quiet -> busy -> quiet -> busy -> quiet: to polling and back, twice.
  ASSERT_GE(tr.size(), 4u) << a.dump();
  std::vector<std::string> to;
  for (const auto& e : tr) to.push_back(e["to"].get<std::string>());
  EXPECT_EQ(to[0], "dispatcher");
  EXPECT_EQ(to[1], "block");
  EXPECT_EQ(to[2], "dispatcher");
  EXPECT_EQ(to[3], "block");
  EXPECT_LE(tr.size(), 6u);  // a steady phase does not flap
  EXPECT_LE(a["switches_per_s"].get<double>(), a["max_switches_per_s"].get<double>());
  EXPECT_GT(a["releases"].get<std::uint64_t>(), 0u);  // poll -> irq woke hand-off sleepers
  // The busy phases were served by hand-offs, the quiet ones by interrupts.
  EXPECT_GT(run.result.extra["handoffs"].get<std::uint64_t>(), 100u);
  EXPECT_GT(run.result.extra["interrupts"].get<std::uint64_t>(), 50u);
}

TEST(AdaptiveModel, OpenLoopAtTheThresholdCompletesEveryRequestOnceAndSwitchesWithinTheBound) {
  // Poisson load near the break-even rate, exponential service, 4 threads
  // on each of 2 cores: windows fall on both sides of the band, so the
  // cores switch often, with requests in every state.
  Config c = base();
  c.host.cores = 3;
  c.host.app_cores = 2;
  c.host.vectors = 2;
  c.workload.kind = LoadKind::kPoisson;
  c.workload.threads_per_core = 4;
  c.workload.service_ns = 1000;
  c.workload.service_dist = Dist::kExp;
  const AdaptiveParams p = AdaptiveParams::derive(c);
  const double per_core = 1e9 / static_cast<double>(p.break_even_gap_ns + p.req_cpu_ns + p.poll_cpu_ns);
  c.workload.rate_rps = per_core / 4;
  c.run.warmup_ns = 1'000'000;
  c.run.duration_ns = 20'000'000;
  c.run.record_samples = true;
  std::uint64_t switches = 0;
  for (std::uint64_t seed : {1, 2, 3}) {
    c.run.seed = seed;
    const auto run = simulate(c, find_strategy("fastwake_adaptive"));
    EXPECT_EQ(run.sent, run.completed);
    EXPECT_EQ(run.result.requests, run.samples.size());
    const json a = run.result.extra["adaptive"];
    EXPECT_LE(a["switches_per_s"].get<double>(), a["max_switches_per_s"].get<double>());
    switches += a["switches"].get<std::uint64_t>();
  }
  EXPECT_GT(switches, 0u);
}

TEST(AdaptiveModel, PowerCapHoldsInTheModel) {
  // 4 app cores busy enough to poll; a cap between the all-interrupt and the
  // all-polling host power: the measured (model) power stays under it.
  Config c = base();
  c.workload.kind = LoadKind::kPoisson;
  c.workload.threads_per_core = 8;
  c.workload.think_ns = 0;
  c.workload.rate_rps = 30'000;  // 240k/s per core
  c.run.duration_ns = 20'000'000;
  const double p_poll = simulate(c, find_strategy("fastwake_poll")).result.power_w;
  const double p_irq = simulate(c, find_strategy("fastwake_irq")).result.power_w;
  const auto free_run = simulate(c, find_strategy("fastwake_adaptive"));
  ASSERT_LT(p_irq, p_poll);
  EXPECT_GT(free_run.result.power_w, p_irq + 0.5 * (p_poll - p_irq));  // it polls uncapped
  c.adaptive.power_cap_w = p_irq + 0.5 * (p_poll - p_irq);
  const auto run = simulate(c, find_strategy("fastwake_adaptive"));
  EXPECT_LE(run.result.power_w, c.adaptive.power_cap_w);
  EXPECT_EQ(run.sent, run.completed);
  EXPECT_GT(run.result.extra["adaptive"]["cap_limited_windows"].get<std::uint64_t>(), 0u);
}

TEST(AdaptiveModel, LatencyObjectiveSpendsThePowerCapOnPollingAndHoldsIt) {
  // Moderate load (50k/s per core): the energy objective interrupts, the
  // latency objective polls the cores the cap allows.
  Config c = base();
  c.workload.kind = LoadKind::kPoisson;
  c.workload.threads_per_core = 8;
  c.workload.think_ns = 0;
  c.workload.rate_rps = 6'250;
  c.run.duration_ns = 20'000'000;
  const auto poll = simulate(c, find_strategy("fastwake_poll")).result;
  const auto irq = simulate(c, find_strategy("fastwake_irq")).result;
  const auto energy = simulate(c, find_strategy("fastwake_adaptive")).result;
  EXPECT_NEAR(energy.power_w, irq.power_w, 0.02 * irq.power_w);
  c.adaptive.objective = AdaptiveObjective::kLatency;
  c.adaptive.power_cap_w = irq.power_w + 0.8 * (poll.power_w - irq.power_w);
  const auto lat = simulate(c, find_strategy("fastwake_adaptive"));
  EXPECT_LE(lat.result.power_w, c.adaptive.power_cap_w);
  EXPECT_GT(lat.result.power_w, irq.power_w + 0.3 * (poll.power_w - irq.power_w));  // it polls
  EXPECT_LT(lat.result.latency_us.p50, irq.latency_us.p50);
  EXPECT_EQ(lat.sent, lat.completed);
}

TEST(AdaptiveModel, OnlyTheAdaptiveStrategyReportsItsDecisions) {
  Config c = base();
  c.run.duration_ns = 5'000'000;
  const auto a = simulate(c, find_strategy("fastwake_irq"));
  const auto b = simulate(c, find_strategy("fastwake_poll"));
  EXPECT_FALSE(a.result.extra.contains("adaptive"));
  EXPECT_FALSE(b.result.extra.contains("adaptive"));
}
