// Fuzzes platform profiles: the input is a profile document (as in
// configs/platforms/*.json, or a calibrated host-*.json); a profile that loads
// must be written back by platform_json and load again to the same profile.
#include <cstddef>
#include <cstdint>

#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nlohmann::json profile;
  try {
    profile = fastwake::parse_json_text(fw_fuzz::text(data, size), "profile.json");
  } catch (const fastwake::ConfigError&) {
    return 0;
  }
  // A profile object only: a string would name a file or a built-in.
  if (!profile.is_object()) return 0;
  nlohmann::json doc = {{"platform", profile}, {"strategies", {"interrupt"}}};
  fastwake::Config c;
  try {
    c = fastwake::parse_config(doc);
  } catch (const fastwake::ConfigError&) {
    return 0;
  }
  const nlohmann::json out = fastwake::to_json(c);
  try {
    if (fastwake::to_json(fastwake::parse_config(out)) != out)
      fw_fuzz::broken("a platform profile does not survive its round trip");
  } catch (const fastwake::ConfigError& e) {
    fw_fuzz::broken(std::string("a written profile does not load again: ") + e.what());
  }
  return 0;
}
