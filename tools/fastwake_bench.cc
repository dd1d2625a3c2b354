// fastwake-bench: run the strategies on real threads (loopback NIC, or a real
// RDMA NIC as replay server + client) and calibrate the model's platform
// profile on this host. Command line: CLI11 through core's cli_app.h (every
// option also as --opt=value, per-command --help, --version, exit statuses
// 0 ok / 1 run failed / 2 bad input).
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "compare.h"
#include "fastwake/cli.h"
#include "fastwake/cli_app.h"
#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/version.h"
#include "fastwake/hw/calibrate.h"
#include "fastwake/paths.h"
#include "fastwake/hw/linux_cpu.h"
#include "fastwake/hw/runtime.h"
#include "fastwake/hw/soak.h"
#include "fastwake/sim/run_guard.h"
#include "fastwake/sim/fabric_config.h"
#ifdef FW_HAVE_VERBS
#include "fastwake/hw/verbs_replay.h"
#endif
#include "replay_args.h"

namespace {

constexpr const char* kTool = "fastwake-bench";

constexpr const char* kDescription = R"(Runs the strategies on real threads and calibrates the model on this host.
Every option takes its value as "--opt VALUE" or "--opt=VALUE"; each
command has its own --help (fastwake-bench loopback --help).)";

constexpr const char* kFooter = R"(Latency on the loopback is the round trip the NIC thread sees (completion
written -> reply read). Needs app_cores + 1 CPUs. On a real NIC it is the
client's round trip (post send -> reply polled). Latency in microseconds;
"p50 vs irq" is the signed change against the interrupt strategy (negative =
faster); compare's "err" is the model error (model - measured) / measured
(+34% = the model predicts higher). Timings on a shared or virtualised
machine are that machine's, not bare metal's; Soft-RoCE (rxe) timings are
functional only. Step by step: README "Replay on a real RDMA NIC".
CPU lists take the kernel's cpulist syntax: 0,2-5,7.)";

/// Options shared by `loopback` and `compare`.
struct RunArgs {
  std::optional<std::string> config, platform, json_out;
  std::vector<std::string> sets;
  fastwake::hw::HwOptions opt;
  bool quiet = false, force = false, recalibrate = false;
  int rounds = 1;  // compare: rounds of (calibrate, measure)
  double soak_minutes = 0;  // loopback --soak (0: no soak)
  double ipi_baseline_ms = 0;
};

void add_run_options(CLI::App& sub, RunArgs& r, bool compare) {
  sub.add_option("config", r.config,
                 compare ? "config file (default: configs/compare.json)"
                         : "config file (default: the embedded scenario)")
      ->type_name("CONFIG.json");
  sub.add_option("--platform", r.platform,
                 compare ? "use this platform profile (built-in name or calibrated file) for the "
                           "prediction instead of calibrating now"
                         : "built-in or calibrated platform profile (power estimate)")
      ->type_name(compare ? "NAME|FILE" : "NAME");
  sub.add_option("--set", r.sets, "override a config value (repeatable), as fastwake-sim")
      ->type_name("PATH=VALUE")
      ->allow_extra_args(false);
  fastwake::cli::add_cpu_list(sub, "--cpus", r.opt.app_cpus,
                              "CPU of each application core, e.g. 2,3 or 2-5 (default: the first "
                              "usable)");
  fastwake::cli::add_cpu(sub, "--nic-cpu", r.opt.nic_cpu,
                         "CPU of the loopback NIC thread (default: next usable)");
  fastwake::cli::add_double(sub, "--ipi-baseline-ms", r.ipi_baseline_ms, 0, 3.6e6, false,
                            "milliseconds >= 0",
                            "before each strategy, measure the run's CPUs' CAL/RES background "
                            "for N ms with none of its threads alive "
                            "(extra.per_request.baseline_ipis_*; default 0: skip)")
      ->type_name("N");
  sub.add_option("--json", r.json_out, "write the result document (to stdout with '-')")
      ->type_name("FILE|-");
  sub.add_flag("-q,--quiet", r.quiet, "no progress lines");
  sub.add_flag("--force", r.force,
               "run even when the pre-run estimate (memory, a backlog that cannot drain) is over "
               "the limits, as fastwake-sim --force (docs/config.md)");
  if (compare) {
    sub.add_flag("--recalibrate", r.recalibrate, "(the default; kept for scripts)");
    fastwake::cli::add_int(sub, "--rounds", r.rounds, 1, 100,
                           "N rounds of (calibrate, measure), interleaved; the table gives each "
                           "error's mean over the rounds and the half-width of its 95 % "
                           "t-interval (default 1)");
  } else {
    fastwake::cli::add_double(sub, "--soak", r.soak_minutes, 0, 1440, true, "minutes in (0, 1440]",
                              "soak: run the strategies round after round for MINUTES, check "
                              "every request was answered exactly once and that RSS and open fds "
                              "stay flat after a warm-up (rule: docs/hw.md \"Soak\"); prints a "
                              "per-minute table and a verdict, exit 1 on a lost/duplicated "
                              "request or a leak; --json writes the samples and the verdict")
        ->type_name("MINUTES");
  }
}

