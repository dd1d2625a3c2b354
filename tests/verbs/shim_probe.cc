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

namespace {

constexpr int kMsgs = 200;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fw_shim_probe: %s (%s)\n", what.c_str(), std::strerror(errno));
  std::exit(2);
}

struct Dev {
  std::string name;
  ibv_context* ctx = nullptr;
  ibv_pd* pd = nullptr;
  int gid_index = -1;
  ibv_gid gid{};
  ibv_port_attr port{};
};

/// A loopback pair: b sends to a; a's receives complete on `cq_a` (evented).
struct Pair {
  ibv_cq* cq_a = nullptr;
  ibv_cq* cq_b = nullptr;
  ibv_qp* a = nullptr;
  ibv_qp* b = nullptr;
  ibv_mr* mr = nullptr;
  char buf[2][64]{};
};

void to_init(ibv_qp* q) {
  ibv_qp_attr m{};
  m.qp_state = IBV_QPS_INIT;
  m.port_num = 1;
  if (ibv_modify_qp(q, &m, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
    die("INIT");
}

void to_rts(const Dev& d, ibv_qp* q, ibv_qp* peer) {
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_RTR;
  a.path_mtu = d.port.active_mtu;
  a.dest_qp_num = peer->qp_num;
  a.rq_psn = 1;
  a.max_dest_rd_atomic = 1;
  a.min_rnr_timer = 12;
  a.ah_attr.dlid = d.port.lid;
  a.ah_attr.port_num = 1;
  if (d.gid_index >= 0) {
    a.ah_attr.is_global = 1;
    a.ah_attr.grh.dgid = d.gid;
    a.ah_attr.grh.sgid_index = static_cast<std::uint8_t>(d.gid_index);
    a.ah_attr.grh.hop_limit = 1;
  }
  if (ibv_modify_qp(q, &a,
                    IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                        IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
    die("RTR");
  ibv_qp_attr s{};
  s.qp_state = IBV_QPS_RTS;
  s.timeout = 14;
  s.retry_cnt = 7;
  s.rnr_retry = 7;
  s.sq_psn = 1;
  s.max_rd_atomic = 1;
  if (ibv_modify_qp(q, &s,
                    IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
                        IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC))
    die("RTS");
}

void make_pair(const Dev& d, Pair& p, ibv_comp_channel* ch) {
  p.cq_a = ibv_create_cq(d.ctx, 16, &p, ch, 0);
  p.cq_b = ibv_create_cq(d.ctx, 16, nullptr, nullptr, 0);
  if (!p.cq_a || !p.cq_b) die("ibv_create_cq");
  p.mr = ibv_reg_mr(d.pd, p.buf, sizeof p.buf, IBV_ACCESS_LOCAL_WRITE);
  if (!p.mr) die("ibv_reg_mr");
  ibv_qp_init_attr qa{};
  qa.qp_type = IBV_QPT_RC;
  qa.cap = {16, 16, 1, 1, 0};
  qa.send_cq = p.cq_b;  // a sends nothing
  qa.recv_cq = p.cq_a;
  p.a = ibv_create_qp(d.pd, &qa);
  qa.send_cq = p.cq_b;
  qa.recv_cq = p.cq_b;
  p.b = ibv_create_qp(d.pd, &qa);
  if (!p.a || !p.b) die("ibv_create_qp");
  to_init(p.a);
  to_init(p.b);
  to_rts(d, p.a, p.b);
  to_rts(d, p.b, p.a);
}

void destroy_pair(Pair& p) {
  ibv_destroy_qp(p.a);
  ibv_destroy_qp(p.b);
  ibv_dereg_mr(p.mr);
  if (ibv_destroy_cq(p.cq_a)) die("ibv_destroy_cq(a)");  // hangs if the event accounting is wrong
  ibv_destroy_cq(p.cq_b);
}

void post_recv(Pair& p) {
  ibv_sge sge{reinterpret_cast<std::uintptr_t>(p.buf[0]), 64, p.mr->lkey};
  ibv_recv_wr wr{};
  wr.sg_list = &sge;
  wr.num_sge = 1;
  ibv_recv_wr* bad;
  if (ibv_post_recv(p.a, &wr, &bad)) die("ibv_post_recv");
}

void send(Pair& p) {
  ibv_sge sge{reinterpret_cast<std::uintptr_t>(p.buf[1]), 64, p.mr->lkey};
  ibv_send_wr wr{};
  wr.sg_list = &sge;
  wr.num_sge = 1;
  wr.opcode = IBV_WR_SEND;
  wr.send_flags = IBV_SEND_SIGNALED;
  ibv_send_wr* bad;
  if (ibv_post_send(p.b, &wr, &bad)) die("ibv_post_send");
  ibv_wc wc;
  int n;
  while ((n = ibv_poll_cq(p.cq_b, 1, &wc)) == 0) {
  }
  if (n < 0 || wc.status != IBV_WC_SUCCESS) die("send completion");
}

/// Waits (events) until `want` receives completed on `p`'s CQ; returns the
/// number of events taken.
int await_recvs(ibv_comp_channel* ch, Pair& p, int want) {
  int got = 0, events = 0;
  while (got < want) {
    ibv_cq* cq;
    void* ctx;
    if (ibv_get_cq_event(ch, &cq, &ctx)) die("ibv_get_cq_event");
    ++events;
    if (cq != p.cq_a || ctx != &p) die("event for a foreign CQ");
    ibv_ack_cq_events(cq, 1);
    if (ibv_req_notify_cq(cq, 0)) die("ibv_req_notify_cq");
    ibv_wc wc;
    int n;
    while ((n = ibv_poll_cq(cq, 1, &wc)) > 0) {
      if (wc.status != IBV_WC_SUCCESS) die("receive completion");
      ++got;
    }
    if (n < 0) die("ibv_poll_cq");
  }
  return events;
}

Dev open_dev(const std::string& name, int gid_index) {
  Dev d;
  d.name = name;
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  for (int i = 0; i < n; ++i)
    if (name == ibv_get_device_name(list[i])) d.ctx = ibv_open_device(list[i]);
  if (list) ibv_free_device_list(list);
  if (!d.ctx) die("no device " + name);
  d.pd = ibv_alloc_pd(d.ctx);
  if (!d.pd || ibv_query_port(d.ctx, 1, &d.port)) die("ibv_alloc_pd/ibv_query_port");
  d.gid_index = gid_index;
  if (gid_index >= 0 && ibv_query_gid(d.ctx, 1, gid_index, &d.gid)) die("ibv_query_gid");
  return d;
}

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
