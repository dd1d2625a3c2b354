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
// share one or two cache lines; with ~10^4..10^5 pending events (one client
// timer per connection) sift_down's misses dominated the engine. (t, seq) is
// a total order, so the pop order is the binary heap's exactly.
void Engine::sift_up(std::size_t i) {
  Event e = heap_[i];
  while (i > 0) {
    const std::size_t p = (i - 1) / 4;
    if (!e.before(heap_[p])) break;
    heap_[i] = heap_[p];
    i = p;
  }
  heap_[i] = e;
}

void Engine::sift_down(std::size_t i) {
  const std::size_t n = heap_.size();
  Event e = heap_[i];
  for (;;) {
    std::size_t c = 4 * i + 1;
    if (c >= n) break;
    const std::size_t end = c + 4 < n ? c + 4 : n;
    for (std::size_t k = c + 1; k < end; ++k)
      if (heap_[k].before(heap_[c])) c = k;
    if (!heap_[c].before(e)) break;
    heap_[i] = heap_[c];
    i = c;
  }
  heap_[i] = e;
}

bool Engine::step() {
  if (heap_.empty()) return false;
  const Event e = heap_.front();
  heap_.front() = heap_.back();
  heap_.pop_back();
  if (!heap_.empty()) sift_down(0);
  now_ = e.t;
  ++events_run_;
  e.fn(e.ctx, e.arg);
  return true;
}

void Engine::run_until(Nanos t) {
  while (!heap_.empty() && heap_.front().t <= t) step();
  if (t > now_) now_ = t;
}

}  // namespace fastwake::sim
