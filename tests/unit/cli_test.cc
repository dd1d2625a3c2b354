// fastwake-sim as a user runs it: output, --json, and clear errors with exit 2.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

namespace {

struct Out {
  int code;
  std::string text;  // stdout + stderr
};

Out run(const std::string& args) {
  const std::string cmd = std::string(FW_SIM_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  std::array<char, 4096> buf{};
  while (p && fgets(buf.data(), buf.size(), p)) text += buf.data();
  const int st = p ? pclose(p) : -1;
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, text};
}

std::filesystem::path temp_dir() {
  auto d = std::filesystem::temp_directory_path() / ("fw_cli_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace

TEST(Cli, DefaultRunPrintsEveryStrategy) {
  const Out o = run("-q --set run.duration_ms=5");
  ASSERT_EQ(o.code, 0) << o.text;
  for (const char* s : {"busy_poll", "fastwake_poll", "fastwake_irq", "fastwake_irq_affinity_only",
                        "fastwake_irq_wakepath_only", "interrupt", "p50 us", "p99 us"})
    EXPECT_NE(o.text.find(s), std::string::npos) << s;
}

TEST(Cli, ArmPlatformRuns) {
  const Out o = run("-q --platform arm --set run.duration_ms=5");
  ASSERT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("platform arm"), std::string::npos);
}

TEST(Cli, JsonFileHasTheResultSchema) {
  const auto file = temp_dir() / "out.json";
  const Out o = run("-q --set run.duration_ms=5 --json " + file.string());
  ASSERT_EQ(o.code, 0) << o.text;
  std::ifstream f(file);
  const auto doc = nlohmann::json::parse(f);
  ASSERT_EQ(doc["results"].size(), 6u);
  for (const auto& r : doc["results"]) {
    for (const char* k :
         {"strategy", "latency_us", "throughput_rps", "cpu_util", "power_w", "energy_per_req_uj",
          "breakdown_us", "requests", "backend", "platform", "seed"})
      EXPECT_TRUE(r.contains(k)) << k;
    for (const char* q : {"mean", "p50", "p90", "p99", "p999", "max"})
      EXPECT_TRUE(r["latency_us"].contains(q)) << q;
    EXPECT_EQ(r["backend"], "sim");
  }
  EXPECT_EQ(doc["config"]["run"]["duration_ms"], 5);
  std::filesystem::remove_all(file.parent_path());
}

TEST(Cli, JsonToStdoutIsPureJson) {
  const std::string cmd = std::string(FW_SIM_BIN) +
                          " -q --set run.duration_ms=2 --set 'strategies=[\"interrupt\"]' --json - "
                          "2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), buf.size(), p)) text += buf.data();
  EXPECT_EQ(pclose(p), 0);
  const auto doc = nlohmann::json::parse(text);  // throws if the table leaked in
  EXPECT_EQ(doc["results"][0]["strategy"], "interrupt");
}

TEST(Cli, BadInputExitsTwoNamingTheKey) {
  struct Case {
    std::string args, needle;
  };
  for (const Case& c : std::vector<Case>{
           {"--set host.cores=0", "host.cores"},
           {"--set workload.threads_per_core=-3", "workload.threads_per_core"},
           {"--set workload.bogus=1", "workload.bogus"},
           {"--set platform.params.hardirq_ns=-5", "platform.params.hardirq_ns"},
           {"--set 'strategies=[\"nope\"]'", "nope"},
           {"--platform sparc", "sparc"},
           {"/no/such/config.json", "/no/such/config.json"},
           {"--frobnicate", "--frobnicate"},
           {"--set novalue", "novalue"},
       }) {
    const Out o = run(c.args);
    EXPECT_EQ(o.code, 2) << c.args << ": " << o.text;
    EXPECT_NE(o.text.find(c.needle), std::string::npos) << c.args << ": " << o.text;
    EXPECT_EQ(o.text.find("internal error"), std::string::npos) << o.text;
  }
}

TEST(Cli, NothingWrittenOnBadInputOrUnwritablePath) {
  const auto d = temp_dir();
  const auto file = d / "never.json";
  EXPECT_EQ(run("--set host.cores=0 --json " + file.string()).code, 2);
  EXPECT_FALSE(std::filesystem::exists(file));
  const Out o = run("-q --set run.duration_ms=1 --json " + (d / "no/such/dir/x.json").string());
  EXPECT_EQ(o.code, 2) << o.text;
  EXPECT_FALSE(std::filesystem::exists(d / "no"));
  std::filesystem::remove_all(d);
}

TEST(Cli, HelpAndList) {
  Out o = run("--help");
  EXPECT_EQ(o.code, 0);
  EXPECT_NE(o.text.find("--set PATH=VALUE"), std::string::npos);
  o = run("--list");
  EXPECT_EQ(o.code, 0);
  EXPECT_NE(o.text.find("fastwake_irq_wakepath_only"), std::string::npos);
  EXPECT_NE(o.text.find("arm"), std::string::npos);
}

TEST(Cli, OptionsTakeEqualsValues) {
  const Out o = run("-q --platform=arm --set=run.duration_ms=5 --set='strategies=[\"interrupt\"]'");
  ASSERT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("platform arm"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("interrupt"), std::string::npos);
  EXPECT_EQ(o.text.find("busy_poll"), std::string::npos) << "--set= must have applied";
}

TEST(Cli, VersionPrintsTheVersionLine) {
  const Out o = run("--version");
  EXPECT_EQ(o.code, 0);
  EXPECT_EQ(o.text.rfind("fastwake-sim " + std::string(FW_TEST_PROJECT_VERSION) + " (commit ", 0),
            0u)
      << o.text;
}

TEST(Cli, UsageErrorsExitTwoNamingTheOption) {
  struct Case {
    std::string args, says;
  };
  for (const Case& c : std::vector<Case>{
           {"--frobnicate", "unknown option --frobnicate"},
           {"--bench-reps 0", "--bench-reps: expected an integer in 1..1000, got '0'"},
           {"--bench-reps=x", "--bench-reps: expected an integer in 1..1000, got 'x'"},
           {"--json", "--json needs a value"},
           {"--set", "--set needs a value"},
           {"a.json b.json", "unexpected argument 'b.json'"},
       }) {
    const Out o = run(c.args);
    EXPECT_EQ(o.code, 2) << c.args << ": " << o.text;
    EXPECT_NE(o.text.find(c.says), std::string::npos) << c.args << ": " << o.text;
    EXPECT_NE(o.text.find("see fastwake-sim --help"), std::string::npos) << o.text;
  }
}

TEST(Cli, TableUsesSignedPercentAgainstInterrupt) {
  const Out o = run("-q --set run.duration_ms=5 --set 'strategies=[\"busy_poll\",\"interrupt\"]'");
  ASSERT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("p50 vs irq"), std::string::npos) << o.text;
  // interrupt against itself: +0%; busy polling is faster: a minus sign.
  std::istringstream in(o.text);
  std::string line;
  bool busy = false, irq = false;
  while (std::getline(in, line)) {
    if (line.rfind("busy_poll ", 0) == 0) busy = line.find(" -") != std::string::npos;
    if (line.rfind("interrupt ", 0) == 0) irq = line.find("+0%") != std::string::npos;
  }
  EXPECT_TRUE(busy) << o.text;
  EXPECT_TRUE(irq) << o.text;
}
