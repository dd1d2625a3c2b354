// fw_shim_probe: an ordinary verbs event-mode program (knows nothing of the shim) that exercises
// what the preload shim must handle: threads, several CQs on one channel, poll() on a non-blocking
// channel fd, and fork().
//
// Usage: fw_shim_probe DEVICE [GID_INDEX]. Loopback RC pairs on one device:
// QP a (receive side, its CQ on a completion channel, waited for with
// ibv_get_cq_event) and QP b (send side, its own polled CQ).
//   threads  - 2 threads, each its own channel/CQ/pair, 200 ping messages each
//   shared   - one channel, 2 CQs (2 pairs), messages alternate; every event
//              names a CQ of the channel, every message arrives once
//   nonblock - O_NONBLOCK channel fd: ibv_get_cq_event fails with EAGAIN when
//              idle; poll() on channel->fd reports an event that then reads
//   fork     - a child process: with the shim in dispatcher mode, using the
//              parent's channel is refused (EPERM); the child's own new
//              context/channel/CQ work; the parent's keep working
// Exit 0 if every part held; prints one line per part.
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "verbs_pair.h"

namespace {

using namespace fw_test;

constexpr int kMsgs = 200;

bool part_threads(const Dev& d) {
  std::atomic<int> ok{0};
  auto worker = [&] {
    ibv_comp_channel* ch = ibv_create_comp_channel(d.ctx);
    if (!ch) die("ibv_create_comp_channel");
    Pair p;
    make_pair(d, p, ch);
    if (ibv_req_notify_cq(p.cq_a, 0)) die("arm");
    int events = 0;
    for (int i = 0; i < kMsgs; ++i) {
      post_recv(p);
      send(p);
      events += await_recvs(ch, p, 1);
    }
    destroy_pair(p);
    if (ibv_destroy_comp_channel(ch)) die("ibv_destroy_comp_channel");
    if (events >= kMsgs) ok.fetch_add(1);
  };
  std::thread t1(worker), t2(worker);
  t1.join();
  t2.join();
  std::printf(
      "threads: %s (2 threads x %d messages, events and completions on each thread's own CQ)\n",
      ok == 2 ? "ok" : "FAILED", kMsgs);
  return ok == 2;
}

bool part_shared(const Dev& d) {
  ibv_comp_channel* ch = ibv_create_comp_channel(d.ctx);
  if (!ch) die("ibv_create_comp_channel");
  Pair p[2];
  make_pair(d, p[0], ch);
  make_pair(d, p[1], ch);
  for (auto& x : p)
    if (ibv_req_notify_cq(x.cq_a, 0)) die("arm");
  int got[2] = {0, 0}, events = 0, unacked[2] = {0, 0};
  std::mt19937 rng(7);
  for (int i = 0; i < kMsgs; ++i) {
    Pair& x = p[rng() % 2];
    post_recv(x);
    send(x);
    // Wait until that message arrived, serving whichever CQ the events name.
    const int before = got[&x - p];
    while (got[&x - p] == before) {
      ibv_cq* cq;
      void* ctx;
      if (ibv_get_cq_event(ch, &cq, &ctx)) die("ibv_get_cq_event");
      ++events;
      const int k = cq == p[0].cq_a ? 0 : cq == p[1].cq_a ? 1 : -1;
      if (k < 0 || ctx != &p[k]) die("event for a CQ not on this channel");
      ++unacked[k];
      if (ibv_req_notify_cq(cq, 0)) die("arm");
      ibv_wc wc;
      while (ibv_poll_cq(cq, 1, &wc) > 0) {
        if (wc.status != IBV_WC_SUCCESS) die("receive completion");
        ++got[k];
      }
    }
  }
  // Batched acks at the end, as ibv_rc_pingpong does.
  for (int k = 0; k < 2; ++k) ibv_ack_cq_events(p[k].cq_a, static_cast<unsigned>(unacked[k]));
  destroy_pair(p[0]);
  destroy_pair(p[1]);
  if (ibv_destroy_comp_channel(ch)) die("ibv_destroy_comp_channel");
  const bool ok = got[0] + got[1] == kMsgs && events >= kMsgs;
  std::printf("shared: %s (%d + %d messages on 2 CQs of one channel, %d events, acks batched)\n",
              ok ? "ok" : "FAILED", got[0], got[1], events);
  return ok;
}

bool part_nonblock(const Dev& d) {
  ibv_comp_channel* ch = ibv_create_comp_channel(d.ctx);
  if (!ch) die("ibv_create_comp_channel");
  Pair p;
  make_pair(d, p, ch);
  const int fl = fcntl(ch->fd, F_GETFL);
  if (fl < 0 || fcntl(ch->fd, F_SETFL, fl | O_NONBLOCK) < 0) die("fcntl(O_NONBLOCK)");
  if (ibv_req_notify_cq(p.cq_a, 0)) die("arm");
  bool ok = true;
  ibv_cq* cq;
  void* ctx;
  errno = 0;
  if (ibv_get_cq_event(ch, &cq, &ctx) != -1 || errno != EAGAIN) {
    std::printf("nonblock: an idle non-blocking channel did not fail with EAGAIN\n");
    ok = false;
  }
  int events = 0;
  for (int i = 0; i < kMsgs && ok; ++i) {
    post_recv(p);
    send(p);
    pollfd pf{ch->fd, POLLIN, 0};
    if (poll(&pf, 1, 10'000) != 1) {
      std::printf("nonblock: poll() on the channel fd saw no event within 10 s (message %d)\n", i);
      ok = false;
      break;
    }
    if (ibv_get_cq_event(ch, &cq, &ctx)) die("ibv_get_cq_event after poll()");
    ++events;
    ibv_ack_cq_events(cq, 1);
    if (ibv_req_notify_cq(cq, 0)) die("arm");
    ibv_wc wc;
    int n = 0;
    while (n == 0) n = ibv_poll_cq(cq, 1, &wc);  // the event may come first on some devices
    if (n < 0 || wc.status != IBV_WC_SUCCESS) die("receive completion");
  }
  destroy_pair(p);
  if (ibv_destroy_comp_channel(ch)) die("ibv_destroy_comp_channel");
  std::printf("nonblock: %s (O_NONBLOCK channel fd, EAGAIN when idle, poll() wake-ups: %d)\n",
              ok ? "ok" : "FAILED", events);
  return ok;
}

bool part_fork(const Dev& d) {
  const char* mode = std::getenv("FW_PRELOAD_MODE");
  const char* pre = std::getenv("LD_PRELOAD");
  const bool shim_dispatcher = pre && std::strstr(pre, "fastwake-preload") &&
                               (!mode || !*mode || !std::strcmp(mode, "dispatcher"));
  ibv_comp_channel* ch = ibv_create_comp_channel(d.ctx);
  if (!ch) die("ibv_create_comp_channel");
  Pair p;
  make_pair(d, p, ch);
  if (ibv_req_notify_cq(p.cq_a, 0)) die("arm");
  const pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    alarm(20);
    int rc = 0;
    if (shim_dispatcher) {
      ibv_cq* cq;
      void* ctx;
      errno = 0;
      if (ibv_get_cq_event(ch, &cq, &ctx) != -1 || errno != EPERM)
        rc = 3;  // must be refused, not block
    }
    // The child's own objects work (a new dispatcher in dispatcher mode). The
    // kernel refuses verbs calls on the parent's device context from a child
    // (EACCES), so the child opens its own, as verbs programs must.
    Dev c = open_dev(d.name, d.gid_index);
    ibv_comp_channel* mine = ibv_create_comp_channel(c.ctx);
    if (!mine) std::exit(4);
    Pair q;
    make_pair(c, q, mine);
    if (ibv_req_notify_cq(q.cq_a, 0)) std::exit(5);
    for (int i = 0; i < 20; ++i) {
      post_recv(q);
      send(q);
      await_recvs(mine, q, 1);
    }
    destroy_pair(q);
    ibv_destroy_comp_channel(mine);
    ibv_dealloc_pd(c.pd);
    ibv_close_device(c.ctx);
    std::exit(rc);  // exit(), not _exit(): the shim's report runs
  }
  int st = 0;
  waitpid(pid, &st, 0);
  // The parent's objects still work after the fork.
  for (int i = 0; i < 20; ++i) {
    post_recv(p);
    send(p);
    await_recvs(ch, p, 1);
  }
  destroy_pair(p);
  ibv_destroy_comp_channel(ch);
  const bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
  std::printf(
      "fork: %s (child status %d; inherited channel %s; child's own CQ and parent's CQ both "
      "work)\n",
      ok ? "ok" : "FAILED", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
      shim_dispatcher ? "refused with EPERM" : "not touched");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fw_shim_probe DEVICE [GID_INDEX]\n");
    return 2;
  }
  g_prog = "fw_shim_probe";
  setvbuf(stdout, nullptr, _IOLBF, 0);
  const Dev d = open_dev(argv[1], argc > 2 ? std::atoi(argv[2]) : -1);
  bool ok = part_threads(d);
  ok = part_shared(d) && ok;
  ok = part_nonblock(d) && ok;
  ok = part_fork(d) && ok;
  ibv_dealloc_pd(d.pd);
  ibv_close_device(d.ctx);
  std::printf("fw_shim_probe: %s\n", ok ? "all parts ok" : "FAILED");
  return ok ? 0 : 1;
}
