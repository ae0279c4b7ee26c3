// transports/dpdk/dpdk_frame.h: the Ethernet/IPv4/UDP frame around a flit
// packet, and how a DPDK peer address sits in a transport::Route.
//
// A frame is 14 bytes of Ethernet, 20 of IPv4 (no options sent; options
// accepted on receive), 8 of UDP, then the flit packet. Header-only helpers,
// used by both the control path (ARP, resolve) and the data path; no
// allocation, no syscall.
#pragma once

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf_core.h>
#include <rte_udp.h>

#include <cstdint>
#include <cstring>

#include "flit/transport/transport.h"
#include "inet_cksum.h"

namespace flit::transport {

// Bytes in front of the flit packet in every frame this transport sends.
inline constexpr uint32_t kFrameHdrSize =
    sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);
static_assert(kFrameHdrSize == 42, "Ethernet 14 + IPv4 20 + UDP 8");

// A peer: IPv4 address and UDP port (network byte order), and its MAC when
// known. Routes built from a received frame carry the frame's source MAC
// (mac_valid = 1), so a reply needs no neighbour lookup; routes from
// resolve() leave the MAC to the neighbour table, filled by ARP or by
// neighbor= options.
struct DpdkPeer {
  rte_be32_t ip;
  rte_be16_t udp_port;
  uint8_t mac_valid;
  uint8_t pad;
  rte_ether_addr mac;
  // Whose MAC frames to ip go to: ip itself on this endpoint's subnet, the
  // gateway otherwise (DpdkTransport::next_hop).
  rte_be32_t next_hop;
};
static_assert(sizeof(DpdkPeer) <= sizeof(Route));

inline DpdkPeer* dpdk_peer(Route* r) { return reinterpret_cast<DpdkPeer*>(r->bytes); }
inline const DpdkPeer* dpdk_peer(const Route* r) {
  return reinterpret_cast<const DpdkPeer*>(r->bytes);
}

// Writes Ethernet, IPv4 and UDP headers for a flit packet of flit_len bytes
// at frame. Checksums are left zero: the caller fills them (software,
// DpdkTransport::finish_frame) or asks the NIC to (offload). No allocation.
inline void write_frame_hdr(uint8_t* frame, const rte_ether_addr& src_mac,
                            const rte_ether_addr& dst_mac, rte_be32_t src_ip, rte_be16_t src_port,
                            rte_be32_t dst_ip, rte_be16_t dst_port, uint32_t flit_len) {
  auto* eth = reinterpret_cast<rte_ether_hdr*>(frame);
  rte_ether_addr_copy(&dst_mac, &eth->dst_addr);
  rte_ether_addr_copy(&src_mac, &eth->src_addr);
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = 0;
  ip->total_length = rte_cpu_to_be_16(
      static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + flit_len));
  ip->packet_id = 0;
  ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->hdr_checksum = 0;
  ip->src_addr = src_ip;
  ip->dst_addr = dst_ip;
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = src_port;
  udp->dst_port = dst_port;
  udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_udp_hdr) + flit_len));
  udp->dgram_cksum = 0;
}

// Whether a frame's or an ARP sender's addresses name one host: a
// unicast, non-zero MAC and an IPv4 address that is not 0, the limited
// broadcast or multicast (224.0.0.0/4).
inline bool unicast_source(const rte_ether_addr& mac, rte_be32_t ip) {
  const uint32_t h = rte_be_to_cpu_32(ip);
  return rte_is_valid_assigned_ether_addr(&mac) && h != 0 && h != 0xffffffffu &&
         (h & 0xf0000000u) != 0xe0000000u;
}

// Whether a received IPv4 header (ihl bytes) and its UDP datagram (udp_len
// bytes, checksum non-zero) carry correct checksums, in software.
inline bool ipv4_header_cksum_ok(const rte_ipv4_hdr* ip, uint32_t ihl) {
  return cksum_fold(cksum_add(ip, ihl, 0)) == 0xffff;
}
inline bool udp_cksum_ok(const rte_ipv4_hdr* ip, const rte_udp_hdr* udp, uint32_t udp_len) {
  const uint64_t pseudo = ipv4_udp_pseudo_sum(ip->src_addr, ip->dst_addr, udp->dgram_len);
  return cksum_fold(cksum_add(udp, udp_len, pseudo)) == 0xffff;
}

// What a NIC's receive checksum flags (rte_mbuf ol_flags) say about a
// frame. Per DPDK: GOOD; BAD; NONE ("the checksum in the packet is not
// correct, but the integrity of the data is verified", e.g. a virtio or
// vhost peer's partial checksum: good, and a software check would reject
// it); UNKNOWN (no verdict: check in software).
enum class HwCksum { kGood, kBad, kUnknown };
// DPDK encodes each verdict in two bits: UNKNOWN none, GOOD or BAD one,
// NONE both.
static_assert(RTE_MBUF_F_RX_IP_CKSUM_NONE ==
              (RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_IP_CKSUM_BAD));
static_assert(RTE_MBUF_F_RX_L4_CKSUM_NONE ==
              (RTE_MBUF_F_RX_L4_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_BAD));
inline HwCksum cksum_verdict(uint64_t ol_flags, uint64_t good, uint64_t bad) {
  const uint64_t f = ol_flags & (good | bad);
  return f == 0 ? HwCksum::kUnknown : f == bad ? HwCksum::kBad : HwCksum::kGood;
}
inline HwCksum ip_cksum_verdict(uint64_t ol_flags) {
  return cksum_verdict(ol_flags, RTE_MBUF_F_RX_IP_CKSUM_GOOD, RTE_MBUF_F_RX_IP_CKSUM_BAD);
}
inline HwCksum l4_cksum_verdict(uint64_t ol_flags) {
  return cksum_verdict(ol_flags, RTE_MBUF_F_RX_L4_CKSUM_GOOD, RTE_MBUF_F_RX_L4_CKSUM_BAD);
}

inline std::string ipv4_to_string(rte_be32_t ip) {
  uint32_t h = rte_be_to_cpu_32(ip);
  return std::to_string(h >> 24) + "." + std::to_string((h >> 16) & 255) + "." +
         std::to_string((h >> 8) & 255) + "." + std::to_string(h & 255);
}

inline std::string mac_to_string(const rte_ether_addr& m) {
  char buf[RTE_ETHER_ADDR_FMT_SIZE];
  rte_ether_format_addr(buf, sizeof buf, &m);
  return buf;
}

}  // namespace flit::transport
