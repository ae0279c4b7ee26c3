// transports/udp/udp_transport.cc: control path of the UDP transport
// (socket setup, address parsing). The data path is udp_datapath.cc.
#include "udp_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "flit/error.h"
#include "flit/uri.h"
#include "udp_route.h"

namespace flit::transport {

namespace {

std::string errstr() { return std::strerror(errno); }

// Resolves host:port for the given family (AF_UNSPEC: any): every address,
// in getaddrinfo's order. Throws when there is none.
std::vector<UdpAddr> lookup_all(const std::string& host, uint16_t port, int family,
                                std::string_view what) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_s = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), port_s.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    throw Error("flit udp: cannot resolve host '" + host + "' of " + std::string(what) + ": " +
                gai_strerror(rc));
  }
  std::vector<UdpAddr> out;
  for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_in6)) continue;
    UdpAddr a{};
    std::memcpy(&a.sa, ai->ai_addr, ai->ai_addrlen);
    a.len = ai->ai_addrlen;
    out.push_back(a);
  }
  freeaddrinfo(res);
  return out;
}

UdpAddr lookup(const std::string& host, uint16_t port, int family, std::string_view what) {
  std::vector<UdpAddr> all = lookup_all(host, port, family, what);
  if (all.empty())
    throw Error("flit udp: host '" + host + "' of " + std::string(what) + " has no address");
  return all.front();
}

// An IPv4 address as a dual-stack socket sends to it: ::ffff:a.b.c.d.
UdpAddr v4_mapped(const UdpAddr& a) {
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_port = a.in.sin_port;
  v6.sin6_addr.s6_addr[10] = 0xff;
  v6.sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(&v6.sin6_addr.s6_addr[12], &a.in.sin_addr, 4);
  UdpAddr m{};
  m.in6 = v6;
  m.len = sizeof v6;
  return m;
}

void set_buf(int fd, int opt_force, int opt, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, opt_force, &bytes, sizeof bytes) != 0) {
    (void)setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);  // capped by net.core.*mem_max
  }
}

// The other way: ::ffff:a.b.c.d as a.b.c.d.
UdpAddr v4_unmapped(const UdpAddr& a) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = a.in6.sin6_port;
  std::memcpy(&v4.sin_addr, &a.in6.sin6_addr.s6_addr[12], 4);
  UdpAddr u{};
  u.in = v4;
  u.len = sizeof v4;
  return u;
}

}  // namespace

