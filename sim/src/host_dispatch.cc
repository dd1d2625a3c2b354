// Host model, the per-core dispatcher (fastwake_poll): resuming its scan,
// detecting a ready CQ, and handing the core off to the owning thread.
#include "host_model.h"

#include <algorithm>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <vector>

namespace fastwake::sim::detail {

// ================================================================ dispatcher

void HostModel::dispatcher_resume(SimCore& c) {
  c.scanning = true;
  c.scan_start = eng_.now();
  set_power(c, kPowerPoll);
  if (c.ready.empty()) return;
  for (CqId cq : c.ready) mark(threads_[cq], Stage::kPoll, Stage::kPoll);
  schedule_detection(c);
}

/// The dispatcher is scanning: find when its round-robin reaches a ready CQ.
void HostModel::schedule_detection(SimCore& c) {
  const Nanos pe = std::max<Nanos>(p_.cq_poll_empty_ns, 1);
  const Nanos done = (eng_.now() - c.scan_start) / pe;
  c.disp->skip(static_cast<std::size_t>(done));
  c.scan_start += done * pe;
  std::size_t best = 0;
  for (CqId cq : c.ready) {
    const std::size_t m = c.disp->polls_until(cq);
    if (m && (!best || m < best)) best = m;
  }
  if (!best) return;
  ++c.scan_token;
  eng_.at<&HostModel::dispatcher_found>(c.scan_start + static_cast<Nanos>(best) * pe, this,
                                        pack(c.id, c.scan_token));
}

void HostModel::dispatcher_found(std::uint64_t packed) {
  SimCore& c = cores_[hi(packed)];
  if (lo(packed) != static_cast<std::uint32_t>(c.scan_token) || !c.scanning) return;
  const Nanos pe = std::max<Nanos>(p_.cq_poll_empty_ns, 1);
  const Nanos polls = (eng_.now() - c.scan_start) / pe;  // the last of these finds it
  c.disp->skip(static_cast<std::size_t>(polls - 1));
  // Core's rule: a CQ is ready for a hand-off only while its owner sleeps.
  const ReadyWhileAsleep view{
      nic_, [this](CqId cq) { return threads_[cq].state == ThreadState::kBlocked; }};
  const std::optional<HandOff> h = c.disp->poll_once(view);
  c.scanning = false;
  if (!h) throw std::logic_error("dispatcher model: scan did not find the ready CQ");
  trace(trace_, Decision::Kind::kHandOff, h->cq, h->thread, c.id);
  hand_off(c.id, h->thread);
}

void HostModel::hand_off(CoreId core, ThreadId t) {
  SimCore& c = cores_[core];
  std::erase(c.ready, t);
  ++n_handoff_;
  ++n_disp_switch_;  // the dispatcher leaves the CPU runnable (futex wake-up preemption or
                     // FW_IOC_SWITCH_TO): nivcsw
  c.handoff_to = t;
  SimThread& d = threads_[c.disp_thread];
  start_seg(c, d, p_.fast_switch_ns, SegEnd::kHandOff, Stage::kSched, Stage::kSched, kPowerWork);
}

}  // namespace fastwake::sim::detail
