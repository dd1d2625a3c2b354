// Issue 15: simulated time cannot overflow or run backwards: Engine::at refuses a
// past time, random gaps stay defined, the largest costs run.
#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/sim/engine.h"
#include "fastwake/sim/fabric_config.h"
#include "fastwake/sim/simulate.h"
#include "fastwake/strategy.h"
#include "fastwake/workload.h"

#include "input_test_util.h"

using fastwake::ConfigError;
using nlohmann::json;

// --- part 3: time arithmetic -------------------------------------------------

TEST(EngineTime, APastTimeIsAModelBugNotMovedToNow) {
  // Before: Engine::at silently clamped a past time to now.
  fastwake::sim::Engine e;
  static int fired = 0;
  auto fn = [](void*, std::uint64_t) { ++fired; };
  e.at(100, fn, nullptr, 0);
  ASSERT_TRUE(e.step());
  EXPECT_EQ(e.now(), 100);
  EXPECT_THROW(e.at(99, fn, nullptr, 0), std::logic_error);
  EXPECT_THROW(e.at(std::numeric_limits<fastwake::Nanos>::min(), fn, nullptr, 0), std::logic_error);
  e.at(100, fn, nullptr, 0);  // now itself is fine
  EXPECT_TRUE(e.step());
  EXPECT_EQ(fired, 2);
}

TEST(EngineTime, GapDrawsStayDefinedForAnyRate) {
  // A WorkloadConfig built by hand (no range check): the draw is capped, not UB.
  fastwake::WorkloadConfig w;
  w.kind = fastwake::LoadKind::kPoisson;
  w.rate_rps = 1e-300;
  fastwake::ClientClock clock(w, 1, 1);
  for (int i = 0; i < 100; ++i) {
    const fastwake::Nanos g = clock.gap(0);
    EXPECT_GE(g, 1);
    EXPECT_LE(g, 1'000'000'000'000'001);
  }
}

TEST(EngineTime, LargestCostsRunWithoutOverflow) {
  // Every cost at its bound and the longest warm-up: simulated times stay far
  // from int64's end, so the run either finishes or reports it cannot drain.
  std::vector<std::string> sets = {"strategies=[\"interrupt\",\"fastwake_poll\"]",
                                   "run.duration_ms=1", "run.warmup_ms=3600000",
                                   "workload.threads_per_core=1", "host.app_cores=1"};
  for (const char* k : {"hardirq_ns", "cq_poll_empty_ns", "ipi_latency_ns", "ctx_switch_ns"})
    sets.push_back(std::string("platform.params.") + k + "=1000000000");
  const fastwake::Config c = load(sets);
  for (const auto& s : c.strategies) {
    try {
      const auto r = fastwake::sim::simulate(c, fastwake::find_strategy(s));
      EXPECT_EQ(r.sent, r.completed) << s;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("could not drain"), std::string::npos) << e.what();
    }
  }
}
