// Loopback NIC: a NIC emulated by a thread on its own CPU for machines without
// RDMA. It plays the clients (closed-loop ping-pong or Poisson per
// connection), writes completions into shared-memory CQ rings, and raises the
// "interrupt" of an armed CQ by writing its eventfd — the same VFS read +
// wait-queue path that the uverbs completion channel uses. Replies come back
// through per-connection rings that the NIC thread polls and timestamps.
//
// Limitation (documented in docs/hw.md): every interrupt is raised from the
// NIC thread's CPU, so vector placement (set_vector_core) is recorded but has
// no effect — the loopback has no lever for the affinity remapper.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "fastwake/config.h"
#include "fastwake/histogram.h"
#include "fastwake/hw/hw_nic.h"
#include "fastwake/hw/spsc_ring.h"

namespace fastwake::hw {

class LoopbackNic final : public HwNic {
 public:
  /// One CQ per application thread of `cfg`; the NIC thread will run on
  /// `nic_cpu`. Throws DeviceError if eventfds cannot be created.
  LoopbackNic(const Config& cfg, int nic_cpu);
  ~LoopbackNic() override;
  LoopbackNic(const LoopbackNic&) = delete;
  LoopbackNic& operator=(const LoopbackNic&) = delete;

  // Nic
  int num_vectors() const override { return static_cast<int>(vector_core_.size()); }
  CoreId vector_core(VectorId v) const override { return vector_core_.at(v); }
  void set_vector_core(VectorId v, CoreId c) override { vector_core_.at(v) = c; }
  VectorId cq_vector(CqId cq) const override { return cq % num_vectors(); }
  bool cq_ready(CqId cq) const override { return cqs_[cq]->ring.nonempty(); }
  void arm(CqId cq) override;

  // HwNic
  bool poll(CqId cq, Completion* out) override { return cqs_[cq]->ring.pop(out); }
  void post_reply(CqId cq, const Completion& c) override;
  bool wait_event(CqId cq) override;
  int channel_fd(CqId cq) const override { return cqs_[cq]->efd; }
  void shutdown_waiters() override;
  void drain_channel(CqId cq) override;

  /// Starts the NIC thread; clients send from `t0` (CLOCK_MONOTONIC ns) on.
  /// The measurement window is [t0 + warmup, t0 + warmup + duration).
  void start(Nanos t0);
  /// Waits for the NIC thread: window over and every request answered, or
  /// `drain_timeout` after the window (then drained() is false).
  void join();

  struct Stats {
    Histogram hist;                      // latency of requests sent in the window
    std::uint64_t sent = 0, completed = 0;
    std::uint64_t measured = 0;          // requests sent in the window and answered
    std::uint64_t completed_in_window = 0;
    std::uint64_t interrupts = 0;        // eventfd writes
    std::uint64_t ring_full = 0;         // sends skipped because a CQ ring was full
    std::uint64_t bad_replies = 0;       // duplicate or out-of-order replies (must stay 0)
    bool drained = true;
  };
  /// Valid after join().
  const Stats& stats() const { return stats_; }

 private:
  struct alignas(64) Cq {
    SpscRing<Completion> ring{1 << 14};      // NIC -> application
    SpscRing<Completion> replies{1 << 14};   // application -> NIC
    alignas(64) std::atomic<int> armed{0};
    int efd = -1;
  };
  void nic_loop(Nanos t0);

  const Config& cfg_;
  int nic_cpu_;
  std::vector<std::unique_ptr<Cq>> cqs_;
  std::vector<CoreId> vector_core_;
  std::atomic<bool> shutdown_{false};
  std::thread thread_;
  Stats stats_;
};

}  // namespace fastwake::hw
