// Calibration of what decides the tail on this host's scheduler: the run
// length two runnable threads get on one CPU (slice + tick), whether a woken
// sleeper preempts a running thread, and the stalls a lone spinning thread
// sees (hypervisor steal, interrupts). The model's CFS tunables are fitted to
// the first two (docs/validation.md "Scheduler").
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "calibrate_internal.h"
#include "fastwake/hw/linux_cpu.h"

namespace fastwake::hw {

namespace {

Nanos mono() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Nanos>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

/// Spins on the clock until `until`; a gap of more than `gap_ns` between two
/// reads means the thread was off its CPU. Records the lengths of the runs
/// between gaps (not the first and last, which the window cuts) and the gaps.
void spin_recording(Nanos until, Nanos gap_ns, std::vector<double>* runs,
                    std::vector<double>* gaps) {
  Nanos last = mono(), run_start = last;
  bool first = true;
  while (last < until) {
    const Nanos now = mono();
    if (now - last > gap_ns) {
      if (runs && !first) runs->push_back(static_cast<double>(last - run_start));
      if (gaps) gaps->push_back(static_cast<double>(now - last));
      first = false;
      run_start = now;
    }
    last = now;
  }
}

/// CONFIG_HZ of the running kernel, from its config if readable.
std::optional<long> kernel_hz() {
  auto scan = [](std::istream& in) -> std::optional<long> {
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("CONFIG_HZ=", 0) == 0) return std::stol(line.substr(10));
    return std::nullopt;
  };
  char rel[256] = {};
  if (FILE* f = popen("uname -r", "r")) {
    if (!std::fgets(rel, sizeof rel, f)) rel[0] = 0;
    pclose(f);
  }
  std::string r(rel);
  while (!r.empty() && (r.back() == '\n' || r.back() == ' ')) r.pop_back();
  std::ifstream boot("/boot/config-" + r);
  if (boot)
    if (auto hz = scan(boot)) return hz;
  if (FILE* f = popen("zcat /proc/config.gz 2>/dev/null", "r")) {
    std::string all;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) all.append(buf, n);
    pclose(f);
    std::istringstream in(all);
    if (auto hz = scan(in)) return hz;
  }
  return std::nullopt;
}

}  // namespace

