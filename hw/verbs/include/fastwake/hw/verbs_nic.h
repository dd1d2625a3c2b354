// The verbs NIC (server side of the replay tool): one RC connection per
// application thread, each with its own receive CQ + completion channel
// created on a chosen completion vector, an unarmed send CQ, and pre-posted
// receive buffers. ThreadRuntime<VerbsNic> runs core's strategies on it.
//
// Ownership of a CQ (what the dispatcher may touch):
//   * The owner thread (ThreadLoop) polls, arms, waits and acks.
//   * cq_ready() may be called by the owner (busy_poll's spin) or by the
//     core's dispatcher (fastwake_poll, only while the owner sleeps). Verbs has
//     no non-consuming peek, so cq_ready() polls one completion into the CQ's
//     stash; poll() always drains the stash first. Both take the CQ's spin
//     lock around "stash + ibv_poll_cq", so completions leave in CQ order and
//     none is taken twice, even when two dispatchers overlap during a
//     migration. The stash is the "not consumed" of Nic::cq_ready.
//   * Events: wait_event() = ibv_get_cq_event; acks are batched (kAckBatch,
//     ack takes a mutex in libibverbs) and the remainder acked at teardown,
//     so ibv_destroy_cq never waits.
//   * Shutdown: shutdown_waiters() sets a flag, then signals (kWakeSignal, a
//     no-op handler without SA_RESTART) every thread still inside
//     ibv_get_cq_event until it has left: the blocking read() returns EINTR.
//     The stock wait path stays a plain blocking read (no extra poll()).
//
// Completion vectors: CQ c goes on vector c % min(host.vectors, device
// vectors), like the model; -X puts every CQ on one vector. For strategies
// with the remapper, a CQ goes on a vector whose IRQ already sits on its
// thread's CPU when there is one (lever 1), and set_vector_core re-pins the
// vector's IRQs through /proc/irq (lever 2). Devices without IRQs (rxe) record
// the remapper's decisions but have no lever (describe() says so).
#pragma once

#include <pthread.h>

#include <array>
#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fastwake/config.h"
#include "fastwake/hw/hw_nic.h"
#include "fastwake/hw/irq_map.h"
#include "fastwake/hw/verbs_device.h"
#include "fastwake/strategy.h"

namespace fastwake::hw {

struct VerbsNicOptions {
  int comp_vector = -1;    ///< -X: every CQ on this vector; -1: spread (see above)
  std::vector<int> irqs;   ///< --irqs: IRQ of vector 0, 1, ... (overrides discovery)
  bool repin_irqs = true;  ///< let set_vector_core write /proc/irq/N/smp_affinity_list
  int rx_depth = 64;       ///< receive buffers posted per connection
  int tx_depth = 64;       ///< send queue depth per connection
};

class VerbsNic final : public HwNic {
 public:
  /// One connection per application thread of `cfg` (thread t on app core
  /// t / threads_per_core = CPU app_cpus[core]). Creates every CQ, channel,
  /// QP (INIT) and posts the receives. Throws DeviceError / ConfigError.
  VerbsNic(VerbsDevice& dev, const Config& cfg, const StrategySpec& s, const VerbsNicOptions& o,
           std::vector<int> app_cpus);
  ~VerbsNic() override;
  VerbsNic(const VerbsNic&) = delete;
  VerbsNic& operator=(const VerbsNic&) = delete;

  // Nic
  int num_vectors() const override { return static_cast<int>(vector_core_.size()); }
  CoreId vector_core(VectorId v) const override { return vector_core_.at(v); }
  void set_vector_core(VectorId v, CoreId c) override;
  VectorId cq_vector(CqId cq) const override { return conns_[cq]->vector; }
  bool cq_ready(CqId cq) const override;
  void arm(CqId cq) override;

