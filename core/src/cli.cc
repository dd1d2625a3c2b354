// Shared command-line helpers.
#include "fastwake/cli.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

/// A signed percentage, "+34%" / "-82%" / "+0%" (README "Conventions").
std::string signed_pct(double v) {
  std::ostringstream o;
  o << std::showpos << std::fixed << std::setprecision(0) << v << "%";
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
      << std::setw(10) << "p99 us" << std::setw(12) << "p50 vs irq" << std::setw(12) << "kreq/s"
      << std::setw(8) << "CPU %" << std::setw(9) << "power W" << std::setw(12) << "uJ/req"
      << "\n";
  bool estimated = false;
  for (const auto& r : res) {
    const double p50 = r["latency_us"]["p50"].get<double>();
    const std::string vs =
        irq_p50 > 0 ? signed_pct(100.0 * (p50 - irq_p50) / irq_p50) : std::string("-");
    estimated = estimated || r.value("power_estimated", true);
    out << std::left << std::setw(28) << r["strategy"].get<std::string>() << std::right
        << std::setw(10) << fmt(p50, 2) << std::setw(10)
        << fmt(r["latency_us"]["p99"].get<double>(), 2) << std::setw(12) << vs << std::setw(12)
        << fmt(r["throughput_rps"].get<double>() / 1e3, 1) << std::setw(8)
        << fmt(100.0 * r["cpu_util"].get<double>(), 0) << std::setw(9)
        << fmt(r["power_w"].get<double>(), 2) << std::setw(12)
        << fmt(r["energy_per_req_uj"].get<double>(), 2) << "\n";
  }
  out << "latency = round trip as the client (sim, verbs) or NIC thread (loopback) sees it, us; "
         "p50 vs irq = (p50 - p50 of interrupt) / p50 of interrupt (negative = faster)"
      << (estimated ? "; power is an estimate" : "") << "\n";
}

void write_file_atomic(const std::string& path, const std::string& text) {
  // A temporary file of its own beside the target (mkstemp: two writers of
  // one path never share it), written whole, fsync'ed, then renamed over the
  // target. errno is kept before any clean-up call can overwrite it.
  if (path.empty()) throw ConfigError("output file: empty path");
  const std::filesystem::path p(path);
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : ".";
  std::string tmpl = (dir / ("." + p.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) {
    const int err = errno;
    throw ConfigError(path + ": cannot write: " + std::strerror(err) +
                      (err == ENOENT || err == ENOTDIR ? " (does the directory exist?)" : ""));
  }
  auto fail = [&](const char* what, int err) {
    ::close(fd);
    ::unlink(tmpl.c_str());
    throw ConfigError(path + ": " + what + ": " + std::strerror(err));
  };
  for (std::size_t off = 0; off < text.size();) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write failed", errno);
    }
    off += static_cast<std::size_t>(n);
  }
  // mkstemp makes the file 0600; give it the mode a plain create would.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd, 0666 & ~mask) != 0) fail("cannot set the file mode", errno);
  if (::fsync(fd) != 0) fail("fsync failed", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    throw ConfigError(path + ": write failed: " + std::strerror(err));
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    throw ConfigError(path + ": cannot write: " + std::strerror(err));
  }
  // The rename itself reaches the disk with the directory (best effort).
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace fastwake
