// Side-channel message parsing (see fastwake/hw/side_channel_msg.h).
#include "fastwake/hw/side_channel_msg.h"

#include <string>

#include "fastwake/errors.h"
#include "fastwake/hw/verbs_device.h"

namespace fastwake::hw {

std::optional<nlohmann::json> take_message(std::string& buf, const std::string& peer) {
  const std::size_t nl = buf.find('\n');
  if (nl == std::string::npos) {
    if (buf.size() > kMaxSideChannelLine)
      throw DeviceError("side channel: message from " + peer + " too long");
    return std::nullopt;
  }
  const std::string line = buf.substr(0, nl);
  buf.erase(0, nl + 1);
  if (line.size() > kMaxSideChannelLine)
    throw DeviceError("side channel: message from " + peer + " too long");
  nlohmann::json j;
  try {
    // Bounded nesting: a message is a flat object with arrays of QP objects.
    j = nlohmann::json::parse(line, [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
      if (depth > 64) throw DeviceError("nested deeper than 64 levels");
      return true;
    });
  } catch (const nlohmann::json::exception& e) {
    throw DeviceError("side channel: broken message from " + peer + ": " + e.what());
  } catch (const DeviceError& e) {
    throw DeviceError("side channel: broken message from " + peer + ": " + e.what());
  }
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw DeviceError("side channel: message without a type from " + peer);
  return j;
}

long long message_int(const nlohmann::json& m, const char* key, long long def, long long lo,
                      long long hi) {
  if (!m.contains(key)) return def;
  const nlohmann::json& v = m.at(key);
  long long x = 0;
  if (v.is_number_unsigned() && v.get<std::uint64_t>() <= static_cast<std::uint64_t>(hi))
    x = static_cast<long long>(v.get<std::uint64_t>());
  else if (v.is_number_integer() && !v.is_number_unsigned())
    x = v.get<std::int64_t>();
  else
    throw DeviceError(std::string("side channel: '") + key +
                      "' is not an integer: " + v.dump().substr(0, 60));
  if (x < lo || x > hi)
    throw DeviceError(std::string("side channel: '") + key + "' out of range [" +
                      std::to_string(lo) + ", " + std::to_string(hi) + "]: " + std::to_string(x));
  return x;
}

Hello parse_hello(const nlohmann::json& m) {
  Hello h;
  if (!m.is_object()) throw DeviceError("side channel: a hello must be an object");
  h.proto = static_cast<int>(message_int(m, "proto", 0, 0, 1 << 30));
  if (!m.contains("strategy") || !m.at("strategy").is_string())
    throw DeviceError("side channel: hello without a strategy name");
  h.strategy = m.at("strategy").get<std::string>();
  if (!m.contains("config") || !m.at("config").is_object())
    throw DeviceError("side channel: hello without a config object");
  h.config = m.at("config");
  if (m.contains("qps")) {
    const nlohmann::json& q = m.at("qps");
    if (!q.is_array()) throw DeviceError("side channel: hello's 'qps' is not an array");
    for (const auto& e : q) {
      if (!e.is_object()) throw DeviceError("side channel: hello's 'qps' holds a non-object");
      h.qps.push_back(e);
    }
  }
  h.total = static_cast<int>(message_int(m, "total", 1, 1, 1 << 20));
  h.index = static_cast<int>(message_int(m, "index", 0, 0, h.total - 1));
  return h;
}

// In this file rather than verbs_device.cc: it parses a peer's message and
// calls nothing of libibverbs, so the fuzz target links it alone.
QpInfo QpInfo::from_json(const nlohmann::json& j) {
  QpInfo q;
  try {
    // Checked integers: get<std::uint32_t>() of 1e300 would be an
    // out-of-range float-to-integer cast (undefined behaviour).
    if (!j.is_object()) throw DeviceError("not an object");
    for (const char* k : {"qpn", "psn", "lid", "gid"})
      if (!j.contains(k)) throw DeviceError(std::string("missing '") + k + "'");
    q.qpn = static_cast<std::uint32_t>(message_int(j, "qpn", 0, 0, 0xffffff));
    q.psn = static_cast<std::uint32_t>(message_int(j, "psn", 0, 0, 0xffffff));
    q.lid = static_cast<std::uint16_t>(message_int(j, "lid", 0, 0, 0xffff));
    if (!j.at("gid").is_string()) throw DeviceError("gid must be a string of 32 hex digits");
    const std::string g = j.at("gid").get<std::string>();
    if (g.size() != 32) throw DeviceError("gid must be 32 hex digits");
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      throw DeviceError("gid must be 32 hex digits");
    };
    for (int i = 0; i < 16; ++i)
      q.gid[i] = static_cast<std::uint8_t>(hex(g[2 * i]) * 16 + hex(g[2 * i + 1]));
  } catch (const std::exception& e) {
    throw DeviceError(std::string("side channel: malformed QP address from the peer: ") + e.what());
  }
  return q;
}

}  // namespace fastwake::hw
