// fastwake-sim-fabric: runs one strategy of a config on the SimGrid fabric in
// this process, for simulate_in_child() (fabric.h); one SimGrid run per process.
//
//   fastwake-sim-fabric < {"config": RESOLVED_CONFIG, "strategy": SPEC}
//   -> stdout: {"run": STRATEGY_RUN} or {"error": {"type": "config"|"internal", "message": ...}}
//   fastwake-sim-fabric < {"pingpong": PINGPONG_SPEC}   (fastwake-sim --bench --vs-simgrid)
//   -> stdout: {"pingpong": {"round_trips", "cpu_s", "wall_s", "sim_s"}} or {"error": ...}
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <iterator>
#include <string>

#include "fastwake/cli_app.h"
#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/sim/fabric.h"

namespace {

/// Writes `doc` to `fd` whole.
void write_doc(int fd, const nlohmann::json& doc) {
  const std::string s = doc.dump() + "\n";
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

int run_child() {
  // The protocol owns stdout; anything else (SimGrid's logs) goes to stderr.
  const int out = ::dup(1);
  ::dup2(2, 1);
  try {
    const std::string text((std::istreambuf_iterator<char>(std::cin)),
                           std::istreambuf_iterator<char>());
    const nlohmann::json in = nlohmann::json::parse(text);
    if (in.contains("pingpong")) {  // the --bench --vs-simgrid peer (fabric.h)
      const auto r =
          fastwake::sim::simgrid_pingpong_here(fastwake::sim::pingpong_from_json(in.at("pingpong")));
      std::fflush(stdout);
      write_doc(out, {{"pingpong",
                       {{"round_trips", r.round_trips},
                        {"cpu_s", r.cpu_s},
                        {"wall_s", r.wall_s},
                        {"sim_s", r.sim_s}}}});
      return 0;
    }
    const fastwake::Config cfg = fastwake::sim::load_config(in.at("config"));
    const fastwake::StrategySpec spec = fastwake::sim::strategy_from_json(in.at("strategy"));
    const fastwake::sim::StrategyRun run = fastwake::sim::simulate_simgrid_here(cfg, spec);
    std::fflush(stdout);
    write_doc(out, {{"run", fastwake::sim::run_to_json(run)}});
    return 0;
  } catch (const fastwake::ConfigError& e) {
    write_doc(out, {{"error", {{"type", "config"}, {"message", e.what()}}}});
    return 2;
  } catch (const std::exception& e) {
    write_doc(out, {{"error", {{"type", "internal"}, {"message", e.what()}}}});
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // No options: --help and --version (cli_app.h); any argument is a usage error (2).
  CLI::App app(
      "Internal helper of the SimGrid fabric (docs/fabric.md): reads {\"config\", \"strategy\"} "
      "on stdin and writes {\"run\"} or {\"error\"} to stdout.\nusage: fastwake-sim-fabric < "
      "INPUT.json",
      "fastwake-sim-fabric");
  fastwake::cli::setup_app(app, "fastwake-sim-fabric");
  return fastwake::cli::run(app, "fastwake-sim-fabric", argc, argv, run_child);
}
