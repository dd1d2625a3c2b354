// Config loading and validation: JSON document -> Config with path-precise
// ConfigErrors, the reverse (to_json), built-in platform profiles, --set.
#include "fastwake/config.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "fastwake/errors.h"
#include "fastwake/strategy.h"

namespace fastwake::detail {
// Generated at build time by core/embed_configs.cmake from configs/.
const std::map<std::string, std::string>& embedded_configs();
}  // namespace fastwake::detail

namespace fastwake {
namespace {

using json = nlohmann::json;

constexpr std::string_view kDefaultPlatform = "x86";
constexpr Nanos kNsPerMs = 1'000'000;
constexpr Nanos kNsPerUs = 1'000;

// ---------------------------------------------------------------------------
// Paths and messages

std::string child(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

std::string element(const std::string& parent, std::size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

[[noreturn]] void fail(const std::string& path, const std::string& msg) {
  throw ConfigError(path + ": " + msg);
}

/// How a value is shown after "got": numbers and literals as JSON, strings
/// quoted (and shortened), containers by kind.
std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::string: {
      std::string s = v.dump();
      if (s.size() > 60) s = s.substr(0, 57) + "...\"";
      return "the string " + s;
    }
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::null: return "null";
    default: return v.dump();
  }
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string join(std::initializer_list<std::string_view> names) {
  std::string out;
  for (auto n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

// ---------------------------------------------------------------------------
// Typed readers. Each throws ConfigError naming `path` on a wrong type or an
// out-of-range value.

void require_object(const json& v, const std::string& path) {
  if (!v.is_object()) fail(path, "expected an object, got " + describe(v));
}

/// Rejects keys of `obj` that are not in `known` (the object is checked first).
void check_keys(const json& obj, const std::string& path,
                std::initializer_list<std::string_view> known) {
  require_object(obj, path.empty() ? "config" : path);
  for (const auto& [key, value] : obj.items()) {
    bool ok = false;
    for (auto k : known) ok = ok || key == k;
    if (!ok) fail(child(path, key), "unknown key (known: " + join(known) + ")");
  }
}

/// The value as int64 if it is a JSON integer that fits.
bool as_int64(const json& v, std::int64_t& out) {
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
    out = static_cast<std::int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    out = v.get<std::int64_t>();
    return true;
  }
  return false;
}

std::string int_range(std::int64_t lo, std::int64_t hi) {
  if (hi == std::numeric_limits<std::int64_t>::max()) return ">= " + std::to_string(lo);
  return "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
}

std::int64_t read_int(const json& v, const std::string& path, std::int64_t lo,
                      std::int64_t hi = std::numeric_limits<std::int64_t>::max()) {
  std::int64_t x = 0;
  if (!as_int64(v, x) || x < lo || x > hi)
    fail(path, "expected an integer " + int_range(lo, hi) + ", got " + describe(v));
  return x;
}

/// An integer count of nanoseconds >= 0 (service_ns, think_ns).
Nanos read_ns(const json& v, const std::string& path) {
  std::int64_t x = 0;
  if (!as_int64(v, x) || x < 0)
    fail(path, "expected an integer number of ns >= 0, got " + describe(v));
  return x;
}

/// A time given as a number of ms or us (integer or not), rounded to ns.
Nanos read_time(const json& v, const std::string& path, Nanos ns_per_unit, bool positive) {
  const std::string want = positive ? "expected a number > 0, got " : "expected a number >= 0, got ";
  if (!v.is_number()) fail(path, want + describe(v));
  double x = v.get<double>();
  double ns = x * static_cast<double>(ns_per_unit);
  if (!std::isfinite(ns) || ns < 0 || (positive && x <= 0)) fail(path, want + describe(v));
  if (ns >= 9.2e18) fail(path, "value too large, got " + describe(v));
  Nanos r = std::llround(ns);
  if (positive && r <= 0) fail(path, "rounds to 0 ns, got " + describe(v));
  return r;
}

double read_number(const json& v, const std::string& path, double lo, bool lo_inclusive) {
  std::string want = std::string("expected a number ") + (lo_inclusive ? ">= " : "> ");
  std::ostringstream os;
  os << lo;
  want += os.str();
  if (!v.is_number()) fail(path, want + ", got " + describe(v));
  double x = v.get<double>();
  if (!std::isfinite(x) || (lo_inclusive ? x < lo : x <= lo)) fail(path, want + ", got " + describe(v));
  return x;
}

std::string read_string(const json& v, const std::string& path, bool non_empty = true) {
  if (!v.is_string() || (non_empty && v.get<std::string>().empty()))
    fail(path, std::string("expected a ") + (non_empty ? "non-empty " : "") + "string, got " +
                   describe(v));
  return v.get<std::string>();
}

std::string read_choice(const json& v, const std::string& path,
                        std::initializer_list<std::string_view> choices) {
  if (v.is_string()) {
    auto s = v.get<std::string>();
    for (auto c : choices)
      if (s == c) return s;
  }
  std::string list;
  for (auto c : choices) list += (list.empty() ? "\"" : ", \"") + std::string(c) + "\"";
  fail(path, "expected one of " + list + ", got " + describe(v));
}

bool read_bool(const json& v, const std::string& path) {
  if (!v.is_boolean()) fail(path, "expected true or false, got " + describe(v));
  return v.get<bool>();
}

std::uint64_t read_uint64(const json& v, const std::string& path) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return v.get<std::uint64_t>();
  fail(path, "expected an unsigned integer, got " + describe(v));
}

// ---------------------------------------------------------------------------
// Platform profile

enum class ParamKind { kNanos, kPositive, kPower };

struct ParamDef {
  const char* name;
  ParamKind kind;
  Nanos Platform::*ns = nullptr;
  double Platform::*num = nullptr;
};

// Every Platform number, in config.h order. The JSON names are the field names.
const std::vector<ParamDef>& param_defs() {
  using P = Platform;
  static const std::vector<ParamDef> defs = {
      {"link_latency_ns", ParamKind::kNanos, &P::link_latency_ns},
      {"link_gbps", ParamKind::kPositive, nullptr, &P::link_gbps},
      {"client_ns", ParamKind::kNanos, &P::client_ns},
      {"nic_rx_ns", ParamKind::kNanos, &P::nic_rx_ns},
      {"nic_tx_ns", ParamKind::kNanos, &P::nic_tx_ns},
      {"post_send_ns", ParamKind::kNanos, &P::post_send_ns},
      {"cq_poll_ns", ParamKind::kNanos, &P::cq_poll_ns},
      {"cq_poll_empty_ns", ParamKind::kNanos, &P::cq_poll_empty_ns},
      {"msix_ns", ParamKind::kNanos, &P::msix_ns},
      {"hardirq_ns", ParamKind::kNanos, &P::hardirq_ns},
      {"softirq_ns", ParamKind::kNanos, &P::softirq_ns},
      {"uverbs_handler_ns", ParamKind::kNanos, &P::uverbs_handler_ns},
      {"fw_handler_ns", ParamKind::kNanos, &P::fw_handler_ns},
      {"ttwu_local_ns", ParamKind::kNanos, &P::ttwu_local_ns},
      {"ttwu_remote_ns", ParamKind::kNanos, &P::ttwu_remote_ns},
      {"ipi_latency_ns", ParamKind::kNanos, &P::ipi_latency_ns},
      {"ipi_handler_ns", ParamKind::kNanos, &P::ipi_handler_ns},
      {"ctx_switch_ns", ParamKind::kNanos, &P::ctx_switch_ns},
      {"fast_switch_ns", ParamKind::kNanos, &P::fast_switch_ns},
      {"read_return_ns", ParamKind::kNanos, &P::read_return_ns},
      {"rearm_ns", ParamKind::kNanos, &P::rearm_ns},
      {"block_ns", ParamKind::kNanos, &P::block_ns},
      {"syscall_ns", ParamKind::kNanos, &P::syscall_ns},
      {"sched_latency_ns", ParamKind::kNanos, &P::sched_latency_ns},
      {"sched_min_granularity_ns", ParamKind::kNanos, &P::sched_min_granularity_ns},
      {"wakeup_granularity_ns", ParamKind::kNanos, &P::wakeup_granularity_ns},
      {"poll_w", ParamKind::kPower, nullptr, &P::poll_w},
      {"work_w", ParamKind::kPower, nullptr, &P::work_w},
      {"irq_w", ParamKind::kPower, nullptr, &P::irq_w},
      {"package_w", ParamKind::kPower, nullptr, &P::package_w},
  };
  return defs;
}

std::vector<std::string> param_names() {
  std::vector<std::string> names;
  for (const auto& d : param_defs()) names.emplace_back(d.name);
  return names;
}

constexpr std::string_view kSourcePrefix = "source: ";
constexpr std::string_view kEstimatePrefix = "estimate: ";

/// Checks a {"value": x, "source"|"estimate": text} entry; stores the
/// provenance under `source_key` and returns the raw value for the caller to
/// type-check.
const json& read_sourced(const json& e, const std::string& path, const std::string& source_key,
                         std::map<std::string, std::string>& sources) {
  if (!e.is_object())
    fail(path, "expected {\"value\": number, \"source\": \"...\"} or {\"value\": number, "
               "\"estimate\": \"...\"}, got " + describe(e));
  check_keys(e, path, {"value", "source", "estimate"});
  bool has_source = e.contains("source");
  bool has_estimate = e.contains("estimate");
  if (!has_source && !has_estimate) fail(path, "needs a \"source\" or an \"estimate\"");
  if (has_source && has_estimate)
    fail(path, "has both a \"source\" and an \"estimate\" (keep the one that is true)");
  const char* which = has_source ? "source" : "estimate";
  std::string text = read_string(e.at(which), child(path, which));
  if (!e.contains("value")) fail(path, "missing \"value\"");
  sources[source_key] =
      std::string(has_source ? kSourcePrefix : kEstimatePrefix) + text;
  return e.at("value");
}

Nanos read_cost(const json& v, const std::string& path) {
  std::int64_t x = 0;
  if (!as_int64(v, x)) fail(path, "expected an integer number of ns >= 0, got " + describe(v));
  if (x < 0) fail(path, "negative cost " + std::to_string(x));
  return x;
}

double read_power(const json& v, const std::string& path) {
  if (!v.is_number() || !std::isfinite(v.get<double>()))
    fail(path, "expected a number of watts >= 0, got " + describe(v));
  double x = v.get<double>();
  if (x < 0) fail(path, "negative power " + v.dump());
  return x;
}

Platform parse_platform_object(const json& j, const std::string& path) {
  check_keys(j, path, {"name", "description", "params", "cstates", "calibration"});
  Platform p;
  if (!j.contains("name")) fail(path, "missing \"name\"");
  if (j.contains("calibration")) {
    require_object(j.at("calibration"), child(path, "calibration"));
    p.calibration = j.at("calibration");
  }
  p.name = read_string(j.at("name"), child(path, "name"));
  if (j.contains("description"))
    p.description = read_string(j.at("description"), child(path, "description"), false);

  const std::string ppath = child(path, "params");
  if (!j.contains("params")) fail(path, "missing \"params\"");
  const json& params = j.at("params");
  require_object(params, ppath);
  for (const auto& [key, value] : params.items()) {
    bool known = false;
    for (const auto& d : param_defs()) known = known || key == d.name;
    if (!known) fail(child(ppath, key), "unknown parameter (known: " + join(param_names()) + ")");
  }
  for (const auto& d : param_defs()) {
    if (!params.contains(d.name))
      fail(ppath, std::string("missing parameter \"") + d.name +
                      "\" (every parameter needs a value with a source or an estimate)");
    const std::string vpath = child(ppath, d.name);
    const json& v = read_sourced(params.at(d.name), vpath, d.name, p.sources);
    switch (d.kind) {
      case ParamKind::kNanos: p.*(d.ns) = read_cost(v, vpath); break;
      case ParamKind::kPositive: p.*(d.num) = read_number(v, vpath, 0, false); break;
      case ParamKind::kPower: p.*(d.num) = read_power(v, vpath); break;
    }
  }

  const std::string cpath = child(path, "cstates");
  if (!j.contains("cstates")) fail(path, "missing \"cstates\"");
  const json& cs = j.at("cstates");
  if (!cs.is_array() || cs.empty())
    fail(cpath, "expected a non-empty array of C-states (shallowest first), got " + describe(cs));
  std::set<std::string> names;
  for (std::size_t i = 0; i < cs.size(); ++i) {
    const std::string epath = element(cpath, i);
    const std::string skey = "cstates[" + std::to_string(i) + "]";
    const json& e = cs[i];
    check_keys(e, epath, {"name", "exit_latency_ns", "target_residency_ns", "power_w"});
    for (const char* k : {"name", "exit_latency_ns", "target_residency_ns", "power_w"})
      if (!e.contains(k)) fail(epath, std::string("missing \"") + k + "\"");
    CState c;
    c.name = read_string(e.at("name"), child(epath, "name"));
    if (!names.insert(c.name).second)
      fail(child(epath, "name"), "duplicate C-state name \"" + c.name + "\"");
    c.exit_latency_ns =
        read_cost(read_sourced(e.at("exit_latency_ns"), child(epath, "exit_latency_ns"),
                               child(skey, "exit_latency_ns"), p.sources),
                  child(epath, "exit_latency_ns"));
    c.target_residency_ns =
        read_cost(read_sourced(e.at("target_residency_ns"), child(epath, "target_residency_ns"),
                               child(skey, "target_residency_ns"), p.sources),
                  child(epath, "target_residency_ns"));
    c.power_w = read_power(read_sourced(e.at("power_w"), child(epath, "power_w"),
                                        child(skey, "power_w"), p.sources),
                           child(epath, "power_w"));
    if (!p.cstates.empty() && c.exit_latency_ns < p.cstates.back().exit_latency_ns)
      fail(child(epath, "exit_latency_ns"),
           "exit latency " + std::to_string(c.exit_latency_ns) + " ns is below the previous "
           "state's " + std::to_string(p.cstates.back().exit_latency_ns) +
           " ns (list C-states shallowest first)");
    p.cstates.push_back(std::move(c));
  }
  return p;
}

Platform parse_platform(const json& j, const std::string& path) {
  if (j.is_string()) return parse_platform_object(builtin_platform(j.get<std::string>()), path);
  if (!j.is_object())
    fail(path, "expected a built-in platform name (" + join(builtin_platforms()) +
                   ") or a profile object, got " + describe(j));
  return parse_platform_object(j, path);
}

json sourced_json(const json& value, const Platform& p, const std::string& key) {
  json e = json::object();
  e["value"] = value;
  auto it = p.sources.find(key);
  if (it == p.sources.end()) {
    e["estimate"] = "no source recorded";
  } else if (it->second.rfind(kSourcePrefix, 0) == 0) {
    e["source"] = it->second.substr(kSourcePrefix.size());
  } else if (it->second.rfind(kEstimatePrefix, 0) == 0) {
    e["estimate"] = it->second.substr(kEstimatePrefix.size());
  } else {
    e["source"] = it->second;
  }
  return e;
}

json platform_json(const Platform& p) {
  json params = json::object();
  for (const auto& d : param_defs()) {
    json v = d.kind == ParamKind::kNanos ? json(p.*(d.ns)) : json(p.*(d.num));
    params[d.name] = sourced_json(v, p, d.name);
  }
  json cstates = json::array();
  for (std::size_t i = 0; i < p.cstates.size(); ++i) {
    const CState& c = p.cstates[i];
    const std::string skey = "cstates[" + std::to_string(i) + "]";
    cstates.push_back({
        {"name", c.name},
        {"exit_latency_ns", sourced_json(c.exit_latency_ns, p, skey + ".exit_latency_ns")},
        {"target_residency_ns",
         sourced_json(c.target_residency_ns, p, skey + ".target_residency_ns")},
        {"power_w", sourced_json(c.power_w, p, skey + ".power_w")},
    });
  }
  json out = {{"name", p.name},
              {"description", p.description},
              {"params", std::move(params)},
              {"cstates", std::move(cstates)}};
  if (!p.calibration.is_null()) out["calibration"] = p.calibration;
  return out;
}

// ---------------------------------------------------------------------------
// Sections of a config document

void parse_host(const json& j, const Platform& plat, HostConfig& h) {
  const std::string path = "host";
  check_keys(j, path,
             {"cores", "app_cores", "vectors", "irq_placement", "max_cstate", "idle_poll_cores"});
  if (j.contains("cores")) h.cores = static_cast<int>(read_int(j.at("cores"), "host.cores", 1, 4096));
  if (j.contains("app_cores"))
    h.app_cores = static_cast<int>(read_int(j.at("app_cores"), "host.app_cores", 1, 4096));
  if (h.app_cores > h.cores)
    fail("host.app_cores", "expected an integer in [1, host.cores = " + std::to_string(h.cores) +
                               "], got " + std::to_string(h.app_cores));
  if (j.contains("vectors"))
    h.vectors = static_cast<int>(read_int(j.at("vectors"), "host.vectors", 1, 4096));
  if (j.contains("irq_placement"))
    h.irq_placement =
        read_choice(j.at("irq_placement"), "host.irq_placement", {"spread", "core0", "last"});
  if (j.contains("idle_poll_cores")) {
    const json& a = j.at("idle_poll_cores");
    if (!a.is_array()) fail("host.idle_poll_cores", "expected an array of core numbers, got " + describe(a));
    h.idle_poll_cores.clear();
    for (std::size_t i = 0; i < a.size(); ++i)
      h.idle_poll_cores.push_back(static_cast<int>(read_int(
          a[i], "host.idle_poll_cores[" + std::to_string(i) + "]", 0, h.cores - 1)));
  }
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
             {"kind", "threads_per_core", "message_bytes", "service_ns", "service_dist",
              "think_ns", "think_dist", "rate_rps", "migrations", "script"});
  if (j.contains("kind"))
    w.kind = read_choice(j.at("kind"), "workload.kind", {"pingpong", "poisson", "script"});
  if (j.contains("threads_per_core"))
    w.threads_per_core =
        static_cast<int>(read_int(j.at("threads_per_core"), "workload.threads_per_core", 1, 4096));
  if (j.contains("message_bytes"))
    w.message_bytes =
        static_cast<int>(read_int(j.at("message_bytes"), "workload.message_bytes", 1, 1 << 30));
  if (j.contains("service_ns")) w.service_ns = read_ns(j.at("service_ns"), "workload.service_ns");
  if (j.contains("service_dist"))
    w.service_dist = read_choice(j.at("service_dist"), "workload.service_dist", {"fixed", "exp"});
  if (j.contains("think_ns")) w.think_ns = read_ns(j.at("think_ns"), "workload.think_ns");
  if (j.contains("think_dist"))
    w.think_dist = read_choice(j.at("think_dist"), "workload.think_dist", {"fixed", "exp"});
  if (j.contains("rate_rps")) w.rate_rps = read_number(j.at("rate_rps"), "workload.rate_rps", 0, true);
  if (w.kind == "poisson" && w.rate_rps <= 0)
    fail("workload.rate_rps", "expected a number > 0 when workload.kind is \"poisson\", got " +
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
      m.at_ns = read_time(e.at("at_ms"), child(epath, "at_ms"), kNsPerMs, false);
      m.thread = static_cast<ThreadId>(read_int(e.at("thread"), child(epath, "thread"), 0));
      if (m.thread >= threads)
        fail(child(epath, "thread"),
             "expected an integer in [0, " + std::to_string(threads - 1) +
                 "] (threads = host.app_cores x workload.threads_per_core = " +
                 std::to_string(threads) + "), got " + std::to_string(m.thread));
      m.to_core = static_cast<CoreId>(read_int(e.at("to_core"), child(epath, "to_core"), 0));
      if (m.to_core >= host.cores)
        fail(child(epath, "to_core"), "expected an integer in [0, " +
                                          std::to_string(host.cores - 1) +
                                          "] (host.cores = " + std::to_string(host.cores) +
                                          "), got " + std::to_string(m.to_core));
      w.migrations.push_back(m);
    }
  }

