// Built-in strategies and the registry.
#include "fastwake/strategy.h"

#include "fastwake/errors.h"

namespace fastwake {
namespace {

std::vector<StrategySpec>& registry() {
  static std::vector<StrategySpec> r = {
      {"busy_poll", "every thread spins on its own CQ; threads on one core share it by time slices",
       WaitMode::kSpin, WakePath::stock(), false},
      {"fastwake_poll", "per-core dispatcher polls all CQs and switches straight to the owner",
       WaitMode::kDispatcher, WakePath::stock(), false},
      {"fastwake_irq",
       "interrupts kept on the sleeping thread's core + fastwake.ko's wake path (channel attached, "
       "thread waits in the module; uverbs still queues the event, drained later)",
       WaitMode::kBlock, WakePath::module(), true},
      {"fastwake_irq_affinity_only", "ablation: interrupt affinity remapping, stock wake path",
       WaitMode::kBlock, WakePath::stock(), true},
      {"fastwake_irq_wakepath_only", "ablation: fastwake.ko's wake path, stock interrupt placement",
       WaitMode::kBlock, WakePath::module(), false},
      {"fastwake_irq_deep",
       "PROPOSAL, not implemented by fastwake.ko (sim only): interrupts kept on the thread's core, "
       "no uverbs event, woken thread at the head of the run queue and switched to at once",
       WaitMode::kBlock, WakePath::proposal(), true},
      {"interrupt", "stock Linux + uverbs: arm, block in read() on the completion channel",
       WaitMode::kBlock, WakePath::stock(), false},
      {"fastwake_adaptive",
       "per core, fastwake_poll's dispatcher while the mean idle gap between completions is below "
       "the energy break-even of polling vs a C-state exit + interrupt wake-up, fastwake_irq "
       "above it (hysteresis; adaptive.power_cap_w / adaptive.cpu_cap limit the polling cores)",
       WaitMode::kBlock, WakePath::module(), true, true},
  };
  return r;
}

}  // namespace

std::string_view wait_mode_name(WaitMode m) {
  switch (m) {
    case WaitMode::kSpin:
      return "spin";
    case WaitMode::kDispatcher:
      return "dispatcher";
    case WaitMode::kBlock:
      return "block";
  }
  return "?";
}

std::span<const StrategySpec> strategies() { return registry(); }

const StrategySpec& find_strategy(std::string_view name) {
  for (const auto& s : registry())
    if (s.name == name) return s;
  std::string known;
  for (const auto& s : registry()) known += (known.empty() ? "" : ", ") + s.name;
  throw ConfigError("unknown strategy '" + std::string(name) + "' (known: " + known + ")");
}

void register_strategy(StrategySpec spec) {
  if (spec.name.empty()) throw ConfigError("strategy name must not be empty");
  for (const auto& s : registry())
    if (s.name == spec.name) throw ConfigError("strategy '" + spec.name + "' already registered");
  registry().push_back(std::move(spec));
}

}  // namespace fastwake
