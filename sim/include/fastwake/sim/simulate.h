// Entry points of the simulator: run one strategy or a whole config on the
// discrete-event host model and get results in the shared schema.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/config.h"
#include "fastwake/decision_trace.h"
#include "fastwake/metrics.h"
#include "fastwake/strategy.h"

namespace fastwake::sim {

/// One measured request (only kept when run.record_samples is set).
struct Sample {
  Nanos done;       ///< completion time at the client
  ThreadId thread;  ///< server thread (= connection) that served it
  Nanos latency;    ///< round trip, ns
  CoreId irq_core;  ///< core that took its interrupt (-1: no interrupt)
};

struct StrategyRun {
  StrategyResult result;
  std::vector<Sample> samples;
  std::uint64_t sent = 0;       ///< requests sent over the whole run
  std::uint64_t completed = 0;  ///< requests completed over the whole run (incl. warm-up, drain)
  std::uint64_t events = 0;     ///< engine events processed
  Nanos end_ns = 0;             ///< simulated time at the end of the drain
  double wall_s = 0;            ///< host time the run took
};

/// Simulates `cfg` with one strategy. Deterministic for cfg.run.seed.
/// Clients stop sending at warmup+duration; the run then drains every request
/// in flight, so sent == completed on return (tests check it).
/// `trace`, if given, records every policy decision (the cross-backend test).
StrategyRun simulate(const Config& cfg, const StrategySpec& strategy,
                     DecisionTrace* trace = nullptr);

/// Test switch: true makes every HostModel created afterwards find the
/// dispatcher's next ready CQ and mark its waiting requests with the
/// straightforward scans over all ready CQs (O(ready) per event) instead of
/// the scan-order bitset and the list of not-yet-marked CQs. Results must be
/// identical either way (tests/unit/scale_equivalence_test.cc); the default
/// (false) is the fast structure. Not thread-safe: set it between runs.
void set_reference_scan(bool on);
bool reference_scan();

/// Simulates every strategy of cfg; returns the result document of
/// DESIGN.md: {"schema", "config": resolved, "results": [...]}.
nlohmann::json simulate_all(const Config& cfg);

}  // namespace fastwake::sim
