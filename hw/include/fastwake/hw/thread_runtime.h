// Executes core's policies with real threads: one pinned thread per
// connection running ThreadLoop, plus (dispatcher mode) one SCHED_IDLE
// dispatcher per core running Dispatcher::poll_once. A template over the NIC
// type so the dispatcher's scan calls a final class without virtual dispatch.
//
// Mechanisms: with /dev/fastwake present (fastwake.ko, ABI checked on open)
// the dispatcher hands over with the module's switch-to and the trimmed wake
// path waits on the module with the CQ's channel attached (no read()); without
// it, futex + SCHED_IDLE and the channel's read(). FASTWAKE_NO_KMOD=1 forces
// the fallback (to compare both on one machine).
#pragma once

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <chrono>
#include <concepts>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "fastwake/adaptive.h"
#include "fastwake/config.h"
#include "fastwake/decision_trace.h"
#include "fastwake/dispatcher.h"
#include "fastwake/errors.h"
#include "fastwake/hw/fastwake_dev.h"
#include "fastwake/hw/kernel_counts.h"
#include "fastwake/hw/linux_cpu.h"
#include "fastwake/hw/runtime.h"
#include "fastwake/nic.h"
#include "fastwake/placement.h"
#include "fastwake/strategy.h"
#include "fastwake/thread_loop.h"
#include "fastwake/wait_policy.h"
#include "fastwake/workload.h"

namespace fastwake::hw {

template <class NicT>
requires std::derived_from<NicT, HwNic> && ReadyProbe<NicT>
class ThreadRuntime {
 public:
  ThreadRuntime(const Config& cfg, const StrategySpec& s, NicT& nic, const HwOptions& opt)
      : cfg_(cfg),
        s_(s),
        wp_(s),
        nic_(nic),
        opt_(opt),
        n_(cfg.threads()),
        placement_(Placement::of(cfg)),
        service_(cfg.workload, cfg.run.seed, cfg.threads()) {
    slots_ = std::make_unique<Slot[]>(n_);
    for (int t = 0; t < n_; ++t) slots_[t].core = placement_.thread_core[t];
    if (!wp_.wake_path_implemented())
      throw ConfigError("strategy '" + s.name +
                        "' uses a proposed wake path that fastwake.ko does "
                        "not implement: it exists in the simulator only");
    if (wp_.adaptive()) {
      bool moves = !cfg.workload.migrations.empty();
      for (const ScriptStep& st : cfg.workload.script) moves |= st.migrate_to != kNoCore;
      if (moves)
        throw ConfigError("strategy '" + s.name +
                          "': thread migrations are not supported with per-core mode switches on "
                          "real threads yet (the simulator runs them; docs/adaptive.md)");
      adapt_ = std::make_unique<AdaptiveController>(AdaptiveParams::derive(cfg), wp_.mode());
      core_mode_ = std::make_unique<std::atomic<int>[]>(cfg.host.app_cores);
      core_count_ = std::make_unique<std::atomic<std::uint64_t>[]>(cfg.host.app_cores);
      for (int c = 0; c < cfg.host.app_cores; ++c) {
        core_mode_[c].store(static_cast<int>(adapt_->mode(c)));
        core_count_[c].store(0);
      }
      poll_ns_.assign(static_cast<std::size_t>(cfg.host.app_cores), 0);
    }
    module_switch_ = wp_.hands_off_by_switch();
    module_wait_ = wp_.waits_in_module();
    const char* off = std::getenv("FASTWAKE_NO_KMOD");
    if ((module_switch_ || module_wait_) && !(off && *off && std::string(off) != "0"))
      dev_ = FastwakeDevice::open_if_present();  // throws on a wrong module/ABI
    if (!dev_) module_switch_ = module_wait_ = false;
  }

