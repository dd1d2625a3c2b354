// Replay tool sessions: the server side (ThreadRuntime<VerbsNic>, window CPU
// accounting, migrations + remapper) and the client side (RC connections on a
// shared CQ pair, closed-loop or Poisson load, RTT histogram), plus the shared
// result record and the exactly-once check.
#include "fastwake/hw/verbs_replay.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "fastwake/errors.h"
#include "fastwake/histogram.h"
#include "fastwake/hw/linux_cpu.h"
#include "fastwake/hw/side_channel.h"
#include "fastwake/hw/thread_runtime.h"
#include "fastwake/metrics.h"
#include "fastwake/migration_plan.h"
#include "fastwake/placement.h"
#include "fastwake/remap_driver.h"
#include "fastwake/workload.h"

namespace fastwake::hw {

namespace {

using nlohmann::json;
constexpr Nanos kNever = std::numeric_limits<Nanos>::max();
constexpr int kMaxThreadsPerCore = 256;

void sleep_until_ns(Nanos t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000), static_cast<long>(t % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

json summary_json(const LatencySummary& s) {
  return {{"mean", s.mean}, {"p50", s.p50}, {"p90", s.p90}, {"p99", s.p99}, {"p999", s.p999}, {"max", s.max}};
}

LatencySummary summary_from_json(const json& j) {
  LatencySummary s;
  s.mean = j.value("mean", 0.0);
  s.p50 = j.value("p50", 0.0);
  s.p90 = j.value("p90", 0.0);
  s.p99 = j.value("p99", 0.0);
  s.p999 = j.value("p999", 0.0);
  s.max = j.value("max", 0.0);
  return s;
}

std::string cpu_list_text(const std::vector<int>& v) {
  std::string s;
  for (int c : v) s += (s.empty() ? "" : ",") + std::to_string(c);
  return s;
}

std::vector<int> resolve_server_cpus(const Config& cfg, std::vector<int> cpus) {
  const std::vector<int> usable = usable_cpus();
  const std::set<int> ok(usable.begin(), usable.end());
  if (cpus.empty()) {
    if (static_cast<int>(usable.size()) < cfg.host.app_cores)
      throw ConfigError("host.app_cores: " + std::to_string(cfg.host.app_cores) +
                        " app cores, but this process may use " + std::to_string(usable.size()) + " CPUs (" +
                        cpu_list_text(usable) + ")");
    cpus.assign(usable.begin(), usable.begin() + cfg.host.app_cores);
  }
  if (static_cast<int>(cpus.size()) != cfg.host.app_cores)
    throw ConfigError("--cpus: " + std::to_string(cpus.size()) +
                      " CPUs given for host.app_cores = " + std::to_string(cfg.host.app_cores));
  for (int c : cpus)
    if (!ok.count(c))
      throw ConfigError("--cpus: no such CPU " + std::to_string(c) + " (usable: " + cpu_list_text(usable) +
                        ")");
  if (std::set<int>(cpus.begin(), cpus.end()).size() != cpus.size())
    throw ConfigError("--cpus: a CPU is listed twice");
  if (cfg.workload.threads_per_core > kMaxThreadsPerCore)
    throw ConfigError("workload.threads_per_core: at most " + std::to_string(kMaxThreadsPerCore) +
                      " real threads per core");
  for (std::size_t i = 0; i < cfg.workload.migrations.size(); ++i)
    if (cfg.workload.migrations[i].to_core >= cfg.host.app_cores)
      throw ConfigError("workload.migrations[" + std::to_string(i) +
                        "].to_core: the server can only move "
                        "threads between app cores (0.." +
                        std::to_string(cfg.host.app_cores - 1) + ")");
  return cpus;
}

/// Fields both sides must agree on (the server serves what the client measures).
std::string config_mismatch(const Config& server, const Config& client) {
  std::string d;
  auto cmp = [&](const char* key, auto a, auto b) {
    if (a != b) {
      std::ostringstream o;
      o << (d.empty() ? "" : "; ") << key << ": server " << a << ", client " << b;
      d += o.str();
    }
  };
  cmp("host.app_cores", server.host.app_cores, client.host.app_cores);
  cmp("workload.threads_per_core", server.workload.threads_per_core, client.workload.threads_per_core);
  cmp("workload.message_bytes", server.workload.message_bytes, client.workload.message_bytes);
  cmp("workload.service_ns", server.workload.service_ns, client.workload.service_ns);
  cmp("workload.service_dist", dist_name(server.workload.service_dist), dist_name(client.workload.service_dist));
  return d;
}

bool is_software_device(const std::string& name) {
  std::error_code ec;
  return !std::filesystem::exists("/sys/class/infiniband/" + name + "/device", ec);
}

/// The result record both sides print and write (same numbers on both).
StrategyResult make_result(const Config& cfg, const std::string& strategy, const json& cl, const json& sv) {
  StrategyResult r;
  r.strategy = strategy;
  r.backend = "verbs";
  r.platform = cfg.platform.name;
  r.seed = cfg.run.seed;
  r.requests = cl.value("measured", 0ull);
  r.latency_us = summary_from_json(cl.value("rtt_us", json::object()));
  const double span = cl.value("window_s", 0.0);
  const auto in_window = cl.value("completed_in_window", 0ull);
  r.throughput_rps = span > 0 ? static_cast<double>(in_window) / span : 0;
  r.cpu_util = sv.value("cpu_util", 0.0);
  r.power_w = sv.value("power_w", 0.0);
  r.power_estimated = sv.value("power_estimated", true);
  r.energy_per_req_uj = in_window ? r.power_w * span * 1e6 / static_cast<double>(in_window) : 0;
  LatencySummary half = r.latency_us;
  for (double* v : {&half.mean, &half.p50, &half.p90, &half.p99, &half.p999, &half.max}) *v /= 2;
  r.extra = {{"rtt_half_us", summary_json(half)},
             {"sent", cl.value("sent", 0ull)},
             {"completed", cl.value("completed", 0ull)},
             {"served", sv.value("served", 0ull)},
             {"replies", sv.value("replies", 0ull)},
             {"events", sv.value("events", 0ull)},
             {"acks", sv.value("acks", 0ull)},
             {"arms", sv.value("arms", 0ull)},
             {"handoffs", sv.value("handoffs", 0ull)},
             {"stashed", sv.value("stashed", 0ull)},
             {"bad_replies", cl.value("bad_replies", 0ull)},
             {"skipped_sends", cl.value("skipped", 0ull)},
             {"drained", cl.value("drained", false)},
             {"window_s", span},
             {"server", sv},
             {"client", cl.value("info", json::object())}};
  const std::string dev = sv.value("device_name", std::string());
  if (std::getenv("FW_GUEST") || sv.value("software_device", false))
    r.extra["timing_note"] = "software RDMA (" + dev +
                             (std::getenv("FW_GUEST") ? ") in an emulated guest" : ")") +
                             ": functional figures, not hardware timings";
  return r;
}

/// Empty if every request was answered exactly once, else what went wrong.
std::string check_accounting(const json& cl, const json& sv) {
  std::ostringstream o;
  const auto sent = cl.value("sent", 0ull), completed = cl.value("completed", 0ull);
  const auto served = sv.value("served", 0ull), rt_served = sv.value("rt_served", 0ull);
  const auto replies = sv.value("replies", 0ull);
  if (!cl.value("drained", false))
    o << "the client did not get every reply back (" << sent - completed << " missing); ";
  if (sent != completed || completed != served || served != rt_served || served != replies)
    o << "client sent " << sent << ", client completed " << completed << ", server served " << served
      << " (threads counted " << rt_served << "), replies posted " << replies << "; ";
  if (cl.value("bad_replies", 0ull))
    o << cl.value("bad_replies", 0ull) << " duplicate/out-of-order replies; ";
  if (sv.value("events", 0ull) != sv.value("acks", 0ull))
    o << "events " << sv.value("events", 0ull) << " != acks " << sv.value("acks", 0ull) << "; ";
  if (sv.value("left_in_stash", 0ull))
    o << sv.value("left_in_stash", 0ull) << " completions left in a stash; ";
  if (sv.value("errors", 0ull))
    o << "server errors: " << sv.value("errors", 0ull)
      << " (first: " << sv.value("first_error", std::string()) << "); ";
  if (cl.value("errors", 0ull))
    o << "client errors: " << cl.value("errors", 0ull)
      << " (first: " << cl.value("first_error", std::string()) << "); ";
  std::string s = o.str();
  if (s.size() >= 2) s.resize(s.size() - 2);
  return s;
}

json new_doc(const Config& cfg) {
  json doc;
  doc["schema"] = "fastwake-result/1";
  doc["config"] = to_json(cfg);
  doc["results"] = json::array();
  return doc;
}

// ============================================================== server

class Server {
 public:
  Server(const Config& cfg, const ReplayServerOptions& o, std::ostream* progress)
      : cfg_(cfg),
        o_(o),
        progress_(progress),
        cpus_(resolve_server_cpus(cfg, o.app_cpus)),
        dev_(o.dev),
        listener_(o.bind, o.port) {
    if (progress_)
      *progress_ << "server: " << dev_.describe() << "; app CPUs " << cpu_list_text(cpus_) << " ("
                 << cfg.host.app_cores << " core(s) x " << cfg.workload.threads_per_core
                 << " threads); side channel on port " << listener_.port() << "\n";
  }

  json run() {
    json doc = new_doc(cfg_);
    std::vector<std::string> ran;
    for (;;) {
      auto ch = listener_.accept(-1);
      const bool last = session(*ch, doc, ran);
      if (last && !o_.forever) break;
    }
    Config c = cfg_;
    c.strategies = ran;
    doc["config"] = to_json(c);
    return doc;
  }

 private:
  [[noreturn]] void refuse(SideChannel& ch, const std::string& msg, bool config_error) {
    try {
      ch.send({{"type", "error"}, {"message", msg}});
    } catch (const DeviceError&) {
    }
    if (config_error) throw ConfigError(msg);
    throw DeviceError(msg);
  }

  /// One strategy for one client. Returns true after the client's last one.
  bool session(SideChannel& ch, json& doc, std::vector<std::string>& ran) {
    const json hello = ch.expect("hello", 60'000);
    if (hello.value("proto", 0) != kReplayProto)
      refuse(ch,
             "replay protocol " + std::to_string(hello.value("proto", 0)) +
                 " from the client, this server speaks " + std::to_string(kReplayProto) +
                 " (same fastwake-bench on both sides?)",
             true);
    const StrategySpec* sp = nullptr;
    Config ccfg;
    try {
      sp = &find_strategy(hello.at("strategy").get<std::string>());
      ccfg = parse_config(hello.at("config"));
    } catch (const std::exception& e) {
      refuse(ch, std::string("bad hello from the client: ") + e.what(), true);
    }
    const StrategySpec& s = *sp;
    if (const std::string d = config_mismatch(cfg_, ccfg); !d.empty())
      refuse(ch, "server and client configs differ (" + d + "); give both the same config and --set options",
             true);
    std::vector<QpInfo> remote;
    for (const auto& q : hello.value("qps", json::array())) remote.push_back(QpInfo::from_json(q));
    const int index = hello.value("index", 0), total = hello.value("total", 1);
    if (progress_)
      *progress_ << "server: [" << index + 1 << "/" << total << "] " << s.name << " for client " << ch.peer()
                 << "\n";

    std::optional<VerbsNic> nic;
    try {
      nic.emplace(dev_, cfg_, s, o_.nic, cpus_);
      nic->connect(remote);
    } catch (const ConfigError& e) {
      refuse(ch, e.what(), true);
    } catch (const DeviceError& e) {
      refuse(ch, e.what(), false);
    }
    HwOptions hw;
    hw.app_cpus = cpus_;
    ThreadRuntime<VerbsNic> rt(cfg_, s, *nic, hw);
    rt.start();
    std::optional<RemapDriver> remap;
    if (s.remap_affinity) {
      std::vector<VectorId> cv(cfg_.threads());
      for (int t = 0; t < cfg_.threads(); ++t) cv[t] = nic->cq_vector(t);
      remap.emplace(cfg_.remapper, *nic, cv, Placement::of(cfg_).thread_core);
    }
    RemapDriver* remap_p = remap ? &*remap : nullptr;
    auto move = [&rt](ThreadId t, CoreId to) { rt.migrate(t, to); };
    json qps = json::array();
    for (const auto& q : nic->local_qps()) qps.push_back(q.to_json());
    ch.send({{"type", "ready"}, {"qps", qps}, {"rx_depth", o_.nic.rx_depth}, {"device", dev_.describe()}});

    ch.expect("go", 60'000);
    const Nanos t0 = mono_now();
    MigrationPlan plan(cfg_.workload.migrations);
    CpuTimes c0, c1;
    std::optional<double> e0, e1;
    bool have0 = false, have1 = false;
    json client;
    Nanos last_msg = mono_now();
    for (;;) {
      Nanos next = kNever;
      if (const auto m = plan.next_at()) next = t0 + *m;
      if (remap_p && remap_p->next_deadline()) next = std::min(next, *remap_p->next_deadline());
      const Nanos now0 = mono_now();
      const int timeout =
          next == kNever ? 1000 : static_cast<int>(std::clamp<Nanos>((next - now0) / 1'000'000 + 1, 0, 1000));
      const auto m = ch.recv(timeout);
      const Nanos now = mono_now();
      plan.run_due(now - t0, now, move, remap_p, nullptr);
      if (remap_p) remap_p->run_due(now);
      if (!m) {
        if (now - last_msg > 600'000'000'000LL)
          throw DeviceError("the client " + ch.peer() + " went silent for 10 minutes");
        continue;
      }
      last_msg = now;
      const std::string type = (*m)["type"];
      if (type == "window_start") {
        c0 = read_cpu_times();
        e0 = read_rapl_energy_j();
        have0 = true;
      } else if (type == "window_end") {
        c1 = read_cpu_times();
        e1 = read_rapl_energy_j();
        have1 = true;
      } else if (type == "done") {
        client = m->value("stats", json::object());
        break;
      } else if (type == "error") {
        throw DeviceError("the client reports: " + m->value("message", std::string("?")));
      } else {
        throw DeviceError("side channel: unexpected '" + type + "' from the client");
      }
    }
    rt.stop();
    const VerbsNic::Totals tot = nic->finish();
    const double span = client.value("window_s", 0.0);
    json sv = {
        {"served", tot.served},
        {"rt_served", rt.served()},
        {"replies", tot.replies},
        {"events", tot.events},
        {"acks", tot.acks},
        {"arms", tot.arms},
        {"stashed", tot.stashed},
        {"left_in_stash", tot.left_in_stash},
        {"errors", tot.errors},
        {"first_error", tot.first_error},
        {"handoffs", rt.handoffs()},
        {"app_cpus", cpus_},
        {"device_name", dev_.name()},
        {"software_device", is_software_device(dev_.name())},
        {"nic", nic->describe()},
        {"remapper_moves", remap ? remap->moves() : 0},
        // ThreadRuntime uses fastwake.ko when /dev/fastwake exists: switch-to
        // for the dispatcher, the attached channel for the trimmed wake path.
        {"handoff_mechanism", rt.handoff_mechanism()},
        {"wait_mechanism", rt.wait_mechanism()},
        {"machine", machine_description()}};
    if (have0 && have1) {
      sv["cpu_util"] = cpu_busy_fraction(c0, c1, cpus_);
      if (e0 && e1 && span > 0) {
        sv["power_w"] = (*e1 - *e0) / span;
        sv["power_estimated"] = false;
        sv["power_source"] = "RAPL package energy (server)";
      } else {
        const auto& p = cfg_.platform;
        const double util = sv["cpu_util"];
        const double idle_w = p.cstates.empty() ? 0.0 : p.cstates.back().power_w;
        const double busy_w = s.wait == WaitMode::kBlock ? p.work_w : p.poll_w;
        sv["power_w"] =
            p.package_w + static_cast<double>(cpus_.size()) * (util * busy_w + (1 - util) * idle_w);
        sv["power_estimated"] = true;
        sv["power_source"] =
            "estimate: /proc/stat utilisation of the server's app CPUs x platform power model";
      }
    }
    ch.send({{"type", "stats"}, {"stats", sv}});
    const StrategyResult r = make_result(cfg_, s.name, client, sv);
    ran.push_back(s.name);
    doc["results"].push_back(r.to_json());
    if (const std::string bad = check_accounting(client, sv); !bad.empty())
      throw DeviceError("verbs run of " + s.name + " lost or duplicated completions: " + bad);
    return index + 1 >= total;
  }

  const Config& cfg_;
  const ReplayServerOptions& o_;
  std::ostream* progress_;
  std::vector<int> cpus_;
  VerbsDevice dev_;
  TcpListener listener_;
};

// ============================================================== client

/// The client's RC connections: a shared receive CQ and send CQ (polled only,
/// never armed), per connection rx_depth receive slots and tx_depth send slots.
class ClientSide {
 public:
  ClientSide(VerbsDevice& dev, const Config& cfg, const ReplayClientOptions& o)
      : dev_(dev),
        cfg_(cfg),
        o_(o),
        n_(cfg.threads()),
        slot_(std::max<std::size_t>(
            64, (static_cast<std::size_t>(cfg.workload.message_bytes) + 63) & ~std::size_t{63})) {
    buf_ =
        std::make_unique<VerbsBuffer>(dev, static_cast<std::size_t>(n_) * (o.rx_depth + o.tx_depth) * slot_);
    rcq_ = ibv_create_cq(dev.ctx(), n_ * o.rx_depth + 1, nullptr, nullptr, 0);
    scq_ = ibv_create_cq(dev.ctx(), n_ * o.tx_depth + 1, nullptr, nullptr, 0);
    if (!rcq_ || !scq_) {
      cleanup();
      throw DeviceError(dev.name() + ": ibv_create_cq (client): " + std::strerror(errno));
    }
    std::mt19937 rng(static_cast<unsigned>(mono_now()));
    const std::size_t wire = wire_bytes(cfg.workload.message_bytes);
    const std::uint32_t want_inline = wire <= 256 ? static_cast<std::uint32_t>(wire) : 0;
    try {
      for (int c = 0; c < n_; ++c) {
        Conn k;
        k.max_inline = want_inline;
        k.qp = dev.create_rc_qp(scq_, rcq_, o.tx_depth, o.rx_depth, &k.max_inline);
        k.psn = rng() & 0xffffff;
        conns_.push_back(k);
        for (int s = 0; s < o.rx_depth; ++s) post_recv(c, s);
      }
    } catch (...) {
      cleanup();
      throw;
    }
  }
  ~ClientSide() { cleanup(); }

  json local_qps() const {
    json a = json::array();
    for (const auto& c : conns_) a.push_back(dev_.local_info(c.qp, c.psn).to_json());
    return a;
  }
  void connect(const json& remote) {
    if (!remote.is_array() || static_cast<int>(remote.size()) != n_)
      throw DeviceError("the server sent " + std::to_string(remote.size()) + " QP addresses for " +
                        std::to_string(n_) + " connections");
    for (int c = 0; c < n_; ++c) dev_.connect(conns_[c].qp, conns_[c].psn, QpInfo::from_json(remote[c]));
  }

  struct Stats {
    Histogram hist;
    std::uint64_t sent = 0, completed = 0, measured = 0, completed_in_window = 0;
    std::uint64_t bad_replies = 0, skipped = 0, errors = 0;
    std::string first_error;
    bool drained = true;
    Nanos win_start = 0, win_end = 0;
  };

  /// The load loop (runs on its own pinned thread). `window_end` is published
  /// when the window closes (time, or -n requests sent in it).
  void drive(Nanos t0, int max_outstanding, std::atomic<Nanos>* window_end, Stats* st) {
    const auto& w = cfg_.workload;
    ClientClock clock(w, cfg_.run.seed, n_);
    const bool poisson = clock.open_loop();
    const Nanos ws = t0 + cfg_.run.warmup_ns;
    Nanos we = o_.iterations > 0 ? kNever : ws + cfg_.run.duration_ns;
    if (we != kNever) window_end->store(we);
    Nanos drain_limit = we == kNever ? kNever : we + 2'000'000'000;
    std::vector<Nanos> next_send(n_);
    for (int c = 0; c < n_; ++c) next_send[c] = clock.first_send(c, t0);
    std::uint64_t in_flight = 0, sent_in_window = 0;
    Nanos last_progress = t0;
    ibv_wc wcs[32];
    while (mono_now() < t0) cpu_relax();
    for (;;) {
      // Replies.
      const int n = ibv_poll_cq(rcq_, 32, wcs);
      if (n < 0) error(st, "ibv_poll_cq(receive) failed");
      for (int i = 0; i < n; ++i) {
        const Nanos done = mono_now();
        const int c = static_cast<int>(wcs[i].wr_id >> 32);
        const int slot = static_cast<int>(wcs[i].wr_id & 0xffffffff);
        if (wcs[i].status != IBV_WC_SUCCESS) {
          error(st, std::string("receive completion: ") + ibv_wc_status_str(wcs[i].status));
          continue;
        }
        Conn& k = conns_[c];
        WireHeader h;
        std::memcpy(&h, recv_slot(c, slot), sizeof h);
        post_recv(c, slot);
        if (k.outstanding <= 0 || h.id != k.next_reply) {
          ++st->bad_replies;  // a duplicate or a reordering: never counted as a completion
          continue;
        }
        ++k.next_reply;
        --k.outstanding;
        --in_flight;
        ++st->completed;
        last_progress = done;
        if (h.t_sent >= ws && h.t_sent < we) {
          st->hist.record(done - h.t_sent);
          ++st->measured;
        }
        if (done >= ws && done < we) ++st->completed_in_window;
        if (!poisson) next_send[c] = done + clock.think(c);
      }
      reap_sends(st);
      // Requests.
      const Nanos now = mono_now();
      const bool sending = now < we;
      if (sending) {
        for (int c = 0; c < n_; ++c) {
          Conn& k = conns_[c];
          if (now < next_send[c] || (!poisson && k.outstanding > 0)) continue;
          if (k.outstanding >= max_outstanding ||
              k.send_posted - k.send_done >= static_cast<std::uint64_t>(o_.tx_depth - 1)) {
            ++st->skipped;  // Poisson beyond the receive depth: dropped like the loopback's full ring
            next_send[c] = poisson ? next_send[c] + clock.gap(c) : now + 1000;
            continue;
          }
          const Nanos t = mono_now();
          if (!post_send(c, WireHeader{k.next_id, t}, st)) {
            next_send[c] = kNever;
            continue;
          }
          ++k.next_id;
          ++k.outstanding;
          if (in_flight == 0) last_progress = t;
          ++in_flight;
          ++st->sent;
          if (t >= ws && ++sent_in_window == static_cast<std::uint64_t>(o_.iterations) && o_.iterations > 0) {
            we = t + 1;  // -n: the window closes after the n-th request sent in it
            window_end->store(we);
            drain_limit = we + 2'000'000'000;
          }
          next_send[c] = poisson ? next_send[c] + clock.gap(c) : kNever;
        }
      }
      if (!sending && in_flight == 0) break;
      if (now > drain_limit) {
        st->drained = false;
        break;
      }
      if (in_flight > 0 && now > last_progress + 10'000'000'000LL && now > t0) {
        error(st, "no reply from the server for 10 s with " + std::to_string(in_flight) +
                      " requests outstanding");
        st->drained = false;
        break;
      }
    }
    st->win_start = ws;
    st->win_end = we;
  }

 private:
  struct Conn {
    ibv_qp* qp = nullptr;
    std::uint32_t psn = 0;
    std::uint32_t max_inline = 0;
    std::uint64_t next_id = 0, next_reply = 0;
    int outstanding = 0;
    std::uint64_t send_posted = 0, send_done = 0;
  };
  static constexpr int kSignalEvery = 16;

  char* recv_slot(int c, int s) const {
    return buf_->data() + (static_cast<std::size_t>(c) * (o_.rx_depth + o_.tx_depth) + s) * slot_;
  }
  char* send_slot(int c, std::uint64_t i) const {
    return recv_slot(c, o_.rx_depth + static_cast<int>(i % static_cast<std::uint64_t>(o_.tx_depth)));
  }
  void post_recv(int c, int s) {
    ibv_sge sge{reinterpret_cast<std::uintptr_t>(recv_slot(c, s)), static_cast<std::uint32_t>(slot_),
                buf_->lkey()};
    ibv_recv_wr wr{};
    wr.wr_id = (static_cast<std::uint64_t>(c) << 32) | static_cast<std::uint32_t>(s);
    wr.sg_list = &sge;
    wr.num_sge = 1;
    ibv_recv_wr* bad = nullptr;
    if (const int rc = ibv_post_recv(conns_[c].qp, &wr, &bad); rc != 0)
      throw DeviceError(std::string("client ibv_post_recv: ") + std::strerror(rc));
  }
  bool post_send(int c, const WireHeader& h, Stats* st) {
    Conn& k = conns_[c];
    char* p = send_slot(c, k.send_posted);
    std::memcpy(p, &h, sizeof h);
    ibv_sge sge{reinterpret_cast<std::uintptr_t>(p),
                static_cast<std::uint32_t>(wire_bytes(cfg_.workload.message_bytes)), buf_->lkey()};
    ibv_send_wr wr{};
    wr.wr_id = (static_cast<std::uint64_t>(c) << 32) | static_cast<std::uint32_t>(k.send_posted);
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.opcode = IBV_WR_SEND;
    const bool signaled = (k.send_posted + 1) % kSignalEvery == 0;
    wr.send_flags = (signaled ? IBV_SEND_SIGNALED : 0) | (sge.length <= k.max_inline ? IBV_SEND_INLINE : 0);
    ibv_send_wr* bad = nullptr;
    if (const int rc = ibv_post_send(k.qp, &wr, &bad); rc != 0) {
      error(st, std::string("ibv_post_send: ") + std::strerror(rc));
      return false;
    }
    ++k.send_posted;
    return true;
  }
  void reap_sends(Stats* st) {
    ibv_wc wcs[32];
    const int n = ibv_poll_cq(scq_, 32, wcs);
    for (int i = 0; i < n; ++i) {
      Conn& k = conns_[static_cast<int>(wcs[i].wr_id >> 32)];
      if (wcs[i].status != IBV_WC_SUCCESS)
        error(st, std::string("send completion: ") + ibv_wc_status_str(wcs[i].status));
      // The low 32 bits of the posted count: rebuild the full count.
      const std::uint32_t low = static_cast<std::uint32_t>(wcs[i].wr_id) + 1;
      const std::uint64_t done =
          k.send_posted - static_cast<std::uint32_t>(static_cast<std::uint32_t>(k.send_posted) - low);
      k.send_done = std::max(k.send_done, done);
    }
  }
  static void error(Stats* st, const std::string& what) {
    if (st->errors++ == 0) st->first_error = what;
  }
  void cleanup() {
    for (auto& c : conns_)
      if (c.qp) ibv_destroy_qp(c.qp);
    conns_.clear();
    if (rcq_) ibv_destroy_cq(rcq_);
    if (scq_) ibv_destroy_cq(scq_);
    rcq_ = scq_ = nullptr;
    buf_.reset();
  }

  VerbsDevice& dev_;
  const Config& cfg_;
  const ReplayClientOptions& o_;
  int n_;
  std::size_t slot_;
  std::unique_ptr<VerbsBuffer> buf_;
  ibv_cq* rcq_ = nullptr;
  ibv_cq* scq_ = nullptr;
  std::vector<Conn> conns_;
};

int default_client_cpu(int cpu) {
  const auto usable = usable_cpus();
  if (cpu < 0) return usable.empty() ? -1 : usable.back();
  if (std::find(usable.begin(), usable.end(), cpu) == usable.end())
    throw ConfigError("--cpu: no such CPU " + std::to_string(cpu) + " (usable: " + cpu_list_text(usable) +
                      ")");
  return cpu;
}

json client_session(VerbsDevice& dev, const Config& cfg, const ReplayClientOptions& o, int cpu,
                    const std::string& strategy, int index, int total, json* result_out) {
  SideChannel ch = SideChannel::connect(o.server, o.port, o.connect_timeout_s);
  ClientSide side(dev, cfg, o);
  ch.send({{"type", "hello"},
           {"proto", kReplayProto},
           {"strategy", strategy},
           {"index", index},
           {"total", total},
           {"config", to_json(cfg)},
           {"qps", side.local_qps()}});
  const json ready = ch.expect("ready", 120'000);
  side.connect(ready.at("qps"));
  const int server_rx = ready.value("rx_depth", 64);
  const int max_out = std::max(1, std::min({server_rx, o.rx_depth, o.tx_depth}) - 1);

  ClientSide::Stats st;
  std::atomic<Nanos> window_end{kNever};
  const Nanos t0 = mono_now() + 5'000'000;
  std::exception_ptr failure;  // written by the driver before driver_done
  std::atomic<bool> driver_done{false};
  std::thread driver([&] {
    try {
      if (cpu >= 0) pin_self(cpu);
      side.drive(t0, max_out, &window_end, &st);
    } catch (...) {
      failure = std::current_exception();
    }
    driver_done.store(true, std::memory_order_release);
  });
  try {
    ch.send({{"type", "go"}});
    sleep_until_ns(t0 + cfg.run.warmup_ns);
    ch.send({{"type", "window_start"}});
    Nanos we;
    while ((we = window_end.load()) == kNever && !driver_done.load(std::memory_order_acquire))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (we != kNever) sleep_until_ns(we);
    ch.send({{"type", "window_end"}});
  } catch (...) {
    driver.join();
    throw;
  }
  driver.join();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      try {
        ch.send({{"type", "error"}, {"message", e.what()}});
      } catch (...) {
      }
      throw;
    }
  }
  const double window_s = st.win_end > st.win_start && st.win_end != kNever
                              ? static_cast<double>(st.win_end - st.win_start) * 1e-9
                              : 0.0;
  json cl = {{"sent", st.sent},
             {"completed", st.completed},
             {"measured", st.measured},
             {"completed_in_window", st.completed_in_window},
             {"bad_replies", st.bad_replies},
             {"skipped", st.skipped},
             {"errors", st.errors},
             {"first_error", st.first_error},
             {"drained", st.drained},
             {"window_s", window_s},
             {"rtt_us", summary_json(LatencySummary::from(st.hist))},
             {"info", {{"device", dev.describe()}, {"cpu", cpu}, {"max_outstanding", max_out}}}};
  ch.send({{"type", "done"}, {"stats", cl}});
  const json sv = ch.expect("stats", 60'000).value("stats", json::object());
  *result_out = make_result(cfg, strategy, cl, sv).to_json();
  if (const std::string bad = check_accounting(cl, sv); !bad.empty())
    throw DeviceError("verbs run of " + strategy + " lost or duplicated completions: " + bad);
  return cl;
}

}  // namespace

json run_verbs_server(const Config& cfg, const ReplayServerOptions& o, std::ostream* progress) {
  if (cfg.workload.kind == LoadKind::kScript)
    throw ConfigError("workload.kind: \"script\" runs on the simulator and the loopback NIC only (the replay "
                      "client drives pingpong or poisson)");
  Server s(cfg, o, progress);
  return s.run();
}

json run_verbs_client(const Config& cfg, const ReplayClientOptions& o, std::ostream* progress) {
  if (cfg.workload.kind == LoadKind::kScript)
    throw ConfigError("workload.kind: \"script\" runs on the simulator and the loopback NIC only (the replay "
                      "client drives pingpong or poisson)");
  if (o.server.empty())
    throw ConfigError("client: give the server's address (fastwake-bench client SERVER ...)");
  if (o.rx_depth < 2 || o.tx_depth < 32) throw ConfigError("client: --rx-depth >= 2 and --tx-depth >= 32");
  const int cpu = default_client_cpu(o.cpu);
  VerbsDevice dev(o.dev);
  if (progress)
    *progress << "client: " << dev.describe() << "; load thread on CPU " << cpu << "; server " << o.server
              << ":" << o.port << "\n";
  json doc = new_doc(cfg);
  const int total = static_cast<int>(cfg.strategies.size());
  for (int i = 0; i < total; ++i) {
    const auto wall0 = std::chrono::steady_clock::now();
    json result;
    const json cl = client_session(dev, cfg, o, cpu, cfg.strategies[i], i, total, &result);
    doc["results"].push_back(result);
    if (progress)
      *progress << "client: [" << i + 1 << "/" << total << "] " << cfg.strategies[i] << ": "
                << cl.value("completed", 0ull) << " requests (" << cl.value("measured", 0ull)
                << " measured), "
                << std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count() << " s\n";
  }
  return doc;
}

void print_verbs_summary(const json& doc, std::ostream& out) {
  out << std::left << std::setw(28) << "strategy" << std::right << std::setw(12) << "RTT/2 p50"
      << std::setw(12) << "RTT/2 p99" << std::setw(10) << "sent" << std::setw(10) << "served" << std::setw(10)
      << "events" << std::setw(10) << "handoffs"
      << "\n";
  std::string note;
  for (const auto& r : doc["results"]) {
    const auto& x = r["extra"];
    out << std::left << std::setw(28) << r["strategy"].get<std::string>() << std::right << std::fixed
        << std::setprecision(2) << std::setw(12) << x["rtt_half_us"]["p50"].get<double>() << std::setw(12)
        << x["rtt_half_us"]["p99"].get<double>() << std::setw(10) << x.value("sent", 0ull) << std::setw(10)
        << x.value("served", 0ull) << std::setw(10) << x.value("events", 0ull) << std::setw(10)
        << x.value("handoffs", 0ull) << "\n";
    out.unsetf(std::ios::fixed);
    if (note.empty() && x.contains("timing_note")) note = x["timing_note"].get<std::string>();
  }
  out << "RTT/2 = half the round trip (perftest's t_typical is its median); every request answered exactly "
         "once\n";
  if (!doc["results"].empty()) {
    const auto& x = doc["results"][0]["extra"];
    if (x.contains("server") && x["server"].contains("nic"))
      out << "IRQ lever: " << x["server"]["nic"].value("irq_lever", std::string("?")) << "\n";
  }
  if (!note.empty()) out << "note: " << note << "\n";
}

}  // namespace fastwake::hw
