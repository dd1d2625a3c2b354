// Google Benchmark micro-benchmarks of the hot paths: event engine, histogram
// record, dispatcher scan. Run: build/sim/fastwake-micro-bench
#include <benchmark/benchmark.h>

#include <random>
#include <set>

#include "fastwake/dispatcher.h"
#include "fastwake/histogram.h"
#include "fastwake/sim/engine.h"

namespace {

void BM_EngineScheduleAndRun(benchmark::State& st) {
  // Steady state with `pending` events in the heap, as in a busy model.
  const int pending = static_cast<int>(st.range(0));
  fastwake::sim::Engine e(1);
  struct Ctx {
    fastwake::sim::Engine* e;
    std::uint64_t n = 0;
  } ctx{&e};
  auto fn = [](void* c, std::uint64_t a) {
    auto* x = static_cast<Ctx*>(c);
    ++x->n;
    x->e->at(
        x->e->now() + 100 + static_cast<fastwake::Nanos>(a % 977), +[](void*, std::uint64_t) {},
        nullptr, 0);
  };
  for (int i = 0; i < pending; ++i) e.at(i, fn, &ctx, static_cast<std::uint64_t>(i));
  for (auto _ : st) {
    e.at(e.now() + 50, fn, &ctx, ctx.n);
    e.step();
    e.step();
  }
  st.SetItemsProcessed(st.iterations() * 2);
}
BENCHMARK(BM_EngineScheduleAndRun)->Arg(64)->Arg(4096);

void BM_HistogramRecord(benchmark::State& st) {
  fastwake::Histogram h;
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> d(9.0, 1.0);
  std::vector<fastwake::Nanos> vals(4096);
  for (auto& v : vals) v = static_cast<fastwake::Nanos>(d(rng));
  std::size_t i = 0;
  for (auto _ : st) h.record(vals[i++ & 4095]);
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_HistogramRecord);

struct Nic {
  std::vector<char> ready;
  bool cq_ready(fastwake::CqId cq) const { return ready[cq] != 0; }
};

void BM_DispatcherPollOnce(benchmark::State& st) {
  const int n = static_cast<int>(st.range(0));
  fastwake::Dispatcher d(0);
  Nic nic{std::vector<char>(n, 0)};
  for (int i = 0; i < n; ++i) d.add(i, i);
  nic.ready[n - 1] = 1;
  for (auto _ : st) benchmark::DoNotOptimize(d.poll_once(nic));
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_DispatcherPollOnce)->Arg(8)->Arg(256);

}  // namespace

BENCHMARK_MAIN();