SchedCalibration calibrate_sched(int cpu_a, int cpu_b, std::ostream* progress) {
  SchedCalibration out;
  out.cpus_online = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  if (auto hz = kernel_hz()) out.tick_ns = 1'000'000'000 / *hz;

  // 1. Two spinning threads pinned to one CPU: the run each gets.
  if (progress) *progress << "calibrate: scheduler run length (two spinners on one CPU)\n";
  {
    std::vector<double> r0, r1;
    const Nanos until = mono() + 400'000'000;
    std::thread a([&] {
      pin_self(cpu_a);
      spin_recording(until, 50'000, &r0, nullptr);
    });
    std::thread b([&] {
      pin_self(cpu_a);
      spin_recording(until, 50'000, &r1, nullptr);
    });
    a.join();
    b.join();
    r0.insert(r0.end(), r1.begin(), r1.end());
    out.runs = static_cast<int>(r0.size());
    out.run_p10_ns = quantile(r0, 0.1);
    out.run_median_ns = quantile(r0, 0.5);
    out.run_p90_ns = quantile(r0, 0.9);
  }

  // 2. A spinner on cpu_a, a sleeper on cpu_a woken by an eventfd write from
  // cpu_b at random times: how long the wakee waits for the CPU.
  if (progress) *progress << "calibrate: wake-up preemption (sleeper woken beside a spinner)\n";
  {
    const int efd = eventfd(0, EFD_CLOEXEC);
    if (efd >= 0) {
      std::atomic<bool> stop{false};
      std::atomic<Nanos> sent{0};
      std::vector<double> delays;
      std::thread spinner([&] {
        pin_self(cpu_a);
        while (!stop.load(std::memory_order_relaxed)) cpu_relax();
      });
      std::thread sleeper([&] {
        pin_self(cpu_a);
        std::uint64_t v;
        while (read(efd, &v, sizeof v) == sizeof v) {
          if (stop.load()) break;
          delays.push_back(static_cast<double>(mono() - sent.load()));
        }
      });
      // The waker runs on its own thread: the caller's affinity stays as it was.
      std::thread waker([&] {
        std::mt19937_64 rng(7);
        std::uniform_int_distribution<Nanos> gap(1'000'000, 5'000'000);
        pin_self(cpu_b);
        for (int i = 0; i < 120; ++i) {
          const Nanos t = mono() + gap(rng);
          while (mono() < t) {
            const timespec ts{0, 200'000};
            nanosleep(&ts, nullptr);
          }
          sent.store(mono());
          const std::uint64_t one = 1;
          if (write(efd, &one, sizeof one) != sizeof one) break;
        }
        const Nanos t = mono() + 20'000'000;  // the last wake-up's delay
        while (mono() < t) {
          const timespec ts{0, 1'000'000};
          nanosleep(&ts, nullptr);
        }
      });
      waker.join();
      stop.store(true);
      const std::uint64_t one = 1;
      if (write(efd, &one, sizeof one) != sizeof one) {
      }
      sleeper.join();
      spinner.join();
      close(efd);
      out.wakes = static_cast<int>(delays.size());
      out.wake_delay_median_ns = quantile(delays, 0.5);
      out.wake_delay_p90_ns = quantile(delays, 0.9);
    }
  }

  // 3. One spinner alone on cpu_a: gaps of more than 10 us are stalls.
  if (progress) *progress << "calibrate: stalls of a lone spinning thread\n";
  {
    std::vector<double> gaps;
    const Nanos window = 400'000'000;
    std::thread a([&] {
      pin_self(cpu_a);
      spin_recording(mono() + window, 10'000, nullptr, &gaps);
    });
    a.join();
    out.stalls = static_cast<int>(gaps.size());
    out.stall_rate_hz = static_cast<double>(gaps.size()) / (static_cast<double>(window) / 1e9);
    double sum = 0;
    for (double g : gaps) sum += g;
    out.stall_mean_ns = gaps.empty() ? 0 : sum / static_cast<double>(gaps.size());
    out.stall_p99_ns = quantile(gaps, 0.99);
    out.stall_max_ns = gaps.empty() ? 0 : *std::max_element(gaps.begin(), gaps.end());
  }
  return out;
}

void apply_sched_calibration(nlohmann::json& params, const SchedCalibration& m,
                             const std::string& cal) {
  const Nanos tick = m.tick_ns.value_or(4'000'000);
  if (m.tick_ns)
    params["tick_ns"] = {{"value", tick},
                         {"source", cal + "CONFIG_HZ of the running kernel's config"}};
  else
    params["tick_ns"] = {{"value", tick},
                         {"estimate", "the kernel config is not readable here: HZ=250 assumed"}};
  // The model (docs/model.md "Scheduler") gives each of two equal runnable
  // threads a run ending at the first tick past the slice
  // max(latency x f / 2, min_granularity x f), f = 1 + ilog2(min(cpus, 8)).
  // The measured run R is fitted by a slice half a tick below it (any value
  // in (R - tick, R] gives R); min_granularity keeps the kernel's 1:8 ratio.
  int lg = 0;
  while ((2 << lg) <= std::min(m.cpus_online, 8)) ++lg;
  const double f = 1 + lg;
  const double R = m.run_median_ns;
  const double slice = std::max(R - static_cast<double>(tick) / 2, R / 2);
  const auto lat = static_cast<long long>(std::llround(2 * slice / f));
  std::ostringstream why;
  why << std::fixed;
  why.precision(0);
  why << "two spinning threads on one CPU ran " << R << " ns each (median of " << m.runs
      << " runs, p10 " << m.run_p10_ns << ", p90 " << m.run_p90_ns << "); this base x " << f
      << " (1 + ilog2(" << std::min(m.cpus_online, 8) << " CPUs)) / 2 = a slice half a tick ("
      << tick << " ns) below that, which the model rounds up to the measured run. An effective "
      << "value for this kernel's scheduler (EEVDF on Linux >= 6.6 has no latency target)";
  params["sched_latency_ns"] = {{"value", lat}, {"source", cal + why.str()}};
  params["sched_min_granularity_ns"] = {
      {"value", lat / 8},
      {"source", cal + "sched_latency_ns / 8 (the kernel's default ratio, sched_nr_latency 8)"}};
  // A sleeper woken beside a spinner: if it runs within a fifth of a run,
  // this kernel preempts on wake-up, and a granularity below the sleeper
  // credit (latency / 2) reproduces that; if it waits for the tick, a
  // granularity of a whole latency (never below the credit) does.
  const bool preempts = m.wake_delay_median_ns < 0.2 * R;
  std::ostringstream w;
  w << std::fixed;
  w.precision(0);
  w << "a sleeper woken by another CPU beside a spinning thread ran after " << m.wake_delay_median_ns
    << " ns (median of " << m.wakes << ", p90 " << m.wake_delay_p90_ns << "): "
    << (preempts ? "it preempts at once, so the granularity is set below the sleeper credit "
                   "(latency / 6, the kernel's default ratio)"
                 : "it waits for the spinner's slice, so the granularity is set to a whole "
                   "latency (a woken sleeper never preempts)");
  params["wakeup_granularity_ns"] = {{"value", preempts ? lat / 6 : lat},
                                     {"source", cal + w.str()}};
  // Stalls as a lone spinner met them: what the model's per-core stall
  // process reproduces (rate, exponential with the measured mean).
  std::ostringstream st;
  st << std::fixed;
  st.precision(1);
  st << "a lone spinning thread pinned to one CPU lost it " << m.stalls << " times in 0.4 s for > 10 us "
     << "(mean " << m.stall_mean_ns / 1e3 << " us, p99 " << m.stall_p99_ns / 1e3 << " us, max "
     << m.stall_max_ns / 1e3 << " us): the hypervisor and whatever else ran on this machine then";
  params["stall_rate_hz"] = {{"value", m.stall_rate_hz}, {"source", cal + st.str()}};
  params["stall_mean_ns"] = {{"value", static_cast<long long>(std::llround(m.stall_mean_ns))},
                             {"source", cal + "mean of the stalls above"}};
  if (m.stalls == 0) params["stall_mean_ns"]["value"] = 0;
}

}  // namespace fastwake::hw
