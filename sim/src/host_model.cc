// The discrete-event host model: NIC, interrupt controller, per-core kernel
// work, scheduler, idle governor and power, driven by core's policies
// (ThreadLoop, Dispatcher, AffinityRemapper, WakePath). See docs/model.md.
//
// This file: set-up (build, add_dispatcher, start, advance) and the public
// entry points (simulate, HostSim, simulate_all). The entities and the class
// are in host_model.h; the other subsystems in host_*.cc (results, clients,
// irq, sched, thread, dispatch, control).
#include "host_model.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <random>
#include <string>

#include "fastwake/version.h"

namespace fastwake::sim::detail {

// ================================================================ set-up

void HostModel::build() {
  const auto& h = cfg_.host;
  {
    // kernel/sched/fair.c (Linux 6.1) get_update_sysctl_factor: the tunables
    // scale with 1 + ilog2(min(online CPUs, 8)) under the default
    // SCHED_TUNABLESCALING_LOG; sched_update_scaling sets sched_nr_latency.
    const int cpus = std::min(h.cores, 8);
    int lg = 0;
    while ((2 << lg) <= cpus) ++lg;
    const Nanos factor = 1 + lg;
    sched_.latency = p_.sched_latency_ns * factor;
    sched_.min_gran = p_.sched_min_granularity_ns * factor;
    sched_.wakeup_gran = p_.wakeup_granularity_ns * factor;
    sched_.tick = p_.tick_ns;
    sched_.nr_latency =
        sched_.min_gran > 0 ? std::max<Nanos>(1, (sched_.latency + sched_.min_gran - 1) /
                                                     sched_.min_gran)
                            : 8;
  }
  cores_.resize(h.cores);
  n_idle_.assign(cfg_.platform.cstates.size(), 0);
  for (int i = 0; i < h.cores; ++i) cores_[i].id = i;

  // Placement is core's (the same for every backend).
  const Placement place = Placement::of(cfg_);
  topo_ = place.topo;
  app_core_.assign(static_cast<std::size_t>(h.cores), 0);
  for (CoreId c : place.app_cores) app_core_[static_cast<std::size_t>(c)] = 1;
  nic_.vector_core_ = place.vector_core;
  eq_.resize(h.vectors);
  irq_inflight_.assign(h.vectors, 0);

  app_threads_ = cfg_.threads();
  // Room for every core's dispatcher up front: add_dispatcher appends one
  // mid-run (a migration to a core without one) while callers hold
  // SimThread references (apply_migration's `th`); a reallocation there was
  // a use-after-free (ASan, ScaleEquivalence's random migrations).
  threads_.reserve(static_cast<std::size_t>(app_threads_) + cores_.size());
  threads_.resize(app_threads_);
  nic_.cqs_.resize(app_threads_);
  for (int t = 0; t < app_threads_; ++t) {
    SimThread& th = threads_[t];
    th.id = t;
    th.core = place.thread_core[t];
    th.step = loop_.first();
    th.mode = wp_.mode();
    nic_.cqs_[t].vector = place.cq_vector[t];
  }
  {
    std::vector<VectorId> cv(app_threads_);
    for (int t = 0; t < app_threads_; ++t) cv[t] = nic_.cqs_[t].vector;
    std::vector<CoreId> tc(app_threads_);
    for (int t = 0; t < app_threads_; ++t) tc[t] = threads_[t].core;
    trace_setup(trace_, tc, cv, nic_);
    if (wp_.remaps_irqs())  // the initial placement happens here, through the lever
      remapper_ = std::make_unique<RemapDriver>(cfg_.remapper, nic_, cv, tc, trace_);
  }
  if (wp_.runs_dispatchers()) {
    for (CoreId c : place.app_cores) add_dispatcher(c);
    for (int t = 0; t < app_threads_; ++t) cores_[threads_[t].core].disp->add(t, t);
  }
  if (wp_.adaptive()) build_adaptive();
}

int HostModel::add_dispatcher(CoreId c) {
  SimCore& core = cores_[c];
  if (core.disp) return core.disp_thread;
  core.disp = std::make_unique<Dispatcher>(c);
  SimThread d;
  d.id = static_cast<int>(threads_.size());
  d.core = c;
  d.dispatcher = true;
  d.state = ThreadState::kRunnable;
  threads_.push_back(d);
  core.disp_thread = d.id;
  return d.id;
}

void HostModel::start() {
  t0_ = std::chrono::steady_clock::now();
  const Nanos warm = cfg_.run.warmup_ns;
  win_start_ = warm;
  win_end_ = warm + cfg_.run.duration_ns;

  // Threads start: each runs its loop's first step on its core (arm / yield / poll).
  for (auto& c : cores_) {
    c.power_since = 0;
    if (c.disp && !c.disp_parked) {
      c.current = c.disp_thread;
      c.idle = false;
      threads_[c.disp_thread].state = ThreadState::kRunning;
    }
  }
  for (int t = 0; t < app_threads_; ++t) {
    SimThread& th = threads_[t];
    if (wp_.starts_asleep()) {
      th.state = ThreadState::kBlocked;  // sleeps until its dispatcher switches to it
      th.step = Step::kYieldDispatcher;
      continue;
    }
    th.state = ThreadState::kRunnable;
    th.resume = Resume::kBegin;
    th.in_rq = true;
    cores_[th.core].runq.push_back(rq_ent(t));
  }
  for (auto& c : cores_) reschedule(c);
  // Platform stalls: each core its own stream (domain 3; clients are 1,
  // service 2), so every strategy meets the same stalls.
  if (p_.stall_rate_hz > 0)
    for (auto& c : cores_) {
      c.stall_rng = make_stream(cfg_.run.seed, 3, static_cast<std::uint64_t>(c.id));
      std::exponential_distribution<double> gap(p_.stall_rate_hz / 1e9);
      eng_.at<&HostModel::stall_begin>(std::max<Nanos>(1, static_cast<Nanos>(gap(c.stall_rng))),
                                       this, static_cast<std::uint64_t>(c.id));
    }

  // Clients: closed loop starts each connection at a random offset in the
  // 10 us after set-up; open loop draws Poisson arrivals per connection.
  // Server threads are set up (armed and waiting) before clients connect.
  // A script sends one request at a time from its first step on.
  if (clock_.scripted()) {
    script_step(static_cast<std::uint64_t>(kSetupNs));
  } else {
    for (int t = 0; t < app_threads_; ++t)
      eng_.at<&HostModel::client_send>(clock_.first_send(t, kSetupNs), this, t);
  }
  for (std::size_t i = 0; i < cfg_.workload.migrations.size(); ++i)
    eng_.at<&HostModel::migrate>(cfg_.workload.migrations[i].at_ns, this, i);
  if (adapt_) eng_.at<&HostModel::adapt_tick>(adapt_->params().window_ns, this, 0);
  eng_.at<&HostModel::window_open>(win_start_, this, 0);
  eng_.at<&HostModel::window_close>(win_end_, this, 0);
}

bool HostModel::advance(Nanos until) {
  // Run the window, then drain what is in flight. Time-slice timers keep
  // busy-polling cores alive forever, so stop once nothing is in flight.
  // A fabric may lower port_.horizon while an event sends a message.
  const Nanos limit = drain_limit();
  while (!over_ && !eng_.empty() && eng_.next_time() <= limit && eng_.next_time() < until &&
         eng_.next_time() < port_.horizon) {
    if (eng_.now() >= win_end_ && !in_window_ && in_flight_ == 0 && eng_.next_time() > win_end_)
      over_ = true;
    else
      eng_.step();
  }
  if (!over_ && in_flight_ == 0 && !in_window_ && eng_.now() >= win_end_ &&
      (eng_.empty() || eng_.next_time() > limit))
    over_ = true;
  return over_;
}

}  // namespace fastwake::sim::detail

