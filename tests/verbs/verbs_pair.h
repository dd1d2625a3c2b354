// Loopback RC pairs on one device for the shim's test programs (shim_probe.cc,
// shim_stress.cc): QP a (receive side, its CQ `cq_a` on a completion channel)
// and QP b (send side, its own polled CQ). Any failure exits 2 via die().
#pragma once

#include <infiniband/verbs.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace fw_test {

/// Program name for die()'s messages.
inline const char* g_prog = "fw_test";

[[noreturn]] inline void die(const std::string& what) {
  std::fprintf(stderr, "%s: %s (%s)\n", g_prog, what.c_str(), std::strerror(errno));
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

inline void to_init(ibv_qp* q) {
  ibv_qp_attr m{};
  m.qp_state = IBV_QPS_INIT;
  m.port_num = 1;
  if (ibv_modify_qp(q, &m, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
    die("INIT");
}

inline void to_rts(const Dev& d, ibv_qp* q, ibv_qp* peer) {
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

inline void make_pair(const Dev& d, Pair& p, ibv_comp_channel* ch) {
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

inline void destroy_pair(Pair& p) {
  ibv_destroy_qp(p.a);
  ibv_destroy_qp(p.b);
  ibv_dereg_mr(p.mr);
  if (ibv_destroy_cq(p.cq_a)) die("ibv_destroy_cq(a)");  // hangs if the event accounting is wrong
  ibv_destroy_cq(p.cq_b);
}

inline void post_recv(Pair& p) {
  ibv_sge sge{reinterpret_cast<std::uintptr_t>(p.buf[0]), 64, p.mr->lkey};
  ibv_recv_wr wr{};
  wr.sg_list = &sge;
  wr.num_sge = 1;
  ibv_recv_wr* bad;
  if (ibv_post_recv(p.a, &wr, &bad)) die("ibv_post_recv");
}

inline void send(Pair& p) {
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
inline int await_recvs(ibv_comp_channel* ch, Pair& p, int want) {
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

inline Dev open_dev(const std::string& name, int gid_index) {
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

}  // namespace fw_test
