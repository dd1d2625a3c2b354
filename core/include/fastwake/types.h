// Basic vocabulary shared by every layer: time, identifiers, request stages.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace fastwake {

/// Time everywhere in the toolkit: signed 64-bit nanoseconds (sim time or
/// CLOCK_MONOTONIC on real hosts).
using Nanos = std::int64_t;

using CoreId = int;
using ThreadId = int;  ///< application thread index, 0..threads-1
using CqId = int;      ///< one CQ per application thread; equals its ThreadId
using VectorId = int;  ///< completion vector (EQ -> MSI-X IRQ)

inline constexpr CoreId kNoCore = -1;
inline constexpr ThreadId kNoThread = -1;

/// Where a request's time goes. Every nanosecond of a request's round trip is
/// attributed to exactly one stage, so the per-stage means add up to the mean
/// latency (tests check this).
enum class Stage : std::uint8_t {
  kWire,     ///< client software + link to the server NIC
  kNicRx,    ///< NIC receive + CQE DMA
  kIrq,      ///< MSI-X delivery, C-state exit of the IRQ core, hardirq, softirq
  kHandler,  ///< completion handler (uverbs: lock + event allocation; or fastwake's)
  kWakeup,   ///< try-to-wake-up: local enqueue, or IPI + remote C-state exit + IPI handler
  kWaitCpu,  ///< runnable but the CPU is busy (run queue, time slice, preempted by IRQs)
  kSched,    ///< scheduler pick + context switch, or the fast-path switch
  kRead,     ///< return from read() on the completion channel (lock, copy, free)
  kRearm,    ///< ack + re-arm the CQ
  kPoll,     ///< polling: finding the CQE (busy poll, dispatcher scan, drain poll)
  kQueue,    ///< CQE waits while its thread serves earlier requests
  kService,  ///< application service time
  kTx,       ///< post reply + NIC transmit + link back + client receive
  kCount
};

inline constexpr std::size_t kStageCount = static_cast<std::size_t>(Stage::kCount);

inline constexpr std::array<std::string_view, kStageCount> kStageNames = {
    "wire", "nic_rx", "irq",  "handler", "wakeup",  "wait_cpu", "sched",
    "read", "rearm",  "poll", "queue",   "service", "tx"};

constexpr std::string_view stage_name(Stage s) { return kStageNames[static_cast<std::size_t>(s)]; }

}  // namespace fastwake
