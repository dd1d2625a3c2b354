// Event engine: a hand-rolled 4-ary heap (std::priority_queue cannot move
// the top element out, which costs a copy per event).
#include "fastwake/sim/engine.h"

#include <stdexcept>
#include <string>
#include <utility>

namespace fastwake::sim {

void Engine::past_time(Nanos t) const {
  throw std::logic_error("event engine: an event scheduled at " + std::to_string(t) +
                         " ns, before now = " + std::to_string(now_) +
                         " ns (a negative or overflowed delay: model bug)");
}

// A 4-ary heap: half the levels of a binary one, and a node's four children
// share one or two cache lines. (t, seq) is a total order, so the pop order
// is any correct heap's exactly (the golden and ScaleEquivalence tests hold
// it). Profiling 64 cores x 1 thread of busy-poll ping-pong (perf, issue 14)
// found sift_down at 48 % of the run with only ~70 events pending: the cost
// was mispredicted compares, not memory. So: one 128-bit key per event, the
// least child picked without branches, and pop as Floyd's bottom-up variant
// (the hole goes down the least-child path to a leaf, then the last element,
// which is usually late, rises from there: ~half the compares).
void Engine::sift_up(std::size_t i) {
  Event e = heap_[i];
  while (i > 0) {
    const std::size_t p = (i - 1) / 4;
    if (!(e.key < heap_[p].key)) break;
    heap_[i] = heap_[p];
    i = p;
  }
  heap_[i] = e;
}

void Engine::sift_down(std::size_t i) {
  // Bottom-up: move the hole at i down along the least children to a leaf,
  // then put the element that was at i there and let it rise.
  const std::size_t n = heap_.size();
  const Event e = heap_[i];
  for (;;) {
    const std::size_t c = 4 * i + 1;
    if (c >= n) break;
    std::size_t m = c;
    if (c + 3 < n) {
      const std::size_t m01 = heap_[c + 1].key < heap_[c].key ? c + 1 : c;
      const std::size_t m23 = heap_[c + 3].key < heap_[c + 2].key ? c + 3 : c + 2;
      m = heap_[m23].key < heap_[m01].key ? m23 : m01;
    } else {
      for (std::size_t k = c + 1; k < n; ++k) m = heap_[k].key < heap_[m].key ? k : m;
    }
    heap_[i] = heap_[m];
    i = m;
  }
  heap_[i] = e;
  sift_up(i);
}

bool Engine::step() {
  if (heap_.empty()) return false;
  const Event e = heap_.front();
  heap_.front() = heap_.back();
  heap_.pop_back();
  if (!heap_.empty()) sift_down(0);
  now_ = time_of(e.key);
  ++events_run_;
  e.fn(e.ctx, e.arg);
  return true;
}

void Engine::run_until(Nanos t) {
  while (!heap_.empty() && time_of(heap_.front().key) <= t) step();
  if (t > now_) now_ = t;
}

}  // namespace fastwake::sim
