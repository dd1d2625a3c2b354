// Model throughput benchmark (fastwake-sim --bench): how many model events
// and simulated requests per second of host CPU time the engine sustains,
// and the peak resident memory of each run.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "fastwake/config.h"

namespace fastwake::sim {

struct BenchRow {
  std::string scenario;
  std::string strategy;
  double events_per_s = 0;    ///< model events per CPU second
  double requests_per_s = 0;  ///< simulated requests per CPU second
  double wall_s = 0;
  std::uint64_t events = 0;
  int cores = 0, threads_per_core = 0;
  double cpu_s = 0;             ///< CPU time of the run (user + system)
  std::uint64_t requests = 0;   ///< simulated requests completed
  double peak_rss_mib = 0;      ///< the run's process peak RSS (ru_maxrss, incl. the binary)
};

struct BenchScenario {
  std::string name;
  int cores, threads_per_core;
};
/// 1 x 64, 16 x 16, 1 x 1024 and 64 x 256 (cores x threads per core).
const std::vector<BenchScenario>& bench_scenarios();

/// Runs every bench scenario for each strategy of `strategies`, `reps` times
/// each (the median by events/s is kept), each run in a child process.
std::vector<BenchRow> run_bench(const Config& base, const std::vector<std::string>& strategies,
                                int reps, std::ostream* progress);

/// One line of `--bench --vs-simgrid`: the same busy-poll ping-pong (N
/// independent pairs, the platform's link latency and rate, 64 B messages,
/// no think or service time) as SimGrid S4U actors under CM02 and as our
/// model (N cores x 1 thread, simple fabric), in round trips per CPU second.
struct PeerRow {
  int pairs = 0;
  std::string strategy;            ///< ours: the strategy that ran
  std::uint64_t simgrid_round_trips = 0;
  double simgrid_cpu_s = 0, simgrid_rt_per_s = 0;
  std::uint64_t ours_round_trips = 0;
  double ours_cpu_s = 0, ours_rt_per_s = 0, ours_events_per_s = 0;
  double ratio = 0;                ///< ours_rt_per_s / simgrid_rt_per_s
};
inline constexpr double kPeerTargetRatio = 25;  ///< issue 14's target

/// Runs the peer comparison for each pair count and strategy (each run in a
/// child process; the median of `reps` by rate is kept on both sides).
/// Throws ConfigError when this build has no SimGrid.
std::vector<PeerRow> run_bench_vs_simgrid(const Config& base, const std::vector<int>& pairs,
                                          const std::vector<std::string>& strategies, int reps,
                                          std::ostream* progress);

}  // namespace fastwake::sim
