// Issue 15: write_file_atomic stays atomic with concurrent writers of one path,
// and its messages keep the OS's reason.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/cli.h"
#include "fastwake/errors.h"

#include "input_test_util.h"

using fastwake::ConfigError;
using nlohmann::json;

// --- atomic output under concurrency -------------------------------------------

TEST(AtomicWrite, ConcurrentWritersOfOnePathAllSucceedAndLeaveOneWholeFile) {
  // Before: every writer used PATH.tmp: some failed, once the file was invalid JSON.
  const auto d = temp_dir("atomic");
  const std::string path = (d / "out.json").string();
  constexpr int kWriters = 8, kRounds = 30;
  std::vector<std::thread> ts;
  std::vector<int> failures(kWriters, 0);
  for (int w = 0; w < kWriters; ++w)
    ts.emplace_back([&, w] {
      const std::string text = json{{"writer", w}, {"pad", std::string(200000, 'x')}}.dump();
      for (int r = 0; r < kRounds; ++r) {
        try {
          fastwake::write_file_atomic(path, text);
        } catch (const std::exception&) {
          ++failures[w];
        }
      }
    });
  for (auto& t : ts) t.join();
  for (int w = 0; w < kWriters; ++w) EXPECT_EQ(failures[w], 0) << "writer " << w;
  std::ifstream in(path);
  const json doc = json::parse(in);  // whole and valid
  EXPECT_EQ(doc["pad"].get<std::string>().size(), 200000u);
  // No temporary left behind.
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(d)) ++files;
  EXPECT_EQ(files, 1);
  // The mode is the usual one, not mkstemp's 0600.
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  const mode_t mask = ::umask(0);
  ::umask(mask);
  EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask);
  std::filesystem::remove_all(d);
}

TEST(AtomicWrite, TheMessageKeepsTheOsReason) {
  // Before: "cannot write: Success" (errno overwritten by the clean-up).
  const std::string m =
      config_error([] { fastwake::write_file_atomic("/nonexistent/dir/o.json", "{}"); });
  EXPECT_NE(m.find("/nonexistent/dir/o.json: cannot write: No such file or directory"),
            std::string::npos)
      << m;
  EXPECT_EQ(m.find("Success"), std::string::npos) << m;
  EXPECT_FALSE(std::filesystem::exists("/nonexistent"));
}
