// Platform profiles inside the config loader (config_platform.cc), for the run
// config (config.cc) and the overrides (config_overrides.cc). Private to core/src.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fastwake/config.h"

namespace fastwake {

/// The platform when a config names none.
constexpr std::string_view kDefaultPlatform = "x86";

/// A built-in name or an inline profile object; ConfigError naming `path`.
Platform parse_platform(const nlohmann::json& j, const std::string& path);
/// The profile inlined, every number with its source or estimate.
nlohmann::json platform_json(const Platform& p);

}  // namespace fastwake
