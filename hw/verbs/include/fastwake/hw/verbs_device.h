// rdma-core plumbing shared by the replay server and client: open a device by
// name, pick the port's address (LID or RoCE GID), create RC queue pairs and
// walk them INIT -> RTR -> RTS against the peer's QpInfo from the side channel.
// Set-up code: throws DeviceError with the device and the failing call named.
#pragma once

#include <infiniband/verbs.h>

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fastwake::hw {

/// How to reach a device (perftest's -d, -i, -x).
struct VerbsDeviceOptions {
  std::string device;  ///< e.g. "mlx5_0", "rxe0"; empty: the only device there is
  int ib_port = 1;
  int gid_index = -1;  ///< -1: IB uses the LID; RoCE picks a RoCE v2 IPv4 GID, else RoCE v1, else 0
};

/// One side's address of an RC queue pair, exchanged over the side channel.
struct QpInfo {
  std::uint32_t qpn = 0;
  std::uint32_t psn = 0;
  std::uint16_t lid = 0;
  std::array<std::uint8_t, 16> gid{};
  nlohmann::json to_json() const;
  static QpInfo from_json(const nlohmann::json& j);  ///< throws DeviceError on a malformed entry
};

/// Names of the RDMA devices on this machine (ibv_get_device_list).
std::vector<std::string> rdma_device_names();

/// An opened device: context + protection domain + the chosen port/GID. RAII.
class VerbsDevice {
 public:
  /// Throws DeviceError: no such device (listing those present), port not
  /// ACTIVE, bad GID index.
  explicit VerbsDevice(const VerbsDeviceOptions& opt);
  ~VerbsDevice();
  VerbsDevice(const VerbsDevice&) = delete;
  VerbsDevice& operator=(const VerbsDevice&) = delete;

  ibv_context* ctx() const { return ctx_; }
  ibv_pd* pd() const { return pd_; }
  const std::string& name() const { return name_; }
  int port() const { return port_; }
  int gid_index() const { return gid_index_; }
  bool is_roce() const { return port_attr_.link_layer == IBV_LINK_LAYER_ETHERNET; }
  int num_comp_vectors() const { return ctx_->num_comp_vectors; }
  ibv_mtu active_mtu() const { return port_attr_.active_mtu; }
  /// "rxe0 port 1 (Ethernet/RoCE, GID index 1 ::ffff:198.18.0.1, MTU 1024, 4 vectors)".
  std::string describe() const;

  /// RC QP on the given CQs, in INIT. `max_inline` is a request; the
  /// granted value is written back.
  ibv_qp* create_rc_qp(ibv_cq* send_cq, ibv_cq* recv_cq, int send_depth, int recv_depth,
                       std::uint32_t* max_inline) const;
  /// This QP's address for the peer.
  QpInfo local_info(ibv_qp* qp, std::uint32_t psn) const;
  /// INIT -> RTR -> RTS against the peer. Throws DeviceError.
  void connect(ibv_qp* qp, std::uint32_t my_psn, const QpInfo& remote) const;

 private:
  ibv_context* ctx_ = nullptr;
  ibv_pd* pd_ = nullptr;
  std::string name_;
  int port_ = 1;
  int gid_index_ = -1;
  ibv_port_attr port_attr_{};
  ibv_gid gid_{};
};

/// A registered buffer (aligned, zeroed). RAII.
class VerbsBuffer {
 public:
  VerbsBuffer(const VerbsDevice& dev, std::size_t bytes);
  ~VerbsBuffer();
  VerbsBuffer(const VerbsBuffer&) = delete;
  VerbsBuffer& operator=(const VerbsBuffer&) = delete;
  char* data() const { return data_; }
  std::uint32_t lkey() const { return mr_->lkey; }

 private:
  char* data_ = nullptr;
  ibv_mr* mr_ = nullptr;
};

/// Wire format of a request and its echoed reply: the first 16 bytes of the
/// message (the rest up to message_bytes is padding).
struct WireHeader {
  std::uint64_t id;     ///< per-connection sequence number, from 0
  std::int64_t t_sent;  ///< client's CLOCK_MONOTONIC at post time (echoed back)
};
static_assert(sizeof(WireHeader) == 16);

/// Bytes a request/reply takes on the wire: message_bytes, but at least the header.
inline std::size_t wire_bytes(int message_bytes) {
  return message_bytes < static_cast<int>(sizeof(WireHeader))
             ? sizeof(WireHeader)
             : static_cast<std::size_t>(message_bytes);
}

}  // namespace fastwake::hw
