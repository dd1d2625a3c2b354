// Placement decisions every backend takes from here: which core an
// application thread runs on, which completion vector each CQ is created on,
// where the stock driver puts each vector's IRQ, and "the vector whose IRQ is
// on my CPU". The simulator, the loopback and verbs backends and the preload
// shim call these; none re-derives them (docs/design.md, "One policy core").
#pragma once

#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "fastwake/types.h"

namespace fastwake {

struct Config;

/// Stock IRQ placement of the completion vectors (host.irq_placement).
enum class IrqPlacement {
  kSpread,  ///< "spread": vector v on core v % cores
  kCore0,   ///< "core0": every vector on core 0
  kLast,    ///< "last": every vector on the last core
};
/// Parses a host.irq_placement value; ConfigError naming the known ones.
IrqPlacement parse_irq_placement(std::string_view name);
std::string_view irq_placement_name(IrqPlacement p);

/// Application thread t's core: threads fill cores in order, threads_per_core each.
constexpr CoreId home_core(ThreadId t, int threads_per_core) { return t / threads_per_core; }
/// CQ c's completion vector: round-robin over `vectors` (comp_vector = i % vectors).
constexpr VectorId stock_cq_vector(CqId cq, int vectors) { return cq % vectors; }
/// Core that takes vector v's IRQ under the stock placement.
CoreId stock_irq_core(VectorId v, IrqPlacement p, int cores);

/// "The vector whose IRQ is on my CPU": among the vectors whose IRQ sits on
/// `core` (vector_core[v] == core), the (rank % n)-th in vector order, so
/// `rank` spreads several CQs of one core over its vectors. None if no
/// vector's IRQ is on that core.
std::optional<VectorId> vector_on_core(std::span<const CoreId> vector_core, CoreId core, int rank);

/// The placement of a whole configuration, as every backend starts it.
struct Placement {
  std::vector<CoreId> thread_core;  ///< index: application thread (= its CQ)
  std::vector<VectorId> cq_vector;  ///< index: CQ
  std::vector<CoreId> vector_core;  ///< index: vector; the stock IRQ placement

  /// host.cores / app_cores / vectors / irq_placement and threads_per_core of `cfg`.
  static Placement of(const Config& cfg);
  int threads() const { return static_cast<int>(thread_core.size()); }
  /// The CQs (= threads) placed on `core`, in thread order.
  std::vector<CqId> cqs_on(CoreId core) const;
};

}  // namespace fastwake
