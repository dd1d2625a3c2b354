// The host kernel's counters around a real-thread run (kernel_counts.h).
#include "fastwake/hw/kernel_counts.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "fastwake/hw/linux_cpu.h"

namespace fastwake::hw {

namespace {

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  if (f) std::getline(f, s);
  return s;
}

std::vector<std::uint64_t> sub(const std::vector<std::uint64_t>& b,
                               const std::vector<std::uint64_t>& a) {
  std::vector<std::uint64_t> d(b.size(), 0);
  for (std::size_t i = 0; i < b.size(); ++i) d[i] = i < a.size() && b[i] >= a[i] ? b[i] - a[i] : 0;
  return d;
}

std::uint64_t at(const std::vector<std::uint64_t>& v, int cpu) {
  return cpu >= 0 && static_cast<std::size_t>(cpu) < v.size() ? v[static_cast<std::size_t>(cpu)]
                                                              : 0;
}

}  // namespace

IpiCounts read_ipi_counts() {
  IpiCounts out;
  std::ifstream f("/proc/interrupts");
  std::string header;
  if (!std::getline(f, header)) return out;
  // Header: "CPU0 CPU1 ...": column k is the k-th online CPU listed.
  std::vector<int> cpu_of;
  {
    std::istringstream h(header);
    std::string tok;
    while (h >> tok)
      if (tok.rfind("CPU", 0) == 0) cpu_of.push_back(std::stoi(tok.substr(3)));
  }
  int max_cpu = -1;
  for (int c : cpu_of) max_cpu = std::max(max_cpu, c);
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream l(line);
    std::string name;
    l >> name;
    std::vector<std::uint64_t>* row = name == "CAL:"   ? &out.cal
                                      : name == "RES:" ? &out.res
                                                       : nullptr;
    if (!row) continue;
    row->assign(static_cast<std::size_t>(max_cpu + 1), 0);
    for (int c : cpu_of) {
      std::uint64_t v = 0;
      if (!(l >> v)) break;
      (*row)[static_cast<std::size_t>(c)] = v;
    }
  }
  return out;
}

TaskSwitches read_task_switches(pid_t tid) {
  TaskSwitches t;
  std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0)
      t.vol = std::stoull(line.substr(line.find(':') + 1));
    else if (line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
      t.invol = std::stoull(line.substr(line.find(':') + 1));
  }
  std::ifstream s("/proc/self/task/" + std::to_string(tid) + "/schedstat");
  s >> t.runtime_ns;  // first field: time on the CPU (sum_exec_runtime), ns
  return t;
}

pid_t current_os_tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

IdleUsage read_idle_usage(int cpu) {
  IdleUsage u;
  const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/cpuidle/state";
  for (int k = 0;; ++k) {
    const std::string name = read_line(dir + std::to_string(k) + "/name");
    if (name.empty()) break;
    const std::string usage = read_line(dir + std::to_string(k) + "/usage");
    u.names.push_back(name);
    u.usage.push_back(usage.empty() ? 0 : std::stoull(usage));
  }
  return u;
}

nlohmann::json host_idle_description() {
  const std::string base = "/sys/devices/system/cpu/cpuidle/";
  const std::string driver = read_line(base + "current_driver");
  std::string governor = read_line(base + "current_governor");
  if (governor.empty()) governor = read_line(base + "current_governor_ro");
  nlohmann::json d = {{"driver", driver}, {"governor", governor}};
  if (driver.empty() || driver == "none") {
    // No cpuidle ("none" in current_driver when the kernel has cpuidle but
    // no driver registered, as in the testbed guest): cpuidle_idle_call finds
    // it unavailable and calls default_idle_call (kernel/sched/idle.c:196-199),
    // which clears the polling bit (current_clr_polling_and_test, :88) before
    // the arch idle (x86: HLT). The verbs counts in the guest showed it: one
    // CAL per remote wake-up of the idle server CPU.
    d["polls"] = false;
    d["reason"] =
        "no cpuidle driver: the idle loop calls default_idle_call (x86 default_idle: HLT), which "
        "clears TIF_POLLING_NRFLAG first (Linux 6.1 kernel/sched/idle.c:88, 196-199)";
    return d;
  }
  if (governor == "haltpoll") {
    const std::string g = read_line("/sys/module/haltpoll/parameters/guest_halt_poll_ns");
    const long long ns = g.empty() ? -1 : std::stoll(g);
    d["guest_halt_poll_ns"] = ns;
    if (ns == 0) {
      d["polls"] = false;
      d["reason"] =
          "haltpoll governor with guest_halt_poll_ns = 0: poll_limit_ns starts at 0 "
          "(drivers/cpuidle/governors/haltpoll.c:131) and grows only for idle periods <= "
          "guest_halt_poll_ns (:86), so haltpoll_select returns state 1 every time (:60-61): "
          "default_enter_idle -> default_idle = HLT, polling bit cleared "
          "(drivers/cpuidle/cpuidle-haltpoll.c:28-37, Linux 6.1); every remote wake-up to an "
          "idle CPU needs an IPI";
      return d;
    }
    d["polls"] = true;
    d["reason"] =
        "haltpoll governor: polls (state 0, TIF_POLLING_NRFLAG) up to poll_limit_ns before "
        "halting, so short idle periods need no IPI (drivers/cpuidle/governors/haltpoll.c)";
    return d;
  }
  d["polls"] = true;
  d["reason"] = "driver " + driver + ", governor " + governor +
                ": POLL and MWAIT states set TIF_POLLING_NRFLAG (drivers/cpuidle/poll_state.c, "
                "intel_idle); see each state's measured entries";
  return d;
}

