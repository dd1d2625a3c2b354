// fastwake-sim: run the host model on a config and print/write the results.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fastwake/cli.h"
#include "fastwake/cli_app.h"
#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/sim/bench.h"
#include "fastwake/version.h"
#include "fastwake/sim/fabric_config.h"
#include "fastwake/sim/run_guard.h"
#include "fastwake/sim/simulate.h"

namespace {

constexpr const char* kDescription = R"(Simulates a server host answering RDMA requests with each strategy of the
config (busy_poll, fastwake_poll, fastwake_irq, the ablations, interrupt) and
prints p50/p99 latency, throughput, CPU utilisation, power and energy per
request. Without CONFIG it runs the embedded paper-style scenario (a 16-core
server, 16 driver-placed vectors, 8 threads on each of 4 app cores,
closed-loop ping-pong, every strategy).
Options take their value as "--opt VALUE" or "--opt=VALUE".)";

constexpr const char* kFooter = R"(Latency is the client-observed round trip (send to reply), in microseconds;
"p50 vs irq" is the signed change of p50 against the interrupt strategy,
(p50 - p50_interrupt) / p50_interrupt: negative = faster. Power figures are
model estimates (platform profile x time per core state).)";

struct Args {
  std::optional<std::string> config;
  std::optional<std::string> platform;
  std::vector<std::string> sets;
  std::optional<std::string> json_out;
  bool print_config = false, list = false, bench = false, quiet = false, force = false;
  int bench_reps = 3;
  bool vs_simgrid = false;
};

/// The command line (cli_app.h): every option as --opt VALUE or --opt=VALUE.
void define_options(CLI::App& app, Args& a) {
  app.add_option("config", a.config, "config file (JSON; default: the embedded scenario)")
      ->type_name("CONFIG.json");
  app.add_option("--platform", a.platform, "use a built-in platform profile (x86, arm)")
      ->type_name("NAME");
  app.add_option("--set", a.sets,
                 "override one config value before validation, e.g.\n"
                 "--set workload.threads_per_core=16\n"
                 "--set platform.params.hardirq_ns=900\n"
                 "--set strategies='[\"interrupt\",\"fastwake_irq\"]'\n"
                 "(repeatable; VALUE is JSON, or a plain string)")
      ->type_name("PATH=VALUE")
      ->allow_extra_args(false);
  app.add_option("--json", a.json_out,
                 "write the result document (DESIGN.md schema) to FILE, or to stdout with '-' "
                 "(the table then goes to stderr)")
      ->type_name("FILE|-");
  app.add_flag("--print-config", a.print_config, "print the resolved config as JSON and exit");
  app.add_flag("--force", a.force,
               "run even when the pre-run estimate (events, memory, an open-loop backlog) is "
               "over the limits (docs/config.md)");
  app.add_flag("--list", a.list, "list strategies and platforms and exit");
  app.add_flag("--bench", a.bench,
               "model speed benchmark: model events/s, simulated requests/s (per CPU second) and "
               "peak RSS of each strategy at 1 x 64, 16 x 16, 1 x 1024 and 64 x 256 cores x "
               "threads per core (the config's platform, workload and duration; each run in a "
               "child process), and whether the targets (>= 1e7 events/s, >= 1e6 requests/s) "
               "are met");
  fastwake::cli::add_int(app, "--bench-reps", a.bench_reps, 1, 1000,
                         "repetitions per bench point, median kept (default 3)");
  app.add_flag("--vs-simgrid", a.vs_simgrid,
               "with --bench: instead, the same busy-poll ping-pong (1 and 64 independent pairs, "
               "the platform's link latency and rate, 64 B, CM02) as SimGrid S4U actors and on "
               "our model (busy_poll; interrupt for reference); prints round trips per CPU "
               "second and the ratio (target >= 25x). Needs a build with SimGrid")
      ->needs("--bench");
  app.add_flag("-q,--quiet", a.quiet, "no progress lines");
}

std::string fmt(double v, int prec) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(prec) << v;
  return o.str();
}

