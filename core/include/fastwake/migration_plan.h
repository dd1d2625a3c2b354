// workload.migrations on a real host's control thread (loopback and verbs
// replay server; the simulator schedules the same migrations as events):
// in time order, and what carrying one out means for the policies — the
// backend moves the thread, the remap driver learns where it sleeps now, the
// decision is recorded.
#pragma once

#include <algorithm>
#include <optional>
#include <vector>

#include "fastwake/config.h"
#include "fastwake/decision_trace.h"
#include "fastwake/remap_driver.h"

namespace fastwake {

/// One migration carried out: the backend's `move(thread, core)`, then the
/// remapper (if any) is told, then the decision is recorded.
template <class Move>
void carry_out_migration(ThreadId t, CoreId to, Nanos now, Move&& move, RemapDriver* remap,
                         DecisionTrace* trace_to) {
  trace(trace_to, Decision::Kind::kMigrate, t, to);
  move(t, to);
  if (remap) remap->thread_at(t, to, now);
}

class MigrationPlan {
 public:
  explicit MigrationPlan(std::vector<Migration> m) : m_(std::move(m)) {
    std::stable_sort(m_.begin(), m_.end(),
                     [](const Migration& a, const Migration& b) { return a.at_ns < b.at_ns; });
  }
  /// When the next migration is due, relative to the run's start.
  std::optional<Nanos> next_at() const {
    if (i_ >= m_.size()) return std::nullopt;
    return m_[i_].at_ns;
  }
  /// Carries out every migration due at `rel_now` (time since the run's
  /// start; `now` is the absolute time the remapper is told).
  template <class Move>
  void run_due(Nanos rel_now, Nanos now, Move&& move, RemapDriver* remap, DecisionTrace* t) {
    for (; i_ < m_.size() && m_[i_].at_ns <= rel_now; ++i_)
      carry_out_migration(m_[i_].thread, m_[i_].to_core, now, move, remap, t);
  }

 private:
  std::vector<Migration> m_;
  std::size_t i_ = 0;
};

}  // namespace fastwake
