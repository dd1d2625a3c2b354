// TCP side channel of the replay tool: newline-delimited JSON messages between
// the server and the client (QP numbers/GIDs for RC connection set-up, the
// session's strategy, window start/end, and each side's counters at the end).
// Like perftest's out-of-band TCP exchange; the data path is RDMA only.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace fastwake::hw {

class SideChannel {
 public:
  SideChannel() = default;
  explicit SideChannel(int fd) : fd_(fd), peer_(peer_name(fd)) {}
  ~SideChannel();
  SideChannel(SideChannel&& o) noexcept;
  SideChannel& operator=(SideChannel&& o) noexcept;
  SideChannel(const SideChannel&) = delete;
  SideChannel& operator=(const SideChannel&) = delete;

  /// Connects to host:port, retrying refused connections until `timeout_s`
  /// (the server may still be starting). Throws DeviceError naming the address.
  static SideChannel connect(const std::string& host, int port, double timeout_s);

  /// Sends one message (a JSON object, one line). Throws DeviceError.
  void send(const nlohmann::json& msg);
  /// Next message, or nullopt after `timeout_ms` (-1: wait forever). Throws
  /// DeviceError when the peer closed the connection or sent a broken line.
  std::optional<nlohmann::json> recv(int timeout_ms);
  /// Next message, which must have "type" == `type`. A {"type":"error"} from
  /// the peer, another type, a timeout or EOF throw DeviceError.
  nlohmann::json expect(const std::string& type, int timeout_ms);

  bool open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  /// Address of the peer ("198.18.0.2:40312").
  std::string peer() const;

 private:
  static std::string peer_name(int fd);
  int fd_ = -1;
  std::string buf_;   // received bytes not yet returned
  std::string peer_;  // kept: getpeername fails once the peer is gone
};

/// A listening TCP socket.
class TcpListener {
 public:
  /// Binds `bind_addr` ("" = any) : `port` (0 = ephemeral) with SO_REUSEADDR.
  /// Throws DeviceError (address in use, bad address).
  TcpListener(const std::string& bind_addr, int port);
  ~TcpListener();
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;

  /// Waits for a connection; nullopt after `timeout_ms` (-1: forever).
  std::optional<SideChannel> accept(int timeout_ms);
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace fastwake::hw
