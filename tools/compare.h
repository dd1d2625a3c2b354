// fastwake-bench compare: the model's prediction (calibrated profile) next to
// the loopback measurement of the same config.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/config.h"
#include "fastwake/hw/runtime.h"

namespace fastwake::tools {

/// The simulator's view of a loopback run: the same vector placement, every
/// core beyond the app cores standing for the NIC thread's CPU (takes the
/// interrupts of vectors placed off the app cores, never idles), interrupts
/// on app cores delivered by a woken IRQ thread (host.irq_delivery
/// "thread"), and C-states that poll only if `host_idle` (this host's idle
/// loop, hw::host_idle_description(); null: keep the profile's) does.
Config sim_config_for_loopback(const Config& loopback_cfg, const nlohmann::json& profile,
                               const nlohmann::json& host_idle = nullptr);

/// The simulator's view of a replay-tool server on Soft-RoCE (rxe), whose
/// completion handler runs on the client's CPU: one extra core for it, taking
/// every completion "interrupt" and waking the owner directly, never idle;
/// C-states poll only if `host_idle` (the server machine's) does.
Config sim_config_for_verbs(const Config& verbs_cfg, const nlohmann::json& profile,
                            const nlohmann::json& host_idle = nullptr);

/// Runs both and returns {"schema":"fastwake-compare/1", "rows":[...],
/// "measured":doc, "predicted":doc, "platform":name}.
nlohmann::json run_compare(const Config& cfg, const nlohmann::json& profile,
                           const hw::HwOptions& opt, std::ostream* progress);

/// Several rounds of (calibrate, measure) interleaved A/B/A/B: per strategy
/// the mean of each round's error with the half-width of its 95 % t-interval
/// ("error_p50_ci95", ...), the measured and predicted means, and every
/// round's document under "rounds".
nlohmann::json combine_rounds(const std::vector<nlohmann::json>& rounds);

void print_compare_table(const nlohmann::json& cmp, std::ostream& out);

}  // namespace fastwake::tools
