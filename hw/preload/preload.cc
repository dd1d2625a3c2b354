// libfastwake-preload.so: LD_PRELOAD shim that gives unmodified verbs programs
// (event mode: ibv_req_notify_cq + ibv_get_cq_event) FastWake's waiting,
// chosen by FW_PRELOAD_MODE, without losing or duplicating any completion or
// event. Design, limits and the environment variables: docs/verbs.md.
//
// What it intercepts. Exported symbols (interposed by LD_PRELOAD):
// ibv_open_device, ibv_close_device, ibv_create_comp_channel,
// ibv_destroy_comp_channel, ibv_create_cq, ibv_destroy_cq, ibv_get_cq_event,
// ibv_ack_cq_events. ibv_poll_cq and ibv_req_notify_cq are static inline in
// verbs.h (one indirect call through context->ops), so on every opened
// context the shim replaces ops.poll_cq, ops.req_notify_cq and the extended
// context's create_cq_ex with its own functions and calls the provider's.
//
// FW_PRELOAD_MODE=dispatcher (default): the FastWake poll mode.
//   * Arming a CQ (ibv_req_notify_cq) only marks it armed; the real CQ is
//     never armed, so the kernel raises no events for it.
//   * One dispatcher thread per process (SCHED_IDLE; on FW_PRELOAD_CPU, else
//     on the CPU of the first arming thread if that thread is pinned to one,
//     else unpinned) polls every armed CQ. Verbs cannot peek, so a
//     completion it finds goes into the CQ's stash (in CQ order) and the
//     application's ibv_poll_cq returns stashed completions first; both hold
//     the CQ's mutex around "stash + provider poll", so nothing is taken
//     twice or reordered. Then the dispatcher disarms the CQ (one-shot, like
//     verbs), drops the CQ's mutex and only then queues an emulated event on
//     the CQ's channel and wakes the waiter. The order matters: the woken
//     thread preempts the SCHED_IDLE dispatcher on its CPU, so it must never
//     find a lock held by it; and the dispatcher only try-locks, while the
//     application sleeps on a contended mutex (a spin would starve a
//     preempted SCHED_IDLE holder: priority inversion).
//   * The channel's fd (ibv_comp_channel::fd, what applications poll/epoll or
//     set O_NONBLOCK on) is replaced by an eventfd (EFD_SEMAPHORE) that
//     counts queued events, so poll/epoll-driven and non-blocking programs
//     work unchanged; the kernel's fd is kept and restored wherever
//     libibverbs needs it (CQ creation, channel destruction).
//   * ibv_get_cq_event reads one unit of the eventfd (blocking like the
//     stock read(), EINTR/EAGAIN like it) and returns the next queued event.
//   * Accounting: each CQ counts events the kernel reported and events the
//     shim emulated; ibv_ack_cq_events forwards only acks of real events to
//     libibverbs (ledger.h), so ibv_destroy_cq, which waits until the
//     kernel's count is acked, never hangs. Destroying a CQ drops its queued
//     events, like the kernel does.
// FW_PRELOAD_MODE=irq: the stock blocking read on the channel, plus the
//   affinity remapper's levers: before a thread blocks, the IRQs of its
//   channel's CQs' vectors are re-pinned to its CPU (/proc/irq, where the
//   device has IRQs), and FW_PRELOAD_VECTOR=auto|N chooses the completion
//   vector at CQ creation. The trimmed wake path needs fastwake.ko (HOOK
//   below).
// FW_PRELOAD_MODE=off: pass-through, counting only (a control).
//
// Threads: every entry point is thread-safe. fork(): a child may create and
// use its own objects; using a CQ or emulated channel inherited from the
// parent in dispatcher mode is refused with a message (its dispatcher and
// eventfd belong to the parent). ibv_start_poll (extended CQ polling) on a
// dispatcher-mode CQ is refused with a message (the stash cannot be served
// through it). Both refusals are counted and make the exit report unbalanced.
//
// FW_PRELOAD_STATS=stderr|FILE prints (or appends) one JSON line per process
// at exit with every counter and "balanced": events delivered == acked,
// raised == delivered + purged + pending, stashed == unstashed + dropped +
// still stashed, no over-acks, no refusals.
#include <dlfcn.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <new>
#include <string>
#include <vector>

#include "fastwake/hw/irq_map.h"
#include "ledger.h"

#define FW_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

enum class Mode { kOff, kDispatcher, kIrq };

constexpr int kMaxCqs = 1024;
constexpr int kMaxChannels = 1024;
constexpr int kMaxContexts = 64;
constexpr int kStash = 8;
constexpr int kTable = 4096;  // open-addressing tables (power of two)
constexpr std::uintptr_t kTomb = 1;

using PollFn = int (*)(ibv_cq*, int, ibv_wc*);
using NotifyFn = int (*)(ibv_cq*, int);
using CreateCqExFn = ibv_cq_ex* (*)(ibv_context*, ibv_cq_init_attr_ex*);
using StartPollFn = int (*)(ibv_cq_ex*, ibv_poll_cq_attr*);

// ------------------------------------------------------------ real symbols

