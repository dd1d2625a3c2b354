// The soak's leak rule on synthetic series (it must be able to fail), the
// process readings it samples, and the bench's run-size guard on the loopback
// and compare paths.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "fastwake/hw/soak.h"

using fastwake::hw::check_leaks;
using fastwake::hw::SoakSample;

namespace {

std::vector<SoakSample> series(int n, double rss0, double rss_step, int fds0, int fd_step_at = -1) {
  std::vector<SoakSample> s;
  for (int i = 0; i < n; ++i) {
    SoakSample x;
    x.t_s = i * 2.0;
    x.requests = 1000;
    // +-0.5 MB of noise, as a real allocator shows
    x.rss_mb = rss0 + rss_step * i + ((i % 3) - 1) * 0.5;
    x.fds = fds0 + (fd_step_at >= 0 && i >= fd_step_at ? 1 : 0);
    s.push_back(x);
  }
  return s;
}

struct Out {
  int code;
  std::string text;
};
Out bench(const std::string& args) {
  const std::string cmd = std::string(FW_BENCH_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  std::array<char, 4096> buf{};
  while (p && fgets(buf.data(), buf.size(), p)) text += buf.data();
  const int st = p ? pclose(p) : -1;
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, text};
}

}  // namespace

TEST(SoakLeakRule, FlatSeriesWithNoiseAndAWarmUpPasses) {
  auto s = series(40, 30, 0, 12);
  s[0].rss_mb = 10, s[0].fds = 9;  // warm-up: arenas and buffers growing, fds opening
  s[5].rss_mb = 20, s[5].fds = 11;
  const auto v = check_leaks(s);
  EXPECT_TRUE(v.ok()) << v.reason;
  EXPECT_TRUE(v.reason.empty()) << v.reason;
}

TEST(SoakLeakRule, SteadilyGrowingRssIsALeak) {
  const auto v = check_leaks(series(40, 30, 0.5, 12));  // 0.5 MB per round
  EXPECT_TRUE(v.rss_leak);
  EXPECT_FALSE(v.fd_leak);
  EXPECT_GT(v.rss_growth_mb, fastwake::hw::kSoakRssToleranceMb);
  EXPECT_NE(v.reason.find("RSS grew"), std::string::npos) << v.reason;
}

TEST(SoakLeakRule, GrowthBelowTheToleranceIsNot) {
  const auto v = check_leaks(series(40, 30, 0.1, 12));  // ~2 MB over the compared quarters
  EXPECT_FALSE(v.rss_leak) << v.reason;
}

TEST(SoakLeakRule, OneFdMoreAfterTheWarmUpIsALeak) {
  const auto v = check_leaks(series(40, 30, 0, 12, 30));
  EXPECT_TRUE(v.fd_leak);
  EXPECT_EQ(v.fd_growth, 1);
  EXPECT_NE(v.reason.find("open fds not flat"), std::string::npos) << v.reason;
  // ... but not when it happened inside the warm-up (first quarter)
  EXPECT_FALSE(check_leaks(series(40, 30, 0, 12, 5)).fd_leak);
}

TEST(SoakLeakRule, TooFewSamplesGiveNoRssVerdictButSaySo) {
  const auto v = check_leaks(series(4, 30, 5, 12));
  EXPECT_FALSE(v.rss_leak);
  EXPECT_NE(v.reason.find("RSS not judged"), std::string::npos) << v.reason;
}

TEST(SoakReadings, SeeThisProcessOpenAFileAndTouchMemory) {
  const int fds = fastwake::hw::process_fd_count();
  const int fd = open("/proc/self/status", O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(fastwake::hw::process_fd_count(), fds + 1);
  close(fd);
  EXPECT_EQ(fastwake::hw::process_fd_count(), fds);
  const double rss = fastwake::hw::process_rss_mb();
  std::vector<char> big(64u << 20, 1);  // 64 MB, touched
  EXPECT_GT(fastwake::hw::process_rss_mb(), rss + 48) << static_cast<int>(big[12345]);
}

TEST(BenchTool, SoakArgumentIsChecked) {
  for (const char* v : {"0", "-1", "x", "1e9", "2m"}) {
    const Out o = bench(std::string("loopback --soak ") + v);
    EXPECT_EQ(o.code, 2) << v << ": " << o.text;
    EXPECT_NE(o.text.find("--soak"), std::string::npos) << v << ": " << o.text;
  }
  EXPECT_EQ(bench("compare --soak 1").code, 2);  // loopback only
}

TEST(BenchTool, RunSizeGuardAppliesToLoopbackAndCompare) {
  // An hour per strategy at full load: refused before anything starts, with the
  // estimate (and before the CPU check, so a missing guard fails fast here).
  for (const char* cmd : {"loopback", "compare --platform x86"}) {
    const Out o = bench(std::string(cmd) + " --set host.app_cores=1 --set run.duration_ms=3.6e6 --cpus 4096");
    EXPECT_EQ(o.code, 2) << cmd << ": " << o.text;
    EXPECT_NE(o.text.find("--force"), std::string::npos) << cmd << ": " << o.text;
  }
  // --force passes the guard: the next check (a CPU that does not exist) answers instead.
  const Out o = bench("loopback --force --set host.app_cores=1 --set run.duration_ms=3.6e6 --cpus 4096");
  EXPECT_EQ(o.code, 2) << o.text;
  EXPECT_NE(o.text.find("no such CPU 4096"), std::string::npos) << o.text;
}
