// Fuzzes --set: each input line is one PATH=VALUE assignment applied, in
// order, to the embedded default config; the result is then loaded. Errors
// must be ConfigErrors (a path through a scalar, a bad index, 1e400, ...).
// Found so far: invalid UTF-8 in a raw-string value (json::type_error.316
// from the error message's dump; corpus/set/regress-invalid-utf8.txt).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/sim/fabric_config.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The default config resolved (platform inlined): loading it reads no
  // profile file, so the executions go to the assignments.
  static const nlohmann::json base =
      fastwake::to_json(fastwake::sim::load_config(fastwake::default_config()));
  nlohmann::json doc = base;
  const std::string in = fw_fuzz::text(data, size);
  try {
    std::size_t start = 0;
    for (int n = 0; start <= in.size() && n < 16; ++n) {
      std::size_t nl = in.find('\n', start);
      if (nl == std::string::npos) nl = in.size();
      fastwake::apply_set(doc, std::string_view(in).substr(start, nl - start));
      start = nl + 1;
    }
    const fastwake::Config c = fastwake::sim::load_config(doc);
    (void)fastwake::to_json(c);
  } catch (const fastwake::ConfigError&) {
  }
  return 0;
}
