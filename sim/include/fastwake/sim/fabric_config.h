// The config's "fabric" section (docs/fabric.md, docs/config.md#fabric): how messages
// travel between clients and servers. core/ keeps the section as opaque JSON
// (Config::fabric); sim/ declares, validates and resolves it here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/config.h"
#include "fastwake/types.h"

namespace fastwake::sim {

/// fabric.kind. kSimple: a fixed delay per message (platform link_latency_ns +
/// bytes x 8 / link_gbps), no contention. kSimGrid: a SimGrid network (CM02 flow
/// model) co-simulated with the host model; the other fields are for it only.
enum class FabricKind { kSimple, kSimGrid };
/// fabric.topology (SimGrid only).
enum class Topology { kStar, kFatTree, kDragonfly, kFile };

std::string_view fabric_kind_name(FabricKind k);  ///< "simple" | "simgrid"
std::string_view topology_name(Topology t);       ///< "star" | "fat_tree" | "dragonfly" | "file"

/// SimGrid fat-tree shape, as SimGrid's cluster topo_parameters
/// "levels;down...;up...;count...": level i has `down[i]` children per
/// switch, `up[i]` parents per node, `count[i]` parallel links per pair.
struct FatTreeShape {
  int levels = 2;
  std::vector<int> down = {16, 32};
  std::vector<int> up = {1, 16};
  std::vector<int> count = {1, 1};
  bool operator==(const FatTreeShape&) const = default;
};

/// SimGrid dragonfly shape, as SimGrid's "groups,links;chassis,links;routers,links;nodes".
struct DragonflyShape {
  int groups = 4, group_links = 1;
  int chassis = 2, chassis_links = 1;
  int routers = 8, router_links = 1;
  int nodes = 8;
  bool operator==(const DragonflyShape&) const = default;
};

/// The fabric section, parsed and resolved (every default filled in).
struct FabricConfig {
  FabricKind kind = FabricKind::kSimple;
  Topology topology = Topology::kStar;
  double link_gbps = 0;       ///< every link (star: each client's link); default platform link_gbps
  Nanos link_latency_ns = 0;  ///< per link; default platform link_latency_ns
  double server_link_gbps = 0;       ///< star: each server's link; default link_gbps
  Nanos server_link_latency_ns = 0;  ///< star: each server's link; default 0
  int servers = 1;  ///< identical server hosts, each with the config's host, threads and clients
  int client_hosts =
      0;  ///< client hosts all connections are spread over; 0 = one per connection (as many as fit)
  FatTreeShape fat_tree;
  DragonflyShape dragonfly;
  std::string file;                 ///< topology "file": a SimGrid platform (XML)
  std::vector<std::string> server;  ///< topology "file": the servers' host names (one per server)
  std::vector<std::string>
      clients;  ///< topology "file": client host names (empty: every other host, by name)
};

/// Parses and validates cfg.fabric (null: the default simple fabric) against
/// cfg's platform (defaults, the co-simulation's lookahead) and connection
/// count. Throws ConfigError whose message starts with the key, e.g.
/// "fabric.servers: expected an integer in [1, 64], got 0".
FabricConfig parse_fabric(const Config& cfg);

/// The resolved section, as result documents carry it.
nlohmann::json to_json(const FabricConfig& f);

/// Validates cfg.fabric and stores it resolved, so to_json(cfg) writes what the
/// simulation uses; the default simple fabric is stored as null (left out of
/// resolved documents, which so keep their single-host shape).
void resolve_fabric(Config& cfg);

/// parse_config(doc) + resolve_fabric: how every tool loads a config (a bad
/// fabric section is reported at load time, not when a run starts).
Config load_config(const nlohmann::json& doc);

}  // namespace fastwake::sim
