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

void print_verbs_summary(const json& doc, std::ostream& out) {
  out << std::left << std::setw(28) << "strategy" << std::right << std::setw(12) << "RTT/2 p50"
      << std::setw(12) << "RTT/2 p99" << std::setw(10) << "sent" << std::setw(10) << "served"
      << std::setw(10) << "events" << std::setw(10) << "handoffs"
      << "\n";
  std::string note;
  for (const auto& r : doc["results"]) {
    const auto& x = r["extra"];
    out << std::left << std::setw(28) << r["strategy"].get<std::string>() << std::right
        << std::fixed << std::setprecision(2) << std::setw(12)
        << x["rtt_half_us"]["p50"].get<double>() << std::setw(12)
        << x["rtt_half_us"]["p99"].get<double>() << std::setw(10) << x.value("sent", 0ull)
        << std::setw(10) << x.value("served", 0ull) << std::setw(10) << x.value("events", 0ull)
        << std::setw(10) << x.value("handoffs", 0ull) << "\n";
    out.unsetf(std::ios::fixed);
    if (note.empty() && x.contains("timing_note")) note = x["timing_note"].get<std::string>();
  }
  out << "RTT/2 = half the round trip (perftest's t_typical is its median); every request answered "
         "exactly "
         "once\n";
  if (!doc["results"].empty()) {
    const auto& x = doc["results"][0]["extra"];
    if (x.contains("server") && x["server"].contains("nic"))
      out << "IRQ lever: " << x["server"]["nic"].value("irq_lever", std::string("?")) << "\n";
  }
  if (!note.empty()) out << "note: " << note << "\n";
}

}  // namespace fastwake::hw
