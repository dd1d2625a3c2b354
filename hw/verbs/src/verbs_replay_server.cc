// Replay tool, the server side (fastwake-bench server): per session (one
// strategy for one client) a VerbsNic and ThreadRuntime<VerbsNic> running
// core's strategies, the window's CPU and energy accounting, scripted
// migrations and core's RemapDriver on the control thread, and the server's
// counters for the shared result record.
#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>

#include "fastwake/errors.h"
#include "fastwake/hw/kernel_counts.h"
#include "fastwake/hw/linux_cpu.h"
#include "fastwake/hw/runtime.h"
#include "fastwake/hw/side_channel.h"
#include "fastwake/hw/side_channel_msg.h"
#include "fastwake/hw/thread_runtime.h"
#include "fastwake/migration_plan.h"
#include "fastwake/placement.h"
#include "fastwake/remap_driver.h"
#include "fastwake/wait_policy.h"
#include "verbs_replay_common.h"

namespace fastwake::hw::replay {

namespace {

constexpr int kMaxThreadsPerCore = 256;

std::vector<int> resolve_server_cpus(const Config& cfg, std::vector<int> cpus) {
  const std::vector<int> usable = usable_cpus();
  const std::set<int> ok(usable.begin(), usable.end());
  if (cpus.empty()) {
    if (static_cast<int>(usable.size()) < cfg.host.app_cores)
      throw ConfigError("host.app_cores: " + std::to_string(cfg.host.app_cores) +
                        " app cores, but this process may use " + std::to_string(usable.size()) +
                        " CPUs (" + cpu_list_text(usable) + ")");
    cpus.assign(usable.begin(), usable.begin() + cfg.host.app_cores);
  }
  if (static_cast<int>(cpus.size()) != cfg.host.app_cores)
    throw ConfigError("--cpus: " + std::to_string(cpus.size()) +
                      " CPUs given for host.app_cores = " + std::to_string(cfg.host.app_cores));
  for (int c : cpus)
    if (!ok.count(c))
      throw ConfigError("--cpus: no such CPU " + std::to_string(c) +
                        " (usable: " + cpu_list_text(usable) + ")");
  if (std::set<int>(cpus.begin(), cpus.end()).size() != cpus.size())
    throw ConfigError("--cpus: a CPU is listed twice");
  if (cfg.workload.threads_per_core > kMaxThreadsPerCore)
    throw ConfigError("workload.threads_per_core: at most " + std::to_string(kMaxThreadsPerCore) +
                      " real threads per core");
  check_moves_between_app_cores(cfg, "the server");
  return cpus;
}

bool is_software_device(const std::string& name) {
  std::error_code ec;
  return !std::filesystem::exists("/sys/class/infiniband/" + name + "/device", ec);
}

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

