// Power accounting and the result record.
#include "fastwake/metrics.h"

#include <algorithm>

namespace fastwake {

PowerAccount::PowerAccount(int cores, int cstates)
    : time_(cores, std::vector<Nanos>(static_cast<int>(PowerState::kCState0) + cstates, 0)) {}

double PowerAccount::energy_j(const std::vector<double>& state_w, double package_w,
                              Nanos span) const {
  double j = package_w * static_cast<double>(span) * 1e-9;
  for (const auto& core : time_)
    for (std::size_t s = 0; s < core.size() && s < state_w.size(); ++s)
      j += state_w[s] * static_cast<double>(core[s]) * 1e-9;
  return j;
}

double PowerAccount::core_energy_j(const std::vector<double>& state_w) const {
  return energy_j(state_w, 0.0, 0);
}

namespace {
bool busy_state(int s) {
  return s == static_cast<int>(PowerState::kPoll) || s == static_cast<int>(PowerState::kWork) ||
         s == static_cast<int>(PowerState::kIrq);
}
}  // namespace

double PowerAccount::busy_fraction(Nanos span) const {
  if (span <= 0 || time_.empty()) return 0.0;
  double sum = 0;
  for (int c = 0; c < cores(); ++c) sum += core_busy_fraction(c, span);
  return sum / static_cast<double>(time_.size());
}

double PowerAccount::core_busy_fraction(CoreId core, Nanos span) const {
  if (span <= 0 || core < 0 || core >= cores()) return 0.0;
  Nanos busy = 0;
  for (int s = 0; s < states(); ++s)
    if (busy_state(s)) busy += time_[core][s];
  return static_cast<double>(busy) / static_cast<double>(span);
}

double PowerAccount::core_load_fraction(CoreId core, Nanos span) const {
  if (span <= 0 || core < 0 || core >= cores()) return 0.0;
  const Nanos load = time_[core][static_cast<int>(PowerState::kWork)] +
                     time_[core][static_cast<int>(PowerState::kIrq)];
  return static_cast<double>(load) / static_cast<double>(span);
}

void set_saturation(StrategyResult& r, int app_cores) {
  auto max_of = [app_cores](const std::vector<double>& v) {
    double m = 0;
    const int n = std::min<int>(app_cores, static_cast<int>(v.size()));
    for (int c = 0; c < n; ++c) m = std::max(m, v[c]);
    return m;
  };
  r.max_app_core_util = max_of(r.core_util);
  r.max_app_core_load = max_of(r.core_load);
  r.saturated = r.max_app_core_load > kSaturatedUtil;
}

LatencySummary LatencySummary::from(const Histogram& h) {
  LatencySummary s;
  s.mean = h.mean() / 1e3;
  s.p50 = h.quantile(0.50) / 1e3;
  s.p90 = h.quantile(0.90) / 1e3;
  s.p99 = h.quantile(0.99) / 1e3;
  s.p999 = h.quantile(0.999) / 1e3;
  s.max = static_cast<double>(h.max()) / 1e3;
  return s;
}

nlohmann::json StrategyResult::to_json() const {
  nlohmann::json j;
  j["strategy"] = strategy;
  j["backend"] = backend;
  j["platform"] = platform;
  j["seed"] = seed;
  j["requests"] = requests;
  j["latency_us"] = {{"mean", latency_us.mean}, {"p50", latency_us.p50},   {"p90", latency_us.p90},
                     {"p99", latency_us.p99},   {"p999", latency_us.p999}, {"max", latency_us.max}};
  j["throughput_rps"] = throughput_rps;
  j["cpu_util"] = cpu_util;
  j["core_util"] = core_util;
  j["core_load"] = core_load;
  j["max_app_core_util"] = max_app_core_util;
  j["max_app_core_load"] = max_app_core_load;
  j["saturated"] = saturated;
  j["power_w"] = power_w;
  j["core_power_w"] = core_power_w;
  j["package_power_w"] = package_power_w;
  j["power_estimated"] = power_estimated;
  j["energy_per_req_uj"] = energy_per_req_uj;
  j["breakdown_us"] = breakdown_us;
  j["state_share"] = state_share;
  if (!extra.empty()) j["extra"] = extra;
  return j;
}

}  // namespace fastwake
