// Fabrics: how messages travel between clients and the server host model.
// The simple fabric is the host model's own fixed-delay link; the SimGrid
// fabric co-simulates a SimGrid network (docs/fabric.md).
#pragma once

#include <cstdint>
#include <limits>
#include <memory>

#include "fastwake/config.h"
#include "fastwake/sim/engine.h"
#include "fastwake/sim/fabric_config.h"
#include "fastwake/sim/simulate.h"
#include "fastwake/strategy.h"

namespace fastwake::sim {

inline constexpr Nanos kNever = std::numeric_limits<Nanos>::max();

enum class Direction : std::uint8_t {
  kToServer,  ///< a request, client -> server NIC
  kToClient,  ///< a reply, server NIC -> client
};

/// Where a fabric delivers the messages of one host model: its engine and its
/// two arrival handlers. Owned by the host model; the fabric may lower
/// `horizon` from send() (the host model runs no event at or after it).
struct FabricPort {
  Engine* engine = nullptr;
  EventFn to_server = nullptr;  ///< fn(ctx, msg) at the server NIC (the request arrived)
  EventFn to_client = nullptr;  ///< fn(ctx, msg) at the client (the reply arrived)
  void* ctx = nullptr;
  int host = 0;            ///< index of the host model in a co-simulation
  Nanos horizon = kNever;  ///< earliest time a not-yet-known message could arrive
};

/// The network between the clients and the server. Called only from the host
/// model's event handlers (one thread), in simulated-time order.
class Fabric {
 public:
  virtual ~Fabric() = default;
  /// Message `msg` (an id the port's handler gets back) of `bytes` bytes, on
  /// connection `conn`, enters the network at `enter`: after the sender's
  /// software/NIC delay (client_ns for requests, nic_tx_ns for replies), so
  /// enter >= the engine's now. The fabric delivers it by scheduling the
  /// port's handler at the arrival time; never earlier than `enter`.
  virtual void send(FabricPort& port, Direction dir, ThreadId conn, int bytes, std::uint64_t msg,
                    Nanos enter) = 0;
};

/// The default fabric: every message takes link_latency_ns + bytes x 8 /
/// link_gbps (rounded to the nearest ns) after entering the network; no
/// contention. Exactly the host model's link before fabrics existed.
class SimpleFabric final : public Fabric {
 public:
  SimpleFabric(Nanos latency_ns, double gbps) : latency_ns_(latency_ns), gbps_(gbps) {}
  explicit SimpleFabric(const Platform& p) : SimpleFabric(p.link_latency_ns, p.link_gbps) {}

  /// One-way time on the wire for `bytes`.
  Nanos wire_ns(int bytes) const;

  void send(FabricPort& port, Direction dir, ThreadId conn, int bytes, std::uint64_t msg,
            Nanos enter) override;

 private:
  Nanos latency_ns_;
  double gbps_;
};

/// A host model driven from outside, for co-simulation with a network
/// simulator: start(), then advance() as far as the network allows while the
/// fabric delivers messages into engine(), then finish(). simulate() is
/// start(); advance(kNever); finish() with the simple fabric.
class HostSim {
 public:
  /// `fabric` must outlive this object. `host` is written into the port.
  HostSim(const Config& cfg, const StrategySpec& strategy, Fabric& fabric, int host = 0);
  ~HostSim();
  HostSim(const HostSim&) = delete;
  HostSim& operator=(const HostSim&) = delete;

  /// Sets up threads and clients (schedules the first events at t >= 0).
  void start();
  /// Runs every event with time < min(until, port().horizon), in order.
  /// Returns true once the run is over: the window has closed and no request
  /// is in flight (further calls do nothing).
  bool advance(Nanos until);
  /// Requests sent and not yet answered (in the host or in the network).
  std::uint64_t in_flight() const;
  /// The drain limit: a request still in flight after this is a model bug.
  Nanos drain_limit() const;
  /// The config this host model runs.
  const Config& config() const;
  Engine& engine();
  FabricPort& port();
  /// Results; throws std::logic_error if requests are still in flight.
  StrategyRun finish();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

/// True if this build can run the SimGrid fabric (its driver binary exists).
bool simgrid_fabric_available();

/// Runs one strategy of a config whose fabric is "simgrid" in a child
/// process (one SimGrid engine per process: its clock, configuration and
/// callbacks do not reset) and returns its results. simulate() calls this;
/// safe to call from several threads at once. Throws ConfigError when the
/// build has no SimGrid fabric or the child rejects the config, and
/// std::runtime_error when the child fails otherwise.
StrategyRun simulate_in_child(const Config& cfg, const StrategySpec& strategy);

/// The SimGrid co-simulation itself, in this process. Only the driver binary
/// (fastwake-sim-fabric) calls it, once per process. Defined only in builds
/// with SimGrid (library fastwake_sim_simgrid).
StrategyRun simulate_simgrid_here(const Config& cfg, const StrategySpec& strategy);

/// SimGrid's own busy-poll ping-pong, the peer of `fastwake-sim --bench
/// --vs-simgrid`: `pairs` independent pairs of S4U actors, each pair on its
/// own two hosts of a star whose links (latency_ns / 2 each, so a route is
/// latency_ns) nobody else uses, exchange `bytes`-byte messages through
/// mailboxes `round_trips` times, under CM02 as the SimGrid fabric runs it.
struct PingPongSpec {
  int pairs = 64;
  std::int64_t round_trips = 1000;  ///< per pair
  Nanos latency_ns = 1000;          ///< one way, route total
  double gbps = 100;
  int bytes = 64;
};
struct PingPongRun {
  std::uint64_t round_trips = 0;   ///< completed, all pairs
  double cpu_s = 0, wall_s = 0;    ///< of the engine run (set-up excluded)
  double sim_s = 0;                ///< simulated time at the end
};
/// Runs it in a child process (fastwake-sim-fabric); throws ConfigError
/// without a SimGrid build.
PingPongRun simgrid_pingpong_in_child(const PingPongSpec& spec);
/// In this process; only the driver binary calls it, once.
PingPongRun simgrid_pingpong_here(const PingPongSpec& spec);
nlohmann::json pingpong_to_json(const PingPongSpec& p);
PingPongSpec pingpong_from_json(const nlohmann::json& j);

/// The wire format between simulate_in_child() and the driver binary.
nlohmann::json strategy_to_json(const StrategySpec& s);
StrategySpec strategy_from_json(const nlohmann::json& j);
nlohmann::json run_to_json(const StrategyRun& r);
StrategyRun run_from_json(const nlohmann::json& j);

}  // namespace fastwake::sim