/// Prints the table (to stderr when the JSON goes to stdout) and writes the JSON.
template <class PrintTable>
void emit(const nlohmann::json& doc, const std::optional<std::string>& json_out, PrintTable table) {
  const bool json_stdout = json_out && *json_out == "-";
  table(doc, json_stdout ? std::cerr : std::cout);
  if (json_stdout) {
    std::cout << doc.dump(2) << "\n";
  } else if (json_out) {
    fastwake::write_file_atomic(*json_out, doc.dump(2) + "\n");
    std::cout << "wrote " << *json_out << "\n";
  }
}

int cmd_loopback(const RunArgs& r) {
  const fastwake::Config cfg =
      fastwake::sim::load_config(fastwake::compose_config(r.config, r.platform, r.sets));
  // The simulator's pre-run guard: a config whose backlog cannot drain or whose
  // histograms would not fit is refused before any thread starts.
  fastwake::sim::check_run(cfg, r.force);
  if (r.soak_minutes > 0) {
    fastwake::hw::SoakOptions so;
    so.minutes = r.soak_minutes;
    so.progress = r.quiet ? nullptr : &std::cerr;
    const auto doc = fastwake::hw::run_loopback_soak(cfg, r.opt, so);
    emit(doc, r.json_out, fastwake::hw::print_soak_table);
    return doc["verdict"]["ok"].get<bool>() ? 0 : 1;
  }
  const auto doc = fastwake::hw::run_loopback_all(cfg, r.opt, r.quiet ? nullptr : &std::cerr);
  emit(doc, r.json_out, fastwake::print_result_table);
  return 0;
}

int cmd_compare(const RunArgs& r) {
  // --platform names the profile of the prediction here, not the run's.
  nlohmann::json doc =
      r.config ? fastwake::load_json_file(*r.config) : fastwake::bundled_config("compare");
  for (const auto& s : r.sets) fastwake::apply_set(doc, s);
  const fastwake::Config cfg = fastwake::sim::load_config(doc);
  fastwake::sim::check_run(cfg, r.force);  // compare simulates the config too
  // Rounds alternate calibration and measurement (A B A B ...), so the
  // drift of a shared machine shows as the spread of the error, not as bias.
  std::vector<nlohmann::json> rounds;
  for (int k = 0; k < r.rounds; ++k) {
    if (!r.quiet && r.rounds > 1)
      std::cerr << "compare: round " << k + 1 << "/" << r.rounds << "\n";
    nlohmann::json profile;
    if (r.platform) {
      profile = fastwake::builtin_platform(*r.platform);
    } else {
      // Calibrate right before measuring: wake-up costs drift on shared VMs.
      fastwake::hw::CalibrateOptions copt;
      copt.source_dir = FW_SOURCE_DIR;
      // The profile is used in memory; its copy goes to the user's cache,
      // not the source tree (only `calibrate` writes configs/platforms/).
      copt.out_dir = fastwake::user_cache_dir() + "/platforms";
      if (!r.quiet) std::cerr << "compare: calibrating this host first (a few seconds)\n";
      const auto rep = fastwake::hw::calibrate(copt, r.quiet ? nullptr : &std::cerr);
      if (!r.quiet) std::cerr << rep.summary << "wrote " << rep.path << "\n";
      profile = rep.profile;
    }
    rounds.push_back(
        fastwake::tools::run_compare(cfg, profile, r.opt, r.quiet ? nullptr : &std::cerr));
  }
  const auto cmp = fastwake::tools::combine_rounds(rounds);
  emit(cmp, r.json_out, fastwake::tools::print_compare_table);
  return 0;
}

