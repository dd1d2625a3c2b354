// The Linux backend on real threads with the loopback NIC, calibration's fit,
// and fastwake-bench as a user runs it. Timing-dependent tests assert order,
// never absolute times, and run serially (CTest RUN_SERIAL).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/hw/calibrate.h"
#include "fastwake/hw/linux_cpu.h"
#include "fastwake/hw/runtime.h"

using namespace fastwake;

namespace {

Config small_config(int threads, const char* kind = "pingpong") {
  Config c = parse_config(default_config());
  c.host.cores = 2;
  c.host.app_cores = 1;
  c.host.vectors = 1;
  c.workload.kind = parse_load_kind(kind);
  c.workload.threads_per_core = threads;
  c.workload.service_ns = 1000;
  c.workload.think_ns = 20'000;
  c.workload.think_dist = Dist::kExp;
  c.workload.rate_rps = 5'000;
  c.workload.migrations.clear();
  c.run.warmup_ns = 10'000'000;
  c.run.duration_ns = 100'000'000;
  return c;
}

bool enough_cpus() { return hw::usable_cpus().size() >= 2; }

struct Out {
  int code;
  std::string text;
};
Out run(const std::string& args) {
  const std::string cmd = std::string(FW_BENCH_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  std::array<char, 4096> buf{};
  while (p && fgets(buf.data(), buf.size(), p)) text += buf.data();
  const int st = p ? pclose(p) : -1;
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, text};
}

}  // namespace

#define REQUIRE_TWO_CPUS() \
  if (!enough_cpus()) GTEST_SKIP() << "the loopback needs 2 CPUs (app core + NIC thread)"

TEST(Loopback, EveryStrategyAnswersEveryRequestExactlyOnce) {
  REQUIRE_TWO_CPUS();
  for (const char* kind : {"pingpong", "poisson"}) {
    Config c = small_config(3, kind);
    c.run.duration_ns = 40'000'000;
    for (const auto& s : strategies()) {
      if (s.name.rfind("test_", 0) == 0) continue;
      SCOPED_TRACE(std::string(kind) + " " + s.name);
      if (!s.wake_path.implemented()) {  // a proposal: the simulator's only
        EXPECT_THROW(hw::run_loopback(c, s, {}), ConfigError);
        continue;
      }
      const hw::HwRun r = hw::run_loopback(c, s, {});  // throws on loss/duplication/no drain
      EXPECT_GT(r.sent, 0u);
      EXPECT_EQ(r.sent, r.completed);
      EXPECT_EQ(r.result.extra["served"].get<std::uint64_t>(), r.completed);
      EXPECT_EQ(r.result.extra["bad_replies"].get<std::uint64_t>(), 0u);
      EXPECT_EQ(r.result.backend, "loopback");
      EXPECT_GT(r.result.latency_us.p50, 0.0);
      EXPECT_TRUE(r.result.power_estimated || r.result.power_w > 0);
    }
  }
}

TEST(Loopback, MedianOrderBusyPollDispatcherInterrupt) {
  REQUIRE_TWO_CPUS();
  // Interleave A B C A B C: drift on a shared machine hits every strategy.
  // The order must hold in the median over three rounds.
  const Config c = small_config(1);
  std::map<std::string, std::vector<double>> p50, others;
  for (int round = 0; round < 3; ++round)
    for (const char* s : {"busy_poll", "fastwake_poll", "interrupt"}) {
      const hw::HwRun r = hw::run_loopback(c, find_strategy(s), {});
      p50[s].push_back(r.result.latency_us.p50);
      others[s].push_back(r.result.extra["kernel_counts"].value("app_cpus_busy_others", 0.0));
    }
  auto med = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[1];
  };
  std::printf("loopback medians (us): busy_poll %.2f  fastwake_poll %.2f  interrupt %.2f\n",
              med(p50["busy_poll"]), med(p50["fastwake_poll"]), med(p50["interrupt"]));
  // The dispatcher is SCHED_IDLE by design: while another process's work is
  // runnable on the app CPU it gets a sliver of it (weight 3 vs 1024) and its
  // hand-offs wait (docs/hw.md "Soak": a clean-clone CI run beside a QEMU
  // guest measured fastwake_poll's median at 26.6 ms). The order is a claim
  // about an app core the run has to itself.
  const double busy = med(others["fastwake_poll"]);
  if (busy > 0.10)
    GTEST_SKIP() << "other processes kept the app CPU " << 100 * busy
                 << "% busy during fastwake_poll (limit 10%): its SCHED_IDLE dispatcher yields to "
                    "them, so the order says nothing about the strategies";
  EXPECT_LT(med(p50["busy_poll"]), med(p50["fastwake_poll"]));
  EXPECT_LT(med(p50["fastwake_poll"]), med(p50["interrupt"]));
}

