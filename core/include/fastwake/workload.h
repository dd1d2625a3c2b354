// The workload's clocks, written once for every backend: when each emulated
// client sends (closed-loop think times, open-loop Poisson gaps, the first
// send, a scripted sequence) and how long each request's service takes.
//
// Every connection and every server thread draws from its own stream, seeded
// from run.seed and its index only. So the simulator, the loopback NIC and
// the verbs client draw the same sequence for the same config, and every
// strategy of one run sees the same client behaviour (common random numbers:
// strategy differences are not blurred by different draws).
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

#include "fastwake/types.h"

namespace fastwake {

struct WorkloadConfig;

/// workload.kind, parsed once.
enum class LoadKind {
  kPingPong,  ///< closed loop: a connection sends again a think time after its reply
  kPoisson,   ///< open loop: Poisson arrivals per connection at rate_rps
  kScript,    ///< workload.script: one request in flight host-wide, in the given order
};
/// workload.service_dist / think_dist, parsed once.
enum class Dist { kFixed, kExp };

/// Parsed once, when the config is loaded (Config holds the enums); ConfigError
/// naming the known ones. The names are the JSON strings.
LoadKind parse_load_kind(std::string_view name);
Dist parse_dist(std::string_view name, std::string_view key);
std::string_view load_kind_name(LoadKind k);  ///< "pingpong" | "poisson" | "script"
std::string_view dist_name(Dist d);           ///< "fixed" | "exp"

/// A random stream of 16 bytes (SplitMix64, Steele, Lea & Flood, OOPSLA 2014;
/// the generator of Java's SplittableRandom): a key and a counter. Small
/// enough for one per connection at 64 x 256 threads; a UniformRandomBitGenerator.
class Stream {
 public:
  using result_type = std::uint64_t;
  explicit Stream(std::uint64_t key = 0) : state_(key) {}
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  result_type operator()() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

/// The stream of index `i` in `domain` (clients, service, ...) for `seed`.
Stream make_stream(std::uint64_t seed, std::uint64_t domain, std::uint64_t i);

/// When the emulated clients send. Used by the simulator's clients, the
/// loopback NIC thread and the verbs replay client.
class ClientClock {
 public:
  ClientClock(const WorkloadConfig& w, std::uint64_t seed, int connections);

  LoadKind kind() const { return kind_; }
  bool open_loop() const { return kind_ == LoadKind::kPoisson; }
  bool scripted() const { return kind_ == LoadKind::kScript; }

  /// Closed loop: pause between connection c's reply and its next request.
  Nanos think(int c);
  /// Open loop: time from one request of connection c to its next (>= 1 ns).
  Nanos gap(int c);
  /// First send of connection c (not scripted): a Poisson gap after t0, or
  /// (closed loop) a uniform offset in [t0, t0 + 10 us] (breaks lock-step starts).
  Nanos first_send(int c, Nanos t0);

  /// Scripted: the next step (a request, or a migration), due `after_ns` after `prev` (the previous
  /// request's reply, or the start time for the first). None when the script is over.
  struct Next {
    ThreadId conn;
    Nanos at;
    CoreId migrate_to = kNoCore;  ///< not kNoCore: move thread `conn` there instead of sending
  };
  std::optional<Next> next_scripted(Nanos prev);

 private:
  const WorkloadConfig& w_;
  LoadKind kind_;
  Dist think_dist_;
  std::vector<Stream> streams_;
  std::size_t script_pos_ = 0;
};

/// How long each request's application work takes, per server thread.
class ServiceClock {
 public:
  ServiceClock(const WorkloadConfig& w, std::uint64_t seed, int threads);
  /// Service time of thread t's next request. Owner thread only (hw: one
  /// stream per thread, so threads need no lock).
  Nanos draw(ThreadId t);

 private:
  Nanos mean_;
  Dist dist_;
  std::vector<Stream> streams_;
};

}  // namespace fastwake
