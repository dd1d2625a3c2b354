// Checks made before a simulation starts: a cheap estimate of what the run will
// cost (events, memory, wall time) and whether it can drain at all, so a config
// that would run for hours, exhaust memory or never finish is refused up front
// with the numbers, in the user's terms (docs/config.md, "Run-size guard").
#pragma once

#include <cstdint>
#include <string>

#include "fastwake/config.h"

namespace fastwake::sim {

/// What one run of a config (every strategy) is expected to cost. Upper
/// bounds from the config alone, no simulation.
struct RunEstimate {
  double requests = 0;  ///< per strategy: min(what the clients offer, what the app cores serve)
  double events = 0;    ///< engine events, all strategies
  double bytes = 0;     ///< peak memory of one strategy's model
  double wall_s = 0;    ///< events at kEventsPerSecond
  std::string text() const;  ///< "4.2e+06 requests x 6 strategies ~ 8.4e+07 events (~17 s), 12 MiB"
};

/// Engine events the model processes per request (fastwake-sim --bench, 1 x 64
/// and 16 x 256 threads: 8.6 busy_poll ... 18 interrupt; rounded up).
inline constexpr double kEventsPerRequest = 20;
/// A conservative speed of the model on one core (fastwake-sim --bench: 5-15 M/s).
inline constexpr double kEventsPerSecond = 5e6;
/// Limits above which a run is refused unless forced.
inline constexpr double kMaxEvents = 3e9;                ///< ~10 min at kEventsPerSecond
inline constexpr double kMaxBytes = 4.0 * (1ull << 30);  ///< 4 GiB
/// The host model drains for at most this long (simulated) after the window.
inline constexpr Nanos kDrainNs = 10'000'000'000;

RunEstimate estimate_run(const Config& cfg);

/// Throws ConfigError when the run cannot drain (a message's time on the wire,
/// or an open-loop backlog, longer than the drain allows) or, unless `force`,
/// when the estimate is above the limits. The message gives the estimate and
/// says how to override ("--force" on the command line, force=True in Python).
void check_run(const Config& cfg, bool force);

/// A run still had `in_flight` requests kDrainNs after its window: a config
/// the host cannot serve (costs or load too high for its cores). Throws
/// ConfigError saying so in the config's terms (the largest per-request
/// costs, the threads per core), not as a model bug.
[[noreturn]] void throw_not_drained(const Config& cfg, std::uint64_t in_flight);

}  // namespace fastwake::sim
