// Fabrics: the fabric config, the simple fabric and the stepwise host model,
// and the SimGrid fabric's validation (same latencies as the simple fabric
// for one client, incast following the bandwidth share, determinism). Each
// SimGrid run happens in its own process (simulate() starts
// fastwake-sim-fabric); those tests skip when the build has no SimGrid.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/sim/fabric.h"
#include "fastwake/sim/simulate.h"
#include "fastwake/strategy.h"

namespace fastwake {
namespace {

using json = nlohmann::json;
using sim::simulate;
using sim::StrategyRun;

std::string error_of(const json& doc) {
  try {
    sim::load_config(doc);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_FABRIC_ERROR(fabric, prefix)                                          \
  do {                                                                               \
    const std::string msg_ = error_of(json{{"fabric", json::parse(fabric)}});        \
    EXPECT_EQ(msg_.rfind(prefix, 0), 0u)                                             \
        << "expected an error starting with\n  " << (prefix) << "\ngot\n  " << msg_; \
  } while (0)

/// One connection (thread) on core 0 of a 2-core host, C-states capped at C1.
Config one_client_config(int message_bytes, Nanos think_ns) {
  Config c = parse_config(default_config());
  c.workload.migrations.clear();
  c.host.cores = 2;
  c.host.app_cores = 1;
  c.host.vectors = 1;
  c.host.irq_placement = IrqPlacement::kCore0;
  c.host.max_cstate = 1;
  c.workload.threads_per_core = 1;
  c.workload.message_bytes = message_bytes;
  c.workload.think_ns = think_ns;
  c.workload.think_dist = Dist::kExp;
  c.workload.service_ns = 1000;
  c.workload.service_dist = Dist::kExp;
  c.run.warmup_ns = 1'000'000;
  c.run.duration_ns = 4'000'000;
  c.run.record_samples = true;
  return c;
}

/// The same config on the default SimGrid fabric (a star; a lone client sees
/// exactly the platform's link).
Config on_simgrid(Config c, const std::string& extra = "{}") {
  json doc = to_json(c);
  doc["fabric"] = {{"kind", "simgrid"}};
  doc["fabric"].update(json::parse(extra));
  return sim::load_config(doc);
}

/// Result fields that must agree between two runs (host time aside).
json comparable(const StrategyRun& r) {
  json j = r.result.to_json();
  json samples = json::array();
  for (const auto& s : r.samples) samples.push_back({s.done, s.thread, s.latency, s.irq_core});
  j["samples"] = samples;
  return j;
}

#define SKIP_WITHOUT_SIMGRID()                                                        \
  do {                                                                                \
    if (!sim::simgrid_fabric_available())                                             \
      GTEST_SKIP() << "this build has no SimGrid fabric (FASTWAKE_WITH_SIMGRID=OFF: " \
                      "install libsimgrid-dev and reconfigure)";                      \
  } while (0)

// ------------------------------------------------------------------ config

TEST(FabricConfig, DefaultIsSimpleAndLeftOutOfResolvedDocuments) {
  const Config c = sim::load_config(default_config());
  EXPECT_EQ(sim::parse_fabric(c).kind, sim::FabricKind::kSimple);
  EXPECT_FALSE(to_json(c).contains("fabric"));  // single-host documents keep their shape
  const Config s = sim::load_config(json{{"fabric", {{"kind", "simple"}}}});
  EXPECT_EQ(sim::parse_fabric(s).kind, sim::FabricKind::kSimple);
  EXPECT_FALSE(to_json(s).contains("fabric"));
  // core keeps the section as it is; sim/ parses and resolves it.
  EXPECT_EQ(parse_config(json{{"fabric", {{"kind", "simple"}}}}).fabric,
            json({{"kind", "simple"}}));
  EXPECT_EQ(error_of(json{{"fabric", 3}}), "fabric: expected an object, got 3");
}

TEST(FabricConfig, SimGridDefaultsComeFromThePlatformAndRoundTrip) {
  json doc = default_config();
  apply_set(doc, "fabric.kind=simgrid");  // --set creates the section
  const Config c = sim::load_config(doc);
  const sim::FabricConfig f = sim::parse_fabric(c);
  EXPECT_EQ(f.kind, sim::FabricKind::kSimGrid);
  EXPECT_EQ(f.topology, sim::Topology::kStar);
  EXPECT_EQ(f.link_gbps, c.platform.link_gbps);
  EXPECT_EQ(f.link_latency_ns, c.platform.link_latency_ns);
  EXPECT_EQ(f.server_link_gbps, c.platform.link_gbps);
  EXPECT_EQ(f.server_link_latency_ns, 0);
  EXPECT_EQ(f.client_hosts, 0);
  const json out = to_json(c);
  EXPECT_EQ(out["fabric"]["kind"], "simgrid");
  EXPECT_EQ(to_json(sim::load_config(out)), out);

  for (
      const char* f :
      {R"({"kind": "simgrid", "topology": "fat_tree", "link_gbps": 25, "link_latency_ns": 50,
            "client_hosts": 3, "fat_tree": {"levels": 3, "down": [2, 2, 4], "up": [1, 2, 2], "count": [1, 1, 2]}})",
       R"({"kind": "simgrid", "topology": "dragonfly", "dragonfly": {"groups": [2, 1], "chassis": [1, 1],
            "routers": [2, 1], "nodes": 4}})",
       R"({"kind": "simgrid", "topology": "file", "file": "p.xml", "server": "s", "clients": ["a", "b"]})",
       R"({"kind": "simgrid", "topology": "file", "file": "p.xml", "server": ["s", "t"]})",
       R"({"kind": "simgrid", "servers": 3, "client_hosts": 24})",
       R"({"kind": "simgrid", "server_link_gbps": 12.5, "server_link_latency_ns": 7, "client_hosts": 2})"}) {
    json d = default_config();
    d["fabric"] = json::parse(f);
    const json once = to_json(sim::load_config(d));
    EXPECT_EQ(to_json(sim::load_config(once)), once) << f;
    EXPECT_EQ(to_json(parse_config(once)), once)
        << f;  // a resolved section passes through core as it is
    const json given = json::parse(f);
    for (const auto& [k, v] : given.items()) EXPECT_EQ(once["fabric"][k], v) << f << " " << k;
  }
}

