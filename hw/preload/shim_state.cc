// Preload shim, state: the real libibverbs symbols, options from the
// environment, the pointer tables, device contexts, channels and CQ slots,
// the counters, init and fork handling (shim_state.h has the design).
#include <dlfcn.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "shim_state.h"

namespace fastwake::preload {

Real g_real;
Mode g_mode = Mode::kDispatcher;
bool g_verbose = false;
int g_dispatcher_cpu = -1;
int g_vector_choice = -2;
RemapperOptions g_remap_opts{0, 1'000'000};
std::atomic<pid_t> g_pid{0};
pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
Counters g_tot;
char g_irq_lever[256] = "";
PtrTable g_cq_table, g_chan_table;
Ctx g_ctx[kMaxContexts];
Chan g_chan[kMaxChannels];
Slot g_slot[kMaxCqs];
std::atomic<int> g_high_water{0};

namespace {

pthread_once_t g_once = PTHREAD_ONCE_INIT;

template <class F>
F resolve(const char* name, const char* version) {
  void* p = dlvsym(RTLD_NEXT, name, version);
  if (!p) p = dlsym(RTLD_NEXT, name);
  return reinterpret_cast<F>(p);
}

std::size_t hash_ptr(const void* p) {
  auto x = reinterpret_cast<std::uintptr_t>(p);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return static_cast<std::size_t>(x);
}

/// A time in microseconds from the environment (>= 0, fractions allowed), in
/// ns; `def_us` if unset; a message and `def_us` if malformed.
Nanos env_us(const char* name, long long def_us) {
  const char* v = std::getenv(name);
  if (!v || !*v) return def_us * 1000;
  char* end = nullptr;
  errno = 0;
  const double us = std::strtod(v, &end);
  if (errno != 0 || end == v || *end != '\0' || !(us >= 0) || us > 1e12) {
    log("%s=%s is not a time in microseconds (a number >= 0): using the default %lld", name, v,
        def_us);
    return def_us * 1000;
  }
  return static_cast<Nanos>(std::llround(us * 1000));
}

void init_once() {
  g_real.open_device = resolve<decltype(g_real.open_device)>("ibv_open_device", "IBVERBS_1.1");
  g_real.close_device = resolve<decltype(g_real.close_device)>("ibv_close_device", "IBVERBS_1.1");
  g_real.create_comp_channel =
      resolve<decltype(g_real.create_comp_channel)>("ibv_create_comp_channel", "IBVERBS_1.0");
  g_real.destroy_comp_channel =
      resolve<decltype(g_real.destroy_comp_channel)>("ibv_destroy_comp_channel", "IBVERBS_1.0");
  g_real.create_cq = resolve<decltype(g_real.create_cq)>("ibv_create_cq", "IBVERBS_1.1");
  g_real.destroy_cq = resolve<decltype(g_real.destroy_cq)>("ibv_destroy_cq", "IBVERBS_1.1");
  g_real.get_cq_event = resolve<decltype(g_real.get_cq_event)>("ibv_get_cq_event", "IBVERBS_1.1");
  g_real.ack_cq_events =
      resolve<decltype(g_real.ack_cq_events)>("ibv_ack_cq_events", "IBVERBS_1.1");
  g_pid.store(getpid());
  const char* m = std::getenv("FW_PRELOAD_MODE");
  if (!m || !*m || !std::strcmp(m, "dispatcher") || !std::strcmp(m, "poll"))
    g_mode = Mode::kDispatcher;
  else if (!std::strcmp(m, "irq") || !std::strcmp(m, "interrupt"))
    g_mode = Mode::kIrq;
  else if (!std::strcmp(m, "off"))
    g_mode = Mode::kOff;
  else if (!std::strcmp(m, "adaptive") || !std::strcmp(m, "fastwake_adaptive")) {
    log("FW_PRELOAD_MODE=%s: the shim has no per-core mode switches (fastwake_adaptive runs on "
        "the simulator and the loopback NIC only, docs/adaptive.md): using off (pass-through)",
        m);
    g_mode = Mode::kOff;
  } else {
    log("FW_PRELOAD_MODE=%s is not one of dispatcher, irq, off: using off (pass-through)", m);
    g_mode = Mode::kOff;
  }
  g_verbose =
      std::getenv("FW_PRELOAD_VERBOSE") && std::strcmp(std::getenv("FW_PRELOAD_VERBOSE"), "0");
  if (const char* c = std::getenv("FW_PRELOAD_CPU")) g_dispatcher_cpu = std::atoi(c);
  if (const char* v = std::getenv("FW_PRELOAD_VECTOR"))
    g_vector_choice = !std::strcmp(v, "auto") ? -1 : std::atoi(v);
  // irq mode's remapper (core's AffinityRemapper through RemapDriver); the
  // default hysteresis is the 1 ms the shim re-pinned at most once per CQ before.
  g_remap_opts.reaction_delay_ns = env_us("FW_PRELOAD_REACTION_US", 0);
  g_remap_opts.hysteresis_ns = env_us("FW_PRELOAD_HYSTERESIS_US", 1000);
  if (g_verbose) {
    log("mode %s", mode_name());
    if (g_mode == Mode::kIrq)
      log("remapper: reaction delay %lld ns, hysteresis %lld ns",
          static_cast<long long>(g_remap_opts.reaction_delay_ns),
          static_cast<long long>(g_remap_opts.hysteresis_ns));
  }
}

void fork_prepare() {
  pthread_mutex_lock(&g_mu);
  dispatcher_fork_prepare();
}
void fork_parent() {
  dispatcher_fork_parent();
  pthread_mutex_unlock(&g_mu);
}
void fork_child() {
  dispatcher_fork_child();
  pthread_mutex_unlock(&g_mu);
  g_pid.store(getpid());  // objects with another pid are the parent's: refused in dispatcher mode
  // The child reports only what it does itself (the parent reports the rest).
  g_tot.~Counters();
  new (&g_tot) Counters();
}

__attribute__((constructor)) void fw_constructor() {
  init();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}

}  // namespace

void init() { pthread_once(&g_once, init_once); }

const char* mode_name() {
  return g_mode == Mode::kDispatcher ? "dispatcher" : g_mode == Mode::kIrq ? "irq" : "off";
}

void log(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "fastwake-preload[%d]: %s\n", static_cast<int>(getpid()), buf);
}

