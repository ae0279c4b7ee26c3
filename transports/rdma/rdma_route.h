// transports/rdma/rdma_route.h: how a UD peer sits in a Route.
//
// A UD send names its destination by an address handle (the path: GID or
// LID, our port, our GID index), the remote QP number and the Q_Key. The
// address handle is owned by the transport's peer cache (one per remote
// GID/LID, shared by every session to that host) and lives until the
// transport is destroyed, so a Route copied by the engine stays usable.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <cstring>

#include "flit/transport/transport.h"

namespace flit::transport {

struct RdmaRoute {
  ibv_ah* ah;       // owned by the transport's PeerCache
  uint32_t qpn;     // remote UD QP number (24 bits)
  uint32_t qkey;    // remote Q_Key
  uint8_t gid[16];  // remote GID when global, else zero
  uint16_t lid;     // remote LID when not global (InfiniBand without GRH)
  uint8_t global;   // 1: addressed by GID (RoCE, or InfiniBand with a GRH)
};
static_assert(sizeof(RdmaRoute) <= sizeof(Route));

inline RdmaRoute* rdma_route(Route* r) { return reinterpret_cast<RdmaRoute*>(r->bytes); }
inline const RdmaRoute* rdma_route(const Route* r) {
  return reinterpret_cast<const RdmaRoute*>(r->bytes);
}

}  // namespace flit::transport