void add_calibrate_options(CLI::App& sub, fastwake::hw::CalibrateOptions& opt) {
  sub.add_option("--out", opt.out,
                 "profile to write (default configs/platforms/host-<name>.json)")
      ->type_name("FILE");
  sub.add_option("--name", opt.name, "profile name (default: host-<hostname>)")->type_name("NAME");
  fastwake::cli::add_int(sub, "--iterations", opt.iterations, 100, 1'000'000'000,
                         "round trips per microbenchmark (at least 100; default 20000)");
  fastwake::cli::add_cpu_list(sub, "--cpus", opt.cpus,
                              "the two CPUs to measure on, e.g. 2,3 (default: first two usable)");
}

int cmd_calibrate(fastwake::hw::CalibrateOptions opt) {
  if (!opt.cpus.empty() && opt.cpus.size() != 2)
    throw fastwake::ConfigError("--cpus: give exactly two CPUs, got " +
                                std::to_string(opt.cpus.size()));
  opt.source_dir = FW_SOURCE_DIR;
  const auto report = fastwake::hw::calibrate(opt, &std::cerr);
  std::cout << report.summary;
  std::cout << "wrote " << report.path << "\n";
  return 0;
}

#ifdef FW_HAVE_VERBS
static_assert(fastwake::hw::kReplayPort == fastwake::tools::kDefaultReplayPort);

/// Writes/prints a verbs result document like the loopback's.
void emit_verbs(const nlohmann::json& doc, const std::optional<std::string>& json_out) {
  emit(doc, json_out, [](const nlohmann::json& d, std::ostream& table) {
    if (d["results"].empty()) return;
    fastwake::print_result_table(d, table);
    fastwake::hw::print_verbs_summary(d, table);
  });
}

/// After a failed replay run: writes the strategies that finished (if any) to
/// --json FILE, never to stdout (a partial document there would pass for a
/// whole run); a failure to write is reported, the run's own error wins.
void emit_partial(const nlohmann::json& partial, const std::optional<std::string>& json_out) {
  if (!json_out || *json_out == "-" || !partial.is_object() || !partial.contains("results") ||
      partial["results"].empty())
    return;
  try {
    fastwake::write_file_atomic(*json_out, partial.dump(2) + "\n");
    std::cerr << "fastwake-bench: wrote the " << partial["results"].size()
              << " strategies that finished to " << *json_out << "\n";
  } catch (const std::exception& e) {
    std::cerr << "fastwake-bench: " << e.what() << "\n";
  }
}

#endif

/// The notes of accepted-and-ignored perftest letters; --print-config's document.
bool replay_preamble(const fastwake::tools::ReplayArgs& a, const fastwake::Config& cfg) {
  if (!a.quiet)
    for (const auto& n : a.notes) std::cerr << "note: " << n << "\n";
  if (!a.print_config) return false;
  std::cout << "{\"config\": " << fastwake::to_json(cfg).dump(2)
            << ",\n\"replay\": " << fastwake::tools::replay_args_json(a) << "}\n";
  return true;
}

int cmd_server(fastwake::tools::ReplayArgs a) {
  fastwake::tools::finish_replay_args(a);
  const fastwake::Config cfg =
      fastwake::sim::load_config(fastwake::compose_config(a.config, a.platform, a.sets));
  if (replay_preamble(a, cfg)) return 0;
#ifndef FW_HAVE_VERBS
  throw fastwake::DeviceError(
      "server: this fastwake-bench was built without libibverbs (install libibverbs-dev, rebuild)");
#else
  fastwake::hw::ReplayServerOptions o;
  o.dev = {a.device, a.ib_port, a.gid_index};
  o.port = a.port;
  o.nic.rx_depth = a.rx_depth;
  o.nic.tx_depth = a.tx_depth;
  o.nic.comp_vector = a.comp_vector;
  o.nic.irqs = a.irqs;
  o.nic.repin_irqs = !a.no_irq_repin;
  o.app_cpus = a.app_cpus;
  o.bind = a.bind;
  o.forever = a.forever;
  o.idle_timeout_s = a.idle_timeout_s;
  const auto& json_out = a.json_out;
  if (o.forever && json_out)
    o.on_series = [&json_out](const nlohmann::json& d) {
      if (*json_out == "-")
        std::cout << d.dump() << std::endl;  // one document per line
      else
        fastwake::write_file_atomic(*json_out, d.dump(2) + "\n");
    };
  nlohmann::json partial;
  try {
    emit_verbs(fastwake::hw::run_verbs_server(cfg, o, a.quiet ? nullptr : &std::cerr, &partial),
               json_out);
  } catch (const std::exception&) {
    emit_partial(partial, json_out);  // the sessions that finished, whole
    throw;
  }
  return 0;
#endif
}