TEST(FabricConfig, ErrorsNameTheKey) {
  EXPECT_FABRIC_ERROR(R"({"kind": "ns3"})", "fabric.kind: expected one of \"simple\", \"simgrid\"");
  EXPECT_FABRIC_ERROR(R"({"kind": "simple", "topology": "star"})",
                      "fabric.topology: only used by fabric.kind \"simgrid\"");
  EXPECT_FABRIC_ERROR(R"({"topology": "star"})",
                      "fabric.topology: only used by fabric.kind \"simgrid\"");
  EXPECT_FABRIC_ERROR(R"({"kind": "simgrid", "lnk_gbps": 1})",
                      "fabric.lnk_gbps: unknown key (known: kind, ");
  EXPECT_FABRIC_ERROR(R"({"kind": "simgrid", "topology": "torus"})",
                      "fabric.topology: expected one of");
  EXPECT_FABRIC_ERROR(
      R"({"kind": "simgrid", "fat_tree": {}})",
      "fabric.fat_tree: only used with fabric.topology \"fat_tree\" (topology is \"star\")");
  EXPECT_FABRIC_ERROR(R"({"kind": "simgrid", "topology": "fat_tree", "server_link_gbps": 1})",
                      "fabric.server_link_gbps: only used with fabric.topology \"star\"");
  EXPECT_FABRIC_ERROR(R"({"kind": "simgrid", "link_gbps": 0})",
                      "fabric.link_gbps: expected a number in [0.001, 1e+06]");
  EXPECT_FABRIC_ERROR(R"({"kind": "simgrid", "link_latency_ns": -1})",
                      "fabric.link_latency_ns: expected an integer");
  EXPECT_FABRIC_ERROR(
      R"({"kind": "simgrid", "topology": "fat_tree", "fat_tree": {"levels": 2, "down": [4], "up": [1, 1], "count": [1, 1]}})",
      "fabric.fat_tree.down: expected an array of 2 integers");
  EXPECT_FABRIC_ERROR(R"({"kind": "simgrid", "topology": "fat_tree", "fat_tree": {"levels": 3}})",
                      "fabric.fat_tree: missing \"down\"");
  EXPECT_FABRIC_ERROR(
      R"({"kind": "simgrid", "topology": "fat_tree", "fat_tree": {"down": [1, 1]}})",
      "fabric.fat_tree: needs at least 2 hosts");
  EXPECT_FABRIC_ERROR(
      R"({"kind": "simgrid", "topology": "dragonfly", "dragonfly": {"groups": [2]}})",
      "fabric.dragonfly.groups: expected an array of 2 integers");
  // The default workload has 1 connection: at most one client host.
  EXPECT_FABRIC_ERROR(R"({"kind": "simgrid", "client_hosts": 2})",
                      "fabric.client_hosts: expected an integer in [0, 1]");
  EXPECT_FABRIC_ERROR(R"({"kind": "simgrid", "topology": "file"})", "fabric: missing \"file\"");
  EXPECT_FABRIC_ERROR(R"({"kind": "simgrid", "servers": 0})",
                      "fabric.servers: expected an integer in [1, 64]");
  EXPECT_FABRIC_ERROR(
      R"({"kind": "simgrid", "servers": 2, "client_hosts": 3})",
      "fabric.client_hosts: expected an integer in [0, 2]");  // 1 connection per server
  EXPECT_FABRIC_ERROR(R"({"kind": "simgrid", "topology": "fat_tree", "servers": 4,
                          "fat_tree": {"levels": 1, "down": [4], "up": [1], "count": [1]}})",
                      "fabric.servers: needs at least 5 hosts (4 server(s) and a client), the fat "
                      "tree has 4 leaves");
  EXPECT_FABRIC_ERROR(
      R"({"kind": "simgrid", "topology": "file", "file": "p.xml", "server": "s", "servers": 2})",
      "fabric.servers: only used with fabric.topology \"star\" or \"fat_tree\" or \"dragonfly\"");
  EXPECT_FABRIC_ERROR(
      R"({"kind": "simgrid", "topology": "file", "file": "p.xml", "server": ["s", "s"]})",
      "fabric.server[1]: duplicate host 's'");
  EXPECT_FABRIC_ERROR(
      R"({"kind": "simgrid", "topology": "file", "file": "p.xml", "server": "s", "clients": ["s"]})",
      "fabric.clients[0]: 's' is a server");
  const std::string zero =
      error_of(json{{"fabric", {{"kind", "simgrid"}}}, {"platform", [] {
                                                          json p = builtin_platform("x86");
                                                          p["params"]["nic_tx_ns"]["value"] = 0;
                                                          return p;
                                                        }()}});
  EXPECT_EQ(
      zero.rfind("fabric.kind: the SimGrid fabric needs platform client_ns and nic_tx_ns > 0", 0),
      0u)
      << zero;
}

