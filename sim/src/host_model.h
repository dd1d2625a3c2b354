// Private to sim/src: the host model's entities (requests, NIC, threads,
// cores, kernel work) and the HostModel class. Its methods are defined by
// subsystem in host_model.cc and the host_*.cc files beside it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <limits>
#include <memory>
#include <vector>

#include "fastwake/adaptive.h"
#include "fastwake/decision_trace.h"
#include "fastwake/dispatcher.h"
#include "fastwake/errors.h"
#include "fastwake/nic.h"
#include "fastwake/placement.h"
#include "fastwake/remap_driver.h"
#include "fastwake/sim/engine.h"
#include "fastwake/sim/fabric.h"
#include "fastwake/sim/run_guard.h"
#include "fastwake/sim/simulate.h"
#include "fastwake/thread_loop.h"
#include "fastwake/wait_policy.h"
#include "fastwake/workload.h"

namespace fastwake::sim::detail {

inline constexpr int kPowerPoll = static_cast<int>(PowerState::kPoll);
inline constexpr int kPowerWork = static_cast<int>(PowerState::kWork);
inline constexpr int kPowerIrq = static_cast<int>(PowerState::kIrq);
inline constexpr int kPowerExit = static_cast<int>(PowerState::kCStateExit);
inline constexpr int kPowerC0 = static_cast<int>(PowerState::kCState0);

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
/// A CQ's FIFO of request ids: the first kInline in the CQ itself (a
/// closed-loop connection has one request at a time), more in a deque made
/// only when needed. std::deque<int> allocated 512 B apart for every CQ: one
/// cache miss per look at a CQ at 16k connections.
class ReqFifo {
 public:
  static constexpr int kInline = 4;
  bool empty() const { return n_ == 0; }
  int front() const { return in_[head_]; }
  void push_back(int id) {
    if (n_ < kInline && (!spill_ || spill_->empty())) {
      in_[(head_ + n_) % kInline] = id;
      ++n_;
    } else {
      if (!spill_) spill_ = std::make_unique<std::deque<int>>();
      spill_->push_back(id);
    }
  }
  void pop_front() {
    head_ = (head_ + 1) % kInline;
    --n_;
    if (spill_ && !spill_->empty()) {  // refill: the spill's oldest follows the ring's newest
      in_[(head_ + n_) % kInline] = spill_->front();
      spill_->pop_front();
      ++n_;
    }
  }
  template <class F>
  void for_each(F&& f) const {
    for (int i = 0; i < n_; ++i) f(in_[(head_ + i) % kInline]);
    if (spill_)
      for (int id : *spill_) f(id);
  }

 private:
  int in_[kInline] = {};
  int head_ = 0, n_ = 0;
  std::unique_ptr<std::deque<int>> spill_;
};

struct SimCq {
  ReqFifo pending;  // requests whose CQE landed and was not polled yet
  bool armed = false;
  VectorId vector = 0;
};

/// The simulated NIC as core's policies see it.
class SimNic final : public IrqLever {
 public:
  std::vector<CoreId> vector_core_;
  std::vector<SimCq> cqs_;

