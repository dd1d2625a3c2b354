// The preload shim's two polls of a dispatcher-mode CQ, over its stash: the
// application's (ibv_poll_cq, shim_interpose.cc) and the dispatcher's
// readiness probe (shim_dispatcher.cc). Header-only and generic over the
// slot type and the provider's poll, so the unit tests
// (tests/verbs/verbs_unit_test.cc, PreloadSlotPoll.*) run this same code
// with a fake slot and a provider poll they can hold up at will.
//
// The rule: the application never waits for the dispatcher. The dispatcher
// thread is SCHED_IDLE; while it holds the CQ's mutex around the provider's
// poll it may be preempted for as long as normal threads keep its CPU busy
// (an idle-policy entity's weight is 3 against a nice-0 thread's 1024), and
// an application thread blocked on that mutex would wait that long:
// priority inversion. So:
//   * the dispatcher only try-locks the mutex (an application poll in
//     progress means "not now", next round);
//   * the application only try-locks it too. If the mutex is taken, its
//     ibv_poll_cq returns 0 completions at once (always a correct answer
//     for a non-blocking poll) after raising `app_missed`. Whoever holds the
//     mutex is then either another application poll (which drains the
//     stash itself) or the dispatcher, which looks at `app_missed` after it
//     drops the mutex and, if it is set, checks the CQ again: a CQ still
//     armed with completions in its stash (or newly found) fires, so a
//     thread that armed, polled (skipped) and went to sleep is woken for the
//     completions its poll did not return. Without that second look such a
//     thread would sleep on completions nobody announces again.
//   * Dekker pairing of `app_missed` and the mutex (a store-load pattern on
//     each side): the application stores app_missed (seq_cst), fences, then
//     try-locks; the dispatcher unlocks, fences, then exchanges app_missed.
//     Either the application's second try-lock finds the mutex free (and
//     polls normally) or the dispatcher's exchange sees app_missed == 1.
//
// Completion order is kept: both polls take the stash and the provider under
// the mutex, the stash first; a skipped application poll takes nothing.
#pragma once

#include <pthread.h>

#include <atomic>

namespace fastwake::preload {

/// What the application's poll did.
struct AppPoll {
  int stashed = 0;       ///< completions taken from the stash
  int polled = 0;        ///< returned by the provider (< 0: its error)
  bool skipped = false;  ///< the mutex was taken: returned nothing, app_missed raised
};

/// The application's poll of up to `n` completions into `wc`: the stash
/// first, then `provider(n, wc)`. Never blocks on the slot's mutex.
/// S has: pthread_mutex_t mu; W stash[K]; int head, count; std::atomic<int> app_missed.
template <class S, class W, class Provider>
AppPoll app_poll(S& s, int n, W* wc, Provider&& provider) {
  AppPoll r;
  if (pthread_mutex_trylock(&s.mu) != 0) {
    s.app_missed.store(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // Dekker: with the dispatcher's unlock
    if (pthread_mutex_trylock(&s.mu) != 0) {
      r.skipped = true;
      return r;
    }
  }
  constexpr int kCap = static_cast<int>(sizeof(s.stash) / sizeof(s.stash[0]));
  while (r.stashed < n && s.count > 0) {
    wc[r.stashed++] = s.stash[s.head];
    s.head = (s.head + 1) % kCap;
    --s.count;
  }
  r.polled = r.stashed < n ? provider(n - r.stashed, wc + r.stashed) : 0;
  pthread_mutex_unlock(&s.mu);
  return r;
}

/// The dispatcher's check of an armed CQ. Try-locks the mutex (false if an
/// application poll holds it); under it, if `live()` (not dead, ours, emulated)
/// and the CQ is armed: the CQ is ready if its stash is full, or the provider
/// returns a completion (stashed) or an error; a ready CQ is disarmed
/// (one-shot) and `claim()` is called, still under the mutex. After the
/// unlock, a raised app_missed makes it look once more, and then a stash
/// that is merely non-empty is ready too (the skipped poll did not take it).
/// True if it claimed the wake. S as app_poll's, plus std::atomic<int> armed.
template <class S, class W, class Live, class Provider, class Claim>
bool dispatcher_check(S& s, Live&& live, Provider&& provider, Claim&& claim) {
  constexpr int kCap = static_cast<int>(sizeof(s.stash) / sizeof(s.stash[0]));
  bool missed = false;
  for (int pass = 0; pass < 2; ++pass) {
    if (pthread_mutex_trylock(&s.mu) != 0) return false;  // the application polls it now
    bool claimed = false;
    if (live() && s.armed.load(std::memory_order_acquire)) {
      bool fire = s.count >= kCap || (missed && s.count > 0);
      if (!fire) {
        W wc;
        const int r = provider(1, &wc);
        if (r > 0) {
          s.stash[(s.head + s.count) % kCap] = wc;
          ++s.count;
          fire = true;
        } else if (r < 0) {
          fire = true;  // let the application's poll see the error
        }
      }
      if (fire && s.armed.exchange(0, std::memory_order_acq_rel)) {
        claim();
        claimed = true;
        // The event about to be raised wakes whoever skipped a poll.
        s.app_missed.store(0, std::memory_order_relaxed);
      }
    }
    pthread_mutex_unlock(&s.mu);
    if (claimed) return true;
    std::atomic_thread_fence(std::memory_order_seq_cst);  // Dekker: with app_poll's store
    if (!s.app_missed.exchange(0, std::memory_order_seq_cst)) return false;
    missed = true;
  }
  return false;
}

}  // namespace fastwake::preload
