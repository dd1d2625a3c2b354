// TCP side channel: connect with retry, line-framed JSON, timeouts via poll().
#include "fastwake/hw/side_channel.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "fastwake/errors.h"
#include "fastwake/hw/side_channel_msg.h"

namespace fastwake::hw {

namespace {

std::string errno_text() { return std::strerror(errno); }

}  // namespace

SideChannel::~SideChannel() {
  if (fd_ >= 0) close(fd_);
}

SideChannel::SideChannel(SideChannel&& o) noexcept
    : fd_(o.fd_), buf_(std::move(o.buf_)), peer_(std::move(o.peer_)) {
  o.fd_ = -1;
}

SideChannel& SideChannel::operator=(SideChannel&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.fd_;
    buf_ = std::move(o.buf_);
    peer_ = std::move(o.peer_);
    o.fd_ = -1;
  }
  return *this;
}

SideChannel SideChannel::connect(const std::string& host, int port, double timeout_s) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string where = host + ":" + std::to_string(port);
  if (const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0)
    throw DeviceError("side channel: cannot resolve " + where + ": " + gai_strerror(rc));
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
  std::string last = "no address";
  for (;;) {
    for (addrinfo* a = res; a; a = a->ai_next) {
      const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) {
        last = errno_text();
        continue;
      }
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        freeaddrinfo(res);
        return SideChannel(fd);
      }
      last = errno_text();
      close(fd);
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  freeaddrinfo(res);
  throw DeviceError("side channel: cannot connect to " + where + " within " +
                    std::to_string(static_cast<int>(timeout_s)) + " s (" + last +
                    "); is 'fastwake-bench server' running there?");
}

void SideChannel::send(const nlohmann::json& msg) {
  const std::string line = msg.dump() + "\n";
  std::size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = errno_text();
      // The peer may have said why it hung up (an 'error' message) before closing.
      std::string said;
      try {
        char tmp[65536];
        for (ssize_t r; (r = ::recv(fd_, tmp, sizeof tmp, MSG_DONTWAIT)) > 0;)
          buf_.append(tmp, static_cast<std::size_t>(r));
        while (auto m = take_message(buf_, peer()))
          if (m->value("type", std::string()) == "error") {
            said = m->value("message", std::string());
            break;
          }
      } catch (const std::exception&) {
      }
      if (!said.empty())
        throw DeviceError("peer " + peer() + " hung up: " + said);
      throw DeviceError("side channel: send to " + peer() + " failed: " + why +
                        " (the peer closed the connection)");
    }
    off += static_cast<std::size_t>(n);
  }
}

std::optional<nlohmann::json> SideChannel::recv(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (auto m = take_message(buf_, peer())) return m;
    int wait = -1;
    if (timeout_ms >= 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return std::nullopt;
      wait = static_cast<int>(left);
    }
    pollfd p{fd_, POLLIN, 0};
    const int r = poll(&p, 1, wait);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw DeviceError("side channel: poll failed: " + errno_text());
    }
    if (r == 0) return std::nullopt;
    char tmp[65536];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw DeviceError("side channel: receive from " + peer() + " failed: " + errno_text());
    }
    if (n == 0) throw DeviceError("side channel: " + peer() + " closed the connection");
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
}

nlohmann::json SideChannel::expect(const std::string& type, int timeout_ms) {
  auto m = recv(timeout_ms);
  if (!m)
    throw DeviceError("side channel: no '" + type + "' message from " + peer() + " within " +
                      std::to_string(timeout_ms / 1000) + " s");
  const std::string got = (*m)["type"].get<std::string>();
  if (got == "error")
    throw DeviceError("peer " + peer() +
                      " reports: " + m->value("message", std::string("unknown error")));
  if (got != type)
    throw DeviceError("side channel: expected '" + type + "' from " + peer() + ", got '" + got +
                      "'");
  return *m;
}

std::string SideChannel::peer() const { return peer_.empty() ? "peer" : peer_; }

std::string SideChannel::peer_name(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd < 0 || getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "peer";
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

TcpListener::TcpListener(const std::string& bind_addr, int port) {
  addrinfo hints{};
  hints.ai_family = bind_addr.empty() ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string where = (bind_addr.empty() ? "*" : bind_addr) + ":" + std::to_string(port);
  if (const int rc = getaddrinfo(bind_addr.empty() ? nullptr : bind_addr.c_str(),
                                 std::to_string(port).c_str(), &hints, &res);
      rc != 0)
    throw DeviceError("side channel: cannot resolve " + where + ": " + gai_strerror(rc));
  std::string last;
  for (addrinfo* a = res; a; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last = errno_text();
      continue;
    }
    const int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 16) == 0) {
      fd_ = fd;
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
      port_ = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                       : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
      break;
    }
    last = errno_text();
    close(fd);
  }
  freeaddrinfo(res);
  if (fd_ < 0) throw DeviceError("side channel: cannot listen on " + where + ": " + last);
}

TcpListener::~TcpListener() {
  if (fd_ >= 0) close(fd_);
}

std::optional<SideChannel> TcpListener::accept(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  for (;;) {
    const int r = poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0)
      throw DeviceError("side channel: poll on the listening socket failed: " + errno_text());
    if (r == 0) return std::nullopt;
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      throw DeviceError("side channel: accept failed: " + errno_text());
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return SideChannel(fd);
  }
}

}  // namespace fastwake::hw
