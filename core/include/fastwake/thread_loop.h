// The application thread's event loop as a step function: given the step it
// just finished and what it found, which step comes next. Backends execute the
// steps (sim: with modelled costs; hw: with real verbs/loopback calls), so the
// order of wait, re-arm, drain and reply is written once, here.
//
// Stock event loop (rdma-core's rc_pingpong order): wait for an event, ack +
// re-arm, drain the CQ (serve + reply per completion), wait again.
#pragma once

#include <string_view>

#include "fastwake/strategy.h"

namespace fastwake {

enum class Step {
  kPoll,             ///< poll own CQ once (consumes at most one completion)
  kServe,            ///< application work for the completion just polled
  kPost,             ///< post the reply (send)
  kArm,              ///< ack pending events + re-arm the CQ (kBlock only)
  kWait,             ///< block on the completion channel / module until an event
  kSpin,             ///< keep polling; ends when the CQ holds a completion
  kYieldDispatcher,  ///< hand the CPU back to the core's dispatcher and sleep
};

std::string_view step_name(Step s);

class ThreadLoop {
 public:
  explicit ThreadLoop(WaitMode mode) : mode_(mode) {}

  /// First step of a freshly started thread.
  Step first() const;
  /// Next step after `done`. `found` is meaningful after kPoll (a completion
  /// was taken) and ignored otherwise. kWait, kSpin and kYieldDispatcher end
  /// when the thread runs again because work arrived.
  Step next(Step done, bool found = false) const;

  WaitMode mode() const { return mode_; }

 private:
  WaitMode mode_;
};

}  // namespace fastwake
