// The fabric section: parsing and validation with path-precise ConfigErrors,
// the resolved JSON, and load_config (see fastwake/sim/fabric_config.h).
#include "fastwake/sim/fabric_config.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "fastwake/config_read.h"

namespace fastwake::sim {
using namespace config_read;

namespace {

constexpr std::int64_t kMaxFabricLeaves = 65536;

/// A [count, links] pair of a dragonfly level.
void read_pair(const json& v, const std::string& path, int& count, int& links) {
  const std::vector<int> p = read_int_array(v, path, 2, 1, 4096);
  count = p[0];
  links = p[1];
}

FabricKind kind_of(const std::string& s) {
  return s == "simgrid" ? FabricKind::kSimGrid : FabricKind::kSimple;
}

Topology topology_of(const std::string& s) {
  if (s == "fat_tree") return Topology::kFatTree;
  if (s == "dragonfly") return Topology::kDragonfly;
  if (s == "file") return Topology::kFile;
  return Topology::kStar;
}

void parse_fabric(const json& j, const Platform& plat, int connections, FabricConfig& f) {
  const std::string path = "fabric";
  require_object(j, path);
  if (j.contains("kind"))
    f.kind = kind_of(read_choice(j.at("kind"), "fabric.kind", {"simple", "simgrid"}));
  if (j.contains("topology") && f.kind == FabricKind::kSimGrid)
    f.topology = topology_of(read_choice(j.at("topology"), "fabric.topology",
                                         {"star", "fat_tree", "dragonfly", "file"}));
  const std::string t(topology_name(f.topology));
  // Which keys each kind/topology takes; a key of another one is named as such.
  struct KeyUse {
    std::string_view key, topologies;
  };
  static constexpr KeyUse kUses[] = {
      {"kind", "*"},
      {"topology", "star fat_tree dragonfly file"},
      {"link_gbps", "star fat_tree dragonfly"},
      {"link_latency_ns", "star fat_tree dragonfly"},
      {"server_link_gbps", "star"},
      {"server_link_latency_ns", "star"},
      {"servers", "star fat_tree dragonfly"},
      {"client_hosts", "star fat_tree dragonfly"},
      {"fat_tree", "fat_tree"},
      {"dragonfly", "dragonfly"},
      {"file", "file"},
      {"server", "file"},
      {"clients", "file"},
  };
  for (const auto& [key, value] : j.items()) {
    const KeyUse* use = nullptr;
    for (const KeyUse& u : kUses) use = u.key == key ? &u : use;
    if (!use) {
      std::vector<std::string> known;
      for (const KeyUse& u : kUses) known.emplace_back(u.key);
      fail(child(path, key), "unknown key (known: " + join(known) + ")");
    }
    if (use->topologies == "*") continue;
    if (f.kind == FabricKind::kSimple)
      fail(child(path, key), "only used by fabric.kind \"simgrid\"");
    std::string list = " " + std::string(use->topologies) + " ";
    if (list.find(" " + t + " ") == std::string::npos) {
      std::string quoted;
      for (std::size_t a = 1; a < list.size();) {
        const std::size_t b = list.find(' ', a);
        quoted += (quoted.empty() ? "\"" : " or \"") + list.substr(a, b - a) + "\"";
        a = b + 1;
      }
      fail(child(path, key),
           "only used with fabric.topology " + quoted + " (topology is \"" + t + "\")");
    }
  }
  if (f.kind == FabricKind::kSimple) return;

  // The co-simulation's lookahead: a message is handed to the network this
  // long after the host model decides to send it (docs/fabric.md).
  if (plat.client_ns <= 0 || plat.nic_tx_ns <= 0)
    fail("fabric.kind",
         "the SimGrid fabric needs platform client_ns and nic_tx_ns > 0 (the "
         "co-simulation's lookahead), got " +
             std::to_string(plat.client_ns) + " and " + std::to_string(plat.nic_tx_ns));

  if (f.topology == Topology::kFile) {
    if (!j.contains("file"))
      fail(path, "missing \"file\" (a SimGrid platform file) for topology \"file\"");
    if (!j.contains("server"))
      fail(path, "missing \"server\" (the server's host name) for topology \"file\"");
    f.file = read_string(j.at("file"), "fabric.file");
    // One server by name, or several as an array.
    const json& sv = j.at("server");
    f.server.clear();
    if (sv.is_array()) {
      if (sv.empty() || sv.size() > 64)
        fail("fabric.server",
             "expected a host name or an array of 1 to 64 host names, got " + describe(sv));
      for (std::size_t i = 0; i < sv.size(); ++i) {
        f.server.push_back(read_string(sv[i], element("fabric.server", i)));
        if (std::count(f.server.begin(), f.server.end(), f.server.back()) > 1)
          fail(element("fabric.server", i), "duplicate host '" + f.server.back() + "'");
      }
    } else {
      f.server.push_back(read_string(sv, "fabric.server"));
    }
    f.servers = static_cast<int>(f.server.size());
    if (j.contains("clients")) {
      const json& a = j.at("clients");
      if (!a.is_array() || a.empty())
        fail("fabric.clients", "expected a non-empty array of host names, got " + describe(a));
      std::set<std::string> seen;
      for (std::size_t i = 0; i < a.size(); ++i) {
        const std::string name = read_string(a[i], element("fabric.clients", i));
        if (std::find(f.server.begin(), f.server.end(), name) != f.server.end())
          fail(element("fabric.clients", i), "'" + name + "' is a server");
        if (!seen.insert(name).second)
          fail(element("fabric.clients", i), "duplicate host '" + name + "'");
        f.clients.push_back(name);
      }
      if (static_cast<int>(f.clients.size()) > connections * f.servers)
        fail("fabric.clients", "expected at most " + std::to_string(connections * f.servers) +
                                   " hosts (one per connection at most), got " +
                                   std::to_string(f.clients.size()));
    }
    return;
  }

  f.link_gbps = j.contains("link_gbps")
                    ? read_number(j.at("link_gbps"), "fabric.link_gbps", kMinGbps, true, kMaxGbps)
                    : plat.link_gbps;
  f.link_latency_ns = j.contains("link_latency_ns")
                          ? read_ns(j.at("link_latency_ns"), "fabric.link_latency_ns")
                          : plat.link_latency_ns;
  if (f.topology == Topology::kStar) {
    f.server_link_gbps = j.contains("server_link_gbps")
                             ? read_number(j.at("server_link_gbps"), "fabric.server_link_gbps",
                                           kMinGbps, true, kMaxGbps)
                             : f.link_gbps;
    if (j.contains("server_link_latency_ns"))
      f.server_link_latency_ns =
          read_ns(j.at("server_link_latency_ns"), "fabric.server_link_latency_ns");
  }
  std::int64_t leaves = kMaxFabricLeaves;
  std::string what = "one per connection";
  if (f.topology == Topology::kFatTree) {
    if (j.contains("fat_tree")) {
      const json& ft = j.at("fat_tree");
      check_keys(ft, "fabric.fat_tree", {"levels", "down", "up", "count"});
      FatTreeShape& s = f.fat_tree;
      if (ft.contains("levels"))
        s.levels = static_cast<int>(read_int(ft.at("levels"), "fabric.fat_tree.levels", 1, 8));
      for (const char* k : {"down", "up", "count"})
        if (!ft.contains(k) && ft.contains("levels"))
          fail("fabric.fat_tree", std::string("missing \"") + k + "\" (one entry per level)");
      if (ft.contains("down"))
        s.down = read_int_array(ft.at("down"), "fabric.fat_tree.down", s.levels, 1, 4096);
      if (ft.contains("up"))
        s.up = read_int_array(ft.at("up"), "fabric.fat_tree.up", s.levels, 1, 4096);
      if (ft.contains("count"))
        s.count = read_int_array(ft.at("count"), "fabric.fat_tree.count", s.levels, 1, 64);
      for (const auto* v : {&s.down, &s.up, &s.count})
        if (static_cast<int>(v->size()) != s.levels)
          fail("fabric.fat_tree", "down, up and count need one entry per level (levels = " +
                                      std::to_string(s.levels) + ")");
    }
    leaves = 1;
    for (int d : f.fat_tree.down) leaves = std::min<std::int64_t>(leaves * d, kMaxFabricLeaves + 1);
    what = "the fat tree has " + std::to_string(leaves) + " leaves";
  } else if (f.topology == Topology::kDragonfly) {
    if (j.contains("dragonfly")) {
      const json& df = j.at("dragonfly");
      check_keys(df, "fabric.dragonfly", {"groups", "chassis", "routers", "nodes"});
      DragonflyShape& s = f.dragonfly;
      if (df.contains("groups"))
        read_pair(df.at("groups"), "fabric.dragonfly.groups", s.groups, s.group_links);
      if (df.contains("chassis"))
        read_pair(df.at("chassis"), "fabric.dragonfly.chassis", s.chassis, s.chassis_links);
      if (df.contains("routers"))
        read_pair(df.at("routers"), "fabric.dragonfly.routers", s.routers, s.router_links);
      if (df.contains("nodes"))
        s.nodes = static_cast<int>(read_int(df.at("nodes"), "fabric.dragonfly.nodes", 1, 4096));
    }
    const DragonflyShape& s = f.dragonfly;
    leaves = std::min<std::int64_t>(
        static_cast<std::int64_t>(s.groups) * s.chassis * s.routers * s.nodes,
        kMaxFabricLeaves + 1);
    what = "the dragonfly has " + std::to_string(leaves) + " nodes";
  }
  const char* shape_key = f.topology == Topology::kFatTree ? "fabric.fat_tree" : "fabric.dragonfly";
  if (leaves > kMaxFabricLeaves)
    fail(shape_key, "more than " + std::to_string(kMaxFabricLeaves) + " hosts");
  if (j.contains("servers"))
    f.servers = static_cast<int>(read_int(j.at("servers"), "fabric.servers", 1, 64));
  if (leaves < f.servers + 1)
    fail(j.contains("servers") ? "fabric.servers" : shape_key,
         "needs at least " + std::to_string(f.servers + 1) + " hosts (" +
             std::to_string(f.servers) + " server(s) and a client), " + what);
  if (j.contains("client_hosts")) {
    const std::int64_t most = std::min<std::int64_t>(
        static_cast<std::int64_t>(connections) * f.servers, leaves - f.servers);
    f.client_hosts =
        static_cast<int>(read_int(j.at("client_hosts"), "fabric.client_hosts", 0, most));
  }
}

}  // namespace

std::string_view fabric_kind_name(FabricKind k) {
  return k == FabricKind::kSimGrid ? "simgrid" : "simple";
}

std::string_view topology_name(Topology t) {
  switch (t) {
    case Topology::kStar:
      return "star";
    case Topology::kFatTree:
      return "fat_tree";
    case Topology::kDragonfly:
      return "dragonfly";
    case Topology::kFile:
      return "file";
  }
  return "?";
}

FabricConfig parse_fabric(const Config& cfg) {
  FabricConfig f;
  if (!cfg.fabric.is_null()) parse_fabric(cfg.fabric, cfg.platform, cfg.threads(), f);
  return f;
}

nlohmann::json to_json(const FabricConfig& f) {
  json out = {{"kind", std::string(fabric_kind_name(f.kind))}};
  if (f.kind == FabricKind::kSimple) return out;
  out["topology"] = std::string(topology_name(f.topology));
  if (f.topology == Topology::kFile) {
    out["file"] = f.file;
    out["server"] = f.server.size() == 1 ? json(f.server[0]) : json(f.server);
    if (!f.clients.empty()) out["clients"] = f.clients;
    return out;
  }
  out["link_gbps"] = f.link_gbps;
  out["link_latency_ns"] = f.link_latency_ns;
  if (f.topology == Topology::kStar) {
    out["server_link_gbps"] = f.server_link_gbps;
    out["server_link_latency_ns"] = f.server_link_latency_ns;
  } else if (f.topology == Topology::kFatTree) {
    out["fat_tree"] = {{"levels", f.fat_tree.levels},
                       {"down", f.fat_tree.down},
                       {"up", f.fat_tree.up},
                       {"count", f.fat_tree.count}};
  } else {
    const DragonflyShape& d = f.dragonfly;
    out["dragonfly"] = {{"groups", {d.groups, d.group_links}},
                        {"chassis", {d.chassis, d.chassis_links}},
                        {"routers", {d.routers, d.router_links}},
                        {"nodes", d.nodes}};
  }
  out["servers"] = f.servers;
  out["client_hosts"] = f.client_hosts;
  return out;
}

void resolve_fabric(Config& cfg) {
  const FabricConfig f = parse_fabric(cfg);
  cfg.fabric = f.kind == FabricKind::kSimple ? json() : to_json(f);
}

Config load_config(const nlohmann::json& doc) {
  Config c = parse_config(doc);
  resolve_fabric(c);
  return c;
}

}  // namespace fastwake::sim