struct Real {
  ibv_context* (*open_device)(ibv_device*) = nullptr;
  int (*close_device)(ibv_context*) = nullptr;
  ibv_comp_channel* (*create_comp_channel)(ibv_context*) = nullptr;
  int (*destroy_comp_channel)(ibv_comp_channel*) = nullptr;
  ibv_cq* (*create_cq)(ibv_context*, int, void*, ibv_comp_channel*, int) = nullptr;
  int (*destroy_cq)(ibv_cq*) = nullptr;
  int (*get_cq_event)(ibv_comp_channel*, ibv_cq**, void**) = nullptr;
  void (*ack_cq_events)(ibv_cq*, unsigned) = nullptr;
};
Real g_real;
Mode g_mode = Mode::kDispatcher;
bool g_verbose = false;
int g_dispatcher_cpu = -1;
int g_vector_choice = -2;  // -2: keep the application's; -1: auto; >= 0: that vector
std::atomic<pid_t> g_pid{0};
pthread_once_t g_once = PTHREAD_ONCE_INIT;
pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;  // creation/destruction paths

template <class F>
F resolve(const char* name, const char* version) {
  void* p = dlvsym(RTLD_NEXT, name, version);
  if (!p) p = dlsym(RTLD_NEXT, name);
  return reinterpret_cast<F>(p);
}

void log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "fastwake-preload[%d]: %s\n", static_cast<int>(getpid()), buf);
}

std::int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

void spin_lock(std::atomic<bool>& l) {
  while (l.exchange(true, std::memory_order_acquire))
    while (l.load(std::memory_order_relaxed)) relax();
}
void spin_unlock(std::atomic<bool>& l) { l.store(false, std::memory_order_release); }

// ------------------------------------------------------------ counters

struct Counters {
  std::atomic<std::uint64_t> cqs_created{0}, cqs_destroyed{0}, channels{0}, channels_emulated{0};
  std::atomic<std::uint64_t> arms{0}, raised{0}, emu_delivered{0}, emu_acked{0}, purged{0};
  std::atomic<std::uint64_t> real_delivered{0}, real_acked{0}, overacks{0};
  std::atomic<std::uint64_t> polled{0}, stashed{0}, unstashed{0}, dropped{0};
  std::atomic<std::uint64_t> unknown_events{0}, unknown_acks{0};
  std::atomic<std::uint64_t> irq_repins{0}, irq_errors{0}, vector_overrides{0};
  std::atomic<std::uint64_t> refused{0}, solicited_arms{0}, dispatcher_sleeps{0};
};
Counters g_tot;  // folded in when a CQ is destroyed; live CQs are added at report time
char g_irq_lever[256] = "";

// ------------------------------------------------------------ pointer tables

struct TableEntry {
  std::atomic<std::uintptr_t> key{0};
  std::atomic<int> val{-1};
};

std::size_t hash_ptr(const void* p) {
  auto x = reinterpret_cast<std::uintptr_t>(p);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return static_cast<std::size_t>(x);
}

