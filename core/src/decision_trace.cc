// Text form of decision traces (for test failure messages).
#include "fastwake/decision_trace.h"

namespace fastwake {

std::string Decision::str() const {
  auto n = [](long long x) { return std::to_string(x); };
  switch (kind) {
    case Kind::kThreadCore:
      return "thread " + n(a) + " on core " + n(b);
    case Kind::kCqVector:
      return "cq " + n(a) + " on vector " + n(b);
    case Kind::kVectorCore:
      return "vector " + n(a) + " irq on core " + n(b);
    case Kind::kRemap:
      return "remap vector " + n(a) + " -> core " + n(b);
    case Kind::kIrq:
      return "irq for cq " + n(a) + " on core " + n(b);
    case Kind::kHandOff:
      return "handoff cq " + n(a) + " -> thread " + n(b) + " on core " + n(c);
    case Kind::kServe:
      return "serve thread " + n(a) + " for " + n(b) + " ns";
    case Kind::kMigrate:
      return "migrate thread " + n(a) + " -> core " + n(b);
  }
  return "?";
}

std::string DecisionTrace::str() const {
  std::string out;
  for (const Decision& d : decisions()) out += d.str() + "\n";
  return out;
}

}  // namespace fastwake
