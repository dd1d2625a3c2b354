// fastwake-sim --bench: model events/s, simulated requests/s and peak RSS on
// fixed scenarios, each bench point in a child process so its peak RSS is
// its own (getrusage of the child: ru_maxrss).
#include "fastwake/sim/bench.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "fastwake/errors.h"

#include "fastwake/sim/fabric.h"
#include "fastwake/sim/simulate.h"

namespace fastwake::sim {

const std::vector<BenchScenario>& bench_scenarios() {
  static const std::vector<BenchScenario> s = {{"1 core x 64 threads", 1, 64},
                                               {"16 cores x 16 threads", 16, 16},
                                               {"1 core x 1024 threads", 1, 1024},
                                               {"64 cores x 256 threads", 64, 256}};
  return s;
}

namespace {

struct ChildOut {
  double wall_s, cpu_s;
  std::uint64_t events, completed;
};

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/// One simulate() in a forked child; returns its figures and peak RSS (KiB).
ChildOut run_in_child(const Config& cfg, const std::string& strategy, long* maxrss_kib) {
  int fd[2];
  if (pipe(fd) != 0) throw std::runtime_error(std::string("bench: pipe: ") + std::strerror(errno));
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("bench: fork: ") + std::strerror(errno));
  if (pid == 0) {
    close(fd[0]);
    ChildOut o{};
    int rc = 0;
    try {
      const double c0 = cpu_seconds();
      const StrategyRun run = simulate(cfg, find_strategy(strategy));
      o = {run.wall_s, cpu_seconds() - c0, run.events, run.completed};
    } catch (...) {
      rc = 1;
    }
    if (write(fd[1], &o, sizeof o) != static_cast<ssize_t>(sizeof o)) rc = 1;
    _exit(rc);
  }
  close(fd[1]);
  ChildOut o{};
  const ssize_t n = read(fd[0], &o, sizeof o);
  close(fd[0]);
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  if (n != static_cast<ssize_t>(sizeof o) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("bench: the run of " + strategy + " failed in its child process");
  *maxrss_kib = ru.ru_maxrss;
  return o;
}

}  // namespace

std::vector<BenchRow> run_bench(const Config& base, const std::vector<std::string>& strategies,
                                int reps, std::ostream* progress) {
  std::vector<BenchRow> rows;
  for (const BenchScenario& sc : bench_scenarios()) {
    for (const std::string& name : strategies) {
      Config cfg = base;
      cfg.host.cores = sc.cores;
      cfg.host.app_cores = sc.cores;
      cfg.host.vectors = sc.cores;
      cfg.workload.threads_per_core = sc.threads_per_core;
      cfg.workload.migrations.clear();
      cfg.run.record_samples = false;
      std::vector<BenchRow> runs;
      for (int r = 0; r < reps; ++r) {
        long rss = 0;
        const ChildOut o = run_in_child(cfg, name, &rss);
        // Rates per CPU second of the run (the machine may be shared: CPU
        // time is what the model cost, wall time also counts waiting).
        const double t = o.cpu_s > 0 ? o.cpu_s : o.wall_s;
        BenchRow row{sc.name,
                     name,
                     static_cast<double>(o.events) / t,
                     static_cast<double>(o.completed) / t,
                     o.wall_s,
                     o.events};
        row.cores = sc.cores;
        row.threads_per_core = sc.threads_per_core;
        row.cpu_s = o.cpu_s;
        row.requests = o.completed;
        row.peak_rss_mib = static_cast<double>(rss) / 1024.0;
        runs.push_back(row);
      }
      std::sort(runs.begin(), runs.end(), [](const BenchRow& a, const BenchRow& b) {
        return a.events_per_s < b.events_per_s;
      });
      rows.push_back(runs[runs.size() / 2]);
      if (progress)
        *progress << "  " << sc.name << "  " << name << ": " << rows.back().events_per_s / 1e6
                  << " M events/s\n";
    }
  }
  return rows;
}

std::vector<PeerRow> run_bench_vs_simgrid(const Config& base, const std::vector<int>& pairs,
                                          const std::vector<std::string>& strategies, int reps,
                                          std::ostream* progress) {
  if (!simgrid_fabric_available())
    throw ConfigError("--vs-simgrid needs a build with SimGrid (libsimgrid-dev, "
                      "-DFASTWAKE_WITH_SIMGRID=ON), and this one has none");
  std::vector<PeerRow> rows;
  for (const int n : pairs) {
    PingPongSpec spec;
    spec.pairs = n;
    spec.latency_ns = base.platform.link_latency_ns;
    spec.gbps = base.platform.link_gbps;
    spec.bytes = 64;
    // Enough round trips that the engine run, not the set-up, is measured
    // (~0.2-1 s of CPU here at ~1e5-1e6 round trips/s).
    spec.round_trips = std::max<std::int64_t>(200, 200000 / n);
    std::vector<PingPongRun> sg;
    for (int r = 0; r < reps; ++r) sg.push_back(simgrid_pingpong_in_child(spec));
    auto rate = [](const PingPongRun& x) {
      return static_cast<double>(x.round_trips) / std::max(x.cpu_s, 1e-9);
    };
    std::sort(sg.begin(), sg.end(),
              [&](const PingPongRun& a, const PingPongRun& b) { return rate(a) < rate(b); });
    const PingPongRun& s = sg[sg.size() / 2];
    if (progress)
      *progress << "  " << n << " pairs  SimGrid S4U: " << rate(s) << " round trips/s\n";

    for (const std::string& name : strategies) {
      Config cfg = base;
      cfg.host.cores = n;
      cfg.host.app_cores = n;
      cfg.host.vectors = n;
      cfg.workload.kind = LoadKind::kPingPong;
      cfg.workload.threads_per_core = 1;
      cfg.workload.message_bytes = spec.bytes;
      cfg.workload.service_ns = 0;
      cfg.workload.think_ns = 0;
      cfg.workload.migrations.clear();
      cfg.fabric = nullptr;  // the simple fabric: pairs never meet, as the star's private links
      cfg.run.record_samples = false;
      std::vector<ChildOut> ours;
      for (int r = 0; r < reps; ++r) {
        long rss = 0;
        ours.push_back(run_in_child(cfg, name, &rss));
      }
      auto orate = [](const ChildOut& o) {
        return static_cast<double>(o.completed) / std::max(o.cpu_s > 0 ? o.cpu_s : o.wall_s, 1e-9);
      };
      std::sort(ours.begin(), ours.end(),
                [&](const ChildOut& a, const ChildOut& b) { return orate(a) < orate(b); });
      const ChildOut& o = ours[ours.size() / 2];
      PeerRow row;
      row.pairs = n;
      row.strategy = name;
      row.simgrid_round_trips = s.round_trips;
      row.simgrid_cpu_s = s.cpu_s;
      row.simgrid_rt_per_s = rate(s);
      row.ours_round_trips = o.completed;
      row.ours_cpu_s = o.cpu_s;
      row.ours_rt_per_s = orate(o);
      row.ours_events_per_s = static_cast<double>(o.events) / std::max(o.cpu_s, 1e-9);
      row.ratio = row.ours_rt_per_s / row.simgrid_rt_per_s;
      rows.push_back(row);
      if (progress)
        *progress << "  " << n << " pairs  " << name << ": " << row.ours_rt_per_s
                  << " round trips/s (" << row.ratio << "x)\n";
    }
  }
  return rows;
}

}  // namespace fastwake::sim
