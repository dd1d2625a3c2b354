// A record of the policy decisions a run takes, in order: placement, stock
// IRQ placement, remap moves, which core each interrupt is taken on, each
// dispatcher hand-off, each service draw, each migration. Backends record
// into it when given one (nullptr: no cost beyond a branch). The
// cross-backend trace test drives one scripted scenario through the
// simulator and through real threads and compares the two records equal.
#pragma once

#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "fastwake/types.h"

namespace fastwake {

struct Decision {
  enum class Kind {
    kThreadCore,  ///< a: thread, b: core (set-up)
    kCqVector,    ///< a: CQ, b: vector (set-up)
    kVectorCore,  ///< a: vector, b: core (stock placement, set-up)
    kRemap,       ///< a: vector, b: core it moves to
    kIrq,         ///< a: CQ whose event is raised, b: core that takes the interrupt
    kHandOff,  ///< a: CQ the dispatcher found, b: thread it hands the CPU to, c: dispatcher's core
    kServe,    ///< a: thread, b: service time drawn (ns)
    kMigrate,  ///< a: thread, b: core
  };
  Kind kind;
  long long a = 0, b = 0, c = 0;
  bool operator==(const Decision&) const = default;
  std::string str() const;
};

/// Thread-safe append-only record (hw records from several threads).
class DecisionTrace {
 public:
  void add(Decision::Kind k, long long a, long long b, long long c = 0) {
    std::lock_guard<std::mutex> g(mu_);
    d_.push_back({k, a, b, c});
  }
  std::vector<Decision> decisions() const {
    std::lock_guard<std::mutex> g(mu_);
    return d_;
  }
  /// One decision per line, e.g. "handoff cq 3 -> thread 3 on core 0".
  std::string str() const;

 private:
  mutable std::mutex mu_;
  std::vector<Decision> d_;
};

class IrqLever;
/// Records the set-up decisions of a run from the backend's actual state:
/// each thread's core, each CQ's vector, each vector's IRQ core.
void trace_setup(DecisionTrace* t, std::span<const CoreId> thread_core,
                 std::span<const VectorId> cq_vector, const IrqLever& lever);

/// Records if `t` is not null.
inline void trace(DecisionTrace* t, Decision::Kind k, long long a, long long b, long long c = 0) {
  if (t) t->add(k, a, b, c);
}

}  // namespace fastwake
