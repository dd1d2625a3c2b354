// Issue 15: runs that cannot drain are reported in the user's terms (exit 2), and
// the pre-run estimate refuses runs that are too long or too large unless forced.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/sim/fabric_config.h"
#include "fastwake/sim/run_guard.h"
#include "fastwake/sim/simulate.h"
#include "fastwake/strategy.h"

#include "input_test_util.h"

using fastwake::ConfigError;
using nlohmann::json;

// --- part 2: a run that cannot drain is the user's problem, said in their terms

TEST(Drain, SlowServiceIsReportedAsAConfigError) {
  // Before: "internal error: simulation did not drain ... (model bug)", exit 1.
  const fastwake::Config c =
      load({"strategies=[\"busy_poll\"]", "host.app_cores=1", "workload.threads_per_core=64",
            "run.duration_ms=1", "run.warmup_ms=0", "workload.service_ns=1000000000"});
  const std::string m =
      config_error([&] { fastwake::sim::simulate(c, fastwake::find_strategy("busy_poll")); });
  EXPECT_NE(m.find("run: the simulation could not drain"), std::string::npos) << m;
  EXPECT_NE(m.find("workload.service_ns = 1000000000"), std::string::npos) << m;
  EXPECT_EQ(m.find("model bug"), std::string::npos) << m;
}

TEST(Drain, AMessageLongerOnTheWireThanTheDrainIsRefusedBeforeTheRun) {
  const fastwake::Config c =
      load({"platform.params.link_gbps=0.001", "workload.message_bytes=1073741824"});
  EXPECT_ERROR_HAS(fastwake::sim::check_run(c, true),
                   "workload.message_bytes: a 1073741824 B message takes 8.59e+03 s one way at "
                   "0.001 Gb/s");
}

// --- the run-size guard --------------------------------------------------------

TEST(RunGuard, TooLargeRunsAreRefusedWithTheEstimateUnlessForced) {
  using fastwake::sim::check_run;
  // Before: accepted, then bad_alloc after 8 s.
  const fastwake::Config huge =
      load({"host.cores=4096", "host.app_cores=4096", "workload.threads_per_core=4096"});
  EXPECT_ERROR_HAS(check_run(huge, false), "run: too large: estimated");
  EXPECT_ERROR_HAS(check_run(huge, false), "--force");
  EXPECT_NO_THROW(check_run(huge, true));
  // Before: ran with no estimate.
  EXPECT_ERROR_HAS(check_run(load({"run.duration_ms=1e6"}), false), "run: too long: estimated");
  EXPECT_ERROR_HAS(check_run(load({"workload.kind=poisson", "workload.rate_rps=1e8"}), false),
                   "workload.rate_rps: offered load 32 connections x 1e+08 req/s");
  // What the repository runs passes.
  EXPECT_NO_THROW(check_run(load({}), false));
  EXPECT_NO_THROW(
      check_run(fastwake::sim::load_config(fastwake::bundled_config("compare")), false));
  const auto e = fastwake::sim::estimate_run(load({}));
  EXPECT_GT(e.requests, 1e4);
  EXPECT_LT(e.events, 1e9);
}

TEST(RunGuard, CliRefusesAndForceOverrides) {
  Out o = run_sim("-q --set run.duration_ms=1e6");
  EXPECT_EQ(o.code, 2) << o.text;
  EXPECT_NE(o.text.find("run: too long: estimated"), std::string::npos) << o.text;
  EXPECT_EQ(o.text.find("internal error"), std::string::npos) << o.text;
  // --force passes the guard (a small run: the guard is the only difference).
  o = run_sim("-q --force --set run.duration_ms=1 --set 'strategies=[\"busy_poll\"]'");
  EXPECT_EQ(o.code, 0) << o.text;
}

TEST(RunGuard, CliExitsTwoForHostileNumbers) {
  for (const char* args :
       {"--set platform.params.hardirq_ns=9223372036854775807", "--set run.duration_ms=1e400",
        "--set platform.params.link_gbps.value=1e-9",
        "--set workload.kind=poisson --set workload.rate_rps=1e-11", "/dev/zero"}) {
    const Out o = run_sim(std::string("-q ") + args);
    EXPECT_EQ(o.code, 2) << args << ": " << o.text;
    EXPECT_EQ(o.text.find("internal error"), std::string::npos) << args << ": " << o.text;
  }
}
