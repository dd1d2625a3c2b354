// Affinity remapper (FastWake interrupt mode): keeps each completion vector's
// IRQ on the core where the threads of its CQs sleep, so the interrupt wakes
// its thread locally (no IPI), and follows threads when they migrate.
//
// A step function driven by the backend: report where threads sleep
// (thread_at), ask for the next deadline, collect due moves and apply them
// with Nic::set_vector_core. When several CQs share a vector the vector goes
// to the core where most of them sleep (ties keep the current core).
//
// reaction_delay: a move is carried out only after the desired core has been
//   stable this long (debounces threads that bounce between cores).
// hysteresis: minimum time between two moves of the same vector (re-pinning an
//   IRQ is not free and an oscillating vector is worse than a remote one).
#pragma once

#include <optional>
#include <vector>

#include "fastwake/types.h"

namespace fastwake {

struct RemapperOptions {
  Nanos reaction_delay_ns = 0;
  Nanos hysteresis_ns = 0;
};

struct VectorMove {
  VectorId vector;
  CoreId to;
};

class AffinityRemapper {
 public:
  /// `vector_core` is the vectors' current placement (index = vector).
  AffinityRemapper(RemapperOptions opts, std::vector<CoreId> vector_core);

  /// A CQ exists on `vector`, owned by a thread currently on `core`.
  void add_cq(CqId cq, VectorId vector, CoreId core);
  /// The CQ is gone (destroyed; the preload shim's CQs come and go): it no
  /// longer votes for its vector, which is reconsidered at `now`. Its id may
  /// be added again later. Unknown ids are ignored.
  void remove_cq(CqId cq, Nanos now);

  /// Initial placement at set-up: moves every vector to its desired core at
  /// once (no delay). Apply the returned moves.
  std::vector<VectorMove> place_initial();

  /// The thread owning `cq` sleeps (or was migrated) on `core` at `now`.
  /// Cheap when nothing changed: call it on every block.
  void thread_at(CqId cq, CoreId core, Nanos now);

  /// Earliest time a pending move falls due, if any.
  std::optional<Nanos> next_deadline() const;
  /// Moves due at `now`; the remapper assumes they are applied.
  std::vector<VectorMove> due(Nanos now);

  CoreId vector_core(VectorId v) const { return vectors_.at(v).core; }
  int moves_done() const { return moves_done_; }

 private:
  struct Vec {
    CoreId core;
    CoreId pending_to = kNoCore;
    Nanos pending_since = 0;
    Nanos last_move = 0;
    bool moved_once = false;
  };
  struct Cq {
    VectorId vector;
    CoreId core;
  };
  CoreId desired(VectorId v) const;
  void reconsider(VectorId v, Nanos now);
  Nanos deadline(const Vec& v) const;

  RemapperOptions opts_;
  std::vector<Vec> vectors_;
  std::vector<Cq> cqs_;  // index = CqId (dense)
  int moves_done_ = 0;
};

}  // namespace fastwake
