// fastwake-sim --bench: model events/s and requests/s on fixed scenarios.
#include "fastwake/sim/bench.h"

#include <algorithm>

#include "fastwake/sim/simulate.h"

namespace fastwake::sim {

std::vector<BenchRow> run_bench(const Config& base, const std::vector<std::string>& strategies,
                                int reps, std::ostream* progress) {
  struct Scenario {
    std::string name;
    int cores, threads_per_core;
  };
  const std::vector<Scenario> scenarios = {{"1 core x 64 threads", 1, 64},
                                           {"16 cores x 256 threads", 16, 16}};
  std::vector<BenchRow> rows;
  for (const Scenario& sc : scenarios) {
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
        const StrategyRun run = simulate(cfg, find_strategy(name));
        BenchRow row{sc.name,
                     name,
                     run.events / run.wall_s,
                     static_cast<double>(run.completed) / run.wall_s,
                     run.wall_s,
                     run.events};
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

}  // namespace fastwake::sim
