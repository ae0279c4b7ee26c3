// flit/transport/transport.h: what a transport author implements.
//
// A transport moves packets between endpoints: bursts of frames, each frame a
// flit packet (kPktHdrSize header + payload). The engine calls it from the
// owning Rpc's thread only, one virtual call per burst, never per packet.
//
// Control path (may allocate, block, throw flit::Error): construction,
// resolve(), local_uri(), register_memory().
// Data path (no allocation, no lock; a syscall only where the transport is
// the kernel's): tx_burst(), rx_burst(), rx_release().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flit::transport {

// Where a packet goes or came from, in the transport's own terms (a
// sockaddr for UDP; MAC, IP and port for DPDK; an address handle and QP
// number for RDMA). Opaque to the engine, which copies it by value.
struct Route {
  alignas(8) uint8_t bytes[64];
};

// One packet to send: header (kPktHdrSize bytes) followed by payload. hdr
// and payload may be adjacent; the transport must not assume so.
// The header is valid only during tx_burst (copy it or gather it); the
// payload stays valid and unchanged until the engine frees the message,
// which may be as soon as tx_burst returns: a transport that DMAs from it
// waits for the send's completion inside tx_burst (docs/transports.md).
struct TxPacket {
  const Route* route;
  const uint8_t* hdr;
  const uint8_t* payload;
  uint32_t payload_len;
};

// One received packet. data/len cover the flit packet (header first), with
// every lower-layer header stripped. from points into transport memory.
// Both stay valid until rx_release() for that packet.
struct RxPacket {
  const uint8_t* data;
  uint32_t len;
  const Route* from;
  uintptr_t cookie;  // transport's own, e.g. the mbuf
};

struct TransportStats {
  uint64_t tx_dropped = 0;    // packets the transport could not send (queue full, errors)
  uint64_t rx_errors = 0;     // receive-side errors reported by the OS or NIC
  uint64_t rx_truncated = 0;  // frames larger than the receive buffer
};

class Transport {
 public:
  virtual ~Transport() = default;

  // "udp", "dpdk", "rdma", "sim".
  virtual std::string_view name() const = 0;
  // Largest flit packet, header included, this transport carries.
  virtual size_t max_packet_size() const = 0;
  // This endpoint's address as a URI, e.g. "udp://127.0.0.1:31850".
  virtual std::string local_uri() const = 0;
  // Parses a URI of this transport's scheme into a route. Throws flit::Error
  // naming what is wrong with a malformed URI.
  virtual Route resolve(std::string_view uri) = 0;
  // Every route the URI names, in the order to try them (a host name with
  // both an IPv6 and an IPv4 address, say). A client's connect tries them
  // in turn, one per connect_retry, and keeps the one that answers. The
  // default is resolve()'s one route.
  virtual std::vector<Route> resolve_all(std::string_view uri) { return {resolve(uri)}; }
  // Called for every memory region the engine's buffer pool maps, before any
  // packet in it is sent (RDMA registers it; others ignore it).
  virtual void register_memory(void* /*addr*/, size_t /*len*/) {}
  // Whether two routes name the same peer (used to tell which of a name's
  // addresses a connect ack came from).
  virtual bool same_peer(const Route& a, const Route& b) const = 0;
  // Human-readable form of a route, for logs and errors.
  virtual std::string route_to_string(const Route& r) const = 0;

  // Sends up to n packets; returns how many were accepted. The engine drops
  // and counts the rest (the client's retransmission timer recovers them).
  // No allocation.
  virtual uint32_t tx_burst(const TxPacket* pkts, uint32_t n) = 0;
  // Receives up to max packets into pkts; returns the count. Non-blocking.
  virtual uint32_t rx_burst(RxPacket* pkts, uint32_t max) = 0;
  // Gives received packets back. Every packet from rx_burst is released
  // exactly once, in any order.
  virtual void rx_release(const RxPacket* pkts, uint32_t n) = 0;

  virtual TransportStats stats() const = 0;
  // The transport's own counters by name (drops by reason, ARP, address
  // handles), for operators and tools; control path. None by default.
  struct Counter {
    std::string name;
    uint64_t value;
  };
  virtual std::vector<Counter> counters() const { return {}; }
};

}  // namespace flit::transport
