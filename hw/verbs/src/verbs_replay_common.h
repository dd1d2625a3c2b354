// Replay tool, pieces both sides share: the result record both build from
// the two sides' counters, the exactly-once check, the fields both configs
// must agree on, and the session entry points of each side (private to
// hw/verbs/src: verbs_replay.cc, verbs_replay_server.cc,
// verbs_replay_client.cc, verbs_replay_common.cc).
#pragma once

#include <limits>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "fastwake/config.h"
#include "fastwake/hw/verbs_device.h"
#include "fastwake/hw/verbs_replay.h"
#include "fastwake/metrics.h"

namespace fastwake::hw::replay {

using nlohmann::json;
inline constexpr Nanos kNever = std::numeric_limits<Nanos>::max();

json summary_json(const LatencySummary& s);
LatencySummary summary_from_json(const json& j);
/// "1,2,5"
std::string cpu_list_text(const std::vector<int>& v);
/// Fields both sides must agree on (the server serves what the client
/// measures): empty if they do, else "key: server a, client b; ...".
std::string config_mismatch(const Config& server, const Config& client);
/// The result record both sides print and write (same numbers on both).
StrategyResult make_result(const Config& cfg, const std::string& strategy, const json& cl,
                           const json& sv);
/// Empty if every request was answered exactly once, else what went wrong.
std::string check_accounting(const json& cl, const json& sv);
/// An empty result document for `cfg`.
json new_doc(const Config& cfg);

/// The server side (verbs_replay_server.cc): serves sessions until the last
/// strategy of a client (or forever); the result document.
json serve(const Config& cfg, const ReplayServerOptions& o, std::ostream* progress, json* partial);

/// The client side (verbs_replay_client.cc): the load thread's CPU (--cpu,
/// else the last usable one), and one session (one strategy) against the
/// server; returns the client's counters, the result record in *result_out.
int default_client_cpu(int cpu);
json client_session(VerbsDevice& dev, const Config& cfg, const ReplayClientOptions& o, int cpu,
                    const std::string& strategy, int index, int total, json* result_out);

}  // namespace fastwake::hw::replay
