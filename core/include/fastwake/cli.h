// Helpers shared by the command-line tools (fastwake-sim, fastwake-bench):
// composing a config from file + flags, the result table, atomic file output.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fastwake {

/// Config document from an optional file (else the embedded default), an
/// optional built-in platform name and "--set path=value" assignments.
/// Throws ConfigError (file, platform or assignment named in the message).
nlohmann::json compose_config(const std::optional<std::string>& file,
                              const std::optional<std::string>& platform,
                              const std::vector<std::string>& sets);

/// The human-readable table of a result document: per strategy p50/p99 (us),
/// p50's signed change against `interrupt` ("p50 vs irq", (p50 - p50_irq) /
/// p50_irq: -82% = faster; README "Conventions"), throughput, CPU %, power,
/// energy/request.
void print_result_table(const nlohmann::json& doc, std::ostream& out);

/// Writes text to path via a temporary file of its own beside it (mkstemp),
/// fsync and rename: the file is complete or absent, never half-written, also
/// when several processes write one path at once (the last rename wins).
/// Throws ConfigError naming the path and the OS's reason. Used for every
/// output file (result documents, calibrated profiles).
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace fastwake
