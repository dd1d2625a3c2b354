// What this host's kernel counts while a real-thread run executes: the IPI
// rows of /proc/interrupts per CPU (CAL "Function call interrupts", RES
// "Rescheduling interrupts"), every thread's voluntary / nonvoluntary context
// switches (/proc/self/task/<tid>/status) and the cpuidle state entries per
// CPU (/sys/devices/system/cpu/cpuN/cpuidle/stateK/usage). Read at the start
// and the end of the measurement window; the differences, per request, sit
// next to the model's counters of the same name (docs/hw.md "Kernel counts").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/types.h"

namespace fastwake::hw {

/// One /proc/interrupts row per CPU (index = CPU id; empty if the row is absent).
struct IpiCounts {
  std::vector<std::uint64_t> cal, res;
};
IpiCounts read_ipi_counts();

/// voluntary_ctxt_switches / nonvoluntary_ctxt_switches of one thread of this
/// process and its time on a CPU (/proc/self/task/<tid>/schedstat, ns);
/// zeros if the thread is gone.
struct TaskSwitches {
  std::uint64_t vol = 0, invol = 0, runtime_ns = 0;
};
TaskSwitches read_task_switches(pid_t tid);

/// The calling thread's kernel thread id.
pid_t current_os_tid();

/// cpuidle state names and entry counts of one CPU (empty without cpuidle).
struct IdleUsage {
  std::vector<std::string> names;
  std::vector<std::uint64_t> usage;
};
IdleUsage read_idle_usage(int cpu);

/// This host's idle driver and governor and whether its idle loop ever polls
/// (TIF_POLLING_NRFLAG set, so a remote wake-up needs no IPI): a JSON object
/// {"driver", "governor", "guest_halt_poll_ns" (haltpoll only), "polls":
/// bool, "reason": text}.
nlohmann::json host_idle_description();

/// Whether sched tracepoints can be read here: "available" or why not.
std::string tracing_status();

/// Groups of threads whose switches are summed separately.
struct TidGroups {
  std::vector<pid_t> app, dispatchers, irq_threads;
  pid_t nic = 0;
};

/// Everything read at one instant.
struct KernelSnapshot {
  IpiCounts ipis;
  std::map<pid_t, TaskSwitches> tasks;
  std::vector<IdleUsage> idle;  // per CPU id of `cpus` (same order)
};
KernelSnapshot take_kernel_snapshot(const TidGroups& g, std::span<const int> cpus);

/// CPU time (ns) the threads `tids` ran between two snapshots.
std::uint64_t runtime_between(const KernelSnapshot& a, const KernelSnapshot& b,
                              const std::vector<pid_t>& tids);

/// The window's differences: {"per_request": {...model-named figures...},
/// "kernel_counts": ...}; IPIs are summed over `app_cpus` and `nic_cpu` (the
/// loopback's NIC thread; -1: none, as on a verbs server).
/// Raw per-CPU and per-group deltas go to "kernel_counts". `requests` divides;
/// `emulator` carries the loopback's own counts of the window (interrupts,
/// irq_thread_wakeups, local_signals, remote_signals) to add per request.
/// `baseline` (optional, may be null): {"seconds", "cal": [per cpu], "res": [...]}
/// measured with no thread of the run alive, scaled to the window.
nlohmann::json kernel_count_report(const KernelSnapshot& a, const KernelSnapshot& b,
                                   const TidGroups& g, std::span<const int> app_cpus, int nic_cpu,
                                   std::uint64_t requests, double window_s,
                                   const nlohmann::json& emulator, const nlohmann::json& baseline);

/// CAL/RES of `cpus` over `seconds` of this process doing nothing (the
/// shared machine's background): {"seconds", "cpus", "cal", "res"} deltas.
nlohmann::json measure_ipi_baseline(std::span<const int> cpus, double seconds);

/// How often other tasks take each of `cpus` from a thread of ours: a normal
/// (nice 0) thread pinned to each spins for `seconds`, as a busy-polling
/// application thread does, and its nonvoluntary switches (other tasks'
/// wake-up preemptions and time slices there) are counted: {"seconds",
/// "cpus", "preemptions": total over the CPUs}. (A SCHED_IDLE spinner would
/// undercount: while a normal task runs it is starved, not preempted again.)
nlohmann::json measure_preemption_baseline(std::span<const int> cpus, double seconds);

}  // namespace fastwake::hw