/// Lock-free lookup; insert/erase under g_mu.
struct PtrTable {
  TableEntry e[kTable];
  int find(const void* p) const {
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
  bool insert(const void* p, int v) {
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
  void erase(const void* p) {
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
};

PtrTable g_cq_table, g_chan_table;

// ------------------------------------------------------------ state

struct Ctx {
  std::atomic<ibv_context*> ctx{nullptr};
  PollFn poll = nullptr;
  NotifyFn notify = nullptr;
  CreateCqExFn create_cq_ex = nullptr;
  fastwake::hw::IrqMap* irqs = nullptr;  // irq mode, discovered at first CQ; never freed
};
Ctx g_ctx[kMaxContexts];

struct Chan {
  ibv_comp_channel* ch = nullptr;
  bool used = false;
  bool emulate = false;
  pid_t pid = 0;
  int real_fd = -1;  // the kernel's event fd
  int efd = -1;      // emulated: what the application sees as ch->fd
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  std::deque<ibv_cq*>* events = nullptr;  // emulated events not yet read (heap; never freed at exit)
  std::vector<int>* cqs = nullptr;        // slots of the CQs on this channel
  std::atomic<int> raising{0};            // dispatcher between "queued" and "eventfd written"
};
Chan g_chan[kMaxChannels];

struct alignas(64) Slot {
  std::atomic<ibv_cq*> cq{nullptr};
  bool used = false;  // under g_mu
  int chan = -1;
  bool emulate = false;
  pid_t pid = 0;
  PollFn poll = nullptr;
  NotifyFn notify = nullptr;
  // Dispatcher <-> application (see the header comment).
  std::atomic<int> armed{0};
  std::atomic<bool> dead{false};
  std::atomic<std::uint32_t> gen{0};               // bumped at every registration (slot reuse)
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;  // stash + provider poll; the dispatcher only try-locks
  ibv_wc stash[kStash];
  int head = 0, count = 0;  // under mu
  // Event accounting.
  std::atomic<bool> ack_lock{false};
  std::uint64_t real_delivered = 0, real_acked = 0, emu_delivered = 0, emu_acked = 0;  // under ack_lock
  std::atomic<std::uint64_t> arms{0}, raised{0}, polled{0}, stashed{0}, unstashed{0};
  // irq mode.
  int vector = -1;
  int irqs[4] = {-1, -1, -1, -1};
  int n_irqs = 0;
  int pinned_cpu = -1;
  std::int64_t last_pin_ns = 0;
};
Slot g_slot[kMaxCqs];
std::atomic<int> g_high_water{0};

// Dispatcher thread.
std::atomic<pid_t> g_disp_pid{0};  // process that owns the running dispatcher
std::atomic<std::uint32_t> g_disp_word{0};
std::atomic<int> g_disp_sleeping{0};
std::atomic<int> g_dispatcher_cpu_used{-1};  // -1: unpinned (or not started)

// ------------------------------------------------------------ init

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
  g_real.ack_cq_events = resolve<decltype(g_real.ack_cq_events)>("ibv_ack_cq_events", "IBVERBS_1.1");
  g_pid.store(getpid());
  const char* m = std::getenv("FW_PRELOAD_MODE");
  if (!m || !*m || !std::strcmp(m, "dispatcher") || !std::strcmp(m, "poll"))
    g_mode = Mode::kDispatcher;
  else if (!std::strcmp(m, "irq") || !std::strcmp(m, "interrupt"))
    g_mode = Mode::kIrq;
  else if (!std::strcmp(m, "off"))
    g_mode = Mode::kOff;
  else {
    log("FW_PRELOAD_MODE=%s is not one of dispatcher, irq, off: using off (pass-through)", m);
    g_mode = Mode::kOff;
  }
  g_verbose = std::getenv("FW_PRELOAD_VERBOSE") && std::strcmp(std::getenv("FW_PRELOAD_VERBOSE"), "0");
  if (const char* c = std::getenv("FW_PRELOAD_CPU")) g_dispatcher_cpu = std::atoi(c);
  if (const char* v = std::getenv("FW_PRELOAD_VECTOR"))
    g_vector_choice = !std::strcmp(v, "auto") ? -1 : std::atoi(v);
  if (g_verbose)
    log("mode %s", g_mode == Mode::kDispatcher ? "dispatcher" : g_mode == Mode::kIrq ? "irq" : "off");
}

void init() { pthread_once(&g_once, init_once); }

void fork_prepare() { pthread_mutex_lock(&g_mu); }
void fork_parent() { pthread_mutex_unlock(&g_mu); }
void fork_child() {
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

// ------------------------------------------------------------ dispatcher

long futex(std::atomic<std::uint32_t>* w, int op, std::uint32_t v, const timespec* t) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(w), op, v, t, nullptr, 0);
}

/// Queues an emulated event for CQ `q` (slot generation `gen`) and wakes a
/// waiter. Called with no CQ lock held. A CQ destroyed meanwhile (dead, or
/// its slot reused) gets no event: destroy marks it dead before purging the
/// channel's queue under the same mutex.
void raise_event(Slot& s, ibv_cq* q, std::uint32_t gen, int chan) {
  Chan& c = g_chan[chan];
  pthread_mutex_lock(&c.mu);
  const bool live = !s.dead.load(std::memory_order_acquire) && s.gen.load(std::memory_order_acquire) == gen;
  if (live) {
    c.events->push_back(q);
    c.raising.fetch_add(1, std::memory_order_acq_rel);  // keeps efd open until written
  }
  pthread_mutex_unlock(&c.mu);
  if (!live) return;
  s.raised.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t one = 1;
  [[maybe_unused]] auto w = write(c.efd, &one, sizeof one);  // the waiter may run right here
  c.raising.fetch_sub(1, std::memory_order_release);
}

/// One scan over every armed CQ; true if any was armed.
bool scan_once() {
  bool any = false;
  const int hw = g_high_water.load(std::memory_order_acquire);
  const pid_t me = g_pid.load(std::memory_order_relaxed);
  for (int i = 0; i < hw; ++i) {
    Slot& s = g_slot[i];
    if (!s.armed.load(std::memory_order_relaxed)) continue;
    any = true;
    if (pthread_mutex_trylock(&s.mu) != 0) continue;  // the application polls it now
    bool raise = false;
    ibv_cq* q = nullptr;
    std::uint32_t gen = 0;
    int chan = -1;
    if (!s.dead.load(std::memory_order_relaxed) && s.emulate && s.pid == me &&
        s.armed.load(std::memory_order_acquire)) {
      bool fire = s.count >= kStash;
      if (!fire) {
        ibv_wc wc;
        const int r = s.poll(s.cq.load(std::memory_order_relaxed), 1, &wc);
        if (r > 0) {
          s.stash[(s.head + s.count) % kStash] = wc;
          ++s.count;
          s.stashed.fetch_add(1, std::memory_order_relaxed);
          fire = true;
        } else if (r < 0) {
          fire = true;  // let the application's poll see the error
        }
      }
      if (fire && s.armed.exchange(0, std::memory_order_acq_rel)) {
        raise = true;
        q = s.cq.load(std::memory_order_relaxed);
        gen = s.gen.load(std::memory_order_relaxed);
        chan = s.chan;
      }
    }
    pthread_mutex_unlock(&s.mu);
    if (raise) raise_event(s, q, gen, chan);
  }
  return any;
}

void* dispatcher_main(void* arg) {
  pthread_setname_np(pthread_self(), "fw-dispatcher");
  const int cpu = static_cast<int>(reinterpret_cast<std::intptr_t>(arg));
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
      log("cannot pin the dispatcher to CPU %d (running unpinned)", cpu);
  }
  sched_param sp{};
  // A normal thread woken on this CPU preempts a SCHED_IDLE one at once.
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0 && g_verbose)
    log("SCHED_IDLE refused for the dispatcher");
  std::int64_t last_busy = now_ns();
  for (;;) {
    if (scan_once()) {
      last_busy = now_ns();
      continue;
    }
    if (now_ns() - last_busy < 50'000'000) {  // linger 50 ms before sleeping
      relax();
      continue;
    }
    // Sleep until an arm: publish "sleeping", re-scan, then wait (an arm after
    // the re-scan sees sleeping == 1 and bumps the word).
    const std::uint32_t w = g_disp_word.load(std::memory_order_acquire);
    g_disp_sleeping.store(1, std::memory_order_seq_cst);
    if (!scan_once()) {
      g_tot.dispatcher_sleeps.fetch_add(1, std::memory_order_relaxed);
      const timespec t{0, 100'000'000};
      futex(&g_disp_word, FUTEX_WAIT_PRIVATE, w, &t);
    }
    g_disp_sleeping.store(0, std::memory_order_relaxed);
    last_busy = now_ns();
  }
  return nullptr;
}