Nanos now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

// ------------------------------------------------------------ pointer tables

int PtrTable::find(const void* p) const {
  const std::uintptr_t k = reinterpret_cast<std::uintptr_t>(p);
  const std::size_t h = hash_ptr(p);
  for (int i = 0; i < kTable; ++i) {
    const TableEntry& t = e[(h + i) & (kTable - 1)];
    const std::uintptr_t cur = t.key.load(std::memory_order_acquire);
    if (cur == k) return t.val.load(std::memory_order_relaxed);
    if (cur == 0) return -1;
  }
  return -1;
}

bool PtrTable::insert(const void* p, int v) {
  const std::size_t h = hash_ptr(p);
  for (int i = 0; i < kTable; ++i) {
    TableEntry& t = e[(h + i) & (kTable - 1)];
    const std::uintptr_t cur = t.key.load(std::memory_order_relaxed);
    if (cur == 0 || cur == kTomb) {
      t.val.store(v, std::memory_order_relaxed);
      t.key.store(reinterpret_cast<std::uintptr_t>(p), std::memory_order_release);
      return true;
    }
  }
  return false;
}

void PtrTable::erase(const void* p) {
  const std::uintptr_t k = reinterpret_cast<std::uintptr_t>(p);
  const std::size_t h = hash_ptr(p);
  for (int i = 0; i < kTable; ++i) {
    TableEntry& t = e[(h + i) & (kTable - 1)];
    const std::uintptr_t cur = t.key.load(std::memory_order_relaxed);
    if (cur == k) {
      t.key.store(kTomb, std::memory_order_release);
      return;
    }
    if (cur == 0) return;
  }
}

// ------------------------------------------------------------ helpers

bool inherited(pid_t owner) { return owner != g_pid.load(std::memory_order_relaxed); }

void refuse(const char* what) {
  static std::atomic<int> said{0};
  g_tot.refused.fetch_add(1, std::memory_order_relaxed);
  if (said.fetch_add(1) < 4) log("refused: %s", what);
}

Ctx* find_ctx(ibv_context* c) {
  for (auto& x : g_ctx)
    if (x.ctx.load(std::memory_order_acquire) == c) return &x;
  return nullptr;
}

void fold(Slot& s) {
  g_tot.arms += s.arms.load();
  g_tot.raised += s.raised.load();
  g_tot.polled += s.polled.load();
  g_tot.stashed += s.stashed.load();
  g_tot.unstashed += s.unstashed.load();
  g_tot.emu_delivered += s.emu_delivered;
  g_tot.emu_acked += s.emu_acked;
  g_tot.real_delivered += s.real_delivered;
  g_tot.real_acked += s.real_acked;
}

}  // namespace fastwake::preload
