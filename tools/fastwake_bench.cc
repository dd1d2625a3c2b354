// fastwake-bench: run the strategies on real threads (loopback NIC, or a real
// RDMA NIC as replay server + client) and calibrate the model's platform
// profile on this host.
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "compare.h"
#include "fastwake/cli.h"
#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/hw/calibrate.h"
#include "fastwake/hw/linux_cpu.h"
#include "fastwake/hw/runtime.h"
#include "fastwake/hw/soak.h"
#include "fastwake/sim/run_guard.h"
#include "fastwake/sim/fabric_config.h"
#ifdef FW_HAVE_VERBS
#include "fastwake/hw/verbs_replay.h"
#endif

namespace {

constexpr const char* kUsage = R"(usage: fastwake-bench COMMAND [options]

commands:
  loopback [CONFIG.json]   run every strategy of the config on real threads
                           with the loopback NIC (a thread on its own CPU that
                           plays the clients, writes completions into shared
                           memory CQs and "interrupts" through eventfd); same
                           config and result schema as fastwake-sim, backend
                           "loopback"
  calibrate                measure this host's wake-up paths, fit the model's
                           cost parameters (non-negative least squares) and
                           write a platform profile
  compare [CONFIG.json]    predicted (simulator with this host's calibrated
                           profile) vs measured (loopback) on the same config;
                           default config: configs/compare.json. Calibrates
                           right before measuring (a few seconds): wake-up
                           costs on shared/virtual machines drift by tens of
                           percent within minutes
  server [CONFIG.json]     replay on a real RDMA NIC, server side: T threads
                           per app core, one RC connection each, running the
                           strategy each client session asks for
  client SERVER [CONFIG.json]
                           replay client: drives closed-loop ping-pong or
                           Poisson load per connection for every strategy of
                           the config, measures RTT (and RTT/2 like perftest);
                           both sides print the table and write the result
                           schema (backend "verbs")

options (loopback):
  --platform NAME          built-in or calibrated platform profile (power estimate)
  --set PATH=VALUE         override a config value (repeatable), as fastwake-sim
  --cpus A,B,...           CPU of each application core (default: the first usable)
  --nic-cpu N              CPU of the loopback NIC thread (default: next usable)
  --ipi-baseline-ms N      before each strategy, measure the run's CPUs' CAL/RES
                           background for N ms with none of its threads alive
                           (extra.per_request.baseline_ipis_*; default 0: skip)
  --json FILE|-            write the result document (to stdout with '-')
  -q, --quiet              no progress lines
  --force                  run even when the pre-run estimate (memory, a
                           backlog that cannot drain) is over the limits, as
                           fastwake-sim --force (docs/config.md)
  --soak MINUTES           soak: run the strategies round after round for
                           MINUTES (0 < MINUTES <= 1440), check every request
                           was answered exactly once and that RSS and open fds
                           stay flat after a warm-up (rule: docs/hw.md "Soak");
                           prints a per-minute table and a verdict, exit 1 on a
                           lost/duplicated request or a leak; --json writes the
                           samples and the verdict
options (compare): as loopback (but not --soak), plus
  --platform NAME|FILE     use this profile instead of calibrating now
  --recalibrate            (the default; kept for scripts)
  --rounds N               N rounds of (calibrate, measure), interleaved; the
                           table gives each error's mean over the rounds and the
                           half-width of its 95 % t-interval (default 1)
options (server and client; perftest's letters where they fit):
  -d, --device DEV         RDMA device (default: the only one there is)
  -i, --ib-port N          device port (default 1)
  -x, --gid-index N        GID index (RoCE; default: a RoCE v2 IPv4 GID)
  -p, --port N             side-channel TCP port (default 18515)
  -s, --size BYTES         message size (= --set workload.message_bytes=BYTES;
                           at least 16 go on the wire: request id + timestamp)
  --rx-depth N, --tx-depth N   receive buffers / send queue per connection (64)
  --platform, --set, --json, -q   as loopback
options (server only):
  --cpus A,B,...           CPU of each application core (default: the first usable)
  -X, --comp-vector N      create every CQ on completion vector N (default: CQ i
                           on vector i % min(host.vectors, device vectors))
  --irqs A,B,...           IRQ of completion vector 0,1,... (default: found in
                           /proc/interrupts + /sys/class/infiniband/DEV/device/msi_irqs)
  --no-irq-repin           never write /proc/irq/N/smp_affinity_list
  --bind ADDR              side-channel listen address (default: any)
  --forever                keep serving clients (default: exit after a client's last strategy);
                           a failed session is reported and the next client served;
                           --json FILE is rewritten with each client's series as it ends
  --idle-timeout S         give up on a client silent this long, heartbeat included,
                           or not back for its next strategy (default 30)
  -e, --events             accepted for perftest symmetry (the client picks strategies)
options (client only):
  --cpu N                  CPU of the load thread (default: the last usable)
  --strategy A,B,...       strategies to run (= --set strategies=[...])
  -e, --events             only the stock event path (= --strategy interrupt)
  -n, --iters N            measure N requests per strategy instead of run.duration
  --connect-timeout S      wait this long for the server (default 30)

options (calibrate):
  --out FILE               profile to write (default configs/platforms/host-<name>.json)
  --name NAME              profile name (default: host-<hostname>)
  --iterations N           round trips per microbenchmark (default 20000)
  --cpus A,B               the two CPUs to measure on (default: first two usable)

Latency on the loopback is the round trip the NIC thread sees (completion
written -> reply read). Needs app_cores + 1 CPUs. On a real NIC it is the
client's round trip (post send -> reply polled). Timings on a shared or
virtualised machine are that machine's, not bare metal's; Soft-RoCE (rxe)
timings are functional only. Step by step: README "Replay on a real RDMA NIC".
exit status: 0 ok, 2 bad input, 1 run failed (or a request lost/duplicated)
)";

std::vector<int> parse_cpus(const std::string& s, const char* flag) {
  std::vector<int> out;
  std::stringstream in(s);
  std::string tok;
  while (std::getline(in, tok, ',')) {
    try {
      std::size_t used = 0;
      const int v = std::stoi(tok, &used);
      if (used != tok.size() || v < 0) throw std::invalid_argument("x");
      out.push_back(v);
    } catch (...) {
      throw fastwake::ConfigError(std::string(flag) + ": expected CPU numbers like 0,1, got '" + s +
                                  "'");
    }
  }
  if (out.empty()) throw fastwake::ConfigError(std::string(flag) + ": empty CPU list");
  return out;
}

/// Options shared by `loopback` and `compare`.
struct RunArgs {
  std::optional<std::string> config, platform, json_out;
  std::vector<std::string> sets;
  fastwake::hw::HwOptions opt;
  bool quiet = false, force = false;
  int rounds = 1;  // compare: rounds of (calibrate, measure)
  double soak_minutes = 0;  // loopback --soak (0: no soak)
};

RunArgs parse_run_args(const std::vector<std::string>& args, bool compare) {
  RunArgs r;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw fastwake::ConfigError(a + " needs a value");
      return args[++i];
    };
    if (a == "--platform")
      r.platform = value();
    else if (a == "--set")
      r.sets.push_back(value());
    else if (a == "--json")
      r.json_out = value();
    else if (a == "--cpus")
      r.opt.app_cpus = parse_cpus(value(), "--cpus");
    else if (a == "--nic-cpu")
      r.opt.nic_cpu = parse_cpus(value(), "--nic-cpu").at(0);
    else if (a == "--ipi-baseline-ms") {
      const std::string v = value();
      std::size_t used = 0;
      int ms = -1;
      try {
        ms = std::stoi(v, &used);
      } catch (...) {
      }
      if (ms < 0 || used != v.size())
        throw fastwake::ConfigError("--ipi-baseline-ms: expected milliseconds >= 0, got '" + v +
                                    "'");
      r.opt.ipi_baseline_s = ms * 1e-3;
    } else if (a == "-q" || a == "--quiet")
      r.quiet = true;
    else if (a == "--force")
      r.force = true;
    else if (!compare && a == "--soak") {
      const std::string v = value();
      std::size_t used = 0;
      double m = -1;
      try {
        m = std::stod(v, &used);
      } catch (...) {
      }
      if (!(m > 0 && m <= 1440) || used != v.size())
        throw fastwake::ConfigError("--soak: expected minutes in (0, 1440], got '" + v + "'");
      r.soak_minutes = m;
    } else if (compare && a == "--recalibrate") {
    }  // the default; accepted for scripts
    else if (compare && a == "--rounds") {
      const std::string v = value();
      try {
        std::size_t used = 0;
        r.rounds = std::stoi(v, &used);
        if (used != v.size()) throw std::invalid_argument("x");
      } catch (...) {
        r.rounds = 0;
      }
      if (r.rounds < 1 || r.rounds > 100)
        throw fastwake::ConfigError("--rounds: expected a whole number 1..100, got '" + v + "'");
    }
    else if (!a.empty() && a[0] == '-')
      throw fastwake::ConfigError("unknown option " + a);
    else if (!r.config)
      r.config = a;
    else
      throw fastwake::ConfigError("more than one config file given");
  }
  return r;
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

int cmd_loopback(const std::vector<std::string>& args) {
  const RunArgs r = parse_run_args(args, false);
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

int cmd_compare(const std::vector<std::string>& args) {
  const RunArgs r = parse_run_args(args, true);
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

int cmd_calibrate(const std::vector<std::string>& args) {
  fastwake::hw::CalibrateOptions opt;
  opt.source_dir = FW_SOURCE_DIR;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw fastwake::ConfigError(a + " needs a value");
      return args[++i];
    };
    if (a == "--out")
      opt.out = value();
    else if (a == "--name")
      opt.name = value();
    else if (a == "--iterations") {
      const std::string v = value();
      try {
        opt.iterations = std::stoi(v);
      } catch (...) {
        throw fastwake::ConfigError("--iterations: expected a positive integer, got '" + v + "'");
      }
      if (opt.iterations < 100) throw fastwake::ConfigError("--iterations: at least 100");
    } else if (a == "--cpus") {
      opt.cpus = parse_cpus(value(), "--cpus");
      if (opt.cpus.size() != 2) throw fastwake::ConfigError("--cpus: give exactly two CPUs");
    } else {
      throw fastwake::ConfigError("unknown option " + a);
    }
  }
  const auto report = fastwake::hw::calibrate(opt, &std::cerr);
  std::cout << report.summary;
  std::cout << "wrote " << report.path << "\n";
  return 0;
}

#ifdef FW_HAVE_VERBS
int parse_int_arg(const std::string& v, const std::string& flag, long min, long max) {
  try {
    std::size_t used = 0;
    const long x = std::stol(v, &used);
    if (used != v.size() || x < min || x > max) throw std::invalid_argument("x");
    return static_cast<int>(x);
  } catch (...) {
    throw fastwake::ConfigError(flag + ": expected an integer in " + std::to_string(min) + ".." +
                                std::to_string(max) + ", got '" + v + "'");
  }
}

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

/// Options both sides share; returns true if `a` was one of them.
bool common_verbs_option(const std::string& a, const std::function<std::string()>& value,
                         fastwake::hw::VerbsDeviceOptions& dev, int& port, int& rx, int& tx,
                         std::vector<std::string>& sets, std::optional<std::string>& platform,
                         std::optional<std::string>& json_out, bool& quiet) {
  if (a == "-d" || a == "--device" || a == "--ib-dev")
    dev.device = value();
  else if (a == "-i" || a == "--ib-port")
    dev.ib_port = parse_int_arg(value(), a, 1, 255);
  else if (a == "-x" || a == "--gid-index")
    dev.gid_index = parse_int_arg(value(), a, 0, 65535);
  else if (a == "-p" || a == "--port")
    port = parse_int_arg(value(), a, 1, 65535);
  else if (a == "-s" || a == "--size")
    sets.push_back("workload.message_bytes=" +
                   std::to_string(parse_int_arg(value(), a, 1, 1 << 20)));
  else if (a == "--rx-depth")
    rx = parse_int_arg(value(), a, 2, 8192);
  else if (a == "--tx-depth")
    tx = parse_int_arg(value(), a, 32, 8192);
  else if (a == "--platform")
    platform = value();
  else if (a == "--set")
    sets.push_back(value());
  else if (a == "--json")
    json_out = value();
  else if (a == "-q" || a == "--quiet")
    quiet = true;
  else
    return false;
  return true;
}
#endif

int cmd_server(const std::vector<std::string>& args) {
#ifndef FW_HAVE_VERBS
  (void)args;
  throw fastwake::DeviceError(
      "server: this fastwake-bench was built without libibverbs (install libibverbs-dev, rebuild)");
#else
  std::optional<std::string> config, platform, json_out;
  std::vector<std::string> sets;
  fastwake::hw::ReplayServerOptions o;
  bool quiet = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const std::function<std::string()> value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw fastwake::ConfigError(a + " needs a value");
      return args[++i];
    };
    if (common_verbs_option(a, value, o.dev, o.port, o.nic.rx_depth, o.nic.tx_depth, sets, platform,
                            json_out, quiet))
      continue;
    if (a == "--cpus")
      o.app_cpus = parse_cpus(value(), "--cpus");
    else if (a == "-X" || a == "--comp-vector")
      o.nic.comp_vector = parse_int_arg(value(), a, 0, 4095);
    else if (a == "--irqs")
      o.nic.irqs = parse_cpus(value(), "--irqs");
    else if (a == "--no-irq-repin")
      o.nic.repin_irqs = false;
    else if (a == "--bind")
      o.bind = value();
    else if (a == "--forever")
      o.forever = true;
    else if (a == "--idle-timeout")
      o.idle_timeout_s = parse_int_arg(value(), a, 1, 86400);
    else if (a == "-e" || a == "--events") {
    } else if (!a.empty() && a[0] == '-')
      throw fastwake::ConfigError("unknown option " + a);
    else if (!config)
      config = a;
    else
      throw fastwake::ConfigError("more than one config file given");
  }
  const fastwake::Config cfg =
      fastwake::sim::load_config(fastwake::compose_config(config, platform, sets));
  if (o.forever && json_out)
    o.on_series = [&json_out](const nlohmann::json& d) {
      if (*json_out == "-")
        std::cout << d.dump() << std::endl;  // one document per line
      else
        fastwake::write_file_atomic(*json_out, d.dump(2) + "\n");
    };
  nlohmann::json partial;
  try {
    emit_verbs(fastwake::hw::run_verbs_server(cfg, o, quiet ? nullptr : &std::cerr, &partial),
               json_out);
  } catch (const std::exception&) {
    emit_partial(partial, json_out);  // the sessions that finished, whole
    throw;
  }
  return 0;
