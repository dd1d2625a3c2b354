// The run config: the document's sections (host, workload, remapper,
// strategies, run; fabric kept opaque for sim/) parsed into a Config with
// path-precise ConfigErrors, and the reverse (to_json).
#include "fastwake/config.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>

#include "config_platform.h"
#include "fastwake/config_read.h"
#include "fastwake/errors.h"
#include "fastwake/strategy.h"

namespace fastwake {
using namespace config_read;

namespace {

// ---------------------------------------------------------------------------
// Sections of a config document

std::vector<int> read_core_list(const json& a, const std::string& path, int cores) {
  if (!a.is_array()) fail(path, "expected an array of core numbers, got " + describe(a));
  std::vector<int> out;
  for (std::size_t i = 0; i < a.size(); ++i)
    out.push_back(static_cast<int>(read_int(a[i], element(path, i), 0, cores - 1)));
  return out;
}

void parse_host(const json& j, const Platform& plat, HostConfig& h) {
  const std::string path = "host";
  check_keys(j, path,
             {"cores", "numa_nodes", "llc_cores", "nic_node", "app_cores", "first_app_core",
              "app_core_list", "vectors", "irq_placement", "max_cstate", "idle_poll_cores",
              "irq_delivery"});
  if (j.contains("cores"))
    h.cores = static_cast<int>(read_int(j.at("cores"), "host.cores", 1, 4096));
  // Topology: cores numbered node by node, LLC domains of llc_cores inside a node.
  if (j.contains("numa_nodes"))
    h.numa_nodes = static_cast<int>(read_int(j.at("numa_nodes"), "host.numa_nodes", 1, h.cores));
  if (h.cores % h.numa_nodes != 0)
    fail("host.numa_nodes", "expected a divisor of host.cores = " + std::to_string(h.cores) +
                                " (cores are numbered node by node, the same count on each), got " +
                                std::to_string(h.numa_nodes));
  const int per_node = h.cores / h.numa_nodes;
  if (j.contains("llc_cores")) {
    h.llc_cores = static_cast<int>(read_int(j.at("llc_cores"), "host.llc_cores", 0, per_node));
    if (h.llc_cores > 0 && per_node % h.llc_cores != 0)
      fail("host.llc_cores",
           "expected a divisor of the cores per NUMA node (" + std::to_string(per_node) +
               "; an LLC domain never spans nodes), got " + std::to_string(h.llc_cores));
  }
  if (j.contains("nic_node"))
    h.nic_node = static_cast<int>(read_int(j.at("nic_node"), "host.nic_node", 0, h.numa_nodes - 1));
  if (j.contains("app_core_list")) {
    h.app_core_list = read_core_list(j.at("app_core_list"), "host.app_core_list", h.cores);
    if (h.app_core_list.empty()) fail("host.app_core_list", "expected at least one core, got []");
    std::set<int> seen;
    for (std::size_t i = 0; i < h.app_core_list.size(); ++i)
      if (!seen.insert(h.app_core_list[i]).second)
        fail(element("host.app_core_list", i),
             "core " + std::to_string(h.app_core_list[i]) + " listed twice");
    if (j.contains("first_app_core"))
      fail("host.first_app_core",
           "give either host.first_app_core or host.app_core_list, not both");
    const int n = static_cast<int>(h.app_core_list.size());
    if (j.contains("app_cores") && read_int(j.at("app_cores"), "host.app_cores", 1, 4096) != n)
      fail("host.app_cores", "expected " + std::to_string(n) +
                                 " (the length of host.app_core_list), got " +
                                 describe(j.at("app_cores")));
    h.app_cores = n;
  } else {
    if (j.contains("app_cores"))
      h.app_cores = static_cast<int>(read_int(j.at("app_cores"), "host.app_cores", 1, 4096));
    if (h.app_cores > h.cores)
      fail("host.app_cores", "expected an integer in [1, host.cores = " + std::to_string(h.cores) +
                                 "], got " + std::to_string(h.app_cores));
    if (j.contains("first_app_core"))
      h.first_app_core = static_cast<int>(
          read_int(j.at("first_app_core"), "host.first_app_core", 0, h.cores - h.app_cores));
    if (h.first_app_core + h.app_cores > h.cores)
      fail("host.first_app_core", "expected an integer in [0, host.cores - host.app_cores = " +
                                      std::to_string(h.cores - h.app_cores) + "], got " +
                                      std::to_string(h.first_app_core));
  }
  if (j.contains("vectors"))
    h.vectors = static_cast<int>(read_int(j.at("vectors"), "host.vectors", 1, 4096));
  if (j.contains("irq_placement"))
    h.irq_placement = parse_irq_placement(
        read_choice(j.at("irq_placement"), "host.irq_placement",
                    {"spread", "core0", "last", "driver", "irqbalance", "random"}));
  if (j.contains("idle_poll_cores"))
    h.idle_poll_cores = read_core_list(j.at("idle_poll_cores"), "host.idle_poll_cores", h.cores);
  if (j.contains("irq_delivery"))
    h.irq_by_thread =
        read_choice(j.at("irq_delivery"), "host.irq_delivery", {"msix", "thread"}) == "thread";
  if (j.contains("max_cstate"))
    h.max_cstate = static_cast<int>(read_int(j.at("max_cstate"), "host.max_cstate", -1, 4096));
  const int deepest = static_cast<int>(plat.cstates.size()) - 1;
  if (h.max_cstate > deepest)
    fail("host.max_cstate", "expected an integer in [-1, " + std::to_string(deepest) +
                                "] (-1 = all; platform \"" + plat.name + "\" has " +
                                std::to_string(plat.cstates.size()) + " C-states), got " +
                                std::to_string(h.max_cstate));
}

void parse_workload(const json& j, const HostConfig& host, WorkloadConfig& w) {
  const std::string path = "workload";
  check_keys(j, path,
             {"kind", "threads_per_core", "message_bytes", "service_ns", "service_dist", "think_ns",
              "think_dist", "rate_rps", "migrations", "script"});
  if (j.contains("kind"))
    w.kind = parse_load_kind(
        read_choice(j.at("kind"), "workload.kind", {"pingpong", "poisson", "script"}));
  if (j.contains("threads_per_core"))
    w.threads_per_core =
        static_cast<int>(read_int(j.at("threads_per_core"), "workload.threads_per_core", 1, 4096));
  if (j.contains("message_bytes"))
    w.message_bytes =
        static_cast<int>(read_int(j.at("message_bytes"), "workload.message_bytes", 1, 1 << 30));
  if (j.contains("service_ns")) w.service_ns = read_ns(j.at("service_ns"), "workload.service_ns");
  if (j.contains("service_dist"))
    w.service_dist =
        parse_dist(read_choice(j.at("service_dist"), "workload.service_dist", {"fixed", "exp"}),
                   "workload.service_dist");
  if (j.contains("think_ns")) w.think_ns = read_ns(j.at("think_ns"), "workload.think_ns");
  if (j.contains("think_dist"))
    w.think_dist =
        parse_dist(read_choice(j.at("think_dist"), "workload.think_dist", {"fixed", "exp"}),
                   "workload.think_dist");
  if (j.contains("rate_rps"))
    w.rate_rps = read_number(j.at("rate_rps"), "workload.rate_rps", 0, true, kMaxRateRps);
  if (w.rate_rps != 0 && w.rate_rps < kMinRateRps)
    fail("workload.rate_rps", "expected 0 or a number in [" + num_text(kMinRateRps) + ", " +
                                  num_text(kMaxRateRps) + "] (requests/s per connection), got " +
                                  describe(j.at("rate_rps")));
  if (w.kind == LoadKind::kPoisson && w.rate_rps <= 0)
    fail("workload.rate_rps",
         "expected a number > 0 when workload.kind is \"poisson\", got " +
             (j.contains("rate_rps") ? describe(j.at("rate_rps")) : "0 (default)"));

  if (j.contains("migrations")) {
    const std::string mpath = "workload.migrations";
    const json& ms = j.at("migrations");
    if (!ms.is_array()) fail(mpath, "expected an array, got " + describe(ms));
    const int threads = host.app_cores * w.threads_per_core;
    w.migrations.clear();
    for (std::size_t i = 0; i < ms.size(); ++i) {
      const std::string epath = element(mpath, i);
      const json& e = ms[i];
      check_keys(e, epath, {"at_ms", "thread", "to_core"});
      for (const char* k : {"at_ms", "thread", "to_core"})
        if (!e.contains(k)) fail(epath, std::string("missing \"") + k + "\"");
      Migration m;
      m.at_ns = read_time(e.at("at_ms"), child(epath, "at_ms"), kNsPerMs, false, 2 * kMaxRunNs);
      m.thread = static_cast<ThreadId>(read_int(e.at("thread"), child(epath, "thread"), 0));
      if (m.thread >= threads)
        fail(child(epath, "thread"),
             "expected an integer in [0, " + std::to_string(threads - 1) +
                 "] (threads = host.app_cores x workload.threads_per_core = " +
                 std::to_string(threads) + "), got " + std::to_string(m.thread));
      m.to_core = static_cast<CoreId>(read_int(e.at("to_core"), child(epath, "to_core"), 0));
      if (m.to_core >= host.cores)
        fail(child(epath, "to_core"),
             "expected an integer in [0, " + std::to_string(host.cores - 1) + "] (host.cores = " +
                 std::to_string(host.cores) + "), got " + std::to_string(m.to_core));
      w.migrations.push_back(m);
    }
  }

  const int threads = host.app_cores * w.threads_per_core;
  if (w.kind == LoadKind::kScript) {
    const std::string spath = "workload.script";
    if (!j.contains("script")) fail(spath, "required when workload.kind is \"script\"");
    const json& ss = j.at("script");
    if (!ss.is_array() || ss.empty())
      fail(spath, "expected a non-empty array of steps, got " + describe(ss));
    w.script.clear();
    Nanos script_ns = 0;
    for (std::size_t i = 0; i < ss.size(); ++i) {
      const std::string epath = element(spath, i);
      const json& e = ss[i];
      require_object(e, epath);
      check_keys(e, epath, {"after_us", "conn", "migrate", "to_core"});
      ScriptStep st;
      st.after_ns = e.contains("after_us")
                        ? read_time(e.at("after_us"), child(epath, "after_us"), kNsPerUs, false)
                        : 0;
      script_ns += st.after_ns;
      if (script_ns > kMaxRunNs)
        fail(child(epath, "after_us"), "the script's steps add up to more than 1 h (" +
                                           std::to_string(kMaxRunNs / kNsPerUs) + " us)");
      const bool mig = e.contains("migrate");
      if (mig == e.contains("conn"))
        fail(epath,
             "expected either \"conn\" (a request) or \"migrate\" + \"to_core\" (a migration)");
      const std::string tkey = child(epath, mig ? "migrate" : "conn");
      st.conn =
          static_cast<ThreadId>(read_int(e.at(mig ? "migrate" : "conn"), tkey, 0, threads - 1));
      if (mig) {
        if (!e.contains("to_core")) fail(epath, "missing \"to_core\"");
        st.migrate_to = static_cast<CoreId>(
            read_int(e.at("to_core"), child(epath, "to_core"), 0, host.cores - 1));
      } else if (e.contains("to_core")) {
        fail(child(epath, "to_core"), "only with \"migrate\"");
      }
      w.script.push_back(st);
    }
  } else if (j.contains("script")) {
    fail("workload.script", "only with workload.kind \"script\"");
  }
}

void parse_remapper(const json& j, RemapperOptions& r) {
  check_keys(j, "remapper", {"reaction_delay_us", "hysteresis_us"});
  if (j.contains("reaction_delay_us"))
    r.reaction_delay_ns = read_time(j.at("reaction_delay_us"), "remapper.reaction_delay_us",
                                    kNsPerUs, false, kMaxCostNs);
  if (j.contains("hysteresis_us"))
    r.hysteresis_ns =
        read_time(j.at("hysteresis_us"), "remapper.hysteresis_us", kNsPerUs, false, kMaxCostNs);
}

void parse_adaptive(const json& j, AdaptiveOptions& a) {
  check_keys(j, "adaptive", {"power_cap_w", "cpu_cap", "objective"});
  if (j.contains("objective"))
    a.objective = read_choice(j.at("objective"), "adaptive.objective", {"energy", "latency"}) ==
                          "latency"
                      ? AdaptiveObjective::kLatency
                      : AdaptiveObjective::kEnergy;
  // 0 = no cap; a cap is a positive number (watts; a share of the app cores' time).
  if (j.contains("power_cap_w"))
    a.power_cap_w = read_number(j.at("power_cap_w"), "adaptive.power_cap_w", 0, true, 1e6);
  if (j.contains("cpu_cap"))
    a.cpu_cap = read_number(j.at("cpu_cap"), "adaptive.cpu_cap", 0, true, 1);
}

std::vector<std::string> parse_strategies(const json& j) {
  if (!j.is_array() || j.empty())
    fail("strategies", "expected a non-empty array of strategy names, got " + describe(j));
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const std::string path = element("strategies", i);
    if (!j[i].is_string()) fail(path, "expected a strategy name (string), got " + describe(j[i]));
    const std::string name = j[i].get<std::string>();
    try {
      find_strategy(name);
    } catch (const ConfigError& e) {
      fail(path, e.what());
    }
    if (!seen.insert(name).second) fail(path, "duplicate strategy '" + name + "'");
    out.push_back(name);
  }
  return out;
}

void parse_run(const json& j, RunConfig& r) {
  check_keys(j, "run", {"seed", "duration_ms", "warmup_ms", "record_samples"});
  if (j.contains("seed")) r.seed = read_uint64(j.at("seed"), "run.seed");
  if (j.contains("duration_ms"))
    r.duration_ns = read_time(j.at("duration_ms"), "run.duration_ms", kNsPerMs, true);
  if (j.contains("warmup_ms"))
    r.warmup_ns = read_time(j.at("warmup_ms"), "run.warmup_ms", kNsPerMs, false);
  if (j.contains("record_samples"))
    r.record_samples = read_bool(j.at("record_samples"), "run.record_samples");
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API

Config parse_config(const nlohmann::json& doc) {
  check_keys(doc, "",
             {"name", "description", "platform", "host", "workload", "remapper", "adaptive",
              "strategies", "run", "fabric"});
  Config c;
  if (doc.contains("name")) c.name = read_string(doc.at("name"), "name");
  if (doc.contains("description"))
    c.description = read_string(doc.at("description"), "description", false);
  c.platform = parse_platform(
      doc.contains("platform") ? doc.at("platform") : json(std::string(kDefaultPlatform)),
      "platform");
  if (doc.contains("host")) parse_host(doc.at("host"), c.platform, c.host);
  if (doc.contains("workload")) {
    parse_workload(doc.at("workload"), c.host, c.workload);
  }
  if (doc.contains("remapper")) parse_remapper(doc.at("remapper"), c.remapper);
  if (doc.contains("adaptive")) parse_adaptive(doc.at("adaptive"), c.adaptive);
  if (doc.contains("strategies")) {
    c.strategies = parse_strategies(doc.at("strategies"));
  } else {
    for (const auto& s : strategies()) c.strategies.push_back(s.name);
  }
  if (doc.contains("run")) parse_run(doc.at("run"), c.run);
  if (doc.contains("fabric")) {
    // Opaque here: sim/ parses and validates it (fastwake/sim/fabric_config.h).
    require_object(doc.at("fabric"), "fabric");
    c.fabric = doc.at("fabric");
  }
  return c;
}

nlohmann::json to_json(const Config& c) {
  json migrations = json::array();
  for (const auto& m : c.workload.migrations)
    migrations.push_back(
        {{"at_ms", ns_in(m.at_ns, kNsPerMs)}, {"thread", m.thread}, {"to_core", m.to_core}});
  json out = {
      {"name", c.name},
      {"description", c.description},
      {"platform", platform_json(c.platform)},
      {"host",
       {{"cores", c.host.cores},
        {"numa_nodes", c.host.numa_nodes},
        {"llc_cores", c.host.llc_cores},
        {"nic_node", c.host.nic_node},
        {"app_cores", c.host.app_cores},
        {"vectors", c.host.vectors},
        {"irq_placement", std::string(irq_placement_name(c.host.irq_placement))},
        {"max_cstate", c.host.max_cstate},
        {"idle_poll_cores", c.host.idle_poll_cores},
        {"irq_delivery", c.host.irq_by_thread ? "thread" : "msix"}}},
      {"workload",
       {{"kind", std::string(load_kind_name(c.workload.kind))},
        {"threads_per_core", c.workload.threads_per_core},
        {"message_bytes", c.workload.message_bytes},
        {"service_ns", c.workload.service_ns},
        {"service_dist", std::string(dist_name(c.workload.service_dist))},
        {"think_ns", c.workload.think_ns},
        {"think_dist", std::string(dist_name(c.workload.think_dist))},
        {"rate_rps", c.workload.rate_rps},
        {"migrations", std::move(migrations)}}},
      {"remapper",
       {{"reaction_delay_us", ns_in(c.remapper.reaction_delay_ns, kNsPerUs)},
        {"hysteresis_us", ns_in(c.remapper.hysteresis_ns, kNsPerUs)}}},
      {"strategies", c.strategies},
      {"run",
       {{"seed", c.run.seed},
        {"duration_ms", ns_in(c.run.duration_ns, kNsPerMs)},
        {"warmup_ms", ns_in(c.run.warmup_ns, kNsPerMs)},
        {"record_samples", c.run.record_samples}}},
  };
  if (c.workload.kind == LoadKind::kScript) {
    json steps = json::array();
    for (const ScriptStep& st : c.workload.script) {
      json e = {{"after_us", ns_in(st.after_ns, kNsPerUs)}};
      if (st.migrate_to == kNoCore) {
        e["conn"] = st.conn;
      } else {
        e["migrate"] = st.conn;
        e["to_core"] = st.migrate_to;
      }
      steps.push_back(std::move(e));
    }
    out["workload"]["script"] = std::move(steps);
  }
  // As stored: sim::load_config stores it resolved, and the default simple
  // fabric as null, so single-host documents (and the golden scenario) keep
  // their shape.
  if (c.host.app_core_list.empty())
    out["host"]["first_app_core"] = c.host.first_app_core;
  else
    out["host"]["app_core_list"] = c.host.app_core_list;
  if (!c.fabric.is_null()) out["fabric"] = c.fabric;
  // Only when set: documents without caps (the golden scenario's) keep their shape.
  if (c.adaptive != AdaptiveOptions{})
    out["adaptive"] = {
        {"power_cap_w", c.adaptive.power_cap_w},
        {"cpu_cap", c.adaptive.cpu_cap},
        {"objective", c.adaptive.objective == AdaptiveObjective::kLatency ? "latency" : "energy"}};
  return out;
}

}  // namespace fastwake
