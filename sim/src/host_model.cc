// The discrete-event host model: NIC, interrupt controller, per-core kernel
// work, scheduler, idle governor and power, driven by core's policies
// (ThreadLoop, Dispatcher, AffinityRemapper, WakePath). See docs/model.md.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <cstdio>
#include <cstdlib>

#include "fastwake/cpu.h"
#include "fastwake/dispatcher.h"
#include "fastwake/errors.h"
#include "fastwake/nic.h"
#include "fastwake/remapper.h"
#include "fastwake/sim/engine.h"
#include "fastwake/sim/fabric.h"
#include "fastwake/sim/simulate.h"
#include "fastwake/thread_loop.h"

namespace fastwake::sim {
namespace {

constexpr int kPowerPoll = static_cast<int>(PowerState::kPoll);
constexpr int kPowerWork = static_cast<int>(PowerState::kWork);
constexpr int kPowerIrq = static_cast<int>(PowerState::kIrq);
constexpr int kPowerC0 = static_cast<int>(PowerState::kCState0);

// ---------------------------------------------------------------- requests
struct Request {
  ThreadId conn = 0;
  Nanos sent = 0;
  Nanos mark = 0;  // when the current stage began
  Stage stage = Stage::kWire;
  bool measured = false;  // sent inside the measurement window
  bool live = false;      // sent and not yet completed
  CoreId irq_core = kNoCore;
  std::array<Nanos, kStageCount> st{};
  void enter(Stage s, Nanos now) {
    st[static_cast<std::size_t>(stage)] += now - mark;
    stage = s;
    mark = now;
  }
};

// ---------------------------------------------------------------- NIC
struct SimCq {
  std::deque<int> pending;  // requests whose CQE landed and was not polled yet
  bool armed = false;
  VectorId vector = 0;
};

/// The simulated NIC as core's policies see it.
class SimNic final : public Nic {
 public:
  std::vector<CoreId> vector_core_;
  std::vector<SimCq> cqs_;

  int num_vectors() const override { return static_cast<int>(vector_core_.size()); }
  CoreId vector_core(VectorId v) const override { return vector_core_.at(v); }
  void set_vector_core(VectorId v, CoreId c) override { vector_core_.at(v) = c; }
  VectorId cq_vector(CqId cq) const override { return cqs_.at(cq).vector; }
  bool cq_ready(CqId cq) const override { return !cqs_[cq].pending.empty(); }
  void arm(CqId cq) override { cqs_[cq].armed = true; }
};

// ---------------------------------------------------------------- threads
enum class ThreadState { kRunning, kRunnable, kBlocked };

/// What a thread does when it next gets the CPU.
enum class Resume {
  kContinue,     // resume the saved (preempted) segment
  kBegin,        // begin its current step
  kWokenWait,    // woken from kWait: (stock) read() returns, then the loop goes on
  kCheckSpin,    // spinning thread re-checks its CQ
};

/// What happens when a segment ends.
enum class SegEnd { kStep, kSwitchIn, kReadReturn, kHandOff, kBlock };

struct SimThread {
  ThreadId id = 0;
  CoreId core = 0;
  bool dispatcher = false;  // the per-core dispatcher (SCHED_IDLE), not an app thread
  ThreadState state = ThreadState::kBlocked;
  Step step = Step::kPoll;
  Resume resume = Resume::kBegin;
  int active = -1;            // request being served
  bool event_pending = false; // completion channel holds an event
  bool waiting = false;       // blocked in kWait (an event wakes it)
  CoreId migrate_to = kNoCore;
  Nanos ran_since = 0;
  // Current or saved segment.
  bool has_seg = false;
  Nanos seg_left = 0;
  SegEnd seg_end = SegEnd::kStep;
  Stage st_active = Stage::kService, st_pending = Stage::kQueue;
  int power = kPowerWork;
  bool found = false;  // result of the last kPoll
  bool fast_queued = false;  // in the run queue's head group (trimmed wake path)
  Nanos queued_at = 0;       // when it last entered a run queue
  // A segment preempted by another thread, resumed after the switch back in.
  bool saved = false;
  Nanos saved_left = 0;
  SegEnd saved_end = SegEnd::kStep;
  Stage saved_a = Stage::kService, saved_p = Stage::kQueue;
  int saved_power = kPowerWork;
};

// ---------------------------------------------------------------- cores
enum class KType : std::uint8_t { kCStateExit, kHardirq, kSoftirq, kHandler, kTtwuLocal,
                                  kTtwuRemote, kIpi };
struct KWork {
  KType type;
  int id;  // vector, cq or thread
};

struct SimCore {
  CoreId id = 0;
  int current = -1;  // thread index (app or dispatcher) owning the CPU, -1 none
  std::deque<int> runq;
  std::deque<KWork> kq;
  bool kbusy = false;    // a kernel work item is executing
  bool idle = true;      // in a C-state
  int cstate = 0;
  Nanos idle_since = 0;
  Nanos last_idle = std::numeric_limits<Nanos>::max() / 4;
  int power = kPowerC0;
  Nanos power_since = 0;
  std::uint64_t token = 0;  // validates the one pending segment-end event
  std::uint64_t slice_token = 0;
  bool slice_armed = false;
  Nanos seg_start = 0;      // start of the running segment (for pausing)
  Nanos seg_end_t = 0;
  bool running_seg = false; // a thread segment event is pending
  // Dispatcher.
  int disp_thread = -1;
  std::unique_ptr<Dispatcher> disp;
  Nanos scan_start = 0;     // dispatcher scanning since (cursor at that time)
  bool scanning = false;
  std::uint64_t scan_token = 0;
  std::vector<CqId> ready;  // CQs with completions whose thread sleeps on this core
  int handoff_to = -1;      // thread the dispatcher is switching to
  bool slice_due = false;   // slice expired while in kernel work
};

// FASTWAKE_TRACE=1 prints the model's decisions to stderr (debugging aid).
const bool kTrace = std::getenv("FASTWAKE_TRACE") != nullptr;
#define FW_TRACE(...)                                                    \
  do {                                                                   \
    if (kTrace) {                                                        \
      std::fprintf(stderr, "%10lld ", static_cast<long long>(eng_.now())); \
      std::fprintf(stderr, __VA_ARGS__);                                 \
      std::fputc('\n', stderr);                                          \
    }                                                                    \
  } while (0)

/// Time the server threads get to start and reach their first wait before
/// clients send; must be below any useful warm-up (configs use >= 1 ms).
constexpr Nanos kSetupNs = 200'000;

std::uint64_t pack(int a, std::uint64_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | (b & 0xffffffffu);
}
int hi(std::uint64_t x) { return static_cast<int>(x >> 32); }
std::uint32_t lo(std::uint64_t x) { return static_cast<std::uint32_t>(x); }

// ---------------------------------------------------------------- the model
class HostModel final : public Cpu {
 public:
  /// `fabric` carries the client <-> server messages (null: the simple fabric).
  HostModel(const Config& cfg, const StrategySpec& s, Fabric* fabric = nullptr, int host = 0)
      : cfg_(cfg), p_(cfg.platform), s_(s), loop_(s.wait), eng_(cfg.run.seed),
        power_(cfg.host.cores, static_cast<int>(cfg.platform.cstates.size())) {
    if (!fabric) {
      own_fabric_ = std::make_unique<SimpleFabric>(p_);
      fabric = own_fabric_.get();
    }
    fabric_ = fabric;
    port_.engine = &eng_;
    port_.to_server = [](void* m, std::uint64_t id) { static_cast<HostModel*>(m)->nic_arrive(id); };
    port_.to_client = [](void* m, std::uint64_t id) { static_cast<HostModel*>(m)->client_receive(id); };
    port_.ctx = this;
    port_.host = host;
    build();
  }

