// Preload shim, dispatcher mode: the process's one dispatcher thread. It owns
// a core Dispatcher (one per process: the shim's configuration of the shared
// code, see dispatch_round.h) whose entries are the dispatcher-mode CQ slots,
// applies the add/remove operations application threads queue for it, runs
// poll rounds with the slot probe below, queues the emulated events, and
// sleeps on a futex when nothing has been armed for 50 ms. It is started
// (dispatcher_start.h) when the process's first emulated channel is made,
// and waits, unpinned and asleep, until the first arm places it.
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "dispatch_round.h"
#include "dispatcher_start.h"
#include "shim_state.h"
#include "slot_poll.h"

namespace fastwake::preload {

std::atomic<int> g_dispatcher_cpu_used{-1};

namespace {

// pthread_create, or a failure for the guest checks (FW_PRELOAD_TEST_FAIL_THREAD=1,
// docs/verbs.md): the fallback to the stock path must then be taken.
int create_thread(pthread_t* t, const pthread_attr_t* a, void* (*fn)(void*), void* arg) {
  const char* f = std::getenv("FW_PRELOAD_TEST_FAIL_THREAD");
  if (f && *f && std::strcmp(f, "0") != 0) return EAGAIN;
  return pthread_create(t, a, fn, arg);
}
DispatcherStarter g_starter(create_thread);  // under g_mu
constexpr int kUnplaced = -2;
std::atomic<int> g_disp_place{kUnplaced};  // the dispatcher's CPU (-1: unpinned) once placed
std::atomic<pid_t> g_placed_pid{0};        // the process whose first arm placed it
// The dispatcher's futex word and "sleeping" flag. Dekker pairing: the
// dispatcher stores sleeping = 1 (seq_cst), fences (seq_cst), then re-scans
// the armed flags; an arming thread stores armed = 1 (seq_cst), then loads
// sleeping (seq_cst, wake_dispatcher). A store followed by a load of another
// variable is only ordered by seq_cst on both sides: either the re-scan sees
// the arm or the arming thread sees sleeping == 1 and bumps the word. (A
// missed wake-up would cost the 100 ms futex timeout.)
std::atomic<std::uint32_t> g_disp_word{0};
std::atomic<int> g_disp_sleeping{0};

// Registration changes for the dispatcher thread, in order. Pushed under g_mu
// (then g_ops_mu); the dispatcher only try-locks g_ops_mu. Heap, never freed:
// the detached dispatcher may run while static destructors do at exit.
pthread_mutex_t g_ops_mu = PTHREAD_MUTEX_INITIALIZER;
std::vector<DispatchOp>* g_ops = nullptr;
// seq_cst with the arm and g_disp_sleeping: a dispatcher about to sleep
// either sees the pending operation or the arming thread sees it sleeping.
std::atomic<bool> g_has_ops{false};

long futex(std::atomic<std::uint32_t>* w, int op, std::uint32_t v, const timespec* t) {
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(w), op, v, t, nullptr, 0);
}

void push_op(DispatchOp op) {
  pthread_mutex_lock(&g_ops_mu);
  const bool ok = guarded("dispatcher registration", [&] {
    if (!g_ops) g_ops = new std::vector<DispatchOp>();
    g_ops->push_back(op);
  });
  if (ok) g_has_ops.store(true, std::memory_order_seq_cst);
  pthread_mutex_unlock(&g_ops_mu);
  if (!ok) log("CQ slot %d: the dispatcher was not told (%s)", op.cq, op.add ? "add" : "remove");
}

/// The dispatcher thread: takes the queued operations if their lock is free
/// (else next round) and applies them to its Dispatcher.
void take_ops(Dispatcher& d, std::vector<DispatchOp>& ops) {
  if (!g_has_ops.load(std::memory_order_seq_cst) || pthread_mutex_trylock(&g_ops_mu) != 0) return;
  if (g_ops) std::swap(*g_ops, ops);
  g_has_ops.store(false, std::memory_order_seq_cst);
  pthread_mutex_unlock(&g_ops_mu);
  guarded("dispatcher registration", [&] { apply_ops(d, ops); });
  ops.clear();
}

/// Queues an emulated event for CQ `q` (slot generation `gen`) and wakes a
/// waiter. Called with no CQ lock held. A CQ destroyed meanwhile (dead, or
/// its slot reused) gets no event: destroy marks it dead before purging the
/// channel's queue under the same mutex.
void raise_event(Slot& s, ibv_cq* q, std::uint32_t gen, int chan) {
  Chan& c = g_chan[chan];
  pthread_mutex_lock(&c.mu);
  bool live =
      !s.dead.load(std::memory_order_acquire) && s.gen.load(std::memory_order_acquire) == gen;
  if (live) {
    live = guarded("queueing an event", [&] { c.events->push_back(q); });
    if (live) c.raising.fetch_add(1, std::memory_order_acq_rel);  // keeps efd open until written
  }
  pthread_mutex_unlock(&c.mu);
  if (!live) return;
  s.raised.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t one = 1;
  [[maybe_unused]] auto w = write(c.efd, &one, sizeof one);  // the waiter may run right here
  c.raising.fetch_sub(1, std::memory_order_release);
}

/// The readiness probe the Dispatcher scans with (a ReadyProbe): a CQ is
/// ready if its stash is full or the provider's poll returns a completion
/// (which goes into the stash) or an error (the application's poll will see
/// it). Only completions found after arming fire, like rxe: a stashed one
/// was announced when it was stashed, unless an application poll skipped it
/// (slot_poll.h). Under the CQ's mutex, try-locked (the application may be
/// polling it), it also claims the wake: disarms the CQ and notes the event
/// to raise once the mutex is dropped (claim()).
class SlotProbe {
 public:
  struct Claim {
    ibv_cq* q = nullptr;
    std::uint32_t gen = 0;
    int chan = -1;
  };
  explicit SlotProbe(pid_t me) : me_(me) {}

