// Linux mechanisms for the real backends: clock, pinning, scheduling classes,
// futex waits, CPU accounting from /proc/stat, IRQ affinity, RAPL energy.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fastwake/types.h"

namespace fastwake::hw {

/// CLOCK_MONOTONIC in ns (vDSO, ~25 ns). Any thread.
Nanos mono_now();

/// Pins the calling thread to one CPU. Throws DeviceError (naming the CPU).
void pin_self(int cpu);
/// Pins another thread (by pthread handle). Throws DeviceError.
void pin_thread(unsigned long pthread_handle, int cpu);
/// SCHED_IDLE for the calling thread: any normal thread that becomes
/// runnable on its CPU preempts it at once (the dispatcher's fallback path).
void set_sched_idle_self();

/// CPUs this process may run on (sched_getaffinity), ascending.
std::vector<int> usable_cpus();

/// Spin-wait hint.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Busy-waits until mono_now() >= t (application service time).
void spin_until(Nanos t);

/// A 32-bit futex word: wait while it holds `expected`, wake one waiter.
/// Thread-safe; wait() may return spuriously (callers re-check in a loop).
struct Futex {
  std::atomic<std::uint32_t> word{0};
  void wait(std::uint32_t expected);
  /// Returns how many waiters FUTEX_WAKE woke (0 or 1; 0 also on error).
  int wake_one();
};

/// Per-CPU busy/total time from /proc/stat (USER_HZ ticks).
struct CpuTimes {
  std::vector<std::uint64_t> busy, total;  // index = CPU id
};
CpuTimes read_cpu_times();
/// Busy fraction of the given CPUs between two readings (mean over CPUs).
double cpu_busy_fraction(const CpuTimes& a, const CpuTimes& b, std::span<const int> cpus);

/// Sum of the RAPL package energy counters in joules, or nullopt when the
/// machine has no readable powercap/intel-rapl (VMs, non-root, ARM).
std::optional<double> read_rapl_energy_j();

/// Re-pins an IRQ: writes CPU to /proc/irq/IRQ/smp_affinity_list. Returns an
/// error text (empty on success) instead of throwing: the remapper's lever is
/// best effort (managed IRQs refuse, non-root cannot write).
std::string set_irq_affinity(int irq, int cpu);

/// One-line description of this machine (CPU model, cores, kernel).
std::string machine_description();

}  // namespace fastwake::hw