  StrategyRun run() {
    start();
    advance(kNever);
    return finish();
  }
  // Stepwise, for co-simulation (HostSim): run() is these three.
  void start();
  bool advance(Nanos until);
  StrategyRun finish();
  std::uint64_t in_flight() const { return in_flight_; }
  Nanos drain_limit() const { return win_end_ + 10'000'000'000LL; }
  Engine& engine() { return eng_; }
  FabricPort& port() { return port_; }

  // Cpu interface (the model's mechanisms, as core sees them).
  Nanos now() const override { return eng_.now(); }
  int num_cores() const override { return static_cast<int>(cores_.size()); }
  CoreId thread_core(ThreadId t) const override { return threads_.at(t).core; }
  void wake(ThreadId t) override { wake_blocked(t, /*from_core=*/kNoCore); }
  void switch_to(ThreadId t) override { hand_off(threads_.at(t).core, t); }

 private:
  // set-up
  void build();
  int add_dispatcher(CoreId c);
  // clients
  void client_send(std::uint64_t conn);
  void nic_arrive(std::uint64_t req);
  void cqe_land(std::uint64_t req);
  void client_receive(std::uint64_t req);
  // interrupts and kernel work
  void raise_event(CqId cq);
  void kernel_arrive(std::uint64_t packed);  // hi: core, lo: KWork index in pending_kw_
  void post_kernel(CoreId c, KWork w, Nanos at);
  void start_kernel(SimCore& c);
  void kernel_done(std::uint64_t packed);
  Nanos kernel_cost(const SimCore& c, const KWork& w) const;
  void wake_blocked(ThreadId t, CoreId from_core);
  void enqueue(SimCore& c, int t);
  // scheduling
  void reschedule(SimCore& c);
  bool should_preempt(const SimCore& c, const SimThread& cur, const SimThread& w) const;
  void switch_in(SimCore& c, int t, bool fast);
  void pause_current(SimCore& c);
  void go_idle(SimCore& c);
  void arm_slice(SimCore& c);
  void slice_expire(std::uint64_t packed);
  // thread execution
  void run_thread(SimCore& c, SimThread& th);
  void begin_step(SimCore& c, SimThread& th);
  void start_seg(SimCore& c, SimThread& th, Nanos dur, SegEnd end, Stage st_active,
                 Stage st_pending, int power);
  void seg_done(std::uint64_t packed);
  void finish_step(SimCore& c, SimThread& th);
  void thread_sleeps(SimCore& c, SimThread& th);
  void mark(SimThread& th, Stage active, Stage pending);
  void mark_paused(SimThread& th);
  void launch_seg(SimCore& c, SimThread& th);
  void preempt_for_slice(SimCore& c);
  void kick(SimCore& c);
  void apply_migration(SimCore& c, SimThread& th);
  // dispatcher
  void dispatcher_resume(SimCore& c);
  void dispatcher_found(std::uint64_t packed);
  void hand_off(CoreId core, ThreadId t);
  void schedule_detection(SimCore& c);
  // remapper, migrations, window
  void remap_tick(std::uint64_t);
  void schedule_remap();
  void migrate(std::uint64_t idx);
  void window_open(std::uint64_t);
  void window_close(std::uint64_t);
  void set_power(SimCore& c, int state);
  Nanos service_time();
  Nanos think_time();

  const Config& cfg_;
  const Platform& p_;
  const StrategySpec& s_;
  ThreadLoop loop_;
  Engine eng_;
  std::unique_ptr<SimpleFabric> own_fabric_;
  Fabric* fabric_ = nullptr;
  FabricPort port_;
  std::chrono::steady_clock::time_point t0_;
  bool over_ = false;
  SimNic nic_;
  std::vector<SimThread> threads_;  // app threads first (id = index = CQ), then dispatchers
  int app_threads_ = 0;
  std::vector<SimCore> cores_;
  std::vector<Request> reqs_;
  std::vector<int> free_reqs_;
  std::vector<std::deque<CqId>> eq_;  // per vector: EQEs not yet scanned
  std::vector<char> irq_inflight_;
  std::vector<KWork> pending_kw_;     // kernel work in flight to a core
  std::vector<int> free_kw_;
  std::unique_ptr<AffinityRemapper> remapper_;
  Nanos remap_at_ = -1;
  PowerAccount power_;
  bool in_window_ = false, sending_ = true;
  Nanos win_start_ = 0, win_end_ = 0;
  std::uint64_t in_flight_ = 0;
  // results
  Histogram hist_;
  Breakdown breakdown_;
  std::vector<Sample> samples_;
  std::uint64_t sent_ = 0, completed_ = 0, measured_ = 0, completed_in_window_ = 0;
  std::uint64_t n_irq_ = 0, n_ipi_ = 0, n_ctx_ = 0, n_handoff_ = 0, n_slice_ = 0,
                n_remote_wake_ = 0, n_local_wake_ = 0;
};

// ================================================================ set-up

void HostModel::build() {
  const auto& h = cfg_.host;
  cores_.resize(h.cores);
  for (int i = 0; i < h.cores; ++i) cores_[i].id = i;

  nic_.vector_core_.resize(h.vectors);
  for (int v = 0; v < h.vectors; ++v)
    nic_.vector_core_[v] = h.irq_placement == "core0"  ? 0
                           : h.irq_placement == "last" ? h.cores - 1
                                                       : v % h.cores;
  eq_.resize(h.vectors);
  irq_inflight_.assign(h.vectors, 0);

  app_threads_ = cfg_.threads();
  threads_.resize(app_threads_);
  nic_.cqs_.resize(app_threads_);
  for (int t = 0; t < app_threads_; ++t) {
    SimThread& th = threads_[t];
    th.id = t;
    th.core = t / cfg_.workload.threads_per_core;
    th.step = loop_.first();
    nic_.cqs_[t].vector = t % h.vectors;  // CQs round-robin over vectors, like comp_vector = i
  }

  if (s_.remap_affinity) {
    remapper_ = std::make_unique<AffinityRemapper>(cfg_.remapper, nic_.vector_core_);
    for (int t = 0; t < app_threads_; ++t)
      remapper_->add_cq(t, nic_.cqs_[t].vector, threads_[t].core);
    for (const VectorMove& m : remapper_->place_initial()) nic_.set_vector_core(m.vector, m.to);
  }
  if (s_.wait == WaitMode::kDispatcher) {
    for (int c = 0; c < h.app_cores; ++c) add_dispatcher(c);
    for (int t = 0; t < app_threads_; ++t) cores_[threads_[t].core].disp->add(t, t);
  }
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
    if (c.disp) {
      c.current = c.disp_thread;
      threads_[c.disp_thread].state = ThreadState::kRunning;
    }
  }
  for (int t = 0; t < app_threads_; ++t) {
    SimThread& th = threads_[t];
    if (s_.wait == WaitMode::kDispatcher) {
      th.state = ThreadState::kBlocked;  // sleeps until its dispatcher switches to it
      th.step = Step::kYieldDispatcher;
      continue;
    }
    th.state = ThreadState::kRunnable;
    th.resume = Resume::kBegin;
    cores_[th.core].runq.push_back(t);
  }
  for (auto& c : cores_) reschedule(c);

