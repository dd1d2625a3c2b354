// Runs core's strategies on real Linux threads against a hardware NIC: app
// threads pinned per core execute ThreadLoop's steps; in dispatcher mode a
// SCHED_IDLE thread per core runs Dispatcher::poll_once and hands the CPU
// over by futex (a woken normal thread preempts SCHED_IDLE at once), or by
// fastwake.ko's switch-to when the module is present.
#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/config.h"
#include "fastwake/decision_trace.h"
#include "fastwake/hw/hw_nic.h"
#include "fastwake/metrics.h"
#include "fastwake/strategy.h"

namespace fastwake::hw {

struct HwOptions {
  std::vector<int> app_cpus;  ///< CPU of each app core (index = core); empty: first usable
  int nic_cpu = -1;           ///< loopback NIC thread's CPU; -1: next usable after the app CPUs
  /// Records every policy decision (tests; nullptr: none). Not owned.
  DecisionTrace* trace = nullptr;
  /// Before each loopback run, measure the CAL/RES background of the run's
  /// CPUs for this long with none of the run's threads alive, then as long
  /// how often other tasks preempt a spinning thread on each app CPU (0:
  /// skip); reported per request next to the window's counts (docs/hw.md).
  double ipi_baseline_s = 0;
  /// run_loopback throws DeviceError when a request was lost or duplicated
  /// (the default); false: it returns and HwRun's ledger says what happened
  /// (the soak counts losses over many runs instead of stopping at the first).
  bool throw_on_loss = true;
  /// How long after the window the loopback's NIC thread waits for the
  /// requests still unanswered before it gives up and they count as lost.
  /// Replies that come more than kLateAfterS after the window are counted
  /// apart (HwRun::late): on a shared machine a SCHED_IDLE dispatcher can be
  /// starved that long by other processes' work (docs/hw.md "Soak").
  double drain_s = 2;
};

/// A reply later than this after the window is "late" (HwRun::late).
inline constexpr double kLateAfterS = 2;

/// Checks options against the config and this machine and fills defaults.
/// Throws ConfigError with a clear message: no such CPU, NIC CPU shared with
/// an app core, not enough CPUs, too many threads, migration to a core that
/// does not exist.
HwOptions resolve_options(const Config& cfg, HwOptions opt);

/// Real threads move only between the app cores they are pinned to: a
/// migration (or scripted one) to another core is a ConfigError naming the
/// key and `who` ("the loopback", "the server").
void check_moves_between_app_cores(const Config& cfg, const std::string& who);

struct HwRun {
  StrategyResult result;
  std::uint64_t sent = 0, completed = 0;
  /// The exactly-once ledger: requests the app threads served and replies the
  /// NIC thread saw twice or out of order; drained: every request answered.
  std::uint64_t served = 0, bad_replies = 0;
  bool drained = true;
  /// Replies that came more than kLateAfterS after the window (answered,
  /// not lost; only possible with drain_s > kLateAfterS).
  std::uint64_t late = 0;
  double wall_s = 0;
  /// Requests sent but never answered (plus served ones whose reply was never counted).
  std::uint64_t lost() const {
    return (sent > completed ? sent - completed : 0) + (served > completed ? served - completed : 0);
  }
  /// Duplicate/out-of-order replies (plus counted replies nobody served).
  std::uint64_t duplicated() const {
    return bad_replies + (completed > served ? completed - served : 0);
  }
};

/// One strategy on the loopback NIC. Blocks for warmup + duration (+ drain).
HwRun run_loopback(const Config& cfg, const StrategySpec& s, const HwOptions& opt);

/// Every strategy of cfg on the loopback; the result document (backend
/// "loopback"). Progress lines go to `progress` if given.
nlohmann::json run_loopback_all(const Config& cfg, const HwOptions& opt, std::ostream* progress);

}  // namespace fastwake::hw
