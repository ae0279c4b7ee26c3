// transports/udp/udp_transport.h: flit over kernel UDP sockets.
//
// One non-blocking socket per Rpc (its own port), busy-polled, batched with
// recvmmsg/sendmmsg: one syscall per burst each way. IPv4 and IPv6; a socket
// bound to an unspecified address ("::") is dual-stack and reaches IPv4 peers
// through v4-mapped addresses. The default transport, and the one CI and
// laptops use.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>

#include "flit/transport/transport.h"

namespace flit::transport {

class UdpTransport final : public Transport {
 public:
  struct Options {
    // Address to bind; "" means any (dual-stack "::" when IPv6 works, else
    // "0.0.0.0").
    std::string bind_host;
    uint16_t port = 0;  // 0: ephemeral
    // Largest flit packet to send (header included); 0: kDefaultMtu.
    size_t mtu = 0;
    // Socket buffer sizes (SO_RCVBUF/SO_SNDBUF, forced when root).
    size_t rcvbuf = 16 << 20;
    size_t sndbuf = 4 << 20;
  };
  // 1472: the UDP payload of a 1500-byte Ethernet frame over IPv4.
  static constexpr size_t kDefaultMtu = 1472;
  static constexpr size_t kMaxMtu = 65507;  // largest IPv4 UDP payload
  // Receive buffers; at most this many packets are held by the engine.
  static constexpr uint32_t kRxBufs = 256;
  static constexpr uint32_t kMaxBurst = 64;

  // Throws flit::Error (bad address, port in use, ...).
  explicit UdpTransport(const Options& opt);
  ~UdpTransport() override;

  std::string_view name() const override { return "udp"; }
  size_t max_packet_size() const override { return mtu_; }
  std::string local_uri() const override;
  Route resolve(std::string_view uri) override;
  std::vector<Route> resolve_all(std::string_view uri) override;
  bool same_peer(const Route& a, const Route& b) const override;
  std::string route_to_string(const Route& r) const override;

  uint32_t tx_burst(const TxPacket* pkts, uint32_t n) override;
  uint32_t rx_burst(RxPacket* pkts, uint32_t max) override;
  void rx_release(const RxPacket* pkts, uint32_t n) override;
  TransportStats stats() const override { return stats_; }

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  int family_ = AF_INET;
  bool any_v6_ = false;           // AF_INET6 on the any address
  bool dual_stack_ = false;       // any_v6_ and IPV6_V6ONLY off: reaches IPv4 peers too
  bool bound_v4_mapped_ = false;  // AF_INET6 on an IPv4-mapped address: reaches IPv4 only
  size_t mtu_;
  size_t rx_buf_size_;
  uint8_t* rx_mem_ = nullptr;  // kRxBufs buffers of rx_buf_size_
  size_t rx_mem_len_ = 0;
  uint32_t free_bufs_[kRxBufs];
  uint32_t num_free_ = 0;
  Route rx_routes_[kRxBufs];
  struct mmsghdr rx_msgs_[kMaxBurst];
  struct iovec rx_iov_[kMaxBurst];
  uint32_t rx_idx_[kMaxBurst];  // buffer each rx message slot points at
  uint32_t rx_filled_ = 0;      // slots the last recvmmsg filled
  struct mmsghdr tx_msgs_[kMaxBurst];
  struct iovec tx_iov_[kMaxBurst][2];
  TransportStats stats_;
};

}  // namespace flit::transport
