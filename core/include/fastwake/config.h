// Run configuration: platform cost profile + host + workload + strategies,
// loaded from JSON and validated with path-precise errors (ConfigError whose
// message starts with the offending key, e.g. "workload.threads_per_core:").
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/adaptive.h"
#include "fastwake/placement.h"
#include "fastwake/remapper.h"
#include "fastwake/types.h"
#include "fastwake/workload.h"

namespace fastwake {

/// One idle state of a core, as cpuidle describes it.
struct CState {
  std::string name;
  Nanos exit_latency_ns = 0;
  Nanos target_residency_ns = 0;
  double power_w = 0;
  /// The idle loop sets TIF_POLLING_NRFLAG in this state (POLL, MWAIT): a
  /// remote wake-up needs no IPI (kernel/sched/core.c set_nr_if_polling).
  bool polling = false;
};

/// A platform cost profile. Every number comes from configs/platforms/*.json
/// where it carries a source or is marked as an estimate (`sources` keeps
/// that text, keyed by the parameter's JSON path inside the profile).
struct Platform {
  std::string name;
  std::string description;

  // Link and NIC (per direction unless noted).
  Nanos link_latency_ns = 0;   ///< propagation + switch, one way
  double link_gbps = 100;      ///< serialisation = bytes * 8 / gbps
  Nanos client_ns = 0;         ///< client software+NIC, send and receive sides together
  Nanos nic_rx_ns = 0;         ///< server NIC receive + CQE DMA
  Nanos nic_tx_ns = 0;         ///< server NIC transmit (doorbell to wire)
  Nanos post_send_ns = 0;      ///< ibv_post_send (user space, doorbell)
  Nanos cq_poll_ns = 0;        ///< ibv_poll_cq that returns a completion
  Nanos cq_poll_empty_ns = 0;  ///< ibv_poll_cq on an empty CQ (dispatcher scan step)

  // Interrupt path.
  Nanos msix_ns = 0;            ///< EQE write + MSI-X delivery to the IRQ core
  Nanos hardirq_ns = 0;         ///< IRQ entry + EQ scan
  Nanos softirq_ns = 0;         ///< tasklet / softirq hop before the CQ handler
  Nanos uverbs_handler_ns = 0;  ///< ib_uverbs_comp_handler: lock, alloc, link
  Nanos fw_handler_ns = 0;      ///< fastwake wait-queue callback (trimmed path)
  Nanos ttwu_local_ns = 0;      ///< try_to_wake_up, target on this core
  Nanos ttwu_remote_ns =
      0;  ///< try_to_wake_up, queue on the remote CPU's wake list (IPI send not included)
  Nanos ipi_latency_ns = 0;  ///< IPI delivery to the remote core
  Nanos ipi_handler_ns = 0;  ///< function-call IPI (CAL) entry + sched_ttwu_pending of one wakee
  Nanos ipi_send_ns = 0;     ///< waker: send one IPI (APIC ICR write), CAL or RES
  Nanos rq_lock_remote_ns =
      0;  ///< direct remote enqueue: extra over ttwu_local_ns for the remote rq lock and lines
  Nanos resched_ipi_ns = 0;  ///< reschedule IPI (RES) entry + scheduler_ipi on the target
  Nanos ctx_switch_ns = 0;   ///< scheduler pick + context switch
  Nanos fast_switch_ns = 0;  ///< kernel fast-path switch-to (module)
  Nanos read_return_ns = 0;  ///< return from read() on the channel: lock, copy, free
  Nanos rearm_ns = 0;        ///< ibv_ack_cq_events + ibv_req_notify_cq
  Nanos block_ns = 0;        ///< enter a blocking syscall and switch out
  Nanos syscall_ns = 0;      ///< a syscall that does not block

  // Scheduler (CFS-like).
  Nanos sched_latency_ns = 0;          ///< target period for all runnable threads
  Nanos sched_min_granularity_ns = 0;  ///< minimum time slice
  Nanos wakeup_granularity_ns = 0;     ///< wake-up preemption threshold
  Nanos tick_ns = 4'000'000;           ///< scheduler tick period (1/CONFIG_HZ)

  // Stalls: times a core runs nothing of ours (a VM's vCPU descheduled by
  // the hypervisor, other load); Poisson per core, exponential durations.
  double stall_rate_hz = 0;  ///< per core; 0 = none
  Nanos stall_mean_ns = 0;   ///< mean duration

  // Power.
  std::vector<CState> cstates;  ///< shallowest first; index 0 may be a POLL state
  double poll_w = 0;            ///< per core, spinning on a CQ
  double work_w = 0;            ///< per core, running application/kernel code
  double irq_w = 0;             ///< per core, in interrupt context
  double cstate_exit_w = 0;     ///< per core, while leaving a C-state (exit latency)
  double package_w = 0;         ///< uncore/package constant for the host

