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

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

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
    if (wp_.on_migrate() == WaitPolicy::Move::kMoveDispatcherEntry) {
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
  };

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
      step = loop.next(step, found);
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
};

}  // namespace fastwake::hw
