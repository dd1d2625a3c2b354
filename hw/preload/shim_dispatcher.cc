// Preload shim, dispatcher mode: the process's one dispatcher thread. It
// scans every armed CQ slot, stashes the completion it finds, disarms the CQ,
// queues the emulated event, and sleeps on a futex when nothing has been
// armed for 50 ms.
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shim_state.h"

namespace fastwake::preload {

std::atomic<int> g_dispatcher_cpu_used{-1};

namespace {

std::atomic<pid_t> g_disp_pid{0};  // process that owns the running dispatcher
std::atomic<std::uint32_t> g_disp_word{0};
std::atomic<int> g_disp_sleeping{0};

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

}  // namespace

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

}  // namespace fastwake::preload
