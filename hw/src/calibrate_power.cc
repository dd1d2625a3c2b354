// Calibration's power step: the per-state watts from RAPL package energy,
// where a host has a readable counter (else it says so and skips).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <iomanip>
#include <sstream>
#include <thread>
#include <vector>

#include "calibrate_internal.h"
#include "fastwake/hw/calibrate.h"
#include "fastwake/hw/linux_cpu.h"

namespace fastwake::hw {

// ============================================================== power (RAPL)

std::string calibrate_power_rapl(nlohmann::json& profile, const std::vector<int>& cpus,
                                 std::ostream* progress) {
  auto say = [&](const std::string& m) {
    if (progress) *progress << "calibrate: " << m << "\n";
    return m;
  };
  if (!read_rapl_energy_j())
    return say(
        "power: no readable RAPL counter (/sys/class/powercap/intel-rapl:N/energy_uj): "
        "poll_w and package_w stay estimates, power calibration skipped");
  if (cpus.empty()) return say("power: no usable CPUs, power calibration skipped");
  // Package power over 1 s, with every CPU of `cpus` spinning or all idle.
  auto watts = [&](bool spin) -> std::optional<double> {
    std::atomic<bool> stop{false};
    std::vector<std::thread> spinners;
    if (spin)
      for (int c : cpus)
        spinners.emplace_back([&stop, c] {
          pin_self(c);
          while (!stop.load(std::memory_order_relaxed)) cpu_relax();
        });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // settle (frequency, idle states)
    const auto e0 = read_rapl_energy_j();
    const Nanos t0 = mono_now();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const auto e1 = read_rapl_energy_j();
    const Nanos t1 = mono_now();
    stop = true;
    for (auto& t : spinners) t.join();
    if (!e0 || !e1 || *e1 <= *e0) return std::nullopt;  // unreadable or the counter wrapped
    return (*e1 - *e0) / (static_cast<double>(t1 - t0) * 1e-9);
  };
  say("power: measuring RAPL package power, idle then " + std::to_string(cpus.size()) +
      " CPUs spinning");
  const auto idle = watts(false);
  const auto busy = watts(true);
  if (!idle || !busy)
    return say("power: RAPL counter unreadable or wrapped during the measurement: skipped");
  const double n = static_cast<double>(cpus.size());
  const auto& cstates = profile["cstates"];
  const double deep_w = cstates.empty() ? 0.0 : cstates.back()["power_w"]["value"].get<double>();
  const double poll_w = std::max(0.0, (*busy - *idle) / n);
  const double package_w = std::max(0.0, *idle - n * deep_w);
  std::ostringstream src;
  src << std::fixed << std::setprecision(2) << "RAPL package energy on " << machine_description()
      << ", " << today() << ": all " << cpus.size() << " usable CPUs idle " << *idle
      << " W, all spinning " << *busy << " W over 1 s each";
  auto& params = profile["params"];
  params["poll_w"] = {{"value", poll_w},
                      {"source", src.str() + "; poll_w = (spinning - idle) / CPUs"}};
  params["package_w"] = {
      {"value", package_w},
      {"source", src.str() + "; package_w = idle - CPUs x the deepest C-state's " +
                     std::to_string(deep_w) + " W (an estimate)"}};
  std::ostringstream line;
  line << std::fixed << std::setprecision(2) << "power (RAPL): idle " << *idle << " W, spinning "
       << *busy << " W -> poll_w " << poll_w << " W, package_w " << package_w << " W";
  return say(line.str());
}

}  // namespace fastwake::hw
