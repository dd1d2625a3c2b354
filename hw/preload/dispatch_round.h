// The preload shim's dispatcher round: core's Dispatcher configured as one
// poller per process, its entries the process's CQ slots. Header-only and
// free of verbs, so the shim (shim_dispatcher.cc, over its CQ slots) and the
// unit tests (tests/verbs/verbs_unit_test.cc, over a fake probe) run this same
// code.
//
// The simulator and the replay server run one Dispatcher per core, stepping
// poll_once one CQ at a time; the shim's dispatcher thread runs rounds of
// poll_once calls, one per registered CQ, from wherever the cursor stands.
// Successive rounds therefore make the same single round-robin sequence of
// polls as the per-core dispatchers, and hand off in the same order for the
// same ready sequence (the unit test shows it).
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "fastwake/decision_trace.h"
#include "fastwake/dispatcher.h"
#include "fastwake/nic.h"

namespace fastwake::preload {

/// A registration change an application thread hands the dispatcher thread
/// (Dispatcher is not thread-safe; its thread alone touches it).
struct DispatchOp {
  bool add;        ///< true: register, false: remove
  CqId cq;         ///< the CQ's slot
  ThreadId owner;  ///< add: the CQ's channel, whose waiter a hand-off wakes
};

/// Applies queued registration changes in the order they were made (the
/// dispatcher thread, between rounds). May throw (allocation in Dispatcher::add).
inline void apply_ops(Dispatcher& d, std::span<const DispatchOp> ops) {
  for (const DispatchOp& op : ops) {
    if (op.add)
      d.add(op.cq, op.owner);
    else
      (void)d.remove(op.cq);
  }
}

struct RoundResult {
  bool any_armed = false;  ///< some polled CQ's owner waits: keep scanning
  int handoffs = 0;
};

/// One round: d.size() calls of poll_once (each CQ once, starting at the
/// cursor) with core's rule ReadyWhileAsleep — a CQ is ready only while its
/// owner sleeps, which in the shim means its CQ is armed (`armed(cq)`), and
/// then only if `probe.cq_ready(cq)` finds a completion and claims the wake
/// (the shim's probe disarms the CQ, one-shot, under the CQ's mutex). Each
/// hand-off goes to `hand_off` right after the poll that found it, and is
/// recorded in `trace` (if given) with the dispatcher's core d.core().
template <ReadyProbe Probe, class Armed, class HandOffFn>
RoundResult poll_round(Dispatcher& d, const Probe& probe, Armed&& armed, HandOffFn&& hand_off,
                       DecisionTrace* trace = nullptr) {
  RoundResult r;
  const auto asleep = [&](CqId cq) {
    if (!armed(cq)) return false;
    r.any_armed = true;
    return true;
  };
  const ReadyWhileAsleep view{probe, asleep};
  for (std::size_t k = d.size(); k > 0; --k) {
    if (const std::optional<HandOff> h = d.poll_once(view)) {
      ++r.handoffs;
      fastwake::trace(trace, Decision::Kind::kHandOff, h->cq, h->thread, d.core());
      hand_off(*h);
    }
  }
  return r;
}

}  // namespace fastwake::preload
