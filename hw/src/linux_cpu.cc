// Linux mechanisms: pinning, SCHED_IDLE, futex, /proc/stat, RAPL, /proc/irq.
#include "fastwake/hw/linux_cpu.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fastwake/errors.h"

namespace fastwake::hw {

Nanos mono_now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Nanos>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

namespace {
void pin_handle(pthread_t h, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cpu < 0 || cpu >= CPU_SETSIZE)
    throw DeviceError("cpu " + std::to_string(cpu) + ": no such CPU");
  CPU_SET(cpu, &set);
  const int rc = pthread_setaffinity_np(h, sizeof set, &set);
  if (rc != 0)
    throw DeviceError("cannot pin a thread to CPU " + std::to_string(cpu) + ": " +
                      std::strerror(rc) + " (is the CPU online and allowed for this process?)");
}
}  // namespace

void pin_self(int cpu) { pin_handle(pthread_self(), cpu); }
void pin_thread(unsigned long h, int cpu) { pin_handle(static_cast<pthread_t>(h), cpu); }

void set_sched_idle_self() {
  sched_param p{};
  p.sched_priority = 0;
  if (sched_setscheduler(0, SCHED_IDLE, &p) != 0)
    throw DeviceError(std::string("cannot set SCHED_IDLE: ") + std::strerror(errno));
}

std::vector<int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (int i = 0; i < CPU_SETSIZE; ++i)
    if (CPU_ISSET(i, &set)) out.push_back(i);
  return out;
}

void spin_until(Nanos t) {
  while (mono_now() < t) cpu_relax();
}

void Futex::wait(std::uint32_t expected) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr,
          nullptr, 0);
}

int Futex::wake_one() {
  const long n = syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1,
                         nullptr, nullptr, 0);
  return n > 0 ? static_cast<int>(n) : 0;
}

CpuTimes read_cpu_times() {
  CpuTimes t;
  std::ifstream f("/proc/stat");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 ||
        !std::isdigit(static_cast<unsigned char>(line[3])))
      continue;
    std::istringstream in(line.substr(3));
    std::size_t cpu;
    std::uint64_t user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                  steal = 0;
    in >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
    if (t.busy.size() <= cpu) {
      t.busy.resize(cpu + 1, 0);
      t.total.resize(cpu + 1, 0);
    }
    t.busy[cpu] = user + nice + sys + irq + softirq + steal;
    t.total[cpu] = t.busy[cpu] + idle + iowait;
  }
  return t;
}

double cpu_busy_fraction(const CpuTimes& a, const CpuTimes& b, std::span<const int> cpus) {
  double sum = 0;
  int n = 0;
  for (int c : cpus) {
    if (c < 0 || static_cast<std::size_t>(c) >= a.total.size() ||
        static_cast<std::size_t>(c) >= b.total.size())
      continue;
    const double tot = static_cast<double>(b.total[c] - a.total[c]);
    if (tot <= 0) continue;
    sum += static_cast<double>(b.busy[c] - a.busy[c]) / tot;
    ++n;
  }
  return n ? sum / n : 0.0;
}

std::optional<double> read_rapl_energy_j() {
  namespace fs = std::filesystem;
  const fs::path root = "/sys/class/powercap";
  std::error_code ec;
  if (!fs::exists(root, ec)) return std::nullopt;
  double joules = 0;
  bool any = false;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string name = e.path().filename().string();
    // Package domains only ("intel-rapl:0", not the sub-domains "intel-rapl:0:0").
    if (name.rfind("intel-rapl:", 0) != 0 || name.find(':', 11) != std::string::npos) continue;
    std::ifstream f(e.path() / "energy_uj");
    std::uint64_t uj;
    if (f >> uj) {
      joules += static_cast<double>(uj) * 1e-6;
      any = true;
    }
  }
  if (!any) return std::nullopt;
  return joules;
}

std::string set_irq_affinity(int irq, int cpu) {
  const std::string path = "/proc/irq/" + std::to_string(irq) + "/smp_affinity_list";
  std::ofstream f(path);
  if (!f) return path + ": cannot open (" + std::strerror(errno) + ")";
  f << cpu << "\n";
  f.flush();
  if (!f) return path + ": write refused (managed IRQ or not root)";
  return {};
}

std::string machine_description() {
  std::string model = "unknown CPU";
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  utsname u{};
  uname(&u);
  std::ostringstream o;
  o << model << ", " << sysconf(_SC_NPROCESSORS_ONLN) << " online CPUs, Linux " << u.release << " "
    << u.machine;
  return o.str();
}

}  // namespace fastwake::hw
