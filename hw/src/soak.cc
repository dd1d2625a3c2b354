// The loopback soak and its leak rule (docs/hw.md "Soak").
#include "fastwake/hw/soak.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "fastwake/errors.h"
#include "fastwake/strategy.h"
#include "fastwake/version.h"

namespace fastwake::hw {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

LeakVerdict check_leaks(const std::vector<SoakSample>& s, double tol_mb) {
  LeakVerdict v;
  if (s.empty()) return v;
  const std::size_t warm = std::max<std::size_t>(1, s.size() / 4);
  if (s.size() <= warm) {
    v.reason = "too few samples after the warm-up to judge";
    return v;
  }
  const std::vector<SoakSample> after(s.begin() + static_cast<std::ptrdiff_t>(warm), s.end());
  std::ostringstream why;
  const int fd0 = after.front().fds;
  int fd_min = fd0, fd_max = fd0;
  for (const auto& x : after) fd_min = std::min(fd_min, x.fds), fd_max = std::max(fd_max, x.fds);
  v.fd_growth = after.back().fds - fd0;
  if (fd_max != fd_min) {
    v.fd_leak = true;
    why << "open fds not flat after the warm-up: " << fd_min << ".." << fd_max << " (first "
        << fd0 << ", last " << after.back().fds << "); ";
  }
  if (after.size() >= 4) {
    const std::size_t q = after.size() / 4;
    std::vector<double> first, last;
    for (std::size_t i = 0; i < q; ++i) first.push_back(after[i].rss_mb);
    for (std::size_t i = after.size() - q; i < after.size(); ++i) last.push_back(after[i].rss_mb);
    v.rss_growth_mb = median(last) - median(first);
    if (v.rss_growth_mb > tol_mb) {
      v.rss_leak = true;
      why << std::fixed << std::setprecision(1) << "RSS grew " << v.rss_growth_mb
          << " MB between the first and last quarter after the warm-up (tolerance " << tol_mb
          << " MB); ";
    }
  } else {
    why << "RSS not judged: " << after.size() << " samples after the warm-up (needs 4); ";
  }
  v.reason = why.str();
  if (!v.reason.empty()) v.reason.resize(v.reason.size() - 2);
  return v;
}

double process_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  throw DeviceError("soak: no VmRSS in /proc/self/status");
}

int process_fd_count() {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  if (ec) throw DeviceError("soak: cannot list /proc/self/fd: " + ec.message());
  return n - 1;  // the directory iterator's own fd
}

