// Placement decisions every backend takes from here: the host's topology
// (NUMA nodes, LLC domains), which core an application thread runs on, which
// completion vector each CQ is created on, where the stock driver (or
// irqbalance) puts each vector's IRQ, and "the vector whose IRQ is on my
// CPU". The simulator, the loopback and verbs backends and the preload shim
// call these; none re-derives them (docs/design.md, "One policy core").
//
// IRQ placement is independent of thread placement: the vectors are placed
// by the host's policy (host.irq_placement) over the whole topology, the
// application threads on host.app_core_list / first_app_core.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "fastwake/types.h"

namespace fastwake {

struct Config;

/// Stock IRQ placement of the completion vectors (host.irq_placement).
enum class IrqPlacement {
  kSpread,      ///< "spread": vector v on core v % cores (= "driver" on a one-node host)
  kCore0,       ///< "core0": every vector on core 0
  kLast,        ///< "last": every vector on the last core
  kDriver,      ///< "driver": mlx5's default, vector v on cpumask_local_spread(v, nic_node)
  kIrqbalance,  ///< "irqbalance": the NIC node's cores, LLC domains alternated (see below)
  kRandom,      ///< "random": each vector on a uniformly drawn core, seeded by run.seed
};
/// Parses a host.irq_placement value; ConfigError naming the known ones.
IrqPlacement parse_irq_placement(std::string_view name);
std::string_view irq_placement_name(IrqPlacement p);
/// Every accepted host.irq_placement name, in enum order.
std::span<const std::string_view> irq_placement_names();

/// The host's topology. Cores are numbered node by node (node n holds cores
/// n*cores_per_node .. (n+1)*cores_per_node-1), each node split into LLC
/// domains of llc_cores consecutive cores (an LLC never spans nodes).
struct Topology {
  int cores = 1;
  int numa_nodes = 1;
  int llc_cores = 1;  ///< cores per LLC domain; divides cores_per_node()
  int nic_node = 0;   ///< NUMA node the NIC is attached to (dev->priv.numa_node)

  int cores_per_node() const { return cores / numa_nodes; }
  int node_of(CoreId c) const { return c / cores_per_node(); }
  int llc_of(CoreId c) const { return c / llc_cores; }
  /// cpus_share_cache() (kernel/sched/core.c, Linux 6.1): same sd_llc_id.
  bool share_llc(CoreId a, CoreId b) const { return llc_of(a) == llc_of(b); }
};

/// cpumask_local_spread(i, node) as Linux 6.1 lib/cpumask.c defines it, all
/// CPUs online: i %= cpus; the i-th CPU of `node` if it has that many, else
/// the (i - node's CPUs)-th of the other CPUs in CPU-number order.
CoreId local_spread(int i, int node, const Topology& t);

/// Core that takes vector v's IRQ under the stock placement `p`. `seed`
/// (run.seed) only matters for kRandom.
CoreId stock_irq_core(VectorId v, IrqPlacement p, const Topology& t, std::uint64_t seed = 1);
/// Compatibility form for a one-node, one-LLC host of `cores` cores.
CoreId stock_irq_core(VectorId v, IrqPlacement p, int cores);

/// Application thread t's core: threads fill the application cores in
/// order, threads_per_core each (app_cores[i] is the i-th application core).
inline CoreId home_core(ThreadId t, int threads_per_core, std::span<const CoreId> app_cores) {
  return app_cores[static_cast<std::size_t>(t / threads_per_core)];
}
/// CQ c's completion vector: round-robin over `vectors` (comp_vector = i % vectors).
constexpr VectorId stock_cq_vector(CqId cq, int vectors) { return cq % vectors; }

/// "The vector whose IRQ is on my CPU": among the vectors whose IRQ sits on
/// `core` (vector_core[v] == core), the (rank % n)-th in vector order, so
/// `rank` spreads several CQs of one core over its vectors. None if no
/// vector's IRQ is on that core.
std::optional<VectorId> vector_on_core(std::span<const CoreId> vector_core, CoreId core, int rank);

/// The placement of a whole configuration, as every backend starts it.
struct Placement {
  Topology topo;
  std::vector<CoreId> app_cores;    ///< the cores that run application threads, in order
  std::vector<CoreId> thread_core;  ///< index: application thread (= its CQ)
  std::vector<VectorId> cq_vector;  ///< index: CQ
  std::vector<CoreId> vector_core;  ///< index: vector; the stock IRQ placement

  /// host.cores / numa_nodes / llc_cores / nic_node / app_cores /
  /// app_core_list / first_app_core / vectors / irq_placement, run.seed and
  /// threads_per_core of `cfg`.
  static Placement of(const Config& cfg);
  int threads() const { return static_cast<int>(thread_core.size()); }
  /// The CQs (= threads) placed on `core`, in thread order.
  std::vector<CqId> cqs_on(CoreId core) const;
};

/// The topology of `cfg.host`.
Topology topology_of(const Config& cfg);
/// The application cores of `cfg.host`: app_core_list if given, else
/// first_app_core .. first_app_core + app_cores - 1.
std::vector<CoreId> app_cores_of(const Config& cfg);

}  // namespace fastwake
