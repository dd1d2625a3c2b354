// Predicted (simulator, calibrated profile) vs measured (loopback NIC).
#include "compare.h"

#include <cmath>
#include <iomanip>
#include <sstream>

#include "fastwake/errors.h"
#include "fastwake/hw/kernel_counts.h"
#include "fastwake/placement.h"
#include "fastwake/sim/fabric_config.h"
#include "fastwake/sim/simulate.h"
#include "fastwake/version.h"

namespace fastwake::tools {

namespace {

// The host's idle loop decides whether a remote wake-up needs an IPI: when it
// never polls (e.g. haltpoll with guest_halt_poll_ns = 0, or hlt without a
// cpuidle driver, as host_idle_description measures), no C-state of the model
// polls either; the states' costs stay the profile's.
void apply_host_idle(nlohmann::json& doc, const nlohmann::json& host_idle) {
  if (host_idle.is_object() && !host_idle.value("polls", true) && doc["platform"].is_object() &&
      doc["platform"].contains("cstates"))
    for (auto& cs : doc["platform"]["cstates"])
      cs["polling"] = {{"value", false},
                       {"source",
                        "this host's idle loop (fastwake-bench, "
                        "/sys/devices/system/cpu/cpuidle): " +
                            host_idle.value("reason", std::string())}};
}

}  // namespace

Config sim_config_for_verbs(const Config& verbs_cfg, const nlohmann::json& profile,
                            const nlohmann::json& host_idle) {
  nlohmann::json doc = to_json(verbs_cfg);
  doc["platform"] = profile;
  const int k = verbs_cfg.host.app_cores;
  // Soft-RoCE (rxe) raises no interrupt: a request's receive completion is
  // made on the sender's CPU (Linux 6.1, drivers/infiniband/sw/rxe/):
  // rxe_post_send runs the requester inline (rxe_verbs.c:705), which hands a
  // packet for a local address to rxe_loopback -> rxe_rcv (rxe_net.c:422,
  // 402); rxe_resp_queue_pkt runs the responder inline (rxe_resp.c:97);
  // rxe_cq_post schedules the CQ's tasklet on that CPU (rxe_cq.c:135), whose
  // rxe_send_complete calls the completion handler (rxe_cq.c:54):
  // ib_uverbs_comp_handler wakes the waiter from there. So in the
  // model one core beyond the app cores stands for the client's CPU: it takes
  // every "interrupt" (one vector, placed there) and wakes the owner
  // directly, and the client's busy-polling load thread keeps it from ever
  // idling (POLL only).
  doc["host"]["cores"] = k + 1;
  doc["host"]["app_cores"] = k;
  doc["host"]["vectors"] = 1;
  doc["host"]["irq_placement"] = "last";
  doc["host"]["max_cstate"] = -1;
  doc["host"]["irq_delivery"] = "msix";
  doc["host"]["idle_poll_cores"] = nlohmann::json::array({k});
  apply_host_idle(doc, host_idle);
  return sim::load_config(doc);
}

Config sim_config_for_loopback(const Config& loopback_cfg, const nlohmann::json& profile,
                               const nlohmann::json& host_idle) {
  nlohmann::json doc = to_json(loopback_cfg);
  doc["platform"] = profile;
  const int k = loopback_cfg.host.app_cores;
  // The loopback places vectors as core's placement does over host.cores; a
  // vector on an app core is taken there (its IRQ thread), any other by the
  // NIC thread. The model keeps that placement: the same cores (at least one
  // beyond the app cores), every non-app core standing for the NIC thread's
  // CPU, which spins and never idles (POLL only), and interrupts reach app
  // cores as the loopback delivers them (a woken IRQ thread: "thread").
  const int cores = std::max(loopback_cfg.host.cores, k + 1);
  doc["host"]["cores"] = cores;
  doc["host"]["app_cores"] = k;
  doc["host"]["max_cstate"] = -1;
  doc["host"]["irq_delivery"] = "thread";
  nlohmann::json nic_cores = nlohmann::json::array();
  for (int c = k; c < cores; ++c) nic_cores.push_back(c);
  doc["host"]["idle_poll_cores"] = nic_cores;
  apply_host_idle(doc, host_idle);
  Config out = sim::load_config(doc);
  const Placement lp = Placement::of(loopback_cfg), sp = Placement::of(out);
  for (std::size_t v = 0; v < lp.vector_core.size(); ++v) {
    const bool on_app = lp.vector_core[v] < k;
    if (on_app ? sp.vector_core[v] != lp.vector_core[v] : sp.vector_core[v] < k)
      throw ConfigError("host.cores: with host.cores = " + std::to_string(loopback_cfg.host.cores) +
                        " the model cannot place vector " + std::to_string(v) +
                        " as the loopback does; give host.cores > host.app_cores");
  }
  return out;
}

nlohmann::json run_compare(const Config& cfg, const nlohmann::json& profile,
                           const hw::HwOptions& opt, std::ostream* progress) {
  const Config scfg = sim_config_for_loopback(cfg, profile, hw::host_idle_description());
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
          {"meta", result_meta("fastwake-bench compare")},
          {"platform", scfg.platform.name},
          {"rows", rows},
          {"measured", measured},
          {"predicted", predicted}};
}

