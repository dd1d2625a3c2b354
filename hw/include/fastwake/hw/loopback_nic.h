// Loopback NIC: a NIC emulated by a thread on its own CPU for machines without
// RDMA. It plays the clients (closed-loop ping-pong, Poisson per connection,
// or a script), writes completions into shared-memory CQ rings, and raises the
// "interrupt" of an armed CQ by writing its eventfd — the same VFS read +
// wait-queue path that the uverbs completion channel uses. Replies come back
// through per-connection rings that the NIC thread polls and timestamps.
//
// The IRQ lever (docs/hw.md): each vector's interrupt is "taken" by a core.
// A vector on an application core is signalled by that core's IRQ thread
// (pinned there, SCHED_FIFO where allowed): the NIC thread hands it the CQ
// (a cross-CPU futex wake: the MSI-X message) and the IRQ thread writes the
// eventfd on the application core, so the waiter's wake-up is local, as
// after a real IRQ on that core. A vector on any other core is signalled by
// the NIC thread itself (its CPU stands for every core that runs no
// application thread): the wake-up is remote. The initial placement is
// core's stock placement (host.irq_placement); the remap driver moves it.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "fastwake/config.h"
#include "fastwake/decision_trace.h"
#include "fastwake/histogram.h"
#include "fastwake/hw/hw_nic.h"
#include "fastwake/hw/linux_cpu.h"
#include "fastwake/hw/runtime.h"
#include "fastwake/hw/spsc_ring.h"

namespace fastwake::hw {

class LoopbackNic final : public HwNic {
 public:
  /// One CQ per application thread of `cfg`; the NIC thread will run on
  /// opt.nic_cpu, the IRQ threads on opt.app_cpus (resolved options).
  /// Throws DeviceError if eventfds cannot be created.
  LoopbackNic(const Config& cfg, const HwOptions& opt);
  ~LoopbackNic() override;
  LoopbackNic(const LoopbackNic&) = delete;
  LoopbackNic& operator=(const LoopbackNic&) = delete;

  // Nic
  int num_vectors() const override { return static_cast<int>(vector_core_.size()); }
  CoreId vector_core(VectorId v) const override {
    return vector_core_.at(v).load(std::memory_order_relaxed);
  }
  /// Takes effect for the next interrupt of the vector (any thread).
  void set_vector_core(VectorId v, CoreId c) override {
    vector_core_.at(v).store(c, std::memory_order_relaxed);
  }
  VectorId cq_vector(CqId cq) const override { return cq_vector_[cq]; }
  bool cq_ready(CqId cq) const override { return cqs_[cq]->ring.nonempty(); }
  void arm(CqId cq) override;

  // HwNic
  bool poll(CqId cq, Completion* out) override { return cqs_[cq]->ring.pop(out); }
  void post_reply(CqId cq, const Completion& c) override;
  bool wait_event(CqId cq) override;
  int channel_fd(CqId cq) const override { return cqs_[cq]->efd; }
  void shutdown_waiters() override;
  void drain_channel(CqId cq) override;

  /// Scripted workloads: how the NIC thread carries out a "migrate" step
  /// (the run's migrate + remap). Set before start().
  void on_migrate(std::function<void(ThreadId, CoreId)> f) { migrate_ = std::move(f); }
  /// Starts the NIC thread; clients send from `t0` (CLOCK_MONOTONIC ns) on.
  /// The measurement window is [t0 + warmup, t0 + warmup + duration).
  void start(Nanos t0);
  /// Waits for the NIC thread: window over and every request answered, or
  /// HwOptions::drain_s after the window (then stats().drained is false).
  void join();

  struct Stats {
    Histogram hist;  // latency of requests sent in the window
    std::uint64_t sent = 0, completed = 0;
    std::uint64_t measured = 0;  // requests sent in the window and answered
    std::uint64_t completed_in_window = 0;
    std::uint64_t interrupts = 0;   // eventfd writes
    std::uint64_t local_irqs = 0;   // of those, written by an app core's IRQ thread
    std::uint64_t ring_full = 0;    // sends skipped because a CQ ring was full
    std::uint64_t bad_replies = 0;  // duplicate or out-of-order replies (must stay 0)
    std::uint64_t late = 0;         // replies later than kLateAfterS after the window
    bool drained = true;
  };
  /// Valid after join().
  const Stats& stats() const { return stats_; }

  /// The emulator's own counts, readable at any time (the window's kernel
  /// counts are taken around them): requests answered, eventfd writes by the NIC thread (from
  /// outside the app cores: remote_signals) and by an app core's IRQ thread
  /// (local_signals), and the IRQ threads' futex wake-ups that found one
  /// asleep (irq_thread_wakeups: FUTEX_WAKE's return value).
  struct LiveCounts {
    std::uint64_t completed, interrupts, local_signals, remote_signals, irq_thread_wakeups;
  };
  LiveCounts live_counts() const {
    return {n_completed_.load(std::memory_order_relaxed),
            n_interrupts_.load(std::memory_order_relaxed),
            n_local_signals_.load(std::memory_order_relaxed),
            n_remote_signals_.load(std::memory_order_relaxed),
            n_irq_wakeups_.load(std::memory_order_relaxed)};
  }
  /// Kernel thread ids of the IRQ threads (from construction) and the NIC
  /// thread (after start(); 0 before it runs).
  std::vector<pid_t> irq_thread_tids() const;
  pid_t nic_tid() const { return nic_tid_.load(); }

 private:
  struct alignas(64) Cq {
    SpscRing<Completion> ring{1 << 14};     // NIC -> application
    SpscRing<Completion> replies{1 << 14};  // application -> NIC
    alignas(64) std::atomic<int> armed{0};
    int efd = -1;
  };
  /// The thread that takes the interrupts of vectors placed on one app core.
  struct alignas(64) IrqCore {
    SpscRing<int> pending{1 << 14};  // CQs to signal; producer: the NIC thread
    Futex fx;                        // word 1: work posted
    std::thread thread;
    std::atomic<std::uint64_t> signalled{0};
    std::atomic<pid_t> os_tid{0};
  };
  void nic_loop(Nanos t0);
  void irq_main(int core);
  void raise(CqId cq);

  const Config& cfg_;
  HwOptions opt_;
  std::vector<std::unique_ptr<Cq>> cqs_;
  std::vector<VectorId> cq_vector_;
  std::vector<std::atomic<CoreId>> vector_core_;
  std::vector<std::unique_ptr<IrqCore>> irq_;
  std::function<void(ThreadId, CoreId)> migrate_;
  std::atomic<bool> shutdown_{false};
  std::thread thread_;
  Stats stats_;
  std::atomic<std::uint64_t> n_completed_{0}, n_interrupts_{0}, n_local_signals_{0},
      n_remote_signals_{0}, n_irq_wakeups_{0};
  std::atomic<pid_t> nic_tid_{0};
};

}  // namespace fastwake::hw
