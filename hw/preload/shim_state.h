// libfastwake-preload.so: LD_PRELOAD shim that gives unmodified verbs programs
// (event mode: ibv_req_notify_cq + ibv_get_cq_event) FastWake's waiting,
// chosen by FW_PRELOAD_MODE, without losing or duplicating any completion or
// event. Design, limits and the environment variables: docs/verbs.md.
//
// This private header is the shim's shared state; the shim is split by
// subsystem:
//   shim_state.cc      tables, slots, channels, counters, init, fork
//   shim_dispatcher.cc dispatcher mode: core's Dispatcher on the shim's CQ slots
//   dispatch_round.h   the dispatcher's poll round (header-only: unit-tested)
//   shim_irq.cc        irq mode: the IRQ lever, core's RemapDriver, vector choice
//   shim_interpose.cc  the exported ibv_* functions and provider-op wrappers
//   shim_report.cc     the exit report
// The decisions come from core/ (fastwake_policy, linked statically and not
// exported): Dispatcher + ReadyWhileAsleep (dispatcher mode), RemapDriver
// (irq mode), vector_on_core / stock_cq_vector (vector choice). The shim
// supplies mechanism and time. Nothing core/ throws may reach the
// application: every call into it goes through guarded() and is logged.
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
//   * One dispatcher per process, not one per core as in the model and the
//     replay server: that is the configuration of core's Dispatcher here —
//     one Dispatcher whose entries are the process's dispatcher-mode CQ slots
//     (CqId = slot, owner = the CQ's channel, whose waiter the hand-off
//     wakes), scanned round-robin by poll_once with core's ReadyWhileAsleep
//     rule: the owner "sleeps" while its CQ is armed. Its thread (SCHED_IDLE;
//     on FW_PRELOAD_CPU, else on the CPU of the first arming thread if that
//     thread is pinned to one, else unpinned) owns the Dispatcher; threads
//     that create or destroy CQs hand it add/remove operations through a
//     queue (g_ops) that it applies between rounds, in order.
//   * The probe: verbs cannot peek, so a completion the dispatcher finds goes
//     into the CQ's stash (in CQ order) and the application's ibv_poll_cq
//     returns stashed completions first; both hold the CQ's mutex around
//     "stash + provider poll", so nothing is taken twice or reordered. Under
//     that mutex the dispatcher also disarms the CQ (one-shot, like verbs: the
//     owner's sleep ends exactly once), drops the mutex and only then queues an
//     emulated event on the CQ's channel and wakes the waiter. The order
//     matters: the woken thread preempts the SCHED_IDLE dispatcher on its CPU,
//     so it must never find a lock held by it. Nobody waits for the CQ's
//     mutex on the poll paths: the dispatcher only try-locks (CQ mutexes and
//     the op queue), and so does the application's ibv_poll_cq, which
//     returns 0 when the mutex is taken rather than wait for a preempted
//     SCHED_IDLE holder (priority inversion); the dispatcher then looks
//     again so the skipped poll loses no wake-up (slot_poll.h). Slots are
//     checked for "dead" (being destroyed) under the CQ mutex and for their
//     generation (reused) before an event is queued.
//   * The dispatcher thread is started when the process's first emulated
//     channel is created (it pins itself at the first arm, see
//     shim_dispatcher.cc). If it cannot be started, the channel is not
//     emulated: the stock path (kernel events), with a message.
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
//   affinity remapper: before a thread blocks, it reports its CPU for its
//   channel's CQs to core's RemapDriver (one per device context: majority
//   vote per vector, reaction delay FW_PRELOAD_REACTION_US, default 0,
//   hysteresis FW_PRELOAD_HYSTERESIS_US, default 1000) and applies the moves
//   due through the context's IRQ lever (/proc/irq, where the device has
//   IRQs, or the IRQs FW_PRELOAD_IRQS=A,B,... names for vectors 0, 1, ...;
//   CoreIds are CPU numbers). FW_PRELOAD_VECTOR=auto|N chooses the
//   completion vector at CQ creation (auto: core's vector_on_core, else
//   stock_cq_vector). The trimmed wake path needs fastwake.ko (HOOK in
//   shim_interpose.cc).
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
#pragma once