  /// How hand-offs and trimmed waits are done in this run (for results).
  std::string handoff_mechanism() const {
    if (!wp_.runs_dispatchers()) return "-";
    return module_switch_ ? "fastwake.ko switch-to" : "futex + SCHED_IDLE";
  }
  std::string wait_mechanism() const {
    if (wp_.asleep() != WaitPolicy::Asleep::kOnChannel) return "-";
    if (module_wait_) return "fastwake.ko wait, channel attached";
    return wp_.woken_reads_channel() ? "read() on the completion channel"
                                     : "read() on the completion channel (no fastwake.ko)";
  }
  ~ThreadRuntime() { stop(); }

  /// Spawns every thread and waits until each reached its first wait.
  void start() {
    if (wp_.runs_dispatchers())
      for (int c = 0; c < cfg_.host.app_cores; ++c) {
        cores_.push_back(std::make_unique<CoreCtl>());
        dispatchers_.emplace_back([this, c] { dispatcher_main(c); });
      }
    for (int t = 0; t < n_; ++t) threads_.emplace_back([this, t] { app_main(t); });
    if (adapt_) adapt_thread_ = std::thread([this] { adapt_main(); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ready_.load() < n_) {
      if (std::chrono::steady_clock::now() > deadline)
        throw DeviceError("threads did not start within 10 s (" + std::to_string(ready_.load()) +
                          " of " + std::to_string(n_) + " ready)");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  /// Moves thread t to app core `to` (control thread only).
  void migrate(ThreadId t, CoreId to) {
    const CoreId from = slots_[t].core;
    if (from == to) return;
    if (wp_.on_migrate() == WaitPolicy::Move::kMoveDispatcherEntry) {  // (adaptive: refused)
      post_op(from, {false, t});
      post_op(to, {true, t});
    }
    slots_[t].core = to;
    pin_thread(static_cast<unsigned long>(threads_[t].native_handle()), opt_.app_cpus[to]);
  }

  /// Stops and joins every thread (idempotent).
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    stop_.store(true);
    nic_.shutdown_waiters();
    for (auto& c : cores_) {  // a parked dispatcher (adaptive)
      c->park.word.fetch_add(1);
      c->park.wake_one();
    }
    if (adapt_thread_.joinable()) adapt_thread_.join();
    for (int t = 0; t < n_; ++t) {
      slots_[t].fx.word.store(1);
      slots_[t].fx.wake_one();
      if (dev_ && slots_[t].tid > 0) (void)dev_->wake(slots_[t].tid);
    }
    for (auto& th : threads_)
      if (th.joinable()) th.join();
    for (auto& th : dispatchers_)
      if (th.joinable()) th.join();
  }

  std::uint64_t handoffs() const { return handoffs_.load(); }
  /// fastwake_adaptive's decisions and switches in this run (null otherwise; after stop()).
  nlohmann::json adaptive_report(Nanos ws, Nanos we) const {
    if (!adapt_) return nullptr;
    nlohmann::json a = adapt_->to_json();
    std::lock_guard<std::mutex> g(adapt_mu_);
    std::uint64_t in_win = 0;
    for (const auto& [t, core, to] : switch_log_) in_win += t >= ws && t < we;
    nlohmann::json share = nlohmann::json::array();
    for (int c = 0; c < cfg_.host.app_cores; ++c) {
      // time in poll mode inside [ws, we): replay the switch log
      Nanos since = wp_.mode() == WaitMode::kBlock ? -1 : ws, total = 0;
      for (const auto& [t, core, to] : switch_log_) {
        if (core != c) continue;
        const Nanos at = std::clamp(t, ws, we);
        if (to == WaitMode::kBlock && since >= 0) total += at - since, since = -1;
        if (to != WaitMode::kBlock && since < 0) since = at;
      }
      if (since >= 0) total += we - since;
      share.push_back(static_cast<double>(total) / static_cast<double>(we - ws));
    }
    a["poll_share"] = std::move(share);
    a["switches_in_window"] = in_win;
    a["switches_per_s"] = static_cast<double>(in_win) / (static_cast<double>(we - ws) * 1e-9);
    a["max_switches_per_s"] = static_cast<double>(cfg_.host.app_cores) * 1e9 /
                              static_cast<double>(adapt_->params().window_ns);
    a["releases"] = releases_.load();
    return a;
  }
  /// Core thread t is placed on now (control thread).
  CoreId thread_core(ThreadId t) const { return slots_[t].core; }
  /// Completions the application threads took from their CQs (after stop()).
  std::uint64_t served() const {
    std::uint64_t n = 0;
    for (int t = 0; t < n_; ++t) n += slots_[t].served;
    return n;
  }
  /// Kernel thread ids of the application threads and the dispatchers
  /// (after start(); for /proc/self/task/<tid>/status).
  std::vector<pid_t> app_tids() const {
    std::vector<pid_t> v;
    for (int t = 0; t < n_; ++t) v.push_back(slots_[t].os_tid.load());
    return v;
  }
  std::vector<pid_t> dispatcher_tids() const {
    std::vector<pid_t> v;
    for (const auto& c : cores_) v.push_back(c->os_tid.load());
    return v;
  }

 private:
  struct alignas(64) Slot {
    Futex fx;
    std::atomic<int> sleeping{0};
    std::atomic<pid_t> tid{0};     // set when registered with fastwake.ko
    std::atomic<pid_t> os_tid{0};  // the kernel's thread id (kernel counts)
    CoreId core = 0;
    std::uint64_t served = 0;  // written by the owner thread only
  };
  struct Op {
    bool add;
    ThreadId t;
  };
  struct CoreCtl {
    std::mutex mu;
    std::vector<Op> ops;
    std::atomic<bool> has_ops{false};
    std::atomic<pid_t> os_tid{0};  // the dispatcher's kernel thread id
    Futex park;                    // adaptive: a parked dispatcher sleeps here
  };

  // ---- fastwake_adaptive
  WaitMode core_mode(CoreId c) const {
    return static_cast<WaitMode>(core_mode_[c].load(std::memory_order_seq_cst));
  }
  /// The controller's thread: ends a window every window_ns, applies the changes.
  void adapt_main() {
    if (opt_.nic_cpu >= 0) pin_self(opt_.nic_cpu);  // off the app CPUs: its wake-ups would preempt them
    const Nanos w = adapt_->params().window_ns;
    std::vector<std::uint64_t> counts(static_cast<std::size_t>(cfg_.host.app_cores));
    Nanos last = mono_now();
    while (!stop_.load(std::memory_order_relaxed)) {
      // A timer sleep overshoots by the timer slack (50 us by default): the
      // counts are scaled to window_ns below instead of spinning here.
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<Nanos>(1, last + w - mono_now())));
      if (stop_.load(std::memory_order_relaxed)) break;
      const Nanos now = mono_now();
      for (int c = 0; c < cfg_.host.app_cores; ++c)
        counts[static_cast<std::size_t>(c)] = core_count_[c].exchange(0);
      // The controller decides on counts per window_ns: scale a late wake-up's.
      const double scale = static_cast<double>(w) / static_cast<double>(std::max<Nanos>(1, now - last));
      for (auto& k : counts) k = static_cast<std::uint64_t>(std::llround(static_cast<double>(k) * scale));
      last = now;
      for (const auto& ch : adapt_->end_window(counts)) {
        {
          std::lock_guard<std::mutex> g(adapt_mu_);
          switch_log_.push_back({now, ch.core, ch.to});
        }
        core_mode_[ch.core].store(static_cast<int>(ch.to), std::memory_order_seq_cst);
        if (ch.to == WaitMode::kBlock) {
          // Release every thread sleeping for a hand-off on the core: each
          // re-enters its wait armed (the exchange makes this and a
          // dispatcher's hand-off exclusive; the thread's own re-check after
          // publishing "asleep" catches one that was just going to sleep).
          for (int t = 0; t < n_; ++t) {
            Slot& s = slots_[t];
            if (s.core != ch.core || !s.sleeping.exchange(0, std::memory_order_acq_rel)) continue;
            s.fx.word.store(2, std::memory_order_release);  // 2: released, no hand-off
            if (module_switch_) (void)dev_->wake(s.tid.load());
            else s.fx.wake_one();
            releases_.fetch_add(1, std::memory_order_relaxed);
          }
        } else {
          CoreCtl& ctl = *cores_[ch.core];
          ctl.park.word.fetch_add(1, std::memory_order_seq_cst);
          ctl.park.wake_one();
        }
      }
    }
  }