UdpTransport::UdpTransport(const Options& opt) {
  mtu_ = opt.mtu == 0 ? kDefaultMtu : opt.mtu;
  if (mtu_ < 128 || mtu_ > kMaxMtu) {
    throw Error("flit udp: MTU " + std::to_string(mtu_) + " out of range [128, " +
                std::to_string(kMaxMtu) + "]");
  }
  UdpAddr bind_addr{};
  if (opt.bind_host.empty() || opt.bind_host == "::") {
    // Dual-stack any address, falling back to IPv4 where IPv6 is off.
    fd_ = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ >= 0) {
      family_ = AF_INET6;
      bind_addr.in6.sin6_family = AF_INET6;
      bind_addr.in6.sin6_addr = in6addr_any;
      bind_addr.in6.sin6_port = htons(opt.port);
      bind_addr.len = sizeof(sockaddr_in6);
    } else if (opt.bind_host.empty()) {
      family_ = AF_INET;
      bind_addr.in.sin_family = AF_INET;
      bind_addr.in.sin_addr.s_addr = htonl(INADDR_ANY);
      bind_addr.in.sin_port = htons(opt.port);
      bind_addr.len = sizeof(sockaddr_in);
    } else {
      throw Error("flit udp: cannot create an IPv6 socket: " + errstr());
    }
  } else {
    bind_addr = lookup(opt.bind_host, opt.port, AF_UNSPEC, "the listen address");
    family_ = bind_addr.sa.sa_family;
    bound_v4_mapped_ = family_ == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&bind_addr.in6.sin6_addr);
  }
  if (fd_ < 0) {
    fd_ = socket(family_, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw Error("flit udp: socket() failed: " + errstr());
  }
  // The IPv6 any address (however spelt: "", "::", "::0") is made
  // dual-stack: IPV6_V6ONLY is cleared explicitly, whatever the bindv6only
  // sysctl's default, and read back, since a system may refuse (then no
  // IPv4 peer is reachable, and resolve says why).
  any_v6_ = family_ == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&bind_addr.in6.sin6_addr);
  if (any_v6_) {
    int v6only = 0;
    setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
    socklen_t len = sizeof v6only;
    dual_stack_ = getsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) == 0 && v6only == 0;
  }
  if (bind(fd_, &bind_addr.sa, bind_addr.len) != 0) {
    int e = errno;
    close(fd_);
    fd_ = -1;
    std::string where = opt.bind_host.empty() ? std::string("*") : opt.bind_host;
    throw Error("flit udp: cannot bind " + where + ":" + std::to_string(opt.port) + ": " +
                std::strerror(e) +
                (e == EADDRINUSE ? " (another process listens there: pick another port)" : ""));
  }
  // Room for bursts from many sessions: a full socket queue drops packets,
  // which retransmission recovers, but slowly.
  set_buf(fd_, SO_RCVBUFFORCE, SO_RCVBUF, static_cast<int>(std::min<size_t>(opt.rcvbuf, 1u << 30)));
  set_buf(fd_, SO_SNDBUFFORCE, SO_SNDBUF, static_cast<int>(std::min<size_t>(opt.sndbuf, 1u << 30)));

  // A frame larger than the MTU is a peer's error: a buffer with a little
  // room past the MTU lets the kernel flag it (MSG_TRUNC) rather than cut it.
  rx_buf_size_ = (mtu_ + 64 + 63) / 64 * 64;
  rx_mem_len_ = rx_buf_size_ * kRxBufs;
  void* mem =
      mmap(nullptr, rx_mem_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    close(fd_);
    throw Error("flit udp: cannot map receive buffers: " + errstr());
  }
  rx_mem_ = static_cast<uint8_t*>(mem);
  for (uint32_t i = 0; i < kRxBufs; ++i) free_bufs_[i] = kRxBufs - 1 - i;
  num_free_ = kRxBufs;
  std::memset(rx_msgs_, 0, sizeof rx_msgs_);
  std::memset(tx_msgs_, 0, sizeof tx_msgs_);
  for (uint32_t i = 0; i < kMaxBurst; ++i) {
    rx_idx_[i] = UINT32_MAX;  // no buffer yet: rx_burst points the slot at one
    rx_iov_[i].iov_len = rx_buf_size_;
    msghdr& h = rx_msgs_[i].msg_hdr;
    h.msg_iov = &rx_iov_[i];
    h.msg_iovlen = 1;
    h.msg_namelen = sizeof(sockaddr_in6);
  }
}

UdpTransport::~UdpTransport() {
  if (fd_ >= 0) close(fd_);
  if (rx_mem_ != nullptr) munmap(rx_mem_, rx_mem_len_);
}

std::string UdpTransport::local_uri() const {
  Route r{};
  UdpAddr* a = udp_addr(&r);
  a->len = sizeof(sockaddr_in6);
  getsockname(fd_, &a->sa, &a->len);
  return route_to_string(r);
}

std::string UdpTransport::route_to_string(const Route& r) const {
  const UdpAddr* a = udp_addr(&r);
  char buf[INET6_ADDRSTRLEN] = {};
  if (a->sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &a->in.sin_addr, buf, sizeof buf);
    return std::string("udp://") + buf + ":" + std::to_string(ntohs(a->in.sin_port));
  }
  inet_ntop(AF_INET6, &a->in6.sin6_addr, buf, sizeof buf);
  std::string host = buf;
  if (a->in6.sin6_scope_id != 0) {
    // A link-local address names a host only with its interface:
    // fe80::1%eth0 (or the interface's number if it has no name).
    char ifname[IF_NAMESIZE] = {};
    host += '%';
    host += if_indextoname(a->in6.sin6_scope_id, ifname) != nullptr
                ? std::string(ifname)
                : std::to_string(a->in6.sin6_scope_id);
  }
  return "udp://[" + host + "]:" + std::to_string(ntohs(a->in6.sin6_port));
}

