// Issue 15 (hostile input): physical ranges checked at load, numbers that do
// not fit a double, deep nesting, and config files that are not bounded files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/config.h"
#include "fastwake/config_read.h"
#include "fastwake/errors.h"
#include "fastwake/sim/fabric_config.h"

#include "input_test_util.h"

using fastwake::ConfigError;
using nlohmann::json;

// --- part 2: physical ranges, each named with its key and range -------------

TEST(InputRanges, CostsAreBoundedAtOneSecond) {
  // Before: INT64_MAX was accepted and acted as 0 (now + cost overflowed).
  EXPECT_ERROR_HAS(load({"platform.params.hardirq_ns=9223372036854775807"}),
                   "platform.params.hardirq_ns: expected an integer number of ns in [0, "
                   "1000000000] (at most 1 s), got 9223372036854775807");
  EXPECT_ERROR_HAS(load({"platform.params.cq_poll_empty_ns=4600000000000000000"}),
                   "platform.params.cq_poll_empty_ns: expected an integer number of ns in [0, ");
  EXPECT_ERROR_HAS(load({"platform.cstates.3.target_residency_ns=2000000000"}),
                   "platform.cstates[3].target_residency_ns: expected an integer number of ns in");
  EXPECT_ERROR_HAS(load({"workload.service_ns=1000000001"}), "workload.service_ns:");
  EXPECT_ERROR_HAS(load({"workload.think_ns=1000000001"}), "workload.think_ns:");
  EXPECT_ERROR_HAS(load({"remapper.hysteresis_us=2e6"}),
                   "remapper.hysteresis_us: expected a number in [0, 1e+06] (at most 1 s)");
  EXPECT_ERROR_HAS(load({"platform.params.poll_w=1e6"}),
                   "platform.params.poll_w: expected a number of watts in [0, 10000]");
  // The bounds themselves are valid.
  EXPECT_NO_THROW(load({"platform.params.hardirq_ns=1000000000"}));
  EXPECT_NO_THROW(load({"workload.service_ns=1000000000", "remapper.hysteresis_us=1e6"}));
}

TEST(InputRanges, RatesBandwidthsAndDurations) {
  // Before: 1e-11 gave 26 kreq/s (double -> int64 cast out of range), 1e-300
  // stopped simulated time; link_gbps 1e-9 passed and the run failed as a model bug.
  EXPECT_ERROR_HAS(load({"workload.kind=poisson", "workload.rate_rps=1e-11"}),
                   "workload.rate_rps: expected 0 or a number in [0.001, 1e+08]");
  EXPECT_ERROR_HAS(load({"workload.kind=poisson", "workload.rate_rps=1e-300"}),
                   "workload.rate_rps:");
  EXPECT_ERROR_HAS(load({"workload.kind=poisson", "workload.rate_rps=1e9"}),
                   "workload.rate_rps: expected a number in [0, 1e+08]");
  EXPECT_NO_THROW(load({"workload.kind=poisson", "workload.rate_rps=1e-3"}));
  EXPECT_ERROR_HAS(load({"platform.params.link_gbps=1e-300"}),
                   "platform.params.link_gbps: expected a number in [0.001, 1e+06], got 1e-300");
  EXPECT_ERROR_HAS(load({"platform.params.link_gbps.value=1e-9"}),
                   "platform.params.link_gbps: expected a number in [0.001, 1e+06]");
  EXPECT_ERROR_HAS(load({"platform.params.link_gbps=2e6"}), "platform.params.link_gbps:");
  EXPECT_NO_THROW(load({"platform.params.link_gbps=0.001"}));
  EXPECT_NO_THROW(load({"platform.params.link_gbps=1e6"}));  // calibrated loopback profiles
  EXPECT_ERROR_HAS(load({"fabric.kind=simgrid", "fabric.link_gbps=1e-9"}),
                   "fabric.link_gbps: expected a number in [0.001, 1e+06]");
  EXPECT_ERROR_HAS(
      load({"run.warmup_ms=9e12"}),
      "run.warmup_ms: expected a number in [0, 3.6e+06] (at most 1 h), got 9000000000000");
  EXPECT_ERROR_HAS(load({"run.duration_ms=3600001"}), "run.duration_ms:");
  EXPECT_NO_THROW(load({"run.duration_ms=3600000"}));
  EXPECT_ERROR_HAS(load({R"(workload.migrations=[{"at_ms": 1e10, "thread": 0, "to_core": 1}])"}),
                   "workload.migrations[0].at_ms: expected a number in [0, 7.2e+06]");
}