nlohmann::json run_loopback_soak(const Config& cfg, const HwOptions& opt_in, const SoakOptions& so) {
  HwOptions opt = resolve_options(cfg, opt_in);
  opt.throw_on_loss = false;  // count losses over the whole soak
  // A request is lost only if it is never answered: wait up to 60 s after
  // each window. Under other processes' load a SCHED_IDLE dispatcher can be
  // starved for seconds (its weight is 3 against 1024); with the loopback's
  // normal 2 s limit, 30 of 352 fastwake_poll rounds of a 10-minute soak
  // during a build "lost" 1-8 requests, which a 60 s limit showed to be
  // late, not lost. Late replies are counted apart (docs/hw.md "Soak").
  opt.drain_s = 60;
  const auto t0 = std::chrono::steady_clock::now();
  const double limit_s = so.minutes * 60.0;
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  std::vector<SoakSample> samples;
  nlohmann::json failures = nlohmann::json::array();
  int round = 0;
  do {
    ++round;
    SoakSample smp;
    for (const auto& name : cfg.strategies) {
      const HwRun run = run_loopback(cfg, find_strategy(name), opt);
      smp.requests += run.sent;
      smp.lost += run.lost();
      smp.duplicated += run.duplicated();
      smp.late += run.late;
      if (run.lost() || run.duplicated() || !run.drained)
        failures.push_back({{"round", round}, {"strategy", name}, {"sent", run.sent},
                            {"completed", run.completed}, {"served", run.served},
                            {"bad_replies", run.bad_replies}, {"drained", run.drained}});
    }
    smp.t_s = elapsed();
    smp.rss_mb = process_rss_mb();
    smp.fds = process_fd_count();
    samples.push_back(smp);
    if (so.progress)
      *so.progress << "soak: " << std::fixed << std::setprecision(0) << smp.t_s << "/" << limit_s
                   << " s, round " << round << ": " << smp.requests << " requests, " << smp.lost
                   << " lost, " << smp.duplicated << " duplicated, RSS " << std::setprecision(1)
                   << smp.rss_mb << " MB, " << smp.fds << " fds\n"
                   << std::defaultfloat;
  } while (elapsed() < limit_s);

  nlohmann::json doc;
  doc["schema"] = "fastwake-soak/1";
  doc["meta"] = result_meta("fastwake-bench soak");
  doc["config"] = to_json(cfg);
  doc["soak_minutes"] = so.minutes;
  doc["rounds"] = round;
  doc["samples"] = nlohmann::json::array();
  std::uint64_t req = 0, lost = 0, dup = 0, late = 0;
  nlohmann::json minutes = nlohmann::json::array();
  for (const auto& s : samples) {
    doc["samples"].push_back({{"t_s", s.t_s}, {"requests", s.requests}, {"lost", s.lost},
                              {"duplicated", s.duplicated}, {"late", s.late}, {"rss_mb", s.rss_mb},
                              {"fds", s.fds}});
    req += s.requests, lost += s.lost, dup += s.duplicated, late += s.late;
    // A row per started minute: sums over its rounds, RSS and fds of its last.
    const int m = static_cast<int>(s.t_s / 60.0) + 1;
    if (minutes.empty() || minutes.back()["minute"] != m)
      minutes.push_back({{"minute", m}, {"requests", 0}, {"lost", 0}, {"duplicated", 0}});
    auto& row = minutes.back();
    row["requests"] = row["requests"].get<std::uint64_t>() + s.requests;
    row["lost"] = row["lost"].get<std::uint64_t>() + s.lost;
    row["duplicated"] = row["duplicated"].get<std::uint64_t>() + s.duplicated;
    row["rss_mb"] = s.rss_mb;
    row["fds"] = s.fds;
  }
  doc["minutes"] = minutes;
  const LeakVerdict lv = check_leaks(samples);
  doc["verdict"] = {{"ok", lost == 0 && dup == 0 && lv.ok()},
                    {"requests", req},
                    {"lost", lost},
                    {"duplicated", dup},
                    {"late", late},
                    {"fd_leak", lv.fd_leak},
                    {"rss_leak", lv.rss_leak},
                    {"rss_growth_mb", lv.rss_growth_mb},
                    {"fd_growth", lv.fd_growth},
                    {"rss_tolerance_mb", kSoakRssToleranceMb},
                    {"note", lv.reason},
                    {"failures", failures}};
  return doc;
}

void print_soak_table(const nlohmann::json& doc, std::ostream& out) {
  char line[160];
  std::snprintf(line, sizeof line, "%6s %12s %6s %10s %8s %5s\n", "minute", "requests", "lost",
                "duplicated", "RSS MB", "fds");
  out << line;
  for (const auto& r : doc["minutes"]) {
    std::snprintf(line, sizeof line, "%6d %12llu %6llu %10llu %8.1f %5d\n", r["minute"].get<int>(),
                  static_cast<unsigned long long>(r["requests"].get<std::uint64_t>()),
                  static_cast<unsigned long long>(r["lost"].get<std::uint64_t>()),
                  static_cast<unsigned long long>(r["duplicated"].get<std::uint64_t>()),
                  r["rss_mb"].get<double>(), r["fds"].get<int>());
    out << line;
  }
  const auto& v = doc["verdict"];
  std::snprintf(line, sizeof line, "%.1f", v["rss_growth_mb"].get<double>());
  out << "soak: " << doc["rounds"].get<int>() << " rounds, "
      << v["requests"].get<std::uint64_t>() << " requests, " << v["lost"].get<std::uint64_t>()
      << " lost, " << v["duplicated"].get<std::uint64_t>() << " duplicated, "
      << v.value("late", std::uint64_t{0}) << " late (answered > " << kLateAfterS
      << " s after the window); RSS growth " << line
      << " MB (tolerance " << v["rss_tolerance_mb"].get<double>() << "), fd growth "
      << v["fd_growth"].get<int>() << "\n";
  const std::string note = v["note"].get<std::string>();
  if (!note.empty()) out << "soak: " << note << "\n";
  out << "soak verdict: " << (v["ok"].get<bool>() ? "PASS" : "FAIL") << "\n";
}

}  // namespace fastwake::hw
