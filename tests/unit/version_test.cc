#include "fastwake/version.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

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

}  // namespace