  json run(json* partial) {
    json doc = new_doc(cfg_);
    std::vector<std::string> ran;
    auto finished = [&] {
      json d = doc;
      Config c = cfg_;
      c.strategies = ran;
      d["config"] = to_json(c);
      return d;
    };
    bool more = false;  // a client's series is half done: it must come back in time
    for (;;) {
      auto ch = listener_.accept(more && !o_.forever ? o_.idle_timeout_s * 1000 : -1);
      if (!ch) {
        if (partial) *partial = finished();
        throw DeviceError("server: the client did not come back for its next strategy within " +
                          std::to_string(o_.idle_timeout_s) + " s (--idle-timeout)");
      }
      std::string what = "session from " + ch->peer();
      bool last = false;
      try {
        last = session(*ch, doc, ran, &what);
      } catch (const std::exception& e) {
        // Everything of the session (QPs, CQs, channels, MR, threads) is
        // released by the unwinding; the listener and the device stay.
        const std::string msg = "server: " + what + " failed: " + e.what();
        try {
          ch->send({{"type", "error"}, {"message", msg}});  // best effort: it may be gone
        } catch (const std::exception&) {
        }
        if (o_.forever) {
          if (progress_) *progress_ << msg << "; serving the next client\n";
          continue;
        }
        if (partial) *partial = finished();
        if (dynamic_cast<const ConfigError*>(&e)) throw ConfigError(msg);
        throw DeviceError(msg);
      }
      more = !last;
      if (last && !o_.forever) break;
      if (last && o_.forever) {
        // A forever server keeps no history: hand the series on and start
        // the next client's from empty (a 6-minute soak in the guest grew
        // ~100 kB per client while every series was kept).
        if (o_.on_series) o_.on_series(finished());
        doc = new_doc(cfg_);
        ran.clear();
      }
    }
    return finished();
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
  bool session(SideChannel& ch, json& doc, std::vector<std::string>& ran, std::string* what) {
    const int idle_ms = o_.idle_timeout_s * 1000;
    const json msg = ch.expect("hello", idle_ms);
    Hello hello;
    try {
      hello = parse_hello(msg);
    } catch (const std::exception& e) {
      refuse(ch, std::string("bad hello from the client: ") + e.what(), true);
    }
    if (hello.proto != kReplayProto)
      refuse(ch,
             "replay protocol " + std::to_string(hello.proto) +
                 " from the client, this server speaks " + std::to_string(kReplayProto) +
                 " (same fastwake-bench on both sides?)",
             true);
    const StrategySpec* sp = nullptr;
    Config ccfg;
    try {
      sp = &find_strategy(hello.strategy);
      ccfg = parse_config(hello.config);
    } catch (const std::exception& e) {
      refuse(ch, std::string("bad hello from the client: ") + e.what(), true);
    }
    if (sp->adaptive)
      refuse(ch,
             "strategy '" + sp->name +
                 "' runs on the simulator and the loopback NIC only (docs/adaptive.md)",
             true);
    const StrategySpec& s = *sp;
    *what = s.name + " [" + std::to_string(hello.index + 1) + "/" + std::to_string(hello.total) +
            "] for client " + ch.peer();
    if (const std::string d = config_mismatch(cfg_, ccfg); !d.empty())
      refuse(ch,
             "server and client configs differ (" + d +
                 "); give both the same config and --set options",
             true);
    std::vector<QpInfo> remote;
    for (const auto& q : hello.qps) remote.push_back(QpInfo::from_json(q));
    const int index = hello.index, total = hello.total;
    if (progress_)
      *progress_ << "server: [" << index + 1 << "/" << total << "] " << s.name << " for client "
                 << ch.peer() << "\n";

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
    if (WaitPolicy(s).remaps_irqs()) {
      std::vector<VectorId> cv(cfg_.threads());
      for (int t = 0; t < cfg_.threads(); ++t) cv[t] = nic->cq_vector(t);
      remap.emplace(cfg_.remapper, *nic, cv, Placement::of(cfg_).thread_core);
    }
    RemapDriver* remap_p = remap ? &*remap : nullptr;
    auto move = [&rt](ThreadId t, CoreId to) { rt.migrate(t, to); };
    json qps = json::array();
    for (const auto& q : nic->local_qps()) qps.push_back(q.to_json());
    ch.send({{"type", "ready"},
             {"qps", qps},
             {"rx_depth", o_.nic.rx_depth},
             {"device", dev_.describe()}});

    ch.expect("go", idle_ms);
    const Nanos t0 = mono_now();
    MigrationPlan plan(cfg_.workload.migrations);
    CpuTimes c0, c1;
    std::optional<double> e0, e1;
    bool have0 = false, have1 = false;
    // The kernel's counters at both ends of the client's window, as the
    // loopback reads them (docs/hw.md "Kernel counts"): the application
    // threads' and dispatchers' switches, CAL/RES of the app CPUs, and the
    // requests served between the two readings to divide by.
    TidGroups tids;
    KernelSnapshot k0, k1;
    std::uint64_t served0 = 0, served1 = 0, hand0 = 0, hand1 = 0;
    auto read_counts = [&](KernelSnapshot& k, std::uint64_t& served, std::uint64_t& hand) {
      if (tids.app.empty()) tids = {rt.app_tids(), rt.dispatcher_tids(), {}, 0};
      served = rt.served();
      hand = rt.handoffs();
      k = take_kernel_snapshot(tids, cpus_);
    };
    json client;
    Nanos last_msg = mono_now();
    for (;;) {
      Nanos next = kNever;
      if (const auto m = plan.next_at()) next = t0 + *m;
      if (remap_p && remap_p->next_deadline()) next = std::min(next, *remap_p->next_deadline());
      const Nanos now0 = mono_now();
      const int timeout =
          next == kNever
              ? 1000
              : static_cast<int>(std::clamp<Nanos>((next - now0) / 1'000'000 + 1, 0, 1000));
      const auto m = ch.recv(timeout);
      const Nanos now = mono_now();
      plan.run_due(now - t0, now, move, remap_p, nullptr);
      if (remap_p) remap_p->run_due(now);
      if (!m) {
        // The client sends a heartbeat every second while it runs.
        if (now - last_msg > static_cast<Nanos>(o_.idle_timeout_s) * 1'000'000'000)
          throw DeviceError("the client went silent: nothing on the side channel for " +
                            std::to_string(o_.idle_timeout_s) + " s (--idle-timeout)");
        continue;
      }
      last_msg = now;
      const std::string type = (*m)["type"];
      if (type == "window_start") {
        c0 = read_cpu_times();
        e0 = read_rapl_energy_j();
        read_counts(k0, served0, hand0);
        have0 = true;
      } else if (type == "window_end") {
        read_counts(k1, served1, hand1);
        c1 = read_cpu_times();
        e1 = read_rapl_energy_j();
        have1 = true;
      } else if (type == "alive") {
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
    json sv = {{"served", tot.served},
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
        const double busy_w = WaitPolicy(s).cores_poll() ? p.poll_w : p.work_w;
        sv["power_w"] =
            p.package_w + static_cast<double>(cpus_.size()) * (util * busy_w + (1 - util) * idle_w);
        sv["power_estimated"] = true;
        sv["power_source"] =
            "estimate: /proc/stat utilisation of the server's app CPUs x platform power model";
      }
    }
    json counts;
    if (have0 && have1) {
      // No emulator here: the completion events are the owner threads'
      // own counts over the whole session (read after they stopped), per
      // request served; hand-offs over the window. rxe raises no interrupt
      // and its completion handler runs in the sender's context (the
      // client's CPU), so the IPIs are those the app CPUs received; no
      // "NIC CPU" is added (-1).
      const json emulator = {
          {"handoffs", static_cast<double>(hand1 - hand0)},
          {"cq_events", tot.served ? static_cast<double>(tot.events) /
                                         static_cast<double>(tot.served) *
                                         static_cast<double>(served1 - served0)
                                   : 0.0}};
      counts = kernel_count_report(k0, k1, tids, cpus_, -1, served1 - served0, span, emulator,
                                   nullptr);
    }
    ch.send({{"type", "stats"}, {"stats", sv}});
    StrategyResult r = make_result(cfg_, s.name, client, sv);
    if (counts.is_object()) {
      r.extra["per_request"] = std::move(counts["per_request"]);
      r.extra["kernel_counts"] = std::move(counts["kernel_counts"]);
    }
    if (const std::string bad = check_accounting(client, sv); !bad.empty())
      throw DeviceError("verbs run of " + s.name + " lost or duplicated completions: " + bad);
    ran.push_back(s.name);
    doc["results"].push_back(r.to_json());
    return index + 1 >= total;
  }

  const Config& cfg_;
  const ReplayServerOptions& o_;
  std::ostream* progress_;
  std::vector<int> cpus_;
  VerbsDevice dev_;
  TcpListener listener_;
};

}  // namespace

json serve(const Config& cfg, const ReplayServerOptions& o, std::ostream* progress, json* partial) {
  Server s(cfg, o, progress);
  return s.run(partial);
}

}  // namespace fastwake::hw::replay
