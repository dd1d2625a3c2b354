// fastwake-bench: run the strategies on real threads (loopback NIC) and
// calibrate the model's platform profile on this host.
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fastwake/cli.h"
#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/hw/calibrate.h"
#include "fastwake/hw/linux_cpu.h"
#include "fastwake/hw/runtime.h"
#include "compare.h"

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
                           first if this host has no profile yet

options (loopback):
  --platform NAME          built-in or calibrated platform profile (power estimate)
  --set PATH=VALUE         override a config value (repeatable), as fastwake-sim
  --cpus A,B,...           CPU of each application core (default: the first usable)
  --nic-cpu N              CPU of the loopback NIC thread (default: next usable)
  --json FILE|-            write the result document (to stdout with '-')
  -q, --quiet              no progress lines
options (compare): as loopback, plus
  --platform NAME|FILE     calibrated profile for the prediction
                           (default configs/platforms/host-<hostname>.json)
  --recalibrate            calibrate again before comparing
options (calibrate):
  --out FILE               profile to write (default configs/platforms/host-<name>.json)
  --name NAME              profile name (default: host-<hostname>)
  --iterations N           round trips per microbenchmark (default 20000)
  --cpus A,B               the two CPUs to measure on (default: first two usable)

Latency on the loopback is the round trip the NIC thread sees (completion
written -> reply read). Needs app_cores + 1 CPUs. Timings on a shared or
virtualised machine are that machine's, not bare metal's.
exit status: 0 ok, 2 bad input, 1 run failed
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

int cmd_loopback(const std::vector<std::string>& args) {
  std::optional<std::string> config, platform, json_out;
  std::vector<std::string> sets;
  fastwake::hw::HwOptions opt;
  bool quiet = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw fastwake::ConfigError(a + " needs a value");
      return args[++i];
    };
    if (a == "--platform") platform = value();
    else if (a == "--set") sets.push_back(value());
    else if (a == "--json") json_out = value();
    else if (a == "--cpus") opt.app_cpus = parse_cpus(value(), "--cpus");
    else if (a == "--nic-cpu") opt.nic_cpu = parse_cpus(value(), "--nic-cpu").at(0);
    else if (a == "-q" || a == "--quiet") quiet = true;
    else if (!a.empty() && a[0] == '-') throw fastwake::ConfigError("unknown option " + a);
    else if (!config) config = a;
    else throw fastwake::ConfigError("more than one config file given");
  }
  const fastwake::Config cfg =
      fastwake::parse_config(fastwake::compose_config(config, platform, sets));
  const auto doc = fastwake::hw::run_loopback_all(cfg, opt, quiet ? nullptr : &std::cerr);
  const bool json_stdout = json_out && *json_out == "-";
  fastwake::print_result_table(doc, json_stdout ? std::cerr : std::cout);
  if (json_stdout) {
    std::cout << doc.dump(2) << "\n";
  } else if (json_out) {
    fastwake::write_file_atomic(*json_out, doc.dump(2) + "\n");
    std::cout << "wrote " << *json_out << "\n";
  }
  return 0;
}

int cmd_compare(const std::vector<std::string>& args) {
  std::optional<std::string> config, platform, json_out;
  std::vector<std::string> sets;
  fastwake::hw::HwOptions opt;
  bool quiet = false, recalibrate = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw fastwake::ConfigError(a + " needs a value");
      return args[++i];
    };
    if (a == "--platform") platform = value();
    else if (a == "--set") sets.push_back(value());
    else if (a == "--json") json_out = value();
    else if (a == "--cpus") opt.app_cpus = parse_cpus(value(), "--cpus");
    else if (a == "--nic-cpu") opt.nic_cpu = parse_cpus(value(), "--nic-cpu").at(0);
    else if (a == "--recalibrate") recalibrate = true;
    else if (a == "-q" || a == "--quiet") quiet = true;
    else if (!a.empty() && a[0] == '-') throw fastwake::ConfigError("unknown option " + a);
    else if (!config) config = a;
    else throw fastwake::ConfigError("more than one config file given");
  }
  nlohmann::json doc = config ? fastwake::load_json_file(*config) : fastwake::bundled_config("compare");
  for (const auto& s : sets) fastwake::apply_set(doc, s);
  const fastwake::Config cfg = fastwake::parse_config(doc);
  nlohmann::json profile;
  if (platform && !recalibrate) {
    profile = fastwake::builtin_platform(*platform);
  } else {
    fastwake::hw::CalibrateOptions copt;
    copt.source_dir = FW_SOURCE_DIR;
    const auto names = fastwake::builtin_platforms();
    const std::string mine = "host-" + fastwake::hw::host_name();
    if (!recalibrate && std::find(names.begin(), names.end(), mine) != names.end()) {
      profile = fastwake::builtin_platform(mine);
      if (!quiet) std::cerr << "compare: using calibrated profile " << mine << "\n";
    } else {
      if (!quiet) std::cerr << "compare: calibrating this host first (a few seconds)\n";
      const auto rep = fastwake::hw::calibrate(copt, quiet ? nullptr : &std::cerr);
      if (!quiet) std::cerr << rep.summary << "wrote " << rep.path << "\n";
      profile = rep.profile;
    }
  }
  const auto cmp = fastwake::tools::run_compare(cfg, profile, opt, quiet ? nullptr : &std::cerr);
  const bool json_stdout = json_out && *json_out == "-";
  fastwake::tools::print_compare_table(cmp, json_stdout ? std::cerr : std::cout);
  if (json_stdout) {
    std::cout << cmp.dump(2) << "\n";
  } else if (json_out) {
    fastwake::write_file_atomic(*json_out, cmp.dump(2) + "\n");
    std::cout << "wrote " << *json_out << "\n";
  }
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
    if (a == "--out") opt.out = value();
    else if (a == "--name") opt.name = value();
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
    throw fastwake::ConfigError("unknown command '" + cmd + "' (loopback, calibrate, compare)");
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
