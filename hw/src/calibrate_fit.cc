// Calibration's fit: non-negative least squares (Lawson-Hanson active set,
// on Eigen) of the measured paths onto the model's cost increments.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "fastwake/errors.h"
#include "fastwake/hw/calibrate.h"

namespace fastwake::hw {

// ============================================================== NNLS

std::vector<double> nnls(const std::vector<std::vector<double>>& Av,
                         const std::vector<double>& bv) {
  const int m = static_cast<int>(Av.size());
  const int n = m ? static_cast<int>(Av[0].size()) : 0;
  Eigen::MatrixXd A(m, n);
  Eigen::VectorXd b(m);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) A(i, j) = Av[i][j];
    b(i) = bv[i];
  }
  Eigen::VectorXd x = Eigen::VectorXd::Zero(n);
  std::vector<bool> passive(n, false);
  const double tol = 1e-10 * std::max(1.0, A.cwiseAbs().maxCoeff()) * std::max(m, n);
  // Solves the unconstrained problem on the passive set.
  auto solve_passive = [&]() {
    std::vector<int> idx;
    for (int j = 0; j < n; ++j)
      if (passive[j]) idx.push_back(j);
    Eigen::VectorXd z = Eigen::VectorXd::Zero(n);
    if (idx.empty()) return z;
    Eigen::MatrixXd Ap(m, idx.size());
    for (std::size_t k = 0; k < idx.size(); ++k) Ap.col(k) = A.col(idx[k]);
    const Eigen::VectorXd zp = Ap.colPivHouseholderQr().solve(b);
    for (std::size_t k = 0; k < idx.size(); ++k) z(idx[k]) = zp(k);
    return z;
  };
  for (int outer = 0; outer < 3 * n + 10; ++outer) {
    const Eigen::VectorXd w = A.transpose() * (b - A * x);
    int best = -1;
    double best_w = tol;
    for (int j = 0; j < n; ++j)
      if (!passive[j] && w(j) > best_w) best = j, best_w = w(j);
    if (best < 0) break;  // KKT conditions hold
    passive[best] = true;
    for (int inner = 0; inner < 3 * n + 10; ++inner) {
      const Eigen::VectorXd z = solve_passive();
      bool feasible = true;
      for (int j = 0; j < n; ++j)
        if (passive[j] && z(j) <= 0) feasible = false;
      if (feasible) {
        x = z;
        break;
      }
      // Step back towards x until a passive variable hits zero; drop it.
      double alpha = 1.0;
      for (int j = 0; j < n; ++j)
        if (passive[j] && z(j) <= 0) alpha = std::min(alpha, x(j) / (x(j) - z(j)));
      x = x + alpha * (z - x);
      for (int j = 0; j < n; ++j)
        if (passive[j] && std::abs(x(j)) <= tol) passive[j] = false, x(j) = 0;
    }
  }
  return std::vector<double>(x.data(), x.data() + n);
}

std::vector<std::pair<std::string, double>> fit_components(
    const std::vector<PathMeasurement>& paths, std::vector<double>* residual) {
  std::vector<std::string> names;
  for (const auto& p : paths)
    for (const auto& c : p.components)
      if (std::find(names.begin(), names.end(), c) == names.end()) names.push_back(c);
  std::vector<std::vector<double>> A(paths.size(), std::vector<double>(names.size(), 0));
  std::vector<double> b;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    for (const auto& c : paths[i].components)
      A[i][std::find(names.begin(), names.end(), c) - names.begin()] += 1;
    b.push_back(paths[i].median_ns);
  }
  // Relative errors: each row is scaled by 1/median, so a 20 us path with a
  // few us of noise cannot drown a 200 ns syscall. Unfitted rows stay out.
  std::vector<std::vector<double>> Aw;
  std::vector<double> bw;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (!paths[i].fitted) continue;
    const double s = b[i] > 0 ? 1.0 / b[i] : 1.0;
    Aw.push_back(A[i]);
    for (double& a : Aw.back()) a *= s;
    bw.push_back(b[i] * s);
  }
  const std::vector<double> x = nnls(Aw, bw);
  if (residual) {
    residual->clear();
    for (std::size_t i = 0; i < paths.size(); ++i) {
      double pred = 0;
      for (std::size_t j = 0; j < names.size(); ++j) pred += A[i][j] * x[j];
      residual->push_back(b[i] - pred);
    }
  }
  std::vector<std::pair<std::string, double>> out;
  for (std::size_t j = 0; j < names.size(); ++j) out.emplace_back(names[j], x[j]);
  return out;
}

}  // namespace fastwake::hw