  int num_vectors() const override { return static_cast<int>(vector_core_.size()); }
  CoreId vector_core(VectorId v) const override { return vector_core_.at(v); }
  void set_vector_core(VectorId v, CoreId c) override { vector_core_.at(v) = c; }
  VectorId cq_vector(CqId cq) const { return cqs_.at(cq).vector; }
  bool cq_ready(CqId cq) const { return !cqs_[cq].pending.empty(); }
  void arm(CqId cq) { cqs_[cq].armed = true; }
};

// ---------------------------------------------------------------- threads
enum class ThreadState { kRunning, kRunnable, kBlocked };

/// What a thread does when it next gets the CPU.
enum class Resume {
  kContinue,   // resume the saved (preempted) segment
  kBegin,      // begin its current step
  kWokenWait,  // woken from kWait: (stock) read() returns, then the loop goes on
  kCheckSpin,  // spinning thread re-checks its CQ
  kReleased,   // adaptive: woken from a hand-off sleep because its core left polling
};

/// What happens when a segment ends.
// kDrain: the module path's deferred non-blocking reads of queued events,
// done before the thread's next wait (after its reply).
enum class SegEnd { kStep, kSwitchIn, kReadReturn, kHandOff, kBlock, kDrain };

struct SimThread {
  ThreadId id = 0;
  CoreId core = 0;
  bool dispatcher = false;  // the per-core dispatcher (SCHED_IDLE), not an app thread
  WaitMode mode = WaitMode::kBlock;  // how it waits now (adaptive: its core's mode at its last wait)
  ThreadState state = ThreadState::kBlocked;
  Step step = Step::kPoll;
  Resume resume = Resume::kBegin;
  int active = -1;             // request being served
  bool event_pending = false;  // completion channel holds an event
  bool waiting = false;        // blocked in kWait (an event wakes it)
  int undrained = 0;           // module path: events its waits consumed, still queued in uverbs
  CoreId migrate_to = kNoCore;
  Nanos ran_since = 0;  // switched in at (CFS prev_sum_exec_runtime: delta_exec = now - ran_since)
  // CFS (kernel/sched/fair.c, Linux 6.1): virtual runtime, nice 0 (weight
  // 1024) so it advances 1:1 with the time the thread is current; kernel work
  // on its core is charged to it (no CONFIG_IRQ_TIME_ACCOUNTING).
  Nanos vruntime = 0;
  Nanos vr_since = 0;  // vruntime settled up to here while current
  // Current or saved segment.
  bool has_seg = false;
  Nanos seg_left = 0;
  SegEnd seg_end = SegEnd::kStep;
  Stage st_active = Stage::kService, st_pending = Stage::kQueue;
  int power = kPowerWork;
  bool found = false;        // result of the last kPoll
  bool fast_queued = false;  // in the run queue's head group (trimmed wake path)
  bool in_rq = false;        // in its core's run queue
  int ready_slot = -1;       // index in its core's SimCore::ready, -1 not ready
  bool unmarked = false;     // in its core's SimCore::unmarked
  bool vr_relative = false;  // vruntime relative to its old core's min_vruntime (migrating)
  Nanos queued_at = 0;       // when it last entered a run queue
  // A segment preempted by another thread, resumed after the switch back in.
  bool saved = false;
  Nanos saved_left = 0;
  SegEnd saved_end = SegEnd::kStep;
  Stage saved_a = Stage::kService, saved_p = Stage::kQueue;
  int saved_power = kPowerWork;
};

// ---------------------------------------------------------------- cores
// Kernel work on a core. The remote wake-up kinds follow Linux 6.1's
// try_to_wake_up -> ttwu_queue (kernel/sched/core.c; docs/model.md "Remote
// wake-ups"): kTtwuWakelist / kTtwuDirect run on the waker, kIpiSend on the
// waker when an IPI is due, kWakeFlush / kReschedIpi on the wakee's core.
enum class KType : std::uint8_t {
  kCStateExit,
  kHardirq,
  kSoftirq,
  kHandler,
  kTtwuLocal,     // ttwu_queue direct path, target rq is this CPU's (id: thread)
  kTtwuWakelist,  // ttwu_queue_wakelist: llist_add on the target's call_single_queue (id: thread)
  kTtwuDirect,    // ttwu_queue direct path under the remote rq's lock + check_preempt_curr (id:
                  // thread)
  kIpiSend,       // send_call_function_single_ipi / smp_send_reschedule (id: ipi_id(core, res))
  kWakeFlush,   // target: sched_ttwu_pending of the whole wake list (id: 1 CAL handler, 0 polled in
                // do_idle)
  kReschedIpi,  // target: RES handler, scheduler_ipi (id unused)
  kIpi,         // a migration's remote enqueue (id: thread), counted as a CAL
  kStall,       // the core runs nothing of ours for SimCore::stall_ns (platform stalls)
  kRelease,     // adaptive: the dispatcher's futex wake-up of a hand-off sleeper (id: thread)
};
struct KWork {
  KType type;
  int id;  // vector, cq, thread or ipi_id
};
inline int ipi_id(CoreId target, bool resched) { return target * 2 + (resched ? 1 : 0); }

/// A core's run queue: thread indices in pick order, each with the two keys
/// the model's insertions search by, copied at insertion (neither changes
/// while a thread is queued). Contiguous, so a search reads the keys in
/// order instead of chasing every queued thread's SimThread (the cache miss
/// per entry that dominated rq_insert at 256 threads per core).
class RunQueue {
 public:
  static constexpr Nanos kHead = std::numeric_limits<Nanos>::min();
  struct Ent {
    int t;
    Nanos vkey;  // vruntime, kHead for the proposal's head group (fast_queued)
    Nanos qkey;  // queued_at, kHead for the head group
  };
  bool empty() const { return q_.empty(); }
  std::size_t size() const { return q_.size(); }
  int front() const { return q_.front().t; }
  void insert_at(std::size_t i, Ent e) { q_.insert(q_.begin() + static_cast<std::ptrdiff_t>(i), e); }
  void push_front(Ent e) { q_.insert(q_.begin(), e); }
  void push_back(Ent e) { q_.push_back(e); }
  /// Index of the first entry with vkey > v (size() if none).
  std::size_t first_vkey_above(Nanos v) const {
    std::size_t i = 0;
    while (i < q_.size() && q_[i].vkey <= v) ++i;
    return i;
  }
  /// Index of the first entry with qkey > q (size() if none).
  std::size_t first_qkey_above(Nanos q) const {
    std::size_t i = 0;
    while (i < q_.size() && q_[i].qkey <= q) ++i;
    return i;
  }
  bool erase(int t) {
    for (std::size_t i = 0; i < q_.size(); ++i)
      if (q_[i].t == t) {
        q_.erase(q_.begin() + static_cast<std::ptrdiff_t>(i));
        return true;
      }
    return false;
  }

