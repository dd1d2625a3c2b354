// Predicted (simulator, calibrated profile) vs measured (loopback NIC).
#include "compare.h"

#include <cmath>
#include <iomanip>

#include "fastwake/sim/fabric_config.h"
#include "fastwake/sim/simulate.h"

namespace fastwake::tools {

Config sim_config_for_loopback(const Config& loopback_cfg, const nlohmann::json& profile) {
  nlohmann::json doc = to_json(loopback_cfg);
  doc["platform"] = profile;
  const int k = loopback_cfg.host.app_cores;
  doc["host"]["cores"] = k + 1;
  doc["host"]["app_cores"] = k;
  doc["host"]["irq_placement"] = "last";
  doc["host"]["idle_poll_cores"] = nlohmann::json::array({k});
  doc["host"]["max_cstate"] = -1;
  return sim::load_config(doc);
}

nlohmann::json run_compare(const Config& cfg, const nlohmann::json& profile,
                           const hw::HwOptions& opt, std::ostream* progress) {
  const Config scfg = sim_config_for_loopback(cfg, profile);
  if (progress) *progress << "compare: simulating with platform " << scfg.platform.name << "\n";
  const nlohmann::json predicted = sim::simulate_all(scfg);
  if (progress) *progress << "compare: measuring on the loopback NIC\n";
  const nlohmann::json measured = hw::run_loopback_all(cfg, opt, progress);
  nlohmann::json rows = nlohmann::json::array();
  for (std::size_t i = 0; i < cfg.strategies.size(); ++i) {
    const auto& m = measured["results"][i];
    const auto& p = predicted["results"][i];
    nlohmann::json row = {{"strategy", cfg.strategies[i]}};
    for (const char* q : {"p50", "p99", "mean"}) {
      const double mv = m["latency_us"][q].get<double>(), pv = p["latency_us"][q].get<double>();
      row["measured_" + std::string(q) + "_us"] = mv;
      row["predicted_" + std::string(q) + "_us"] = pv;
      row["error_" + std::string(q)] = mv > 0 ? (pv - mv) / mv : 0.0;
    }
    rows.push_back(row);
  }
  return {{"schema", "fastwake-compare/1"},
          {"platform", scfg.platform.name},
          {"rows", rows},
          {"measured", measured},
          {"predicted", predicted}};
}

void print_compare_table(const nlohmann::json& cmp, std::ostream& out) {
  out << "predicted (model, platform " << cmp["platform"].get<std::string>()
      << ") vs measured (loopback NIC), round trip in us\n";
  out << std::left << std::setw(16) << "strategy" << std::right << std::setw(11) << "meas p50"
      << std::setw(11) << "pred p50" << std::setw(9) << "err" << std::setw(11) << "meas p99"
      << std::setw(11) << "pred p99" << std::setw(9) << "err"
      << "\n";
  auto pct = [](double e) {
    std::ostringstream o;
    o << std::showpos << std::fixed << std::setprecision(0) << 100 * e << "%";
    return o.str();
  };
  out << std::fixed << std::setprecision(2);
  for (const auto& r : cmp["rows"])
    out << std::left << std::setw(16) << r["strategy"].get<std::string>() << std::right
        << std::setw(11) << r["measured_p50_us"].get<double>() << std::setw(11)
        << r["predicted_p50_us"].get<double>() << std::setw(9) << pct(r["error_p50"].get<double>())
        << std::setw(11) << r["measured_p99_us"].get<double>() << std::setw(11)
        << r["predicted_p99_us"].get<double>() << std::setw(9) << pct(r["error_p99"].get<double>())
        << "\n";
}

}  // namespace fastwake::tools
