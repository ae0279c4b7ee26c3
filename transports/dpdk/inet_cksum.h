// transports/dpdk/inet_cksum.h: the Internet checksum (RFC 1071) for the DPDK
// transport's software path (ports without checksum offload, memif among
// them), on both transmit and receive.
//
// Why not rte_raw_cksum: DPDK 22.11 adds one 16-bit word per iteration, about
// a cycle per byte pair and twice per round trip on each side. Here 32-bit
// words go into a 64-bit accumulator, four at a time: since 2^16 = 1 modulo
// 0xffff, a 32-bit word hi:lo counts as hi + lo, so the folded sum is the
// same ones'-complement sum of 16-bit words, in the same (native) byte order
// as DPDK's, at a quarter of the additions. No DPDK dependency, so the fast
// test suite checks it against a plain RFC 1071 reference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace flit::transport {

// Adds the len bytes at p to a partial sum (16-bit words in memory order; an
// odd last byte is padded with zero, as RFC 1071 says). p needs no alignment;
// len up to 16 GiB before the accumulator could overflow.
inline uint64_t cksum_add(const void* p, size_t len, uint64_t acc) {
  const auto* b = static_cast<const uint8_t*>(p);
  uint64_t a0 = acc, a1 = 0, a2 = 0, a3 = 0;
  for (; len >= 16; b += 16, len -= 16) {
    uint32_t w[4];
    std::memcpy(w, b, 16);
    a0 += w[0];
    a1 += w[1];
    a2 += w[2];
    a3 += w[3];
  }
  for (; len >= 4; b += 4, len -= 4) {
    uint32_t w;
    std::memcpy(&w, b, 4);
    a0 += w;
  }
  if (len != 0) {
    uint32_t w = 0;  // the last 1-3 bytes, zero-padded at the end
    std::memcpy(&w, b, len);
    a0 += w;
  }
  return a0 + a1 + a2 + a3;
}

// Reduces a partial sum to 16 bits with end-around carries (not complemented).
// 0xffff is what a correct checksummed header sums to.
inline uint16_t cksum_fold(uint64_t acc) {
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffffffu) + (acc >> 32);
  auto s = static_cast<uint32_t>(acc);
  s = (s & 0xffffu) + (s >> 16);
  s = (s & 0xffffu) + (s >> 16);
  return static_cast<uint16_t>(s);
}

// The UDP-over-IPv4 pseudo header's partial sum: addresses and lengths as
// they sit in the headers (network byte order), protocol 17.
inline uint64_t ipv4_udp_pseudo_sum(uint32_t src_be, uint32_t dst_be, uint16_t udp_len_be) {
  constexpr uint8_t kZeroProto[2] = {0, 17};
  uint16_t zp;
  std::memcpy(&zp, kZeroProto, 2);
  return uint64_t{src_be} + dst_be + zp + udp_len_be;
}

}  // namespace flit::transport
