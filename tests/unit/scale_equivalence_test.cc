// The model's fast structures (the dispatcher's ready bitset in scan order and
// its list of not-yet-marked ready CQs; docs/model.md "Performance") against
// the straightforward scans they replace (sim::set_reference_scan): on random
// scenarios every strategy's full result document, per-request samples and
// decision trace must be identical.
#include <gtest/gtest.h>

#include <cstdio>
#include <exception>
#include <random>
#include <string>

#include "fastwake/config.h"
#include "fastwake/decision_trace.h"
#include "fastwake/sim/simulate.h"
#include "fastwake/strategy.h"

namespace {

using fastwake::Config;

struct Outcome {
  nlohmann::json result;
  std::string samples;
  std::string trace;
};

Outcome run(const Config& cfg, const std::string& strategy, bool reference) {
  fastwake::sim::set_reference_scan(reference);
  fastwake::DecisionTrace tr;
  Outcome o;
  fastwake::sim::StrategyRun r;
  try {
    r = fastwake::sim::simulate(cfg, fastwake::find_strategy(strategy), &tr);
  } catch (const std::exception& e) {  // e.g. a run that cannot drain: the same either way
    fastwake::sim::set_reference_scan(false);
    o.result = std::string("error: ") + e.what();
    o.trace = tr.str();
    return o;
  }
  fastwake::sim::set_reference_scan(false);
  o.result = r.result.to_json();
  o.result.erase("wall_s");
  for (const auto& s : r.samples)
    o.samples += std::to_string(s.done) + " " + std::to_string(s.thread) + " " +
                 std::to_string(s.latency) + " " + std::to_string(s.irq_core) + "\n";
  o.trace = tr.str();
  return o;
}

/// A random small host: 1..4 app cores, 1..48 threads per core, fixed or
/// exponential service, closed or open loop, sometimes thread migrations
/// (which shift the dispatcher's scan indices).
Config random_config(std::mt19937_64& g) {
  Config c = fastwake::parse_config(fastwake::default_config());
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g); };
  c.host.app_cores = pick(1, 4);
  c.host.cores = c.host.app_cores + pick(0, 2);
  c.host.vectors = pick(1, c.host.cores);
  c.workload.threads_per_core = pick(1, 48);
  c.workload.service_ns = pick(200, 4000);
  c.workload.service_dist = pick(0, 1) ? fastwake::Dist::kExp : fastwake::Dist::kFixed;
  c.workload.think_ns = pick(0, 1) ? 0 : pick(1000, 60000);
  if (pick(0, 3) == 0) {
    // Offered load per app core 10 % .. 100 % of what the service time allows.
    c.workload.kind = fastwake::LoadKind::kPoisson;
    c.workload.rate_rps = pick(1, 10) * 1e8 /
                          (static_cast<double>(c.workload.service_ns) * c.workload.threads_per_core);
  }
  c.workload.migrations.clear();
  const int threads = c.threads();
  for (int m = pick(0, 1) ? pick(1, 6) : 0; m > 0; --m)
    c.workload.migrations.push_back(
        {static_cast<fastwake::Nanos>(pick(200, 2500)) * 1000, pick(0, threads - 1),
         pick(0, c.host.cores - 1)});
  c.run.seed = static_cast<std::uint64_t>(pick(1, 1 << 30));
  c.run.warmup_ns = 200'000 + 100'000;
  c.run.duration_ns = 2'000'000;
  c.run.record_samples = true;
  return c;
}

}  // namespace

TEST(ScaleEquivalence, FastStructuresMatchTheStraightforwardScan) {
  std::mt19937_64 g(20261202);
  int compared = 0, errors = 0;
  for (int i = 0; i < 24; ++i) {
    const Config cfg = random_config(g);
    for (const auto& s : fastwake::strategies()) {
      const Outcome fast = run(cfg, s.name, false);
      const Outcome ref = run(cfg, s.name, true);
      SCOPED_TRACE("scenario " + std::to_string(i) + " strategy " + s.name + " config " +
                   fastwake::to_json(cfg).dump());
      ASSERT_EQ(fast.result.dump(1), ref.result.dump(1));
      ASSERT_EQ(fast.samples, ref.samples);
      ASSERT_EQ(fast.trace, ref.trace);
      ++compared;
      if (fast.result.is_string()) {
        ++errors;
        std::printf("scenario %d %s: %s\n  config %s\n", i, s.name.c_str(),
                    fast.result.get<std::string>().substr(0, 60).c_str(),
                    fastwake::to_json(cfg).dump().c_str());
      }
    }
  }
  EXPECT_LT(errors, compared / 4);  // most scenarios run to the end
}
