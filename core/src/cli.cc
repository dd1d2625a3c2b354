// Shared command-line helpers.
#include "fastwake/cli.h"

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "fastwake/config.h"
#include "fastwake/errors.h"

namespace fastwake {

nlohmann::json compose_config(const std::optional<std::string>& file,
                              const std::optional<std::string>& platform,
                              const std::vector<std::string>& sets) {
  nlohmann::json doc = file ? load_json_file(*file) : default_config();
  if (platform) {
    builtin_platform(*platform);  // validates the name
    doc["platform"] = *platform;
  }
  for (const auto& s : sets) apply_set(doc, s);
  return doc;
}

namespace {
std::string fmt(double v, int prec) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(prec) << v;
  return o.str();
}
}  // namespace

void print_result_table(const nlohmann::json& doc, std::ostream& out) {
  const auto& res = doc["results"];
  const auto& cfg = doc["config"];
  double irq_p50 = 0;
  for (const auto& r : res)
    if (r["strategy"] == "interrupt") irq_p50 = r["latency_us"]["p50"].get<double>();
  std::string backend = res.empty() ? "?" : res[0]["backend"].get<std::string>();
  out << "config " << cfg["name"].get<std::string>() << ", backend " << backend << ", platform "
      << cfg["platform"]["name"].get<std::string>() << ", " << cfg["host"]["app_cores"]
      << " app core(s) x " << cfg["workload"]["threads_per_core"] << " threads, "
      << cfg["workload"]["kind"].get<std::string>() << "\n";
  out << std::left << std::setw(28) << "strategy" << std::right << std::setw(10) << "p50 us"
      << std::setw(10) << "p99 us" << std::setw(10) << "vs irq" << std::setw(12) << "kreq/s"
      << std::setw(8) << "CPU %" << std::setw(9) << "power W" << std::setw(10) << "uJ/req"
      << "\n";
  bool estimated = false;
  for (const auto& r : res) {
    const double p50 = r["latency_us"]["p50"].get<double>();
    const std::string vs =
        irq_p50 > 0 ? fmt(100.0 * (p50 - irq_p50) / irq_p50, 0) + "%" : std::string("-");
    estimated = estimated || r.value("power_estimated", true);
    out << std::left << std::setw(28) << r["strategy"].get<std::string>() << std::right
        << std::setw(10) << fmt(p50, 2) << std::setw(10)
        << fmt(r["latency_us"]["p99"].get<double>(), 2) << std::setw(10) << vs << std::setw(12)
        << fmt(r["throughput_rps"].get<double>() / 1e3, 1) << std::setw(8)
        << fmt(100.0 * r["cpu_util"].get<double>(), 0) << std::setw(9)
        << fmt(r["power_w"].get<double>(), 2) << std::setw(10)
        << fmt(r["energy_per_req_uj"].get<double>(), 2) << "\n";
  }
  out << "latency = round trip as the client (sim) or NIC thread (loopback) sees it"
      << (estimated ? "; power is an estimate" : "") << "\n";
}

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::filesystem::path p(path);
  const std::filesystem::path tmp = p.string() + ".tmp";
  {
    std::ofstream f(tmp);
    if (!f) throw ConfigError(path + ": cannot write (does the directory exist?)");
    f << text;
    f.flush();
    if (!f) throw ConfigError(path + ": write failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, p, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw ConfigError(path + ": cannot write: " + ec.message());
  }
}

}  // namespace fastwake
