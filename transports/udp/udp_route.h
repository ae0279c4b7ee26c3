// transports/udp/udp_route.h: how a UDP peer address sits in a Route.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "flit/transport/transport.h"

namespace flit::transport {

struct UdpAddr {
  union {
    sockaddr sa;
    sockaddr_in in;
    sockaddr_in6 in6;
  };
  socklen_t len;
};
static_assert(sizeof(UdpAddr) <= sizeof(Route));

inline UdpAddr* udp_addr(Route* r) { return reinterpret_cast<UdpAddr*>(r->bytes); }
inline const UdpAddr* udp_addr(const Route* r) {
  return reinterpret_cast<const UdpAddr*>(r->bytes);
}

}  // namespace flit::transport