#endif
}

int cmd_client(const std::vector<std::string>& args) {
#ifndef FW_HAVE_VERBS
  (void)args;
  throw fastwake::DeviceError(
      "client: this fastwake-bench was built without libibverbs (install libibverbs-dev, rebuild)");
#else
  std::optional<std::string> config, platform, json_out, strategies;
  std::vector<std::string> sets;
  fastwake::hw::ReplayClientOptions o;
  bool quiet = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const std::function<std::string()> value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw fastwake::ConfigError(a + " needs a value");
      return args[++i];
    };
    if (common_verbs_option(a, value, o.dev, o.port, o.rx_depth, o.tx_depth, sets, platform,
                            json_out, quiet))
      continue;
    if (a == "--cpu")
      o.cpu = parse_cpus(value(), "--cpu").at(0);
    else if (a == "-n" || a == "--iters")
      o.iterations = parse_int_arg(value(), a, 1, 2'000'000'000);
    else if (a == "-e" || a == "--events")
      strategies = "interrupt";
    else if (a == "--strategy")
      strategies = value();
    else if (a == "--connect-timeout")
      o.connect_timeout_s = parse_int_arg(value(), a, 1, 86400);
    else if (!a.empty() && a[0] == '-')
      throw fastwake::ConfigError("unknown option " + a);
    else if (o.server.empty())
      o.server = a;
    else if (!config)
      config = a;
    else
      throw fastwake::ConfigError("more than one config file given");
  }
  if (o.server.empty())
    throw fastwake::ConfigError(
        "client: give the server's address: fastwake-bench client SERVER [CONFIG.json]");
  if (strategies) {
    nlohmann::json list = nlohmann::json::array();
    std::stringstream in(*strategies);
    std::string tok;
    while (std::getline(in, tok, ',')) list.push_back(tok);
    sets.push_back("strategies=" + list.dump());
  }
  const fastwake::Config cfg =
      fastwake::sim::load_config(fastwake::compose_config(config, platform, sets));
  nlohmann::json partial;
  try {
    emit_verbs(fastwake::hw::run_verbs_client(cfg, o, quiet ? nullptr : &std::cerr, &partial),
               json_out);
  } catch (const std::exception&) {
    emit_partial(partial, json_out);  // the strategies that finished, whole
    throw;
  }
  return 0;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.empty() || args[0] == "-h" || args[0] == "--help") {
      std::cout << kUsage;
      return args.empty() ? 2 : 0;
    }
    const std::string cmd = args[0];
    args.erase(args.begin());
    for (const auto& a : args)
      if (a == "-h" || a == "--help") {
        std::cout << kUsage;
        return 0;
      }
    if (cmd == "loopback") return cmd_loopback(args);
    if (cmd == "calibrate") return cmd_calibrate(args);
    if (cmd == "compare") return cmd_compare(args);
    if (cmd == "server") return cmd_server(args);
    if (cmd == "client") return cmd_client(args);
    throw fastwake::ConfigError("unknown command '" + cmd +
                                "' (loopback, calibrate, compare, server, client)");
  } catch (const fastwake::ConfigError& e) {
    std::cerr << "fastwake-bench: " << e.what() << "\n";
    return 2;
  } catch (const fastwake::DeviceError& e) {
    std::cerr << "fastwake-bench: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "fastwake-bench: error: " << e.what() << "\n";
    return 1;
  }
}
