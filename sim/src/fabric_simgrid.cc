// The SimGrid fabric: client <-> server messages travel as SimGrid
// communications (CM02 flow model) over a star, fat tree, dragonfly or
// platform file, co-simulated conservatively with the host model's own event
// queue (docs/fabric.md). One run per process: fastwake-sim-fabric calls it.
#include <xbt/log.h>
#include <simgrid/s4u.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <exception>
#include <memory>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "fastwake/errors.h"
#include "fastwake/sim/fabric.h"
#include "fastwake/sim/fabric_config.h"
#include "fastwake/sim/run_guard.h"

namespace fastwake::sim {
namespace {

namespace sg4 = simgrid::s4u;

constexpr double kSecondsPerNs = 1e-9;
constexpr double kHostSpeed = 1e9;  // flop/s; the fabric runs no computation

/// The SimGrid hosts the fabric connects. Connection c of server s (global
/// index g = s x connections + c) lives on clients[g % clients.size()].
struct Network {
  std::vector<sg4::Host*> servers;
  std::vector<sg4::Host*> clients;
  int connections = 0;       ///< per server
  double min_latency_s = 0;  ///< shortest server <-> client route latency in use
  sg4::Host* client_of(int server, ThreadId conn) const {
    const auto g = static_cast<std::size_t>(server) * static_cast<std::size_t>(connections) +
                   static_cast<std::size_t>(conn);
    return clients[g % clients.size()];
  }
};

double bytes_per_s(double gbps) { return gbps * 1e9 / 8.0; }

/// Client hosts for `connections` when the topology has room for `capacity`.
int client_count(const FabricConfig& f, int connections, int capacity) {
  return f.client_hosts > 0 ? f.client_hosts : std::min(connections, capacity);
}

Network build_star(const FabricConfig& f, int connections) {
  Network n;
  auto* zone = sg4::create_star_zone("fabric");
  auto link = [&](const std::string& name, double gbps, Nanos lat) {
    return zone->create_split_duplex_link(name, bytes_per_s(gbps))
        ->set_latency(static_cast<double>(lat) * kSecondsPerNs)
        ->seal();
  };
  for (int i = 0; i < f.servers; ++i) {
    auto* h = zone->create_host("server-" + std::to_string(i), kHostSpeed)->seal();
    auto* sl =
        link("server_link-" + std::to_string(i), f.server_link_gbps, f.server_link_latency_ns);
    zone->add_route(h->get_netpoint(), nullptr, nullptr, nullptr,
                    {{sl, sg4::LinkInRoute::Direction::UP}}, true);
    n.servers.push_back(h);
  }
  const int clients = client_count(f, connections * f.servers, connections * f.servers);
  for (int i = 0; i < clients; ++i) {
    auto* h = zone->create_host("client-" + std::to_string(i), kHostSpeed)->seal();
    auto* l = link("client_link-" + std::to_string(i), f.link_gbps, f.link_latency_ns);
    zone->add_route(h->get_netpoint(), nullptr, nullptr, nullptr,
                    {{l, sg4::LinkInRoute::Direction::UP}}, true);
    n.clients.push_back(h);
  }
  zone->seal();
  return n;
}

/// Fat tree and dragonfly: SimGrid's cluster zones; host i is leaf i, the
/// servers are the first leaves and the clients the leaves after them.
template <class MakeZone>
Network build_cluster(const FabricConfig& f, int connections, int leaves, MakeZone make_zone) {
  std::vector<sg4::Host*> hosts(static_cast<std::size_t>(leaves), nullptr);
  sg4::ClusterCallbacks callbacks(
      [&hosts](sg4::NetZone* zone, const std::vector<unsigned long>& /*coord*/, unsigned long id)
          -> std::pair<simgrid::kernel::routing::NetPoint*, simgrid::kernel::routing::NetPoint*> {
        auto* h = zone->create_host("node-" + std::to_string(id), kHostSpeed)->seal();
        if (id < hosts.size()) hosts[id] = h;
        return {h->get_netpoint(), nullptr};
      });
  sg4::NetZone* zone = make_zone(callbacks, bytes_per_s(f.link_gbps),
                                 static_cast<double>(f.link_latency_ns) * kSecondsPerNs);
  zone->seal();
  Network n;
  for (int i = 0; i < f.servers; ++i) n.servers.push_back(hosts.at(static_cast<std::size_t>(i)));
  const int clients = client_count(f, connections * f.servers, leaves - f.servers);
  for (int i = 0; i < clients; ++i)
    n.clients.push_back(hosts.at(static_cast<std::size_t>(f.servers + i)));
  if (std::find(hosts.begin(), hosts.end(), nullptr) != hosts.end())
    throw std::logic_error("SimGrid fabric: the cluster zone did not create every host");
  return n;
}

Network build_file(const sg4::Engine& e, const FabricConfig& f, int connections) {
  try {
    e.load_platform(f.file);
  } catch (const std::exception& ex) {
    throw ConfigError("fabric.file: cannot load SimGrid platform '" + f.file + "': " + ex.what());
  }
  Network n;
  for (std::size_t i = 0; i < f.server.size(); ++i) {
    sg4::Host* h = e.host_by_name_or_null(f.server[i]);
    const std::string key =
        f.server.size() == 1 ? "fabric.server" : "fabric.server[" + std::to_string(i) + "]";
    if (!h) throw ConfigError(key + ": no host '" + f.server[i] + "' in " + f.file);
    n.servers.push_back(h);
  }
  if (!f.clients.empty()) {
    for (std::size_t i = 0; i < f.clients.size(); ++i) {
      sg4::Host* h = e.host_by_name_or_null(f.clients[i]);
      if (!h)
        throw ConfigError("fabric.clients[" + std::to_string(i) + "]: no host '" + f.clients[i] +
                          "' in " + f.file);
      n.clients.push_back(h);
    }
  } else {
    std::vector<sg4::Host*> all = e.get_all_hosts();
    std::sort(all.begin(), all.end(),
              [](const sg4::Host* a, const sg4::Host* b) { return a->get_name() < b->get_name(); });
    for (sg4::Host* h : all)
      if (std::find(n.servers.begin(), n.servers.end(), h) == n.servers.end() &&
          static_cast<int>(n.clients.size()) < connections * f.servers)
        n.clients.push_back(h);
    if (n.clients.empty())
      throw ConfigError("fabric.file: " + f.file + " has no host besides the servers");
  }
  return n;
}

Network build_network(const sg4::Engine& e, const FabricConfig& f, int connections) {
  Network n;
  if (f.topology == Topology::kStar) {
    n = build_star(f, connections);
  } else if (f.topology == Topology::kFatTree) {
    const FatTreeShape& s = f.fat_tree;
    auto u = [](const std::vector<int>& v) { return std::vector<unsigned>(v.begin(), v.end()); };
    int leaves = 1;
    for (int d : s.down) leaves *= d;
    n = build_cluster(
        f, connections, leaves, [&](const sg4::ClusterCallbacks& cb, double bw, double lat) {
          return sg4::create_fatTree_zone(
              "fabric", nullptr,
              sg4::FatTreeParams(static_cast<unsigned>(s.levels), u(s.down), u(s.up), u(s.count)),
              cb, bw, lat, sg4::Link::SharingPolicy::SPLITDUPLEX);
        });
  } else if (f.topology == Topology::kDragonfly) {
    const DragonflyShape& s = f.dragonfly;
    auto p = [](int a, int b) { return std::pair<unsigned, unsigned>(a, b); };
    const int leaves = s.groups * s.chassis * s.routers * s.nodes;
    n = build_cluster(
        f, connections, leaves, [&](const sg4::ClusterCallbacks& cb, double bw, double lat) {
          return sg4::create_dragonfly_zone(
              "fabric", nullptr,
              sg4::DragonflyParams(p(s.groups, s.group_links), p(s.chassis, s.chassis_links),
                                   p(s.routers, s.router_links), static_cast<unsigned>(s.nodes)),
              cb, bw, lat, sg4::Link::SharingPolicy::SPLITDUPLEX);
        });
  } else {
    n = build_file(e, f, connections);
  }
  // Every client must reach its server both ways (SimGrid aborts otherwise).
  n.connections = connections;
  n.min_latency_s = -1;
  std::set<std::pair<const sg4::Host*, const sg4::Host*>> checked;
  for (int s = 0; s < f.servers; ++s) {
    for (ThreadId c = 0; c < connections; ++c) {
      const sg4::Host* client = n.client_of(s, c);
      if (!checked.insert({n.servers[static_cast<std::size_t>(s)], client}).second) continue;
      for (int dir = 0; dir < 2; ++dir) {
        std::vector<sg4::Link*> links;
        double lat = 0;
        const sg4::Host* a = dir ? n.servers[static_cast<std::size_t>(s)] : client;
        const sg4::Host* b = dir ? client : n.servers[static_cast<std::size_t>(s)];
        a->route_to(b, links, &lat);
        if (links.empty())
          throw ConfigError("fabric: no route between '" + a->get_name() + "' and '" +
                            b->get_name() + "' in the SimGrid platform");
        n.min_latency_s = n.min_latency_s < 0 ? lat : std::min(n.min_latency_s, lat);
      }
    }
  }
  return n;
}

/// A message a host model handed over, waiting for its time to enter the network.
struct Injection {
  Nanos enter;
  std::uint64_t seq;  // FIFO among equal times: deterministic
  int host;           // the server's host model
  Direction dir;
  ThreadId conn;
  int bytes;
  std::uint64_t msg;
  bool operator>(const Injection& o) const {
    return enter != o.enter ? enter > o.enter : seq > o.seq;
  }
};

/// Collects the host models' sends; the co-simulation loop moves them into SimGrid.
class SimGridFabric final : public Fabric {
 public:
  explicit SimGridFabric(int hosts) : active_(static_cast<std::size_t>(hosts), 0) {}
  void send(FabricPort& port, Direction dir, ThreadId conn, int bytes, std::uint64_t msg,
            Nanos enter) override {
    pending_.push({enter, seq_++, port.host, dir, conn, bytes, msg});
    ++active_[static_cast<std::size_t>(port.host)];
    // Nothing this message causes can reach the host before it enters the network.
    port.horizon = std::min(port.horizon, enter);
  }
  bool has_pending() const { return !pending_.empty(); }
  const Injection& next() const { return pending_.top(); }
  void pop() { pending_.pop(); }
  /// Messages of host `h` in the fabric: waiting to enter or in flight.
  int active(int h) const { return active_[static_cast<std::size_t>(h)]; }
  void delivered(int h) { --active_[static_cast<std::size_t>(h)]; }

