// The remap loop (see remap_driver.h).
#include "fastwake/remap_driver.h"

#include <vector>

namespace fastwake {
namespace {

std::vector<CoreId> current_cores(const IrqLever& lever) {
  std::vector<CoreId> vc(static_cast<std::size_t>(lever.num_vectors()));
  for (VectorId v = 0; v < lever.num_vectors(); ++v) vc[v] = lever.vector_core(v);
  return vc;
}

}  // namespace

RemapDriver::RemapDriver(const RemapperOptions& opts, IrqLever& lever, DecisionTrace* trace)
    : lever_(lever), trace_(trace), remapper_(opts, current_cores(lever)) {}

RemapDriver::RemapDriver(const RemapperOptions& opts, IrqLever& lever,
                         std::span<const VectorId> cq_vector, std::span<const CoreId> thread_core,
                         DecisionTrace* trace)
    : RemapDriver(opts, lever, trace) {
  for (CqId cq = 0; cq < static_cast<CqId>(cq_vector.size()); ++cq)
    remapper_.add_cq(cq, cq_vector[cq], thread_core[cq]);
  for (const VectorMove& m : remapper_.place_initial()) apply(m.vector, m.to);
}

void RemapDriver::add_cq(CqId cq, VectorId vector, CoreId core) {
  remapper_.add_cq(cq, vector, core);
}

void RemapDriver::remove_cq(CqId cq, Nanos now) { remapper_.remove_cq(cq, now); }

void RemapDriver::thread_at(CqId cq, CoreId core, Nanos now) { remapper_.thread_at(cq, core, now); }

int RemapDriver::run_due(Nanos now) {
  const std::vector<VectorMove> moves = remapper_.due(now);
  for (const VectorMove& m : moves) apply(m.vector, m.to);
  return static_cast<int>(moves.size());
}

void RemapDriver::apply(VectorId v, CoreId to) {
  trace(trace_, Decision::Kind::kRemap, v, to);
  lever_.set_vector_core(v, to);
}

}  // namespace fastwake

namespace fastwake {

void trace_setup(DecisionTrace* t, std::span<const CoreId> thread_core,
                 std::span<const VectorId> cq_vector, const IrqLever& lever) {
  if (!t) return;
  for (std::size_t i = 0; i < thread_core.size(); ++i)
    t->add(Decision::Kind::kThreadCore, static_cast<long long>(i), thread_core[i]);
  for (std::size_t i = 0; i < cq_vector.size(); ++i)
    t->add(Decision::Kind::kCqVector, static_cast<long long>(i), cq_vector[i]);
  for (VectorId v = 0; v < lever.num_vectors(); ++v)
    t->add(Decision::Kind::kVectorCore, v, lever.vector_core(v));
}

}  // namespace fastwake
