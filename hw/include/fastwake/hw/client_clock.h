// When emulated clients send: per-connection think times (closed loop) and
// arrival gaps (open-loop Poisson), seeded per connection. Shared by the
// loopback NIC and the verbs client so both drive the same workload.
#pragma once

#include <random>
#include <vector>

#include "fastwake/config.h"

namespace fastwake::hw {

class ClientClock {
 public:
  ClientClock(const WorkloadConfig& w, std::uint64_t seed, int connections) : w_(w) {
    for (int c = 0; c < connections; ++c) rng_.emplace_back(seed * 1'000'003 + c);
  }
  bool poisson() const { return w_.kind == "poisson"; }
  /// Closed loop: pause between a reply and the connection's next request.
  Nanos think(int c) {
    if (w_.think_ns <= 0) return 0;
    if (w_.think_dist == "fixed") return w_.think_ns;
    return static_cast<Nanos>(std::exponential_distribution<double>(1.0 / w_.think_ns)(rng_[c]));
  }
  /// Open loop: time from one request of the connection to its next.
  Nanos gap(int c) {
    return 1 + static_cast<Nanos>(std::exponential_distribution<double>(w_.rate_rps / 1e9)(rng_[c]));
  }
  /// First send: a Poisson gap, or (closed loop) a random offset within 10 us.
  Nanos first_send(int c, Nanos t0) {
    if (poisson()) return t0 + gap(c);
    return t0 + std::uniform_int_distribution<Nanos>(0, 10'000)(rng_[c]);
  }

 private:
  const WorkloadConfig& w_;
  std::vector<std::mt19937_64> rng_;
};

}  // namespace fastwake::hw
