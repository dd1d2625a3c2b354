// Where the toolkit writes what nobody asked to keep in the source tree.
#pragma once

#include <string>

namespace fastwake {

/// The user's cache folder for the toolkit, the same rule as the Python
/// package's (python/fastwake/cache.py): $FASTWAKE_CACHE_DIR (or the older
/// $FASTWAKE_CACHE), else $XDG_CACHE_HOME/fastwake (if absolute, as the XDG
/// base-directory spec requires), else $HOME/.cache/fastwake. Not created.
std::string user_cache_dir();

}  // namespace fastwake