  void post_op(CoreId c, Op op) {
    std::lock_guard<std::mutex> g(cores_[c]->mu);
    cores_[c]->ops.push_back(op);
    cores_[c]->has_ops.store(true, std::memory_order_release);
  }

  void announce(bool& done) {
    if (!done) {
      done = true;
      ready_.fetch_add(1);
    }
  }

  void app_main(int t) {
    pin_self(opt_.app_cpus[slots_[t].core]);
    Slot& me = slots_[t];
    me.os_tid.store(current_os_tid());
    const ThreadLoop loop = wp_.loop();
    WaitMode mode = wp_.mode();  // adaptive: the mode of its last wait
    bool announced = false;
    const bool use_module = module_switch_ || module_wait_;
    if (use_module) {
      dev_->register_thread();
      me.tid.store(FastwakeDevice::current_tid());
      if (module_wait_ && nic_.channel_fd(t) >= 0) dev_->attach(nic_.channel_fd(t));
    }
    unsigned waits = 0;
    Completion cur{};
    Step step = loop.first();
    while (!stop_.load(std::memory_order_relaxed)) {
      bool found = false;
      switch (step) {
        case Step::kPoll:
          found = nic_.poll(t, &cur);
          me.served += found;
          if (found && adapt_) core_count_[me.core].fetch_add(1, std::memory_order_relaxed);
          break;
        case Step::kServe: {
          const Nanos d = service_.draw(t);  // this thread's own stream
          trace(opt_.trace, Decision::Kind::kServe, t, d);
          if (d > 0) spin_until(mono_now() + d);
          break;
        }
        case Step::kPost:
          nic_.post_reply(t, cur);
          break;
        case Step::kArm:
          nic_.arm(t);
          break;
        case Step::kWait:
          announce(announced);
          if (module_wait_) {
            // Token semantics: an event after the arm and before this wait
            // leaves the token set, so the wait returns at once (no loss).
            // The events these waits consumed stay queued in the channel:
            // drain them after the reply, before waiting (off the latency path).
            if (waits >= static_cast<unsigned>(kModuleDrainEvery)) {
              nic_.drain_channel(t);
              waits = 0;
            }
            while (dev_->wait() == std::errc::interrupted) {
            }
            if (stop_.load()) return;
            ++waits;
          } else if (!nic_.wait_event(t)) {
            return;
          }
          break;
        case Step::kSpin:
          announce(announced);
          while (!nic_.cq_ready(t)) {
            if (stop_.load(std::memory_order_relaxed)) return;
            cpu_relax();
          }
          break;
        case Step::kYieldDispatcher:
          // First publish "asleep", then sleep until the dispatcher hands over.
          me.fx.word.store(0, std::memory_order_relaxed);
          me.sleeping.store(1, std::memory_order_seq_cst);
          announce(announced);
          // adaptive: the core may have left polling meanwhile (its
          // dispatcher parked): take ourselves back unless someone was faster.
          if (adapt_ && core_mode(me.core) == WaitMode::kBlock &&
              me.sleeping.exchange(0, std::memory_order_acq_rel)) {
            releases_.fetch_add(1, std::memory_order_relaxed);
            break;
          }
          while (me.fx.word.load(std::memory_order_acquire) == 0) {
            if (module_switch_) {
              (void)dev_->wait();  // the dispatcher's switch-to sets our token
            } else {
              me.fx.wait(0);
            }
          }
          if (stop_.load()) return;
          break;
      }
      if (adapt_ && step == Step::kPoll && !found) {
        const WaitMode m = core_mode(me.core);  // the wait boundary: take the core's mode
        step = next_wait_step(mode, m);
        mode = m;
      } else {
        step = loop.next(step, found);
      }
    }
  }

