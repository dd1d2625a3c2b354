// Replay tool, shared pieces (see verbs_replay_common.h): result assembly,
// the exactly-once accounting check, the config comparison.
#include "verbs_replay_common.h"

#include <cstdlib>
#include <sstream>

#include "fastwake/version.h"

namespace fastwake::hw::replay {

json summary_json(const LatencySummary& s) {
  return {{"mean", s.mean}, {"p50", s.p50},   {"p90", s.p90},
          {"p99", s.p99},   {"p999", s.p999}, {"max", s.max}};
}

LatencySummary summary_from_json(const json& j) {
  LatencySummary s;
  s.mean = j.value("mean", 0.0);
  s.p50 = j.value("p50", 0.0);
  s.p90 = j.value("p90", 0.0);
  s.p99 = j.value("p99", 0.0);
  s.p999 = j.value("p999", 0.0);
  s.max = j.value("max", 0.0);
  return s;
}

std::string cpu_list_text(const std::vector<int>& v) {
  std::string s;
  for (int c : v) s += (s.empty() ? "" : ",") + std::to_string(c);
  return s;
}

/// Fields both sides must agree on (the server serves what the client measures).
std::string config_mismatch(const Config& server, const Config& client) {
  std::string d;
  auto cmp = [&](const char* key, auto a, auto b) {
    if (a != b) {
      std::ostringstream o;
      o << (d.empty() ? "" : "; ") << key << ": server " << a << ", client " << b;
      d += o.str();
    }
  };
  cmp("host.app_cores", server.host.app_cores, client.host.app_cores);
  cmp("workload.threads_per_core", server.workload.threads_per_core,
      client.workload.threads_per_core);
  cmp("workload.message_bytes", server.workload.message_bytes, client.workload.message_bytes);
  cmp("workload.service_ns", server.workload.service_ns, client.workload.service_ns);
  cmp("workload.service_dist", dist_name(server.workload.service_dist),
      dist_name(client.workload.service_dist));
  return d;
}

/// The result record both sides print and write (same numbers on both).
StrategyResult make_result(const Config& cfg, const std::string& strategy, const json& cl,
                           const json& sv) {
  StrategyResult r;
  r.strategy = strategy;
  r.backend = "verbs";
  r.platform = cfg.platform.name;
  r.seed = cfg.run.seed;
  r.requests = cl.value("measured", 0ull);
  r.latency_us = summary_from_json(cl.value("rtt_us", json::object()));
  const double span = cl.value("window_s", 0.0);
  const auto in_window = cl.value("completed_in_window", 0ull);
  r.throughput_rps = span > 0 ? static_cast<double>(in_window) / span : 0;
  r.cpu_util = sv.value("cpu_util", 0.0);
  r.power_w = sv.value("power_w", 0.0);
  r.power_estimated = sv.value("power_estimated", true);
  r.energy_per_req_uj = in_window ? r.power_w * span * 1e6 / static_cast<double>(in_window) : 0;
  LatencySummary half = r.latency_us;
  for (double* v : {&half.mean, &half.p50, &half.p90, &half.p99, &half.p999, &half.max}) *v /= 2;
  r.extra = {{"rtt_half_us", summary_json(half)},
             {"perftest", cl.value("perftest", json::object())},
             {"sent", cl.value("sent", 0ull)},
             {"completed", cl.value("completed", 0ull)},
             {"served", sv.value("served", 0ull)},
             {"replies", sv.value("replies", 0ull)},
             {"events", sv.value("events", 0ull)},
             {"acks", sv.value("acks", 0ull)},
             {"arms", sv.value("arms", 0ull)},
             {"handoffs", sv.value("handoffs", 0ull)},
             {"stashed", sv.value("stashed", 0ull)},
             {"bad_replies", cl.value("bad_replies", 0ull)},
             {"skipped_sends", cl.value("skipped", 0ull)},
             {"drained", cl.value("drained", false)},
             {"window_s", span},
             {"server", sv},
             {"client", cl.value("info", json::object())}};
  const std::string dev = sv.value("device_name", std::string());
  if (std::getenv("FW_GUEST") || sv.value("software_device", false))
    r.extra["timing_note"] = "software RDMA (" + dev +
                             (std::getenv("FW_GUEST") ? ") in an emulated guest" : ")") +
                             ": functional figures, not hardware timings";
  return r;
}

/// Empty if every request was answered exactly once, else what went wrong.
std::string check_accounting(const json& cl, const json& sv) {
  std::ostringstream o;
  const auto sent = cl.value("sent", 0ull), completed = cl.value("completed", 0ull);
  const auto served = sv.value("served", 0ull), rt_served = sv.value("rt_served", 0ull);
  const auto replies = sv.value("replies", 0ull);
  if (!cl.value("drained", false))
    o << "the client did not get every reply back (" << sent - completed << " missing); ";
  if (sent != completed || completed != served || served != rt_served || served != replies)
    o << "client sent " << sent << ", client completed " << completed << ", server served "
      << served << " (threads counted " << rt_served << "), replies posted " << replies << "; ";
  if (cl.value("bad_replies", 0ull))
    o << cl.value("bad_replies", 0ull) << " duplicate/out-of-order replies; ";
  if (sv.value("events", 0ull) != sv.value("acks", 0ull))
    o << "events " << sv.value("events", 0ull) << " != acks " << sv.value("acks", 0ull) << "; ";
  if (sv.value("left_in_stash", 0ull))
    o << sv.value("left_in_stash", 0ull) << " completions left in a stash; ";
  if (sv.value("errors", 0ull))
    o << "server errors: " << sv.value("errors", 0ull)
      << " (first: " << sv.value("first_error", std::string()) << "); ";
  if (cl.value("errors", 0ull))
    o << "client errors: " << cl.value("errors", 0ull)
      << " (first: " << cl.value("first_error", std::string()) << "); ";
  std::string s = o.str();
  if (s.size() >= 2) s.resize(s.size() - 2);
  return s;
}

json new_doc(const Config& cfg) {
  json doc;
  doc["schema"] = "fastwake-result/1";
  doc["meta"] = result_meta("fastwake-bench replay");
  doc["config"] = to_json(cfg);
  doc["results"] = json::array();
  return doc;
}

}  // namespace fastwake::hw::replay
