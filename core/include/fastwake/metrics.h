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
/// kCStateExit: the core is leaving a C-state (the exit latency): neither
/// work nor idle residency, with its own watts (`cstate_exit_w`). It counts
/// as idle for utilisation, as /proc/stat does (the exit happens inside the
/// kernel's idle loop, before the idle task hands the CPU back).
enum class PowerState : std::uint8_t { kPoll, kWork, kIrq, kCStateExit, kCState0 };

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
  /// The cores' share of energy_j (no package constant), joules.
  double core_energy_j(const std::vector<double>& state_w) const;
  /// Fraction of core-time busy (poll, work, irq: not in a C-state and not
  /// leaving one), mean over the cores.
  double busy_fraction(Nanos span) const;
  /// One core's busy fraction (the same rule).
  double core_busy_fraction(CoreId core, Nanos span) const;
  /// One core's load: work + irq, i.e. busy without spinning (a core that
  /// spins waiting for a CQE has that time to spare for work).
  double core_load_fraction(CoreId core, Nanos span) const;

 private:
  std::vector<std::vector<Nanos>> time_;
};

struct LatencySummary {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;  // microseconds
  static LatencySummary from(const Histogram& h);
};

/// A result is `saturated` when an application core's load (work + irq,
/// spinning excluded) exceeds this: past it queueing for the CPU, not the
/// wake-up path, decides the latency.
inline constexpr double kSaturatedUtil = 0.9;

/// Fills max_app_core_util/_load and saturated from core_util and core_load
/// of cores [0, app_cores) (no core_load: not saturated, undecidable).
struct StrategyResult;
void set_saturation(StrategyResult& r, int app_cores);

/// One strategy's result in the shared schema (DESIGN.md "Result schema").
struct StrategyResult {
  std::string strategy;
  std::string backend;  ///< "sim", "loopback", "verbs"
  std::string platform;
  std::uint64_t seed = 0;
  std::uint64_t requests = 0;  ///< completed in the measured window
  LatencySummary latency_us;
  double throughput_rps = 0;
  double cpu_util = 0;  ///< mean over the host's cores, 0..1
  /// Utilisation per core of the host (sim: every core, busy = poll, work or
  /// irq; loopback: each application CPU from /proc/stat), 0..1.
  std::vector<double> core_util;
  /// Load per core: the busy time without spinning (work + irq), 0..1. Empty
  /// when the backend cannot tell spinning from work (loopback, polling strategies).
  std::vector<double> core_load;
  double max_app_core_util = 0;  ///< the busiest application core's core_util
  double max_app_core_load = 0;  ///< the busiest application core's core_load
  bool saturated = false;        ///< max_app_core_load > kSaturatedUtil
  double power_w = 0;            ///< core_power_w + package_power_w
  double core_power_w = 0;       ///< the cores' power (per-state time x watts)
  double package_power_w = 0;    ///< the package/uncore constant
  bool power_estimated = true;   ///< model/utilisation-based, not a meter
  double energy_per_req_uj = 0;
  std::map<std::string, double> breakdown_us;       ///< mean per stage
  std::map<std::string, double> state_share;        ///< fraction of core-time per power state
  nlohmann::json extra = nlohmann::json::object();  ///< backend-specific counters

  nlohmann::json to_json() const;
};

}  // namespace fastwake
