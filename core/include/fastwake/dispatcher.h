// Per-core dispatcher (FastWake poll mode): one poller per core scans the CQs
// of every application thread on that core in round-robin order and hands the
// CPU to the owner of the first CQ that holds a completion.
//
// A step function: the backend calls poll_once() in its loop (hw: a
// SCHED_IDLE thread; sim: one modelled scan per call) and performs the
// hand-off it returns. After a hand-off the scan resumes at the CQ after the
// one served, so a busy connection cannot starve the others.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "fastwake/types.h"

namespace fastwake {

struct HandOff {
  CqId cq;
  ThreadId thread;
};

class Dispatcher {
 public:
  explicit Dispatcher(CoreId core) : core_(core) {}

  CoreId core() const { return core_; }

  /// Registers a CQ and its owner thread (thread arrives on this core).
  void add(CqId cq, ThreadId owner);
  /// Removes a CQ (thread migrated away or exited). Returns false if unknown.
  bool remove(CqId cq);
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

  /// Polls the CQ at the cursor and advances the cursor. Returns the hand-off
  /// if that CQ is ready. `Nic` is any type with `bool cq_ready(CqId) const`
  /// (a template so a final backend class is called without virtual dispatch).
  /// Called by this core's dispatcher only; never blocks.
  template <class NicT>
  std::optional<HandOff> poll_once(const NicT& nic) {
    if (entries_.empty()) return std::nullopt;
    const Entry& e = entries_[cursor_];
    cursor_ = (cursor_ + 1) % entries_.size();
    if (nic.cq_ready(e.cq)) return HandOff{e.cq, e.owner};
    return std::nullopt;
  }

  /// Number of poll_once() calls (O(1)), from the current cursor, until the CQ `cq`
  /// is polled (1 = the next call). 0 if the CQ is not registered. Lets a
  /// simulator jump over scans that find nothing instead of stepping each.
  std::size_t polls_until(CqId cq) const;
  /// Advances the cursor by n empty polls (what n poll_once() calls that
  /// found nothing would do).
  void skip(std::size_t n);

  std::size_t cursor() const { return cursor_; }
  /// Index of `cq` in the scan order (0 = polled first after a wrap), or -1
  /// if it is not registered. Indices shift down by one past a removed CQ.
  /// Lets a simulator keep its ready CQs in scan order (a bitset by index)
  /// and find the next one from the cursor without asking every CQ.
  int position(CqId cq) const {
    return cq < 0 || static_cast<std::size_t>(cq) >= pos_.size() ? -1 : pos_[cq];
  }

 private:
  struct Entry {
    CqId cq;
    ThreadId owner;
  };
  void reindex();

  CoreId core_;
  std::vector<Entry> entries_;
  std::vector<int> pos_;  // CqId -> index in entries_, -1 if absent (CQ ids are dense)
  std::size_t cursor_ = 0;
};

}  // namespace fastwake