TEST(Loopback, DispatcherHandsOffAndInterruptModeTakesInterrupts) {
  REQUIRE_TWO_CPUS();
  Config c = small_config(4);
  c.run.duration_ns = 30'000'000;
  const auto d = hw::run_loopback(c, find_strategy("fastwake_poll"), {});
  EXPECT_GT(d.result.extra["handoffs"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(d.result.extra["interrupts"].get<std::uint64_t>(), 0u);
  const auto i = hw::run_loopback(c, find_strategy("interrupt"), {});
  EXPECT_GT(i.result.extra["interrupts"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(i.result.extra["handoffs"].get<std::uint64_t>(), 0u);
  const auto b = hw::run_loopback(c, find_strategy("busy_poll"), {});
  EXPECT_EQ(b.result.extra["interrupts"].get<std::uint64_t>(), 0u);
  EXPECT_GT(b.result.cpu_util, 0.8);  // spinning threads keep the app core busy
}

TEST(Loopback, MigrationBetweenAppCoresKeepsEveryRequest) {
  if (hw::usable_cpus().size() < 3) GTEST_SKIP() << "needs 3 CPUs (2 app cores + NIC)";
  Config c = small_config(2);
  c.host.cores = 3;
  c.host.app_cores = 2;
  c.workload.migrations = {{20'000'000, 0, 1}};
  for (const char* s : {"interrupt", "fastwake_poll", "busy_poll"}) {
    const auto r = hw::run_loopback(c, find_strategy(s), {});
    EXPECT_EQ(r.sent, r.completed) << s;
  }
}

TEST(Loopback, AdaptiveSwitchesAndAnswersEveryRequestOnce) {
  REQUIRE_TWO_CPUS();
  // One app core, 3 threads, a scripted load that steps quiet (a request
  // every 3 ms) -> busy (back to back) -> quiet -> busy -> quiet. The
  // profile's poll_w is lowered to just above C1E's power so the energy
  // break-even gap (~0.5 ms) sits between the two phases whatever this
  // machine's round trip is (its real costs are not the x86 profile's).
  Config c = small_config(3);
  c.platform.poll_w = c.platform.cstates.at(2).power_w + 0.05;
  c.workload.kind = LoadKind::kScript;
  c.workload.script.clear();
  int conn = 0;
  auto phase = [&](Nanos after, int n) {
    for (int i = 0; i < n; ++i) c.workload.script.push_back({(conn++) % 3, after, kNoCore});
  };
  for (int k = 0; k < 2; ++k) {
    phase(3'000'000, 40);
    phase(0, 4000);
  }
  phase(3'000'000, 40);
  c.run.warmup_ns = 1'000'000;
  c.run.duration_ns = 2'000'000'000;  // the script ends first
  const auto r = hw::run_loopback(c, find_strategy("fastwake_adaptive"), {});  // throws on loss
  EXPECT_EQ(r.sent, c.workload.script.size());
  EXPECT_EQ(r.sent, r.completed);
  EXPECT_EQ(r.served, r.completed);
  const auto& a = r.result.extra["adaptive"];
  std::printf("adaptive on the loopback: %s\n", a.dump().c_str());
  EXPECT_GE(a["switches"].get<std::uint64_t>(), 2u);  // to polling and back at least once
  EXPECT_LE(a["switches_per_s"].get<double>(), a["max_switches_per_s"].get<double>());
  EXPECT_GT(r.result.extra["handoffs"].get<std::uint64_t>(), 0u);    // busy: the dispatcher
  EXPECT_GT(r.result.extra["interrupts"].get<std::uint64_t>(), 0u);  // quiet: interrupts
  // Migrations are refused on real threads, with the reason.
  Config m = small_config(1);
  m.host.cores = 3;
  m.host.app_cores = 1;
  m.workload.migrations = {{1000, 0, 0}};
  try {
    hw::run_loopback(m, find_strategy("fastwake_adaptive"), {});
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("migrations"), std::string::npos) << e.what();
  }
}

TEST(Loopback, BadOptionsGiveClearErrors) {
  Config c = small_config(1);
  auto msg = [&](const Config& cfg, hw::HwOptions o) -> std::string {
    try {
      hw::resolve_options(cfg, o);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(msg(c, {{4096}, -1}).find("no such CPU 4096"), std::string::npos);
  const int cpu0 = hw::usable_cpus().at(0);
  EXPECT_NE(msg(c, {{cpu0}, cpu0}).find("also runs application threads"), std::string::npos);
  Config many = c;
  many.workload.threads_per_core = 1000;
  EXPECT_NE(msg(many, {}).find("too many"), std::string::npos);
  Config wide = c;
  wide.host.cores = 64;
  wide.host.app_cores = static_cast<int>(hw::usable_cpus().size());
  EXPECT_NE(msg(wide, {}).find("needs app_cores + 1 CPUs"), std::string::npos);
  Config mig = c;
  mig.workload.migrations = {{1000, 0, 1}};
  mig.host.cores = 2;
  EXPECT_NE(msg(mig, {}).find("migrations[0].to_core"), std::string::npos);
}

// ------------------------------------------------------------------ calibration

TEST(Calibration, NnlsMatchesKnownSolutionsAndStaysNonNegative) {
  // Exact, well-posed system.
  auto x = hw::nnls({{1, 0}, {0, 1}, {1, 1}}, {2, 3, 5});
  EXPECT_NEAR(x[0], 2, 1e-9);
  EXPECT_NEAR(x[1], 3, 1e-9);
  // Unconstrained least squares would make x1 negative; NNLS clamps it at 0
  // and refits x0 alone: min (x0-1)^2 + (x0-1)^2 + (x0-3)^2 -> x0 = 5/3.
  x = hw::nnls({{1, 1}, {1, 0}, {1, -1}}, {1, 1, 3});
  EXPECT_NEAR(x[1], 0.0, 1e-12);
  EXPECT_NEAR(x[0], 5.0 / 3.0, 1e-9);
}

TEST(Calibration, RecoversKnownComponentsFromSyntheticPaths) {
  const std::map<std::string, double> truth = {
      {"syscall", 1200},     {"ctx_switch", 900}, {"ttwu_local", 400},      {"remote_wake", 6500},
      {"eventfd_read", 700}, {"cacheline", 310},  {"halt_exit_long", 70000}};
  const std::vector<std::vector<std::string>> shapes = {
      {"syscall"},
      {"syscall", "ctx_switch"},
      {"syscall", "syscall", "ttwu_local", "ctx_switch"},
      {"syscall", "remote_wake", "ctx_switch"},
      {"syscall", "syscall", "ttwu_local", "ctx_switch", "eventfd_read"},
      {"syscall", "remote_wake", "ctx_switch", "eventfd_read"},
      {"syscall", "ttwu_local", "ctx_switch"},
      {"cacheline"},
      {"syscall", "remote_wake", "halt_exit_long", "ctx_switch"}};
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> noise(-0.01, 0.01);  // +-1 % measurement noise
  std::vector<hw::PathMeasurement> paths;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    double sum = 0;
    for (const auto& c : shapes[i]) sum += truth.at(c);
    paths.push_back({"p" + std::to_string(i), "", sum * (1 + noise(rng)), 0, 0, shapes[i]});
  }
  std::vector<double> residual;
  const auto fit = hw::fit_components(paths, &residual);
  ASSERT_EQ(fit.size(), truth.size());
  for (const auto& [name, v] : fit) EXPECT_NEAR(v, truth.at(name), 0.05 * truth.at(name)) << name;
  for (std::size_t i = 0; i < paths.size(); ++i)
    EXPECT_LT(std::abs(residual[i]), 0.03 * paths[i].median_ns);
  // The profile built from the fit is a valid platform with the mapped values.
  const auto prof = hw::profile_from_components("host-synthetic", fit, paths, residual);
  const Config c = parse_config({{"platform", prof}});
  EXPECT_NEAR(static_cast<double>(c.platform.ctx_switch_ns), truth.at("ctx_switch"), 50);
  EXPECT_NEAR(static_cast<double>(c.platform.ttwu_remote_ns + c.platform.ipi_latency_ns +
                                  c.platform.ipi_handler_ns),
              truth.at("remote_wake"), 0.05 * truth.at("remote_wake"));
  EXPECT_NEAR(static_cast<double>(c.platform.cstates.back().exit_latency_ns),
              truth.at("halt_exit_long"), 0.05 * truth.at("halt_exit_long"));
  EXPECT_EQ(c.platform.calibration["paths"].size(), paths.size());
  for (const auto& [k, src] : c.platform.sources) EXPECT_FALSE(src.empty()) << k;
}

// ------------------------------------------------------------------ the tool

TEST(BenchTool, CompareRunsEndToEnd) {
  REQUIRE_TWO_CPUS();
  const auto dir = std::filesystem::temp_directory_path() / ("fw_cmp_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto prof = dir / "host-test.json";
  Out o = run("calibrate --iterations 600 --out " + prof.string());
  ASSERT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("fitted components"), std::string::npos);
  const auto out = dir / "cmp.json";
  o = run("compare -q --platform " + prof.string() +
          " --set run.duration_ms=100 --set run.warmup_ms=5 --json " + out.string());
  ASSERT_EQ(o.code, 0) << o.text;
  EXPECT_NE(o.text.find("pred p50"), std::string::npos);
  std::ifstream f(out);
  const auto cmp = nlohmann::json::parse(f);
  ASSERT_EQ(cmp["rows"].size(), 3u);
  for (const auto& r : cmp["rows"]) {
    EXPECT_GT(r["measured_p50_us"].get<double>(), 0);
    EXPECT_GT(r["predicted_p50_us"].get<double>(), 0);
  }
  EXPECT_EQ(cmp["measured"]["results"][0]["backend"], "loopback");
  EXPECT_EQ(cmp["predicted"]["results"][0]["backend"], "sim");
  std::filesystem::remove_all(dir);
}

TEST(BenchTool, BadArgumentsExitTwoWithAClearMessage) {
  struct Case {
    std::string args, needle;
  };
  for (const Case& c : std::vector<Case>{
           {"loopback --set host.app_cores=1 --cpus 4096", "no such CPU 4096"},
           {"loopback --set host.app_cores=1 --set workload.threads_per_core=1000", "too many"},
           {"loopback /no/such/config.json", "/no/such/config.json"},
           {"loopback --cpus x", "--cpus"},
           {"frobnicate", "unknown command"},
           {"calibrate --iterations 5", "--iterations"},
           {"compare --platform nope", "nope"},
       }) {
    const Out o = run(c.args);
    EXPECT_EQ(o.code, 2) << c.args << ": " << o.text;
    EXPECT_NE(o.text.find(c.needle), std::string::npos) << c.args << ": " << o.text;
  }
}