  const int threads = host.app_cores * w.threads_per_core;
  if (w.kind == "script") {
    const std::string spath = "workload.script";
    if (!j.contains("script")) fail(spath, "required when workload.kind is \"script\"");
    const json& ss = j.at("script");
    if (!ss.is_array() || ss.empty()) fail(spath, "expected a non-empty array of steps, got " + describe(ss));
    w.script.clear();
    for (std::size_t i = 0; i < ss.size(); ++i) {
      const std::string epath = element(spath, i);
      const json& e = ss[i];
      require_object(e, epath);
      check_keys(e, epath, {"after_us", "conn", "migrate", "to_core"});
      ScriptStep st;
      st.after_ns = e.contains("after_us") ? read_time(e.at("after_us"), child(epath, "after_us"), kNsPerUs, false) : 0;
      const bool mig = e.contains("migrate");
      if (mig == e.contains("conn"))
        fail(epath, "expected either \"conn\" (a request) or \"migrate\" + \"to_core\" (a migration)");
      const std::string tkey = child(epath, mig ? "migrate" : "conn");
      st.conn = static_cast<ThreadId>(read_int(e.at(mig ? "migrate" : "conn"), tkey, 0, threads - 1));
      if (mig) {
        if (!e.contains("to_core")) fail(epath, "missing \"to_core\"");
        st.migrate_to = static_cast<CoreId>(read_int(e.at("to_core"), child(epath, "to_core"), 0, host.cores - 1));
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
    r.reaction_delay_ns =
        read_time(j.at("reaction_delay_us"), "remapper.reaction_delay_us", kNsPerUs, false);
  if (j.contains("hysteresis_us"))
    r.hysteresis_ns = read_time(j.at("hysteresis_us"), "remapper.hysteresis_us", kNsPerUs, false);
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

// --- fabric (issue 7: multi-host fabric on SimGrid; docs/fabric.md) -------

/// An array of `n` integers in [lo, hi] (n < 0: any non-empty length).
std::vector<int> read_int_array(const json& v, const std::string& path, int n, std::int64_t lo,
                                std::int64_t hi) {
  if (!v.is_array() || v.empty() || (n >= 0 && v.size() != static_cast<std::size_t>(n)))
    fail(path, "expected an array of " + (n >= 0 ? std::to_string(n) + " " : std::string()) +
                   "integers " + int_range(lo, hi) + ", got " +
                   (v.is_array() ? "an array of " + std::to_string(v.size()) : describe(v)));
  std::vector<int> out;
  for (std::size_t i = 0; i < v.size(); ++i)
    out.push_back(static_cast<int>(read_int(v[i], element(path, i), lo, hi)));
  return out;
}

/// A [count, links] pair of a dragonfly level.
void read_pair(const json& v, const std::string& path, int& count, int& links) {
  const std::vector<int> p = read_int_array(v, path, 2, 1, 4096);
  count = p[0];
  links = p[1];
}

constexpr std::int64_t kMaxFabricLeaves = 65536;

void parse_fabric(const json& j, const Platform& plat, int connections, FabricConfig& f) {
  const std::string path = "fabric";
  require_object(j, path);
  if (j.contains("kind")) f.kind = read_choice(j.at("kind"), "fabric.kind", {"simple", "simgrid"});
  if (j.contains("topology") && f.kind == "simgrid")
    f.topology = read_choice(j.at("topology"), "fabric.topology",
                             {"star", "fat_tree", "dragonfly", "file"});
  const std::string& t = f.topology;
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
    if (f.kind == "simple") fail(child(path, key), "only used by fabric.kind \"simgrid\"");
    std::string list = " " + std::string(use->topologies) + " ";
    if (list.find(" " + t + " ") == std::string::npos) {
      std::string quoted;
      for (std::size_t a = 1; a < list.size();) {
        const std::size_t b = list.find(' ', a);
        quoted += (quoted.empty() ? "\"" : " or \"") + list.substr(a, b - a) + "\"";
        a = b + 1;
      }
      fail(child(path, key), "only used with fabric.topology " + quoted + " (topology is \"" + t + "\")");
    }
  }
  if (f.kind == "simple") return;

  // The co-simulation's lookahead: a message is handed to the network this
  // long after the host model decides to send it (docs/fabric.md).
  if (plat.client_ns <= 0 || plat.nic_tx_ns <= 0)
    fail("fabric.kind", "the SimGrid fabric needs platform client_ns and nic_tx_ns > 0 (the "
                        "co-simulation's lookahead), got " + std::to_string(plat.client_ns) +
                        " and " + std::to_string(plat.nic_tx_ns));

  if (t == "file") {
    if (!j.contains("file")) fail(path, "missing \"file\" (a SimGrid platform file) for topology \"file\"");
    if (!j.contains("server")) fail(path, "missing \"server\" (the server's host name) for topology \"file\"");
    f.file = read_string(j.at("file"), "fabric.file");
    // One server by name, or several as an array.
    const json& sv = j.at("server");
    f.server.clear();
    if (sv.is_array()) {
      if (sv.empty() || sv.size() > 64)
        fail("fabric.server", "expected a host name or an array of 1 to 64 host names, got " + describe(sv));
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
        if (!seen.insert(name).second) fail(element("fabric.clients", i), "duplicate host '" + name + "'");
        f.clients.push_back(name);
      }
      if (static_cast<int>(f.clients.size()) > connections * f.servers)
        fail("fabric.clients", "expected at most " + std::to_string(connections * f.servers) +
                                   " hosts (one per connection at most), got " +
                                   std::to_string(f.clients.size()));
    }
    return;
  }

  f.link_gbps = j.contains("link_gbps") ? read_number(j.at("link_gbps"), "fabric.link_gbps", 0, false)
                                        : plat.link_gbps;
  f.link_latency_ns = j.contains("link_latency_ns")
                          ? read_ns(j.at("link_latency_ns"), "fabric.link_latency_ns")
                          : plat.link_latency_ns;
  if (t == "star") {
    f.server_link_gbps = j.contains("server_link_gbps")
                             ? read_number(j.at("server_link_gbps"), "fabric.server_link_gbps", 0, false)
                             : f.link_gbps;
    if (j.contains("server_link_latency_ns"))
      f.server_link_latency_ns = read_ns(j.at("server_link_latency_ns"), "fabric.server_link_latency_ns");
  }
  std::int64_t leaves = kMaxFabricLeaves;
  std::string what = "one per connection";
  if (t == "fat_tree") {
    if (j.contains("fat_tree")) {
      const json& ft = j.at("fat_tree");
      check_keys(ft, "fabric.fat_tree", {"levels", "down", "up", "count"});
      FatTreeShape& s = f.fat_tree;
      if (ft.contains("levels")) s.levels = static_cast<int>(read_int(ft.at("levels"), "fabric.fat_tree.levels", 1, 8));
      for (const char* k : {"down", "up", "count"})
        if (!ft.contains(k) && ft.contains("levels"))
          fail("fabric.fat_tree", std::string("missing \"") + k + "\" (one entry per level)");
      if (ft.contains("down")) s.down = read_int_array(ft.at("down"), "fabric.fat_tree.down", s.levels, 1, 4096);
      if (ft.contains("up")) s.up = read_int_array(ft.at("up"), "fabric.fat_tree.up", s.levels, 1, 4096);
      if (ft.contains("count")) s.count = read_int_array(ft.at("count"), "fabric.fat_tree.count", s.levels, 1, 64);
      for (const auto* v : {&s.down, &s.up, &s.count})
        if (static_cast<int>(v->size()) != s.levels)
          fail("fabric.fat_tree", "down, up and count need one entry per level (levels = " +
                                      std::to_string(s.levels) + ")");
    }
    leaves = 1;
    for (int d : f.fat_tree.down) leaves = std::min<std::int64_t>(leaves * d, kMaxFabricLeaves + 1);
    what = "the fat tree has " + std::to_string(leaves) + " leaves";
  } else if (t == "dragonfly") {
    if (j.contains("dragonfly")) {
      const json& df = j.at("dragonfly");
      check_keys(df, "fabric.dragonfly", {"groups", "chassis", "routers", "nodes"});
      DragonflyShape& s = f.dragonfly;
      if (df.contains("groups")) read_pair(df.at("groups"), "fabric.dragonfly.groups", s.groups, s.group_links);
      if (df.contains("chassis")) read_pair(df.at("chassis"), "fabric.dragonfly.chassis", s.chassis, s.chassis_links);
      if (df.contains("routers")) read_pair(df.at("routers"), "fabric.dragonfly.routers", s.routers, s.router_links);
      if (df.contains("nodes")) s.nodes = static_cast<int>(read_int(df.at("nodes"), "fabric.dragonfly.nodes", 1, 4096));
    }
    const DragonflyShape& s = f.dragonfly;
    leaves = std::min<std::int64_t>(static_cast<std::int64_t>(s.groups) * s.chassis * s.routers * s.nodes,
                                    kMaxFabricLeaves + 1);
    what = "the dragonfly has " + std::to_string(leaves) + " nodes";
  }
  if (leaves > kMaxFabricLeaves)
    fail(t == "fat_tree" ? "fabric.fat_tree" : "fabric.dragonfly",
         "more than " + std::to_string(kMaxFabricLeaves) + " hosts");
  if (j.contains("servers"))
    f.servers = static_cast<int>(read_int(j.at("servers"), "fabric.servers", 1, 64));
  if (leaves < f.servers + 1)
    fail(j.contains("servers") ? "fabric.servers" : (t == "fat_tree" ? "fabric.fat_tree" : "fabric.dragonfly"),
         "needs at least " + std::to_string(f.servers + 1) + " hosts (" + std::to_string(f.servers) +
             " server(s) and a client), " + what);
  if (j.contains("client_hosts")) {
    const std::int64_t most =
        std::min<std::int64_t>(static_cast<std::int64_t>(connections) * f.servers, leaves - f.servers);
    f.client_hosts = static_cast<int>(read_int(j.at("client_hosts"), "fabric.client_hosts", 0, most));
  }
}

json fabric_json(const FabricConfig& f) {
  json out = {{"kind", f.kind}};
  if (f.kind == "simple") return out;
  out["topology"] = f.topology;
  if (f.topology == "file") {
    out["file"] = f.file;
    out["server"] = f.server.size() == 1 ? json(f.server[0]) : json(f.server);
    if (!f.clients.empty()) out["clients"] = f.clients;
    return out;
  }
  out["link_gbps"] = f.link_gbps;
  out["link_latency_ns"] = f.link_latency_ns;
  if (f.topology == "star") {
    out["server_link_gbps"] = f.server_link_gbps;
    out["server_link_latency_ns"] = f.server_link_latency_ns;
  } else if (f.topology == "fat_tree") {
    out["fat_tree"] = {{"levels", f.fat_tree.levels}, {"down", f.fat_tree.down},
                       {"up", f.fat_tree.up}, {"count", f.fat_tree.count}};
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

/// ns as a number of `unit`s: an integer when exact, else a fraction.
json ns_in(Nanos ns, Nanos unit) {
  if (ns % unit == 0) return json(ns / unit);
  return json(static_cast<double>(ns) / static_cast<double>(unit));
}

json parse_embedded(const std::string& key) {
  const auto& m = detail::embedded_configs();
  auto it = m.find(key);
  if (it == m.end()) throw ConfigError("built-in config '" + key + "' is missing from this build");
  try {
    return json::parse(it->second);
  } catch (const json::parse_error& e) {
    throw ConfigError("built-in config '" + key + "': " + e.what());
  }
}

bool is_sourced_entry(const json& j) {
  return j.is_object() && j.contains("value") && (j.contains("source") || j.contains("estimate"));
}

/// Assigns `value` to `slot`; a number assigned to a {value, source|estimate}
/// entry keeps the entry and records the command line as its source.
void assign(json& slot, const json& value) {
  if (is_sourced_entry(slot) && value.is_number()) {
    slot["value"] = value;
    slot.erase("estimate");
    slot["source"] = "set on the command line";
  } else {
    slot = value;
  }
}

bool parse_index(const std::string& s, std::size_t& out) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  out = static_cast<std::size_t>(std::stoul(s));
  return true;
}

const char* type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::null: return "null";
    default: return "a number";
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API

Config parse_config(const nlohmann::json& doc) {
  check_keys(doc, "", {"name", "description", "platform", "host", "workload", "remapper",
                       "strategies", "run", "fabric"});
  Config c;
  if (doc.contains("name")) c.name = read_string(doc.at("name"), "name");
  if (doc.contains("description"))
    c.description = read_string(doc.at("description"), "description", false);
  c.platform = parse_platform(doc.contains("platform") ? doc.at("platform")
                                                        : json(std::string(kDefaultPlatform)),
                              "platform");
  if (doc.contains("host")) parse_host(doc.at("host"), c.platform, c.host);
  if (doc.contains("workload")) {
    parse_workload(doc.at("workload"), c.host, c.workload);
  }
  if (doc.contains("remapper")) parse_remapper(doc.at("remapper"), c.remapper);
  if (doc.contains("strategies")) {
    c.strategies = parse_strategies(doc.at("strategies"));
  } else {
    for (const auto& s : strategies()) c.strategies.push_back(s.name);
  }
  if (doc.contains("run")) parse_run(doc.at("run"), c.run);
  if (doc.contains("fabric")) parse_fabric(doc.at("fabric"), c.platform, c.threads(), c.fabric);
  return c;
}

nlohmann::json to_json(const Config& c) {
  json migrations = json::array();
  for (const auto& m : c.workload.migrations)
    migrations.push_back({{"at_ms", ns_in(m.at_ns, kNsPerMs)}, {"thread", m.thread}, {"to_core", m.to_core}});
  json out = {
      {"name", c.name},
      {"description", c.description},
      {"platform", platform_json(c.platform)},
      {"host",
       {{"cores", c.host.cores},
        {"app_cores", c.host.app_cores},
        {"vectors", c.host.vectors},
        {"irq_placement", c.host.irq_placement},
        {"max_cstate", c.host.max_cstate},
        {"idle_poll_cores", c.host.idle_poll_cores}}},
      {"workload",
       {{"kind", c.workload.kind},
        {"threads_per_core", c.workload.threads_per_core},
        {"message_bytes", c.workload.message_bytes},
        {"service_ns", c.workload.service_ns},
        {"service_dist", c.workload.service_dist},
        {"think_ns", c.workload.think_ns},
        {"think_dist", c.workload.think_dist},
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
  if (c.workload.kind == "script") {
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
  // The default simple fabric is left out, so single-host documents (and the
  // golden scenario) keep their shape; parse_config fills it in again.
  if (c.fabric.kind != "simple") out["fabric"] = fabric_json(c.fabric);
  return out;
}

nlohmann::json load_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read");
  const std::string text = buf.str();
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    // e.byte is the 1-based offset of the character where parsing stopped.
    std::size_t pos = e.byte > 0 ? e.byte - 1 : 0;
    if (pos > text.size()) pos = text.size();
    std::size_t line = 1, line_start = 0;
    for (std::size_t i = 0; i < pos; ++i)
      if (text[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    const std::size_t column = pos - line_start + 1;
    // Keep nlohmann's description without its "[json.exception...] parse
    // error at line L, column C: " preamble.
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    if (what.rfind("parse error", 0) == 0) {
      if (auto p = what.find(": "); p != std::string::npos) what = what.substr(p + 2);
    }
    throw ConfigError(path + ": line " + std::to_string(line) + " column " +
                      std::to_string(column) + ": parse error: " + what);
  }
}

std::string platform_dir() {
  if (const char* d = std::getenv("FASTWAKE_CONFIG_DIR")) return std::string(d) + "/platforms";
#ifdef FW_CONFIG_DIR
  return std::string(FW_CONFIG_DIR) + "/platforms";
#else
  return "configs/platforms";
#endif
}

std::vector<std::string> builtin_platforms() {
  constexpr std::string_view prefix = "platforms/";
  std::vector<std::string> out;
  for (const auto& [key, text] : detail::embedded_configs())
    if (key.rfind(prefix, 0) == 0) out.push_back(key.substr(prefix.size()));
  // Profiles written after the build (fastwake-bench calibrate) are found on disk.
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(platform_dir(), ec)) {
    if (e.path().extension() != ".json") continue;
    const std::string n = e.path().stem().string();
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

nlohmann::json builtin_platform(std::string_view name) {
  const std::string key = "platforms/" + std::string(name);
  const std::string n(name);
  if (n.size() > 5 && n.substr(n.size() - 5) == ".json") return load_json_file(n);
  // The profile on disk wins over the copy embedded at build time: a
  // calibration rewrites host-*.json after the build.
  if (n.find('/') == std::string::npos && !n.empty()) {
    const std::string file = platform_dir() + "/" + n + ".json";
    std::error_code ec;
    if (std::filesystem::exists(file, ec)) return load_json_file(file);
  }
  if (detail::embedded_configs().count(key)) return parse_embedded(key);
  throw ConfigError("platform: unknown platform '" + n + "' (known: " + join(builtin_platforms()) +
                    "; or give a profile file ending in .json)");
}

nlohmann::json default_config() { return parse_embedded("default"); }

nlohmann::json bundled_config(std::string_view name) {
  const std::string key(name);
  if (key.find('/') != std::string::npos || !detail::embedded_configs().count(key))
    throw ConfigError("no bundled config '" + key + "'");
  return parse_embedded(key);
}

void apply_set(nlohmann::json& doc, std::string_view assignment) {
  const std::string whole(assignment);
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos)
    throw ConfigError("--set '" + whole + "': expected PATH=VALUE, e.g. host.cores=4");
  const std::string path(assignment.substr(0, eq));
  const std::string text(assignment.substr(eq + 1));
  if (path.empty()) throw ConfigError("--set '" + whole + "': empty path before '='");

  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    auto dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (parts.back().empty())
      throw ConfigError("--set '" + whole + "': empty component in path '" + path + "'");
    if (dot == std::string::npos) break;
    start = dot + 1;
  }

  // The value is JSON when it parses as JSON (numbers, true, [..], {..},
  // "quoted"), else the raw text as a string (x86, spread).
  json value;
  try {
    value = json::parse(text);
  } catch (const json::parse_error&) {
    value = text;
  }

  if (doc.is_null()) doc = json::object();
  if (!doc.is_object()) throw ConfigError("--set '" + whole + "': the config is not a JSON object");

  json* cur = &doc;
  std::string walked;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string& key = parts[i];
    const bool last = i + 1 == parts.size();
    const std::string here = child(walked, key);
    const std::string where = " (in --set '" + whole + "')";
    if (cur->is_object()) {
      if (last) {
        if (cur->contains(key)) {
          assign((*cur)[key], value);
        } else {
          (*cur)[key] = value;  // validation rejects it if the key is unknown
        }
        return;
      }
      if (!cur->contains(key)) {
        const bool root = cur == &doc;
        if (root && (key == "host" || key == "workload" || key == "run" || key == "remapper" ||
                     key == "fabric")) {
          (*cur)[key] = json::object();
        } else if (root && key == "platform") {
          (*cur)[key] = builtin_platform(kDefaultPlatform);
        } else {
          throw ConfigError(here + ": does not exist" + where);
        }
      }
      json& next = (*cur)[key];
      // Going into a built-in platform given by name: inline it first so the
      // override has something to apply to.
      if (cur == &doc && key == "platform" && next.is_string())
        next = builtin_platform(next.get<std::string>());
      cur = &next;
    } else if (cur->is_array()) {
      std::size_t idx = 0;
      if (!parse_index(key, idx))
        throw ConfigError(here + ": '" + key + "' is not an array index" + where);
      if (last) {
        if (idx < cur->size()) {
          assign((*cur)[idx], value);
        } else if (idx == cur->size()) {
          cur->push_back(value);
        } else {
          throw ConfigError(here + ": index out of range (the array has " +
                            std::to_string(cur->size()) + " elements)" + where);
        }
        return;
      }
      if (idx >= cur->size())
        throw ConfigError(here + ": index out of range (the array has " +
                          std::to_string(cur->size()) + " elements)" + where);
      cur = &(*cur)[idx];
    } else {
      throw ConfigError((walked.empty() ? std::string("config") : walked) + ": is " +
                        type_name(*cur) + ", not an object or array" + where);
    }
    walked = here;
  }
}

}  // namespace fastwake