void ensure_dispatcher() {
  const pid_t me = g_pid.load(std::memory_order_relaxed);
  if (g_disp_pid.load(std::memory_order_acquire) == me) return;
  pthread_mutex_lock(&g_mu);
  if (g_disp_pid.load(std::memory_order_relaxed) != me) {
    pthread_t th;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    // Block signals in the dispatcher: the application's handlers run in its threads.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    // CPU: FW_PRELOAD_CPU, else the arming thread's CPU if that thread is
    // pinned to one (taskset): the FastWake layout, dispatcher and
    // application sharing a core; else unpinned.
    int cpu = g_dispatcher_cpu;
    if (cpu < 0) {
      cpu_set_t mine;
      CPU_ZERO(&mine);
      if (pthread_getaffinity_np(pthread_self(), sizeof mine, &mine) == 0 && CPU_COUNT(&mine) == 1)
        for (int c = 0; c < CPU_SETSIZE; ++c)
          if (CPU_ISSET(c, &mine)) cpu = c;
    }
    if (pthread_create(&th, &a, dispatcher_main, reinterpret_cast<void*>(static_cast<std::intptr_t>(cpu))) !=
        0)
      log("cannot start the dispatcher thread");
    g_dispatcher_cpu_used.store(cpu);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    pthread_attr_destroy(&a);
    g_disp_pid.store(me, std::memory_order_release);
    if (g_verbose) log("dispatcher started (cpu %d)", cpu);
  }
  pthread_mutex_unlock(&g_mu);
}

void wake_dispatcher() {
  if (g_disp_sleeping.load(std::memory_order_seq_cst)) {
    g_disp_word.fetch_add(1, std::memory_order_release);
    futex(&g_disp_word, FUTEX_WAKE_PRIVATE, 1, nullptr);
  }
}

// ------------------------------------------------------------ provider-op wrappers

int fw_poll_cq(ibv_cq* cq, int n, ibv_wc* wc) {
  const int i = g_cq_table.find(cq);
  if (i < 0) {
    Ctx* c = find_ctx(cq->context);
    return c ? c->poll(cq, n, wc) : -1;
  }
  Slot& s = g_slot[i];
  if (!s.emulate) {
    const int r = s.poll(cq, n, wc);
    if (r > 0) s.polled.fetch_add(static_cast<std::uint64_t>(r), std::memory_order_relaxed);
    return r;
  }
  if (inherited(s.pid)) {
    refuse("ibv_poll_cq on a dispatcher-mode CQ inherited across fork()");
    return -1;
  }
  pthread_mutex_lock(&s.mu);
  int k = 0;
  while (k < n && s.count > 0) {
    wc[k++] = s.stash[s.head];
    s.head = (s.head + 1) % kStash;
    --s.count;
  }
  const int r = k < n ? s.poll(cq, n - k, wc + k) : 0;
  pthread_mutex_unlock(&s.mu);
  if (k) s.unstashed.fetch_add(static_cast<std::uint64_t>(k), std::memory_order_relaxed);
  if (r < 0) return k > 0 ? k : r;
  s.polled.fetch_add(static_cast<std::uint64_t>(k + r), std::memory_order_relaxed);
  return k + r;
}

int fw_req_notify_cq(ibv_cq* cq, int solicited_only) {
  const int i = g_cq_table.find(cq);
  if (i < 0) {
    Ctx* c = find_ctx(cq->context);
    return c ? c->notify(cq, solicited_only) : EINVAL;
  }
  Slot& s = g_slot[i];
  s.arms.fetch_add(1, std::memory_order_relaxed);
  if (!s.emulate) return s.notify(cq, solicited_only);
  if (inherited(s.pid)) {
    refuse("ibv_req_notify_cq on a dispatcher-mode CQ inherited across fork()");
    return EPERM;
  }
  // Solicited-only arming is emulated as "any completion": at worst an extra
  // event, which verbs programs must tolerate anyway.
  if (solicited_only) g_tot.solicited_arms.fetch_add(1, std::memory_order_relaxed);
  ensure_dispatcher();
  s.armed.store(1, std::memory_order_seq_cst);
  wake_dispatcher();
  return 0;
}

int fw_refuse_start_poll(ibv_cq_ex*, ibv_poll_cq_attr*) {
  refuse(
      "ibv_start_poll (extended CQ polling) on a dispatcher-mode CQ: the dispatcher's stash cannot be "
      "served through it; run with FW_PRELOAD_MODE=irq or off");
  return EOPNOTSUPP;
}

// ------------------------------------------------------------ registration

