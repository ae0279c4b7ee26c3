// The DPDK transport's software Internet checksum (transports/dpdk/
// inet_cksum.h) against a plain RFC 1071 reference: every length, start
// offset and split point on random data, and the RFC's worked example.
// No DPDK needed, so it runs in the fast suite.
#include "inet_cksum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace flit::transport {
namespace {

// RFC 1071 as written: big-endian 16-bit words, the odd byte padded with
// zero, end-around carry. Returns the folded sum in network order.
uint16_t reference_sum(const uint8_t* p, size_t len) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < len; i += 2) s += (uint32_t{p[i]} << 8) | p[i + 1];
  if (len % 2 != 0) s += uint32_t{p[len - 1]} << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

// cksum_fold's result is in host order over native 16-bit loads: store it
// back natively and read the bytes as a network-order value.
uint16_t as_network(uint16_t native) {
  uint8_t b[2];
  std::memcpy(b, &native, 2);
  return static_cast<uint16_t>((b[0] << 8) | b[1]);
}

TEST(InetCksum, Rfc1071Example) {
  // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to dd f2.
  const uint8_t bytes[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(as_network(cksum_fold(cksum_add(bytes, sizeof bytes, 0))), 0xddf2);
  EXPECT_EQ(reference_sum(bytes, sizeof bytes), 0xddf2);
}

TEST(InetCksum, MatchesReferenceForEveryLengthAndOffset) {
  std::mt19937 rng(1071);
  std::vector<uint8_t> buf(2100);
  for (int round = 0; round < 4; ++round) {
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    if (round == 1) std::fill(buf.begin(), buf.end(), 0xff);  // carries everywhere
    for (size_t off = 0; off < 8; ++off) {
      for (size_t len = 0; len <= 2048; ++len) {
        const uint16_t want = reference_sum(buf.data() + off, len);
        const uint16_t got = as_network(cksum_fold(cksum_add(buf.data() + off, len, 0)));
        // 0 and 0xffff are the same number in ones' complement; only an
        // all-zero input may give 0.
        if (want == 0 || want == 0xffff) {
          EXPECT_TRUE(got == 0 || got == 0xffff) << "off " << off << " len " << len;
        } else {
          ASSERT_EQ(got, want) << "off " << off << " len " << len;
        }
      }
    }
  }
}

TEST(InetCksum, SplitsAtEvenPointsAddUp) {
  // The transmit path sums headers and payload separately.
  std::mt19937 rng(768);
  std::vector<uint8_t> buf(1500);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  const uint16_t whole = cksum_fold(cksum_add(buf.data(), buf.size(), 0));
  for (size_t cut = 0; cut <= buf.size(); cut += 2) {
    uint64_t acc = cksum_add(buf.data(), cut, 0);
    acc = cksum_add(buf.data() + cut, buf.size() - cut, acc);
    ASSERT_EQ(cksum_fold(acc), whole) << "cut " << cut;
  }
}

TEST(InetCksum, PseudoHeaderAndChecksummedDatagramVerify) {
  // A datagram whose checksum field is filled the way fill_checksums_sw
  // fills it sums, with its pseudo header, to 0xffff; one flipped bit does not.
  std::mt19937 rng(17);
  for (size_t payload = 0; payload < 300; ++payload) {
    std::vector<uint8_t> udp(8 + payload);
    for (auto& b : udp) b = static_cast<uint8_t>(rng());
    const uint16_t len_be = static_cast<uint16_t>(((udp.size() & 0xff) << 8) | (udp.size() >> 8));
    std::memcpy(&udp[4], &len_be, 2);
    udp[6] = udp[7] = 0;
    const uint32_t src = rng(), dst = rng();
    const uint64_t pseudo = ipv4_udp_pseudo_sum(src, dst, len_be);
    const auto c = static_cast<uint16_t>(~cksum_fold(cksum_add(udp.data(), udp.size(), pseudo)));
    std::memcpy(&udp[6], &c, 2);
    EXPECT_EQ(cksum_fold(cksum_add(udp.data(), udp.size(), pseudo)), 0xffff);
    udp[rng() % udp.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    EXPECT_NE(cksum_fold(cksum_add(udp.data(), udp.size(), pseudo)), 0xffff);
  }
}

}  // namespace
}  // namespace flit::transport