 private:
  std::priority_queue<Injection, std::vector<Injection>, std::greater<>> pending_;
  std::vector<int> active_;
  std::uint64_t seq_ = 0;
};

struct CoSimStats {
  std::uint64_t messages = 0, rounds = 0;
  std::size_t max_in_flight = 0;
};

/// The conservative co-simulation (docs/fabric.md). Invariant at the top of
/// each round: SimGrid has reached time G with every injection < G started
/// and every delivery < G handed to its host model's engine. Each host model
/// then runs up to the earliest time a message not yet known could reach it:
/// G while it has messages in the network, else its own next send's entry
/// time (its messages are the only ones that arrive at it). Then SimGrid runs
/// to min(H) + L: every message that enters the network before that is
/// known, because a host model hands each one over at least
/// L = min(client_ns, nic_tx_ns) before it enters.
void co_simulate(const std::vector<HostSim*>& hosts, SimGridFabric& fabric, const Network& net,
                 Nanos lookahead, CoSimStats& stats) {
  struct Flight {
    int host;
    Direction dir;
    std::uint64_t msg;
  };
  std::vector<sg4::CommPtr> comms;
  std::vector<Flight> flights;
  struct Delivery {
    Nanos at;
    Flight f;
  };
  std::vector<Delivery> got;
  std::vector<char> over(hosts.size(), 0);
  Nanos g = 0;

  for (HostSim* h : hosts) h->start();
  for (;;) {
    ++stats.rounds;
    Nanos h_min = kNever;
    bool all_over = true;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
      if (over[i]) continue;
      HostSim& host = *hosts[i];
      FabricPort& port = host.port();
      port.horizon = fabric.active(static_cast<int>(i)) > 0 ? g : kNever;
      if (host.advance(kNever)) {
        over[i] = 1;
        continue;
      }
      all_over = false;
      const Nanos h = port.horizon;
      if (h == kNever)
        throw std::logic_error("SimGrid fabric: a host model stopped with " +
                               std::to_string(host.in_flight()) +
                               " requests in flight and nothing in the network (model bug)");
      if (h > host.drain_limit()) throw_not_drained(host.config(), host.in_flight());
      h_min = std::min(h_min, h);
    }
    if (all_over) break;

    // SimGrid phase: advance to h_min + lookahead, starting every message at
    // its entry time and collecting every arrival before the target.
    const Nanos target = h_min + lookahead;
    got.clear();
    for (;;) {
      const Nanos inj = fabric.has_pending() ? fabric.next().enter : kNever;
      const Nanos stop = std::min(inj, target);
      if (g < stop) {
        const double timeout = static_cast<double>(stop) * kSecondsPerNs - sg4::Engine::get_clock();
        if (timeout > 0) {
          if (comms.empty()) {
            sg4::this_actor::sleep_for(timeout);
          } else {
            const ssize_t i = sg4::Comm::wait_any_for(comms, timeout);
            if (i >= 0) {
              const auto k = static_cast<std::size_t>(i);
              const Nanos at =
                  std::max<Nanos>(g, std::llround(sg4::Engine::get_clock() / kSecondsPerNs));
              got.push_back({at, flights[k]});
              comms[k] = comms.back();
              comms.pop_back();
              flights[k] = flights.back();
              flights.pop_back();
              continue;
            }
          }
        }
        g = stop;
      }
      if (inj < g)
        throw std::logic_error("SimGrid fabric: a message entered the network late (bug)");
      if (inj == g && inj < target) {
        const Injection m = fabric.next();
        fabric.pop();
        sg4::Host* client = net.client_of(m.host, m.conn);
        sg4::Host* server = net.servers[static_cast<std::size_t>(m.host)];
        sg4::Host* from = m.dir == Direction::kToServer ? client : server;
        sg4::Host* to = m.dir == Direction::kToServer ? server : client;
        comms.push_back(sg4::Comm::sendto_async(from, to, static_cast<std::uint64_t>(m.bytes)));
        flights.push_back({m.host, m.dir, m.msg});
        ++stats.messages;
        stats.max_in_flight = std::max(stats.max_in_flight, comms.size());
        continue;
      }
      break;  // g == target
    }

    for (const Delivery& d : got) {
      HostSim& host = *hosts[static_cast<std::size_t>(d.f.host)];
      FabricPort& port = host.port();
      if (d.at < host.engine().now())
        throw std::logic_error("SimGrid fabric: a message arrived in the host model's past (bug)");
      fabric.delivered(d.f.host);
      host.engine().at(d.at, d.f.dir == Direction::kToServer ? port.to_server : port.to_client,
                       port.ctx, d.f.msg);
    }
  }
  if (!comms.empty() || fabric.has_pending())
    throw std::logic_error("SimGrid fabric: the run ended with messages in the network (bug)");
}

/// One strategy's results over several servers: every measured request of
/// every server (latency percentiles from all samples), throughput summed,
/// power, CPU and state shares the mean per server, energy per request =
/// all servers' energy / all requests, counters summed.
StrategyRun merge_servers(std::vector<StrategyRun>& runs, int connections, bool keep_samples) {
  StrategyRun out;
  StrategyResult& r = out.result;
  const StrategyResult& first = runs.front().result;
  r.strategy = first.strategy;
  r.backend = first.backend;
  r.platform = first.platform;
  r.seed = first.seed;
  r.power_estimated = first.power_estimated;
  Histogram hist;
  double power_sum = 0;
  const double n = static_cast<double>(runs.size());
  for (std::size_t s = 0; s < runs.size(); ++s) {
    StrategyRun& run = runs[s];
    const StrategyResult& x = run.result;
    for (Sample smp : run.samples) {
      hist.record(smp.latency);
      smp.thread += static_cast<ThreadId>(s) * connections;  // global connection index
      if (keep_samples) out.samples.push_back(smp);
    }
    r.requests += x.requests;
    r.throughput_rps += x.throughput_rps;
    r.cpu_util += x.cpu_util / n;
    r.power_w += x.power_w / n;
    r.core_power_w += x.core_power_w / n;
    r.package_power_w += x.package_power_w / n;
    // Every server's cores in turn; saturated when any server's app core is.
    r.core_util.insert(r.core_util.end(), x.core_util.begin(), x.core_util.end());
    r.core_load.insert(r.core_load.end(), x.core_load.begin(), x.core_load.end());
    r.max_app_core_util = std::max(r.max_app_core_util, x.max_app_core_util);
    r.max_app_core_load = std::max(r.max_app_core_load, x.max_app_core_load);
    r.saturated = r.saturated || x.saturated;
    power_sum += x.power_w;
    for (const auto& [k, v] : x.breakdown_us)
      r.breakdown_us[k] += v * static_cast<double>(x.requests);
    for (const auto& [k, v] : x.state_share) r.state_share[k] += v / n;
    for (const auto& [k, v] : x.extra.items()) {
      if (v.is_number_unsigned() && r.extra.contains(k))
        r.extra[k] = r.extra[k].get<std::uint64_t>() + v.get<std::uint64_t>();
      else if (!r.extra.contains(k))
        r.extra[k] = v;
    }
    out.sent += run.sent;
    out.completed += run.completed;
    out.events += run.events;
    out.wall_s = std::max(out.wall_s, run.wall_s);
  }
  if (hist.count() != r.requests)
    throw std::logic_error("SimGrid fabric: merging servers lost requests (bug)");
  r.latency_us = LatencySummary::from(hist);
  for (auto& [k, v] : r.breakdown_us) v = r.requests ? v / static_cast<double>(r.requests) : 0.0;
  r.energy_per_req_uj = r.throughput_rps > 0 ? power_sum / r.throughput_rps * 1e6 : 0.0;
  if (keep_samples)
    std::stable_sort(out.samples.begin(), out.samples.end(),
                     [](const Sample& a, const Sample& b) { return a.done < b.done; });
  return out;
}

/// The process's one SimGrid engine, configured as both the fabric and the
/// ping-pong peer use it.
sg4::Engine& make_engine() {
  static std::string arg0 = "fastwake-sim-fabric";
  static std::string log = "--log=root.thres:warning";
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer cannot follow SimGrid's own stack switching (false
  // reports); actors on system threads are slower but clean.
  static std::string contexts = "--cfg=contexts/factory:thread";
#else
  static std::string contexts = "--cfg=contexts/factory:raw";
#endif
  static char* argv[] = {arg0.data(), log.data(), contexts.data(), nullptr};
  static int argc = 3;
  static sg4::Engine e(&argc, argv);
  // CM02: latency + size / bandwidth share, no small-message correction
  // factors (LV08 multiplies latency by ~13); no TCP window bound, no ACK
  // cross-traffic (RDMA); time kept well below 1 ns (the default rounds to it).
  e.set_config("network/model:CM02");
  e.set_config("network/TCP-gamma:0");
  e.set_config("network/crosstraffic:0");
  e.set_config("surf/precision:1e-12");
  return e;
}

double process_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

PingPongRun simgrid_pingpong_here(const PingPongSpec& p) {
  static bool used = false;
  if (used) throw std::logic_error("simgrid_pingpong_here: one SimGrid run per process");
  used = true;
  if (p.pairs < 1 || p.round_trips < 1 || p.latency_ns < 0 || p.gbps <= 0 || p.bytes < 1)
    throw ConfigError("ping-pong: pairs, round_trips, bytes >= 1, gbps > 0, latency_ns >= 0");
  sg4::Engine& e = make_engine();
  auto* zone = sg4::create_star_zone("pingpong");
  const double half_latency_s = static_cast<double>(p.latency_ns) * kSecondsPerNs / 2;
  auto add_host = [&](const std::string& name) {
    auto* h = zone->create_host(name, kHostSpeed)->seal();
    auto* l = zone->create_split_duplex_link(name + "_link", bytes_per_s(p.gbps))
                  ->set_latency(half_latency_s)
                  ->seal();
    zone->add_route(h->get_netpoint(), nullptr, nullptr, nullptr,
                    {{l, sg4::LinkInRoute::Direction::UP}}, true);
    return h;
  };
  std::vector<sg4::Host*> ping, pong;
  for (int i = 0; i < p.pairs; ++i) {
    ping.push_back(add_host("ping-" + std::to_string(i)));
    pong.push_back(add_host("pong-" + std::to_string(i)));
  }
  zone->seal();
  std::uint64_t done = 0;
  static char payload = 0;  // the message carries no data; its size is simulated
  for (int i = 0; i < p.pairs; ++i) {
    sg4::Mailbox* to_pong = sg4::Mailbox::by_name("to-pong-" + std::to_string(i));
    sg4::Mailbox* to_ping = sg4::Mailbox::by_name("to-ping-" + std::to_string(i));
    const auto bytes = static_cast<std::uint64_t>(p.bytes);
    const std::int64_t n = p.round_trips;
    sg4::Actor::create("ping", ping[static_cast<std::size_t>(i)], [=, &done] {
      for (std::int64_t k = 0; k < n; ++k) {
        to_pong->put(&payload, bytes);
        to_ping->get<char>();
        ++done;
      }
    });
    sg4::Actor::create("pong", pong[static_cast<std::size_t>(i)], [=] {
      for (std::int64_t k = 0; k < n; ++k) {
        to_pong->get<char>();
        to_ping->put(&payload, bytes);
      }
    });
  }
  const double c0 = process_cpu_s();
  const auto w0 = std::chrono::steady_clock::now();
  e.run();
  PingPongRun o;
  o.cpu_s = process_cpu_s() - c0;
  o.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  o.round_trips = done;
  o.sim_s = sg4::Engine::get_clock();
  return o;
}


StrategyRun simulate_simgrid_here(const Config& cfg, const StrategySpec& strategy) {
  static bool used = false;  // SimGrid: one engine per process, state does not reset
  if (used) throw std::logic_error("simulate_simgrid_here: one SimGrid run per process");
  used = true;

  sg4::Engine& e = make_engine();

  const int connections = cfg.threads();
  const FabricConfig fabric_cfg = parse_fabric(cfg);
  const Network net = build_network(e, fabric_cfg, connections);
  const Nanos lookahead = std::min(cfg.platform.client_ns, cfg.platform.nic_tx_ns);
  if (lookahead <= 0)
    throw ConfigError("fabric.kind: the SimGrid fabric needs client_ns and nic_tx_ns > 0");

  // One host model per server. Server 0 keeps the seed (one server = the
  // plain run); the others get their own streams. With several servers every
  // request is recorded, to merge the latency percentiles.
  const int servers = fabric_cfg.servers;
  std::vector<Config> cfgs(static_cast<std::size_t>(servers), cfg);
  for (int s = 1; s < servers; ++s) {
    Config& c = cfgs[static_cast<std::size_t>(s)];
    c.run.seed = cfg.run.seed + 0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(s);
    c.run.record_samples = true;
  }
  if (servers > 1) cfgs[0].run.record_samples = true;
  SimGridFabric fabric(servers);
  std::vector<std::unique_ptr<HostSim>> owned;
  std::vector<HostSim*> hosts;
  for (int s = 0; s < servers; ++s) {
    owned.push_back(
        std::make_unique<HostSim>(cfgs[static_cast<std::size_t>(s)], strategy, fabric, s));
    hosts.push_back(owned.back().get());
  }
  CoSimStats stats;
  std::vector<StrategyRun> runs;
  std::exception_ptr error;
  sg4::Actor::create("fastwake-cosim", net.servers.front(), [&] {
    try {
      co_simulate(hosts, fabric, net, lookahead, stats);
      for (HostSim* h : hosts) runs.push_back(h->finish());
    } catch (...) {
      error = std::current_exception();
    }
  });
  e.run();
  if (error) std::rethrow_exception(error);

  StrategyRun out = servers == 1 ? std::move(runs.front())
                                 : merge_servers(runs, connections, cfg.run.record_samples);
  out.result.extra["fabric"] = "simgrid";
  out.result.extra["fabric_topology"] = std::string(topology_name(fabric_cfg.topology));
  out.result.extra["fabric_servers"] = servers;
  out.result.extra["fabric_client_hosts"] = net.clients.size();
  out.result.extra["fabric_messages"] = stats.messages;
  out.result.extra["fabric_rounds"] = stats.rounds;
  out.result.extra["fabric_max_in_flight"] = stats.max_in_flight;
  out.result.extra["fabric_min_route_latency_ns"] = std::llround(net.min_latency_s / kSecondsPerNs);
  return out;
}

}  // namespace fastwake::sim
