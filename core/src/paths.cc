#include "fastwake/paths.h"

#include <cstdlib>

namespace fastwake {

std::string user_cache_dir() {
  for (const char* var : {"FASTWAKE_CACHE_DIR", "FASTWAKE_CACHE"})
    if (const char* v = std::getenv(var); v && *v) return v;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x == '/')
    return std::string(x) + "/fastwake";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.cache/fastwake";
}

}  // namespace fastwake
