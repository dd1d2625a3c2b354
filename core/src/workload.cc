// Workload clocks (see workload.h).
#include "fastwake/workload.h"

#include <algorithm>
#include <cmath>

#include "fastwake/config.h"
#include "fastwake/errors.h"

namespace fastwake {
namespace {

constexpr std::uint64_t kClientDomain = 1, kServiceDomain = 2;

/// Cap of one random draw: a double beyond int64 must not reach the cast.
constexpr double kMaxDrawNs = 1e15;

Nanos exp_draw(Stream& s, Nanos mean) {
  std::exponential_distribution<double> d(1.0 / static_cast<double>(mean));
  return static_cast<Nanos>(std::llround(std::min(d(s), kMaxDrawNs)));
}

}  // namespace

LoadKind parse_load_kind(std::string_view name) {
  if (name == "pingpong") return LoadKind::kPingPong;
  if (name == "poisson") return LoadKind::kPoisson;
  if (name == "script") return LoadKind::kScript;
  throw ConfigError("workload.kind: \"" + std::string(name) +
                    "\" is not one of pingpong, poisson, script");
}

Dist parse_dist(std::string_view name, std::string_view key) {
  if (name == "fixed") return Dist::kFixed;
  if (name == "exp") return Dist::kExp;
  throw ConfigError(std::string(key) + ": \"" + std::string(name) + "\" is not one of fixed, exp");
}

std::string_view load_kind_name(LoadKind k) {
  switch (k) {
    case LoadKind::kPingPong:
      return "pingpong";
    case LoadKind::kPoisson:
      return "poisson";
    case LoadKind::kScript:
      return "script";
  }
  return "?";
}

std::string_view dist_name(Dist d) { return d == Dist::kExp ? "exp" : "fixed"; }

Stream make_stream(std::uint64_t seed, std::uint64_t domain, std::uint64_t i) {
  // Mix the three into one key so neighbouring seeds/indices give unrelated streams.
  Stream mix(seed * 0x9e3779b97f4a7c15ULL ^ (domain << 56) ^ i);
  return Stream(mix() ^ (i * 0xd1b54a32d192ed03ULL));
}

ClientClock::ClientClock(const WorkloadConfig& w, std::uint64_t seed, int connections)
    : w_(w), kind_(w.kind), think_dist_(w.think_dist) {
  streams_.reserve(static_cast<std::size_t>(connections));
  for (int c = 0; c < connections; ++c) streams_.push_back(make_stream(seed, kClientDomain, c));
}

Nanos ClientClock::think(int c) {
  if (w_.think_ns <= 0 || think_dist_ == Dist::kFixed) return w_.think_ns;
  return exp_draw(streams_[c], w_.think_ns);
}

Nanos ClientClock::gap(int c) {
  std::exponential_distribution<double> d(w_.rate_rps / 1e9);
  // rate_rps >= 1e-3 (config ranges): the largest draw (~37 means) is < 4e13 ns;
  // the cap only keeps the cast defined for a WorkloadConfig built by hand.
  return 1 + static_cast<Nanos>(std::min(d(streams_[c]), kMaxDrawNs));
}

Nanos ClientClock::first_send(int c, Nanos t0) {
  if (open_loop()) return t0 + gap(c);
  return t0 + std::uniform_int_distribution<Nanos>(0, 10'000)(streams_[c]);
}

std::optional<ClientClock::Next> ClientClock::next_scripted(Nanos prev) {
  if (script_pos_ >= w_.script.size()) return std::nullopt;
  const ScriptStep& s = w_.script[script_pos_++];
  return Next{s.conn, prev + s.after_ns, s.migrate_to};
}

ServiceClock::ServiceClock(const WorkloadConfig& w, std::uint64_t seed, int threads)
    : mean_(w.service_ns), dist_(w.service_dist) {
  streams_.reserve(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) streams_.push_back(make_stream(seed, kServiceDomain, t));
}

Nanos ServiceClock::draw(ThreadId t) {
  if (mean_ <= 0 || dist_ == Dist::kFixed) return mean_;
  return exp_draw(streams_[t], mean_);
}

}  // namespace fastwake
