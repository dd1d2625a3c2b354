// The replay tool's command line (see replay_args.h).
#include "replay_args.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fastwake/cli_app.h"
#include "fastwake/errors.h"

namespace fastwake::tools {

namespace {

constexpr const char* kPerftestGroup = "perftest's letters (ib_send_lat) without a replay meaning";

/// perftest letters the replay refuses: (names, takes a value, why).
struct Refused {
  const char* names;
  bool value;
  const char* why;
};
constexpr Refused kRefused[] = {
    {"-a,--all", false,
     "the replay runs one message size per run: give -s BYTES (or sweep workload.message_bytes "
     "with ./fastwake sweep)"},
    {"-C,--report-cycles", false,
     "the replay reports microseconds (CLOCK_MONOTONIC), not CPU cycles"},
    {"-H,--report-histogram", false,
     "the replay keeps a histogram, not every sample: the percentiles are printed and --json "
     "writes the result document"},
    {"-U,--report-unsorted", false,
     "the replay keeps a histogram, not every sample: the percentiles are printed and --json "
     "writes the result document"},
    {"-I,--inline_size", true, "the inline size is not configurable in the replay"},
    {"-m,--mtu", true, "the replay uses the port's active MTU"},
    {"-S,--sl", true, "the service level is not configurable in the replay (0)"},
    {"-T,--tos", true, "the type of service needs rdma_cm (-R), which the replay does not use"},
    {"-u,--qp-timeout", true, "the QP timeout is not configurable in the replay"},
    {"-L,--hop_limit", true, "the hop limit is not configurable in the replay"},
    {"-g,--mcg", false, "multicast does not apply: one RC connection per application thread"},
    {"-M,--MGID", true, "multicast does not apply: one RC connection per application thread"},
    {"-R,--rdma_cm", false,
     "the replay exchanges its queue pairs' addresses over its own TCP side channel (-p), not "
     "rdma_cm"},
    {"-z,--com_rdma_cm", false,
     "the replay exchanges its queue pairs' addresses over its own TCP side channel (-p), not "
     "rdma_cm"},
    {"-W,--report-counters", true,
     "not supported: the server's counters are in the result document (extra.server)"},
    {"-f,--margin", true,
     "the replay's margin is its warm-up before the measured window: --set run.warmup_ms=MS"},
    {"--out_json", false,
     "use --json FILE (fastwake's result schema; perftest's columns are in "
     "results[].extra.perftest)"},
    {"--out_json_file", true,
     "use --json FILE (fastwake's result schema; perftest's columns are in "
     "results[].extra.perftest)"},
    {"--use-srq", false, "the replay posts receives per connection (no shared receive queue)"},
    {"--odp", false, "the replay registers its buffers (no on-demand paging)"},
    {"--use_hugepages", false, "the replay's buffers are small; no huge pages"},
    {"--ipv6", false, "give the GID with -x (the default picks a RoCE v2 IPv4 GID)"},
};

CLI::Option* refuse(CLI::App& sub, ReplayArgs& a, const std::string& names, bool value,
                    const std::string& why) {
  CLI::Option* o = value ? sub.add_option(names)->type_name("X") : sub.add_flag(names);
  o->description("refused: " + why);
  o->group(kPerftestGroup);
  a.refused.emplace_back(o, names + ": " + why);
  return o;
}

CLI::Option* ignore(CLI::App& sub, ReplayArgs& a, const std::string& names, bool value,
                    const std::string& why) {
  CLI::Option* o = value ? sub.add_option(names)->type_name("X") : sub.add_flag(names);
  o->description("accepted, ignored: " + why);
  o->group(kPerftestGroup);
  a.ignored.emplace_back(o, names + " accepted for perftest compatibility, ignored: " + why);
  return o;
}

}  // namespace

void add_replay_options(CLI::App& sub, ReplayArgs& a, ReplaySide side) {
  using fastwake::cli::add_cpu;
  using fastwake::cli::add_cpu_list;
  using fastwake::cli::add_double;
  using fastwake::cli::add_int;
  using fastwake::cli::add_long;
  a.side = side;
  const bool client = side == ReplaySide::kClient;
  if (client)
    sub.add_option("server", a.server, "host or address of the server's side channel")
        ->type_name("SERVER");
  sub.add_option("config", a.config, "config file (default: the embedded scenario)")
      ->type_name("CONFIG.json");
  // perftest's letters, the same meaning (ib_send_lat --help).
  sub.add_option("-d,--ib-dev,--device", a.device,
                 "RDMA device (perftest -d; default: the only one there is)")
      ->type_name("DEV");
  add_int(sub, "-i,--ib-port", a.ib_port, 1, 255, "device port (perftest -i; default 1)");
  add_int(sub, "-x,--gid-index", a.gid_index, 0, 65535,
          "GID index (perftest -x; RoCE; default: a RoCE v2 IPv4 GID)");
  add_int(sub, "-p,--port", a.port, 1, 65535,
          "side-channel TCP port (perftest -p; default 18515)");
  add_int(sub, "-s,--size", a.size, 1, 1 << 20,
          "message size (perftest -s; = --set workload.message_bytes=BYTES; at least 16 go on "
          "the wire: request id + timestamp)")
      ->type_name("BYTES");
  add_int(sub, "-r,--rx-depth", a.rx_depth, 2, 8192,
          "receive buffers per connection (perftest -r; default 64)");
  add_int(sub, "--tx-depth", a.tx_depth, 32, 8192, "send queue per connection (default 64)");
  add_double(sub, "-D,--duration", a.duration_s, 0, 86400, true, "seconds in (0, 86400]",
             "measure for this long per strategy (perftest -D; = --set run.duration_ms)")
      ->type_name("SECONDS");
  sub.add_option("-c,--connection", a.connection, "connection type (perftest -c): RC only")
      ->type_name("RC");
  if (client) {
    add_long(sub, "-n,--iters", a.iters, 1, 2'000'000'000,
             "measure N requests per strategy instead of run.duration (perftest -n)");
    sub.add_flag("-e,--events", a.events,
                 "only the stock event path (perftest -e; = --strategy interrupt)");
  } else {
    ignore(sub, a, "-n,--iters", true, "the client decides how many requests (give -n to the client)");
    ignore(sub, a, "-e,--events", false,
           "the client picks the strategies (-e on the client runs the stock event path)");
  }
  sub.add_option("--platform", a.platform, "platform profile (power estimate), as loopback")
      ->type_name("NAME");
  sub.add_option("--set", a.sets, "override a config value (repeatable), as fastwake-sim")
      ->type_name("PATH=VALUE")
      ->allow_extra_args(false);
  sub.add_option("--json", a.json_out, "write the result document (to stdout with '-')")
      ->type_name("FILE|-");
  sub.add_flag("-q,--quiet", a.quiet, "no progress lines");
  sub.add_flag("--print-config", a.print_config,
               "print the resolved config and these options as JSON and exit (no NIC needed)");
  if (client) {
    add_cpu(sub, "--cpu", a.cpu, "CPU of the load thread (default: the last usable)");
    sub.add_option("--strategy", a.strategies,
                   "strategies to run (= --set strategies=[...])")
        ->type_name("A,B,...");
    add_int(sub, "--connect-timeout", a.connect_timeout_s, 1, 86400,
            "wait this long for the server, seconds (default 30)");
    refuse(sub, a, "-X,--vector,--comp-vector", true,
           "the client busy-polls its completions (no events, so no completion vector): give "
           "-X to the server");
  } else {
    add_cpu_list(sub, "--cpus", a.app_cpus,
                 "CPU of each application core, e.g. 2,3 or 2-5 (default: the first usable)");
    add_int(sub, "-X,--vector,--comp-vector", a.comp_vector, 0, 4095,
            "create every CQ on completion vector N (perftest -X; default: CQ i on vector i % "
            "min(host.vectors, device vectors))");
    add_cpu_list(sub, "--irqs", a.irqs,
                 "IRQ of completion vector 0,1,... (default: found in /proc/interrupts + "
                 "/sys/class/infiniband/DEV/device/msi_irqs)",
                 1'000'000)
        ->type_name("A,B,...");
    sub.add_flag("--no-irq-repin", a.no_irq_repin, "never write /proc/irq/N/smp_affinity_list");
    sub.add_option("--bind", a.bind, "side-channel listen address (default: any)")
        ->type_name("ADDR");
    sub.add_flag("--forever", a.forever,
                 "keep serving clients (default: exit after a client's last strategy); a failed "
                 "session is reported and the next client served; --json FILE is rewritten with "
                 "each client's series as it ends");
    add_int(sub, "--idle-timeout", a.idle_timeout_s, 1, 86400,
            "give up on a client silent this long, heartbeat included, or not back for its next "
            "strategy, seconds (default 30)");
  }
  ignore(sub, a, "-F,--CPU-freq", false,
         "perftest warns when the CPU frequency may change its cycle-counter timings; the "
         "replay times with CLOCK_MONOTONIC (nanoseconds), so there is no warning to silence");
  ignore(sub, a, "--cpu_util", false, "the server's CPU utilisation is always reported (CPU %)");
  for (const Refused& r : kRefused) refuse(sub, a, r.names, r.value, r.why);
}

void finish_replay_args(ReplayArgs& a) {
  for (const auto& [opt, why] : a.refused)
    if (opt->count() > 0) throw ConfigError(why);
  a.notes.clear();
  for (const auto& [opt, why] : a.ignored)
    if (opt->count() > 0) a.notes.push_back(why);
  std::string conn = a.connection;
  std::transform(conn.begin(), conn.end(), conn.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (conn != "RC")
    throw ConfigError("-c/--connection: the replay runs RC queue pairs only, got '" +
                      a.connection + "'");
  if (a.side == ReplaySide::kClient) {
    if (a.server.empty())
      throw ConfigError(
          "client: give the server's address: fastwake-bench client SERVER [CONFIG.json]");
    if (a.duration_s > 0 && a.iters > 0)
      throw ConfigError("-D and -n: give one (a duration or a number of requests), as perftest");
    if (a.events && a.strategies)
      throw ConfigError("-e and --strategy: give one (-e = --strategy interrupt)");
  }
  if (a.size > 0) a.sets.push_back("workload.message_bytes=" + std::to_string(a.size));
  if (a.duration_s > 0) {
    std::ostringstream o;
    o << "run.duration_ms=" << a.duration_s * 1e3;
    a.sets.push_back(o.str());
  }
  std::optional<std::string> strategies = a.strategies;
  if (a.events) strategies = "interrupt";
  if (strategies) {
    nlohmann::json list = nlohmann::json::array();
    std::stringstream in(*strategies);
    std::string tok;
    while (std::getline(in, tok, ','))
      if (!tok.empty()) list.push_back(tok);
    if (list.empty()) throw ConfigError("--strategy: give strategy names, e.g. interrupt,fastwake_irq");
    a.sets.push_back("strategies=" + list.dump());
  }
}

std::string replay_args_json(const ReplayArgs& a) {
  nlohmann::json j = {{"side", a.side == ReplaySide::kClient ? "client" : "server"},
                      {"device", a.device},
                      {"ib_port", a.ib_port},
                      {"gid_index", a.gid_index},
                      {"port", a.port},
                      {"rx_depth", a.rx_depth},
                      {"tx_depth", a.tx_depth},
                      {"connection", a.connection},
                      {"sets", a.sets},
                      {"notes", a.notes}};
  if (a.side == ReplaySide::kClient) {
    j["server"] = a.server;
    j["cpu"] = a.cpu;
    j["iterations"] = a.iters;
    j["connect_timeout_s"] = a.connect_timeout_s;
  } else {
    j["app_cpus"] = a.app_cpus;
    j["comp_vector"] = a.comp_vector;
    j["irqs"] = a.irqs;
    j["repin_irqs"] = !a.no_irq_repin;
    j["bind"] = a.bind;
    j["forever"] = a.forever;
    j["idle_timeout_s"] = a.idle_timeout_s;
  }
  return j.dump(2);
}

}  // namespace fastwake::tools
