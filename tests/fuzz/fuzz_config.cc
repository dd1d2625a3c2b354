// Fuzzes the config loader: text -> JSON (size, depth and number checks) ->
// sim::load_config (every section, the platform, the fabric) -> the pre-run
// guard. A config that loads must survive the round trip parse(to_json(c)).
#include <cstddef>
#include <cstdint>

#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/sim/fabric_config.h"
#include "fastwake/sim/run_guard.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nlohmann::json doc;
  try {
    doc = fastwake::parse_json_text(fw_fuzz::text(data, size), "fuzz.json");
  } catch (const fastwake::ConfigError&) {
    return 0;
  }
  fastwake::Config c;
  try {
    c = fastwake::sim::load_config(doc);
  } catch (const fastwake::ConfigError&) {
    return 0;
  }
  const nlohmann::json resolved = fastwake::to_json(c);
  try {
    const fastwake::Config again = fastwake::sim::load_config(resolved);
    if (fastwake::to_json(again) != resolved)
      fw_fuzz::broken("to_json(parse(to_json(c))) != to_json(c)");
  } catch (const fastwake::ConfigError& e) {
    fw_fuzz::broken(std::string("a resolved config does not load again: ") + e.what());
  }
  try {
    (void)fastwake::sim::estimate_run(c);
    fastwake::sim::check_run(c, false);
  } catch (const fastwake::ConfigError&) {
  }
  return 0;
}
