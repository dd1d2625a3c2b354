// The simple fabric: a fixed delay per message (latency + serialisation), no
// contention; the host model's default link.
#include <cmath>

#include "fastwake/sim/fabric.h"

namespace fastwake::sim {

Nanos SimpleFabric::wire_ns(int bytes) const {
  const double ser = bytes * 8.0 / gbps_;  // ns at gbps
  return latency_ns_ + static_cast<Nanos>(std::llround(ser));
}

void SimpleFabric::send(FabricPort& port, Direction dir, ThreadId /*conn*/, int bytes,
                        std::uint64_t msg, Nanos enter) {
  port.engine->at(enter + wire_ns(bytes),
                  dir == Direction::kToServer ? port.to_server : port.to_client, port.ctx, msg);
}

}  // namespace fastwake::sim
