// Discrete-event engine: int64-nanosecond clock, a 4-ary heap of plain
// events (function pointer + context + argument: no allocation, no virtual
// call), FIFO among events at the same time, deterministic for a seed. A
// plain object: create as many as you like in one process.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "fastwake/types.h"

namespace fastwake::sim {

using EventFn = void (*)(void* ctx, std::uint64_t arg);

class Engine {
 public:
  explicit Engine(std::uint64_t seed = 1) : rng_(seed) {}

  Nanos now() const { return now_; }

  /// Schedules fn(ctx, arg) at absolute time t >= now. A time in the past is
  /// a model bug (an overflowed or negative delay): std::logic_error, never a
  /// silent move to now. Config ranges keep every event time below ~1e14 ns
  /// (docs/config.md, "Time arithmetic"), so now + delay cannot overflow.
  void at(Nanos t, EventFn fn, void* ctx, std::uint64_t arg) {
    if (t < now_) [[unlikely]]
      past_time(t);
    heap_.push_back(Event{key(t, seq_++), fn, ctx, arg});
    sift_up(heap_.size() - 1);
  }
  /// Member-function convenience: engine.at<&Host::on_x>(t, this, arg).
  template <auto Method, class T>
  void at(Nanos t, T* obj, std::uint64_t arg = 0) {
    at(
        t, [](void* c, std::uint64_t a) { (static_cast<T*>(c)->*Method)(a); }, obj, arg);
  }

  bool empty() const { return heap_.empty(); }
  std::size_t pending() const { return heap_.size(); }
  /// Time of the next event (undefined when empty).
  Nanos next_time() const { return time_of(heap_.front().key); }

  /// Runs the earliest event. Returns false if there was none.
  bool step();
  /// Runs every event with time <= t, then sets now = t.
  void run_until(Nanos t);

  std::uint64_t events_run() const { return events_run_; }
  std::mt19937_64& rng() { return rng_; }

 private:
  /// (time, sequence) as one 128-bit key: time in the high half (never
  /// negative: at() refuses the past), the scheduling sequence in the low
  /// half, so one unsigned compare is the (t, seq) order and the heap's
  /// child selection compiles to conditional moves, not branches.
  using Key = unsigned __int128;
  static Key key(Nanos t, std::uint64_t seq) {
    return (static_cast<Key>(static_cast<std::uint64_t>(t)) << 64) | seq;
  }
  static Nanos time_of(Key k) { return static_cast<Nanos>(static_cast<std::uint64_t>(k >> 64)); }
  struct Event {
    Key key;
    EventFn fn;
    void* ctx;
    std::uint64_t arg;
  };
  [[noreturn]] void past_time(Nanos t) const;
  void sift_up(std::size_t i);
  void sift_down(std::size_t i);

  std::vector<Event> heap_;
  Nanos now_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t events_run_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace fastwake::sim
