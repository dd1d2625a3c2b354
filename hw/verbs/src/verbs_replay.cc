// Replay tool sessions, the public entry points (verbs_replay.h): checks of
// the configuration, then the server side (verbs_replay_server.cc) or the
// client's sessions (verbs_replay_client.cc), and the summary table. The
// pieces both sides share: verbs_replay_common.h.
#include "fastwake/hw/verbs_replay.h"

#include <chrono>
#include <iomanip>

#include "fastwake/errors.h"
#include "fastwake/strategy.h"
#include "verbs_replay_common.h"

namespace fastwake::hw {

using namespace replay;

json run_verbs_server(const Config& cfg, const ReplayServerOptions& o, std::ostream* progress,
                      json* partial) {
  if (cfg.workload.kind == LoadKind::kScript)
    throw ConfigError(
        "workload.kind: \"script\" runs on the simulator and the loopback NIC only (the replay "
        "client drives pingpong or poisson)");
  return serve(cfg, o, progress, partial);
}

json run_verbs_client(const Config& cfg, const ReplayClientOptions& o, std::ostream* progress,
                      json* partial) {
  if (cfg.workload.kind == LoadKind::kScript)
    throw ConfigError(
        "workload.kind: \"script\" runs on the simulator and the loopback NIC only (the replay "
        "client drives pingpong or poisson)");
  if (o.server.empty())
    throw ConfigError("client: give the server's address (fastwake-bench client SERVER ...)");
  if (o.rx_depth < 2 || o.tx_depth < 32)
    throw ConfigError("client: --rx-depth >= 2 and --tx-depth >= 32");
  for (const std::string& name : cfg.strategies)
    if (find_strategy(name).adaptive)
      throw ConfigError("strategies: '" + name +
                        "' runs on the simulator and the loopback NIC only: its per-core mode "
                        "switches are not validated over verbs yet (docs/adaptive.md)");
  const int cpu = default_client_cpu(o.cpu);
  VerbsDevice dev(o.dev);
  if (progress)
    *progress << "client: " << dev.describe() << "; load thread on CPU " << cpu << "; server "
              << o.server << ":" << o.port << "\n";
  json doc = new_doc(cfg);
  const int total = static_cast<int>(cfg.strategies.size());
  for (int i = 0; i < total; ++i) {
    const auto wall0 = std::chrono::steady_clock::now();
    json result, cl;
    try {
      cl = client_session(dev, cfg, o, cpu, cfg.strategies[i], i, total, &result);
    } catch (...) {
      // The strategies before this one finished: the caller writes them whole.
      if (partial) {
        json c = doc;
        Config done = cfg;
        done.strategies.assign(cfg.strategies.begin(), cfg.strategies.begin() + i);
        c["config"] = to_json(done);
        *partial = std::move(c);
      }
      const std::string where = "client: " + cfg.strategies[i] + " [" + std::to_string(i + 1) +
                                "/" + std::to_string(total) + "] failed: ";
      try {
        throw;
      } catch (const ConfigError& e) {
        throw ConfigError(where + e.what());
      } catch (const DeviceError& e) {
        throw DeviceError(where + e.what());
      }
    }
    doc["results"].push_back(result);
    if (progress)
      *progress << "client: [" << i + 1 << "/" << total << "] " << cfg.strategies[i] << ": "
                << cl.value("completed", 0ull) << " requests (" << cl.value("measured", 0ull)
                << " measured), "
                << std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count()
                << " s\n";
  }
  return doc;
}

json perftest_columns(const Histogram& rtt_ns, int bytes) {
  // perftest: latency = round trip / rtt_factor (2 for send), in usec.
  constexpr double kHalfUs = 2 * 1e3;
  return {{"bytes", bytes},
          {"iterations", rtt_ns.count()},
          {"t_min", static_cast<double>(rtt_ns.min()) / kHalfUs},
          {"t_max", static_cast<double>(rtt_ns.max()) / kHalfUs},
          {"t_typical", rtt_ns.quantile(0.5) / kHalfUs},
          {"t_avg", rtt_ns.mean() / kHalfUs},
          {"t_stdev", rtt_ns.stddev() / kHalfUs},
          {"p99", rtt_ns.quantile(0.99) / kHalfUs},
          {"p999", rtt_ns.quantile(0.999) / kHalfUs}};
}

void print_verbs_summary(const json& doc, std::ostream& out) {
  // perftest's columns (ib_send_lat's RESULT_FMT_LAT header, one row per
  // strategy) beside the round-trip table printed above them.
  out << "perftest's columns (latency = RTT/2, as ib_send_lat; usec):\n";
  out << std::left << std::setw(28) << "strategy" << std::right << std::setw(8) << "#bytes"
      << std::setw(13) << "#iterations" << std::setw(13) << "t_min[usec]" << std::setw(13)
      << "t_max[usec]" << std::setw(17) << "t_typical[usec]" << std::setw(13) << "t_avg[usec]"
      << std::setw(15) << "t_stdev[usec]" << std::setw(22) << "99% percentile[usec]"
      << std::setw(24) << "99.9% percentile[usec]"
      << "\n";
  for (const auto& r : doc["results"]) {
    const auto& x = r["extra"];
    const json p = x.value("perftest", json::object());
    auto num = [&](const char* k) { return p.value(k, 0.0); };
    out << std::left << std::setw(28) << r["strategy"].get<std::string>() << std::right
        << std::setw(8) << p.value("bytes", 0) << std::setw(13) << p.value("iterations", 0ull)
        << std::fixed << std::setprecision(2) << std::setw(13) << num("t_min") << std::setw(13)
        << num("t_max") << std::setw(17) << num("t_typical") << std::setw(13) << num("t_avg")
        << std::setw(15) << num("t_stdev") << std::setw(22) << num("p99") << std::setw(24)
        << num("p999") << "\n";
    out.unsetf(std::ios::fixed);
  }
  out << std::left << std::setw(28) << "strategy" << std::right << std::setw(10) << "sent"
      << std::setw(10) << "served" << std::setw(10) << "events" << std::setw(10) << "handoffs"
      << "\n";
  std::string note;
  for (const auto& r : doc["results"]) {
    const auto& x = r["extra"];
    out << std::left << std::setw(28) << r["strategy"].get<std::string>() << std::right
        << std::setw(10) << x.value("sent", 0ull) << std::setw(10) << x.value("served", 0ull)
        << std::setw(10) << x.value("events", 0ull) << std::setw(10) << x.value("handoffs", 0ull)
        << "\n";
    if (note.empty() && x.contains("timing_note")) note = x["timing_note"].get<std::string>();
  }
  out << "p50/p99 above: the client's round trip (post send -> reply polled); perftest's "
         "t_typical is the median of RTT/2, with every measured request counted (perftest drops "
         "its 2 largest); every request answered exactly once\n";
  if (!doc["results"].empty()) {
    const auto& x = doc["results"][0]["extra"];
    if (x.contains("server") && x["server"].contains("nic"))
      out << "IRQ lever: " << x["server"]["nic"].value("irq_lever", std::string("?")) << "\n";
  }
  if (!note.empty()) out << "note: " << note << "\n";
}

}  // namespace fastwake::hw
