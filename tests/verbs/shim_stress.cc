// fw_shim_stress: an ordinary verbs event-mode program (knows nothing of the
// shim) that stresses what the preload shim must keep as the stock verbs do.
// Its stdout must be the same with and without LD_PRELOAD (tests/verbs/
// guest_faults.sh runs it both ways; check_results.py --faults compares).
//
// Usage: fw_shim_stress DEVICE [GID_INDEX]   (fw_shim_stress --child ... is
// its own exec'ed child). Parts, one stdout line each:
//   shared64        64 threads waiting on 8 channels (8 CQs each, one loopback
//                   RC pair per CQ), any thread serves any CQ of its channel;
//                   every message counted once; then every thread is
//                   cancelled while it waits in ibv_get_cq_event
//   signal_restart  SIGUSR1 (SA_RESTART handler) sent 5 times to a thread in
//                   ibv_get_cq_event: the call goes on and returns the event
//   signal_eintr    SIGALRM (handler without SA_RESTART, from a timer): the
//                   call fails with EINTR; called again it returns the event
//   destroy_busy    ibv_destroy_cq of an armed CQ a QP still uses fails with
//                   EBUSY; the CQ stays armed (the next completion raises)
//   destroy_unacked ibv_destroy_cq with an event not yet acked waits until
//                   another thread acks it (libibverbs' rule), then succeeds
//   fork_exec       fork + exec of itself (--child): the child opens the
//                   device and runs 20 evented messages of its own
//   exit_waiting    the process exits while a thread waits in ibv_get_cq_event
// Exit 0 if every part held.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "verbs_pair.h"