namespace {

/// Two-sided 95 % quantile of Student's t with `dof` degrees of freedom.
double t975(int dof) {
  static const double t[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                             2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131};
  if (dof < 1) return 0;
  return dof <= 15 ? t[dof - 1] : 1.96 + 2.5 / dof;  // (within 1 % of t for dof > 15)
}

}  // namespace

nlohmann::json combine_rounds(const std::vector<nlohmann::json>& rounds) {
  if (rounds.size() == 1) return rounds.front();
  nlohmann::json rows = nlohmann::json::array();
  const auto& first = rounds.front()["rows"];
  const int n = static_cast<int>(rounds.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    nlohmann::json row = {{"strategy", first[i]["strategy"]}, {"rounds", n}};
    for (const char* q : {"p50", "p99", "mean"}) {
      for (const char* side : {"measured_", "predicted_"}) {
        const std::string k = side + std::string(q) + "_us";
        double sum = 0;
        for (const auto& r : rounds) sum += r["rows"][i][k].get<double>();
        row[k] = sum / n;
      }
      const std::string k = "error_" + std::string(q);
      double sum = 0, sq = 0;
      for (const auto& r : rounds) sum += r["rows"][i][k].get<double>();
      const double mean = sum / n;
      for (const auto& r : rounds) {
        const double d = r["rows"][i][k].get<double>() - mean;
        sq += d * d;
      }
      row[k] = mean;
      row[k + "_ci95"] = t975(n - 1) * std::sqrt(sq / (n - 1)) / std::sqrt(static_cast<double>(n));
    }
    rows.push_back(row);
  }
  nlohmann::json each = nlohmann::json::array();
  for (const auto& r : rounds) each.push_back(r);
  return {{"schema", "fastwake-compare/1"},
          {"meta", result_meta("fastwake-bench compare")},
          {"platform", rounds.back()["platform"]},
          {"rows", rows},
          {"rounds", each}};
}

void print_compare_table(const nlohmann::json& cmp, std::ostream& out) {
  out << "predicted (model, platform " << cmp["platform"].get<std::string>()
      << ") vs measured (loopback NIC), round trip in us; err = model error (pred - meas) / meas "
         "(+34% = the model predicts higher)\n";
  const bool ci = !cmp["rows"].empty() && cmp["rows"][0].contains("error_p50_ci95");
  if (ci)
    out << "means over " << cmp["rows"][0]["rounds"].get<int>()
        << " rounds of (calibrate, measure); err: mean error +- half-width of its 95 % "
           "t-interval\n";
  const int ew = ci ? 14 : 9;
  out << std::left << std::setw(16) << "strategy" << std::right << std::setw(11) << "meas p50"
      << std::setw(11) << "pred p50" << std::setw(ew) << "err" << std::setw(11) << "meas p99"
      << std::setw(11) << "pred p99" << std::setw(ew) << "err"
      << "\n";
  auto pct = [&](const nlohmann::json& r, const char* k) {
    std::ostringstream o;
    o << std::showpos << std::fixed << std::setprecision(0) << 100 * r[k].get<double>() << "%";
    if (ci)
      o << std::noshowpos << "+-" << 100 * r[std::string(k) + "_ci95"].get<double>() << "pt";
    return o.str();
  };
  out << std::fixed << std::setprecision(2);
  for (const auto& r : cmp["rows"])
    out << std::left << std::setw(16) << r["strategy"].get<std::string>() << std::right
        << std::setw(11) << r["measured_p50_us"].get<double>() << std::setw(11)
        << r["predicted_p50_us"].get<double>() << std::setw(ew) << pct(r, "error_p50")
        << std::setw(11) << r["measured_p99_us"].get<double>() << std::setw(11)
        << r["predicted_p99_us"].get<double>() << std::setw(ew) << pct(r, "error_p99")
        << "\n";
}

}  // namespace fastwake::tools
