// Model throughput benchmark (fastwake-sim --bench): how many model events
// and simulated requests per second of host time the engine sustains.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "fastwake/config.h"

namespace fastwake::sim {

struct BenchRow {
  std::string scenario;
  std::string strategy;
  double events_per_s = 0;
  double requests_per_s = 0;  ///< simulated requests per host second
  double wall_s = 0;
  std::uint64_t events = 0;
};

/// Runs the 1 core x 64 threads and 16 cores x 256 threads scenarios for
/// each strategy of `strategies`, `reps` times each (the median is kept).
std::vector<BenchRow> run_bench(const Config& base, const std::vector<std::string>& strategies,
                                int reps, std::ostream* progress);

}  // namespace fastwake::sim
