// How a strategy waits, as decisions the backends ask for by name: the one
// object that turns a StrategySpec's policy fields (wait mode, wake path,
// remapping) into what the simulator and the real-thread runtime do at each
// point — at set-up, when a completion lands, when a thread's wait begins,
// when a thread is woken, when a thread migrates. Backends switch on these
// answers; none tests wait-mode or wake-path flags itself.
#pragma once

#include "fastwake/strategy.h"
#include "fastwake/thread_loop.h"

namespace fastwake {

class WaitPolicy {
 public:
  explicit constexpr WaitPolicy(const StrategySpec& s)
      : wait_(s.wait), path_(s.wake_path), remap_(s.remap_affinity), adaptive_(s.adaptive) {}

  /// The mode a thread starts in (adaptive: every core starts in `wait`, interrupts).
  WaitMode mode() const { return wait_; }
  ThreadLoop loop() const { return ThreadLoop(wait_); }

  // ---- per-core modes (fastwake_adaptive)
  /// The wait mode changes per core at run time (AdaptiveController,
  /// adaptive.h): ask for_mode(the thread's current mode) for every
  /// per-thread answer below; the set-up answers are the strategy's.
  bool adaptive() const { return adaptive_; }
  /// The same strategy's answers for a thread that waits in mode `m` now
  /// (kDispatcher or the strategy's own wait; wake path and remapping kept).
  constexpr WaitPolicy for_mode(WaitMode m) const {
    WaitPolicy p = *this;
    p.wait_ = m;
    return p;
  }

  // ---- set-up
  /// One dispatcher per application core polls every CQ of the core
  /// (adaptive: parked while its core is in interrupt mode).
  bool runs_dispatchers() const { return wait_ == WaitMode::kDispatcher || adaptive_; }
  /// Threads start asleep, waiting to be handed the CPU (not runnable).
  bool starts_asleep() const { return wait_ == WaitMode::kDispatcher; }
  /// The affinity remapper keeps each CQ's vector on its thread's core.
  bool remaps_irqs() const { return remap_; }

  // ---- a completion lands on a CQ that is not armed (an armed CQ always
  // raises its event: one-shot, as verbs)
  enum class Landing {
    kOwnerSpinsOnIt,     ///< the owner is spinning on the CQ: its next poll takes it
    kOfferToDispatcher,  ///< ready for a hand-off if the owner sleeps
    kOwnerDrainsIt,      ///< the owner is awake (it armed before sleeping): it drains the CQ
  };
  Landing on_unarmed_completion() const {
    switch (wait_) {
      case WaitMode::kSpin:
        return Landing::kOwnerSpinsOnIt;
      case WaitMode::kDispatcher:
        return Landing::kOfferToDispatcher;
      case WaitMode::kBlock:
        break;
    }
    return Landing::kOwnerDrainsIt;
  }

  // ---- the owner's wait has begun (it is off the CPU)
  enum class Asleep {
    kOnChannel,   ///< blocked on the completion channel: an event wakes it; the remapper learns its
                  ///< core
    kForHandOff,  ///< yielded to the dispatcher: its CQ may be handed off
    kSpinning,    ///< not asleep (spins)
  };
  Asleep asleep() const {
    switch (wait_) {
      case WaitMode::kBlock:
        return Asleep::kOnChannel;
      case WaitMode::kDispatcher:
        return Asleep::kForHandOff;
      case WaitMode::kSpin:
        break;
    }
    return Asleep::kSpinning;
  }

  // ---- the wake path: stages of the strategy's WakePath (wake_path.h)
  /// ib_uverbs_comp_handler runs: event-queue lock, GFP_ATOMIC event, list
  /// adds (stock and fastwake.ko; only the proposal skips it).
  bool handler_allocates_event() const { return path_.has(WakeStage::kUverbsHandler); }
  /// fastwake.ko's wait-queue callback fw_wq_wake runs before the wake-up.
  bool runs_module_callback() const { return path_.has(WakeStage::kFwCallback); }
  /// The woken thread returns through read() on the completion channel
  /// (lock, copy, free); otherwise from the module's wait ioctl.
  bool woken_reads_channel() const { return path_.has(WakeStage::kReadReturn); }
  /// FW_ATTACH_PREEMPT: a wakee queued on the IRQ's CPU gets a forced
  /// reschedule (no wake-up granularity check; the pick is the scheduler's).
  bool forces_resched_on_irq_cpu() const { return path_.has(WakeStage::kForcedResched); }
  /// Proposal only: the woken thread goes to the head of its run queue and
  /// preempts a thread that is not mid-request.
  bool woken_jumps_queue() const { return path_.has(WakeStage::kHeadOfRunqueue); }
  /// Each event the module's wait consumed stays on the channel: the thread
  /// drains it by non-blocking read(), every kModuleDrainEvery waits.
  bool drains_channel_later() const { return path_.has(WakeStage::kDeferredDrain); }
  /// False for a proposal (sim only: the hw backends refuse it).
  bool wake_path_implemented() const { return path_.implemented(); }
  WakePathKind wake_path() const { return path_.kind; }

  // ---- mechanisms on real hosts
  /// The dispatcher hands the CPU over with the module's switch-to (when
  /// fastwake.ko is present; else futex + SCHED_IDLE).
  bool hands_off_by_switch() const { return wait_ == WaitMode::kDispatcher || adaptive_; }
  /// The thread waits in the module with its channel attached, instead of
  /// read() (when fastwake.ko is present).
  bool waits_in_module() const {
    return wait_ == WaitMode::kBlock && path_.has(WakeStage::kWaitReturn);
  }
  /// The application cores spin (busy polling or a dispatcher) rather than
  /// sleep between requests: their busy time is polling power.
  /// (adaptive: per core and over time; the backend reports the mix.)
  bool cores_poll() const { return wait_ != WaitMode::kBlock; }

  // ---- migration
  enum class Move {
    kRehomeSleeper,        ///< it sleeps on the channel: wakes go to the new core (remapper told)
    kMoveDispatcherEntry,  ///< its CQ leaves the old core's dispatcher for the new one's
    kRequeueOnNewCore,     ///< it leaves the CPU and is enqueued on the new core (IPI)
  };
  Move on_migrate() const {
    switch (wait_) {
      case WaitMode::kBlock:
        return Move::kRehomeSleeper;
      case WaitMode::kDispatcher:
        return Move::kMoveDispatcherEntry;
      case WaitMode::kSpin:
        break;
    }
    return Move::kRequeueOnNewCore;
  }

 private:
  WaitMode wait_;
  WakePath path_;
  bool remap_;
  bool adaptive_ = false;
};

}  // namespace fastwake
