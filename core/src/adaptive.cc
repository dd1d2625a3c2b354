// fastwake_adaptive's decision (see adaptive.h; derivation in docs/adaptive.md).
#include "fastwake/adaptive.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "fastwake/config.h"
#include "fastwake/wake_path.h"

namespace fastwake {

namespace {

// Completions a decision window holds at the break-even rate. The mean of N
// exponential gaps has a relative standard error 1/sqrt(N); the band is two
// of them (h = 2/sqrt(N)), so a load sitting at the threshold crosses the
// far edge of the band in a given window with probability ~2 % (normal
// approximation) and a switch back needs a load change of ~2h. N = 32 gives
// h = 0.35: large enough to ignore noise, small enough that a load twice the
// break-even one is on the right side of the band.
constexpr int kSamples = 32;

// The switch itself (poll -> interrupt releases every thread sleeping for a
// hand-off: a wake-up and a switch each) must stay small against the window
// it is amortised over: at most 1 % of it.
constexpr double kSwitchShare = 0.01;

}  // namespace

bool is_adaptive(const StrategySpec& s) { return s.adaptive; }

int AdaptiveParams::cstate_for(Nanos gap) const {
  int s = 0;
  for (int k = deepest_cstate; k >= 0; --k)
    if (cstate_residency_ns[static_cast<std::size_t>(k)] <= gap) {
      s = k;
      break;
    }
  return s;
}

double AdaptiveParams::core_busy(WaitMode m, double r) const {
  if (m != WaitMode::kBlock) return 1.0;  // the dispatcher spins when nothing else runs
  return std::min(1.0, r * static_cast<double>(req_cpu_ns + irq_cpu_ns) * 1e-9);
}

double AdaptiveParams::core_power_w(WaitMode m, double r) const {
  if (m != WaitMode::kBlock) {
    const double u = std::min(1.0, r * static_cast<double>(req_cpu_ns + poll_cpu_ns) * 1e-9);
    return u * work_w + (1 - u) * poll_w;
  }
  if (r <= 0) return cstate_w[static_cast<std::size_t>(deepest_cstate)];
  const double busy = core_busy(m, r);
  if (busy >= 1.0) return work_w;
  const double idle_ns = (1 - busy) / r * 1e9;  // per completion
  const int s = cstate_for(static_cast<Nanos>(idle_ns));
  const double exit_ns =
      std::min(idle_ns, static_cast<double>(cstate_exit_ns[static_cast<std::size_t>(s)]));
  const double exit_share = r * exit_ns * 1e-9;
  return busy * work_w + exit_share * exit_w +
         std::max(0.0, 1 - busy - exit_share) * cstate_w[static_cast<std::size_t>(s)];
}

AdaptiveParams AdaptiveParams::derive(const Config& cfg) {
  const Platform& p = cfg.platform;
  AdaptiveParams a;
  a.caps = cfg.adaptive;
  a.app_cores = cfg.host.app_cores;
  // Requests in flight per core in a closed loop: one per connection (a
  // script has one in flight host-wide).
  a.threads_per_core =
      cfg.workload.kind == LoadKind::kScript ? 1 : std::max(1, cfg.workload.threads_per_core);
  a.poll_w = p.poll_w;
  a.work_w = p.work_w;
  a.irq_w = p.irq_w;
  a.exit_w = p.cstate_exit_w;
  a.package_w = p.package_w;
  const int n = static_cast<int>(p.cstates.size());
  a.deepest_cstate = cfg.host.max_cstate < 0 ? n - 1 : std::min(cfg.host.max_cstate, n - 1);
  for (const CState& c : p.cstates) {
    a.cstate_exit_ns.push_back(c.exit_latency_ns);
    a.cstate_residency_ns.push_back(c.target_residency_ns);
    a.cstate_w.push_back(c.power_w);
  }
  a.other_cores_w = (cfg.host.cores - cfg.host.app_cores) *
                    (n > 0 ? p.cstates[static_cast<std::size_t>(a.deepest_cstate)].power_w : 0.0);

  // CPU per request in both modes: the service, the poll that takes the
  // completion, the reply's post.
  a.req_cpu_ns = cfg.workload.service_ns + p.cq_poll_ns + p.post_send_ns;
  // Poll mode (fastwake_poll): the dispatcher's switch-to and the thread's yield back.
  a.poll_cpu_ns = 2 * p.fast_switch_ns;
  // Interrupt mode (fastwake_irq, the vector on the thread's core): hardirq,
  // softirq, ib_uverbs_comp_handler + fw_wq_wake, a local try_to_wake_up, the
  // switch, the wait syscall's entry + exit and its block, the re-arm, and
  // the deferred drain of the uverbs event (one non-blocking read() per
  // event and an empty one, every kModuleDrainEvery waits).
  const Nanos irq_ctx = p.hardirq_ns + p.softirq_ns + p.uverbs_handler_ns + p.fw_handler_ns;
  const Nanos drain = (p.syscall_ns + p.read_return_ns) + p.syscall_ns / kModuleDrainEvery;
  const Nanos task = p.ttwu_local_ns + p.ctx_switch_ns + p.syscall_ns + p.block_ns + p.rearm_ns +
                     drain;
  a.irq_cpu_ns = irq_ctx + task;
  const double irq_energy_uj =
      (static_cast<double>(irq_ctx) * p.irq_w + static_cast<double>(task) * p.work_w) * 1e-3;
  const double poll_energy_uj = static_cast<double>(a.poll_cpu_ns) * p.work_w * 1e-3;
  const Nanos delta = a.irq_cpu_ns - a.poll_cpu_ns;

  // Break-even idle gap G*: between two completions the core is idle for a
  // gap G in poll mode (spinning at poll_w); in interrupt mode the same gap
  // loses `delta` to the longer path and the C-state exit, and sleeps the
  // rest in the C-state the governor picks for it. G* is the least G with
  //   irq_cpu energy + exit * exit_w + (G - delta - exit) * P_s
  //     <= poll_cpu energy + G * poll_w.
  a.break_even_gap_ns = std::numeric_limits<Nanos>::max() / 4;
  a.break_even_cstate = 0;
  for (int s = 0; s <= a.deepest_cstate && n > 0; ++s) {
    const CState& c = p.cstates[static_cast<std::size_t>(s)];
    const Nanos lo = delta + std::max(c.target_residency_ns, c.exit_latency_ns);
    const Nanos hi = s < a.deepest_cstate
                         ? delta + p.cstates[static_cast<std::size_t>(s) + 1].target_residency_ns
                         : std::numeric_limits<Nanos>::max() / 4;
    if (hi <= lo) continue;
    const double ex = static_cast<double>(c.exit_latency_ns);
    // f(G) = E_irq - E_poll, linear in G (ns, W: units of 1e-3 uJ).
    auto f = [&](double g) {
      return irq_energy_uj * 1e3 + ex * p.cstate_exit_w +
             (g - static_cast<double>(delta) - ex) * c.power_w - poll_energy_uj * 1e3 -
             g * p.poll_w;
    };
    if (f(static_cast<double>(lo)) <= 0) {
      a.break_even_gap_ns = lo;
      a.break_even_cstate = s;
      break;
    }
    const double slope = c.power_w - p.poll_w;
    if (slope >= 0) continue;  // never cheaper in this state
    const double g = static_cast<double>(lo) - f(static_cast<double>(lo)) / slope;
    if (g < static_cast<double>(hi)) {
      a.break_even_gap_ns = static_cast<Nanos>(std::ceil(g));
      a.break_even_cstate = s;
      break;
    }
  }
  const CState* bc = n > 0 ? &p.cstates[static_cast<std::size_t>(a.break_even_cstate)] : nullptr;
  // A completion waits longer in interrupt mode by the path from the MSI-X
  // to the thread's return from its wait, plus the C-state exit, minus the
  // dispatcher's switch-to it replaces.
  a.irq_extra_latency_ns =
      std::max<Nanos>(0, p.msix_ns + irq_ctx + p.ttwu_local_ns + p.ctx_switch_ns +
                             (p.syscall_ns - p.syscall_ns / 2) +
                             (bc ? bc->exit_latency_ns : 0) - p.fast_switch_ns);
  a.closed_loop = cfg.workload.kind != LoadKind::kPoisson;

  a.samples = kSamples;
  a.hysteresis = 2.0 / std::sqrt(static_cast<double>(kSamples));
  const Nanos per_completion = a.break_even_gap_ns + a.req_cpu_ns + a.poll_cpu_ns;
  a.window_ns = kSamples * per_completion;
  const Nanos switch_ns = static_cast<Nanos>(cfg.workload.threads_per_core) *
                          (p.ttwu_local_ns + p.ctx_switch_ns + p.fast_switch_ns);
  a.window_ns = std::max(a.window_ns, static_cast<Nanos>(static_cast<double>(switch_ns) /
                                                         kSwitchShare));
  return a;
}

nlohmann::json AdaptiveParams::to_json() const {
  return {{"break_even_gap_ns", break_even_gap_ns},
          {"break_even_cstate", break_even_cstate},
          {"window_ns", window_ns},
          {"samples", samples},
          {"hysteresis", hysteresis},
          {"req_cpu_ns", req_cpu_ns},
          {"poll_cpu_ns", poll_cpu_ns},
          {"irq_cpu_ns", irq_cpu_ns},
          {"irq_extra_latency_ns", irq_extra_latency_ns},
          {"closed_loop", closed_loop},
          {"power_cap_w", caps.power_cap_w},
          {"cpu_cap", caps.cpu_cap},
          {"objective", caps.objective == AdaptiveObjective::kLatency ? "latency" : "energy"}};
}

AdaptiveController::AdaptiveController(AdaptiveParams p, WaitMode initial)
    : p_(std::move(p)),
      mode_(static_cast<std::size_t>(p_.app_cores), initial),
      gap_(static_cast<std::size_t>(p_.app_cores), 0),
      rate_(static_cast<std::size_t>(p_.app_cores), 0) {}

std::vector<AdaptiveController::Change> AdaptiveController::end_window(
    const std::vector<std::uint64_t>& completions) {
  ++windows_;
  const std::size_t n = mode_.size();
  const double w = static_cast<double>(p_.window_ns);
  const double g_star = static_cast<double>(p_.break_even_gap_ns);
  // 1. The load's wish per core, with the hysteresis band (DPDK
  //    l3fwd-power's idea: go to interrupts when the queue stays quiet;
  //    here "quiet" is the cost break-even, not a poll count).
  std::vector<WaitMode> want(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double k = i < completions.size() ? static_cast<double>(completions[i]) : 0.0;
    rate_[i] = k / w * 1e9;
    double gap = w;  // no completion: at least a whole window idle
    if (k > 0) {
      gap = w / k - static_cast<double>(p_.req_cpu_ns + p_.poll_cpu_ns);
      // A closed-loop client's next request waits for the reply: interrupt
      // mode's longer path stretches the gaps it measures (per connection).
      // k connections share the core: each one's cycle grows by the extra
      // latency, the core's mean interval by 1/k of it.
      if (p_.closed_loop && mode_[i] == WaitMode::kBlock)
        gap -= static_cast<double>(p_.irq_extra_latency_ns) / p_.threads_per_core;
    }
    gap_[i] = gap;
    want[i] = mode_[i];
    if (p_.caps.objective == AdaptiveObjective::kLatency) {
      // NAPI IRQ suspension's rule: interrupts stay off while the poller
      // finds work; a window without any completion (the suspend timeout)
      // brings them back; two completions in a window (not one stray) poll again.
      if (mode_[i] != WaitMode::kBlock && k == 0) want[i] = WaitMode::kBlock;
      else if (mode_[i] == WaitMode::kBlock && k >= 2) want[i] = WaitMode::kDispatcher;
    } else if (mode_[i] != WaitMode::kBlock && gap > g_star * (1 + p_.hysteresis))
      want[i] = WaitMode::kBlock;
    else if (mode_[i] == WaitMode::kBlock && gap < g_star * (1 - p_.hysteresis))
      want[i] = WaitMode::kDispatcher;
  }
  // 2. The cap: admit polling cores, busiest first (they gain the most and
  //    cost the least extra power), while the predicted host power and busy
  //    share stay within the caps. A core already polling keeps its place
  //    while it fits; one that is not needs the band's margin too, so a core
  //    at the cap's edge does not flap.
  double pw = p_.package_w + p_.other_cores_w, cpu = 0;
  for (std::size_t i = 0; i < n; ++i) {
    pw += p_.core_power_w(WaitMode::kBlock, rate_[i]);
    cpu += p_.core_busy(WaitMode::kBlock, rate_[i]);
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return rate_[a] > rate_[b]; });
  std::vector<bool> capped(n, false);
  bool limited = false;
  for (std::size_t i : order) {
    if (want[i] == WaitMode::kBlock) continue;
    const double dp = p_.core_power_w(WaitMode::kDispatcher, rate_[i]) -
                      p_.core_power_w(WaitMode::kBlock, rate_[i]);
    const double dc = 1.0 - p_.core_busy(WaitMode::kBlock, rate_[i]);
    const double margin = mode_[i] == WaitMode::kBlock ? 1 + p_.hysteresis : 1.0;
    // (A cap below the all-interrupt host power cannot be met: every core
    // then waits with interrupts, the least power the strategy can draw.)
    const bool pw_ok = p_.caps.power_cap_w <= 0 || pw + dp * margin <= p_.caps.power_cap_w;
    const bool cpu_ok =
        p_.caps.cpu_cap <= 0 || (cpu + dc * margin) / static_cast<double>(n) <= p_.caps.cpu_cap;
    if (pw_ok && cpu_ok) {
      pw += dp;
      cpu += dc;
    } else {
      want[i] = WaitMode::kBlock;
      capped[i] = true;
      limited = true;
    }
  }
  if (limited) ++cap_limited_;
  pred_w_ = pw;
  pred_cpu_ = cpu / static_cast<double>(std::max<std::size_t>(n, 1));
  std::vector<Change> out;
  for (std::size_t i = 0; i < n; ++i)
    if (want[i] != mode_[i]) {
      out.push_back({static_cast<int>(i), mode_[i], want[i], capped[i]});
      mode_[i] = want[i];
      ++switches_;
    }
  return out;
}

nlohmann::json AdaptiveController::to_json() const {
  nlohmann::json modes = nlohmann::json::array();
  for (WaitMode m : mode_) modes.push_back(std::string(wait_mode_name(m)));
  return {{"params", p_.to_json()},
          {"windows", windows_},
          {"switches", switches_},
          {"cap_limited_windows", cap_limited_},
          {"predicted_power_w", pred_w_},
          {"final_modes", modes}};
}

Step next_wait_step(WaitMode was, WaitMode now) {
  if (was == now) return ThreadLoop(now).next(Step::kPoll, false);
  switch (now) {
    case WaitMode::kBlock:
      return Step::kArm;  // arm, poll once more, then wait (no completion lost)
    case WaitMode::kDispatcher:
      return Step::kYieldDispatcher;
    case WaitMode::kSpin:
      return Step::kSpin;
  }
  return Step::kPoll;
}

}  // namespace fastwake