// ------------------------------------------------------------------ simple fabric, HostSim

TEST(SimpleFabric, WireTimeIsLatencyPlusRoundedSerialisation) {
  const sim::SimpleFabric f(100, 100.0);
  EXPECT_EQ(f.wire_ns(64), 105);    // 5.12 ns
  EXPECT_EQ(f.wire_ns(4096), 428);  // 327.68 ns
  EXPECT_EQ(sim::SimpleFabric(0, 8.0).wire_ns(1), 1);
}

/// A fabric that records what the host model hands over, then behaves simply.
class RecordingFabric final : public sim::Fabric {
 public:
  explicit RecordingFabric(const Platform& p) : inner_(p) {}
  void send(sim::FabricPort& port, sim::Direction dir, ThreadId conn, int bytes, std::uint64_t msg,
            Nanos enter) override {
    const Nanos now = port.engine->now();
    min_lead = std::min(min_lead, enter - now);
    ++(dir == sim::Direction::kToServer ? requests : replies);
    inner_.send(port, dir, conn, bytes, msg, enter);
  }
  Nanos min_lead = sim::kNever;
  int requests = 0, replies = 0;

 private:
  sim::SimpleFabric inner_;
};

TEST(HostSim, SteppedRunWithAFabricEqualsSimulate) {
  Config c = parse_config(default_config());
  c.run.duration_ns = 3'000'000;
  c.run.warmup_ns = 500'000;
  c.run.record_samples = true;
  for (const char* name : {"busy_poll", "fastwake_poll", "fastwake_irq", "interrupt"}) {
    const StrategySpec& s = find_strategy(name);
    const StrategyRun whole = simulate(c, s);
    RecordingFabric fabric(c.platform);
    sim::HostSim h(c, s, fabric);
    h.start();
    Nanos t = 0;
    while (!h.advance(t += 777)) {
    }
    const StrategyRun stepped = h.finish();
    EXPECT_EQ(comparable(stepped), comparable(whole)) << name;
    EXPECT_EQ(fabric.requests, static_cast<int>(whole.sent)) << name;
    EXPECT_EQ(fabric.replies, static_cast<int>(whole.completed)) << name;
    // Messages are handed over ahead of entering the network: the lookahead.
    EXPECT_EQ(fabric.min_lead, std::min(c.platform.client_ns, c.platform.nic_tx_ns)) << name;
  }
}

