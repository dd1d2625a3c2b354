#include "fastwake/version.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <regex>
#include <string>

#include "fastwake/config.h"
#include "fastwake/sim/simulate.h"

namespace {

TEST(Version, IsTheProjectVersion) {
  // FW_TEST_PROJECT_VERSION is CMake's PROJECT_VERSION, passed to the test
  // separately from the library's own copy.
  EXPECT_EQ(fastwake::version(), FW_TEST_PROJECT_VERSION);
  EXPECT_TRUE(std::regex_match(std::string(fastwake::version()), std::regex(R"(\d+\.\d+\.\d+)")));
}

TEST(Version, LineNamesToolVersionAndCommit) {
  std::string line = fastwake::version_line("fastwake-sim");
  EXPECT_EQ(line.rfind("fastwake-sim " + std::string(fastwake::version()) + " (commit ", 0), 0u) << line;
  std::string commit(fastwake::git_commit());
  EXPECT_TRUE(commit == "unknown" || std::regex_match(commit, std::regex(R"([0-9a-f]{7,40}(-dirty)?)")))
      << commit;
  auto info = fastwake::build_info();
  EXPECT_EQ(info.at("version"), std::string(fastwake::version()));
  EXPECT_EQ(info.at("commit"), commit);
  EXPECT_FALSE(info.at("compiler").get<std::string>().empty());
}

TEST(Version, ModelVersionIsTheVersionPlusTheSourceHash) {
  const std::string mv(fastwake::model_version());
  EXPECT_TRUE(std::regex_match(mv, std::regex(std::string(fastwake::version()) + R"(\+src\.[0-9a-f]{16})")))
      << mv;
}

TEST(Version, ResultMetaNamesVersionsCommitDateAndHost) {
  const auto t0 = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  const auto m = fastwake::result_meta("unit-test");
  EXPECT_EQ(m.at("tool"), "unit-test");
  EXPECT_EQ(m.at("toolkit_version"), std::string(fastwake::version()));
  EXPECT_EQ(m.at("model_version"), std::string(fastwake::model_version()));
  EXPECT_EQ(m.at("commit"), std::string(fastwake::git_commit()));
  EXPECT_EQ(m.at("build"), fastwake::build_info());
  // The date is now, in UTC, as ISO 8601 with a Z.
  const std::string date = m.at("date");
  ASSERT_TRUE(std::regex_match(date, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"))) << date;
  std::tm tm{};
  strptime(date.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  const auto t = timegm(&tm);
  EXPECT_LE(t0 - 1, t);
  EXPECT_LE(t, t0 + 5);
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  EXPECT_EQ(m.at("host"), std::string(host));
  EXPECT_FALSE(m.at("libraries").at("nlohmann_json").get<std::string>().empty());
}

TEST(Version, SimulatedDocumentsCarryMeta) {
  auto doc = fastwake::bundled_config("default");
  doc["run"]["duration_ms"] = 2;
  doc["strategies"] = {"interrupt"};
  const auto out = fastwake::sim::simulate_all(fastwake::parse_config(doc));
  ASSERT_TRUE(out.contains("meta"));
  EXPECT_EQ(out["meta"].at("model_version"), std::string(fastwake::model_version()));
  EXPECT_EQ(out["meta"].at("tool"), "fastwake::sim::simulate_all");
}

}  // namespace
