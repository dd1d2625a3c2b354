// Calibration: microbenchmarks of this host's wake-up paths, a path x
// component matrix, a non-negative least-squares fit of the model's cost
// parameters, and a platform profile written with the fit's residuals.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fastwake::hw {

/// Non-negative least squares (Lawson-Hanson active set): argmin ||A x - b||
/// subject to x >= 0. A is rows x cols, row-major. Debian's Eigen 3.4 ships
/// no NNLS module, so this is the textbook algorithm on Eigen's QR.
std::vector<double> nnls(const std::vector<std::vector<double>>& A, const std::vector<double>& b);

/// One measured path: its median one-way time and which components it sums.
struct PathMeasurement {
  std::string name;
  std::string description;
  double median_ns = 0;
  double p10_ns = 0, p90_ns = 0;
  std::vector<std::string> components;  ///< each appears once in the sum
  /// False: shown with its residual but left out of the fit (a path that
  /// measures a different situation than the model's stage, see calibrate.cc).
  bool fitted = true;
};

/// Fits component costs (ns) to the paths' medians, minimising relative
/// errors (rows scaled by 1/median). Returns component ->
/// value and fills per-path residuals (measured - predicted) into `residual`.
std::vector<std::pair<std::string, double>> fit_components(
    const std::vector<PathMeasurement>& paths, std::vector<double>* residual);

struct CalibrateOptions {
  std::string out;   ///< profile path; default OUT_DIR/host-<name>.json
  /// Folder of the default profile path (created if missing); empty =
  /// SOURCE_DIR/configs/platforms, where `--platform host-<name>` finds it.
  std::string out_dir;
  std::string name;  ///< default host-<hostname>
  int iterations = 20000;
  std::vector<int> cpus;         ///< two CPUs; default the first two usable
  std::string source_dir = ".";  ///< repository root (for the default output path)
};

struct CalibrateReport {
  std::string path;     ///< profile written
  std::string summary;  ///< human-readable table (paths, fit, residuals)
  nlohmann::json profile;
};

/// This machine's host name, sanitised for a file name.
std::string host_name();

/// Runs the microbenchmarks (a few seconds), fits, writes the profile.
CalibrateReport calibrate(const CalibrateOptions& opt, std::ostream* progress);

/// Power calibration where the host has RAPL: package power with every CPU of
/// `cpus` idle, then with all of them spinning (1 s each); writes poll_w
/// ((spinning - idle) / CPUs) and package_w (idle minus the cores' deepest
/// C-state watts) into `profile` with the measurement as their source. Without
/// a readable RAPL counter it changes nothing and says so. Returns one line
/// for the report.
std::string calibrate_power_rapl(nlohmann::json& profile, const std::vector<int>& cpus,
                                 std::ostream* progress);

/// Builds a platform profile from fitted components (exposed for tests:
/// synthetic components in, profile out).
nlohmann::json profile_from_components(const std::string& name,
                                       const std::vector<std::pair<std::string, double>>& comp,
                                       const std::vector<PathMeasurement>& paths,
                                       const std::vector<double>& residual);

}  // namespace fastwake::hw