int choose_vector(ibv_context* ctx, int app_vector) {
  if (g_mode != Mode::kIrq || g_vector_choice == -2) return app_vector;
  const int nv = ctx->num_comp_vectors;
  if (g_vector_choice >= 0) {
    g_tot.vector_overrides.fetch_add(1, std::memory_order_relaxed);
    return nv > 0 ? g_vector_choice % nv : app_vector;
  }
  // auto: the vector whose IRQ is on this CPU, else cpu % vectors.
  const int cpu = sched_getcpu();
  Ctx* c = find_ctx(ctx);
  if (c && c->irqs)
    for (int v = 0; v < static_cast<int>(c->irqs->vector_irqs.size()); ++v)
      if (!c->irqs->vector_irqs[v].empty() &&
          fastwake::hw::irq_affinity_cpu(c->irqs->vector_irqs[v][0]) == cpu) {
        g_tot.vector_overrides.fetch_add(1, std::memory_order_relaxed);
        return v;
      }
  g_tot.vector_overrides.fetch_add(1, std::memory_order_relaxed);
  return nv > 0 && cpu >= 0 ? cpu % nv : app_vector;
}

void ensure_irq_map(ibv_context* ctx) {
  if (g_mode != Mode::kIrq) return;
  Ctx* c = find_ctx(ctx);
  if (!c || c->irqs) return;
  auto* m = new fastwake::hw::IrqMap(fastwake::hw::discover_irqs(ctx->device->name, ctx->num_comp_vectors));
  c->irqs = m;
  std::snprintf(g_irq_lever, sizeof g_irq_lever, "%s", m->source.c_str());
  for (char& ch : g_irq_lever)
    if (ch == '"' || ch == '\\' || static_cast<unsigned char>(ch) < 0x20)
      ch = ch ? '\'' : ch;  // stays valid JSON
  if (g_verbose) log("%s", m->source.c_str());
}

void register_cq(ibv_cq* cq, int chan, int vector) {
  Ctx* c = find_ctx(cq->context);
  pthread_mutex_lock(&g_mu);
  int i = -1;
  for (int k = 0; k < kMaxCqs; ++k)
    if (!g_slot[k].used) {
      i = k;
      break;
    }
  if (i < 0 || !c) {
    pthread_mutex_unlock(&g_mu);
    log("%s: CQ %p is passed through untouched", !c ? "context not patched" : "more than 1024 CQs",
        static_cast<void*>(cq));
    return;
  }
  Slot& s = g_slot[i];
  pthread_mutex_lock(&s.mu);
  s.used = true;
  s.gen.fetch_add(1, std::memory_order_acq_rel);
  s.chan = chan;
  s.emulate = chan >= 0 && g_chan[chan].emulate;
  s.pid = g_pid.load();
  s.poll = c->poll;
  s.notify = c->notify;
  s.armed.store(0);
  s.head = s.count = 0;
  s.real_delivered = s.real_acked = s.emu_delivered = s.emu_acked = 0;
  s.arms = s.raised = s.polled = s.stashed = s.unstashed = 0;
  s.vector = vector;
  s.n_irqs = 0;
  s.pinned_cpu = -1;
  s.last_pin_ns = 0;
  if (c->irqs && vector >= 0 && vector < static_cast<int>(c->irqs->vector_irqs.size()))
    for (int irq : c->irqs->vector_irqs[vector])
      if (s.n_irqs < 4) s.irqs[s.n_irqs++] = irq;
  s.cq.store(cq, std::memory_order_relaxed);
  s.dead.store(false);
  pthread_mutex_unlock(&s.mu);
  g_cq_table.insert(cq, i);
  if (i + 1 > g_high_water.load()) g_high_water.store(i + 1, std::memory_order_release);
  if (chan >= 0) {
    pthread_mutex_lock(&g_chan[chan].mu);
    g_chan[chan].cqs->push_back(i);
    pthread_mutex_unlock(&g_chan[chan].mu);
  }
  pthread_mutex_unlock(&g_mu);
  g_tot.cqs_created.fetch_add(1, std::memory_order_relaxed);
}

/// Creates a CQ with the channel's kernel fd in place (the provider passes
/// channel->fd to the kernel), then puts the eventfd back.
template <class F>
auto with_real_fd(ibv_comp_channel* ch, int chan, F create) {
  if (chan < 0 || !g_chan[chan].emulate) return create();
  Chan& c = g_chan[chan];
  pthread_mutex_lock(&c.mu);
  ch->fd = c.real_fd;
  auto r = create();
  ch->fd = c.efd;
  pthread_mutex_unlock(&c.mu);
  return r;
}

ibv_cq_ex* fw_create_cq_ex(ibv_context* ctx, ibv_cq_init_attr_ex* attr) {
  Ctx* c = find_ctx(ctx);
  if (!c || !c->create_cq_ex) {
    errno = EOPNOTSUPP;
    return nullptr;
  }
  ensure_irq_map(ctx);
  const int chan = attr && attr->channel ? g_chan_table.find(attr->channel) : -1;
  if (attr)
    attr->comp_vector = static_cast<std::uint32_t>(choose_vector(ctx, static_cast<int>(attr->comp_vector)));
  ibv_cq_ex* cq =
      with_real_fd(attr ? attr->channel : nullptr, chan, [&] { return c->create_cq_ex(ctx, attr); });
  if (!cq) return cq;
  register_cq(ibv_cq_ex_to_cq(cq), chan, attr ? static_cast<int>(attr->comp_vector) : -1);
  if (chan >= 0 && g_chan[chan].emulate) cq->start_poll = fw_refuse_start_poll;
  return cq;
}

