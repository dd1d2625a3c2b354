// Host model, the per-core dispatcher (fastwake_poll): resuming its scan,
// detecting a ready CQ, and handing the core off to the owning thread.
#include "host_model.h"

#include <algorithm>
#include <bit>
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
  if (c.ready.empty()) {
    for (CqId cq : c.unmarked) threads_[cq].unmarked = false;
    c.unmarked.clear();
    return;
  }
  if (ref_scan_) {
    for (CqId cq : c.ready) mark(threads_[cq], Stage::kPoll, Stage::kPoll);
  } else {
    // Only the ready CQs whose requests may not be in kPoll yet (the others
    // were marked by an earlier resume, and re-marking changes no total).
    for (CqId cq : c.unmarked) {
      SimThread& th = threads_[cq];
      th.unmarked = false;
      if (th.ready_slot >= 0) mark(th, Stage::kPoll, Stage::kPoll);
    }
  }
  c.unmarked.clear();
  schedule_detection(c);
}

void HostModel::ready_add(SimCore& c, ThreadId t) {
  SimThread& th = threads_[t];
  if (th.ready_slot < 0) {
    th.ready_slot = static_cast<int>(c.ready.size());
    c.ready.push_back(t);
    const int p = c.disp->position(t);
    if (p >= 0) {
      const auto w = static_cast<std::size_t>(p) / 64;
      if (c.ready_bits.size() <= w) c.ready_bits.resize(w + 1, 0);
      c.ready_bits[w] |= std::uint64_t{1} << (p % 64);
    }
  }
  ready_unmarked(c, t);
}

void HostModel::ready_unmarked(SimCore& c, ThreadId t) {
  SimThread& th = threads_[t];
  if (th.unmarked) return;
  th.unmarked = true;
  c.unmarked.push_back(t);
}

void HostModel::ready_remove(SimCore& c, ThreadId t) {
  SimThread& th = threads_[t];
  if (th.ready_slot < 0) return;
  const auto slot = static_cast<std::size_t>(th.ready_slot);
  const CqId last = c.ready.back();
  c.ready[slot] = last;
  threads_[last].ready_slot = static_cast<int>(slot);
  c.ready.pop_back();
  th.ready_slot = -1;
  const int p = c.disp->position(t);
  if (p >= 0) c.ready_bits[static_cast<std::size_t>(p) / 64] &= ~(std::uint64_t{1} << (p % 64));
}

void HostModel::ready_reindex(SimCore& c) {
  std::fill(c.ready_bits.begin(), c.ready_bits.end(), 0);
  for (CqId cq : c.ready) {
    const int p = c.disp->position(cq);
    if (p < 0) continue;
    const auto w = static_cast<std::size_t>(p) / 64;
    if (c.ready_bits.size() <= w) c.ready_bits.resize(w + 1, 0);
    c.ready_bits[w] |= std::uint64_t{1} << (p % 64);
  }
}

/// The dispatcher is scanning: find when its round-robin reaches a ready CQ.
void HostModel::schedule_detection(SimCore& c) {
  const Nanos pe = std::max<Nanos>(p_.cq_poll_empty_ns, 1);
  const Nanos done = (eng_.now() - c.scan_start) / pe;
  c.disp->skip(static_cast<std::size_t>(done));
  c.scan_start += done * pe;
  std::size_t best = 0;
  if (ref_scan_) {
    for (CqId cq : c.ready) {
      const std::size_t m = c.disp->polls_until(cq);
      if (m && (!best || m < best)) best = m;
    }
  } else if (!c.ready.empty()) {
    // The first ready scan index at or after the cursor, else (wrapping) the
    // first one: the ready CQ the round-robin reaches first. O(CQs / 64).
    const std::size_t n = c.disp->size();
    const std::size_t cur = c.disp->cursor();
    const std::size_t words = c.ready_bits.size();
    auto first_from = [&](std::size_t from) -> std::size_t {
      std::size_t w = from / 64;
      if (w >= words) return n;
      std::uint64_t bits = c.ready_bits[w] & (~std::uint64_t{0} << (from % 64));
      for (;;) {
        if (bits) return w * 64 + static_cast<std::size_t>(std::countr_zero(bits));
        if (++w >= words) return n;
        bits = c.ready_bits[w];
      }
    };
    std::size_t p = first_from(cur);
    if (p >= n) p = first_from(0);
    if (p < n) best = (p + n - cur) % n + 1;
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
  ready_remove(c, t);
  ++n_handoff_;
  ++n_disp_switch_;  // the dispatcher leaves the CPU runnable (futex wake-up preemption or
                     // FW_IOC_SWITCH_TO): nivcsw
  c.handoff_to = t;
  SimThread& d = threads_[c.disp_thread];
  start_seg(c, d, p_.fast_switch_ns, SegEnd::kHandOff, Stage::kSched, Stage::kSched, kPowerWork);
}

}  // namespace fastwake::sim::detail
