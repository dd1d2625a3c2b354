// Wake-path policy: what the kernel does between a completion event and the
// owner thread running again. The stock path is Linux + uverbs as shipped; the
// trimmed path is FastWake's (DESIGN.md, point 3).
#pragma once

#include <string_view>

namespace fastwake {

enum class WakePathKind { kStock, kTrimmed };

/// Which steps a wake-up takes. Backends read these flags (never a strategy
/// name) to decide which mechanism to use and, in the model, which costs apply.
struct WakePath {
  WakePathKind kind = WakePathKind::kStock;
  /// uverbs completion handler: event-queue spinlock + GFP_ATOMIC allocation.
  /// Trimmed: the module's wait-queue callback wakes the waiter directly.
  bool handler_allocates_event = true;
  /// The woken thread returns through read() on the completion channel (lock,
  /// copy, free). Trimmed: returns from the module's wait ioctl.
  bool vfs_read = true;
  /// Woken thread goes to the head of its run queue and is switched to at once
  /// (unless an application thread is mid-request), instead of the
  /// scheduler's pick + wake-up preemption rules.
  bool head_of_runqueue = false;

  static constexpr WakePath stock() { return {}; }
  static constexpr WakePath trimmed() {
    return {WakePathKind::kTrimmed, false, false, true};
  }
};

constexpr std::string_view wake_path_name(WakePathKind k) {
  return k == WakePathKind::kStock ? "stock" : "trimmed";
}

}  // namespace fastwake
