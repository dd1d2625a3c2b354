// Per-run metrics that every backend fills in the same way: latency histogram,
// per-stage breakdown, time per power state per core, and the result record
// of DESIGN.md's schema.
#pragma once

#include <array>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/histogram.h"
#include "fastwake/types.h"

namespace fastwake {

/// Sum of per-stage time over requests (divide by count for the mean).
struct Breakdown {
  std::array<Nanos, kStageCount> total{};
  void add(const std::array<Nanos, kStageCount>& one) {
    for (std::size_t i = 0; i < kStageCount; ++i) total[i] += one[i];
  }
};

/// Power states a core's time is split into. C-states follow, by index.
enum class PowerState : std::uint8_t { kPoll, kWork, kIrq, kCState0 };

/// Time per power state for each core; C-state k is index kCState0 + k.
class PowerAccount {
 public:
  PowerAccount(int cores, int cstates);
  void add(CoreId core, int state, Nanos ns) { time_[core][state] += ns; }
  Nanos time(CoreId core, int state) const { return time_[core][state]; }
  int cores() const { return static_cast<int>(time_.size()); }
  int states() const { return time_.empty() ? 0 : static_cast<int>(time_[0].size()); }
  /// Energy in joules for given per-state powers (watts; same indexing)
  /// plus a package constant over `span`.
  double energy_j(const std::vector<double>& state_w, double package_w, Nanos span) const;
  /// Fraction of core-time not spent idle in a C-state.
  double busy_fraction(Nanos span) const;

 private:
  std::vector<std::vector<Nanos>> time_;
};

struct LatencySummary {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;  // microseconds
  static LatencySummary from(const Histogram& h);
};

/// One strategy's result in the shared schema (DESIGN.md "Result schema").
struct StrategyResult {
  std::string strategy;
  std::string backend;   ///< "sim", "loopback", "verbs"
  std::string platform;
  std::uint64_t seed = 0;
  std::uint64_t requests = 0;       ///< completed in the measured window
  LatencySummary latency_us;
  double throughput_rps = 0;
  double cpu_util = 0;              ///< mean over the host's cores, 0..1
  double power_w = 0;
  bool power_estimated = true;      ///< model/utilisation-based, not a meter
  double energy_per_req_uj = 0;
  std::map<std::string, double> breakdown_us;  ///< mean per stage
  std::map<std::string, double> state_share;   ///< fraction of core-time per power state
  nlohmann::json extra = nlohmann::json::object();  ///< backend-specific counters

  nlohmann::json to_json() const;
};

}  // namespace fastwake