std::string tracing_status() {
  for (const char* dir : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    std::ifstream f(std::string(dir) + "/events/sched/sched_wakeup/enable");
    if (f) return "available";
  }
  return "unavailable: tracefs is not mounted (no /sys/kernel/tracing/events); the run does not "
         "mount it on this shared machine, so local/remote wake-ups are not classified from "
         "sched_wakeup events";
}

KernelSnapshot take_kernel_snapshot(const TidGroups& g, std::span<const int> cpus) {
  KernelSnapshot s;
  auto add = [&](pid_t t) {
    if (t > 0) s.tasks[t] = read_task_switches(t);
  };
  for (pid_t t : g.app) add(t);
  for (pid_t t : g.dispatchers) add(t);
  for (pid_t t : g.irq_threads) add(t);
  add(g.nic);
  s.ipis = read_ipi_counts();
  for (int c : cpus) s.idle.push_back(read_idle_usage(c));
  return s;
}

std::uint64_t runtime_between(const KernelSnapshot& a, const KernelSnapshot& b,
                              const std::vector<pid_t>& tids) {
  std::uint64_t sum = 0;
  for (pid_t t : tids) {
    const auto ia = a.tasks.find(t), ib = b.tasks.find(t);
    if (ia != a.tasks.end() && ib != b.tasks.end() &&
        ib->second.runtime_ns >= ia->second.runtime_ns)
      sum += ib->second.runtime_ns - ia->second.runtime_ns;
  }
  return sum;
}

