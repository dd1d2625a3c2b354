// The CPU/OS as the policies see it: clock, topology, where threads run, and
// the hand-off mechanisms (wake, switch-to) that the strategies ask for.
//
// Abstract to allow a simulated machine (sim/) next to real Linux threads
// (hw/): the interface is shaped by both, not by one backend.
#pragma once

#include "fastwake/types.h"

namespace fastwake {

class Cpu {
 public:
  virtual ~Cpu() = default;

  /// Current time: simulated ns, or CLOCK_MONOTONIC ns on real hosts. Any thread.
  virtual Nanos now() const = 0;
  /// Cores the backend manages (0..num_cores-1).
  virtual int num_cores() const = 0;
  /// Core an application thread is placed on (where it sleeps or runs).
  virtual CoreId thread_core(ThreadId t) const = 0;

  /// Make a blocked thread runnable; it runs when its core's scheduler picks
  /// it. Non-blocking; may be called from any thread or (sim) any event.
  virtual void wake(ThreadId t) = 0;
  /// The calling thread (a dispatcher) hands its CPU to `t` at once and waits
  /// until `t` hands it back (kernel fast path, or futex + SCHED_IDLE fallback).
  /// Called by the dispatcher of t's core only.
  virtual void switch_to(ThreadId t) = 0;
};

}  // namespace fastwake
