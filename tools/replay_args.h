// The replay tool's command line (fastwake-bench server | client), with
// perftest's letters (ib_send_lat's, perftest 6.x src/perftest_parameters.c
// usage()) where they mean something for the replay: the same letter, the
// same meaning; letters that change nothing here (-F) are accepted with a
// note; letters for features the replay does not have are refused with the
// reason. Plain fields, no verbs types: tests/unit/replay_args_test.cc parses
// command lines without a NIC.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace fastwake::tools {

enum class ReplaySide { kServer, kClient };

/// perftest's default port (= hw::kReplayPort, checked in fastwake_bench.cc).
inline constexpr int kDefaultReplayPort = 18515;

struct ReplayArgs {
  ReplaySide side = ReplaySide::kServer;
  std::optional<std::string> config, platform, json_out;
  std::vector<std::string> sets;  ///< --set, then what the letters map to (see finish)
  bool quiet = false;
  bool print_config = false;  ///< print the resolved config + options and exit (no NIC needed)
  // Both sides (perftest's letters).
  std::string device;      ///< -d/--ib-dev
  int ib_port = 1;         ///< -i
  int gid_index = -1;      ///< -x (-1: automatic)
  int port = kDefaultReplayPort;  ///< -p
  int size = 0;            ///< -s (0: the config's workload.message_bytes)
  int rx_depth = 64;       ///< -r/--rx-depth
  int tx_depth = 64;       ///< --tx-depth
  double duration_s = 0;   ///< -D (0: the config's run.duration)
  long iters = 0;          ///< -n (client: requests per strategy; server: ignored)
  bool events = false;     ///< -e
  std::string connection = "RC";  ///< -c (RC only)
  // Server.
  std::vector<int> app_cpus;  ///< --cpus
  int comp_vector = -1;       ///< -X/--vector/--comp-vector
  std::vector<int> irqs;      ///< --irqs
  bool no_irq_repin = false;
  std::string bind;
  bool forever = false;
  int idle_timeout_s = 30;
  // Client.
  std::string server;
  int cpu = -1;                           ///< --cpu
  std::optional<std::string> strategies;  ///< --strategy A,B (or -e: interrupt)
  int connect_timeout_s = 30;

  /// Notes for the accepted-and-ignored letters that were given (finish()).
  std::vector<std::string> notes;

  // The letters registered as accepted-and-ignored / refused, with the reason.
  std::vector<std::pair<CLI::Option*, std::string>> ignored, refused;
};

/// Registers the side's options on `sub` (a CLI11 subcommand) into `a`.
void add_replay_options(CLI::App& sub, ReplayArgs& a, ReplaySide side);

/// After parsing: throws ConfigError for a refused letter (naming it and
/// why) or a contradiction (-D with -n, -e with --strategy, a client without
/// SERVER), fills `notes`, and appends to `sets` what the letters map to:
/// -s -> workload.message_bytes, -D -> run.duration_ms, -e / --strategy ->
/// strategies.
void finish_replay_args(ReplayArgs& a);

/// The parsed options as JSON (--print-config; the tests' view).
std::string replay_args_json(const ReplayArgs& a);

}  // namespace fastwake::tools
