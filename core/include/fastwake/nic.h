// The NIC as the policies see it: the IRQ lever of the completion vectors
// (called through by the remap driver, implemented by every backend that can
// move an interrupt), and the readiness probe the dispatcher scans with.
//
// The probe is a concept, not a virtual: Dispatcher::poll_once sits on the
// hot path and takes the concrete type, so a `final` backend class is called
// without virtual dispatch.
#pragma once

#include <concepts>

#include "fastwake/types.h"

namespace fastwake {

/// Where completion vectors' interrupts go. Implemented by the simulated NIC,
/// the loopback NIC (which CPU signals a vector's eventfd), the verbs NIC
/// (/proc/irq/N/smp_affinity_list) and the preload shim's per-device lever.
class IrqLever {
 public:
  virtual ~IrqLever() = default;
  /// Number of completion vectors (EQs, each with one MSI-X IRQ).
  virtual int num_vectors() const = 0;
  /// Core that currently takes the vector's interrupt (kNoCore: not one of
  /// the backend's cores, or unknown). Any thread; non-blocking.
  virtual CoreId vector_core(VectorId v) const = 0;
  /// Re-pin the vector's interrupt (moves every CQ on that vector). Control
  /// path; may block briefly on hw.
  virtual void set_vector_core(VectorId v, CoreId core) = 0;
};

/// What the dispatcher scans: `cq_ready(cq)` is true if the CQ holds a
/// completion that nobody has taken. Must not block.
template <class T>
concept ReadyProbe = requires(const T& n, CqId cq) {
  { n.cq_ready(cq) } -> std::convertible_to<bool>;
};

/// The dispatcher's rule, the same in every backend: a CQ is ready for a
/// hand-off only while its owner sleeps — an awake owner drains its CQ
/// itself, and handing it the CPU again would serve one completion twice.
/// `Asleep` is any `bool(CqId)` callable (sim: thread state; hw: the owner's
/// published "sleeping" flag; shim: the CQ is armed, i.e. its owner waits).
template <ReadyProbe NicT, class Asleep>
struct ReadyWhileAsleep {
  const NicT& nic;
  Asleep asleep;
  bool cq_ready(CqId cq) const { return asleep(cq) && nic.cq_ready(cq); }
};
template <ReadyProbe NicT, class Asleep>
ReadyWhileAsleep(const NicT&, Asleep) -> ReadyWhileAsleep<NicT, Asleep>;

}  // namespace fastwake
