// The toolkit's one version (CMake's project(VERSION), the single place it is
// set) and what this build was made from. Every tool's --version prints
// version_line(); result documents carry build_info().
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace fastwake {

/// "0.1.0": the project version from the top-level CMakeLists.txt.
std::string_view version();
/// The git commit the build was made from ("abc1234" or "abc1234-dirty"),
/// "unknown" outside a git checkout (e.g. a source tarball). Read at build
/// time, so it follows commits without a re-configure.
std::string_view git_commit();
/// "<tool> 0.1.0 (commit abc1234)": what --version prints.
std::string version_line(std::string_view tool);
/// "0.1.0+src.0123456789abcdef": version() + a hash of every core/ and sim/
/// source (core/model_version.cmake): names the exact model that produced a
/// number (the Python sweep cache keys on it).
std::string_view model_version();
/// {"version", "commit", "compiler", "build_type"}: for result documents.
nlohmann::json build_info();
/// The "meta" object of every result document (docs/design.md "Result
/// metadata"): {"tool", "toolkit_version", "model_version", "commit", "date"
/// (UTC, ISO 8601, now), "host" (hostname), "build" (build_info()),
/// "libraries" {"nlohmann_json", "libstdc++", "glibc"}}. `tool` names the
/// program or function that wrote the document. Not part of the numbers: the
/// golden test leaves it out.
nlohmann::json result_meta(std::string_view tool);

}  // namespace fastwake