nlohmann::json kernel_count_report(const KernelSnapshot& a, const KernelSnapshot& b,
                                   const TidGroups& g, std::span<const int> app_cpus, int nic_cpu,
                                   std::uint64_t requests, double window_s,
                                   const nlohmann::json& emulator, const nlohmann::json& baseline) {
  const double n = static_cast<double>(requests);
  auto per = [n](double x) { return n > 0 ? x / n : 0.0; };
  auto group = [&](const std::vector<pid_t>& tids) {
    TaskSwitches sum;
    for (pid_t t : tids) {
      const auto ia = a.tasks.find(t), ib = b.tasks.find(t);
      if (ia == a.tasks.end() || ib == b.tasks.end()) continue;
      sum.vol += ib->second.vol - ia->second.vol;
      sum.invol += ib->second.invol - ia->second.invol;
    }
    return sum;
  };
  const TaskSwitches app = group(g.app), disp = group(g.dispatchers), irq = group(g.irq_threads),
                     nic = group({g.nic});
  const std::vector<std::uint64_t> cal = sub(b.ipis.cal, a.ipis.cal),
                                   res = sub(b.ipis.res, a.ipis.res);
  std::vector<int> cpus(app_cpus.begin(), app_cpus.end());
  if (nic_cpu >= 0) cpus.push_back(nic_cpu);  // the verbs server has none (-1)
  std::uint64_t cal_sum = 0, res_sum = 0, cal_app = 0, res_app = 0;
  nlohmann::json cal_by = nlohmann::json::object(), res_by = nlohmann::json::object();
  for (std::size_t i = 0; i < cpus.size(); ++i) {
    const int c = cpus[i];
    cal_sum += at(cal, c);
    res_sum += at(res, c);
    if (i < app_cpus.size()) cal_app += at(cal, c), res_app += at(res, c);
    cal_by[std::to_string(c)] = at(cal, c);
    res_by[std::to_string(c)] = at(res, c);
  }
  // Idle entries of the app CPUs, by state name, per request.
  nlohmann::json idle = nlohmann::json::object();
  for (std::size_t i = 0; i < app_cpus.size() && i < a.idle.size() && i < b.idle.size(); ++i) {
    const IdleUsage &ua = a.idle[i], &ub = b.idle[i];
    for (std::size_t k = 0; k < ub.names.size() && k < ua.usage.size(); ++k) {
      const double d = static_cast<double>(ub.usage[k] - ua.usage[k]);
      idle[ub.names[k]] = idle.value(ub.names[k], 0.0) + per(d);
    }
  }
  nlohmann::json pr = {{"requests", requests},
                       {"context_switches", per(static_cast<double>(app.vol + app.invol))},
                       {"voluntary_switches", per(static_cast<double>(app.vol))},
                       {"nonvoluntary_switches", per(static_cast<double>(app.invol))},
                       {"dispatcher_switches", per(static_cast<double>(disp.vol + disp.invol))},
                       {"irq_thread_switches", per(static_cast<double>(irq.vol + irq.invol))},
                       {"ipis_call", per(static_cast<double>(cal_sum))},
                       {"ipis_resched", per(static_cast<double>(res_sum))},
                       {"ipis", per(static_cast<double>(cal_sum + res_sum))},
                       {"idle_entries", idle}};
  for (auto it = emulator.begin(); it != emulator.end(); ++it)
    pr[it.key()] = per(it.value().get<double>());
  nlohmann::json raw = {{"window_s", window_s},
                        {"cpus", cpus},
                        {"ipis_call_by_cpu", cal_by},
                        {"ipis_resched_by_cpu", res_by},
                        {"ipis_call_app_cpus", cal_app},
                        {"ipis_resched_app_cpus", res_app},
                        {"app_threads", {{"voluntary", app.vol}, {"nonvoluntary", app.invol}}},
                        {"dispatchers", {{"voluntary", disp.vol}, {"nonvoluntary", disp.invol}}},
                        {"irq_threads", {{"voluntary", irq.vol}, {"nonvoluntary", irq.invol}}},
                        {"nic_thread", {{"voluntary", nic.vol}, {"nonvoluntary", nic.invol}}},
                        {"emulator", emulator},
                        {"idle", host_idle_description()},
                        {"tracing", tracing_status()}};
  if (!baseline.is_null() && baseline.value("seconds", 0.0) > 0) {
    // The same CPUs with nothing of ours running, scaled to this window.
    const double scale = window_s / baseline["seconds"].get<double>();
    double bc = 0, br = 0;
    for (int c : cpus) {
      const std::string k = std::to_string(c);
      bc += baseline["cal"].value(k, 0.0);
      br += baseline["res"].value(k, 0.0);
    }
    raw["baseline"] = baseline;
    pr["baseline_ipis_call"] = per(bc * scale);
    pr["baseline_ipis_resched"] = per(br * scale);
    if (baseline.contains("preemptions") && baseline["preemptions"].value("seconds", 0.0) > 0) {
      const auto& p = baseline["preemptions"];
      pr["baseline_preemptions"] =
          per(p["preemptions"].get<double>() * window_s / p["seconds"].get<double>());
    }
  }
  return {{"per_request", pr}, {"kernel_counts", raw}};
}

nlohmann::json measure_ipi_baseline(std::span<const int> cpus, double seconds) {
  const IpiCounts a = read_ipi_counts();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const IpiCounts b = read_ipi_counts();
  const auto cal = sub(b.cal, a.cal), res = sub(b.res, a.res);
  nlohmann::json jc = nlohmann::json::object(), jr = nlohmann::json::object();
  for (int c : cpus) {
    jc[std::to_string(c)] = at(cal, c);
    jr[std::to_string(c)] = at(res, c);
  }
  return {{"seconds", s},
          {"cpus", std::vector<int>(cpus.begin(), cpus.end())},
          {"cal", jc},
          {"res", jr}};
}

nlohmann::json measure_preemption_baseline(std::span<const int> cpus, double seconds) {
  std::atomic<std::uint64_t> total{0};
  std::vector<std::thread> spinners;
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (int c : cpus)
    spinners.emplace_back([c, until, &total] {
      pin_self(c);
      const pid_t me = current_os_tid();
      const TaskSwitches a = read_task_switches(me);
      while (std::chrono::steady_clock::now() < until) cpu_relax();
      const TaskSwitches b = read_task_switches(me);
      total.fetch_add(b.invol - a.invol);
    });
  for (auto& t : spinners) t.join();
  return {{"seconds", seconds},
          {"cpus", std::vector<int>(cpus.begin(), cpus.end())},
          {"preemptions", total.load()}};
}

}  // namespace fastwake::hw
