// Host model, results: finish() assembles the StrategyRun (latency, throughput,
// power, stage breakdown, state shares, counters) once the run has drained.
#include "host_model.h"

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace fastwake::sim::detail {

/// The kernel-countable events of the measurement window per request
/// completed in it, under the names the loopback backend reports its host's
/// counts with (docs/hw.md "Kernel counts"; the test is tests/hw/counts_test.cc).
nlohmann::json HostModel::per_request_counts() const {
  const Counts& a = win_open_counts_;
  const Counts& b = win_close_counts_;
  const double n = static_cast<double>(completed_in_window_);
  auto per = [n](std::uint64_t x0, std::uint64_t x1) {
    return n > 0 ? static_cast<double>(x1 - x0) / n : 0.0;
  };
  nlohmann::json idle = nlohmann::json::object();
  for (std::size_t k = 0; k < p_.cstates.size() && k < a.idle.size() && k < b.idle.size(); ++k)
    idle[p_.cstates[k].name] = per(a.idle[k], b.idle[k]);
  return {{"requests", completed_in_window_},
          {"context_switches", per(a.vol + a.invol, b.vol + b.invol)},
          {"voluntary_switches", per(a.vol, b.vol)},
          {"nonvoluntary_switches", per(a.invol, b.invol)},
          {"dispatcher_switches", per(a.disp, b.disp)},
          {"switch_ins", per(a.ctx, b.ctx)},
          {"cq_events", per(a.event, b.event)},
          {"interrupts", per(a.irq, b.irq)},
          {"handoffs", per(a.handoff, b.handoff)},
          {"local_wakeups", per(a.local, b.local)},
          {"remote_wakeups", per(a.remote, b.remote)},
          {"remote_wakelist", per(a.wakelist, b.wakelist)},
          {"remote_direct", per(a.direct, b.direct)},
          {"wakelist_polled", per(a.polled, b.polled)},
          {"ipis_call", per(a.call, b.call)},
          {"ipis_resched", per(a.resched, b.resched)},
          {"ipis", per(a.call + a.resched, b.call + b.resched)},
          {"irq_thread_wakeups", per(a.irqthr_wake, b.irqthr_wake)},
          {"irq_thread_ipis_call", per(a.irqthr_call, b.irqthr_call)},
          {"irq_thread_ipis_resched", per(a.irqthr_resched, b.irqthr_resched)},
          {"idle_entries", idle}};
}

StrategyRun HostModel::finish() {
  if (in_flight_ != 0) throw_not_drained(cfg_, in_flight_);

  StrategyRun out;
  StrategyResult& r = out.result;
  r.strategy = s_.name;
  r.backend = "sim";
  r.platform = p_.name;
  r.seed = cfg_.run.seed;
  r.requests = measured_;
  r.latency_us = LatencySummary::from(hist_);
  const double span_s = static_cast<double>(cfg_.run.duration_ns) * 1e-9;
  r.throughput_rps = static_cast<double>(completed_in_window_) / span_s;
  r.cpu_util = power_.busy_fraction(cfg_.run.duration_ns);
  for (int c = 0; c < power_.cores(); ++c) {
    r.core_util.push_back(power_.core_busy_fraction(c, cfg_.run.duration_ns));
    r.core_load.push_back(power_.core_load_fraction(c, cfg_.run.duration_ns));
  }
  set_saturation(r, cfg_.host.app_cores);  // application threads run on cores 0..app_cores-1
  std::vector<double> w = {p_.poll_w, p_.work_w, p_.irq_w, p_.cstate_exit_w};
  for (const auto& cs : p_.cstates) w.push_back(cs.power_w);
  const double joules = power_.energy_j(w, p_.package_w, cfg_.run.duration_ns);
  r.power_w = joules / span_s;
  r.core_power_w = power_.core_energy_j(w) / span_s;
  r.package_power_w = p_.package_w;
  r.power_estimated = true;  // the model's power figures are always estimates
  r.energy_per_req_uj =
      completed_in_window_ ? joules * 1e6 / static_cast<double>(completed_in_window_) : 0.0;
  for (std::size_t i = 0; i < kStageCount; ++i)
    r.breakdown_us[std::string(kStageNames[i])] =
        measured_ ? static_cast<double>(breakdown_.total[i]) / 1e3 / measured_ : 0.0;
  const double core_time = static_cast<double>(cfg_.run.duration_ns) * power_.cores();
  auto share = [&](int state) {
    Nanos sum = 0;
    for (int c = 0; c < power_.cores(); ++c) sum += power_.time(c, state);
    return static_cast<double>(sum) / core_time;
  };
  r.state_share["poll"] = share(kPowerPoll);
  r.state_share["work"] = share(kPowerWork);
  r.state_share["irq"] = share(kPowerIrq);
  r.state_share["cstate_exit"] = share(kPowerExit);
  for (std::size_t k = 0; k < p_.cstates.size(); ++k)
    r.state_share[p_.cstates[k].name] = share(kPowerC0 + static_cast<int>(k));
  r.extra = {{"interrupts", n_irq_},
             {"ipis", n_ipi_call_ + n_ipi_resched_},
             {"context_switches", n_ctx_},
             {"handoffs", n_handoff_},
             {"slice_preemptions", n_slice_},
             {"local_wakeups", n_local_wake_},
             {"remote_wakeups", n_remote_wake_},
             {"ipis_call", n_ipi_call_},
             {"ipis_resched", n_ipi_resched_},
             {"remote_wakelist", n_wake_wakelist_},
             {"remote_direct", n_wake_direct_},
             {"wakelist_polled", n_wake_polled_},
             {"remaps", remapper_ ? remapper_->moves() : 0},
             {"stalls", n_stall_},
             {"stall_time_ns", stall_time_},
             {"wait_mode", std::string(wait_mode_name(wp_.mode()))},
             {"wake_path", std::string(wake_path_name(wp_.wake_path()))}};
  r.extra["per_request"] = per_request_counts();
  if (adapt_) {
    nlohmann::json a = adapt_->to_json();
    const double span = static_cast<double>(cfg_.run.duration_ns);
    nlohmann::json share = nlohmann::json::array();
    for (std::size_t k = 0; k < adapt_index_.size(); ++k) {
      if (adapt_index_[k] < 0) continue;
      Nanos t = poll_time_[k];
      if (poll_since_[k] >= 0) {
        const Nanos s = std::max(poll_since_[k], win_start_);
        if (win_end_ > s) t += win_end_ - s;
      }
      share.push_back(static_cast<double>(t) / span);
    }
    a["poll_share"] = std::move(share);  // per app core: share of the window in poll mode
    a["switches_in_window"] = n_switch_win_;
    a["switches_per_s"] = static_cast<double>(n_switch_win_) / (span * 1e-9);
    // The hysteresis bound: one switch per core per window at most.
    a["max_switches_per_s"] = static_cast<double>(adapt_count_.size()) * 1e9 /
                              static_cast<double>(adapt_->params().window_ns);
    a["releases"] = n_release_;
    if (cfg_.run.record_samples) a["trace"] = adapt_trace_;
    r.extra["adaptive"] = std::move(a);
  }
  out.samples = std::move(samples_);
  out.sent = sent_;
  out.completed = completed_;
  out.events = eng_.events_run();
  out.end_ns = eng_.now();
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  r.extra["events"] = out.events;
  return out;
}

}  // namespace fastwake::sim::detail
