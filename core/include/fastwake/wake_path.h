// Wake-path policy: what the kernel does between a completion event and the
// owner thread running again, as a list of stages per variant.
//
//   stock     Linux 6.1 + uverbs as shipped: the thread blocks in read() on
//             the completion channel.
//   module    what fastwake.ko (kmod/fastwake.c) does today: the channel is
//             attached (FW_IOC_ATTACH, FW_ATTACH_PREEMPT as the hw runtime
//             sets it) and the thread sleeps in FW_IOC_WAIT.
//   proposal  a deeper module that does NOT exist: the woken thread goes to
//             the head of its run queue and is switched to at once, and the
//             uverbs event is never allocated. Sim only, marked as such.
//
// The stage table below is the one list the model reads to decide which
// costs apply; docs/kmod.md documents the module's list with the same stage
// names, and tests/unit/wake_path_test.cc checks that the two agree (and that
// each module stage's function exists in kmod/fastwake.c).
#pragma once

#include <array>
#include <span>
#include <string_view>

namespace fastwake {

enum class WakePathKind { kStock, kModule, kProposal };

/// One step of a wake-up, in the order it happens. Stable names: docs and
/// tests use them.
enum class WakeStage {
  kHardirq,         ///< MSI-X, hardirq EQ scan (mlx5_eq_comp_int)
  kSoftirq,         ///< tasklet hop to the CQ's completion handler
  kUverbsHandler,   ///< ib_uverbs_comp_handler: lock, GFP_ATOMIC event, list adds,
                    ///< wake_up_interruptible
  kFwCallback,      ///< fw_wq_wake: irq_wakes++, fw_token_set (xchg), then the stock wake function
  kTtwu,            ///< try_to_wake_up (local, or remote: wakelist/IPI), stock rules
  kForcedResched,   ///< FW_ATTACH_PREEMPT: need_resched on the IRQ CPU when the wakee is queued
                    ///< there
  kHeadOfRunqueue,  ///< proposal: wakee at the head of the run queue, preempts at once
  kCtxSwitch,       ///< __schedule pick + context_switch (a normal switch)
  kReadReturn,      ///< ib_uverbs_event_read after schedule(): lock, unlink, copy_to_user, kfree
  kWaitReturn,      ///< fw_sleep after schedule(): token xchg, FW_IOC_WAIT returns
  kDeferredDrain,   ///< the event stays queued: a non-blocking read() per event, later
};

constexpr std::string_view wake_stage_name(WakeStage s) {
  switch (s) {
    case WakeStage::kHardirq:
      return "hardirq";
    case WakeStage::kSoftirq:
      return "softirq";
    case WakeStage::kUverbsHandler:
      return "uverbs_handler";
    case WakeStage::kFwCallback:
      return "fw_callback";
    case WakeStage::kTtwu:
      return "ttwu";
    case WakeStage::kForcedResched:
      return "forced_resched";
    case WakeStage::kHeadOfRunqueue:
      return "head_of_runqueue";
    case WakeStage::kCtxSwitch:
      return "ctx_switch";
    case WakeStage::kReadReturn:
      return "read_return";
    case WakeStage::kWaitReturn:
      return "wait_return";
    case WakeStage::kDeferredDrain:
      return "deferred_drain";
  }
  return "?";
}

namespace wake_stages {
using S = WakeStage;
inline constexpr std::array kStock = {S::kHardirq, S::kSoftirq,   S::kUverbsHandler,
                                      S::kTtwu,    S::kCtxSwitch, S::kReadReturn};
inline constexpr std::array kModule = {S::kHardirq,    S::kSoftirq,    S::kUverbsHandler,
                                       S::kFwCallback, S::kTtwu,       S::kForcedResched,
                                       S::kCtxSwitch,  S::kWaitReturn, S::kDeferredDrain};
inline constexpr std::array kProposal = {S::kHardirq,   S::kSoftirq,        S::kFwCallback,
                                         S::kTtwu,      S::kHeadOfRunqueue, S::kCtxSwitch,
                                         S::kWaitReturn};
}  // namespace wake_stages

/// The stage table: every stage a wake-up of this variant takes.
constexpr std::span<const WakeStage> wake_path_stages(WakePathKind k) {
  switch (k) {
    case WakePathKind::kStock:
      return wake_stages::kStock;
    case WakePathKind::kModule:
      return wake_stages::kModule;
    case WakePathKind::kProposal:
      return wake_stages::kProposal;
  }
  return {};
}

/// The hw runtime drains the channel of a module wait every this many waits
/// (hw/include/fastwake/hw/thread_runtime.h); the model does the same.
/// Every wait: a drain of N events is one burst of N x (syscall + read of an
/// event) on the core, and requests that arrive meanwhile wait behind it; a
/// larger N only saves the last, empty read (syscall_ns x (1 - 1/N) per
/// request, ~0.1 us on x86). At N = 64 the burst was ~43 us on the x86
/// profile and made the module path's p99 (open loop, 1 thread per core at
/// 100k req/s: 38.5 us) twice the stock path's (16.6 us); at N = 1 it is
/// 16.1 us (docs/validation.md).
inline constexpr int kModuleDrainEvery = 1;

/// Which wake path a strategy takes. Backends ask has(stage) (through
/// WaitPolicy), never the kind or a strategy name.
struct WakePath {
  WakePathKind kind = WakePathKind::kStock;

  constexpr bool has(WakeStage s) const {
    for (WakeStage x : wake_path_stages(kind))
      if (x == s) return true;
    return false;
  }
  /// False for a proposal: a mechanism fastwake.ko does not implement.
  constexpr bool implemented() const { return kind != WakePathKind::kProposal; }

  static constexpr WakePath stock() { return {WakePathKind::kStock}; }
  static constexpr WakePath module() { return {WakePathKind::kModule}; }
  static constexpr WakePath proposal() { return {WakePathKind::kProposal}; }
};

/// Results (`extra.wake_path`) and listings show this name.
constexpr std::string_view wake_path_name(WakePathKind k) {
  switch (k) {
    case WakePathKind::kStock:
      return "stock";
    case WakePathKind::kModule:
      return "module";
    case WakePathKind::kProposal:
      return "proposal (not in fastwake.ko)";
  }
  return "?";
}

}  // namespace fastwake
