// Shared by the calibration's source files (not part of the hw/ API).
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "fastwake/types.h"

namespace fastwake::hw {

/// Today's date (UTC, YYYY-MM-DD), for a calibrated profile's sources.
std::string today();

/// What decides the tail on this host's scheduler (calibrate_sched.cc).
struct SchedCalibration {
  int cpus_online = 0;
  std::optional<Nanos> tick_ns;  // 1 / CONFIG_HZ, if the kernel config is readable
  int runs = 0;                  // two spinners on one CPU: run lengths
  double run_median_ns = 0, run_p10_ns = 0, run_p90_ns = 0;
  int wakes = 0;  // a sleeper woken beside a spinner: wake-to-run delay
  double wake_delay_median_ns = 0, wake_delay_p90_ns = 0;
  int stalls = 0;  // a lone spinner's gaps > 10 us
  double stall_rate_hz = 0, stall_mean_ns = 0, stall_p99_ns = 0, stall_max_ns = 0;
};
SchedCalibration calibrate_sched(int cpu_a, int cpu_b, std::ostream* progress);
/// Writes tick_ns and the three CFS tunables, fitted to `m`, into `params`.
void apply_sched_calibration(nlohmann::json& params, const SchedCalibration& m,
                             const std::string& cal);

}  // namespace fastwake::hw
