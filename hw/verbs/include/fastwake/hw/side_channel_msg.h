// The side channel's messages, parsed without a socket: the line framing of
// SideChannel::recv and the replay server's reading of a client's "hello".
// Pure functions (no I/O), so they are fuzzed on their own
// (tests/fuzz/fuzz_side_channel.cc): whatever a peer sends, the result is a
// message or a DeviceError, never a crash or an unbounded buffer.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fastwake::hw {

/// A line (one message) may be at most this long; a hello with thousands of
/// QPs stays far below.
inline constexpr std::size_t kMaxSideChannelLine = 16 << 20;

/// Takes the first complete line off `buf` and parses it: a JSON object with a
/// string "type". nullopt when `buf` holds no complete line yet. DeviceError
/// naming `peer` for a broken line, one without a type, or a buffer longer
/// than kMaxSideChannelLine with no line end.
std::optional<nlohmann::json> take_message(std::string& buf, const std::string& peer);

/// A client's "hello", its fields checked.
struct Hello {
  int proto = 0;
  std::string strategy;
  nlohmann::json config;            ///< an object (the caller validates it with parse_config)
  std::vector<nlohmann::json> qps;  ///< QP addresses, each an object (QpInfo::from_json)
  int index = 0, total = 1;         ///< this session's number among the client's
};

/// Reads a hello message; DeviceError naming the bad field.
Hello parse_hello(const nlohmann::json& m);

/// An integer field of a message in [lo, hi], `def` when absent; DeviceError otherwise.
long long message_int(const nlohmann::json& m, const char* key, long long def, long long lo,
                      long long hi);

}  // namespace fastwake::hw
