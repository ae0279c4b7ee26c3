// transports/udp/udp_datapath.cc: the UDP data path. One sendmmsg per
// transmit burst, one recvmmsg per receive burst; no allocation, no lock.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "flit/config.h"
#include "udp_route.h"
#include "udp_transport.h"

namespace flit::transport {

uint32_t UdpTransport::tx_burst(const TxPacket* pkts, uint32_t n) {
  uint32_t sent = 0;
  uint32_t done = 0;
  while (done < n) {
    uint32_t m = std::min<uint32_t>(n - done, kMaxBurst);
    for (uint32_t i = 0; i < m; ++i) {
      const TxPacket& p = pkts[done + i];
      const UdpAddr* a = udp_addr(p.route);
      msghdr& h = tx_msgs_[i].msg_hdr;
      tx_iov_[i][0].iov_base = const_cast<uint8_t*>(p.hdr);
      tx_iov_[i][0].iov_len = kPktHdrSize;
      tx_iov_[i][1].iov_base = const_cast<uint8_t*>(p.payload);
      tx_iov_[i][1].iov_len = p.payload_len;
      h.msg_name = const_cast<sockaddr*>(&a->sa);
      h.msg_namelen = a->len;
      h.msg_iov = tx_iov_[i];
      h.msg_iovlen = p.payload_len == 0 ? 1 : 2;
    }
    uint32_t off = 0;
    while (off < m) {
      int r = sendmmsg(fd_, tx_msgs_ + off, m - off, MSG_DONTWAIT);
      if (r > 0) {
        off += static_cast<uint32_t>(r);
        sent += static_cast<uint32_t>(r);
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        // The socket buffer is full: so is it for the rest of this burst.
        // Drop them like the wire would, with no more system calls until
        // the next burst (the engine's retransmission recovers them).
        stats_.tx_dropped += n - done - off;
        return sent;
      }
      // The first remaining packet failed on its own (its destination
      // unreachable, too large for the route): drop it, and go on.
      off++;
      stats_.tx_dropped++;
    }
    done += m;
  }
  return sent;
}

uint32_t UdpTransport::rx_burst(RxPacket* pkts, uint32_t max) {
  uint32_t want = std::min<uint32_t>({max, num_free_, kMaxBurst});
  if (want == 0) return 0;
  // The message headers are built once (constructor); per call only what
  // changed is rewritten: a slot whose buffer differs from last time, and the
  // address lengths the kernel overwrote for the packets it filled. The
  // engine releases every burst before the next, so usually nothing changes
  // and an empty poll costs little beyond the syscall.
  for (uint32_t i = 0; i < want; ++i) {
    uint32_t b = free_bufs_[num_free_ - 1 - i];
    if (rx_idx_[i] != b) [[unlikely]] {
      rx_idx_[i] = b;
      rx_iov_[i].iov_base = rx_mem_ + size_t{b} * rx_buf_size_;
      rx_msgs_[i].msg_hdr.msg_name = &udp_addr(&rx_routes_[b])->sa;
    }
  }
  for (uint32_t i = 0; i < rx_filled_; ++i) rx_msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in6);
  rx_filled_ = 0;
  int r = recvmmsg(fd_, rx_msgs_, want, MSG_DONTWAIT, nullptr);
  if (r <= 0) {
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) stats_.rx_errors++;
    return 0;
  }
  uint32_t out = 0;
  uint32_t used = static_cast<uint32_t>(r);
  rx_filled_ = used;
  for (uint32_t i = 0; i < used; ++i) {
    const msghdr& h = rx_msgs_[i].msg_hdr;
    uint32_t b = rx_idx_[i];
    if ((h.msg_flags & MSG_TRUNC) != 0 || rx_msgs_[i].msg_len > mtu_) [[unlikely]] {
      stats_.rx_truncated++;  // larger than any packet a peer may send us
      continue;               // buffer b stays free
    }
    udp_addr(&rx_routes_[b])->len = h.msg_namelen;
    RxPacket& p = pkts[out++];
    p.data = rx_mem_ + size_t{b} * rx_buf_size_;
    p.len = rx_msgs_[i].msg_len;
    p.from = &rx_routes_[b];
    p.cookie = b;
  }
  // Take the buffers handed out off the free stack. The buffers were picked
  // from its top, in order; truncated ones go back on top.
  num_free_ -= want;
  for (uint32_t i = used; i < want; ++i) free_bufs_[num_free_++] = rx_idx_[i];
  for (uint32_t i = 0; i < used; ++i) {
    if ((rx_msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 || rx_msgs_[i].msg_len > mtu_)
      free_bufs_[num_free_++] = rx_idx_[i];
  }
  return out;
}

void UdpTransport::rx_release(const RxPacket* pkts, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) free_bufs_[num_free_++] = static_cast<uint32_t>(pkts[i].cookie);
}

}  // namespace flit::transport