TEST(InputRanges, ScriptStepsAddUpToAtMostAnHour) {
  json steps = json::array();
  for (int i = 0; i < 3; ++i) steps.push_back({{"after_us", 1.5e9}, {"conn", 0}});
  json doc = with_sets({"workload.kind=script"});
  doc["workload"]["script"] = steps;
  EXPECT_ERROR_HAS(fastwake::parse_config(doc),
                   "workload.script[2].after_us: the script's steps add up to more than 1 h");
  steps.erase(steps.size() - 1);
  doc["workload"]["script"] = steps;
  EXPECT_NO_THROW(fastwake::parse_config(doc));
}

TEST(InputRanges, NumberOverflowNamesTheKey) {
  // Before: out_of_range.406 escaped as an internal error, without a key.
  EXPECT_ERROR_HAS(with_sets({"run.duration_ms=1e400"}),
                   "run.duration_ms: number out of range: 1e400");
  const auto d = temp_dir("overflow");
  const auto f = d / "big.json";
  std::ofstream(f) << R"({"run": {"seed": 3, "duration_ms": 1e400}})";
  EXPECT_ERROR_HAS(fastwake::load_json_file(f.string()), "run.duration_ms:");
  std::ofstream(f) << R"({"strategies": ["interrupt", -1e999]})";
  EXPECT_ERROR_HAS(fastwake::load_json_file(f.string()), "strategies[1]:");
  // 2**64 does not fit a seed: a ConfigError naming run.seed.
  EXPECT_ERROR_HAS(fastwake::parse_config(with_sets({"run.seed=18446744073709551616"})),
                   "run.seed: expected an unsigned integer");
  std::filesystem::remove_all(d);
}

TEST(InputRanges, InvalidUtf8InASetValueIsAConfigError) {
  // Found by fuzz_set: a --set value that is not JSON is kept as a string; with
  // invalid UTF-8 the error message's dump() threw json::type_error.316.
  EXPECT_ERROR_HAS(with_sets({"workload.kind=\x92"}), "not valid UTF-8");
  EXPECT_ERROR_HAS(with_sets({"name=caf\xc3"}), "not valid UTF-8");
  EXPECT_NO_THROW(with_sets({"name=caf\xc3\xa9"}));  // valid UTF-8 is fine
  // describe() never throws on such a value either.
  EXPECT_EQ(fastwake::config_read::describe(json(std::string("\x92"))),
            "the string \"\xEF\xBF\xBD\"");
}

TEST(InputRanges, DeepNestingIsAConfigError) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_ERROR_HAS(with_sets({"name=" + deep}), "nested deeper than 64 levels");
  const auto d = temp_dir("deep");
  std::ofstream(d / "deep.json") << deep;
  EXPECT_ERROR_HAS(fastwake::load_json_file((d / "deep.json").string()),
                   "nested deeper than 64 levels");
  std::filesystem::remove_all(d);
}

// --- config files: only bounded regular files -------------------------------

TEST(InputFiles, DevicesFifosAndHugeFilesAreRefused) {
  // Before: /dev/zero as a config was read for ever.
  EXPECT_ERROR_HAS(fastwake::load_json_file("/dev/zero"), "/dev/zero: not a regular file");
  const auto d = temp_dir("files");
  const auto fifo = d / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_ERROR_HAS(fastwake::load_json_file(fifo.string()), "not a regular file");
  EXPECT_ERROR_HAS(fastwake::load_json_file(d.string()), "not a regular file");
  const auto big = d / "big.json";
  std::ofstream(big) << "{}";
  std::filesystem::resize_file(big, fastwake::kMaxConfigFileBytes + 1);
  EXPECT_ERROR_HAS(fastwake::load_json_file(big.string()), "MiB a config file may have");
  std::filesystem::remove_all(d);
}
