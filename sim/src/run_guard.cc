// The pre-run checks (see fastwake/sim/run_guard.h).
#include "fastwake/sim/run_guard.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "fastwake/config_read.h"
#include "fastwake/errors.h"
#include "fastwake/sim/fabric_config.h"

namespace fastwake::sim {
namespace {

std::string g(double x, int digits = 2) {
  char b[48];
  std::snprintf(b, sizeof b, "%.*g", digits, x);
  return b;
}

std::string bytes_text(double b) {
  if (b >= (1ull << 30)) return g(b / (1ull << 30), 3) + " GiB";
  if (b >= (1ull << 20)) return g(b / (1ull << 20), 3) + " MiB";
  return g(b / 1024, 3) + " KiB";
}

/// Model memory per application thread: its SimThread, CQ, streams, queues and
/// per-thread metrics (measured: max RSS grows ~0.95 KiB per thread from 64 x 1024
/// to 64 x 4096 threads; rounded up).
constexpr double kBytesPerThread = 1024;
/// Per request alive at once (open-loop backlog) and per recorded sample.
constexpr double kBytesPerRequest = 64;
constexpr double kBytesPerSample = 32;

/// One way on the simple fabric (the SimGrid fabric adds contention on top).
double wire_ns(const Config& c) {
  const FabricConfig f = parse_fabric(c);
  const double gbps = f.kind == FabricKind::kSimple ? c.platform.link_gbps
                                                    : std::min(f.link_gbps, f.server_link_gbps);
  const double lat = f.kind == FabricKind::kSimple
                         ? static_cast<double>(c.platform.link_latency_ns)
                         : static_cast<double>(f.link_latency_ns + f.server_link_latency_ns);
  return lat + c.workload.message_bytes * 8.0 / gbps;
}

/// The least core time one request takes on its app core: poll the completion,
/// serve, post the reply (every strategy pays at least these).
double core_ns_per_request(const Config& c) {
  const Platform& p = c.platform;
  return std::max(1.0, static_cast<double>(p.cq_poll_ns + p.post_send_ns + c.workload.service_ns));
}

double servers(const Config& c) { return std::max(1, parse_fabric(c).servers); }

}  // namespace

std::string RunEstimate::text() const {
  return g(requests) + " requests per strategy, ~" + g(events) + " events (~" + g(wall_s) +
         " s of wall time), ~" + bytes_text(bytes) + " of memory";
}

RunEstimate estimate_run(const Config& c) {
  RunEstimate e;
  const double span_ns = static_cast<double>(c.run.warmup_ns + c.run.duration_ns);
  const double threads = static_cast<double>(c.threads()) * servers(c);
  const double app_cores = static_cast<double>(c.host.app_cores) * servers(c);
  const double per_req = core_ns_per_request(c);
  const double capacity = app_cores * span_ns / per_req;  // requests the app cores can serve
  double offered = 0;
  double backlog = 0;
  switch (c.workload.kind) {
    case LoadKind::kScript:
      offered = static_cast<double>(c.workload.script.size());
      break;
    case LoadKind::kPoisson:
      offered = threads * c.workload.rate_rps * span_ns * 1e-9;
      backlog = std::max(0.0, offered - capacity);
      break;
    case LoadKind::kPingPong: {
      const Platform& p = c.platform;
      const double rtt =
          static_cast<double>(p.client_ns + p.nic_rx_ns + p.nic_tx_ns + c.workload.think_ns) +
          2 * wire_ns(c) + per_req;
      offered = threads * span_ns / std::max(1.0, rtt);
      break;
    }
  }
  e.requests = c.workload.kind == LoadKind::kPoisson ? offered : std::min(offered, capacity);
  const double strategies = static_cast<double>(std::max<std::size_t>(1, c.strategies.size()));
  e.events = e.requests * kEventsPerRequest * strategies;
  e.wall_s = e.events / kEventsPerSecond;
  e.bytes = threads * kBytesPerThread + backlog * kBytesPerRequest +
            (c.run.record_samples ? e.requests * kBytesPerSample : 0.0);
  return e;
}

void check_run(const Config& c, bool force) {
  // Cannot drain whatever the force: one message longer on the wire than the drain.
  const double wire = wire_ns(c);
  if (wire > static_cast<double>(kDrainNs))
    throw ConfigError("workload.message_bytes: a " + std::to_string(c.workload.message_bytes) +
                      " B message takes " + g(wire * 1e-9, 3) + " s one way at " +
                      g(c.platform.link_gbps, 3) +
                      " Gb/s (link_latency_ns + bytes x 8 / link_gbps), longer than the " +
                      std::to_string(kDrainNs / 1'000'000'000) +
                      " s a run may drain after its window: the run could not finish; use "
                      "smaller messages or a faster link");
  const RunEstimate e = estimate_run(c);
  const std::string how = " (pass --force, or force=True in Python, to run it anyway)";
  if (c.workload.kind == LoadKind::kPoisson) {
    const double per_req = core_ns_per_request(c);
    const double cap_rps = c.host.app_cores * 1e9 / per_req;
    const double offered_rps = c.threads() * c.workload.rate_rps;
    const double span_s = static_cast<double>(c.run.warmup_ns + c.run.duration_ns) * 1e-9;
    const double drain_s = (offered_rps - cap_rps) * span_s / cap_rps;
    if (!force && drain_s > static_cast<double>(kDrainNs) * 1e-9)
      throw ConfigError(
          "workload.rate_rps: offered load " + std::to_string(c.threads()) + " connections x " +
          g(c.workload.rate_rps, 3) + " req/s = " + g(offered_rps, 3) + " req/s exceeds what " +
          std::to_string(c.host.app_cores) + " app core(s) can serve (at most " + g(cap_rps, 3) +
          " req/s at >= " + g(per_req, 3) +
          " ns of core time per request: cq_poll_ns + service_ns + post_send_ns); the backlog "
          "would take >= " +
          g(drain_s, 3) + " s to drain, more than the " + std::to_string(kDrainNs / 1'000'000'000) +
          " s allowed after the window" + how);
  }
  if (force) return;
  if (e.bytes > kMaxBytes)
    throw ConfigError("run: too large: estimated " + e.text() + "; the limit is " +
                      bytes_text(kMaxBytes) + " (" + std::to_string(c.threads()) +
                      " threads = host.app_cores x workload.threads_per_core)" + how);
  if (e.events > kMaxEvents)
    throw ConfigError("run: too long: estimated " + e.text() + "; the limit is " + g(kMaxEvents) +
                      " events (shorten run.duration_ms / run.warmup_ms, lower "
                      "the load or the strategies)" +
                      how);
}

void throw_not_drained(const Config& c, std::uint64_t in_flight) {
  // The three largest stage costs, in the config's names.
  std::vector<std::pair<Nanos, std::string>> costs;
  const Platform& p = c.platform;
  const std::pair<const char*, Nanos> named[] = {
      {"platform.params.msix_ns", p.msix_ns},
      {"platform.params.hardirq_ns", p.hardirq_ns},
      {"platform.params.softirq_ns", p.softirq_ns},
      {"platform.params.uverbs_handler_ns", p.uverbs_handler_ns},
      {"platform.params.ttwu_local_ns", p.ttwu_local_ns},
      {"platform.params.ttwu_remote_ns", p.ttwu_remote_ns},
      {"platform.params.ipi_latency_ns", p.ipi_latency_ns},
      {"platform.params.ipi_handler_ns", p.ipi_handler_ns},
      {"platform.params.ctx_switch_ns", p.ctx_switch_ns},
      {"platform.params.fast_switch_ns", p.fast_switch_ns},
      {"platform.params.read_return_ns", p.read_return_ns},
      {"platform.params.rearm_ns", p.rearm_ns},
      {"platform.params.block_ns", p.block_ns},
      {"platform.params.syscall_ns", p.syscall_ns},
      {"platform.params.cq_poll_ns", p.cq_poll_ns},
      {"platform.params.cq_poll_empty_ns", p.cq_poll_empty_ns},
      {"platform.params.post_send_ns", p.post_send_ns},
      {"platform.params.nic_rx_ns", p.nic_rx_ns},
      {"platform.params.nic_tx_ns", p.nic_tx_ns},
      {"workload.service_ns", c.workload.service_ns},
  };
  for (const auto& [k, v] : named) costs.emplace_back(v, k);
  std::sort(costs.begin(), costs.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string top;
  for (std::size_t i = 0; i < 3 && i < costs.size(); ++i)
    top += (i ? ", " : "") + costs[i].second + " = " + std::to_string(costs[i].first);
  std::string load =
      c.workload.kind == LoadKind::kPoisson
          ? std::to_string(c.threads()) + " connections x " + g(c.workload.rate_rps, 3) + " req/s"
          : std::to_string(c.workload.threads_per_core) + " threads per app core";
  throw ConfigError("run: the simulation could not drain: " + std::to_string(in_flight) +
                    " requests were still in flight " + std::to_string(kDrainNs / 1'000'000'000) +
                    " s (simulated) after the window closed: the host serves requests more "
                    "slowly than the clients sent them (" +
                    load + "; largest costs: " + top +
                    " ns). Lower the costs or the load, or use fewer threads per core");
}

}  // namespace fastwake::sim
