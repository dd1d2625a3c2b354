#include "fastwake/version.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <ctime>

#if defined(__GLIBC__)
#include <gnu/libc-version.h>
#endif

#include "build_commit.h"   // generated at build time: FW_GIT_COMMIT
#include "model_version.h"  // generated at build time: FW_MODEL_VERSION

namespace fastwake {

std::string_view version() { return FW_PROJECT_VERSION; }

std::string_view git_commit() { return FW_GIT_COMMIT; }

std::string_view model_version() { return FW_MODEL_VERSION; }

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

namespace {

std::string utc_now_iso() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf.data();
}

std::string host_name() {
  std::array<char, 256> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0) return "unknown";
  return buf.data();
}

}  // namespace

nlohmann::json result_meta(std::string_view tool) {
  nlohmann::json libs = {{"nlohmann_json", std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                                               std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                                               std::to_string(NLOHMANN_JSON_VERSION_PATCH)}};
#if defined(__GLIBCXX__)
  libs["libstdc++"] = std::to_string(__GLIBCXX__);
#endif
#if defined(__GLIBC__)
  libs["glibc"] = gnu_get_libc_version();  // the C library this process runs on
#endif
  return {{"tool", std::string(tool)},
          {"toolkit_version", std::string(version())},
          {"model_version", std::string(model_version())},
          {"commit", std::string(git_commit())},
          {"date", utc_now_iso()},
          {"host", host_name()},
          {"build", build_info()},
          {"libraries", libs}};
}

}  // namespace fastwake
