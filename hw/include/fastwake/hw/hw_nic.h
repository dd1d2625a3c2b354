// A NIC that real threads use: core's IRQ lever plus the data path (poll, reply)
// and the blocking wait on a CQ's completion channel. Implemented by the
// loopback NIC (shared memory + eventfd) and the verbs NIC (rdma-core).
#pragma once

#include <cstdint>

#include "fastwake/nic.h"

namespace fastwake::hw {

/// One completion as the application sees it.
struct Completion {
  std::uint64_t id = 0;  ///< request id (opaque to the application)
  Nanos t_sent = 0;      ///< when the NIC delivered it (CLOCK_MONOTONIC)
};

class HwNic : public IrqLever {
 public:
  /// Vector a CQ was created on (fixed for the CQ's life on stock drivers).
  virtual VectorId cq_vector(CqId cq) const = 0;
  /// True if the CQ holds a completion nobody has taken yet (the dispatcher's
  /// probe; ThreadRuntime calls the final class's, without virtual dispatch).
  virtual bool cq_ready(CqId cq) const = 0;
  /// Arm the CQ: the next completion raises an event on its vector (one-shot).
  virtual void arm(CqId cq) = 0;
  /// Takes one completion from the CQ. Owner thread only; never blocks.
  virtual bool poll(CqId cq, Completion* out) = 0;
  /// Sends the reply for a completion. Owner thread only; never blocks.
  virtual void post_reply(CqId cq, const Completion& c) = 0;
  /// Blocks until the CQ's completion channel holds an event and consumes it
  /// (stock path: read() on the channel, like ibv_get_cq_event + ack).
  /// Returns false when woken for shutdown. Owner thread only.
  virtual bool wait_event(CqId cq) = 0;
  /// The completion channel's fd (what fastwake.ko attaches to), -1 if none.
  virtual int channel_fd(CqId cq) const = 0;
  /// Makes every wait_event() return false (shutdown). Any thread.
  virtual void shutdown_waiters() = 0;
  /// Consumes pending channel events without blocking. With fastwake.ko's
  /// attached channel the waiter never read()s, so the runtime calls this now
  /// and then, off the latency path. Owner thread only.
  virtual void drain_channel(CqId /*cq*/) {}
};

}  // namespace fastwake::hw
