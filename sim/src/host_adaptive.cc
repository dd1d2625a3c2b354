// Host model, fastwake_adaptive's mechanisms: the decision is core's
// AdaptiveController (adaptive.h); here its windows are timed, completions
// counted (finish_step), and a core's switch carried out: to interrupts, the
// dispatcher parks and every thread sleeping for a hand-off is woken (a
// futex wake-up, kRelease) to re-enter its wait armed; to polling, the
// dispatcher starts (after a C-state exit if the core idles) and threads
// blocked on their channel stay there until their armed CQ's event.
#include <algorithm>

#include "host_model.h"

namespace fastwake::sim::detail {

WaitMode HostModel::core_mode(CoreId c) const {
  const int i = adapt_index_[static_cast<std::size_t>(c)];
  return i < 0 ? WaitMode::kBlock : adapt_->mode(i);
}

void HostModel::build_adaptive() {
  const Placement place = Placement::of(cfg_);
  adapt_ = std::make_unique<AdaptiveController>(AdaptiveParams::derive(cfg_), wp_.mode());
  adapt_index_.assign(cores_.size(), -1);
  for (std::size_t i = 0; i < place.app_cores.size(); ++i)
    adapt_index_[static_cast<std::size_t>(place.app_cores[i])] = static_cast<int>(i);
  adapt_count_.assign(place.app_cores.size(), 0);
  poll_since_.assign(cores_.size(), -1);
  poll_time_.assign(cores_.size(), 0);
  for (auto& c : cores_) {
    if (!c.disp) continue;
    c.disp_parked = core_mode(c.id) == WaitMode::kBlock;
    if (!c.disp_parked) poll_since_[static_cast<std::size_t>(c.id)] = 0;
  }
  for (int t = 0; t < app_threads_; ++t) threads_[t].mode = core_mode(threads_[t].core);
}

void HostModel::adapt_tick(std::uint64_t) {
  const Nanos now = eng_.now();
  const auto changes = adapt_->end_window(adapt_count_);
  std::fill(adapt_count_.begin(), adapt_count_.end(), 0);
  const Placement place = Placement::of(cfg_);
  for (const auto& ch : changes) {
    const CoreId core = place.app_cores[static_cast<std::size_t>(ch.core)];
    if (in_window_) ++n_switch_win_;
    if (cfg_.run.record_samples)
      adapt_trace_.push_back({{"t_ns", now},
                              {"core", core},
                              {"to", std::string(wait_mode_name(ch.to))},
                              {"by_cap", ch.by_cap}});
    FW_TRACE("adaptive: core %d -> %s%s", core, std::string(wait_mode_name(ch.to)).c_str(),
             ch.by_cap ? " (cap)" : "");
    adapt_apply(core, ch.to);
  }
  if (now + adapt_->params().window_ns <= drain_limit())
    eng_.at<&HostModel::adapt_tick>(now + adapt_->params().window_ns, this, 0);
}

void HostModel::adapt_apply(CoreId core, WaitMode to) {
  SimCore& c = cores_[static_cast<std::size_t>(core)];
  const Nanos now = eng_.now();
  auto& since = poll_since_[static_cast<std::size_t>(core)];
  if (to == WaitMode::kBlock) {
    if (since >= 0) {
      // poll-mode time inside the measurement window
      const Nanos a = std::max(since, win_start_), b = std::min(now, win_end_);
      if (b > a) poll_time_[static_cast<std::size_t>(core)] += b - a;
    }
    since = -1;
    c.disp_parked = true;
    // The dispatcher wakes every thread sleeping for a hand-off (not the one
    // it is switching to): each re-enters its wait in interrupt mode.
    bool posted = false;
    for (int t = 0; t < app_threads_; ++t) {
      const SimThread& th = threads_[t];
      if (th.core != core || th.mode != WaitMode::kDispatcher ||
          th.state != ThreadState::kBlocked || t == c.handoff_to)
        continue;
      post_kernel(core, {KType::kRelease, t}, now);
      posted = true;
    }
    // Otherwise the dispatcher leaves now (reschedule parks it); with
    // releases, the kernel work's reschedule does.
    if (!posted && !c.kbusy && c.current == c.disp_thread) reschedule(c);
    return;
  }
  since = now;
  c.disp_parked = false;
  if (c.current != c.disp_thread) threads_[c.disp_thread].state = ThreadState::kRunnable;
  if (c.kbusy || c.current >= 0) return;  // it runs when the core is next free
  if (c.idle) {
    kick(c);  // C-state exit, then the pick finds the dispatcher
  } else {
    reschedule(c);
  }
}

/// kRelease on core c: the futex wake-up of a thread that slept for a hand-off.
void HostModel::release_sleeper(SimCore& c, ThreadId t) {
  SimThread& th = threads_[t];
  if (th.state != ThreadState::kBlocked || th.mode != WaitMode::kDispatcher || th.core != c.id ||
      t == c.handoff_to)
    return;  // handed off (or moved) meanwhile
  ready_remove(c, t);
  th.resume = Resume::kReleased;
  ++n_release_;
  enqueue(c, t);
}

/// A thread of fastwake_adaptive moves: its CQ's dispatcher entry moves in
/// every mode (each core's dispatcher knows all of its CQs).
void HostModel::move_adaptive_entry(SimThread& th, CoreId to) {
  SimCore& from = cores_[th.core];
  ready_remove(from, th.id);
  if (std::exchange(th.unmarked, false)) std::erase(from.unmarked, th.id);
  from.disp->remove(th.id);
  ready_reindex(from);
  SimCore& dst = cores_[to];
  const bool fresh = !dst.disp;
  add_dispatcher(to);
  if (fresh) dst.disp_parked = true;  // not an app core: interrupts only
  dst.disp->add(th.id, th.id);
}

}  // namespace fastwake::sim::detail