#include <infiniband/verbs.h>
#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <exception>
#include <vector>

#include "fastwake/remapper.h"
#include "fastwake/types.h"

#define FW_EXPORT extern "C" __attribute__((visibility("default")))

namespace fastwake::hw {
struct IrqMap;
}

namespace fastwake::preload {

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

// ------------------------------------------------------------ real symbols, options

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
extern Real g_real;
extern Mode g_mode;
extern bool g_verbose;
extern int g_dispatcher_cpu;
extern int g_vector_choice;           // -2: keep the application's; -1: auto; >= 0: that vector
extern RemapperOptions g_remap_opts;  // irq mode (FW_PRELOAD_REACTION_US, FW_PRELOAD_HYSTERESIS_US)
extern std::atomic<pid_t> g_pid;
extern pthread_mutex_t g_mu;  // creation/destruction paths

void init();
const char* mode_name();
void log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
Nanos now_ns();

inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
inline void spin_lock(std::atomic<bool>& l) {
  while (l.exchange(true, std::memory_order_acquire))
    while (l.load(std::memory_order_relaxed)) relax();
}
inline void spin_unlock(std::atomic<bool>& l) { l.store(false, std::memory_order_release); }

/// Runs `f` (a call into core's policy objects, which may throw) and keeps
/// any exception from reaching the application: logged with `what`, false.
template <class F>
bool guarded(const char* what, F&& f) noexcept {
  try {
    f();
    return true;
  } catch (const std::exception& e) {
    log("%s: %s (ignored)", what, e.what());
  } catch (...) {
    log("%s: unknown exception (ignored)", what);
  }
  return false;
}

// ------------------------------------------------------------ counters

struct Counters {
  std::atomic<std::uint64_t> cqs_created{0}, cqs_destroyed{0}, channels{0}, channels_emulated{0};
  std::atomic<std::uint64_t> arms{0}, raised{0}, emu_delivered{0}, emu_acked{0}, purged{0};
  std::atomic<std::uint64_t> real_delivered{0}, real_acked{0}, overacks{0};
  std::atomic<std::uint64_t> polled{0}, stashed{0}, unstashed{0}, dropped{0};
  std::atomic<std::uint64_t> unknown_events{0}, unknown_acks{0};
  std::atomic<std::uint64_t> irq_repins{0}, irq_errors{0}, vector_overrides{0}, remap_moves{0};
  std::atomic<std::uint64_t> refused{0}, solicited_arms{0}, dispatcher_sleeps{0};
  // ibv_poll_cq calls that found the CQ's mutex taken and returned 0 (slot_poll.h)
  std::atomic<std::uint64_t> polls_skipped{0};
  std::atomic<std::uint64_t> dispatcher_start_failures{0};  // pthread_create failed
};
extern Counters g_tot;  // folded in when a CQ is destroyed; live CQs are added at report time
extern char g_irq_lever[256];

// ------------------------------------------------------------ pointer tables

struct TableEntry {
  std::atomic<std::uintptr_t> key{0};
  std::atomic<int> val{-1};
};

/// Lock-free lookup; insert/erase under g_mu.
struct PtrTable {
  TableEntry e[kTable];
  int find(const void* p) const;
  bool insert(const void* p, int v);
  void erase(const void* p);
};
extern PtrTable g_cq_table, g_chan_table;

// ------------------------------------------------------------ state

struct IrqCtl;  // irq mode, per device context (shim_irq.cc)

struct Ctx {
  std::atomic<ibv_context*> ctx{nullptr};
  PollFn poll = nullptr;
  NotifyFn notify = nullptr;
  CreateCqExFn create_cq_ex = nullptr;
  // irq mode, made at the context's first CQ (under g_mu); never freed (a
  // thread may still use it while the context is being closed).
  std::atomic<IrqCtl*> irq{nullptr};
};
extern Ctx g_ctx[kMaxContexts];

struct Chan {
  ibv_comp_channel* ch = nullptr;
  bool used = false;
  bool emulate = false;
  pid_t pid = 0;
  int real_fd = -1;  // the kernel's event fd
  int efd = -1;      // emulated: what the application sees as ch->fd
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  std::deque<ibv_cq*>* events =
      nullptr;                      // emulated events not yet read (heap; never freed at exit)
  std::vector<int>* cqs = nullptr;  // slots of the CQs on this channel
  std::atomic<int> raising{0};      // dispatcher between "queued" and "eventfd written"
};
extern Chan g_chan[kMaxChannels];

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
  std::atomic<std::uint32_t> gen{0};  // bumped at every registration (slot reuse)
  // stash + provider poll; nobody waits for it: the dispatcher and the
  // application both only try-lock it (slot_poll.h)
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  ibv_wc stash[kStash];
  int head = 0, count = 0;         // under mu
  std::atomic<int> app_missed{0};  // an application poll found mu taken (slot_poll.h)
  // Event accounting.
  std::atomic<bool> ack_lock{false};
  std::uint64_t real_delivered = 0, real_acked = 0, emu_delivered = 0,
                emu_acked = 0;  // under ack_lock
  std::atomic<std::uint64_t> arms{0}, raised{0}, polled{0}, stashed{0}, unstashed{0};
  // irq mode: the CQ's vector and its context's remap state; `in_remap`
  // (under irq->mu) once the CQ's first waiter reported its CPU.
  int vector = -1;
  IrqCtl* irq = nullptr;
  bool in_remap = false;
};
extern Slot g_slot[kMaxCqs];
extern std::atomic<int> g_high_water;

