// Validation by counts on the verbs path (issue 11, item 9): per request, the
// replay server's kernel counts on Soft-RoCE in the testbed guest (or on a
// host's RDMA device) equal the model's for the same config, mapped by
// tools::sim_config_for_verbs (rxe's completion handler runs on the client's
// CPU; docs/hw.md "Kernel counts", docs/validation.md). The guest run is made
// by run_verbs_counts.sh, which passes the server's result document in
// FW_VERBS_COUNTS_JSON; without it every test skips.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "compare.h"
#include "fastwake/config.h"
#include "fastwake/sim/simulate.h"
#include "fastwake/strategy.h"

using namespace fastwake;

namespace {

double get(const nlohmann::json& j, const char* k) {
  return j.is_object() && j.contains(k) && j[k].is_number() ? j[k].get<double>() : 0.0;
}

struct Sides {
  nlohmann::json model, host, raw;
};

const nlohmann::json& server_doc() {
  static const nlohmann::json doc = [] {
    const char* p = std::getenv("FW_VERBS_COUNTS_JSON");
    if (!p) return nlohmann::json();
    std::ifstream in(p);
    if (!in) return nlohmann::json::object({{"unreadable", p}});
    return nlohmann::json::parse(in);
  }();
  return doc;
}

// The server's result for `strategy` beside the model's, or a skip reason.
std::string run_both(const char* strategy, Sides* out) {
  const nlohmann::json& doc = server_doc();
  if (doc.is_null())
    return "FW_VERBS_COUNTS_JSON is not set (ctest -R verbs_counts runs the guest first)";
  if (doc.contains("unreadable"))
    return "";  // reported as a failure by the caller
  const Config cfg = parse_config(doc.at("config"));
  for (const auto& r : doc.at("results")) {
    if (r.value("strategy", std::string()) != strategy) continue;
    const auto& ex = r.at("extra");
    out->host = ex.value("per_request", nlohmann::json::object());
    out->raw = ex.value("kernel_counts", nlohmann::json::object());
    const Config scfg = tools::sim_config_for_verbs(cfg, to_json(cfg)["platform"],
                                                    out->raw.value("idle", nlohmann::json()));
    out->model = sim::simulate(scfg, find_strategy(strategy)).result.extra["per_request"];
    return "";
  }
  return "";
}

void print(const char* title, const Sides& x) {
  std::printf("\n%s: %.0f requests (model), %.0f (server)\n", title, get(x.model, "requests"),
              get(x.host, "requests"));
  std::printf("  %-24s %10s %10s\n", "per request", "model", "server");
  for (const char* k : {"context_switches", "voluntary_switches", "nonvoluntary_switches",
                        "dispatcher_switches", "cq_events", "handoffs", "ipis_call",
                        "ipis_resched", "remote_wakeups", "local_wakeups"})
    std::printf("  %-24s %10.4f %10.4f\n", k, get(x.model, k), get(x.host, k));
  std::printf("  server CAL by CPU %s, RES by CPU %s\n  server idle: %s\n",
              x.raw.value("ipis_call_by_cpu", nlohmann::json()).dump().c_str(),
              x.raw.value("ipis_resched_by_cpu", nlohmann::json()).dump().c_str(),
              x.raw.value("idle", nlohmann::json::object()).value("reason", std::string()).c_str());
}

// Tolerances per request. What the run's own threads decide (the owner
// blocks once per request, one completion event per armed CQ, one hand-off
// per request) does not depend on anything else: kOwnTol, as on the
// loopback (tests/hw/counts_test.cc). Preemptions and IPIs also count what
// else ran on the server's CPU in the guest (its kernel threads, the
// server's unpinned control thread, TLB shootdowns of the server's own
// process). The emulated guest has no other load; what it has is its own
// kernel threads on the server's CPU: a busy-polling server thread was
// preempted 0.055 times per request there (first guest run, 127 requests),
// the dispatcher switched 1.039 times per request against the model's 1.
// rxe runs its completion and responder tasklets as softirqs, which the
// kernel defers to ksoftirqd under load, a likely source; the model has no
// such thread. kSharedTol = 0.1 bounds that background; docs/validation.md
// records the figures.
constexpr double kOwnTol = 0.02;
constexpr double kSharedTol = 0.10;
// 4 s of ping-pong in the emulated guest gives ~400-700 requests.
constexpr double kMinRequests = 200;

#define EXPECT_COUNT(key, tol)                                                             \
  EXPECT_NEAR(get(x.host, key), get(x.model, key), tol)                                    \
      << key << ": server " << get(x.host, key) << " vs model " << get(x.model, key)       \
      << " (tolerance " << (tol) << ")"

#define RUN_BOTH(strategy)                                                               \
  Sides x;                                                                               \
  if (const std::string why = run_both(strategy, &x); !why.empty()) GTEST_SKIP() << why; \
  ASSERT_FALSE(server_doc().contains("unreadable"))                                      \
      << "cannot read " << server_doc()["unreadable"];                                    \
  ASSERT_TRUE(x.host.is_object() && !x.host.empty())                                     \
      << strategy << ": the server's result has no extra.per_request";                   \
  print(strategy, x);                                                                    \
  ASSERT_GE(get(x.host, "requests"), kMinRequests) << "too few requests in the window"

void expect_own(const Sides& x) {
  EXPECT_COUNT("voluntary_switches", kOwnTol);
  EXPECT_COUNT("cq_events", kOwnTol);
  EXPECT_COUNT("handoffs", kOwnTol);
}

void expect_shared(const Sides& x) {
  EXPECT_COUNT("nonvoluntary_switches", kSharedTol);
  EXPECT_COUNT("dispatcher_switches", kSharedTol);
  EXPECT_COUNT("ipis_call", kSharedTol);
  EXPECT_COUNT("ipis_resched", kSharedTol);
}

}  // namespace

// The owner blocks in ibv_get_cq_event once per request and is woken from
// the client's CPU, where rxe's responder posts the completion: a remote
// wake-up of an idle CPU, so one function-call IPI per request unless the
// guest's idle loop polls.
TEST(VerbsCounts, Interrupt) {
  RUN_BOTH("interrupt");
  expect_own(x);
  expect_shared(x);
  EXPECT_NEAR(get(x.model, "remote_wakeups"), 1.0, 0.01);
}

// Busy polling: no event, no block, no IPI.
TEST(VerbsCounts, BusyPoll) {
  RUN_BOTH("busy_poll");
  expect_own(x);
  expect_shared(x);
}

// The dispatcher polls the CQ and hands off to the owner on its own CPU:
// one voluntary switch of the owner and one of the dispatcher per request, no
// event, no IPI.
TEST(VerbsCounts, FastwakePollDispatcher) {
  RUN_BOTH("fastwake_poll");
  expect_own(x);
  expect_shared(x);
}