TEST(HostSim, HorizonStopsTheHostModelAtTheFirstSend) {
  const Config c = one_client_config(64, 50'000);
  class Lowering final : public sim::Fabric {
   public:
    void send(sim::FabricPort& port, sim::Direction, ThreadId, int, std::uint64_t,
              Nanos enter) override {
      port.horizon = std::min(port.horizon, enter);
      entered = enter;
    }
    Nanos entered = -1;
  };
  Lowering lowering;
  sim::HostSim h2(c, find_strategy("interrupt"), lowering);
  h2.start();
  EXPECT_FALSE(h2.advance(sim::kNever));
  ASSERT_GT(lowering.entered, 0);
  EXPECT_EQ(h2.port().horizon, lowering.entered);
  EXPECT_LT(h2.engine().now(), lowering.entered);
  EXPECT_EQ(h2.in_flight(), 1u);
}

// ------------------------------------------------------------------ SimGrid fabric

TEST(SimGridFabric, WithoutTheDriverItIsAClearConfigError) {
  const char* old = std::getenv("FASTWAKE_SIM_FABRIC");
  const std::string saved = old ? old : "";
  ::setenv("FASTWAKE_SIM_FABRIC", "/nonexistent/fastwake-sim-fabric", 1);
  const Config c = on_simgrid(one_client_config(64, 50'000));
  std::string msg;
  try {
    simulate(c, find_strategy("interrupt"));
  } catch (const ConfigError& e) {
    msg = e.what();
  }
  if (old)
    ::setenv("FASTWAKE_SIM_FABRIC", saved.c_str(), 1);
  else
    ::unsetenv("FASTWAKE_SIM_FABRIC");
  EXPECT_EQ(msg.rfind("fabric.kind: \"simgrid\" needs a build with SimGrid", 0), 0u) << msg;
}

TEST(SimGridFabric, OneClientGetsExactlyTheSimpleFabricsLatencies) {
  SKIP_WITHOUT_SIMGRID();
  // 64 B: 5.12 ns of serialisation, 4096 B: 327.68 ns (both fabrics round the
  // one-way time to the nearest ns); think times and service exponential, so
  // requests meet the host in every state.
  for (int bytes : {64, 4096}) {
    const Config simple = one_client_config(bytes, 20'000);
    const Config sg = on_simgrid(simple);
    for (const StrategySpec& s : strategies()) {
      const StrategyRun a = simulate(simple, s);
      const StrategyRun b = simulate(sg, s);
      ASSERT_GT(a.samples.size(), 50u) << s.name;
      ASSERT_EQ(a.samples.size(), b.samples.size()) << s.name << " " << bytes;
      for (std::size_t i = 0; i < a.samples.size(); ++i) {
        ASSERT_EQ(a.samples[i].latency, b.samples[i].latency)
            << s.name << " " << bytes << " #" << i;
        ASSERT_EQ(a.samples[i].done, b.samples[i].done) << s.name << " " << bytes << " #" << i;
      }
      json ra = a.result.to_json(), rb = b.result.to_json();
      EXPECT_EQ(rb["extra"]["fabric"], "simgrid");
      EXPECT_EQ(rb["extra"]["fabric_messages"].get<std::uint64_t>(), a.sent + a.completed);
      for (auto it = rb["extra"].begin(); it != rb["extra"].end();)
        it = it.key().rfind("fabric", 0) == 0 ? rb["extra"].erase(it) : std::next(it);
      EXPECT_EQ(ra, rb) << s.name << " " << bytes;
    }
  }
}

TEST(SimGridFabric, OneClientOnFatTreeAndDragonflyMatchesAnEqualLink) {
  SKIP_WITHOUT_SIMGRID();
  // Server and client hang off the same switch/router: two links of 50 ns =
  // the platform's 100 ns link.
  const Config simple = one_client_config(64, 20'000);
  for (const char* f : {R"({"topology": "fat_tree", "link_latency_ns": 50,
                            "fat_tree": {"levels": 2, "down": [4, 4], "up": [1, 2], "count": [1, 1]}})",
                        R"({"topology": "dragonfly", "link_latency_ns": 50,
                            "dragonfly": {"groups": [2, 1], "chassis": [2, 1], "routers": [2, 1], "nodes": 4}})"}) {
    const Config sg = on_simgrid(simple, f);
    const StrategyRun a = simulate(simple, find_strategy("fastwake_irq"));
    const StrategyRun b = simulate(sg, find_strategy("fastwake_irq"));
    EXPECT_EQ(b.result.extra["fabric_min_route_latency_ns"], 100) << f;
    ASSERT_EQ(a.samples.size(), b.samples.size()) << f;
    for (std::size_t i = 0; i < a.samples.size(); ++i)
      ASSERT_EQ(a.samples[i].latency, b.samples[i].latency) << f << " #" << i;
  }
}

/// Mean round trip of a closed loop of n clients through two processor-sharing
/// stations (the server link's two directions, demand d each), a pure delay z
/// on the request's path and a think time between requests, by exact
/// mean-value analysis (PS and delay stations are insensitive to the service
/// distribution, so deterministic transfers are fine).
double mva_round_trip(int n, double d, double z, double think) {
  double q = 0, r = 0;
  for (int k = 1; k <= n; ++k) {
    r = d * (1 + q);
    const double x = k / (z + think + 2 * r);
    q = x * r;
  }
  return z + 2 * r;
}

TEST(SimGridFabric, IncastLatencyFollowsTheServerLinksBandwidthShare) {
  SKIP_WITHOUT_SIMGRID();
  // n clients, one thread per core polling (the host adds a fixed delay, never
  // queues), 125 kB each way: 10 us alone on a 100 Gb/s link. Every client has
  // its own link; they share the server's link, each getting 1/k of it while k
  // transfers are active. Exponential think times keep the clients out of
  // lock-step (in lock-step every transfer would take n x 10 us).
  const int bytes = 125'000;
  double alone = 0;
  for (int n : {1, 2, 4, 8}) {
    Config c = parse_config(default_config());
    c.workload.migrations.clear();
    c.host.cores = 8;
    c.host.app_cores = n;
    c.host.vectors = n;
    c.workload.threads_per_core = 1;
    c.workload.message_bytes = bytes;
    c.workload.service_ns = 0;
    c.workload.think_ns = 5'000;
    c.workload.think_dist = Dist::kExp;
    c.run.warmup_ns = 1'000'000;
    // ~10k requests at 8 clients: the mean's sampling error stays well
    // inside the 3 % tolerance whatever the think-time draws.
    c.run.duration_ns = 100'000'000;
    const StrategySpec& s = find_strategy("busy_poll");
    const StrategyRun simple = simulate(c, s);
    const StrategyRun sg = simulate(on_simgrid(c), s);
    const double d = bytes * 8.0 / c.platform.link_gbps;  // ns per transfer alone
    const double simple_mean = simple.result.latency_us.mean * 1e3;
    const double z = simple_mean - 2 * d;  // everything but the two transfers
    if (n == 1) alone = simple_mean;
    EXPECT_NEAR(simple_mean, alone, 1.0) << n << ": the simple fabric has no contention";
    const double want = mva_round_trip(n, d, z, static_cast<double>(c.workload.think_ns));
    const double got = sg.result.latency_us.mean * 1e3;
    EXPECT_NEAR(got / want, 1.0, 0.03)
        << n << " clients: got " << got << " ns, bandwidth share predicts " << want << " ns";
    // Throughput saturates at the link: at most one transfer's worth per d.
    EXPECT_LE(sg.result.throughput_rps, 1e9 / d * 1.001) << n;
    RecordProperty("incast_" + std::to_string(n) + "_mean_ns", std::to_string(got));
    std::printf("incast %d clients: mean %.0f ns (bandwidth share predicts %.0f), alone %.0f\n", n,
                got, want, simple_mean);
  }
}

TEST(SimGridFabric, SeveralServersEachWithItsClients) {
  SKIP_WITHOUT_SIMGRID();
  // Three servers on the star, one client each: nothing is shared, so server 0
  // (which keeps the seed) answers exactly as a lone server on the simple
  // fabric; the others draw their own random streams.
  const Config simple = one_client_config(64, 20'000);
  const Config sg = on_simgrid(simple, R"({"servers": 3})");
  const StrategySpec& s = find_strategy("fastwake_irq");
  const StrategyRun alone = simulate(simple, s);
  const StrategyRun three = simulate(sg, s);
  EXPECT_EQ(three.result.extra["fabric_servers"], 3);
  EXPECT_EQ(three.result.extra["fabric_client_hosts"], 3);
  EXPECT_EQ(three.sent, three.completed);
  std::vector<Nanos> server0, others;
  for (const auto& x : three.samples) (x.thread == 0 ? server0 : others).push_back(x.latency);
  ASSERT_EQ(server0.size(), alone.samples.size());
  for (std::size_t i = 0; i < server0.size(); ++i)
    ASSERT_EQ(server0[i], alone.samples[i].latency) << i;
  EXPECT_GT(others.size(), server0.size());
  EXPECT_EQ(three.result.requests, three.samples.size());
  EXPECT_NEAR(three.result.throughput_rps / alone.result.throughput_rps, 3.0, 0.3);
  EXPECT_NEAR(three.result.power_w, alone.result.power_w, 0.5);  // mean per server

  // Two servers under one leaf switch of a fat tree, their clients under the
  // other: with one cable between each leaf switch and the spine both
  // servers' transfers share it; with two parallel cables (d-mod-k routing
  // puts them on different ones) each server is alone on its path and
  // answers exactly as a lone server on a 4-hop (400 ns) simple link.
  Config big = one_client_config(125'000, 5'000);
  big.workload.service_ns = 0;
  big.run.duration_ns = 10'000'000;
  auto tree = [&](int cables) {
    return on_simgrid(big, R"({"topology": "fat_tree", "servers": 2, "client_hosts": 2,
                               "fat_tree": {"levels": 2, "down": [2, 2], "up": [1, 1], "count": [1, )" +
                               std::to_string(cables) + "]}}");
  };
  const StrategySpec& poll = find_strategy("busy_poll");
  const StrategyRun shared = simulate(tree(1), poll);
  const StrategyRun separate = simulate(tree(2), poll);
  Config four_hops = big;
  four_hops.platform.link_latency_ns = 400;
  const StrategyRun reference = simulate(four_hops, poll);
  EXPECT_EQ(separate.result.extra["fabric_min_route_latency_ns"], 400);
  std::vector<Nanos> first;
  for (const auto& x : separate.samples)
    if (x.thread == 0) first.push_back(x.latency);
  ASSERT_EQ(first.size(), reference.samples.size());
  for (std::size_t i = 0; i < first.size(); ++i)
    ASSERT_EQ(first[i], reference.samples[i].latency) << i;
  EXPECT_GT(shared.result.latency_us.mean / separate.result.latency_us.mean, 1.2)
      << shared.result.latency_us.mean << " us sharing the uplink, "
      << separate.result.latency_us.mean << " us on separate cables";
}

TEST(SimGridFabric, DeterministicForASeed) {
  SKIP_WITHOUT_SIMGRID();
  Config c = parse_config(default_config());
  c.run.duration_ns = 4'000'000;
  c.run.warmup_ns = 500'000;
  c.run.record_samples = true;
  const Config sg = on_simgrid(c);
  const StrategySpec& s = find_strategy("fastwake_poll");
  const StrategyRun a = simulate(sg, s);
  const StrategyRun b = simulate(sg, s);
  EXPECT_EQ(comparable(a), comparable(b));
  Config other = sg;
  other.run.seed = 2;
  EXPECT_NE(comparable(simulate(other, s))["samples"], comparable(a)["samples"]);
}

TEST(SimGridFabric, PlatformFileAndItsErrors) {
  SKIP_WITHOUT_SIMGRID();
  const auto dir =
      std::filesystem::temp_directory_path() / ("fw_fabric_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "two_clients.xml").string();
  std::ofstream(file) << R"(<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<platform version="4.1">
  <zone id="world" routing="Full">
    <host id="srv" speed="1Gf"/>
    <host id="c0" speed="1Gf"/>
    <host id="c1" speed="1Gf"/>
    <link id="l0" bandwidth="100Gbps" latency="60ns"/>
    <link id="l1" bandwidth="100Gbps" latency="40ns"/>
    <link id="ls" bandwidth="100Gbps" latency="40ns"/>
    <route src="c0" dst="srv"><link_ctn id="l0"/><link_ctn id="ls"/></route>
    <route src="c1" dst="srv"><link_ctn id="l1"/><link_ctn id="ls"/></route>
  </zone>
</platform>
)";
  Config c = one_client_config(64, 20'000);
  c.workload.threads_per_core = 2;
  const Config sg =
      on_simgrid(c, R"({"topology": "file", "file": ")" + file + R"(", "server": "srv"})");
  const StrategyRun r = simulate(sg, find_strategy("interrupt"));
  EXPECT_EQ(r.result.extra["fabric_client_hosts"], 2);
  EXPECT_EQ(r.result.extra["fabric_min_route_latency_ns"], 80);
  EXPECT_EQ(r.sent, r.completed);
  EXPECT_GT(r.result.requests, 50u);

  std::string msg;
  try {
    simulate(
        on_simgrid(c, R"({"topology": "file", "file": ")" + file + R"(", "server": "nobody"})"),
        find_strategy("interrupt"));
  } catch (const ConfigError& e) {
    msg = e.what();
  }
  EXPECT_EQ(msg.rfind("fabric.server: no host 'nobody' in " + file, 0), 0u) << msg;
  std::filesystem::remove_all(dir);
}

TEST(SimGridFabric, CliRunsItAndReportsAMissingBuildWithExit2) {
  SKIP_WITHOUT_SIMGRID();
  auto run = [](const std::string& env, const std::string& args) {
    const std::string cmd = env + " " + FW_SIM_BIN + " " + args;
    FILE* p = popen(cmd.c_str(), "r");
    std::string text;
    std::array<char, 4096> buf{};
    while (p && fgets(buf.data(), buf.size(), p)) text += buf.data();
    const int st = p ? pclose(p) : -1;
    return std::make_pair(WIFEXITED(st) ? WEXITSTATUS(st) : -1, text);
  };
  const std::string args =
      "-q --set fabric.kind=simgrid --set run.duration_ms=2 --set run.warmup_ms=0.5 "
      "--set 'strategies=[\"fastwake_irq\"]' --json -";
  const auto ok = run("", args + " 2>/dev/null");
  ASSERT_EQ(ok.first, 0) << ok.second;
  const json doc = json::parse(ok.second);
  EXPECT_EQ(doc["config"]["fabric"]["kind"], "simgrid");
  EXPECT_EQ(doc["results"][0]["extra"]["fabric"], "simgrid");
  const auto bad = run("FASTWAKE_SIM_FABRIC=/nonexistent", args + " 2>&1");
  EXPECT_EQ(bad.first, 2) << bad.second;
  EXPECT_NE(bad.second.find("fabric.kind: \"simgrid\" needs a build with SimGrid"),
            std::string::npos)
      << bad.second;
}

}  // namespace
}  // namespace fastwake