bool inherited(pid_t owner);
void refuse(const char* what);
Ctx* find_ctx(ibv_context* c);
/// Adds a destroyed CQ's counters to the totals.
void fold(Slot& s);

// ------------------------------------------------------------ dispatcher mode (shim_dispatcher.cc)

extern std::atomic<int> g_dispatcher_cpu_used;  // -1: unpinned (or not started)
/// Starts this process's dispatcher thread if it has none; false (logged) if
/// it cannot be started. Not under g_mu.
bool ensure_dispatcher();
/// At an arm: pins the dispatcher once per process (FW_PRELOAD_CPU, else the
/// arming thread's CPU if it is pinned to one, else unpinned).
void place_dispatcher();
/// Wakes the dispatcher if it sleeps (after an arm).
void wake_dispatcher();
/// Hands the dispatcher a CQ slot to scan (registration) or to drop
/// (destruction), in order. Under g_mu; never throws.
void dispatcher_add(int slot, int chan);
void dispatcher_remove(int slot);
/// fork(): the child's queue starts empty (fork_prepare/parent/child).
void dispatcher_fork_prepare();
void dispatcher_fork_parent();
void dispatcher_fork_child();

// ------------------------------------------------------------ irq mode (shim_irq.cc)

/// Discovers the context's IRQs and makes its lever + remap driver (once).
void ensure_irq_map(ibv_context* ctx);
/// The completion vector a new CQ is created on.
int choose_vector(ibv_context* ctx, int app_vector);
/// Registration: the slot's irq-mode fields (under g_mu and the slot's mutex).
void irq_register(Slot& s, Ctx* c, int vector);
/// Destruction: the CQ stops voting for its vector.
void irq_forget(int slot);
/// Before a thread blocks on channel `chan`: reports its CPU for the
/// channel's CQs and applies due remap moves.
void follow_thread(int chan);

}  // namespace fastwake::preload
