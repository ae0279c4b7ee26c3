// transports/rdma/rdma_route.h: how a UD peer sits in a Route.
//
// A UD send names its destination by an address handle (the path: GID or
// LID, our port, our GID index), the remote QP number and the Q_Key. The
// address handle is owned by the transport's peer table (one per remote
// GID/LID, shared by every session to that host), which may evict it for
// another host; a Route names the table slot and its generation, and the
// transport looks the host up again when the generation has moved on, so a
// Route copied by the engine stays usable.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <cstring>

#include "flit/transport/transport.h"

namespace flit::transport {

struct RdmaRoute {
  uint64_t peer_gen;  // slot `peer`'s generation when the route took it (its address handle)
  uint32_t peer;      // slot in the transport's peer table
  uint32_t qpn;       // remote UD QP number (24 bits)
  uint32_t qkey;      // remote Q_Key
  uint8_t gid[16];    // remote GID when global, else zero
  uint16_t lid;       // remote LID when not global (InfiniBand without GRH)
  uint8_t global;     // 1: addressed by GID (RoCE, or InfiniBand with a GRH)
};
static_assert(sizeof(RdmaRoute) <= sizeof(Route));

// Whether the 40-byte GRH area a UD receive fills holds a RoCE v2 IPv4
// header (in its last 20 bytes; the first 20 are then undefined, often what
// an earlier packet left in the buffer) rather than an IPv6 or IB GRH. As
// rdma-core decides it: not version 6 in byte 0 means IPv4; version 6 there
// could be stale, so a well-formed IPv4 header (version 4, IHL 5, a correct
// header checksum) at byte 20 still means IPv4.
inline bool grh_holds_ipv4(const uint8_t* grh) {
  const uint8_t* ip4 = grh + 20;
  if ((grh[0] >> 4) != 6) return true;
  if (ip4[0] != 0x45) return false;
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += uint32_t{ip4[i]} << 8 | ip4[i + 1];
  while ((sum >> 16) != 0) sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

inline RdmaRoute* rdma_route(Route* r) { return reinterpret_cast<RdmaRoute*>(r->bytes); }
inline const RdmaRoute* rdma_route(const Route* r) {
  return reinterpret_cast<const RdmaRoute*>(r->bytes);
}

}  // namespace flit::transport
