// The NIC as the policies see it: CQs, completion vectors and their IRQ cores.
//
// Abstract so that the same policies drive a simulated NIC (sim/), a loopback
// NIC on shared memory and a verbs NIC (hw/). Policies that sit on a hot path
// (Dispatcher::poll_once) take the concrete NIC type as a template parameter,
// so a `final` backend class is called without virtual dispatch.
#pragma once

#include "fastwake/types.h"

namespace fastwake {

class Nic {
 public:
  virtual ~Nic() = default;

  /// Number of completion vectors (EQs, each with one MSI-X IRQ).
  virtual int num_vectors() const = 0;
  /// Core that currently takes the vector's interrupt. Any thread; non-blocking.
  virtual CoreId vector_core(VectorId v) const = 0;
  /// Re-pin the vector's interrupt (hw: /proc/irq/N/smp_affinity_list; moves
  /// every CQ on that vector). Control path; may block briefly on hw.
  virtual void set_vector_core(VectorId v, CoreId core) = 0;
  /// Vector a CQ was created on (fixed for the CQ's life on stock drivers).
  virtual VectorId cq_vector(CqId cq) const = 0;

  /// True if the CQ holds at least one completion that nobody has taken yet.
  /// Called by the dispatcher on every scan: must not block, must not consume.
  virtual bool cq_ready(CqId cq) const = 0;
  /// Arm the CQ: the next completion raises an event on its vector (one-shot).
  /// Called by the CQ's owner thread only.
  virtual void arm(CqId cq) = 0;
};

}  // namespace fastwake