Route UdpTransport::resolve(std::string_view text) { return resolve_all(text).front(); }

std::vector<Route> UdpTransport::resolve_all(std::string_view text) {
  Uri u = parse_uri(text);
  if (u.scheme != "udp") {
    throw Error("flit udp: cannot reach '" + std::string(text) + "' over UDP: its scheme is '" +
                u.scheme + "' (this Rpc's transport is udp)");
  }
  if (u.port == 0)
    throw Error("bad URI '" + std::string(text) + "': port 0 cannot be connected to");
  // Every address this socket can send to, in the resolver's order, once
  // each: a name such as localhost often has ::1 first and 127.0.0.1
  // second, and the server may listen on either.
  std::vector<Route> routes;
  bool skipped_v6 = false, skipped_v4 = false;
  for (const UdpAddr& found : lookup_all(u.host, u.port, AF_UNSPEC, std::string(text))) {
    UdpAddr a = found;
    if (family_ == AF_INET && a.sa.sa_family == AF_INET6 &&
        IN6_IS_ADDR_V4MAPPED(&a.in6.sin6_addr)) {
      a = v4_unmapped(a);  // ::ffff:a.b.c.d is a.b.c.d to an IPv4 socket
    }
    if (family_ == AF_INET && a.sa.sa_family == AF_INET6) {
      skipped_v6 = true;  // an IPv4 socket cannot reach it
      continue;
    }
    const bool v4_peer = a.sa.sa_family == AF_INET ||
                         (a.sa.sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a.in6.sin6_addr));
    if (family_ == AF_INET6 && bound_v4_mapped_ && !v4_peer) {
      skipped_v6 = true;  // a socket on an IPv4-mapped address is an IPv4 one
      continue;
    }
    if (family_ == AF_INET6 && !dual_stack_ && !bound_v4_mapped_ && v4_peer) {
      skipped_v4 = true;  // nor can one bound to one IPv6 address, or IPv6-only
      continue;
    }
    if (family_ == AF_INET6 && a.sa.sa_family == AF_INET) a = v4_mapped(a);
    if (a.sa.sa_family != AF_INET && a.sa.sa_family != AF_INET6) continue;
    Route r{};
    *udp_addr(&r) = a;
    bool dup = false;
    for (const Route& seen : routes) dup = dup || same_peer(seen, r);
    if (!dup) routes.push_back(r);
  }
  if (routes.empty()) {
    throw Error("flit udp: cannot reach '" + std::string(text) + "'" +
                (skipped_v6 ? ": it has only IPv6 addresses and this Rpc's socket is IPv4 (bind "
                              "the client to an IPv6 or dual-stack address)"
                 : skipped_v4 && any_v6_
                     ? ": it has only IPv4 addresses and this Rpc's socket on the IPv6 any "
                       "address is IPv6-only (the system refused to clear IPV6_V6ONLY): bind "
                       "the client to an IPv4 address"
                 : skipped_v4 ? ": it has only IPv4 addresses and this Rpc's socket is bound to "
                                "one IPv6 address (bind to :: or to an IPv4 address)"
                              : ": it has no IPv4 or IPv6 address"));
  }
  return routes;
}

bool UdpTransport::same_peer(const Route& ra, const Route& rb) const {
  const UdpAddr* a = udp_addr(&ra);
  const UdpAddr* b = udp_addr(&rb);
  if (a->sa.sa_family != b->sa.sa_family) return false;
  if (a->sa.sa_family == AF_INET) {
    return a->in.sin_port == b->in.sin_port && a->in.sin_addr.s_addr == b->in.sin_addr.s_addr;
  }
  // A link-local address on two interfaces is two hosts.
  return a->in6.sin6_port == b->in6.sin6_port &&
         std::memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof(in6_addr)) == 0 &&
         (!IN6_IS_ADDR_LINKLOCAL(&a->in6.sin6_addr) ||
          a->in6.sin6_scope_id == b->in6.sin6_scope_id);
}

}  // namespace flit::transport
