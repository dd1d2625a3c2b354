// The preload shim's start of its dispatcher thread, once per process (and
// again in a fork child, whose copy of the parent's dispatcher does not run).
// Header-only, with pthread_create as a seam, so the unit tests
// (tests/verbs/verbs_unit_test.cc, PreloadDispatcherStart.*) can make it fail.
//
// A failed start must not leave waiters hanging: the shim starts the thread
// when it is about to emulate a completion channel, and if that fails it
// does not emulate it (the stock path: kernel events), says so, and tries
// again at the next channel (shim_interpose.cc ibv_create_comp_channel).
#pragma once

#include <pthread.h>
#include <signal.h>
#include <sys/types.h>

#include <atomic>

namespace fastwake::preload {

class DispatcherStarter {
 public:
  using CreateFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
  explicit DispatcherStarter(CreateFn create = pthread_create) : create_(create) {}

  /// 0 if a dispatcher thread runs for process `me` (started now or
  /// before), else pthread_create's error (nothing started; the next call
  /// tries again). The thread is detached and starts with every signal
  /// blocked (the application's handlers run in its own threads). Callers
  /// serialize calls (the shim: under g_mu).
  int ensure(pid_t me, void* (*fn)(void*), void* arg) {
    if (running_for(me)) return 0;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    const int err = create_(&th, &a, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    pthread_attr_destroy(&a);
    if (err == 0) started_for_.store(me, std::memory_order_release);
    return err;
  }
  bool running_for(pid_t me) const { return started_for_.load(std::memory_order_acquire) == me; }

 private:
  CreateFn create_;
  std::atomic<pid_t> started_for_{0};
};

}  // namespace fastwake::preload
