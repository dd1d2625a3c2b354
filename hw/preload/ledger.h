// Event accounting rule of the preload shim (header-only so unit tests can
// check it without a NIC): how an application's ibv_ack_cq_events(cq, n) is
// split between events the kernel reported (forwarded to libibverbs, whose
// ibv_destroy_cq waits until they are all acked) and events the shim
// emulated (acked in the shim only; forwarding them would make
// ibv_destroy_cq wait forever for acks the kernel never expects).
#pragma once

#include <algorithm>
#include <cstdint>

namespace fastwake::preload {

struct AckSplit {
  std::uint32_t real = 0;  ///< forward to the real ibv_ack_cq_events
  std::uint32_t emu = 0;   ///< acknowledge emulated events
  std::uint32_t over =
      0;  ///< more acks than events delivered (an application bug): dropped, counted
};

/// Real events first: libibverbs only compares totals at destroy time, so any
/// order works as long as every delivered event is acked once; taking real
/// ones first keeps the kernel's count settled as early as possible.
inline AckSplit split_ack(std::uint32_t n, std::uint64_t real_pending, std::uint64_t emu_pending) {
  AckSplit s;
  s.real = static_cast<std::uint32_t>(std::min<std::uint64_t>(n, real_pending));
  s.emu = static_cast<std::uint32_t>(std::min<std::uint64_t>(n - s.real, emu_pending));
  s.over = n - s.real - s.emu;
  return s;
}

}  // namespace fastwake::preload
