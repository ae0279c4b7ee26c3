// transports/rdma/rdma_mgmt.cc: the management channel of the RDMA
// transport. Control path only.
//
// A UD QP cannot be addressed before its QP number is known, and QP numbers
// are assigned by the device at run time. So every Rpc binds a kernel UDP
// socket at its URI's host:port (rdma://HOST:PORT) and a small thread answers
// route queries there with this QP's routing information. A client's
// resolve() sends a query and waits for the answer (bounded by
// resolve_timeout_ms); the server learns the client's route from the
// client's first packet (source QPN and GID/LID of the work completion), so
// it never queries back.
//
// Wire format, little-endian:
//   query  (16 bytes): "FLRQ", version u32 = 1, nonce u64
//   answer (48 bytes): "FLRA", version u32 = 1, nonce u64 (echoed),
//                      qpn u32, qkey u32, packet_size u32, lid u16,
//                      global u8, reserved u8, gid[16]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "flit/error.h"
#include "flit/nexus.h"
#include "flit/uri.h"
#include "rdma_transport.h"

namespace flit::transport {

namespace {

constexpr uint32_t kMgmtVersion = 1;
constexpr size_t kQuerySize = 16;
constexpr size_t kAnswerSize = 48;
constexpr int kRetryMs = 50;
// The management thread wakes at least this often to check for shutdown
// (shutdown also signals it through an eventfd, so this is a backstop).
constexpr int kMgmtWakeMs = 500;
// Queries answered per wake-up, at most.
constexpr int kMgmtBatch = 64;

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct SockAddr {
  sockaddr_storage ss;
  socklen_t len;
};

SockAddr lookup(const std::string& host, uint16_t port, const std::string& what) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_s = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), port_s.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    throw Error("flit rdma: cannot resolve host '" + host + "' of " + what + ": " +
                gai_strerror(rc));
  }
  SockAddr a{};
  std::memcpy(&a.ss, res->ai_addr, res->ai_addrlen);
  a.len = res->ai_addrlen;
  freeaddrinfo(res);
  return a;
}

}  // namespace

void RdmaTransport::start_mgmt(const Options& opt) {
  std::memcpy(self_.gid, gid_.raw, 16);
  self_.qpn = qp_->qp_num;
  self_.qkey = qkey_;
  self_.packet_size = static_cast<uint32_t>(mtu_);
  self_.lid = lid_;
  self_.global = global_ ? 1 : 0;

  mgmt_host_ = opt.mgmt_host.empty() ? std::string("0.0.0.0") : opt.mgmt_host;
  SockAddr a = lookup(mgmt_host_, opt.mgmt_port, "the listen address");
  mgmt_fd_ = socket(a.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (mgmt_fd_ < 0) throw Error("flit rdma: management socket: " + std::string(strerror(errno)));
  if (bind(mgmt_fd_, reinterpret_cast<sockaddr*>(&a.ss), a.len) != 0) {
    int e = errno;
    throw Error("flit rdma: cannot bind the management channel to " + mgmt_host_ + ":" +
                std::to_string(opt.mgmt_port) + " (UDP): " + strerror(e) +
                (e == EADDRINUSE ? " (another process listens there: pick another port)" : ""));
  }
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  getsockname(mgmt_fd_, reinterpret_cast<sockaddr*>(&bound), &blen);
  mgmt_port_ =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) throw Error("flit rdma: eventfd: " + std::string(strerror(errno)));
  mgmt_thread_ = std::thread([this] { mgmt_loop(); });
}