  bool cq_ready(CqId i) const {
    Slot& s = g_slot[i];
    const auto live = [&] {
      return !s.dead.load(std::memory_order_relaxed) && s.emulate && s.pid == me_;
    };
    const auto provider = [&s](int n, ibv_wc* wc) {
      const int r = s.poll(s.cq.load(std::memory_order_relaxed), n, wc);
      if (r > 0) s.stashed.fetch_add(static_cast<std::uint64_t>(r), std::memory_order_relaxed);
      return r;
    };
    const auto claim = [&] {
      claim_ = {s.cq.load(std::memory_order_relaxed), s.gen.load(std::memory_order_relaxed),
                s.chan};
    };
    return dispatcher_check<Slot, ibv_wc>(s, live, provider, claim);
  }
  /// The event the last successful cq_ready() claimed.
  const Claim& claim() const { return claim_; }

 private:
  pid_t me_;
  mutable Claim claim_;
};

void run_dispatcher(int cpu) {
  Dispatcher d(cpu >= 0 ? cpu : kNoCore);
  const SlotProbe probe(g_pid.load(std::memory_order_relaxed));
  std::vector<DispatchOp> ops;
  const auto armed = [](CqId i) { return g_slot[i].armed.load(std::memory_order_relaxed) != 0; };
  const auto hand_off = [&probe](const HandOff& h) {
    const SlotProbe::Claim& c = probe.claim();
    raise_event(g_slot[h.cq], c.q, c.gen, c.chan);
  };
  // One round; true while there is work (an armed CQ, or operations not yet taken).
  const auto round = [&] {
    take_ops(d, ops);
    const RoundResult r = poll_round(d, probe, armed, hand_off);
    return r.any_armed || g_has_ops.load(std::memory_order_seq_cst);
  };
  Nanos last_busy = now_ns();
  for (;;) {
    if (round()) {
      last_busy = now_ns();
      continue;
    }
    if (now_ns() - last_busy < 50'000'000) {  // linger 50 ms before sleeping
      relax();
      continue;
    }
    // Sleep until an arm: publish "sleeping", re-scan, then wait (an arm after
    // the re-scan sees sleeping == 1 and bumps the word). The fence orders
    // the store before the re-scan's relaxed loads of `armed` (Dekker, above).
    const std::uint32_t w = g_disp_word.load(std::memory_order_acquire);
    g_disp_sleeping.store(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!round()) {
      g_tot.dispatcher_sleeps.fetch_add(1, std::memory_order_relaxed);
      const timespec t{0, 100'000'000};
      futex(&g_disp_word, FUTEX_WAIT_PRIVATE, w, &t);
    }
    g_disp_sleeping.store(0, std::memory_order_relaxed);
    last_busy = now_ns();
  }
}

/// Until the process's first arm says where to run (place_dispatcher):
/// nothing can be armed before it, so there is nothing to poll.
int wait_for_placement() {
  for (;;) {
    const std::uint32_t w = g_disp_word.load(std::memory_order_acquire);
    int cpu = g_disp_place.load(std::memory_order_acquire);
    if (cpu != kUnplaced) return cpu;
    g_disp_sleeping.store(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // Dekker, as in run_dispatcher
    cpu = g_disp_place.load(std::memory_order_seq_cst);
    if (cpu == kUnplaced) {
      const timespec t{0, 100'000'000};
      futex(&g_disp_word, FUTEX_WAIT_PRIVATE, w, &t);
    }
    g_disp_sleeping.store(0, std::memory_order_relaxed);
  }
}

void* dispatcher_main(void*) {
  pthread_setname_np(pthread_self(), "fw-dispatcher");
  const int cpu = wait_for_placement();
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
  // run_dispatcher catches what core's objects throw; this is the last line.
  if (!guarded("dispatcher thread", [cpu] { run_dispatcher(cpu); }))
    log("the dispatcher stopped: armed CQs get no more events");
  return nullptr;
}

}  // namespace

void dispatcher_add(int slot, int chan) { push_op({true, slot, chan}); }
void dispatcher_remove(int slot) { push_op({false, slot, -1}); }

void dispatcher_fork_prepare() { pthread_mutex_lock(&g_ops_mu); }
void dispatcher_fork_parent() { pthread_mutex_unlock(&g_ops_mu); }
void dispatcher_fork_child() {
  // The parent's pending operations are about the parent's CQs, which the
  // child may not use; the child's dispatcher starts with its own.
  if (g_ops) g_ops->clear();
  g_has_ops.store(false);
  pthread_mutex_unlock(&g_ops_mu);
}

bool ensure_dispatcher() {
  const pid_t me = g_pid.load(std::memory_order_relaxed);
  if (g_starter.running_for(me)) return true;
  pthread_mutex_lock(&g_mu);
  int err = 0;
  if (!g_starter.running_for(me)) {
    // A fork child starts its own, unplaced (its first arm places it).
    g_disp_place.store(kUnplaced, std::memory_order_relaxed);
    err = g_starter.ensure(me, dispatcher_main, nullptr);
    if (err != 0) g_tot.dispatcher_start_failures.fetch_add(1, std::memory_order_relaxed);
    else if (g_verbose) log("dispatcher started");
  }
  pthread_mutex_unlock(&g_mu);
  if (err != 0)
    log("cannot start the dispatcher thread (%s): completion channels made now use the stock "
        "path (kernel events, no dispatcher)",
        std::strerror(err));
  return err == 0;
}

void place_dispatcher() {
  const pid_t me = g_pid.load(std::memory_order_relaxed);
  if (g_placed_pid.load(std::memory_order_acquire) == me) return;
  pthread_mutex_lock(&g_mu);
  if (g_placed_pid.load(std::memory_order_relaxed) != me) {
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
    g_dispatcher_cpu_used.store(cpu);
    g_disp_place.store(cpu, std::memory_order_seq_cst);  // then the arm, then wake_dispatcher()
    g_placed_pid.store(me, std::memory_order_release);
    if (g_verbose) log("dispatcher placed (cpu %d)", cpu);
  }
  pthread_mutex_unlock(&g_mu);
}

void wake_dispatcher() {
  if (g_disp_sleeping.load(std::memory_order_seq_cst)) {
    g_disp_word.fetch_add(1, std::memory_order_release);
    futex(&g_disp_word, FUTEX_WAKE_PRIVATE, 1, nullptr);
  }
}

}  // namespace fastwake::preload