namespace {

using namespace fw_test;

constexpr int kChannels = 8, kCqsPerChannel = 8, kThreadsPerChannel = 8, kPerCq = 25;

/// Waits up to `ms` for an event on `ch` (poll() on its fd, then the event).
bool event_within(ibv_comp_channel* ch, int ms, ibv_cq** cq) {
  pollfd pf{ch->fd, POLLIN, 0};
  if (poll(&pf, 1, ms) != 1) return false;
  void* ctx;
  return ibv_get_cq_event(ch, cq, &ctx) == 0;
}

bool part_shared64(const Dev& d) {
  struct Channel {
    ibv_comp_channel* ch = nullptr;
    Pair pairs[kCqsPerChannel];
    std::atomic<int> got[kCqsPerChannel]{};
  };
  std::vector<Channel> chans(kChannels);
  std::atomic<int> total{0}, foreign{0}, bad{0};
  for (auto& c : chans) {
    c.ch = ibv_create_comp_channel(d.ctx);
    if (!c.ch) die("ibv_create_comp_channel");
    for (auto& p : c.pairs) {
      make_pair(d, p, c.ch);
      if (ibv_req_notify_cq(p.cq_a, 0)) die("arm");
    }
  }
  auto consumer = [&](Channel* c) {
    int old;
    for (;;) {
      pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
      ibv_cq* cq;
      void* ctx;
      const int r = ibv_get_cq_event(c->ch, &cq, &ctx);  // cancelled here at the end
      pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
      if (r != 0) {
        if (errno == EINTR) continue;
        die("ibv_get_cq_event (shared64)");
      }
      const int k = static_cast<int>(static_cast<Pair*>(ctx) - c->pairs);
      if (k < 0 || k >= kCqsPerChannel || cq != c->pairs[k].cq_a) {
        foreign.fetch_add(1);
        continue;
      }
      ibv_ack_cq_events(cq, 1);
      if (ibv_req_notify_cq(cq, 0)) die("arm");
      ibv_wc wc[4];
      int n;
      while ((n = ibv_poll_cq(cq, 4, wc)) > 0)
        for (int i = 0; i < n; ++i) {
          if (wc[i].status != IBV_WC_SUCCESS) bad.fetch_add(1);
          c->got[k].fetch_add(1);
          total.fetch_add(1);
        }
      if (n < 0) die("ibv_poll_cq");
    }
  };
  std::vector<pthread_t> th;
  for (auto& c : chans)
    for (int t = 0; t < kThreadsPerChannel; ++t) {
      pthread_t p;
      auto* arg = new std::pair<decltype(consumer)*, Channel*>(&consumer, &c);
      if (pthread_create(
              &p, nullptr,
              [](void* a) -> void* {
                auto* x = static_cast<std::pair<decltype(consumer)*, Channel*>*>(a);
                auto f = x->first;
                auto ch = x->second;
                delete x;
                (*f)(ch);
                return nullptr;
              },
              arg))
        die("pthread_create");
      th.push_back(p);
    }
  // Producer: round-robin over every CQ, at most 8 messages ahead of its
  // consumers per CQ (the receive queue holds 16).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool in_time = true;
  for (int r = 0; r < kPerCq && in_time; ++r)
    for (auto& c : chans)
      for (int k = 0; k < kCqsPerChannel && in_time; ++k) {
        while (r - c.got[k].load() >= 8)
          if (std::chrono::steady_clock::now() > deadline) {
            in_time = false;
            break;
          }
        if (!in_time) break;
        post_recv(c.pairs[k]);
        send(c.pairs[k]);
      }
  const int want = kChannels * kCqsPerChannel * kPerCq;
  while (in_time && total.load() < want)
    if (std::chrono::steady_clock::now() > deadline) in_time = false;
  for (auto p : th) pthread_cancel(p);
  for (auto p : th) pthread_join(p, nullptr);
  bool each = true;
  for (auto& c : chans)
    for (int k = 0; k < kCqsPerChannel; ++k) each = each && c.got[k].load() == kPerCq;
  for (auto& c : chans) {
    for (auto& p : c.pairs) destroy_pair(p);
    if (ibv_destroy_comp_channel(c.ch)) die("ibv_destroy_comp_channel");
  }
  const bool ok = in_time && each && total.load() == want && foreign.load() == 0 && bad.load() == 0;
  std::printf(
      "shared64: %s (%d threads on %d channels x %d CQs, %d messages, each counted once; every "
      "thread cancelled while waiting in ibv_get_cq_event)\n",
      ok ? "ok" : "FAILED", kChannels * kThreadsPerChannel, kChannels, kCqsPerChannel, want);
  if (!ok)
    std::printf("shared64: in time %d, total %d of %d, foreign events %d, bad completions %d\n",
                in_time, total.load(), want, foreign.load(), bad.load());
  return ok;
}

std::atomic<int> g_sigs{0};
void on_signal(int) { g_sigs.fetch_add(1); }

/// One waiter thread in ibv_get_cq_event on a fresh pair; `poke` runs on the
/// caller's thread while it waits, then a message is sent. Returns the waiter's
/// first call's result: 0 (the event) or errno.
int wait_with(const Dev& d, const std::function<void(pthread_t)>& poke, bool* then_event) {
  ibv_comp_channel* ch = ibv_create_comp_channel(d.ctx);
  if (!ch) die("ibv_create_comp_channel");
  Pair p;
  make_pair(d, p, ch);
  if (ibv_req_notify_cq(p.cq_a, 0)) die("arm");
  post_recv(p);
  std::atomic<int> first{-1};
  std::atomic<bool> got{false};
  std::thread w([&] {
    sigset_t al;  // the caller blocks SIGALRM so that this thread takes it
    sigemptyset(&al);
    sigaddset(&al, SIGALRM);
    pthread_sigmask(SIG_UNBLOCK, &al, nullptr);
    ibv_cq* cq;
    void* ctx;
    int r = ibv_get_cq_event(ch, &cq, &ctx);
    first.store(r == 0 ? 0 : errno);
    while (r != 0 && errno == EINTR) r = ibv_get_cq_event(ch, &cq, &ctx);
    if (r == 0) {
      ibv_ack_cq_events(cq, 1);
      got.store(true);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // in the call by now
  poke(w.native_handle());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  send(p);
  w.join();
  ibv_wc wc;
  while (ibv_poll_cq(p.cq_a, 1, &wc) > 0) {
  }
  destroy_pair(p);
  ibv_destroy_comp_channel(ch);
  *then_event = got.load();
  return first.load();
}

bool part_signals(const Dev& d) {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  sa.sa_flags = 0;
  sigaction(SIGALRM, &sa, nullptr);
  bool ev1 = false, ev2 = false;
  g_sigs = 0;
  const int r1 = wait_with(
      d,
      [](pthread_t t) {
        for (int i = 0; i < 5; ++i) {
          pthread_kill(t, SIGUSR1);
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      },
      &ev1);
  const int n1 = g_sigs.exchange(0);
  const bool ok1 = r1 == 0 && ev1 && n1 == 5;
  std::printf("signal_restart: %s (5 x SIGUSR1 with SA_RESTART: handler ran %d times, first call %s)\n",
              ok1 ? "ok" : "FAILED", n1, r1 == 0 ? "returned the event" : std::strerror(r1));
  // SIGALRM from a timer, blocked on this thread so that the waiter takes it.
  sigset_t al;
  sigemptyset(&al);
  sigaddset(&al, SIGALRM);
  pthread_sigmask(SIG_BLOCK, &al, nullptr);
  const int r2 = wait_with(
      d,
      [](pthread_t) {
        itimerval it{};
        it.it_value.tv_usec = 50'000;
        setitimer(ITIMER_REAL, &it, nullptr);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      },
      &ev2);
  pthread_sigmask(SIG_UNBLOCK, &al, nullptr);
  const int n2 = g_sigs.exchange(0);
  const bool ok2 = r2 == EINTR && ev2 && n2 == 1;
  std::printf("signal_eintr: %s (SIGALRM without SA_RESTART: handler ran %d time(s), first call %s, "
              "the next %s)\n",
              ok2 ? "ok" : "FAILED", n2, r2 == 0 ? "returned the event" : std::strerror(r2),
              ev2 ? "returned the event" : "did not");
  return ok1 && ok2;
}

bool part_destroy_busy(const Dev& d) {
  ibv_comp_channel* ch = ibv_create_comp_channel(d.ctx);
  if (!ch) die("ibv_create_comp_channel");
  Pair p;
  make_pair(d, p, ch);
  if (ibv_req_notify_cq(p.cq_a, 0)) die("arm");
  const int r = ibv_destroy_cq(p.cq_a);  // QP a still uses it
  post_recv(p);
  send(p);
  ibv_cq* cq = nullptr;
  const bool ev = event_within(ch, 10'000, &cq);
  if (ev) ibv_ack_cq_events(cq, 1);
  ibv_wc wc;
  while (ibv_poll_cq(p.cq_a, 1, &wc) > 0) {
  }
  destroy_pair(p);
  ibv_destroy_comp_channel(ch);
  const bool ok = r == EBUSY && ev && cq == p.cq_a;
  std::printf("destroy_busy: %s (ibv_destroy_cq of a CQ in use: %s; the arm survived: %s)\n",
              ok ? "ok" : "FAILED", r == 0 ? "succeeded" : std::strerror(r),
              ev ? "event delivered" : "no event within 10 s");
  return ok;
}

bool part_destroy_unacked(const Dev& d) {
  ibv_comp_channel* ch = ibv_create_comp_channel(d.ctx);
  if (!ch) die("ibv_create_comp_channel");
  Pair p;
  make_pair(d, p, ch);
  if (ibv_req_notify_cq(p.cq_a, 0)) die("arm");
  post_recv(p);
  send(p);
  ibv_cq* cq = nullptr;
  if (!event_within(ch, 10'000, &cq)) die("no event (destroy_unacked)");
  ibv_wc wc;
  while (ibv_poll_cq(p.cq_a, 1, &wc) > 0) {
  }
  ibv_destroy_qp(p.a);
  ibv_destroy_qp(p.b);
  ibv_dereg_mr(p.mr);
  ibv_destroy_cq(p.cq_b);
  std::atomic<bool> acked{false};
  std::thread acker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    acked.store(true);
    ibv_ack_cq_events(cq, 1);
  });
  const int r = ibv_destroy_cq(p.cq_a);  // returns once the event is acked
  const bool waited = acked.load();
  acker.join();
  ibv_destroy_comp_channel(ch);
  const bool ok = r == 0 && waited;
  std::printf("destroy_unacked: %s (ibv_destroy_cq with an unacked event %s; returned %s)\n",
              ok ? "ok" : "FAILED", waited ? "waited for the ack" : "did not wait for the ack",
              r == 0 ? "0" : std::strerror(r));
  return ok;
}

int child_main(const char* dev, int gid) {
  Dev c = open_dev(dev, gid);
  ibv_comp_channel* ch = ibv_create_comp_channel(c.ctx);
  if (!ch) return 4;
  Pair q;
  make_pair(c, q, ch);
  if (ibv_req_notify_cq(q.cq_a, 0)) return 5;
  for (int i = 0; i < 20; ++i) {
    post_recv(q);
    send(q);
    await_recvs(ch, q, 1);
  }
  destroy_pair(q);
  ibv_destroy_comp_channel(ch);
  ibv_dealloc_pd(c.pd);
  ibv_close_device(c.ctx);
  return 0;
}

bool part_fork_exec(const Dev& d) {
  // A channel of the parent's in use across the fork, as a real program has.
  ibv_comp_channel* ch = ibv_create_comp_channel(d.ctx);
  if (!ch) die("ibv_create_comp_channel");
  Pair p;
  make_pair(d, p, ch);
  if (ibv_req_notify_cq(p.cq_a, 0)) die("arm");
  const std::string gid = std::to_string(d.gid_index);
  const pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    alarm(60);
    execl("/proc/self/exe", "fw_shim_stress", "--child", d.name.c_str(), gid.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  for (int i = 0; i < 20; ++i) {
    post_recv(p);
    send(p);
    await_recvs(ch, p, 1);
  }
  destroy_pair(p);
  ibv_destroy_comp_channel(ch);
  const bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  std::printf("fork_exec: %s (exec'ed child exit %d; its own 20 evented messages; the parent's 20 after it)\n",
              ok ? "ok" : "FAILED", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  g_prog = "fw_shim_stress";
  if (argc >= 3 && std::strcmp(argv[1], "--child") == 0)
    return child_main(argv[2], argc > 3 ? std::atoi(argv[3]) : -1);
  if (argc < 2) {
    std::fprintf(stderr, "usage: fw_shim_stress DEVICE [GID_INDEX]\n");
    return 2;
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  const Dev d = open_dev(argv[1], argc > 2 ? std::atoi(argv[2]) : -1);
  bool ok = part_shared64(d);
  ok = part_signals(d) && ok;
  ok = part_destroy_busy(d) && ok;
  ok = part_destroy_unacked(d) && ok;
  ok = part_fork_exec(d) && ok;
  // exit_waiting: a thread stays in ibv_get_cq_event while the process exits.
  ibv_comp_channel* ch = ibv_create_comp_channel(d.ctx);
  if (!ch) die("ibv_create_comp_channel");
  Pair p;
  make_pair(d, p, ch);
  if (ibv_req_notify_cq(p.cq_a, 0)) die("arm");
  std::thread([ch] {
    ibv_cq* cq;
    void* ctx;
    ibv_get_cq_event(ch, &cq, &ctx);
  }).detach();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::printf("exit_waiting: exiting with a thread in ibv_get_cq_event\n");
  std::printf("fw_shim_stress: %s\n", ok ? "all parts ok" : "FAILED");
  return ok ? 0 : 1;
}
