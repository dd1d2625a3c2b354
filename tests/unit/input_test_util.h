// Helpers of the hostile-input tests (issue 15): configs with --set overrides,
// the ConfigError a call throws, fastwake-sim as a user runs it.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fastwake/config.h"
#include "fastwake/errors.h"
#include "fastwake/sim/fabric_config.h"

using fastwake::ConfigError;
using fastwake::default_config;
using nlohmann::json;

namespace fw_test {

inline json with_sets(std::vector<std::string> sets, json doc = default_config()) {
  for (const auto& s : sets) fastwake::apply_set(doc, s);
  return doc;
}

/// The ConfigError's message of f(), "" if none; any other exception fails.
template <class F>
inline std::string config_error(F f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a ConfigError: " << e.what();
    return "";
  }
  return "";
}

#define EXPECT_ERROR_HAS(expr, text)                                        \
  do {                                                                      \
    const std::string m_ = config_error([&] { (void)(expr); });             \
    EXPECT_NE(m_.find(text), std::string::npos)                             \
        << "expected a ConfigError containing\n  " << (text) << "\ngot\n  " \
        << (m_.empty() ? std::string("(no error)") : m_);                   \
  } while (0)

inline fastwake::Config load(std::vector<std::string> sets) {
  return fastwake::sim::load_config(with_sets(std::move(sets)));
}

struct Out {
  int code;
  std::string text;
};

inline Out run_sim(const std::string& args) {
  const std::string cmd = std::string(FW_SIM_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  std::array<char, 4096> buf{};
  while (p && fgets(buf.data(), buf.size(), p)) text += buf.data();
  const int st = p ? pclose(p) : -1;
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, text};
}

inline std::filesystem::path temp_dir(const std::string& tag) {
  auto d = std::filesystem::temp_directory_path() /
           ("fw_input_test_" + tag + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d;
}

}  // namespace fw_test

using namespace fw_test;  // NOLINT: test helpers
