// Runs a SimGrid-fabric simulation in a child process (fastwake-sim-fabric):
// SimGrid allows one engine per process, so every run gets a fresh one.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "fastwake/errors.h"
#include "fastwake/sim/fabric.h"

extern char** environ;

namespace fastwake::sim {
namespace {

using json = nlohmann::json;

bool executable(const std::string& p) { return !p.empty() && ::access(p.c_str(), X_OK) == 0; }

/// The driver binary: $FASTWAKE_SIM_FABRIC, else the one this build made; for
/// installed tools (cmake --install, .deb; the build tree is gone) the
/// fastwake-sim-fabric beside the running program, else the one on PATH.
std::string driver_path() {
  if (const char* e = std::getenv("FASTWAKE_SIM_FABRIC"); e && *e) return e;
#ifdef FW_SIM_FABRIC_BIN
  const std::string built = FW_SIM_FABRIC_BIN;
  if (executable(built)) return built;
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<std::size_t>(n));
    dir.resize(dir.rfind('/') + 1);
    if (executable(dir + "fastwake-sim-fabric")) return dir + "fastwake-sim-fabric";
  }
  if (const char* path = std::getenv("PATH")) {
    std::string all = path;
    for (std::size_t a = 0; a <= all.size();) {
      std::size_t b = all.find(':', a);
      if (b == std::string::npos) b = all.size();
      const std::string cand = all.substr(a, b - a) + "/fastwake-sim-fabric";
      if (b > a && executable(cand)) return cand;
      a = b + 1;
    }
  }
  return built;  // missing: the caller's error names it
#else
  return "";
#endif
}

[[noreturn]] void sys_fail(const std::string& what) {
  throw std::runtime_error("SimGrid fabric: " + what + ": " + std::strerror(errno));
}

/// Closes a file descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

void write_all(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) sys_fail("writing the child's input");
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

bool simgrid_fabric_available() {
  const std::string p = driver_path();
  return !p.empty() && ::access(p.c_str(), X_OK) == 0;
}

json strategy_to_json(const StrategySpec& s) {
  return {{"name", s.name},
          {"description", s.description},
          {"wait", static_cast<int>(s.wait)},
          {"wake_path", {{"kind", static_cast<int>(s.wake_path.kind)}}},
          {"remap_affinity", s.remap_affinity},
          {"adaptive", s.adaptive}};
}

StrategySpec strategy_from_json(const json& j) {
  StrategySpec s;
  s.name = j.at("name").get<std::string>();
  s.description = j.at("description").get<std::string>();
  s.wait = static_cast<WaitMode>(j.at("wait").get<int>());
  const json& w = j.at("wake_path");
  s.wake_path.kind = static_cast<WakePathKind>(w.at("kind").get<int>());  // stages follow the kind
  s.remap_affinity = j.at("remap_affinity").get<bool>();
  s.adaptive = j.at("adaptive").get<bool>();
  return s;
}

json run_to_json(const StrategyRun& r) {
  json samples = json::array();
  for (const Sample& s : r.samples) samples.push_back({s.done, s.thread, s.latency, s.irq_core});
  return {{"result", r.result.to_json()}, {"samples", samples}, {"sent", r.sent},
          {"completed", r.completed},     {"events", r.events}, {"wall_s", r.wall_s}};
}

StrategyRun run_from_json(const json& j) {
  StrategyRun r;
  const json& res = j.at("result");
  StrategyResult& o = r.result;
  o.strategy = res.at("strategy").get<std::string>();
  o.backend = res.at("backend").get<std::string>();
  o.platform = res.at("platform").get<std::string>();
  o.seed = res.at("seed").get<std::uint64_t>();
  o.requests = res.at("requests").get<std::uint64_t>();
  const json& l = res.at("latency_us");
  o.latency_us = {l.at("mean").get<double>(), l.at("p50").get<double>(),
                  l.at("p90").get<double>(),  l.at("p99").get<double>(),
                  l.at("p999").get<double>(), l.at("max").get<double>()};
  o.throughput_rps = res.at("throughput_rps").get<double>();
  o.cpu_util = res.at("cpu_util").get<double>();
  o.power_w = res.at("power_w").get<double>();
  o.core_util = res.value("core_util", std::vector<double>{});
  o.core_load = res.value("core_load", std::vector<double>{});
  o.max_app_core_util = res.value("max_app_core_util", 0.0);
  o.max_app_core_load = res.value("max_app_core_load", 0.0);
  o.saturated = res.value("saturated", false);
  o.core_power_w = res.value("core_power_w", 0.0);
  o.package_power_w = res.value("package_power_w", 0.0);
  o.power_estimated = res.at("power_estimated").get<bool>();
  o.energy_per_req_uj = res.at("energy_per_req_uj").get<double>();
  o.breakdown_us = res.at("breakdown_us").get<std::map<std::string, double>>();
  o.state_share = res.at("state_share").get<std::map<std::string, double>>();
  if (res.contains("extra")) o.extra = res.at("extra");
  for (const json& s : j.at("samples"))
    r.samples.push_back({s.at(0).get<Nanos>(), s.at(1).get<ThreadId>(), s.at(2).get<Nanos>(),
                         s.at(3).get<CoreId>()});
  r.sent = j.at("sent").get<std::uint64_t>();
  r.completed = j.at("completed").get<std::uint64_t>();
  r.events = j.at("events").get<std::uint64_t>();
  r.wall_s = j.at("wall_s").get<double>();
  return r;
}

