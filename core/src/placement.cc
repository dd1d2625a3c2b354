// Placement rules (see placement.h).
#include "fastwake/placement.h"

#include <array>
#include <string>

#include "fastwake/config.h"
#include "fastwake/errors.h"

namespace fastwake {

namespace {
constexpr std::array<std::string_view, 6> kIrqPlacementNames = {"spread", "core0",      "last",
                                                                "driver", "irqbalance", "random"};

/// splitmix64: a fixed, portable generator (std:: distributions differ
/// between standard libraries, and "random" must give the same cores everywhere).
std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

IrqPlacement parse_irq_placement(std::string_view name) {
  for (std::size_t i = 0; i < kIrqPlacementNames.size(); ++i)
    if (name == kIrqPlacementNames[i]) return static_cast<IrqPlacement>(i);
  std::string known;
  for (auto n : kIrqPlacementNames) known += (known.empty() ? "" : ", ") + std::string(n);
  throw ConfigError("host.irq_placement: \"" + std::string(name) + "\" is not one of " + known);
}

std::string_view irq_placement_name(IrqPlacement p) {
  const auto i = static_cast<std::size_t>(p);
  return i < kIrqPlacementNames.size() ? kIrqPlacementNames[i] : "?";
}

std::span<const std::string_view> irq_placement_names() { return kIrqPlacementNames; }

CoreId local_spread(int i, int node, const Topology& t) {
  // lib/cpumask.c (Linux 6.1) cpumask_local_spread(): "i %= num_online_cpus();"
  // then cpumask_nth_and(i, online, cpumask_of_node(node)) ("NUMA first"),
  // else i -= the node's weight and cpumask_nth_andnot(i, online, node's mask).
  i %= t.cores;
  const int per = t.cores_per_node();
  if (i < per) return node * per + i;
  i -= per;
  // The i-th CPU outside `node`, in CPU-number order.
  return i < node * per ? i : i + per;
}

CoreId stock_irq_core(VectorId v, IrqPlacement p, const Topology& t, std::uint64_t seed) {
  switch (p) {
    case IrqPlacement::kCore0:
      return 0;
    case IrqPlacement::kLast:
      return t.cores - 1;
    case IrqPlacement::kSpread:
      return v % t.cores;
    case IrqPlacement::kDriver:
      // mlx5 (drivers/net/ethernet/mellanox/mlx5/core/eq.c, comp_irqs_request(),
      // Linux 6.1): cpus[i] = cpumask_local_spread(i, dev->priv.numa_node) for
      // completion vector i.
      return local_spread(v, t.nic_node, t);
    case IrqPlacement::kIrqbalance: {
      // A model of irqbalance's initial placement (irqbalance 1.9 placement.c,
      // place_irq_in_node / find_best_object; a simplification, not its code):
      // an IRQ with a known NUMA node stays in that node; within it irqbalance
      // descends the object tree (cache domain, then core) choosing the least
      // loaded object. Before any load is measured "load" is the number of
      // IRQs already placed, so vectors alternate between the node's LLC
      // domains and fill each domain's cores in order. Run-time rebalancing
      // by measured interrupt load is not modelled.
      const int per = t.cores_per_node();
      const int domains = per / t.llc_cores;
      const int d = v % domains;
      const int k = (v / domains) % t.llc_cores;
      return t.nic_node * per + d * t.llc_cores + k;
    }
    case IrqPlacement::kRandom: {
      // Each vector on a uniformly drawn core (all nodes), from run.seed: the
      // same seed gives the same placement on every backend and machine.
      std::uint64_t x = seed ^ (0x5bd1e995ULL * (static_cast<std::uint64_t>(v) + 1));
      splitmix64(x);
      return static_cast<CoreId>(splitmix64(x) % static_cast<std::uint64_t>(t.cores));
    }
  }
  return v % t.cores;
}

CoreId stock_irq_core(VectorId v, IrqPlacement p, int cores) {
  Topology t;
  t.cores = cores;
  t.llc_cores = cores;
  return stock_irq_core(v, p, t);
}

std::optional<VectorId> vector_on_core(std::span<const CoreId> vector_core, CoreId core, int rank) {
  std::vector<VectorId> here;
  for (VectorId v = 0; v < static_cast<VectorId>(vector_core.size()); ++v)
    if (vector_core[v] == core) here.push_back(v);
  if (here.empty()) return std::nullopt;
  return here[static_cast<std::size_t>(rank < 0 ? 0 : rank) % here.size()];
}

Topology topology_of(const Config& cfg) {
  Topology t;
  t.cores = cfg.host.cores;
  t.numa_nodes = cfg.host.numa_nodes;
  t.llc_cores = cfg.host.llc_cores > 0 ? cfg.host.llc_cores : t.cores_per_node();
  t.nic_node = cfg.host.nic_node;
  return t;
}

std::vector<CoreId> app_cores_of(const Config& cfg) {
  if (!cfg.host.app_core_list.empty()) return cfg.host.app_core_list;
  std::vector<CoreId> out;
  for (int i = 0; i < cfg.host.app_cores; ++i) out.push_back(cfg.host.first_app_core + i);
  return out;
}

Placement Placement::of(const Config& cfg) {
  Placement p;
  p.topo = topology_of(cfg);
  p.app_cores = app_cores_of(cfg);
  const int n = cfg.threads();
  p.thread_core.resize(n);
  p.cq_vector.resize(n);
  for (ThreadId t = 0; t < n; ++t) {
    p.thread_core[t] = home_core(t, cfg.workload.threads_per_core, p.app_cores);
    p.cq_vector[t] = stock_cq_vector(t, cfg.host.vectors);
  }
  p.vector_core.resize(cfg.host.vectors);
  for (VectorId v = 0; v < cfg.host.vectors; ++v)
    p.vector_core[v] = stock_irq_core(v, cfg.host.irq_placement, p.topo, cfg.run.seed);
  return p;
}

std::vector<CqId> Placement::cqs_on(CoreId core) const {
  std::vector<CqId> out;
  for (ThreadId t = 0; t < threads(); ++t)
    if (thread_core[t] == core) out.push_back(t);
  return out;
}

}  // namespace fastwake
