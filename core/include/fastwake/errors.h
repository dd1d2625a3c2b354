// The toolkit's typed errors: set-up and config code throws these; fast paths
// return counts or std::error_code instead (see STYLE.md).
#pragma once

#include <stdexcept>
#include <string>

namespace fastwake {

/// Invalid configuration or command-line input. `what()` names the JSON path.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A device or OS facility is missing or failed (NIC, /dev/fastwake, /proc/irq).
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace fastwake