int cmd_client(fastwake::tools::ReplayArgs a) {
  fastwake::tools::finish_replay_args(a);
  const fastwake::Config cfg =
      fastwake::sim::load_config(fastwake::compose_config(a.config, a.platform, a.sets));
  if (replay_preamble(a, cfg)) return 0;
#ifndef FW_HAVE_VERBS
  throw fastwake::DeviceError(
      "client: this fastwake-bench was built without libibverbs (install libibverbs-dev, rebuild)");
#else
  fastwake::hw::ReplayClientOptions o;
  o.dev = {a.device, a.ib_port, a.gid_index};
  o.server = a.server;
  o.port = a.port;
  o.cpu = a.cpu;
  o.iterations = a.iters;
  o.connect_timeout_s = a.connect_timeout_s;
  o.rx_depth = a.rx_depth;
  o.tx_depth = a.tx_depth;
  nlohmann::json partial;
  try {
    emit_verbs(fastwake::hw::run_verbs_client(cfg, o, a.quiet ? nullptr : &std::cerr, &partial),
               a.json_out);
  } catch (const std::exception&) {
    emit_partial(partial, a.json_out);  // the strategies that finished, whole
    throw;
  }
  return 0;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(kDescription, kTool);
  fastwake::cli::setup_app(app, kTool, kFooter);
  app.require_subcommand(1);
  auto sub = [&](const char* name, const char* help) {
    CLI::App* s = app.add_subcommand(name, help);
    fastwake::cli::setup_subcommand(*s, kTool, kFooter);
    return s;
  };
  RunArgs loop, cmp;
  fastwake::hw::CalibrateOptions cal;
  fastwake::tools::ReplayArgs srv, cli;
  CLI::App* s_loop = sub("loopback",
                         "run every strategy of the config on real threads with the loopback NIC "
                         "(a thread on its own CPU that plays the clients, writes completions "
                         "into shared memory CQs and \"interrupts\" through eventfd); same config "
                         "and result schema as fastwake-sim, backend \"loopback\"");
  add_run_options(*s_loop, loop, false);
  CLI::App* s_cal = sub("calibrate",
                        "measure this host's wake-up paths, fit the model's cost parameters "
                        "(non-negative least squares) and write a platform profile");
  add_calibrate_options(*s_cal, cal);
  CLI::App* s_cmp = sub("compare",
                        "predicted (simulator with this host's calibrated profile) vs measured "
                        "(loopback) on the same config; default config: configs/compare.json. "
                        "Calibrates right before measuring (a few seconds): wake-up costs on "
                        "shared/virtual machines drift by tens of percent within minutes");
  add_run_options(*s_cmp, cmp, true);
  CLI::App* s_srv = sub("server",
                        "replay on a real RDMA NIC, server side: T threads per app core, one RC "
                        "connection each, running the strategy each client session asks for "
                        "(perftest's letters where they fit)");
  fastwake::tools::add_replay_options(*s_srv, srv, fastwake::tools::ReplaySide::kServer);
  CLI::App* s_cli = sub("client",
                        "replay client: drives closed-loop ping-pong or Poisson load per "
                        "connection for every strategy of the config, measures RTT and prints "
                        "perftest's columns (t_min ... 99.9%, of RTT/2 as ib_send_lat) beside "
                        "it; both sides print the table and write the result schema (backend "
                        "\"verbs\")");
  fastwake::tools::add_replay_options(*s_cli, cli, fastwake::tools::ReplaySide::kClient);
  for (CLI::App* s : {s_srv, s_cli})  // perftest's -V too
    s->set_version_flag("-V,--version", fastwake::version_line(kTool),
                        "print the version and the build's commit (perftest -V)");
  if (argc < 2) {  // no command: the overview, as a usage error
    fastwake::cli::wrap_descriptions(app);
    std::cerr << app.help();
    return fastwake::cli::kExitBadInput;
  }
  return fastwake::cli::run(app, kTool, argc, argv, [&]() -> int {
    loop.opt.ipi_baseline_s = loop.ipi_baseline_ms * 1e-3;
    cmp.opt.ipi_baseline_s = cmp.ipi_baseline_ms * 1e-3;
    if (s_loop->parsed()) return cmd_loopback(loop);
    if (s_cal->parsed()) return cmd_calibrate(cal);
    if (s_cmp->parsed()) return cmd_compare(cmp);
    if (s_srv->parsed()) return cmd_server(srv);
    if (s_cli->parsed()) return cmd_client(cli);
    throw fastwake::ConfigError("give a command: loopback, calibrate, compare, server, client");
  });
}
