// Strategy registry: each strategy is a named combination of policies chosen
// in configs ("strategies": ["interrupt", "fastwake_poll", ...]).
//
// Backends read a strategy's policy fields (how threads wait, which wake path,
// whether the remapper runs) and never compare strategy names; adding a
// strategy is one register_strategy() call.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fastwake/wake_path.h"

namespace fastwake {

/// How an application thread waits for its next completion.
enum class WaitMode {
  kSpin,        ///< busy-polls its own CQ; shares the core by time slices
  kDispatcher,  ///< sleeps; the core's dispatcher polls all CQs and switches to it
  kBlock,       ///< arms the CQ and blocks on the completion channel (interrupts)
};

std::string_view wait_mode_name(WaitMode m);

struct StrategySpec {
  std::string name;
  std::string description;
  WaitMode wait = WaitMode::kBlock;
  WakePath wake_path = WakePath::stock();
  /// AffinityRemapper keeps each CQ's vector on its thread's core.
  bool remap_affinity = false;
  /// Per core, AdaptiveController (adaptive.h) chooses between the
  /// dispatcher (kDispatcher) and `wait` (kBlock) with `wake_path`; each
  /// thread takes its core's mode at its wait boundary.
  bool adaptive = false;
};

/// All registered strategies, in registration order (the built-ins first:
/// busy_poll, fastwake_poll, fastwake_irq, fastwake_irq_affinity_only,
/// fastwake_irq_wakepath_only, fastwake_irq_deep (a proposal: sim only),
/// interrupt). Thread-safe after static init.
std::span<const StrategySpec> strategies();

/// Looks a strategy up by name; throws ConfigError naming the known ones.
const StrategySpec& find_strategy(std::string_view name);

/// Adds a strategy (e.g. an experiment's ablation). Throws ConfigError if the
/// name is taken. Not thread-safe: call before running anything.
void register_strategy(StrategySpec spec);

}  // namespace fastwake