void patch_context(ibv_context* ctx) {
  pthread_mutex_lock(&g_mu);
  Ctx* slot = nullptr;
  for (auto& x : g_ctx)
    if (!x.ctx.load()) {
      slot = &x;
      break;
    }
  if (!slot) {
    pthread_mutex_unlock(&g_mu);
    log("more than %d open device contexts: context %p is not intercepted", kMaxContexts,
        static_cast<void*>(ctx));
    return;
  }
  slot->poll = ctx->ops.poll_cq;
  slot->notify = ctx->ops.req_notify_cq;
  slot->create_cq_ex = nullptr;
  slot->irqs = nullptr;
  if (verbs_context* v = verbs_get_ctx_op(ctx, create_cq_ex)) {
    slot->create_cq_ex = v->create_cq_ex;
    v->create_cq_ex = fw_create_cq_ex;
  }
  slot->ctx.store(ctx, std::memory_order_release);
  ctx->ops.poll_cq = fw_poll_cq;
  ctx->ops.req_notify_cq = fw_req_notify_cq;
  pthread_mutex_unlock(&g_mu);
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

/// Re-pins the IRQs of the channel's CQs to the calling thread's CPU (irq mode).
void follow_thread(int chan) {
  Chan& c = g_chan[chan];
  const int cpu = sched_getcpu();
  if (cpu < 0) return;
  const std::int64_t now = now_ns();
  pthread_mutex_lock(&c.mu);
  for (int i : *c.cqs) {
    Slot& s = g_slot[i];
    if (s.n_irqs == 0 || s.pinned_cpu == cpu || now - s.last_pin_ns < 1'000'000) continue;
    for (int k = 0; k < s.n_irqs; ++k) {
      const std::string e = fastwake::hw::pin_irq(s.irqs[k], cpu);
      if (e.empty()) {
        g_tot.irq_repins.fetch_add(1, std::memory_order_relaxed);
      } else if (g_tot.irq_errors.fetch_add(1) == 0) {
        log("IRQ re-pin failed: %s", e.c_str());
      }
    }
    s.pinned_cpu = cpu;
    s.last_pin_ns = now;
  }
  pthread_mutex_unlock(&c.mu);
}

}  // namespace

// ================================================================ exported

FW_EXPORT ibv_context* ibv_open_device(ibv_device* dev) {
  init();
  if (!g_real.open_device) {
    errno = ENOSYS;
    return nullptr;
  }
  ibv_context* ctx = g_real.open_device(dev);
  if (ctx) patch_context(ctx);
  return ctx;
}

FW_EXPORT int ibv_close_device(ibv_context* ctx) {
  init();
  if (Ctx* c = find_ctx(ctx)) {
    ctx->ops.poll_cq = c->poll;
    ctx->ops.req_notify_cq = c->notify;
    if (c->create_cq_ex)
      if (verbs_context* v = verbs_get_ctx_op(ctx, create_cq_ex)) v->create_cq_ex = c->create_cq_ex;
    c->ctx.store(nullptr, std::memory_order_release);
  }
  return g_real.close_device ? g_real.close_device(ctx) : ENOSYS;
}

FW_EXPORT ibv_comp_channel* ibv_create_comp_channel(ibv_context* ctx) {
  init();
  if (!g_real.create_comp_channel) {
    errno = ENOSYS;
    return nullptr;
  }
  ibv_comp_channel* ch = g_real.create_comp_channel(ctx);
  if (!ch) return ch;
  pthread_mutex_lock(&g_mu);
  int j = -1;
  for (int k = 0; k < kMaxChannels; ++k)
    if (!g_chan[k].used) {
      j = k;
      break;
    }
  if (j < 0) {
    pthread_mutex_unlock(&g_mu);
    log("more than %d completion channels: channel %p is passed through", kMaxChannels,
        static_cast<void*>(ch));
    return ch;
  }
  Chan& c = g_chan[j];
  c.used = true;
  c.ch = ch;
  c.pid = g_pid.load();
  c.real_fd = ch->fd;
  c.efd = -1;
  c.emulate = g_mode == Mode::kDispatcher && find_ctx(ctx) != nullptr;
  if (!c.events) c.events = new std::deque<ibv_cq*>();
  if (!c.cqs) c.cqs = new std::vector<int>();
  c.events->clear();
  c.cqs->clear();
  if (c.emulate) {
    c.efd = eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE);
    if (c.efd < 0) {
      log("eventfd failed (%s): channel %p uses the stock path", std::strerror(errno),
          static_cast<void*>(ch));
      c.emulate = false;
    } else {
      ch->fd = c.efd;
      g_tot.channels_emulated.fetch_add(1, std::memory_order_relaxed);
    }
  }
  g_chan_table.insert(ch, j);
  pthread_mutex_unlock(&g_mu);
  g_tot.channels.fetch_add(1, std::memory_order_relaxed);
  return ch;
}

FW_EXPORT int ibv_destroy_comp_channel(ibv_comp_channel* ch) {
  init();
  const int j = g_chan_table.find(ch);
  if (j < 0) return g_real.destroy_comp_channel ? g_real.destroy_comp_channel(ch) : ENOSYS;
  Chan& c = g_chan[j];
  pthread_mutex_lock(&g_mu);
  if (c.emulate) ch->fd = c.real_fd;  // libibverbs closes ch->fd
  const int r = g_real.destroy_comp_channel(ch);
  if (r != 0) {
    if (c.emulate) ch->fd = c.efd;  // still in use (CQs attached): keep emulating
    pthread_mutex_unlock(&g_mu);
    return r;
  }
  // The dispatcher may be between queueing an event and writing the eventfd
  // (its CQ destroyed meanwhile): let it finish before the fd is closed.
  while (c.raising.load(std::memory_order_acquire) > 0) usleep(50);
  if (c.efd >= 0) close(c.efd);
  c.efd = -1;
  g_chan_table.erase(ch);
  c.used = false;
  c.ch = nullptr;
  pthread_mutex_unlock(&g_mu);
  return 0;
}

