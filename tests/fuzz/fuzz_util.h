// Shared by the libFuzzer targets (tests/fuzz/, FASTWAKE_FUZZ=ON): the
// contract each target checks is "a value or a typed error": input errors are
// ConfigError (config, --set, profiles) or DeviceError (side channel); any
// other exception escapes and libFuzzer reports it as a crash, as do ASan and
// UBSan findings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace fw_fuzz {

inline std::string text(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

/// An invariant broken: print and abort (libFuzzer saves the input).
[[noreturn]] inline void broken(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
  std::abort();
}

}  // namespace fw_fuzz