  std::map<std::string, std::string> sources;  ///< param -> source or "estimate: ..."
  nlohmann::json calibration;  ///< calibrated profiles: date, machine, paths, residuals (else null)
};

struct HostConfig {
  int cores = 2;           ///< cores of the server host, numbered node by node
  int numa_nodes = 1;      ///< NUMA nodes; divides cores
  int llc_cores = 0;       ///< cores per LLC domain; 0 = one LLC per node (all cores on one node)
  int nic_node = 0;        ///< NUMA node of the NIC (mlx5: dev->priv.numa_node)
  int app_cores = 1;       ///< how many cores run application threads
  int first_app_core = 0;  ///< application cores are first_app_core .. + app_cores - 1
  std::vector<int> app_core_list;  ///< or exactly these cores (then app_cores = its size)
  int vectors = 2;                 ///< completion vectors (EQs / MSI-X IRQs)
  IrqPlacement irq_placement = IrqPlacement::kSpread;  ///< see placement.h / docs/config.md
  std::vector<int> idle_poll_cores;  ///< cores that never go below the POLL C-state (e.g. a
                                     ///< spinning NIC thread's)
  int max_cstate = -1;               ///< deepest allowed C-state index, -1 = all
  /// How the interrupt of a vector placed on an application core reaches it:
  /// false = MSI-X (a real NIC); true = the loopback NIC's emulation, a
  /// SCHED_FIFO "IRQ thread" on that core woken from a CPU outside the app
  /// cores (counted as that remote wake-up and its IPI; docs/hw.md).
  bool irq_by_thread = false;
};

struct Migration {
  Nanos at_ns = 0;
  ThreadId thread = 0;
  CoreId to_core = 0;
};

/// One step of a scripted workload (kind "script"): `after_ns` after the
/// previous step ended (a reply came back, or a migration was made), either
/// connection `conn` sends a request, or (migrate_to != kNoCore) thread
/// `conn` moves to core `migrate_to`. One request in flight host-wide, so
/// every backend takes its decisions in the same order (the cross-backend
/// trace test, tests/hw/trace_test.cc).
struct ScriptStep {
  ThreadId conn = 0;
  Nanos after_ns = 0;
  CoreId migrate_to = kNoCore;
  bool operator==(const ScriptStep&) const = default;
};

struct WorkloadConfig {
  LoadKind kind =
      LoadKind::kPingPong;   ///< "pingpong" (closed loop) | "poisson" (open loop) | "script"
  int threads_per_core = 1;  ///< one connection (QP + CQ) per thread
  int message_bytes = 64;
  Nanos service_ns = 0;
  Dist service_dist = Dist::kFixed;  ///< "fixed" | "exp"
  Nanos think_ns = 0;                ///< client pause between reply and next request (pingpong)
  Dist think_dist = Dist::kFixed;    ///< "fixed" | "exp" (exponential: breaks lock-step convoys)
  double rate_rps = 0;               ///< per connection (poisson)
  std::vector<Migration> migrations;
  std::vector<ScriptStep> script;  ///< kind "script" only
};

struct RunConfig {
  std::uint64_t seed = 1;
  Nanos duration_ns = 20'000'000;  ///< measured window
  Nanos warmup_ns = 2'000'000;     ///< discarded before the window
  bool record_samples = false;     ///< keep (time, thread, latency) per request
};

struct Config {
  std::string name = "unnamed";
  std::string description;
  Platform platform;
  HostConfig host;
  WorkloadConfig workload;
  RemapperOptions remapper;
  AdaptiveOptions adaptive;  ///< "adaptive": fastwake_adaptive's caps (docs/adaptive.md)
  std::vector<std::string> strategies;
  RunConfig run;
  /// The document's "fabric" section (an object, or null when absent), opaque to
  /// core: sim/ parses and validates it (fastwake/sim/fabric_config.h), and
  /// sim::load_config stores it resolved (null for the default simple fabric).
  nlohmann::json fabric;

  int threads() const { return host.app_cores * workload.threads_per_core; }
};

/// Validates `doc` and builds a Config. "platform" may be a built-in name
/// ("x86", "arm") or an inline profile object. Throws ConfigError whose
/// message starts with the JSON path of the first problem: unknown key, wrong
/// type, negative cost, value out of range, unknown strategy, a platform
/// parameter without source/estimate. The "fabric" section is only checked
/// for being an object: tools load configs with sim::load_config, which also
/// validates and resolves it (fastwake/sim/fabric_config.h).
Config parse_config(const nlohmann::json& doc);

/// The resolved configuration (every default filled in, platform inlined)
/// as written into result documents; parse_config(to_json(c)) == c. The
/// fabric section is written as Config::fabric holds it (left out if null).
nlohmann::json to_json(const Config& c);

/// Largest config or profile file load_json_file reads: 64 MiB.
inline constexpr long long kMaxConfigFileBytes = 64ll << 20;
/// Deepest nesting of arrays and objects a config document may have.
inline constexpr int kMaxJsonDepth = 64;

/// Reads a JSON file; ConfigError with the file name (and line) on failure.
/// Only regular files of at most kMaxConfigFileBytes (FIFOs, devices and
/// directories are refused); a number too large for a double names its key.
nlohmann::json load_json_file(const std::string& path);
/// Parses JSON text as load_json_file does; `path` names it in messages.
nlohmann::json parse_json_text(const std::string& text, const std::string& path);

/// Platform profiles: configs/platforms/*.json embedded at build, plus
/// profiles found at run time in $FASTWAKE_CONFIG_DIR/platforms or the source
/// tree's configs/platforms (calibrated hosts). builtin_platform() also takes
/// a path ending in ".json". ConfigError if unknown.
std::vector<std::string> builtin_platforms();
nlohmann::json builtin_platform(std::string_view name);

/// The embedded default scenario (configs/default.json).
nlohmann::json default_config();
/// Another config shipped in configs/ (e.g. "compare" = configs/compare.json),
/// embedded at build time. ConfigError if unknown.
nlohmann::json bundled_config(std::string_view name);

/// Applies one "--set path=value" assignment to a config document before
/// validation. Path is dot-separated (array elements by index, e.g.
/// "strategies.0"); value is parsed as JSON, else taken as a string. Setting a
/// platform parameter that has {value, source} replaces the value and marks
/// the source as "set on the command line". ConfigError on a malformed
/// assignment or a path that does not exist.
void apply_set(nlohmann::json& doc, std::string_view assignment);

}  // namespace fastwake
