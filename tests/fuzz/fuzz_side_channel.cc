// Fuzzes what a replay peer may send over the side channel: the input is the
// received byte stream. Each framed message is parsed (take_message); a hello
// is read as the server reads it (parse_hello, QpInfo::from_json per QP,
// parse_config of its config), a ready as the client reads it. Errors must be
// DeviceError (framing, fields) or ConfigError (the config).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/hw/side_channel_msg.h"
#include "fastwake/hw/verbs_device.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string buf = fw_fuzz::text(data, size);
  try {
    while (auto m = fastwake::hw::take_message(buf, "fuzz-peer")) {
      const std::string type = (*m)["type"].get<std::string>();
      if (type == "hello") {
        const fastwake::hw::Hello h = fastwake::hw::parse_hello(*m);
        for (const auto& q : h.qps) (void)fastwake::hw::QpInfo::from_json(q);
        try {
          (void)fastwake::parse_config(h.config);
        } catch (const fastwake::ConfigError&) {
        }
      } else if (type == "ready") {
        (void)fastwake::hw::message_int(*m, "rx_depth", 64, 1, 1 << 20);
        if (m->contains("qps") && m->at("qps").is_array())
          for (const auto& q : m->at("qps")) (void)fastwake::hw::QpInfo::from_json(q);
      }
    }
  } catch (const fastwake::DeviceError&) {
  }
  return 0;
}