namespace {

/// Runs the driver binary on `input` and returns its reply's `key` member.
/// `what` names the run in errors ("strategy busy_poll").
json run_driver(const std::string& input, const std::string& key, const std::string& what) {
  const std::string bin = driver_path();
  if (!simgrid_fabric_available())
    throw ConfigError(
        "fabric.kind: \"simgrid\" needs a build with SimGrid, and this one has none" +
        (bin.empty() ? std::string() : " (no executable " + bin + ")") +
        ": install libsimgrid-dev (scripts/install-deps.sh) and reconfigure with "
        "-DFASTWAKE_WITH_SIMGRID=ON, or set FASTWAKE_SIM_FABRIC to a fastwake-sim-fabric binary");

  // Input through an anonymous file (no pipe: a child that dies early cannot
  // SIGPIPE us); output through a pipe. Everything close-on-exec, so
  // concurrent spawns from other threads do not inherit each other's ends.
  Fd in;
  in.fd = ::memfd_create("fastwake-fabric-input", MFD_CLOEXEC);
  if (in.fd < 0) sys_fail("memfd_create");
  write_all(in.fd, input);
  if (::lseek(in.fd, 0, SEEK_SET) < 0) sys_fail("lseek");
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) sys_fail("pipe2");
  Fd out_r, out_w;
  out_r.fd = p[0];
  out_w.fd = p[1];

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in.fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.fd, 1);
  std::string arg0 = bin;
  char* argv[] = {arg0.data(), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    errno = rc;
    sys_fail("cannot start " + bin);
  }
  out_w.reset();
  in.reset();

  std::string output;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(out_r.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) sys_fail("waitpid");

  json reply;
  try {
    reply = json::parse(output);
  } catch (const json::parse_error&) {
    reply = nullptr;
  }
  if (reply.is_object() && reply.contains("error")) {
    const std::string msg = reply["error"].value("message", "unknown error");
    if (reply["error"].value("type", "") == "config") throw ConfigError(msg);
    throw std::runtime_error("SimGrid fabric: " + msg);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !reply.is_object() ||
      !reply.contains(key)) {
    const std::string how = WIFSIGNALED(status)
                                ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                : "exited with status " + std::to_string(WEXITSTATUS(status));
    throw std::runtime_error("SimGrid fabric: " + bin + " (" + what + ") " + how +
                             " without a result; its messages are on stderr");
  }
  return reply[key];
}

}  // namespace

StrategyRun simulate_in_child(const Config& cfg, const StrategySpec& strategy) {
  // The child gets the resolved config and the strategy itself (it may be one
  // an experiment registered at run time, unknown to the child's registry).
  json doc = to_json(cfg);
  doc.erase("strategies");
  const std::string input = json{{"config", doc}, {"strategy", strategy_to_json(strategy)}}.dump();
  return run_from_json(run_driver(input, "run", "strategy " + strategy.name));
}

json pingpong_to_json(const PingPongSpec& p) {
  return {{"pairs", p.pairs},
          {"round_trips", p.round_trips},
          {"latency_ns", p.latency_ns},
          {"gbps", p.gbps},
          {"bytes", p.bytes}};
}

PingPongSpec pingpong_from_json(const json& j) {
  PingPongSpec p;
  p.pairs = j.at("pairs").get<int>();
  p.round_trips = j.at("round_trips").get<std::int64_t>();
  p.latency_ns = j.at("latency_ns").get<Nanos>();
  p.gbps = j.at("gbps").get<double>();
  p.bytes = j.at("bytes").get<int>();
  return p;
}

PingPongRun simgrid_pingpong_in_child(const PingPongSpec& spec) {
  const json r = run_driver(json{{"pingpong", pingpong_to_json(spec)}}.dump(), "pingpong",
                            "ping-pong of " + std::to_string(spec.pairs) + " pairs");
  PingPongRun o;
  o.round_trips = r.at("round_trips").get<std::uint64_t>();
  o.cpu_s = r.at("cpu_s").get<double>();
  o.wall_s = r.at("wall_s").get<double>();
  o.sim_s = r.at("sim_s").get<double>();
  return o;
}

}  // namespace fastwake::sim