  // Clients: closed loop starts each connection at a random offset in the
  // 10 us after set-up; open loop draws Poisson arrivals per connection.
  // Server threads are set up (armed and waiting) before clients connect.
  const Nanos setup = kSetupNs;
  std::uniform_int_distribution<Nanos> offset(setup, setup + 10'000);
  for (int t = 0; t < app_threads_; ++t) {
    const Nanos first = cfg_.workload.kind == "poisson"
                            ? setup + static_cast<Nanos>(std::exponential_distribution<double>(
                                  cfg_.workload.rate_rps / 1e9)(eng_.rng()))
                            : offset(eng_.rng());
    eng_.at<&HostModel::client_send>(first, this, t);
  }
  for (std::size_t i = 0; i < cfg_.workload.migrations.size(); ++i)
    eng_.at<&HostModel::migrate>(cfg_.workload.migrations[i].at_ns, this, i);
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

StrategyRun HostModel::finish() {
  if (in_flight_ != 0)
    throw std::logic_error("simulation did not drain: " + std::to_string(in_flight_) +
                           " requests still in flight 10 s after the window (model bug)");

  StrategyRun out;
  StrategyResult& r = out.result;
  r.strategy = s_.name;
  r.backend = "sim";
  r.platform = p_.name;
  r.seed = cfg_.run.seed;
  r.requests = measured_;
  r.latency_us = LatencySummary::from(hist_);
  const double span_s = static_cast<double>(cfg_.run.duration_ns) * 1e-9;
  r.throughput_rps = static_cast<double>(completed_in_window_) / span_s;
  r.cpu_util = power_.busy_fraction(cfg_.run.duration_ns);
  std::vector<double> w = {p_.poll_w, p_.work_w, p_.irq_w};
  for (const auto& cs : p_.cstates) w.push_back(cs.power_w);
  const double joules = power_.energy_j(w, p_.package_w, cfg_.run.duration_ns);
  r.power_w = joules / span_s;
  r.power_estimated = true;  // the model's power figures are always estimates
  r.energy_per_req_uj =
      completed_in_window_ ? joules * 1e6 / static_cast<double>(completed_in_window_) : 0.0;
  for (std::size_t i = 0; i < kStageCount; ++i)
    r.breakdown_us[std::string(kStageNames[i])] =
        measured_ ? static_cast<double>(breakdown_.total[i]) / 1e3 / measured_ : 0.0;
  const double core_time = static_cast<double>(cfg_.run.duration_ns) * power_.cores();
  auto share = [&](int state) {
    Nanos sum = 0;
    for (int c = 0; c < power_.cores(); ++c) sum += power_.time(c, state);
    return static_cast<double>(sum) / core_time;
  };
  r.state_share["poll"] = share(kPowerPoll);
  r.state_share["work"] = share(kPowerWork);
  r.state_share["irq"] = share(kPowerIrq);
  for (std::size_t k = 0; k < p_.cstates.size(); ++k)
    r.state_share[p_.cstates[k].name] = share(kPowerC0 + static_cast<int>(k));
  r.extra = {{"interrupts", n_irq_},          {"ipis", n_ipi_},
             {"context_switches", n_ctx_},    {"handoffs", n_handoff_},
             {"slice_preemptions", n_slice_}, {"local_wakeups", n_local_wake_},
             {"remote_wakeups", n_remote_wake_},
             {"remaps", remapper_ ? remapper_->moves_done() : 0},
             {"wait_mode", std::string(wait_mode_name(s_.wait))},
             {"wake_path", std::string(wake_path_name(s_.wake_path.kind))}};
  out.samples = std::move(samples_);
  out.sent = sent_;
  out.completed = completed_;
  out.events = eng_.events_run();
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  r.extra["events"] = out.events;
  return out;
}

// ================================================================ clients

Nanos HostModel::think_time() {
  const Nanos t = cfg_.workload.think_ns;
  if (t <= 0 || cfg_.workload.think_dist == "fixed") return t;
  std::exponential_distribution<double> d(1.0 / static_cast<double>(t));
  return static_cast<Nanos>(std::llround(d(eng_.rng())));
}

Nanos HostModel::service_time() {
  const Nanos s = cfg_.workload.service_ns;
  if (s <= 0 || cfg_.workload.service_dist == "fixed") return s;
  std::exponential_distribution<double> d(1.0 / static_cast<double>(s));
  return static_cast<Nanos>(std::llround(d(eng_.rng())));
}

void HostModel::client_send(std::uint64_t conn) {
  if (!sending_) return;
  const Nanos now = eng_.now();
  int id;
  if (!free_reqs_.empty()) {
    id = free_reqs_.back();
    free_reqs_.pop_back();
  } else {
    id = static_cast<int>(reqs_.size());
    reqs_.emplace_back();
  }
  Request& r = reqs_[id];
  r = Request{};
  r.conn = static_cast<ThreadId>(conn);
  r.sent = now;
  r.mark = now;
  r.stage = Stage::kWire;
  r.measured = in_window_;
  r.live = true;
  ++sent_;
  ++in_flight_;
  fabric_->send(port_, Direction::kToServer, r.conn, cfg_.workload.message_bytes,
                static_cast<std::uint64_t>(id), now + p_.client_ns);
  if (cfg_.workload.kind == "poisson") {
    std::exponential_distribution<double> gap(cfg_.workload.rate_rps / 1e9);
    eng_.at<&HostModel::client_send>(now + 1 + static_cast<Nanos>(gap(eng_.rng())), this, conn);
  }
}

void HostModel::nic_arrive(std::uint64_t id) {
  reqs_[id].enter(Stage::kNicRx, eng_.now());
  eng_.at<&HostModel::cqe_land>(eng_.now() + p_.nic_rx_ns, this, id);
}

void HostModel::cqe_land(std::uint64_t id) {
  const Nanos now = eng_.now();
  Request& r = reqs_[id];
  const ThreadId t = r.conn;
  SimThread& th = threads_[t];
  SimCq& cq = nic_.cqs_[t];
  const bool was_empty = cq.pending.empty();
  FW_TRACE("cqe_land req %d thread %d armed %d state %d step %s", static_cast<int>(id), t,
           cq.armed, static_cast<int>(th.state), std::string(step_name(th.step)).c_str());
  cq.pending.push_back(static_cast<int>(id));
  r.enter(Stage::kQueue, now);

  if (cq.armed) {  // one-shot: this completion raises the event
    cq.armed = false;
    r.enter(Stage::kIrq, now);
    r.irq_core = nic_.vector_core(cq.vector);
    raise_event(t);
    return;
  }
  SimCore& c = cores_[th.core];
  switch (s_.wait) {
    case WaitMode::kSpin:
      if (th.state == ThreadState::kRunning && th.step == Step::kSpin && c.current == t &&
          !c.kbusy && !th.has_seg) {
        th.step = Step::kPoll;  // the spinning loop sees it on its next poll
        begin_step(c, th);
      } else if (th.state != ThreadState::kRunning) {
        r.enter(Stage::kWaitCpu, now);
      }
      break;
    case WaitMode::kDispatcher:
      if (th.state == ThreadState::kBlocked && was_empty) {
        c.ready.push_back(t);
        if (c.scanning && c.current == c.disp_thread && !c.kbusy) {
          r.enter(Stage::kPoll, now);
          schedule_detection(c);
        } else {
          r.enter(Stage::kWaitCpu, now);
        }
      }
      break;
    case WaitMode::kBlock:
      break;  // not armed: the thread is awake and will drain it
  }
}

void HostModel::client_receive(std::uint64_t id) {
  const Nanos now = eng_.now();
  Request& r = reqs_[id];
  if (!r.live) throw std::logic_error("request completed twice (model bug)");
  r.live = false;
  r.enter(Stage::kTx, now);  // closes the tx stage
  ++completed_;
  --in_flight_;
  if (now > win_start_ && now <= win_end_) ++completed_in_window_;
  // Latency covers every request *sent* in the window, also those that finish
  // during the drain: dropping late finishers would hide starvation.
  if (r.measured) {
    const Nanos lat = now - r.sent;
    hist_.record(lat);
    breakdown_.add(r.st);
    ++measured_;
    if (cfg_.run.record_samples) samples_.push_back({now, r.conn, lat, r.irq_core});
  }
  const ThreadId conn = r.conn;
  free_reqs_.push_back(static_cast<int>(id));
  if (cfg_.workload.kind == "pingpong" && sending_) eng_.at<&HostModel::client_send>(now + think_time(), this, conn);
}

// ================================================================ interrupts

void HostModel::raise_event(CqId cq) {
  const VectorId v = nic_.cqs_[cq].vector;
  eq_[v].push_back(cq);
  if (irq_inflight_[v]) return;  // the pending IRQ's EQ scan will see this EQE
  irq_inflight_[v] = 1;
  ++n_irq_;
  post_kernel(nic_.vector_core(v), {KType::kHardirq, v}, eng_.now() + p_.msix_ns);
}

void HostModel::post_kernel(CoreId c, KWork w, Nanos at) {
  int slot;
  if (!free_kw_.empty()) {
    slot = free_kw_.back();
    free_kw_.pop_back();
    pending_kw_[slot] = w;
  } else {
    slot = static_cast<int>(pending_kw_.size());
    pending_kw_.push_back(w);
  }
  eng_.at<&HostModel::kernel_arrive>(at, this, pack(c, static_cast<std::uint64_t>(slot)));
}

void HostModel::kernel_arrive(std::uint64_t packed) {
  SimCore& c = cores_[hi(packed)];
  const int slot = static_cast<int>(lo(packed));
  const KWork w = pending_kw_[slot];
  free_kw_.push_back(slot);
  c.kq.push_back(w);
  if (c.kbusy) return;  // runs after the current kernel item
  if (c.idle) {
    // Leave the C-state first: the exit latency delays this work.
    const Nanos now = eng_.now();
    c.last_idle = now - c.idle_since;
    c.idle = false;
    c.kq.push_front({KType::kCStateExit, c.cstate});
  } else {
    pause_current(c);
  }
  start_kernel(c);
}

Nanos HostModel::kernel_cost(const SimCore& c, const KWork& w) const {
  (void)c;
  switch (w.type) {
    case KType::kCStateExit: return p_.cstates[w.id].exit_latency_ns;
    case KType::kHardirq: return p_.hardirq_ns;
    case KType::kSoftirq: return p_.softirq_ns;
    case KType::kHandler:
      return s_.wake_path.handler_allocates_event ? p_.uverbs_handler_ns : p_.fw_handler_ns;
    case KType::kTtwuLocal: return p_.ttwu_local_ns;
    case KType::kTtwuRemote: return p_.ttwu_remote_ns;
    case KType::kIpi: return p_.ipi_handler_ns;
  }
  return 0;
}

void HostModel::start_kernel(SimCore& c) {
  c.kbusy = true;
  const KWork& w = c.kq.front();
  set_power(c, w.type == KType::kCStateExit ? kPowerWork : kPowerIrq);
  const Nanos now = eng_.now();
  // Stages of the requests this work is for.
  if (w.type == KType::kHandler) {
    for (int id : nic_.cqs_[w.id].pending) reqs_[id].enter(Stage::kHandler, now);
  } else if (w.type == KType::kTtwuLocal || w.type == KType::kTtwuRemote) {
    for (int id : nic_.cqs_[w.id].pending) reqs_[id].enter(Stage::kWakeup, now);
  }
  ++c.token;
  eng_.at<&HostModel::kernel_done>(now + kernel_cost(c, w), this, pack(c.id, c.token));
}

void HostModel::kernel_done(std::uint64_t packed) {
  SimCore& c = cores_[hi(packed)];
  if (lo(packed) != static_cast<std::uint32_t>(c.token)) return;
  const KWork w = c.kq.front();
  c.kq.pop_front();
  c.kbusy = false;
  FW_TRACE("core %d kernel done type %d id %d", c.id, static_cast<int>(w.type), w.id);
  switch (w.type) {
    case KType::kCStateExit:
      break;
    case KType::kHardirq: {
      // EQ scan: take every EQE so far; later ones raise a new IRQ.
      std::deque<CqId> eqes;
      eqes.swap(eq_[w.id]);
      irq_inflight_[w.id] = 0;
      for (auto it = eqes.rbegin(); it != eqes.rend(); ++it)
        c.kq.push_front({KType::kHandler, *it});
      c.kq.push_front({KType::kSoftirq, w.id});
      break;
    }
    case KType::kSoftirq:
      break;
    case KType::kHandler: {
      SimThread& th = threads_[w.id];
      if (th.waiting) {
        th.waiting = false;  // one wake per event
        th.event_pending = true;
        if (th.core == c.id) {
          c.kq.push_front({KType::kTtwuLocal, w.id});
        } else {
          c.kq.push_front({KType::kTtwuRemote, w.id});
        }
      } else {
        th.event_pending = true;  // it is awake: the event waits in the channel
      }
      break;
    }
    case KType::kTtwuLocal:
      ++n_local_wake_;
      enqueue(c, w.id);
      break;
    case KType::kTtwuRemote: {
      ++n_remote_wake_;
      ++n_ipi_;
      const SimThread& th = threads_[w.id];
      post_kernel(th.core, {KType::kIpi, w.id}, eng_.now() + p_.ipi_latency_ns);
      break;
    }
    case KType::kIpi:
      enqueue(c, w.id);
      break;
  }
  if (!c.kq.empty()) {
    start_kernel(c);
  } else {
    reschedule(c);
  }
}

void HostModel::wake_blocked(ThreadId t, CoreId from_core) {
  SimThread& th = threads_.at(t);
  if (th.state != ThreadState::kBlocked) return;
  if (from_core == th.core) {
    enqueue(cores_[th.core], t);
  } else {
    ++n_ipi_;
    post_kernel(th.core, {KType::kIpi, t}, eng_.now() + p_.ipi_latency_ns);
  }
}

/// Thread t becomes runnable on core c (called from kernel context on c).
void HostModel::enqueue(SimCore& c, int t) {
  SimThread& th = threads_[t];
  if (th.state != ThreadState::kBlocked) return;
  th.state = ThreadState::kRunnable;
  th.core = c.id;
  th.queued_at = eng_.now();
  mark(th, Stage::kWaitCpu, Stage::kWaitCpu);
  if (s_.wake_path.head_of_runqueue && th.resume == Resume::kWokenWait) {
    // Ahead of ordinary runnable threads, but FIFO among fast-woken ones: a
    // pure LIFO head would starve early wakers when the core is saturated.
    // A thread that has waited a whole minimum slice keeps its place (CFS's
    // vruntime would pick it by then), so the fast path cannot starve it.
    auto it = c.runq.begin();
    while (it != c.runq.end() &&
           (threads_[*it].fast_queued ||
            eng_.now() - threads_[*it].queued_at >= p_.sched_min_granularity_ns))
      ++it;
    c.runq.insert(it, t);
    th.fast_queued = true;
  } else {
    c.runq.push_back(t);
  }
}

// ================================================================ scheduling

bool HostModel::should_preempt(const SimCore& c, const SimThread& cur, const SimThread& w) const {
  (void)c;
  if (cur.dispatcher) return true;  // SCHED_IDLE yields to anything
  // Busy with a request: serving one, or completions wait in its CQ.
  const bool mid_request = cur.active >= 0 || !nic_.cqs_[cur.id].pending.empty();
  // Already entering its wait: it leaves the CPU within block_ns anyway.
  const bool blocking = cur.has_seg && cur.seg_end == SegEnd::kBlock;
  if (s_.wake_path.head_of_runqueue && w.resume == Resume::kWokenWait && !mid_request &&
      !blocking)
    return true;
  return eng_.now() - cur.ran_since >= p_.wakeup_granularity_ns;
}

/// Decides what core c runs now that no kernel work is pending.
void HostModel::reschedule(SimCore& c) {
  if (c.kbusy) return;
  if (c.slice_due) {  // the slice ran out during kernel work
    c.slice_due = false;
    if (c.current >= 0 && !threads_[c.current].dispatcher && !c.runq.empty()) {
      preempt_for_slice(c);
      return;
    }
  }
  if (c.current >= 0) {
    SimThread& cur = threads_[c.current];
    if (!c.runq.empty() && should_preempt(c, cur, threads_[c.runq.front()])) {
      const int next = c.runq.front();
      c.runq.pop_front();
      pause_current(c);
      if (cur.dispatcher) {
        cur.state = ThreadState::kRunnable;  // the dispatcher is not queued: it is the fallback
      } else {
        cur.state = ThreadState::kRunnable;
        cur.resume = cur.has_seg ? Resume::kContinue : cur.resume;
        cur.queued_at = eng_.now();
        // Runs again right after the woken thread, and stays in the run
        // queue's head group: later fast wake-ups queue behind it, so a
        // thread preempted by the fast path is not starved by the next ones.
        cur.fast_queued = s_.wake_path.head_of_runqueue;
        c.runq.push_front(c.current);
      }
      c.current = -1;
      switch_in(c, next, s_.wake_path.head_of_runqueue &&
                             threads_[next].resume == Resume::kWokenWait);
      return;
    }
    run_thread(c, cur);
    return;
  }
  if (!c.runq.empty()) {
    const int next = c.runq.front();
    c.runq.pop_front();
    switch_in(c, next, s_.wake_path.head_of_runqueue &&
                           threads_[next].resume == Resume::kWokenWait);
    return;
  }
  if (c.disp) {
    c.current = c.disp_thread;
    threads_[c.disp_thread].state = ThreadState::kRunning;
    dispatcher_resume(c);
    return;
  }
  go_idle(c);
}

void HostModel::switch_in(SimCore& c, int t, bool fast) {
  SimThread& th = threads_[t];
  FW_TRACE("core %d switch_in thread %d fast %d", c.id, t, fast);
  c.current = t;
  th.state = ThreadState::kRunning;
  th.ran_since = eng_.now();
  th.fast_queued = false;
  ++n_ctx_;
  if (th.has_seg) {  // a segment preempted by another thread: resume it after the switch
    th.saved = true;
    th.saved_left = th.seg_left;
    th.saved_end = th.seg_end;
    th.saved_a = th.st_active;
    th.saved_p = th.st_pending;
    th.saved_power = th.power;
  }
  start_seg(c, th, fast ? p_.fast_switch_ns : p_.ctx_switch_ns, SegEnd::kSwitchIn, Stage::kSched,
            Stage::kSched, kPowerWork);
  c.slice_armed = false;
  ++c.slice_token;
  arm_slice(c);
}

void HostModel::pause_current(SimCore& c) {
  if (c.current < 0) return;
  SimThread& th = threads_[c.current];
  if (th.dispatcher && c.scanning) {
    // Account the empty scans done so far; the scan resumes at the cursor.
    const Nanos pe = std::max<Nanos>(p_.cq_poll_empty_ns, 1);
    c.disp->skip(static_cast<std::size_t>((eng_.now() - c.scan_start) / pe));
    c.scanning = false;
    ++c.scan_token;
  }
  if (c.running_seg) {
    th.seg_left = std::max<Nanos>(0, c.seg_end_t - eng_.now());
    c.running_seg = false;
    ++c.token;  // invalidates the pending segment-end event
    mark_paused(th);
  }
}

void HostModel::go_idle(SimCore& c) {
  c.current = -1;
  // Idle governor (menu-like): the deepest allowed state whose target
  // residency fits the predicted idle time (= the last idle period).
  const int n = static_cast<int>(p_.cstates.size());
  const int deepest = cfg_.host.max_cstate < 0 ? n - 1 : std::min(cfg_.host.max_cstate, n - 1);
  int s = 0;
  const bool poll_only = std::find(cfg_.host.idle_poll_cores.begin(),
                                   cfg_.host.idle_poll_cores.end(),
                                   c.id) != cfg_.host.idle_poll_cores.end();
  for (int k = poll_only ? 0 : deepest; k >= 0; --k)
    if (p_.cstates[k].target_residency_ns <= c.last_idle) {
      s = k;
      break;
    }
  c.cstate = s;
  c.idle = true;
  c.idle_since = eng_.now();
  set_power(c, kPowerC0 + s);
}

/// A core that was idle starts running threads (a migration brought work).
void HostModel::kick(SimCore& c) {
  if (!c.idle || c.kbusy) return;
  c.last_idle = eng_.now() - c.idle_since;
  c.idle = false;
  c.kq.push_back({KType::kCStateExit, c.cstate});
  start_kernel(c);
}

void HostModel::arm_slice(SimCore& c) {
  if (c.current < 0 || threads_[c.current].dispatcher || c.runq.empty() || c.slice_armed) return;
  const Nanos nr = static_cast<Nanos>(c.runq.size()) + 1;
  const Nanos slice = std::max(p_.sched_min_granularity_ns, p_.sched_latency_ns / nr);
  c.slice_armed = true;
  ++c.slice_token;
  const Nanos at = std::max(eng_.now(), threads_[c.current].ran_since + slice);
  eng_.at<&HostModel::slice_expire>(at, this, pack(c.id, c.slice_token));
}

void HostModel::slice_expire(std::uint64_t packed) {
  SimCore& c = cores_[hi(packed)];
  if (lo(packed) != static_cast<std::uint32_t>(c.slice_token)) return;
  c.slice_armed = false;
  if (c.current < 0 || threads_[c.current].dispatcher || c.runq.empty()) return;
  if (c.kbusy) {
    c.slice_due = true;  // handled when the kernel work returns
    return;
  }
  preempt_for_slice(c);
}

void HostModel::preempt_for_slice(SimCore& c) {
  ++n_slice_;
  SimThread& cur = threads_[c.current];
  pause_current(c);
  cur.state = ThreadState::kRunnable;
  cur.resume = cur.has_seg ? Resume::kContinue
                           : (cur.step == Step::kSpin ? Resume::kCheckSpin : Resume::kBegin);
  cur.queued_at = eng_.now();
  c.runq.push_back(c.current);
  c.current = -1;
  const int next = c.runq.front();
  c.runq.pop_front();
  switch_in(c, next, false);
}

// ================================================================ threads

void HostModel::mark(SimThread& th, Stage active, Stage pending) {
  if (th.dispatcher) return;
  const Nanos now = eng_.now();
  if (th.active >= 0) reqs_[th.active].enter(active, now);
  for (int id : nic_.cqs_[th.id].pending) reqs_[id].enter(pending, now);
}

void HostModel::mark_paused(SimThread& th) {
  if (th.dispatcher) return;
  const Nanos now = eng_.now();
  if (th.active >= 0) reqs_[th.active].enter(Stage::kWaitCpu, now);
  for (int id : nic_.cqs_[th.id].pending) {
    const Stage s = reqs_[id].stage;
    // Requests waiting on the interrupt path keep their stage.
    if (s != Stage::kIrq && s != Stage::kHandler && s != Stage::kWakeup)
      reqs_[id].enter(Stage::kWaitCpu, now);
  }
}

/// Thread th is current on c and should go on with whatever it was doing.
void HostModel::run_thread(SimCore& c, SimThread& th) {
  if (th.has_seg) {  // resume the segment kernel work interrupted
    launch_seg(c, th);
    return;
  }
  if (th.dispatcher) {
    dispatcher_resume(c);
    return;
  }
  if (th.step == Step::kSpin) {
    begin_step(c, th);
    return;
  }
  begin_step(c, th);
}

void HostModel::start_seg(SimCore& c, SimThread& th, Nanos dur, SegEnd end, Stage st_active,
                          Stage st_pending, int power) {
  th.has_seg = true;
  th.seg_left = dur;
  th.seg_end = end;
  th.st_active = st_active;
  th.st_pending = st_pending;
  th.power = power;
  launch_seg(c, th);
}

void HostModel::launch_seg(SimCore& c, SimThread& th) {
  const Nanos now = eng_.now();
  c.running_seg = true;
  c.seg_start = now;
  c.seg_end_t = now + th.seg_left;
  ++c.token;
  set_power(c, th.power);
  if (th.seg_end == SegEnd::kHandOff) {
    mark(threads_[c.handoff_to], Stage::kSched, Stage::kSched);
  } else {
    mark(th, th.st_active, th.st_pending);
  }
  eng_.at<&HostModel::seg_done>(c.seg_end_t, this, pack(c.id, c.token));
}

void HostModel::seg_done(std::uint64_t packed) {
  SimCore& c = cores_[hi(packed)];
  if (lo(packed) != static_cast<std::uint32_t>(c.token)) return;
  c.running_seg = false;
  SimThread& th = threads_[c.current];
  th.has_seg = false;
  switch (th.seg_end) {
    case SegEnd::kStep:
      finish_step(c, th);
      return;
    case SegEnd::kReadReturn:
      finish_step(c, th);  // the wait step is over: read() returned the event
      return;
    case SegEnd::kBlock:
      thread_sleeps(c, th);
      return;
    case SegEnd::kSwitchIn:
      if (th.saved) {
        th.saved = false;
        th.has_seg = true;
        th.seg_left = th.saved_left;
        th.seg_end = th.saved_end;
        th.st_active = th.saved_a;
        th.st_pending = th.saved_p;
        th.power = th.saved_power;
        launch_seg(c, th);
        return;
      }
      switch (th.resume) {
        case Resume::kWokenWait:
          th.resume = Resume::kBegin;
          if (s_.wake_path.vfs_read) {
            start_seg(c, th, p_.read_return_ns, SegEnd::kReadReturn, Stage::kRead, Stage::kRead,
                      kPowerWork);
          } else {
            finish_step(c, th);  // the module's wait returns straight into the loop
          }
          return;
        case Resume::kCheckSpin:
        case Resume::kBegin:
        case Resume::kContinue:
          th.resume = Resume::kBegin;
          begin_step(c, th);
          return;
      }
      return;
    case SegEnd::kHandOff: {
      // The dispatcher's switch-to is done: the owner runs on this CPU now.
      const int t = c.handoff_to;
      c.handoff_to = -1;
      th.state = ThreadState::kRunnable;  // the dispatcher waits for the CPU back
      SimThread& app = threads_[t];
      c.current = t;
      app.state = ThreadState::kRunning;
      app.ran_since = eng_.now();
      finish_step(c, app);  // kYieldDispatcher ends: its CQ is ready
      return;
    }
  }
}

void HostModel::finish_step(SimCore& c, SimThread& th) {
  const Nanos now = eng_.now();
  bool found = false;
  SimCq& cq = nic_.cqs_[th.id];
  switch (th.step) {
    case Step::kPoll:
      if (!cq.pending.empty()) {
        th.active = cq.pending.front();
        cq.pending.pop_front();
        found = true;
      }
      break;
    case Step::kServe:
      break;
    case Step::kPost: {
      const int id = th.active;
      th.active = -1;
      reqs_[id].enter(Stage::kTx, now);
      fabric_->send(port_, Direction::kToClient, reqs_[id].conn, cfg_.workload.message_bytes,
                    static_cast<std::uint64_t>(id), now + p_.nic_tx_ns);
      break;
    }
    case Step::kArm:
      th.event_pending = false;  // acked
      nic_.arm(th.id);
      break;
    case Step::kWait:
      th.event_pending = false;  // consumed
      break;
    case Step::kSpin:
    case Step::kYieldDispatcher:
      break;
  }
  th.step = loop_.next(th.step, found);
  begin_step(c, th);
}

void HostModel::begin_step(SimCore& c, SimThread& th) {
  const SimCq& cq = nic_.cqs_[th.id];
  FW_TRACE("core %d thread %d begins %s", c.id, th.id, std::string(step_name(th.step)).c_str());
  switch (th.step) {
    case Step::kPoll:
      start_seg(c, th, p_.cq_poll_ns, SegEnd::kStep, Stage::kPoll, Stage::kPoll, kPowerWork);
      return;
    case Step::kServe:
      start_seg(c, th, service_time(), SegEnd::kStep, Stage::kService, Stage::kQueue, kPowerWork);
      return;
    case Step::kPost:
      start_seg(c, th, p_.post_send_ns, SegEnd::kStep, Stage::kTx, Stage::kQueue, kPowerWork);
      return;
    case Step::kArm:
      start_seg(c, th, p_.rearm_ns, SegEnd::kStep, Stage::kRearm, Stage::kRearm, kPowerWork);
      return;
    case Step::kWait:
      if (th.event_pending) {  // an event is already queued: the wait returns at once
        start_seg(c, th, s_.wake_path.vfs_read ? p_.read_return_ns : p_.syscall_ns, SegEnd::kStep,
                  Stage::kRead, Stage::kRead, kPowerWork);
      } else {
        start_seg(c, th, p_.block_ns, SegEnd::kBlock, Stage::kQueue, Stage::kQueue, kPowerWork);
      }
      return;
    case Step::kSpin:
      if (th.migrate_to != kNoCore) {
        apply_migration(c, th);
        return;
      }
      if (!cq.pending.empty()) {
        th.step = Step::kPoll;
        begin_step(c, th);
        return;
      }
      set_power(c, kPowerPoll);  // spins until a CQE lands (cqe_land) or its slice ends
      arm_slice(c);
      return;
    case Step::kYieldDispatcher:
      start_seg(c, th, p_.fast_switch_ns, SegEnd::kBlock, Stage::kQueue, Stage::kQueue,
                kPowerWork);
      return;
  }
}

/// th finished entering its wait (blocking syscall or yield to the dispatcher).
void HostModel::thread_sleeps(SimCore& c, SimThread& th) {
  const Nanos now = eng_.now();
  FW_TRACE("core %d thread %d sleeps (event_pending %d)", c.id, th.id, th.event_pending);
  th.state = ThreadState::kBlocked;
  c.current = -1;
  if (th.migrate_to != kNoCore) {
    apply_migration(c, th);
    reschedule(c);
    return;
  }
  if (s_.wait == WaitMode::kBlock) {
    th.resume = Resume::kWokenWait;
    if (remapper_) {
      remapper_->thread_at(th.id, th.core, now);
      schedule_remap();
    }
    if (th.event_pending) {
      // An event arrived while it was entering the wait: it does not sleep.
      th.state = ThreadState::kRunnable;
      th.queued_at = now;
      c.runq.push_front(th.id);
    } else {
      th.waiting = true;
    }
  } else if (s_.wait == WaitMode::kDispatcher) {
    if (!nic_.cqs_[th.id].pending.empty()) c.ready.push_back(th.id);
  }
  reschedule(c);
}

void HostModel::apply_migration(SimCore& c, SimThread& th) {
  const CoreId to = th.migrate_to;
  th.migrate_to = kNoCore;
  const Nanos now = eng_.now();
  if (to == th.core) {
    if (th.state == ThreadState::kRunning) begin_step(c, th);
    return;
  }
  switch (s_.wait) {
    case WaitMode::kBlock:
      th.core = to;  // sleeps there from now on; wakes go to the new core
      if (remapper_) {
        remapper_->thread_at(th.id, to, now);
        schedule_remap();
      }
      th.resume = Resume::kWokenWait;
      th.waiting = !th.event_pending;
      if (th.event_pending) {
        th.state = ThreadState::kBlocked;
        wake_blocked(th.id, kNoCore);
      }
      return;
    case WaitMode::kDispatcher: {
      SimCore& from = cores_[th.core];
      from.disp->remove(th.id);
      std::erase(from.ready, th.id);
      SimCore& dst = cores_[to];
      const bool fresh = !dst.disp;
      add_dispatcher(to);
      dst.disp->add(th.id, th.id);
      th.core = to;
      if (!nic_.cqs_[th.id].pending.empty()) {
        dst.ready.push_back(th.id);
        if (dst.scanning && dst.current == dst.disp_thread && !dst.kbusy) schedule_detection(dst);
      }
      if (fresh) {
        if (dst.idle) {
          kick(dst);  // the dispatcher starts after the C-state exit
        } else if (dst.current < 0 && !dst.kbusy) {
          reschedule(dst);
        }
      }
      return;
    }
    case WaitMode::kSpin:
      // Leave this core (it picks someone else) and get enqueued on the new one.
      th.state = ThreadState::kBlocked;
      th.resume = Resume::kCheckSpin;
      c.current = -1;
      th.core = to;
      ++n_ipi_;
      post_kernel(to, {KType::kIpi, th.id}, now + p_.ipi_latency_ns);
      reschedule(c);
      return;
  }
}

// ================================================================ dispatcher

void HostModel::dispatcher_resume(SimCore& c) {
  c.scanning = true;
  c.scan_start = eng_.now();
  set_power(c, kPowerPoll);
  if (c.ready.empty()) return;
  for (CqId cq : c.ready) mark(threads_[cq], Stage::kPoll, Stage::kPoll);
  schedule_detection(c);
}

/// The dispatcher is scanning: find when its round-robin reaches a ready CQ.
void HostModel::schedule_detection(SimCore& c) {
  const Nanos pe = std::max<Nanos>(p_.cq_poll_empty_ns, 1);
  const Nanos done = (eng_.now() - c.scan_start) / pe;
  c.disp->skip(static_cast<std::size_t>(done));
  c.scan_start += done * pe;
  std::size_t best = 0;
  for (CqId cq : c.ready) {
    const std::size_t m = c.disp->polls_until(cq);
    if (m && (!best || m < best)) best = m;
  }
  if (!best) return;
  ++c.scan_token;
  eng_.at<&HostModel::dispatcher_found>(c.scan_start + static_cast<Nanos>(best) * pe, this,
                                        pack(c.id, c.scan_token));
}

void HostModel::dispatcher_found(std::uint64_t packed) {
  SimCore& c = cores_[hi(packed)];
  if (lo(packed) != static_cast<std::uint32_t>(c.scan_token) || !c.scanning) return;
  const Nanos pe = std::max<Nanos>(p_.cq_poll_empty_ns, 1);
  const Nanos polls = (eng_.now() - c.scan_start) / pe;  // the last of these finds it
  c.disp->skip(static_cast<std::size_t>(polls - 1));
  const std::optional<HandOff> h = c.disp->poll_once(nic_);
  c.scanning = false;
  if (!h) throw std::logic_error("dispatcher model: scan did not find the ready CQ");
  hand_off(c.id, h->thread);
}

void HostModel::hand_off(CoreId core, ThreadId t) {
  SimCore& c = cores_[core];
  std::erase(c.ready, t);
  ++n_handoff_;
  c.handoff_to = t;
  SimThread& d = threads_[c.disp_thread];
  start_seg(c, d, p_.fast_switch_ns, SegEnd::kHandOff, Stage::kSched, Stage::kSched, kPowerWork);
}

// ================================================================ remapper, migrations, window

void HostModel::schedule_remap() {
  const std::optional<Nanos> nd = remapper_->next_deadline();
  if (!nd || *nd == remap_at_) return;
  remap_at_ = *nd;
  eng_.at<&HostModel::remap_tick>(*nd, this, 0);
}

void HostModel::remap_tick(std::uint64_t) {
  remap_at_ = -1;
  for (const VectorMove& m : remapper_->due(eng_.now())) nic_.set_vector_core(m.vector, m.to);
  schedule_remap();
}

void HostModel::migrate(std::uint64_t idx) {
  const Migration& m = cfg_.workload.migrations[idx];
  SimThread& th = threads_[m.thread];
  th.migrate_to = m.to_core;
  if (th.state == ThreadState::kBlocked && th.step != Step::kSpin)
    apply_migration(cores_[th.core], th);
  // Otherwise it moves at its next wait (block, yield or spin).
}

void HostModel::window_open(std::uint64_t) {
  in_window_ = true;
  const Nanos now = eng_.now();
  for (auto& c : cores_) c.power_since = now;
}

void HostModel::window_close(std::uint64_t) {
  for (auto& c : cores_) set_power(c, c.power);  // account up to the end
  in_window_ = false;
  sending_ = false;
}

void HostModel::set_power(SimCore& c, int state) {
  const Nanos now = eng_.now();
  if (in_window_) power_.add(c.id, c.power, now - c.power_since);
  c.power = state;
  c.power_since = now;
}

}  // namespace

StrategyRun simulate(const Config& cfg, const StrategySpec& strategy) {
  // One SimGrid engine per process: the SimGrid fabric runs in a child.
  if (cfg.fabric.kind == "simgrid") return simulate_in_child(cfg, strategy);
  HostModel m(cfg, strategy);
  return m.run();
}

// HostSim: the host model, stepwise (fabric.h).
class HostSim::Impl {
 public:
  Impl(const Config& cfg, const StrategySpec& s, Fabric& f, int host) : m(cfg, s, &f, host) {}
  HostModel m;
};

HostSim::HostSim(const Config& cfg, const StrategySpec& strategy, Fabric& fabric, int host)
    : impl_(std::make_unique<Impl>(cfg, strategy, fabric, host)) {}
HostSim::~HostSim() = default;
void HostSim::start() { impl_->m.start(); }
bool HostSim::advance(Nanos until) { return impl_->m.advance(until); }
std::uint64_t HostSim::in_flight() const { return impl_->m.in_flight(); }
Nanos HostSim::drain_limit() const { return impl_->m.drain_limit(); }
Engine& HostSim::engine() { return impl_->m.engine(); }
FabricPort& HostSim::port() { return impl_->m.port(); }
StrategyRun HostSim::finish() { return impl_->m.finish(); }

nlohmann::json simulate_all(const Config& cfg) {
  nlohmann::json doc;
  doc["schema"] = "fastwake-result/1";
  doc["config"] = to_json(cfg);
  doc["results"] = nlohmann::json::array();
  for (const std::string& name : cfg.strategies) {
    const StrategyRun run = simulate(cfg, find_strategy(name));
    doc["results"].push_back(run.result.to_json());
  }
  return doc;
}

}  // namespace fastwake::sim
