// fastwake_adaptive's decision, written once for every backend: per
// application core, "poll with the dispatcher" (fastwake_poll's mechanism) or
// "interrupt design" (remapped IRQ + fastwake.ko's wake path, fastwake_irq's
// mechanism), from what the backend counts (completions taken per core per
// window) and under a host power or CPU cap. docs/adaptive.md derives every
// threshold from the platform profile's costs.
//
// The backend's part is mechanism only: count completions per core, call
// end_window() every params().window_ns, and apply the changes it returns
// (a core going to interrupts parks its dispatcher and releases the threads
// sleeping for a hand-off; a core going to polling starts its dispatcher).
// Each thread takes its core's mode at its own wait boundary
// (next_wait_step()): the arm-then-poll-once-more rule of verbs keeps every
// completion, exactly once, across a switch.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/strategy.h"
#include "fastwake/thread_loop.h"
#include "fastwake/types.h"

namespace fastwake {

struct Config;
struct Platform;

/// What the load rule optimises (the caps apply to both).
enum class AdaptiveObjective {
  kEnergy,   ///< poll a core only while polling costs less energy than interrupts (break-even)
  kLatency,  ///< poll every core that has work, as far as the caps allow (NAPI-style)
};

/// The config's "adaptive" section (docs/config.md). 0 = no cap.
struct AdaptiveOptions {
  double power_cap_w = 0;  ///< host power (package + every core), W; 0 = none
  double cpu_cap = 0;      ///< share of the app cores' time busy or polling, (0, 1]; 0 = none
  AdaptiveObjective objective = AdaptiveObjective::kEnergy;
  bool operator==(const AdaptiveOptions&) const = default;
};

/// Thresholds and the cost model behind them, derived from a Config.
struct AdaptiveParams {
  // What one request costs the core in each mode (CPU time, ns).
  Nanos req_cpu_ns = 0;   ///< service + cq_poll + post_send: the same in both modes
  Nanos poll_cpu_ns = 0;  ///< poll mode: the dispatcher's hand-off + the thread's yield
  Nanos irq_cpu_ns = 0;   ///< interrupt mode: IRQ, handler, wake-up, switch, wait, re-arm, drain
  Nanos irq_extra_latency_ns = 0;  ///< what a completion waits longer in interrupt mode
  bool closed_loop = false;        ///< the client waits for each reply (gaps stretch in irq mode)
  // The decision.
  Nanos break_even_gap_ns = 0;  ///< mean idle gap above which interrupts cost less energy
  int break_even_cstate = 0;    ///< the C-state the idle governor takes at that gap
  int samples = 0;              ///< completions a window holds at the break-even rate
  Nanos window_ns = 0;          ///< decision period (and the least time between two switches)
  double hysteresis = 0;        ///< relative band: to irq above G*(1+h), to poll below G*(1-h)
  // Power model (the host model's: package + per-core state powers).
  double poll_w = 0, work_w = 0, irq_w = 0, exit_w = 0, package_w = 0;
  double other_cores_w = 0;  ///< the host's non-application cores, idle in their deepest state
  std::vector<Nanos> cstate_exit_ns, cstate_residency_ns;
  std::vector<double> cstate_w;
  int deepest_cstate = 0;
  AdaptiveOptions caps;
  int app_cores = 1;
  int threads_per_core = 1;

  static AdaptiveParams derive(const Config& cfg);
  /// The C-state the model's idle governor enters for an idle period `gap`.
  int cstate_for(Nanos gap) const;
  /// Predicted power of one core (W) at `rate` completions/s in a mode.
  double core_power_w(WaitMode m, double rate_per_s) const;
  /// Predicted busy share (polling counts as busy) of one core.
  double core_busy(WaitMode m, double rate_per_s) const;
  nlohmann::json to_json() const;
};

class AdaptiveController {
 public:
  /// Cores are the app cores' indices 0..app_cores-1; all start in `initial`.
  explicit AdaptiveController(AdaptiveParams p, WaitMode initial = WaitMode::kBlock);

  struct Change {
    int core;
    WaitMode from, to;
    bool by_cap;  ///< the cap, not the load, decided it
  };
  /// A window of params().window_ns ended; `completions[i]` were taken on
  /// app core i in it. Returns the cores whose mode changes now.
  std::vector<Change> end_window(const std::vector<std::uint64_t>& completions);

  WaitMode mode(int core) const { return mode_.at(static_cast<std::size_t>(core)); }
  const AdaptiveParams& params() const { return p_; }
  std::uint64_t switches() const { return switches_; }
  std::uint64_t windows() const { return windows_; }
  std::uint64_t cap_limited_windows() const { return cap_limited_; }
  /// Predicted host power (W) / busy share for the modes in force after the last window.
  double predicted_power_w() const { return pred_w_; }
  double predicted_cpu() const { return pred_cpu_; }
  /// The mean idle gap (ns) the last window measured on a core (poll-mode equivalent).
  double last_gap_ns(int core) const { return gap_.at(static_cast<std::size_t>(core)); }
  nlohmann::json to_json() const;

 private:
  AdaptiveParams p_;
  std::vector<WaitMode> mode_;
  std::vector<double> gap_, rate_;
  std::uint64_t switches_ = 0, windows_ = 0, cap_limited_ = 0;
  double pred_w_ = 0, pred_cpu_ = 0;
};

/// A thread's step after its drain found the CQ empty (its wait boundary),
/// given the mode it waited in last and its core's mode now. Same mode: the
/// mode's wait. Into interrupts: arm first, then poll once more (a
/// completion that landed before the arm is taken then, not lost). Into
/// polling: yield to the dispatcher (a still-armed CQ may raise one more
/// event: it is left in the channel and acked at the next arm).
Step next_wait_step(WaitMode was, WaitMode now);

/// The built-in adaptive strategy's spec ("fastwake_adaptive").
bool is_adaptive(const StrategySpec& s);

}  // namespace fastwake
