// Golden scenario: the simulator's full output for a small config is checked
// in and compared exactly. Regenerate after an intended model change with
//   FW_UPDATE_GOLDEN=1 build/tests/fastwake_unit_tests --gtest_filter='Golden*'
// and explain the change in the commit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "fastwake/config.h"
#include "fastwake/sim/simulate.h"

namespace {

/// Rounds every float to 9 significant digits so the comparison does not
/// depend on the last bit of a libm or compiler.
nlohmann::json normalise(const nlohmann::json& j) {
  if (j.is_number_float()) {
    const double v = j.get<double>();
    if (v == 0.0) return 0.0;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return std::strtod(buf, nullptr);
  }
  if (j.is_object()) {
    nlohmann::json o = nlohmann::json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "wall_s") continue;  // host time, never deterministic
      if (it.key() == "meta") continue;    // who/when/where (version, commit, date, host): not a number of the model
      o[it.key()] = normalise(it.value());
    }
    return o;
  }
  if (j.is_array()) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : j) a.push_back(normalise(e));
    return a;
  }
  return j;
}

}  // namespace

TEST(Golden, SmallScenarioMatchesCheckedInOutput) {
  const std::string dir = std::string(FW_SOURCE_DIR) + "/tests/golden/";
  const auto cfg = fastwake::parse_config(fastwake::load_json_file(dir + "small_config.json"));
  const nlohmann::json got = normalise(fastwake::sim::simulate_all(cfg));
  const std::string path = dir + "small_result.json";
  if (std::getenv("FW_UPDATE_GOLDEN")) {
    std::ofstream(path) << got.dump(2) << "\n";
    GTEST_SKIP() << "rewrote " << path;
  }
  std::ifstream f(path);
  ASSERT_TRUE(f) << "missing " << path << " (generate it with FW_UPDATE_GOLDEN=1)";
  const nlohmann::json want = nlohmann::json::parse(f);
  ASSERT_EQ(got["results"].size(), want["results"].size());
  for (std::size_t i = 0; i < want["results"].size(); ++i)
    EXPECT_EQ(got["results"][i].dump(2), want["results"][i].dump(2)) << "result " << i;
  EXPECT_EQ(got["config"].dump(2), want["config"].dump(2));
}