 private:
  std::vector<Ent> q_;
};

struct SimCore {
  CoreId id = 0;
  int current = -1;  // thread index (app or dispatcher) owning the CPU, -1 none
  RunQueue runq;
  std::deque<KWork> kq;
  bool kbusy = false;  // a kernel work item is executing
  bool idle = true;    // in a C-state
  int cstate = 0;
  Nanos idle_since = 0;
  Nanos last_idle = std::numeric_limits<Nanos>::max() / 4;
  int power = kPowerC0;
  Nanos power_since = 0;
  std::uint64_t token = 0;  // validates the one pending segment-end event
  std::uint64_t tick_token = 0;  // validates the one pending scheduler-tick event
  bool tick_armed = false;
  Nanos seg_start = 0;  // start of the running segment (for pausing)
  Nanos seg_end_t = 0;
  bool running_seg = false;  // a thread segment event is pending
  // Dispatcher.
  int disp_thread = -1;
  std::unique_ptr<Dispatcher> disp;
  bool disp_parked = false;  // adaptive: the core is in interrupt mode, its dispatcher sleeps
  Nanos scan_start = 0;  // dispatcher scanning since (cursor at that time)
  bool scanning = false;
  std::uint64_t scan_token = 0;
  // CQs with completions whose thread sleeps on this core. Unordered
  // (SimThread::ready_slot is each one's index: O(1) add and remove); the
  // same set by dispatcher scan index in ready_bits, so the next ready CQ
  // from the cursor is a bit search, not a poll count per ready CQ.
  std::vector<CqId> ready;
  std::vector<std::uint64_t> ready_bits;
  // Ready CQs whose waiting requests may not be in Stage::kPoll yet: the
  // dispatcher's resume marks these only (marking one already in kPoll
  // changes no total), not every ready CQ.
  std::vector<CqId> unmarked;
  int handoff_to = -1;      // thread the dispatcher is switching to
  // CFS run queue state (kernel/sched/fair.c, Linux 6.1). runq is the
  // rb-tree in vruntime order (front = leftmost), except the proposal's
  // head group and a waiter whose event came while it entered its wait.
  bool need_resched = false;  // TIF_NEED_RESCHED: the next reschedule() calls schedule()
  bool tick_resched = false;  // ... set by the tick (counted as a slice preemption)
  Nanos min_vruntime = 0;     // cfs_rq->min_vruntime (update_min_vruntime)
  int next_buddy = -1;        // cfs_rq->next: set by a wake-up preemption (set_next_buddy)
  int last_buddy = -1;        // cfs_rq->last: the preempted task (set_last_buddy, nr >= 8)
  int forced_resched = -1;  // FW_ATTACH_PREEMPT: thread woken on this CPU by the module callback
  // Remote wake-ups (kernel/sched/core.c, Linux 6.1).
  std::vector<int> wake_list;    // call_single_queue: wakees queued by ttwu_queue_wakelist
  std::vector<int> flushing;     // taken by the running kWakeFlush (llist_del_all)
  bool resched_pending = false;  // TIF_NEED_RESCHED set by a RES not yet handled
  // Platform stalls (stall_rate_hz): the core's own stream of stalls.
  Stream stall_rng;
  Nanos stall_ns = 0;  // duration of the stall in kq
};

// FASTWAKE_TRACE=1 prints the model's decisions to stderr (debugging aid).
inline const bool kTrace = std::getenv("FASTWAKE_TRACE") != nullptr;
#define FW_TRACE(...)                                                      \
  do {                                                                     \
    if (kTrace) {                                                          \
      std::fprintf(stderr, "%10lld ", static_cast<long long>(eng_.now())); \
      std::fprintf(stderr, __VA_ARGS__);                                   \
      std::fputc('\n', stderr);                                            \
    }                                                                      \
  } while (0)

/// Time the server threads get to start and reach their first wait before
/// clients send; must be below any useful warm-up (configs use >= 1 ms).
inline constexpr Nanos kSetupNs = 200'000;

inline std::uint64_t pack(int a, std::uint64_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | (b & 0xffffffffu);
}
inline int hi(std::uint64_t x) { return static_cast<int>(x >> 32); }
inline std::uint32_t lo(std::uint64_t x) { return static_cast<std::uint32_t>(x); }

// ---------------------------------------------------------------- the model
class HostModel final {
 public:
  /// `fabric` carries the client <-> server messages (null: the simple fabric).
  /// `trace` records every policy decision (null: none).
  HostModel(const Config& cfg, const StrategySpec& s, Fabric* fabric = nullptr, int host = 0,
            DecisionTrace* trace = nullptr)
      : cfg_(cfg),
        p_(cfg.platform),
        s_(s),
        wp_(s),
        loop_(wp_.loop()),
        eng_(cfg.run.seed),
        clock_(cfg.workload, cfg.run.seed, cfg.threads()),
        service_(cfg.workload, cfg.run.seed, cfg.threads()),
        trace_(trace),
        power_(cfg.host.cores, static_cast<int>(cfg.platform.cstates.size())) {
    if (!fabric) {
      own_fabric_ = std::make_unique<SimpleFabric>(p_);
      fabric = own_fabric_.get();
    }
    fabric_ = fabric;
    port_.engine = &eng_;
    port_.to_server = [](void* m, std::uint64_t id) { static_cast<HostModel*>(m)->nic_arrive(id); };
    port_.to_client = [](void* m, std::uint64_t id) {
      static_cast<HostModel*>(m)->client_receive(id);
    };
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
  Nanos drain_limit() const { return win_end_ + kDrainNs; }
  const Config& config() const { return cfg_; }
  Engine& engine() { return eng_; }
  FabricPort& port() { return port_; }

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
  void stall_begin(std::uint64_t core);
  Nanos kernel_cost(const SimCore& c, const KWork& w) const;
  void wake_blocked(ThreadId t, CoreId from_core);
  bool enqueue(SimCore& c, int t);  // true: the wakee preempts (need_resched set)
  Nanos irq_thread_wake(CoreId core);
  // remote wake-up rules (host_irq.cc)
  int nr_running(const SimCore& c) const;
  bool idle_polling(const SimCore& c) const;
  KType remote_wake_kind(CoreId waker, CoreId target) const;
  // scheduling
  void reschedule(SimCore& c);
  bool should_preempt(const SimCore& c, const SimThread& cur, const SimThread& w) const;
  void switch_in(SimCore& c, int t, bool fast);
  void pause_current(SimCore& c);
  void go_idle(SimCore& c);
  // CFS (host_sched.cc)
  Nanos vruntime_now(const SimCore& c, const SimThread& th) const;
  void settle_vruntime(SimCore& c);
  void update_min_vruntime(SimCore& c);
  void rq_insert(SimCore& c, int t);
  RunQueue::Ent rq_ent(int t) const;  // t's keys as they are now
  void rq_erase(SimCore& c, int t);
  int pick_next(SimCore& c, int cur);
  Nanos sched_slice(const SimCore& c) const;
  bool check_preempt_tick(const SimCore& c) const;
  void arm_tick(SimCore& c);
  void sched_tick(std::uint64_t packed);
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
  bool switch_away(SimCore& c, bool by_tick);
  void kick(SimCore& c);
  void apply_migration(SimCore& c, SimThread& th);
  // fastwake_adaptive (host_adaptive.cc)
  WaitPolicy twp(const SimThread& th) const { return adapt_ ? wp_.for_mode(th.mode) : wp_; }
  WaitMode core_mode(CoreId c) const;
  void build_adaptive();
  void adapt_tick(std::uint64_t);
  void adapt_apply(CoreId core, WaitMode to);
  void release_sleeper(SimCore& c, ThreadId t);
  void move_adaptive_entry(SimThread& th, CoreId to);
  // dispatcher
  void dispatcher_resume(SimCore& c);
  void dispatcher_found(std::uint64_t packed);
  void hand_off(CoreId core, ThreadId t);
  void schedule_detection(SimCore& c);
  void ready_add(SimCore& c, ThreadId t);
  void ready_remove(SimCore& c, ThreadId t);
  void ready_reindex(SimCore& c);  // after the dispatcher's scan indices shifted
  void ready_unmarked(SimCore& c, ThreadId t);
  // remapper, migrations, window
  void remap_tick(std::uint64_t);
  void schedule_remap();
  void migrate(std::uint64_t idx);
  void move_thread(ThreadId t, CoreId to);
  void script_step(std::uint64_t prev);       // schedules the script's next step after `prev`
  void script_migrate(std::uint64_t packed);  // hi: thread, lo: core
  void window_open(std::uint64_t);
  void window_close(std::uint64_t);
  void set_power(SimCore& c, int state);
  Nanos service_time(ThreadId t) { return service_.draw(t); }
  // A blocking syscall's entry is paid before it sleeps, its exit after the
  // wake-up: a null syscall's cost (syscall_ns) split evenly (estimate).
  Nanos syscall_entry_ns() const { return p_.syscall_ns / 2; }
  Nanos syscall_exit_ns() const { return p_.syscall_ns - p_.syscall_ns / 2; }

  const Config& cfg_;
  const Platform& p_;
  // The scheduler's tunables as the kernel uses them on this host: the
  // profile's values times 1 + ilog2(min(cores, 8)) (fair.c
  // get_update_sysctl_factor, SCHED_TUNABLESCALING_LOG), sched_nr_latency =
  // latency / min_granularity (sched_update_scaling).
  struct Sched {
    Nanos latency = 0, min_gran = 0, wakeup_gran = 0, tick = 0;
    Nanos nr_latency = 8;
  } sched_;
  const StrategySpec& s_;
  const bool ref_scan_ = reference_scan();  // set_reference_scan (tests)
  const WaitPolicy wp_;  // every "how does this strategy wait" decision
  ThreadLoop loop_;
  Engine eng_;
  ClientClock clock_;     // core's client clock: think times, Poisson gaps, script
  ServiceClock service_;  // core's per-thread service draws
  DecisionTrace* trace_;
  std::unique_ptr<SimpleFabric> own_fabric_;
  Fabric* fabric_ = nullptr;
  FabricPort port_;
  std::chrono::steady_clock::time_point t0_;
  bool over_ = false;
  SimNic nic_;
  fastwake::Topology topo_;         // the host's NUMA nodes and LLC domains (core's placement)
  std::vector<SimThread> threads_;  // app threads first (id = index = CQ), then dispatchers
  int app_threads_ = 0;
  std::vector<SimCore> cores_;
  std::vector<Request> reqs_;
  std::vector<int> free_reqs_;
  std::vector<std::deque<CqId>> eq_;  // per vector: EQEs not yet scanned
  std::vector<char> irq_inflight_;
  std::vector<KWork> pending_kw_;  // kernel work in flight to a core
  std::vector<int> free_kw_;
  std::unique_ptr<RemapDriver> remapper_;
  // fastwake_adaptive: the decision (core's), per-core completion counts of
  // the running window, app core index per CoreId (-1: not an app core, stays
  // in interrupt mode), and what the results report.
  std::unique_ptr<AdaptiveController> adapt_;
  std::vector<int> adapt_index_;
  std::vector<std::uint64_t> adapt_count_;
  std::uint64_t n_release_ = 0, n_switch_win_ = 0;
  std::vector<Nanos> poll_since_, poll_time_;  // per core: in poll mode since / for (window)
  nlohmann::json adapt_trace_ = nlohmann::json::array();  // (t, core, to, by_cap) per switch
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
  std::uint64_t n_irq_ = 0, n_ctx_ = 0, n_handoff_ = 0, n_slice_ = 0, n_remote_wake_ = 0,
                n_local_wake_ = 0;
  // IPIs as /proc/interrupts counts them: CAL (function call) and RES (reschedule).
  std::uint64_t n_ipi_call_ = 0, n_ipi_resched_ = 0;
  // Remote wake-ups by path: wake list (with or without a CAL), direct remote enqueue.
  std::uint64_t n_wake_wakelist_ = 0, n_wake_direct_ = 0, n_wake_polled_ = 0;
  std::uint64_t n_stall_ = 0;
  Nanos stall_time_ = 0;
  // The counters Linux keeps per thread (nvcsw / nivcsw, kernel/sched/core.c
  // __schedule): an application thread leaving the CPU because it blocked, or
  // while still runnable (preempted, slice, hand-off back); a dispatcher
  // leaving it (always runnable: nivcsw).
  std::uint64_t n_vol_ = 0, n_invol_ = 0, n_disp_switch_ = 0;
  // host.irq_delivery "thread" (the loopback's emulation): wake-ups of an app
  // core's IRQ thread and the IPIs they cost (also in n_ipi_call_/n_ipi_resched_).
  std::uint64_t n_irqthr_wake_ = 0, n_irqthr_call_ = 0, n_irqthr_resched_ = 0;
  std::uint64_t n_event_ = 0;          // completion events raised (EQEs), per armed CQ
  std::vector<std::uint64_t> n_idle_;  // per C-state: idle entries of the app cores
  std::vector<char> app_core_;         // per core: runs application threads (placement)
  /// The counters above at one instant; per-request figures are the
  /// difference over the measurement window (window_open .. window_close).
  struct Counts {
    std::uint64_t event, irq, ctx, handoff, local, remote, wakelist, direct, polled, call, resched,
        vol, invol, disp, irqthr_wake, irqthr_call, irqthr_resched;
    std::vector<std::uint64_t> idle;
  };
  Counts counts_now() const {
    return {n_event_,          n_irq_,         n_ctx_,           n_handoff_,
            n_local_wake_,     n_remote_wake_, n_wake_wakelist_, n_wake_direct_,
            n_wake_polled_,    n_ipi_call_,    n_ipi_resched_,   n_vol_,
            n_invol_,          n_disp_switch_, n_irqthr_wake_,   n_irqthr_call_,
            n_irqthr_resched_, n_idle_};
  }
  Counts win_open_counts_{}, win_close_counts_{};
  nlohmann::json per_request_counts() const;
};

}  // namespace fastwake::sim::detail
