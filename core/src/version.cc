#include "fastwake/version.h"

#include "build_commit.h"  // generated at build time: FW_GIT_COMMIT

namespace fastwake {

std::string_view version() { return FW_PROJECT_VERSION; }

std::string_view git_commit() { return FW_GIT_COMMIT; }

std::string version_line(std::string_view tool) {
  std::string s(tool);
  s += ' ';
  s += version();
  s += " (commit ";
  s += git_commit();
  s += ')';
  return s;
}

nlohmann::json build_info() {
  return {{"version", std::string(version())},
          {"commit", std::string(git_commit())},
#if defined(__clang__)
          {"compiler", "clang " __clang_version__},
#elif defined(__GNUC__)
          {"compiler", "gcc " __VERSION__},
#else
          {"compiler", "unknown"},
#endif
          {"build_type", FW_BUILD_TYPE}};
}

}  // namespace fastwake
