// Shared by the calibration's source files (not part of the hw/ API).
#pragma once

#include <string>

namespace fastwake::hw {

/// Today's date (UTC, YYYY-MM-DD), for a calibrated profile's sources.
std::string today();

}  // namespace fastwake::hw
