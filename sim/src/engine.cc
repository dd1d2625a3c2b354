// Event engine: a hand-rolled binary heap (std::priority_queue cannot move
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

void Engine::sift_up(std::size_t i) {
  Event e = heap_[i];
  while (i > 0) {
    const std::size_t p = (i - 1) / 2;
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
    std::size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && heap_[c + 1].before(heap_[c])) ++c;
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