// Answers route queries until destroy() signals stop_fd_. Reads only self_
// and the sockets, which are fixed before the thread starts.
void RdmaTransport::mgmt_loop() {
  pollfd fds[2] = {{mgmt_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    int r = poll(fds, 2, kMgmtWakeMs);
    if (r < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;
    if (r <= 0 || fds[0].revents == 0) continue;
    for (int i = 0; i < kMgmtBatch; ++i) {
      uint8_t q[64];
      sockaddr_storage from{};
      socklen_t flen = sizeof from;
      ssize_t n = recvfrom(mgmt_fd_, q, sizeof q, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 0) break;  // EAGAIN: drained
      if (n != static_cast<ssize_t>(kQuerySize) || std::memcmp(q, "FLRQ", 4) != 0 ||
          get32(q + 4) != kMgmtVersion) {
        continue;  // not a route query: ignore
      }
      uint8_t a[kAnswerSize] = {};
      std::memcpy(a, "FLRA", 4);
      put32(a + 4, kMgmtVersion);
      std::memcpy(a + 8, q + 8, 8);
      put32(a + 16, self_.qpn);
      put32(a + 20, self_.qkey);
      put32(a + 24, self_.packet_size);
      a[28] = static_cast<uint8_t>(self_.lid);
      a[29] = static_cast<uint8_t>(self_.lid >> 8);
      a[30] = self_.global;
      std::memcpy(a + 32, self_.gid, 16);
      (void)sendto(mgmt_fd_, a, sizeof a, 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }
}

std::string RdmaTransport::local_uri() const {
  Uri u;
  u.scheme = "rdma";
  u.host = mgmt_host_;
  u.port = mgmt_port_;
  return u.to_string();
}

Route RdmaTransport::resolve(std::string_view text) {
  Uri u = parse_uri(text);
  std::string uri(text);
  if (u.scheme != "rdma") {
    throw Error("flit rdma: cannot reach '" + uri + "' over RDMA: its scheme is '" + u.scheme +
                "' (this Rpc's transport is rdma)");
  }
  if (u.port == 0) throw Error("bad URI '" + uri + "': port 0 cannot be connected to");
  SockAddr dst = lookup(u.host, u.port, uri);
  int fd = socket(dst.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error("flit rdma: socket: " + std::string(strerror(errno)));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  // Connected: the kernel delivers answers from that address only, and
  // reports a closed port (ICMP) as ECONNREFUSED.
  if (connect(fd, reinterpret_cast<sockaddr*>(&dst.ss), dst.len) != 0) {
    throw Error("flit rdma: cannot reach the management channel of " + uri + ": " +
                strerror(errno));
  }
  uint64_t nonce = secure_random_u64();
  uint8_t q[kQuerySize];
  std::memcpy(q, "FLRQ", 4);
  put32(q + 4, kMgmtVersion);
  put64(q + 8, nonce);

  const int attempts = static_cast<int>(resolve_timeout_ms_ / kRetryMs) + 1;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    (void)send(fd, q, sizeof q, 0);
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(kRetryMs);
    for (int wakes = 0; wakes < 16; ++wakes) {  // bounded: EINTR or stray datagrams
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      uint8_t a[64];
      ssize_t n = recv(fd, a, sizeof a, 0);
      if (n < 0) {
        if (errno == ECONNREFUSED) {
          throw Error("flit rdma: nothing listens at " + uri +
                      " (its management channel, UDP, refused the route query): is the server "
                      "running, with --transport rdma?");
        }
        continue;
      }
      if (n != static_cast<ssize_t>(kAnswerSize) || std::memcmp(a, "FLRA", 4) != 0 ||
          get32(a + 4) != kMgmtVersion || get64(a + 8) != nonce) {
        continue;  // stale or foreign
      }
      RouteInfo info{};
      info.qpn = get32(a + 16);
      info.qkey = get32(a + 20);
      info.packet_size = get32(a + 24);
      info.lid = static_cast<uint16_t>(a[28] | (a[29] << 8));
      info.global = a[30] != 0 ? 1 : 0;
      std::memcpy(info.gid, a + 32, 16);
      if (info.packet_size != mtu_) {
        throw Error("flit rdma: " + uri + " uses packets of " + std::to_string(info.packet_size) +
                    " bytes, this Rpc " + std::to_string(mtu_) +
                    ": both ends need the same MTU (NexusConfig::mtu, or the ports' active MTU)");
      }
      if (info.qkey != qkey_) {
        // Answers go out with our own Q_Key (a received packet's route has
        // no other): the peer's QP would drop every one.
        throw Error("flit rdma: " + uri + " uses Q_Key " + std::to_string(info.qkey) +
                    ", this Rpc " + std::to_string(qkey_) + ": both ends need the same qkey=");
      }
      Route r{};
      RdmaRoute* rr = rdma_route(&r);
      rr->qpn = info.qpn & 0xffffff;
      rr->qkey = info.qkey;
      rr->global = info.global;
      if (info.global) {
        std::memcpy(rr->gid, info.gid, 16);
      } else {
        rr->lid = info.lid;
      }
      errno = 0;
      const uint32_t ps = peer_slot(*rr, true);
      if (ps == kNoPeer) {
        throw Error("flit rdma: cannot create an address handle for " + uri + " (" +
                    route_to_string(r) + "): " +
                    (errno == EBUSY ? std::string("64 evicted handles still wait for their sends")
                                    : std::string(strerror(errno))));
      }
      rr->peer = ps;
      rr->peer_gen = peers_[ps].gen;
      return r;
    }
  }
  throw Error("flit rdma: no answer from " + uri + " within " +
              std::to_string(resolve_timeout_ms_) +
              " ms (its management channel is UDP to that host:port): is the server running with "
              "the rdma transport, and is UDP to it allowed?");
}

}  // namespace flit::transport