FW_EXPORT ibv_cq* ibv_create_cq(ibv_context* ctx, int cqe, void* cq_context, ibv_comp_channel* channel,
                                int comp_vector) {
  init();
  if (!g_real.create_cq) {
    errno = ENOSYS;
    return nullptr;
  }
  ensure_irq_map(ctx);
  const int chan = channel ? g_chan_table.find(channel) : -1;
  const int vector = choose_vector(ctx, comp_vector);
  ibv_cq* cq =
      with_real_fd(channel, chan, [&] { return g_real.create_cq(ctx, cqe, cq_context, channel, vector); });
  if (cq) register_cq(cq, chan, vector);
  return cq;
}

FW_EXPORT int ibv_destroy_cq(ibv_cq* cq) {
  init();
  const int i = g_cq_table.find(cq);
  if (i < 0) return g_real.destroy_cq ? g_real.destroy_cq(cq) : ENOSYS;
  Slot& s = g_slot[i];
  // A fork child's copy of the parent's state is left alone (its locks may be
  // copies of locks the parent's dispatcher held at fork time).
  if (inherited(s.pid)) return g_real.destroy_cq(cq);
  pthread_mutex_lock(&s.mu);
  s.dead.store(true, std::memory_order_release);  // the dispatcher skips it from now on
  s.armed.store(0);
  pthread_mutex_unlock(&s.mu);
  const int r = g_real.destroy_cq(cq);  // waits until every real event is acked
  if (r != 0) {
    pthread_mutex_lock(&s.mu);
    s.dead.store(false, std::memory_order_release);
    pthread_mutex_unlock(&s.mu);
    return r;
  }
  // The kernel drops a destroyed CQ's unread events; so does the shim.
  if (s.chan >= 0) {
    Chan& c = g_chan[s.chan];
    pthread_mutex_lock(&c.mu);
    std::uint64_t purged = 0;
    for (auto it = c.events->begin(); it != c.events->end();)
      if (*it == cq) {
        it = c.events->erase(it);
        ++purged;
      } else {
        ++it;
      }
    for (auto it = c.cqs->begin(); it != c.cqs->end(); ++it)
      if (*it == i) {
        c.cqs->erase(it);
        break;
      }
    pthread_mutex_unlock(&c.mu);
    g_tot.purged += purged;
  }
  pthread_mutex_lock(&g_mu);
  pthread_mutex_lock(&s.mu);
  g_tot.dropped +=
      static_cast<std::uint64_t>(s.count);  // stashed, never polled: gone with the CQ, as in the stock path
  s.count = 0;
  spin_lock(s.ack_lock);
  fold(s);
  spin_unlock(s.ack_lock);
  g_cq_table.erase(cq);
  s.cq.store(nullptr);
  s.used = false;
  pthread_mutex_unlock(&s.mu);
  pthread_mutex_unlock(&g_mu);
  g_tot.cqs_destroyed.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

FW_EXPORT int ibv_get_cq_event(ibv_comp_channel* ch, ibv_cq** cq, void** cq_context) {
  init();
  const int j = g_chan_table.find(ch);
  if (j < 0 || !g_chan[j].emulate) {
    if (j >= 0 && g_mode == Mode::kIrq) follow_thread(j);
    // HOOK(kmod, issue 6): with /dev/fastwake present (FastwakeDevice::
    // open_if_present), register this thread once, attach(real channel fd)
    // and wait() in the module (trimmed wake path), then read the event
    // non-blocking here. Not wired yet: the stock blocking read follows.
    const int r = g_real.get_cq_event ? g_real.get_cq_event(ch, cq, cq_context) : -1;
    if (r == 0) {
      const int i = g_cq_table.find(*cq);
      if (i >= 0) {
        Slot& s = g_slot[i];
        spin_lock(s.ack_lock);
        ++s.real_delivered;
        spin_unlock(s.ack_lock);
      } else {
        g_tot.unknown_events.fetch_add(1, std::memory_order_relaxed);
      }
    }
    return r;
  }
  Chan& c = g_chan[j];
  if (inherited(c.pid)) {
    refuse("ibv_get_cq_event on a dispatcher-mode channel inherited across fork()");
    errno = EPERM;
    return -1;
  }
  for (;;) {
    std::uint64_t v;
    // Blocks like the stock read() unless the application made the fd
    // non-blocking; EINTR/EAGAIN come back as from ibv_get_cq_event.
    if (read(c.efd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) return -1;
    pthread_mutex_lock(&c.mu);
    if (c.events->empty()) {  // a unit left behind by a destroyed CQ's purge
      pthread_mutex_unlock(&c.mu);
      continue;
    }
    ibv_cq* q = c.events->front();
    c.events->pop_front();
    pthread_mutex_unlock(&c.mu);
    const int i = g_cq_table.find(q);
    if (i >= 0) {
      Slot& s = g_slot[i];
      spin_lock(s.ack_lock);
      ++s.emu_delivered;
      spin_unlock(s.ack_lock);
    }
    *cq = q;
    *cq_context = q->cq_context;
    return 0;
  }
}

FW_EXPORT void ibv_ack_cq_events(ibv_cq* cq, unsigned int nevents) {
  init();
  const int i = g_cq_table.find(cq);
  if (i < 0) {
    g_tot.unknown_acks.fetch_add(nevents, std::memory_order_relaxed);
    if (g_real.ack_cq_events) g_real.ack_cq_events(cq, nevents);
    return;
  }
  Slot& s = g_slot[i];
  spin_lock(s.ack_lock);
  const auto split =
      fastwake::preload::split_ack(nevents, s.real_delivered - s.real_acked, s.emu_delivered - s.emu_acked);
  s.real_acked += split.real;
  s.emu_acked += split.emu;
  spin_unlock(s.ack_lock);
  if (split.over) {
    if (g_tot.overacks.fetch_add(split.over) == 0)
      log("ibv_ack_cq_events(%p, %u): %u more acks than events delivered (dropped)", static_cast<void*>(cq),
          nevents, split.over);
  }
  if (split.real && g_real.ack_cq_events) g_real.ack_cq_events(cq, split.real);
}

// ================================================================ exit report

namespace {

__attribute__((destructor)) void fw_report() {
  const char* dest = std::getenv("FW_PRELOAD_STATS");
  if (!dest && !g_verbose) return;
  std::uint64_t arms = g_tot.arms, raised = g_tot.raised, polled = g_tot.polled, stashed = g_tot.stashed,
                unstashed = g_tot.unstashed, emu_d = g_tot.emu_delivered, emu_a = g_tot.emu_acked,
                real_d = g_tot.real_delivered, real_a = g_tot.real_acked, in_stash = 0, pending = 0;
  for (int i = 0; i < g_high_water.load(); ++i) {
    Slot& s = g_slot[i];
    if (!s.cq.load() || inherited(s.pid)) continue;  // a fork child reports only its own CQs
    arms += s.arms;
    raised += s.raised;
    polled += s.polled;
    stashed += s.stashed;
    unstashed += s.unstashed;
    spin_lock(s.ack_lock);
    emu_d += s.emu_delivered;
    emu_a += s.emu_acked;
    real_d += s.real_delivered;
    real_a += s.real_acked;
    spin_unlock(s.ack_lock);
    in_stash += static_cast<std::uint64_t>(s.count);
  }
  for (auto& c : g_chan)
    if (c.used && c.events && !inherited(c.pid)) pending += c.events->size();
  const std::uint64_t purged = g_tot.purged, dropped = g_tot.dropped, over = g_tot.overacks,
                      refused = g_tot.refused;
  const std::uint64_t unacked = (emu_d - emu_a) + (real_d - real_a);
  const bool balanced = over == 0 && refused == 0 && unacked == 0 && raised == emu_d + purged + pending &&
                        stashed == unstashed + dropped + in_stash;
  const char* mode = g_mode == Mode::kDispatcher ? "dispatcher" : g_mode == Mode::kIrq ? "irq" : "off";
  char line[2048];
  std::snprintf(
      line, sizeof line,
      "{\"pid\":%d,\"mode\":\"%s\",\"cqs_created\":%llu,\"cqs_destroyed\":%llu,\"channels\":%llu,"
      "\"channels_emulated\":%llu,\"arms\":%llu,\"events_raised\":%llu,\"events_emulated\":%llu,"
      "\"events_purged\":%llu,\"events_pending\":%llu,\"events_real\":%llu,\"acks_emulated\":%llu,"
      "\"acks_real\":%llu,\"overacks\":%llu,\"unacked\":%llu,\"polled_wc\":%llu,\"stashed\":%llu,"
      "\"unstashed\":%llu,\"stash_dropped\":%llu,\"stash_now\":%llu,\"unknown_events\":%llu,"
      "\"irq_repins\":%llu,\"irq_errors\":%llu,\"vector_overrides\":%llu,\"solicited_arms\":%llu,"
      "\"dispatcher_sleeps\":%llu,\"dispatcher_cpu\":%d,\"refused\":%llu,\"irq_lever\":\"%s\",\"balanced\":%"
      "s}",
      static_cast<int>(getpid()), mode, (unsigned long long)g_tot.cqs_created.load(),
      (unsigned long long)g_tot.cqs_destroyed.load(), (unsigned long long)g_tot.channels.load(),
      (unsigned long long)g_tot.channels_emulated.load(), (unsigned long long)arms,
      (unsigned long long)raised, (unsigned long long)emu_d, (unsigned long long)purged,
      (unsigned long long)pending, (unsigned long long)real_d, (unsigned long long)emu_a,
      (unsigned long long)real_a, (unsigned long long)over, (unsigned long long)unacked,
      (unsigned long long)polled, (unsigned long long)stashed, (unsigned long long)unstashed,
      (unsigned long long)dropped, (unsigned long long)in_stash,
      (unsigned long long)g_tot.unknown_events.load(), (unsigned long long)g_tot.irq_repins.load(),
      (unsigned long long)g_tot.irq_errors.load(), (unsigned long long)g_tot.vector_overrides.load(),
      (unsigned long long)g_tot.solicited_arms.load(), (unsigned long long)g_tot.dispatcher_sleeps.load(),
      g_dispatcher_cpu_used.load(), (unsigned long long)refused, g_irq_lever, balanced ? "true" : "false");
  if (!dest || !std::strcmp(dest, "stderr") || !std::strcmp(dest, "-")) {
    std::fprintf(stderr, "fastwake-preload: %s\n", line);
    return;
  }
  const int fd = open(dest, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::fprintf(stderr, "fastwake-preload: cannot write FW_PRELOAD_STATS=%s (%s): %s\n", dest,
                 std::strerror(errno), line);
    return;
  }
  std::string out = std::string(line) + "\n";
  [[maybe_unused]] auto w = write(fd, out.data(), out.size());
  close(fd);
}

}  // namespace