namespace fastwake::sim {

namespace {
bool g_reference_scan = false;
}
void set_reference_scan(bool on) { g_reference_scan = on; }
bool reference_scan() { return g_reference_scan; }

StrategyRun simulate(const Config& cfg, const StrategySpec& strategy, DecisionTrace* trace) {
  // One SimGrid engine per process: the SimGrid fabric runs in a child.
  if (parse_fabric(cfg).kind == FabricKind::kSimGrid) return simulate_in_child(cfg, strategy);
  detail::HostModel m(cfg, strategy, nullptr, 0, trace);
  return m.run();
}

// HostSim: the host model, stepwise (fabric.h).
class HostSim::Impl {
 public:
  Impl(const Config& cfg, const StrategySpec& s, Fabric& f, int host) : m(cfg, s, &f, host) {}
  detail::HostModel m;
};

HostSim::HostSim(const Config& cfg, const StrategySpec& strategy, Fabric& fabric, int host)
    : impl_(std::make_unique<Impl>(cfg, strategy, fabric, host)) {}
HostSim::~HostSim() = default;
void HostSim::start() { impl_->m.start(); }
bool HostSim::advance(Nanos until) { return impl_->m.advance(until); }
std::uint64_t HostSim::in_flight() const { return impl_->m.in_flight(); }
Nanos HostSim::drain_limit() const { return impl_->m.drain_limit(); }
const Config& HostSim::config() const { return impl_->m.config(); }
Engine& HostSim::engine() { return impl_->m.engine(); }
FabricPort& HostSim::port() { return impl_->m.port(); }
StrategyRun HostSim::finish() { return impl_->m.finish(); }

nlohmann::json simulate_all(const Config& cfg) {
  nlohmann::json doc;
  doc["schema"] = "fastwake-result/1";
  doc["meta"] = result_meta("fastwake::sim::simulate_all");
  doc["config"] = to_json(cfg);
  doc["results"] = nlohmann::json::array();
  for (const std::string& name : cfg.strategies) {
    const StrategyRun run = simulate(cfg, find_strategy(name));
    doc["results"].push_back(run.result.to_json());
  }
  return doc;
}

}  // namespace fastwake::sim
