// The replay tool on real RDMA NICs (fastwake-bench server|client): the server
// runs core's strategies with ThreadRuntime<VerbsNic> (T threads per app core,
// one RC connection each); the client drives closed-loop ping-pong or Poisson
// load per connection from one busy-polling thread and measures each round
// trip with CLOCK_MONOTONIC. One session per strategy over a TCP side channel:
//
//   client -> hello {strategy, config, QP addresses}   server -> ready {QP addresses}
//   client -> go (load starts), window_start, window_end, done {client counters}
//   server -> stats {server counters}
//
// Both sides then build the same result record (backend "verbs") and check
// that every request was answered exactly once: client sent == client
// completed == server served == replies posted, events == acks, no error
// completions. Any violation fails the run on both sides (DeviceError).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "fastwake/config.h"
#include "fastwake/histogram.h"
#include "fastwake/hw/verbs_device.h"
#include "fastwake/hw/verbs_nic.h"

namespace fastwake::hw {

inline constexpr int kReplayPort = 18515;  ///< perftest's default port, as a default
inline constexpr int kReplayProto = 2;  // 2: the client's 'alive' heartbeat

struct ReplayServerOptions {
  VerbsDeviceOptions dev;
  VerbsNicOptions nic;
  std::string bind;           ///< --bind: listen address ("" = any)
  int port = kReplayPort;     ///< -p
  std::vector<int> app_cpus;  ///< --cpus: CPU of each app core (default: first usable)
  bool forever = false;  ///< keep serving clients (default: exit after one client's last session)
  /// --idle-timeout: a session whose client sends nothing (not even its 1 s
  /// heartbeat) for this long fails ("the client went silent").
  int idle_timeout_s = 30;
  /// With `forever`: called with each client's finished series (a whole
  /// result document) before the server forgets it, so a server that runs
  /// for days holds one client's results at a time (the bench writes it to
  /// --json). Without `forever` the series is returned instead.
  std::function<void(const nlohmann::json&)> on_series;
};

struct ReplayClientOptions {
  VerbsDeviceOptions dev;
  std::string server;  ///< host or address of the server's side channel
  int port = kReplayPort;
  int cpu = -1;         ///< CPU of the load thread (default: the last usable)
  long iterations = 0;  ///< -n: measure this many requests per strategy instead of run.duration
  double connect_timeout_s = 30;
  int rx_depth = 64;
  int tx_depth = 64;
};

/// Serves sessions until the client's last strategy (or forever). Returns the
/// result document of the sessions served. Progress lines go to `progress`.
/// Throws ConfigError (bad options, mismatched configs) or DeviceError.
/// With --forever a failed session is reported on `progress` and the server
/// serves the next client. Otherwise a failure throws; if `partial` is given
/// it then holds the document of the sessions that finished (written whole).
nlohmann::json run_verbs_server(const Config& cfg, const ReplayServerOptions& o,
                                std::ostream* progress, nlohmann::json* partial = nullptr);

/// Runs every strategy of cfg against the server; returns the result document.
/// On a failure throws; if `partial` is given it then holds the document of
/// the strategies that finished.
nlohmann::json run_verbs_client(const Config& cfg, const ReplayClientOptions& o,
                                std::ostream* progress, nlohmann::json* partial = nullptr);

/// perftest's latency columns (ib_send_lat's report) of a histogram of
/// round trips in ns: {"bytes", "iterations", "t_min", "t_max", "t_typical",
/// "t_avg", "t_stdev", "p99", "p999"}, in microseconds of RTT/2, as
/// perftest 6.x defines them (src/perftest_parameters.c print_report_lat):
/// each sample is the time between two posts of the ping-pong, i.e. one
/// round trip (run_iter_lat_send), divided by rtt_factor 2 for send/write;
/// t_typical is the median (get_median), t_avg the mean, t_stdev the
/// population standard deviation, 99 % / 99.9 % the sorted samples at
/// ceil(0.99 n) / ceil(0.999 n). Two differences, both of perftest's:
/// perftest first drops the 2 largest samples (LAT_MEASURE_TAIL) and takes
/// each deviation as an int before squaring; here every measured sample
/// counts, deviations are exact, and percentiles and the median are the
/// histogram's (within 0.1 %, nearest rank).
nlohmann::json perftest_columns(const Histogram& rtt_ns, int bytes);

/// Extra lines under the result table: perftest's columns per strategy
/// (of RTT/2, as ib_send_lat prints them) and the counters that prove every
/// completion was accounted for.
void print_verbs_summary(const nlohmann::json& doc, std::ostream& out);

}  // namespace fastwake::hw