  // HwNic
  bool poll(CqId cq, Completion* out) override;
  void post_reply(CqId cq, const Completion& c) override;
  bool wait_event(CqId cq) override;
  int channel_fd(CqId cq) const override { return conns_[cq]->channel->fd; }
  void shutdown_waiters() override;
  /// With fastwake.ko's attached channel nobody read()s the channel: take and
  /// ack the queued events without blocking (uverbs allocates one per event).
  void drain_channel(CqId cq) override;

  /// This side's QP addresses, index = connection (for the side channel).
  std::vector<QpInfo> local_qps() const;
  /// Moves every QP to RTS against the peer's addresses. Throws DeviceError.
  void connect(const std::vector<QpInfo>& remote);

  struct Totals {
    std::uint64_t served = 0;   ///< requests taken by poll()
    std::uint64_t replies = 0;  ///< replies posted
    std::uint64_t events = 0;   ///< completion events read (ibv_get_cq_event)
    std::uint64_t acks = 0;     ///< events acknowledged (== events after finish())
    std::uint64_t arms = 0;     ///< ibv_req_notify_cq calls
    std::uint64_t stashed = 0;  ///< completions cq_ready() moved into a stash
    std::uint64_t errors = 0;   ///< error completions, failed posts, foreign events
    std::uint64_t left_in_stash = 0;
    std::string first_error;
  };
  /// Acks every outstanding event and sums the counters. Call after every
  /// application thread has stopped.
  Totals finish();

  /// Vectors, IRQs, lever, the CQ -> vector map and IRQ moves (result extra).
  nlohmann::json describe() const;

 private:
  static constexpr int kStash = 16;
  static constexpr int kAckBatch = 16;
  static constexpr int kSignalEvery = 16;

  struct alignas(64) Conn {
    ibv_comp_channel* channel = nullptr;
    ibv_cq* cq = nullptr;       // receive CQ, armed, on `vector`
    ibv_cq* send_cq = nullptr;  // never armed; reaped by the owner
    ibv_qp* qp = nullptr;
    std::uint32_t psn = 0;
    VectorId vector = 0;
    char* recv_base = nullptr;
    char* send_base = nullptr;
    std::uint32_t max_inline = 0;
    // Shared with dispatcher peeks (see the header comment).
    mutable std::atomic<bool> lock{false};
    mutable std::array<ibv_wc, kStash> stash{};
    mutable int stash_head = 0, stash_count = 0;  // under lock
    mutable std::atomic<int> stash_n{0};          // == stash_count, readable without the lock
    mutable std::atomic<std::uint64_t> stashed{0};
    // Shutdown hand-shake with shutdown_waiters().
    std::atomic<int> in_wait{0};
    std::atomic<pthread_t> waiter{};
    // Owner thread only.
    std::uint64_t served = 0, replies = 0, events = 0, acks = 0, arms = 0, errors = 0;
    std::uint64_t send_posted = 0, send_done = 0;  // send WRs posted / known complete
    unsigned unacked = 0;
    std::string first_error;
  };

  void create_connections(const std::vector<VectorId>& cq_vec);
  void destroy_all();
  void lock(const Conn& c) const;
  void unlock(const Conn& c) const { c.lock.store(false, std::memory_order_release); }
  void record_error(Conn& c, const std::string& what);
  void reap_sends(Conn& c, bool must_progress);
  void post_recv(Conn& c, std::uint64_t slot);

  VerbsDevice& dev_;
  const Config& cfg_;
  const StrategySpec& s_;
  VerbsNicOptions opt_;
  std::vector<int> app_cpus_;
  std::size_t slot_bytes_;
  std::unique_ptr<VerbsBuffer> buf_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<CoreId> vector_core_;
  IrqMap irq_map_;
  std::string vector_choice_;
  std::atomic<bool> shutdown_{false};
  // set_vector_core bookkeeping (control thread only).
  int irq_moves_ = 0, moves_without_lever_ = 0;
  std::vector<std::string> irq_errors_;
  bool finished_ = false;
};

}  // namespace fastwake::hw
