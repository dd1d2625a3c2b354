// fastwake-bench's command line as a user types it (CLI11, core's
// cli_app.h): --version everywhere, per-command --help, --opt=value, CPU
// ranges, usage errors exit 2 naming the option. No run starts: each case
// stops at parsing or at the first check after it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "fastwake/version.h"

namespace {

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

TEST(BenchCli, VersionEverywhere) {
  const std::string want = fastwake::version_line("fastwake-bench") + "\n";
  for (const char* a : {"--version", "loopback --version", "calibrate --version",
                        "compare --version", "server --version", "client --version", "client -V",
                        "server -V"}) {
    const Out o = bench(a);
    EXPECT_EQ(o.code, 0) << a << ": " << o.text;
    EXPECT_EQ(o.text, want) << a;
  }
}

TEST(BenchCli, EachCommandHasItsOwnHelp) {
  struct Case {
    const char* cmd;
    std::vector<const char*> shows;
    const char* not_shown;
  };
  for (const Case& c : std::vector<Case>{
           {"loopback", {"--soak MINUTES", "--cpus LIST", "--nic-cpu CPU", "--ipi-baseline-ms"},
            "--rounds"},
           {"compare", {"--rounds N", "--recalibrate", "--platform NAME|FILE"}, "--soak"},
           {"calibrate", {"--iterations N", "--out FILE", "--name NAME"}, "--soak"},
           {"server", {"-X,--vector", "--irqs", "--forever", "-F,--CPU-freq", "-a,--all"}, "--cpu "},
           {"client", {"-n,--iters", "-e,--events", "-s,--size BYTES", "-D,--duration"}, "--forever"},
       }) {
    const Out o = bench(std::string(c.cmd) + " --help");
    EXPECT_EQ(o.code, 0) << c.cmd;
    EXPECT_NE(o.text.find(std::string("Usage: fastwake-bench ") + c.cmd), std::string::npos)
        << o.text;
    for (const char* s : c.shows) EXPECT_NE(o.text.find(s), std::string::npos) << c.cmd << ": " << s;
    EXPECT_EQ(o.text.find(c.not_shown), std::string::npos) << c.cmd << ": " << c.not_shown;
    EXPECT_NE(o.text.find("exit status: 0 ok, 1 the run failed, 2 bad input"), std::string::npos);
  }
  const Out top = bench("--help");
  EXPECT_EQ(top.code, 0);
  for (const char* s : {"loopback", "calibrate", "compare", "server", "client"})
    EXPECT_NE(top.text.find(s), std::string::npos) << s;
  EXPECT_EQ(bench("").code, 2);  // no command: the overview, as a usage error
}

TEST(BenchCli, EqualsValuesAndCpuRangesReachTheRun) {
  // The values pass the parser and reach the backend's checks, which name them.
  Out o = bench("loopback --set=host.app_cores=1 --cpus=4096");
  EXPECT_EQ(o.code, 2) << o.text;
  EXPECT_NE(o.text.find("no such CPU 4096"), std::string::npos) << o.text;
  o = bench("loopback --set=host.app_cores=2 --cpus=4095-4096");
  EXPECT_EQ(o.code, 2) << o.text;
  EXPECT_NE(o.text.find("no such CPU 409"), std::string::npos) << o.text;
  o = bench("calibrate --cpus=0-2");
  EXPECT_EQ(o.code, 2) << o.text;
  EXPECT_NE(o.text.find("--cpus: give exactly two CPUs, got 3"), std::string::npos) << o.text;
}

TEST(BenchCli, UsageErrorsExitTwoNamingTheOption) {
  struct Case {
    const char* args;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {"loopback --cpus 5-2", "--cpus: range '5-2' goes down (write 2-5)"},
           {"loopback --cpus 1,1", "--cpus: 1 is given twice"},
           {"loopback --cpus ''", "--cpus: empty list"},
           {"loopback --nic-cpu 1,2", "--nic-cpu: expected one CPU number"},
           {"loopback --soak", "--soak needs a value"},
           {"loopback --ipi-baseline-ms=-1", "--ipi-baseline-ms: expected milliseconds >= 0"},
           {"compare --rounds 0", "--rounds: expected an integer in 1..100, got '0'"},
           {"compare --soak 1", "unknown option --soak"},
           {"loopback a.json b.json", "unexpected argument 'b.json'"},
           {"frobnicate", "unknown command 'frobnicate'"},
       }) {
    const Out o = bench(c.args);
    EXPECT_EQ(o.code, 2) << c.args << ": " << o.text;
    EXPECT_NE(o.text.find(c.says), std::string::npos) << c.args << ": " << o.text;
  }
  // The help pointer names the command.
  EXPECT_NE(bench("compare --rounds 0").text.find("see fastwake-bench compare --help"),
            std::string::npos);
}
