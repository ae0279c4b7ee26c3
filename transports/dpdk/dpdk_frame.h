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
#include <rte_udp.h>

#include <cstdint>
#include <cstring>

#include "flit/transport/transport.h"

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
};
static_assert(sizeof(DpdkPeer) <= sizeof(Route));

inline DpdkPeer* dpdk_peer(Route* r) { return reinterpret_cast<DpdkPeer*>(r->bytes); }
inline const DpdkPeer* dpdk_peer(const Route* r) {
  return reinterpret_cast<const DpdkPeer*>(r->bytes);
}

// Writes Ethernet, IPv4 and UDP headers for a flit packet of flit_len bytes
// at frame. Checksums are left zero: the caller fills them (software) or
// asks the NIC to (offload). No allocation.
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
  ip->total_length =
      rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + flit_len));
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

// Fills the IPv4 header checksum and the UDP checksum of a frame written by
// write_frame_hdr whose flit packet is contiguous after it. Cost: one pass
// over the packet. A computed UDP checksum of 0 is sent as 0xffff (RFC 768).
inline void fill_checksums_sw(uint8_t* frame) {
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(frame + sizeof(rte_ether_hdr));
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  ip->hdr_checksum = 0;
  udp->dgram_cksum = 0;
  udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);  // maps 0 to 0xffff itself
  ip->hdr_checksum = rte_ipv4_cksum(ip);
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
