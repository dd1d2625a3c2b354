// The application thread's loop per wait mode (see thread_loop.h).
#include "fastwake/thread_loop.h"

namespace fastwake {

std::string_view step_name(Step s) {
  switch (s) {
    case Step::kPoll:
      return "poll";
    case Step::kServe:
      return "serve";
    case Step::kPost:
      return "post";
    case Step::kArm:
      return "arm";
    case Step::kWait:
      return "wait";
    case Step::kSpin:
      return "spin";
    case Step::kYieldDispatcher:
      return "yield_dispatcher";
  }
  return "?";
}

Step ThreadLoop::first() const {
  switch (mode_) {
    case WaitMode::kSpin:
      return Step::kPoll;
    case WaitMode::kDispatcher:
      return Step::kYieldDispatcher;
    case WaitMode::kBlock:
      return Step::kArm;
  }
  return Step::kPoll;
}

Step ThreadLoop::next(Step done, bool found) const {
  switch (done) {
    case Step::kPoll:
      if (found) return Step::kServe;
      // The CQ is drained: wait in the mode's way.
      switch (mode_) {
        case WaitMode::kSpin:
          return Step::kSpin;
        case WaitMode::kDispatcher:
          return Step::kYieldDispatcher;
        case WaitMode::kBlock:
          return Step::kWait;
      }
      break;
    case Step::kServe:
      return Step::kPost;
    case Step::kPost:
      return Step::kPoll;  // drain: there may be more completions
    case Step::kArm:
      return Step::kPoll;  // re-armed first, then drain (no lost event)
    case Step::kWait:
      return Step::kArm;  // got an event: ack + re-arm, then drain
    case Step::kSpin:
      return Step::kPoll;
    case Step::kYieldDispatcher:
      return Step::kPoll;  // switched to: our CQ is ready
  }
  return Step::kPoll;
}

}  // namespace fastwake