  void dispatcher_main(int c) {
    pin_self(opt_.app_cpus[c]);
    cores_[c]->os_tid.store(current_os_tid());
    try {
      set_sched_idle_self();
    } catch (const DeviceError&) {
      // Without SCHED_IDLE a woken thread waits for the dispatcher's slice;
      // the run still works (and the result shows it).
    }
    Dispatcher d(c);
    for (int t = 0; t < n_; ++t)
      if (slots_[t].core == c) d.add(t, t);
    const Slot* slots = slots_.get();
    const ReadyWhileAsleep view{
        nic_, [slots](CqId cq) { return slots[cq].sleeping.load(std::memory_order_acquire) != 0; }};
    CoreCtl& ctl = *cores_[c];
    while (!stop_.load(std::memory_order_relaxed)) {
      if (adapt_ && core_mode(c) == WaitMode::kBlock) {
        // Parked: the core waits with interrupts until the controller wakes us.
        const std::uint32_t seq = ctl.park.word.load(std::memory_order_seq_cst);
        if (core_mode(c) == WaitMode::kBlock && !stop_.load()) ctl.park.wait(seq);
        continue;
      }
      if (ctl.has_ops.load(std::memory_order_acquire)) {
        std::lock_guard<std::mutex> g(ctl.mu);
        for (const Op& op : ctl.ops) op.add ? d.add(op.t, op.t) : static_cast<void>(d.remove(op.t));
        ctl.ops.clear();
        ctl.has_ops.store(false);
      }
      if (const auto h = d.poll_once(view)) {
        Slot& s = slots_[h->thread];
        if (s.sleeping.exchange(0, std::memory_order_acq_rel)) {
          trace(opt_.trace, Decision::Kind::kHandOff, h->cq, h->thread, c);
          s.fx.word.store(1, std::memory_order_release);
          if (module_switch_) {
            (void)dev_->switch_to(s.tid.load());  // runs it now on this CPU
          } else {
            s.fx.wake_one();  // a normal thread preempts this SCHED_IDLE one at once
          }
          handoffs_.fetch_add(1, std::memory_order_relaxed);
        }
      }
    }
  }

  const Config& cfg_;
  const StrategySpec& s_;
  const WaitPolicy wp_;  // every "how does this strategy wait" decision
  NicT& nic_;
  HwOptions opt_;
  int n_;
  Placement placement_;
  ServiceClock service_;
  std::unique_ptr<Slot[]> slots_;
  std::vector<std::unique_ptr<CoreCtl>> cores_;
  std::vector<std::thread> threads_, dispatchers_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ready_{0};
  std::atomic<std::uint64_t> handoffs_{0};
  bool stopped_ = false;
  std::optional<FastwakeDevice> dev_;
  bool module_switch_ = false, module_wait_ = false;
  // fastwake_adaptive (null otherwise)
  std::unique_ptr<AdaptiveController> adapt_;
  std::unique_ptr<std::atomic<int>[]> core_mode_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> core_count_;
  std::vector<Nanos> poll_ns_;
  std::thread adapt_thread_;
  mutable std::mutex adapt_mu_;
  std::vector<std::tuple<Nanos, int, WaitMode>> switch_log_;
  std::atomic<std::uint64_t> releases_{0};
};

}  // namespace fastwake::hw