int run(const Args& a) {
  if (a.list) {
    std::cout << "strategies:\n";
    for (const auto& s : fastwake::strategies())
      std::cout << "  " << std::left << std::setw(28) << s.name << s.description << "\n";
    std::cout << "platforms:\n";
    for (const auto& p : fastwake::builtin_platforms()) std::cout << "  " << p << "\n";
    return 0;
  }
  const fastwake::Config cfg =
      fastwake::sim::load_config(fastwake::compose_config(a.config, a.platform, a.sets));

  if (a.print_config) {
    std::cout << fastwake::to_json(cfg).dump(2) << "\n";
    return 0;
  }
  if (a.bench && a.vs_simgrid) {
    std::cout << "fastwake-sim --bench --vs-simgrid: platform " << cfg.platform.name << ", link "
              << cfg.platform.link_latency_ns << " ns one way, " << cfg.platform.link_gbps
              << " Gb/s, 64 B, no think or service time; ours " << cfg.run.duration_ns / 1e6
              << " ms simulated; " << a.bench_reps << " reps (median); rates per CPU second\n";
    const auto rows = fastwake::sim::run_bench_vs_simgrid(
        cfg, {1, 64}, {"busy_poll", "interrupt"}, a.bench_reps, a.quiet ? nullptr : &std::cerr);
    std::cout << std::right << std::setw(6) << "pairs" << "  " << std::left << std::setw(12)
              << "ours" << std::right << std::setw(16) << "SimGrid rt/s" << std::setw(14)
              << "ours rt/s" << std::setw(14) << "ours ev/s" << std::setw(9) << "ratio"
              << "  target (" << fastwake::sim::kPeerTargetRatio << "x)\n";
    int missed = 0;
    for (const auto& r : rows) {
      const bool ok = r.ratio >= fastwake::sim::kPeerTargetRatio;
      missed += r.strategy == "busy_poll" && !ok;
      std::cout << std::right << std::setw(6) << r.pairs << "  " << std::left << std::setw(12)
                << r.strategy << std::right << std::setw(16) << fmt(r.simgrid_rt_per_s, 0)
                << std::setw(14) << fmt(r.ours_rt_per_s, 0) << std::setw(14)
                << fmt(r.ours_events_per_s, 0) << std::setw(8) << fmt(r.ratio, 1) << "x  "
                << (r.strategy == "busy_poll" ? (ok ? "met" : "MISSED") : "(reference)") << "\n";
    }
    std::cout << (missed ? std::to_string(missed) + " target(s) missed\n"
                         : std::string("all targets met\n"));
    return 0;
  }
  if (a.bench) {
    std::cout << "fastwake-sim --bench: platform " << cfg.platform.name << ", workload "
              << fastwake::load_kind_name(cfg.workload.kind) << ", " << cfg.run.duration_ns / 1e6
              << " ms simulated, " << a.bench_reps << " reps (median)\n";
    const auto rows =
        fastwake::sim::run_bench(cfg, cfg.strategies, a.bench_reps, a.quiet ? nullptr : &std::cerr);
    std::cout << std::left << std::setw(24) << "scenario" << std::setw(28) << "strategy"
              << std::right << std::setw(12) << "M events/s" << std::setw(14) << "k requests/s"
              << std::setw(11) << "requests" << std::setw(9) << "cpu s" << std::setw(10)
              << "RSS MiB"
              << "  targets (1e7 ev/s, 1e6 req/s)\n";
    int missed = 0;
    for (const auto& r : rows) {
      const bool ev = r.events_per_s >= 1e7, rq = r.requests_per_s >= 1e6;
      missed += !ev + !rq;
      std::cout << std::left << std::setw(24) << r.scenario << std::setw(28) << r.strategy
                << std::right << std::setw(12) << fmt(r.events_per_s / 1e6, 2) << std::setw(14)
                << fmt(r.requests_per_s / 1e3, 1) << std::setw(11) << r.requests << std::setw(9)
                << fmt(r.cpu_s, 3) << std::setw(10) << fmt(r.peak_rss_mib, 1) << "  "
                << (ev ? "events met" : "events MISSED") << ", "
                << (rq ? "requests met" : "requests MISSED") << "\n";
    }
    std::cout << (missed ? std::to_string(missed) + " target(s) missed\n"
                         : std::string("all targets met\n"));
    return 0;
  }

  // Refuses, with the estimate, a run that cannot drain or is too large.
  fastwake::sim::check_run(cfg, a.force);
  nlohmann::json out;
  out["schema"] = "fastwake-result/1";
  out["meta"] = fastwake::result_meta("fastwake-sim");
  out["config"] = fastwake::to_json(cfg);
  out["results"] = nlohmann::json::array();
  int i = 0;
  for (const auto& name : cfg.strategies) {
    ++i;
    const auto run = fastwake::sim::simulate(cfg, fastwake::find_strategy(name));
    if (!a.quiet)
      std::cerr << "[" << i << "/" << cfg.strategies.size() << "] " << name << ": "
                << run.result.requests << " requests, " << fmt(run.wall_s, 2) << " s\n";
    out["results"].push_back(run.result.to_json());
  }
  const bool json_stdout = a.json_out && *a.json_out == "-";
  fastwake::print_result_table(out, json_stdout ? std::cerr : std::cout);
  if (json_stdout) {
    std::cout << out.dump(2) << "\n";
  } else if (a.json_out) {
    fastwake::write_file_atomic(*a.json_out, out.dump(2) + "\n");
    std::cout << "wrote " << *a.json_out << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app(kDescription, "fastwake-sim");
  fastwake::cli::setup_app(app, "fastwake-sim", kFooter);
  define_options(app, a);
  return fastwake::cli::run(app, "fastwake-sim", argc, argv, [&] { return run(a); });
}
