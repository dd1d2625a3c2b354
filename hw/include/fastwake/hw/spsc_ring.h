// Single-producer single-consumer ring in shared memory (the loopback NIC's
// CQs and reply queues). Producer writes the slot, then publishes `tail`
// with release; the consumer reads `tail` with acquire. Head and tail live on
// separate cache lines so the two sides do not false-share.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fastwake::hw {

template <class T>
class SpscRing {
 public:
  explicit SpscRing(std::size_t capacity_pow2 = 1024)
      : mask_(capacity_pow2 - 1), slots_(capacity_pow2) {}

  /// Producer only. False when full.
  bool push(const T& v) {
    const std::uint64_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_cache_ > mask_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t - head_cache_ > mask_) return false;
    }
    slots_[t & mask_] = v;
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }
  /// Consumer only. False when empty.
  bool pop(T* out) {
    const std::uint64_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (h == tail_cache_) return false;
    }
    *out = slots_[h & mask_];
    head_.store(h + 1, std::memory_order_release);
    return true;
  }
  /// Any thread: true if an element is (or was just) available.
  bool nonempty() const {
    return tail_.load(std::memory_order_acquire) != head_.load(std::memory_order_acquire);
  }

 private:
  const std::uint64_t mask_;
  std::vector<T> slots_;
  alignas(64) std::atomic<std::uint64_t> head_{0};
  std::uint64_t tail_cache_ = 0;  // consumer's copy
  alignas(64) std::atomic<std::uint64_t> tail_{0};
  std::uint64_t head_cache_ = 0;  // producer's copy
};

}  // namespace fastwake::hw
