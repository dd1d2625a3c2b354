// Platform cost profiles: parsing and emitting a profile ({value, source|estimate}
// per parameter, C-states), and finding one by name: embedded at build time from
// configs/, or on disk at run time (calibrated hosts, profile files).
#include "config_platform.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <utility>

#include "fastwake/config_read.h"
#include "fastwake/errors.h"

namespace fastwake::detail {
// Generated at build time by core/embed_configs.cmake from configs/.
const std::map<std::string, std::string>& embedded_configs();
}  // namespace fastwake::detail

namespace fastwake {
using namespace config_read;

namespace {

enum class ParamKind { kNanos, kPositive, kPower, kNonNegative };

struct ParamDef {
  const char* name;
  ParamKind kind;
  Nanos Platform::*ns = nullptr;
  double Platform::*num = nullptr;
  /// Parameters added after profiles were calibrated: a profile without them
  /// (configs/platforms/host-*.json written by an older calibration) gets this
  /// value, recorded as an estimate that says so. Null: required.
  const char* default_why = nullptr;
  Nanos default_ns = 0;
  /// A power parameter added later: defaults to this (earlier) parameter's value.
  double Platform::*default_num_from = nullptr;
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
      {"ipi_send_ns", ParamKind::kNanos, &P::ipi_send_ns, nullptr,
       "default 200 ns (the x86 profile's estimate of an x2APIC ICR write): the profile predates "
       "ipi_send_ns, so its ttwu_remote_ns may include the send",
       200},
      {"rq_lock_remote_ns", ParamKind::kNanos, &P::rq_lock_remote_ns, nullptr,
       "default 300 ns (the x86 profile's estimate: rq lock and enqueue lines fetched from "
       "another core); the profile predates rq_lock_remote_ns",
       300},
      {"resched_ipi_ns", ParamKind::kNanos, &P::resched_ipi_ns, nullptr,
       "default 300 ns (the x86 profile's estimate: IRQ entry/exit + scheduler_ipi); the profile "
       "predates resched_ipi_ns",
       300},
      {"ctx_switch_ns", ParamKind::kNanos, &P::ctx_switch_ns},
      {"fast_switch_ns", ParamKind::kNanos, &P::fast_switch_ns},
      {"read_return_ns", ParamKind::kNanos, &P::read_return_ns},
      {"rearm_ns", ParamKind::kNanos, &P::rearm_ns},
      {"block_ns", ParamKind::kNanos, &P::block_ns},
      {"syscall_ns", ParamKind::kNanos, &P::syscall_ns},
      {"sched_latency_ns", ParamKind::kNanos, &P::sched_latency_ns},
      {"sched_min_granularity_ns", ParamKind::kNanos, &P::sched_min_granularity_ns},
      {"wakeup_granularity_ns", ParamKind::kNanos, &P::wakeup_granularity_ns},
      {"tick_ns", ParamKind::kNanos, &P::tick_ns, nullptr,
       "default 4000000 ns (CONFIG_HZ=250, Debian 12's Linux 6.1 amd64 and arm64 config): the "
       "profile predates tick_ns",
       4000000},
      {"stall_rate_hz", ParamKind::kNonNegative, nullptr, &P::stall_rate_hz,
       "0: no stalls (the profile predates stall_rate_hz)"},
      {"stall_mean_ns", ParamKind::kNanos, &P::stall_mean_ns, nullptr,
       "0: no stalls (the profile predates stall_mean_ns)", 0},
      {"poll_w", ParamKind::kPower, nullptr, &P::poll_w},
      {"work_w", ParamKind::kPower, nullptr, &P::work_w},
      {"irq_w", ParamKind::kPower, nullptr, &P::irq_w},
      {"cstate_exit_w", ParamKind::kPower, nullptr, &P::cstate_exit_w,
       "work_w (the profile predates cstate_exit_w: C-state exit time drawn at work power, as "
       "the model accounted it before)",
       0, &P::work_w},
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
    fail(path,
         "expected {\"value\": number, \"source\": \"...\"} or {\"value\": number, "
         "\"estimate\": \"...\"}, got " +
             describe(e));
  check_keys(e, path, {"value", "source", "estimate"});
  bool has_source = e.contains("source");
  bool has_estimate = e.contains("estimate");
  if (!has_source && !has_estimate) fail(path, "needs a \"source\" or an \"estimate\"");
  if (has_source && has_estimate)
    fail(path, "has both a \"source\" and an \"estimate\" (keep the one that is true)");
  const char* which = has_source ? "source" : "estimate";
  std::string text = read_string(e.at(which), child(path, which));
  if (!e.contains("value")) fail(path, "missing \"value\"");
  sources[source_key] = std::string(has_source ? kSourcePrefix : kEstimatePrefix) + text;
  return e.at("value");
}

Nanos read_cost(const json& v, const std::string& path) {
  std::int64_t x = 0;
  if (as_int64(v, x) && x < 0) fail(path, "negative cost " + std::to_string(x));
  return read_ns(v, path, kMaxCostNs);
}

double read_power(const json& v, const std::string& path) {
  if (!v.is_number() || !std::isfinite(v.get<double>()))
    fail(path,
         "expected a number of watts in [0, " + num_text(kMaxWatts) + "], got " + describe(v));
  double x = v.get<double>();
  if (x < 0) fail(path, "negative power " + v.dump());
  if (x > kMaxWatts)
    fail(path, "expected a number of watts in [0, " + num_text(kMaxWatts) + "], got " + v.dump());
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
    if (!params.contains(d.name) && d.default_why) {
      if (d.ns)
        p.*(d.ns) = d.default_ns;
      else
        p.*(d.num) = d.default_num_from ? p.*(d.default_num_from) : 0.0;
      p.sources[d.name] = std::string(kEstimatePrefix) + d.default_why;
      continue;
    }
    if (!params.contains(d.name))
      fail(ppath, std::string("missing parameter \"") + d.name +
                      "\" (every parameter needs a value with a source or an estimate)");
    const std::string vpath = child(ppath, d.name);
    const json& v = read_sourced(params.at(d.name), vpath, d.name, p.sources);
    switch (d.kind) {
      case ParamKind::kNanos:
        p.*(d.ns) = read_cost(v, vpath);
        break;
      case ParamKind::kPositive:
        p.*(d.num) = read_number(v, vpath, kMinGbps, true, kMaxGbps);
        break;
      case ParamKind::kPower:
        p.*(d.num) = read_power(v, vpath);
        break;
      case ParamKind::kNonNegative:
        p.*(d.num) = read_number(v, vpath, 0, true);
        break;
    }
  }
  // Stalls: at most 100k per second (one per 10 us) and 1 s each; a rate
  // without a duration (or the reverse) is a mistake, not "no stalls".
  if (p.stall_rate_hz > 100'000)
    fail(child(ppath, "stall_rate_hz"),
         "at most 100000 stalls per second per core, got " + std::to_string(p.stall_rate_hz));
  if (p.stall_mean_ns > 1'000'000'000)
    fail(child(ppath, "stall_mean_ns"), "a stall of at most 1 s on average, got " +
                                            std::to_string(p.stall_mean_ns) + " ns");
  if ((p.stall_rate_hz > 0) != (p.stall_mean_ns > 0))
    fail(child(ppath, p.stall_rate_hz > 0 ? "stall_mean_ns" : "stall_rate_hz"),
         "stall_rate_hz and stall_mean_ns go together: both 0 (no stalls) or both > 0");
  // A periodic tick of 0.1-1000 ms: CONFIG_HZ is 100..1000 on every mainline
  // architecture (kernel/Kconfig.hz), so this range covers real kernels with
  // room; the model runs one tick event per busy core per period.
  if (p.tick_ns < 100'000 || p.tick_ns > 1'000'000'000)
    fail(child(ppath, "tick_ns"), "the scheduler tick must be 100000..1000000000 ns (CONFIG_HZ "
                                  "100..1000 gives 1-10 ms), got " +
                                      std::to_string(p.tick_ns));

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
    check_keys(e, epath, {"name", "exit_latency_ns", "target_residency_ns", "power_w", "polling"});
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
    c.power_w = read_power(
        read_sourced(e.at("power_w"), child(epath, "power_w"), child(skey, "power_w"), p.sources),
        child(epath, "power_w"));
    // TIF_POLLING_NRFLAG in this state (kernel/sched/core.c set_nr_if_polling,
    // Linux 6.1). Absent: not polling (HLT-like; a remote wake-up needs an IPI).
    if (e.contains("polling")) {
      const std::string ppath2 = child(epath, "polling");
      const json& v = read_sourced(e.at("polling"), ppath2, child(skey, "polling"), p.sources);
      if (!v.is_boolean())
        fail(child(ppath2, "value"), "expected true or false, got " + describe(v));
      c.polling = v.get<bool>();
    } else {
      c.polling = false;
      p.sources[child(skey, "polling")] =
          std::string(kEstimatePrefix) +
          "not given by the profile: taken as not polling (HLT-like, as a VM guest idles; a "
          "remote wake-up to this state needs an IPI)";
    }
    if (!p.cstates.empty() && c.exit_latency_ns < p.cstates.back().exit_latency_ns)
      fail(child(epath, "exit_latency_ns"), "exit latency " + std::to_string(c.exit_latency_ns) +
                                                " ns is below the previous "
                                                "state's " +
                                                std::to_string(p.cstates.back().exit_latency_ns) +
                                                " ns (list C-states shallowest first)");
    p.cstates.push_back(std::move(c));
  }
  return p;
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

std::string platform_dir() {
  if (const char* d = std::getenv("FASTWAKE_CONFIG_DIR")) return std::string(d) + "/platforms";
#ifdef FW_CONFIG_DIR
  return std::string(FW_CONFIG_DIR) + "/platforms";
#else
  return "configs/platforms";
#endif
}

}  // namespace

Platform parse_platform(const json& j, const std::string& path) {
  if (j.is_string()) return parse_platform_object(builtin_platform(j.get<std::string>()), path);
  if (!j.is_object())
    fail(path, "expected a built-in platform name (" + join(builtin_platforms()) +
                   ") or a profile object, got " + describe(j));
  return parse_platform_object(j, path);
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
    if (p.sources.count(skey + ".polling"))
      cstates.back()["polling"] = sourced_json(c.polling, p, skey + ".polling");
  }
  json out = {{"name", p.name},
              {"description", p.description},
              {"params", std::move(params)},
              {"cstates", std::move(cstates)}};
  if (!p.calibration.is_null()) out["calibration"] = p.calibration;
  return out;
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

}  // namespace fastwake
