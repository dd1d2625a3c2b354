// Placement rules (see placement.h).
#include "fastwake/placement.h"

#include "fastwake/config.h"
#include "fastwake/errors.h"

namespace fastwake {

IrqPlacement parse_irq_placement(std::string_view name) {
  if (name == "spread") return IrqPlacement::kSpread;
  if (name == "core0") return IrqPlacement::kCore0;
  if (name == "last") return IrqPlacement::kLast;
  throw ConfigError("host.irq_placement: \"" + std::string(name) +
                    "\" is not one of spread, core0, last");
}

std::string_view irq_placement_name(IrqPlacement p) {
  switch (p) {
    case IrqPlacement::kSpread: return "spread";
    case IrqPlacement::kCore0: return "core0";
    case IrqPlacement::kLast: return "last";
  }
  return "?";
}

CoreId stock_irq_core(VectorId v, IrqPlacement p, int cores) {
  switch (p) {
    case IrqPlacement::kCore0: return 0;
    case IrqPlacement::kLast: return cores - 1;
    case IrqPlacement::kSpread: break;
  }
  return v % cores;
}

std::optional<VectorId> vector_on_core(std::span<const CoreId> vector_core, CoreId core, int rank) {
  std::vector<VectorId> here;
  for (VectorId v = 0; v < static_cast<VectorId>(vector_core.size()); ++v)
    if (vector_core[v] == core) here.push_back(v);
  if (here.empty()) return std::nullopt;
  return here[static_cast<std::size_t>(rank < 0 ? 0 : rank) % here.size()];
}

Placement Placement::of(const Config& cfg) {
  Placement p;
  const int n = cfg.threads();
  const IrqPlacement irq = cfg.host.irq_placement;
  p.thread_core.resize(n);
  p.cq_vector.resize(n);
  for (ThreadId t = 0; t < n; ++t) {
    p.thread_core[t] = home_core(t, cfg.workload.threads_per_core);
    p.cq_vector[t] = stock_cq_vector(t, cfg.host.vectors);
  }
  p.vector_core.resize(cfg.host.vectors);
  for (VectorId v = 0; v < cfg.host.vectors; ++v)
    p.vector_core[v] = stock_irq_core(v, irq, cfg.host.cores);
  return p;
}

std::vector<CqId> Placement::cqs_on(CoreId core) const {
  std::vector<CqId> out;
  for (ThreadId t = 0; t < threads(); ++t)
    if (thread_core[t] == core) out.push_back(t);
  return out;
}

}  // namespace fastwake
