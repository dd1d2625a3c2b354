// The remap loop, written once: builds the AffinityRemapper from a backend's
// placement, feeds it where threads sleep, and applies its moves through the
// backend's IRQ lever. The simulator (at modelled block/migration events),
// the loopback and verbs backends (their control threads) and the preload
// shim (before a thread blocks) all drive this object.
#pragma once

#include <optional>
#include <span>

#include "fastwake/decision_trace.h"
#include "fastwake/nic.h"
#include "fastwake/remapper.h"

namespace fastwake {

class RemapDriver {
 public:
  /// CQ i lives on vector cq_vector[i], owned by a thread on thread_core[i]
  /// (kNoCore: not known yet). The vectors' current cores come from the
  /// lever. Makes the initial placement at once through the lever.
  RemapDriver(const RemapperOptions& opts, IrqLever& lever, std::span<const VectorId> cq_vector,
              std::span<const CoreId> thread_core, DecisionTrace* trace = nullptr);
  /// An empty driver (the shim: CQs come and go); add_cq() then.
  RemapDriver(const RemapperOptions& opts, IrqLever& lever, DecisionTrace* trace = nullptr);

  /// A CQ appears on `vector` (shim). Its thread's core is reported by thread_at().
  void add_cq(CqId cq, VectorId vector, CoreId core = kNoCore);
  /// The CQ is destroyed (shim): its thread stops voting for its vector.
  void remove_cq(CqId cq, Nanos now);
  /// The thread owning `cq` sleeps (or was moved) on `core` at `now`. Cheap
  /// when nothing changed: call it on every block.
  void thread_at(CqId cq, CoreId core, Nanos now);
  /// Earliest time a move falls due.
  std::optional<Nanos> next_deadline() const { return remapper_.next_deadline(); }
  /// Applies every move due at `now` through the lever; returns how many.
  int run_due(Nanos now);
  int moves() const { return remapper_.moves_done(); }

 private:
  void apply(VectorId v, CoreId to);
  IrqLever& lever_;
  DecisionTrace* trace_;
  AffinityRemapper remapper_;
};

}  // namespace fastwake
