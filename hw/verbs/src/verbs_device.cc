// rdma-core plumbing: device by name, port address, RC QP state transitions.
#include "fastwake/hw/verbs_device.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "fastwake/errors.h"

namespace fastwake::hw {

namespace {

std::string err(const std::string& what, int e) {
  return what + ": " + std::strerror(e != 0 ? e : errno);
}

std::string gid_text(const ibv_gid& g) {
  char buf[INET6_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET6, g.raw, buf, sizeof buf);
  return buf;
}

bool gid_is_zero(const ibv_gid& g) {
  for (auto b : g.raw)
    if (b) return false;
  return true;
}

bool gid_is_ipv4_mapped(const ibv_gid& g) {
  for (int i = 0; i < 10; ++i)
    if (g.raw[i]) return false;
  return g.raw[10] == 0xff && g.raw[11] == 0xff;
}

const char* mtu_text(ibv_mtu m) {
  switch (m) {
    case IBV_MTU_256:
      return "256";
    case IBV_MTU_512:
      return "512";
    case IBV_MTU_1024:
      return "1024";
    case IBV_MTU_2048:
      return "2048";
    case IBV_MTU_4096:
      return "4096";
  }
  return "?";
}

}  // namespace

nlohmann::json QpInfo::to_json() const {
  std::string g;
  char hex[3];
  for (auto b : gid) {
    std::snprintf(hex, sizeof hex, "%02x", b);
    g += hex;
  }
  return {{"qpn", qpn}, {"psn", psn}, {"lid", lid}, {"gid", g}};
}

std::vector<std::string> rdma_device_names() {
  std::vector<std::string> out;
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (!list) return out;
  for (int i = 0; i < n; ++i) out.emplace_back(ibv_get_device_name(list[i]));
  ibv_free_device_list(list);
  return out;
}

VerbsDevice::VerbsDevice(const VerbsDeviceOptions& opt) : port_(opt.ib_port) {
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (!list || n == 0) {
    if (list) ibv_free_device_list(list);
    throw DeviceError(
        "no RDMA device on this machine (ibv_get_device_list found none; "
        "load a driver, or add Soft-RoCE: rdma link add rxe0 type rxe netdev ETH)");
  }
  ibv_device* dev = nullptr;
  std::string names;
  for (int i = 0; i < n; ++i) {
    names += (i ? ", " : "") + std::string(ibv_get_device_name(list[i]));
    if (opt.device.empty() ? n == 1 : opt.device == ibv_get_device_name(list[i])) dev = list[i];
  }
  if (!dev) {
    ibv_free_device_list(list);
    throw DeviceError(opt.device.empty()
                          ? "several RDMA devices (" + names + "): choose one with --device"
                          : "no RDMA device '" + opt.device + "' (devices: " + names + ")");
  }
  name_ = ibv_get_device_name(dev);
  ctx_ = ibv_open_device(dev);
  ibv_free_device_list(list);
  if (!ctx_) throw DeviceError(err("ibv_open_device(" + name_ + ")", errno));
  pd_ = ibv_alloc_pd(ctx_);
  if (!pd_) {
    const int e = errno;
    ibv_close_device(ctx_);
    throw DeviceError(err("ibv_alloc_pd(" + name_ + ")", e));
  }
  auto fail = [&](const std::string& msg) {
    ibv_dealloc_pd(pd_);
    ibv_close_device(ctx_);
    throw DeviceError(msg);
  };
  if (const int rc = ibv_query_port(ctx_, static_cast<std::uint8_t>(port_), &port_attr_); rc != 0)
    fail(err(name_ + ": ibv_query_port(" + std::to_string(port_) + ")", rc));
  if (port_attr_.state != IBV_PORT_ACTIVE)
    fail(name_ + " port " + std::to_string(port_) + " is not ACTIVE (state " +
         ibv_port_state_str(port_attr_.state) + ")");
  gid_index_ = opt.gid_index;
  if (gid_index_ < 0 && is_roce()) {
    // RoCE needs a GRH: prefer RoCE v2 on an IPv4 address (routable, what
    // perftest -x picks on rxe), else any RoCE v2, else the first valid GID.
    int v2_v4 = -1, v2 = -1, any = -1;
    for (int i = 0; i < port_attr_.gid_tbl_len; ++i) {
      ibv_gid_entry e{};
      if (ibv_query_gid_ex(ctx_, static_cast<std::uint32_t>(port_), static_cast<std::uint32_t>(i),
                           &e, 0) != 0)
        continue;
      ibv_gid g;
      std::memcpy(g.raw, e.gid.raw, 16);
      if (gid_is_zero(g)) continue;
      if (any < 0) any = i;
      if (e.gid_type == IBV_GID_TYPE_ROCE_V2) {
        if (v2 < 0) v2 = i;
        if (v2_v4 < 0 && gid_is_ipv4_mapped(g)) v2_v4 = i;
      }
    }
    gid_index_ = v2_v4 >= 0 ? v2_v4 : v2 >= 0 ? v2 : any;
    if (gid_index_ < 0)
      fail(name_ + " port " + std::to_string(port_) +
           ": RoCE port without a GID (no IP address on its netdev?)");
  }
  if (gid_index_ >= 0) {
    if (gid_index_ >= port_attr_.gid_tbl_len)
      fail("--gid-index " + std::to_string(gid_index_) + ": " + name_ + " port " +
           std::to_string(port_) + " has " + std::to_string(port_attr_.gid_tbl_len) +
           " GID entries");
    if (const int rc = ibv_query_gid(ctx_, static_cast<std::uint8_t>(port_), gid_index_, &gid_);
        rc != 0)
      fail(err(name_ + ": ibv_query_gid(" + std::to_string(gid_index_) + ")", rc));
    if (gid_is_zero(gid_))
      fail("--gid-index " + std::to_string(gid_index_) + ": GID entry of " + name_ + " is empty");
  }
}

VerbsDevice::~VerbsDevice() {
  if (pd_) ibv_dealloc_pd(pd_);
  if (ctx_) ibv_close_device(ctx_);
}

std::string VerbsDevice::describe() const {
  std::ostringstream o;
  o << name_ << " port " << port_ << " (" << (is_roce() ? "Ethernet/RoCE" : "InfiniBand");
  if (gid_index_ >= 0)
    o << ", GID index " << gid_index_ << " " << gid_text(gid_);
  else
    o << ", LID " << port_attr_.lid;
  o << ", MTU " << mtu_text(port_attr_.active_mtu) << ", " << ctx_->num_comp_vectors
    << " completion vectors)";
  return o.str();
}

ibv_qp* VerbsDevice::create_rc_qp(ibv_cq* send_cq, ibv_cq* recv_cq, int send_depth, int recv_depth,
                                  std::uint32_t* max_inline) const {
  ibv_qp_init_attr a{};
  a.send_cq = send_cq;
  a.recv_cq = recv_cq;
  a.qp_type = IBV_QPT_RC;
  a.sq_sig_all = 0;
  a.cap.max_send_wr = static_cast<std::uint32_t>(send_depth);
  a.cap.max_recv_wr = static_cast<std::uint32_t>(recv_depth);
  a.cap.max_send_sge = 1;
  a.cap.max_recv_sge = 1;
  a.cap.max_inline_data = *max_inline;
  ibv_qp* qp = ibv_create_qp(pd_, &a);
  if (!qp && *max_inline > 0) {  // some devices refuse inline data: retry without
    a.cap.max_inline_data = 0;
    qp = ibv_create_qp(pd_, &a);
  }
  if (!qp)
    throw DeviceError(err(name_ + ": ibv_create_qp(RC, " + std::to_string(send_depth) + "/" +
                              std::to_string(recv_depth) + " WRs)",
                          errno));
  *max_inline = a.cap.max_inline_data;
  ibv_qp_attr m{};
  m.qp_state = IBV_QPS_INIT;
  m.pkey_index = 0;
  m.port_num = static_cast<std::uint8_t>(port_);
  m.qp_access_flags = 0;
  if (const int rc = ibv_modify_qp(
          qp, &m, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
      rc != 0) {
    ibv_destroy_qp(qp);
    throw DeviceError(err(name_ + ": ibv_modify_qp(INIT)", rc));
  }
  return qp;
}

QpInfo VerbsDevice::local_info(ibv_qp* qp, std::uint32_t psn) const {
  QpInfo q;
  q.qpn = qp->qp_num;
  q.psn = psn & 0xffffff;
  q.lid = port_attr_.lid;
  if (gid_index_ >= 0) std::memcpy(q.gid.data(), gid_.raw, 16);
  return q;
}

void VerbsDevice::connect(ibv_qp* qp, std::uint32_t my_psn, const QpInfo& remote) const {
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_RTR;
  a.path_mtu = port_attr_.active_mtu;
  a.dest_qp_num = remote.qpn;
  a.rq_psn = remote.psn;
  a.max_dest_rd_atomic = 1;
  a.min_rnr_timer = 12;
  a.ah_attr.dlid = remote.lid;
  a.ah_attr.sl = 0;
  a.ah_attr.src_path_bits = 0;
  a.ah_attr.port_num = static_cast<std::uint8_t>(port_);
  bool zero = true;
  for (auto b : remote.gid) zero = zero && b == 0;
  if (gid_index_ >= 0 && !zero) {
    a.ah_attr.is_global = 1;
    std::memcpy(a.ah_attr.grh.dgid.raw, remote.gid.data(), 16);
    a.ah_attr.grh.sgid_index = static_cast<std::uint8_t>(gid_index_);
    a.ah_attr.grh.hop_limit = 64;
  } else if (is_roce()) {
    throw DeviceError(
        name_ +
        ": RoCE needs the peer's GID, but the peer sent none (give both sides a --gid-index)");
  }
  if (const int rc =
          ibv_modify_qp(qp, &a,
                        IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
                            IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
      rc != 0)
    throw DeviceError(err(name_ + ": ibv_modify_qp(RTR) to QP " + std::to_string(remote.qpn), rc));
  ibv_qp_attr s{};
  s.qp_state = IBV_QPS_RTS;
  s.timeout = 14;
  s.retry_cnt = 7;
  s.rnr_retry = 7;  // infinite: a receiver briefly out of buffers delays, never fails
  s.sq_psn = my_psn & 0xffffff;
  s.max_rd_atomic = 1;
  if (const int rc = ibv_modify_qp(qp, &s,
                                   IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
                                       IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
      rc != 0)
    throw DeviceError(err(name_ + ": ibv_modify_qp(RTS)", rc));
}

VerbsBuffer::VerbsBuffer(const VerbsDevice& dev, std::size_t bytes) {
  bytes = (bytes + 4095) & ~std::size_t{4095};
  data_ = static_cast<char*>(std::aligned_alloc(4096, bytes));
  if (!data_) throw DeviceError("out of memory for a " + std::to_string(bytes) + "-byte buffer");
  std::memset(data_, 0, bytes);
  mr_ = ibv_reg_mr(dev.pd(), data_, bytes, IBV_ACCESS_LOCAL_WRITE);
  if (!mr_) {
    const int e = errno;
    std::free(data_);
    throw DeviceError(err(dev.name() + ": ibv_reg_mr(" + std::to_string(bytes) + " bytes)", e));
  }
}

VerbsBuffer::~VerbsBuffer() {
  if (mr_) ibv_dereg_mr(mr_);
  std::free(data_);
}

}  // namespace fastwake::hw
