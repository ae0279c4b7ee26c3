// transports/dpdk/dpdk_datapath.cc: the DPDK data path. One rte_eth_rx_burst
// per receive burst, one rte_eth_tx_burst per transmit chunk of kMaxBurst.
// No allocation (mbufs come from the queue's pool), no lock (the neighbour
// table is read lock-free), no syscall.
//
// Receive is zero-copy: the engine gets a pointer into the mbuf, past the
// Ethernet/IPv4/UDP headers, and the sender's Route in the mbuf's private
// area; the mbuf goes back to the pool in rx_release(). Transmit copies the
// 40-byte header and the payload into one mbuf per frame, or, with
// tx_zero_copy=1, attaches payloads of kZeroCopyMinPayload bytes or more as
// an external buffer (a second segment) so the only copy is the PMD's into
// its ring. That is allowed only on ports whose PMD copies inside
// rte_eth_tx_burst (net_memif, net_af_packet): a NIC would read the payload
// by DMA later, after the engine may have reused it (TxPacket's contract).
#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>

#include <algorithm>
#include <cstring>

#include "dpdk_transport.h"
#include "flit/config.h"
#include "flit/error.h"

namespace flit::transport {

namespace {
constexpr uint32_t kL3Off = sizeof(rte_ether_hdr);
constexpr uint32_t kL4Off = kL3Off + sizeof(rte_ipv4_hdr);
}  // namespace

// Fills checksums (software or offload) and lengths of a frame whose flit
// packet p (flit_len bytes, to peer) is already in place. No allocation.
//
// The software checksums are computed from the header values this function
// knows and from the engine's header and payload buffers, never by reading
// back the frame just written: a 4-byte load over fields written a moment
// ago by narrower stores cannot be forwarded from the store buffer and
// stalls until they reach the cache (about a quarter of the transmit cost
// on loopback, bench/dpdk/dpdk_micro_bench.cc).
FLIT_HOT void DpdkTransport::finish_frame(rte_mbuf* m, const TxPacket& p, const DpdkPeer& peer,
                                          uint32_t flit_len) {
  m->data_len = static_cast<uint16_t>(kFrameHdrSize + flit_len);
  m->pkt_len = m->data_len;
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(frame + kL3Off);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(frame + kL4Off);
  if (tx_cksum_) {
    m->l2_len = kL3Off;
    m->l3_len = sizeof(rte_ipv4_hdr);
    m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
    ip->hdr_checksum = 0;
    udp->dgram_cksum = 0;
    if (tx_udp_cksum_) {
      m->ol_flags |= RTE_MBUF_F_TX_UDP_CKSUM;
      udp->dgram_cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);  // the NIC adds the rest
    }
    return;
  }
  const uint16_t ip_len =
      rte_cpu_to_be_16(static_cast<uint16_t>(kFrameHdrSize - kL3Off + flit_len));
  const uint16_t udp_len =
      rte_cpu_to_be_16(static_cast<uint16_t>(kFrameHdrSize - kL4Off + flit_len));
  ip->hdr_checksum = static_cast<uint16_t>(~cksum_fold(ip_sum_base_ + peer.ip + ip_len));
  if (!tx_udp_cksum_) {
    udp->dgram_cksum = 0;  // none: the peer skips verifying it
    return;
  }
  // Pseudo header and UDP header (its length counts in both), then the packet.
  uint64_t acc = udp_sum_base_ + peer.ip + peer.udp_port + 2 * uint64_t{udp_len};
  acc = cksum_add(p.hdr, kPktHdrSize, acc);
  acc = cksum_add(p.payload, p.payload_len, acc);  // starts at an even offset
  const auto c = static_cast<uint16_t>(~cksum_fold(acc));
  udp->dgram_cksum = c == 0 ? 0xffff : c;  // RFC 768: 0 would mean "none"
}

// The same for a frame whose payload is a second, external segment: the
// first holds the Ethernet/IPv4/UDP and flit headers. No allocation.
void DpdkTransport::finish_chained_frame(rte_mbuf* m, uint32_t flit_len) {
  m->data_len = static_cast<uint16_t>(kFrameHdrSize + kPktHdrSize);
  m->pkt_len = kFrameHdrSize + flit_len;
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(frame + kL3Off);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(frame + kL4Off);
  ip->hdr_checksum = 0;
  udp->dgram_cksum = 0;
  if (tx_cksum_) {
    m->l2_len = kL3Off;
    m->l3_len = sizeof(rte_ipv4_hdr);
    m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
    if (tx_udp_cksum_) {
      m->ol_flags |= RTE_MBUF_F_TX_UDP_CKSUM;
      udp->dgram_cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
    }
  } else {
    if (tx_udp_cksum_)
      udp->dgram_cksum = rte_ipv4_udptcp_cksum_mbuf(m, ip, kL4Off);  // both segments
    ip->hdr_checksum = rte_ipv4_cksum(ip);
  }
}

// Runs flush_pending when it can have work: the neighbour table's
// generation moved since it last looked, or a held hop's retry or give-up
// time came. One load, and a clock read only while frames are held.
FLIT_HOT inline void DpdkTransport::flush_if_due() {
  const uint64_t gen = port_->neighbors().generation();
  if (gen != flushed_gen_ || (num_held_ != 0 && rte_get_tsc_cycles() >= next_deadline_tsc_))
      [[unlikely]]
    flush_pending(gen);
}

// Sends n built frames (n may be 0), after any held frames now due; frees
// those the port does not take. Returns how many it took.
FLIT_HOT uint32_t DpdkTransport::send_built(rte_mbuf** out, uint32_t n) {
  // A frame in `out` whose MAC was learned since frames for its hop were
  // held moved the generation: those go first.
  flush_if_due();
  if (n == 0) return 0;
  const uint16_t sent = rte_eth_tx_burst(port_id_, queue_, out, static_cast<uint16_t>(n));
  if (sent < n) [[unlikely]] {
    // The ring is full: drop like a wire would; the engine's
    // retransmission recovers. Retrying here would only spin.
    rte_pktmbuf_free_bulk(out + sent, n - sent);
    dstats_.tx_queue_full += n - sent;
    stats_.tx_dropped += n - sent;
  }
  return sent;
}

FLIT_HOT uint32_t DpdkTransport::tx_burst(const TxPacket* pkts, uint32_t n) {
  uint32_t accepted = 0;
  rte_mbuf* m[kMaxBurst];
  rte_mbuf* out[kMaxBurst];
  const bool table_changed = port_->neighbors().any_changed();  // once per burst
  for (uint32_t done = 0; done < n;) {
    uint32_t chunk = std::min(n - done, kMaxBurst);
    if (rte_pktmbuf_alloc_bulk(pool_, m, chunk) != 0) [[unlikely]] {
      dstats_.tx_no_mbuf += n - done;
      stats_.tx_dropped += n - done;
      return accepted;
    }
    uint32_t nout = 0;
    for (uint32_t i = 0; i < chunk; ++i) {
      const TxPacket& p = pkts[done + i];
      const DpdkPeer* peer = dpdk_peer(p.route);
      const uint32_t flit_len = static_cast<uint32_t>(kPktHdrSize) + p.payload_len;
      FLIT_CHECK(flit_len <= mtu_, "engine sent a packet larger than max_packet_size", flit_len,
                 mtu_);
      uint8_t* frame = rte_pktmbuf_mtod(m[i], uint8_t*);
      rte_ether_addr dst;
      bool known = peer->mac_valid != 0;
      if (known) {
        dst = peer->mac;
        // A peer's MAC changed since (gratuitous ARP): the table's is newer.
        if (table_changed) [[unlikely]]
          port_->neighbors().lookup(peer->next_hop, &dst);
      } else {
        known = port_->neighbors().lookup(peer->next_hop, &dst);
      }
      write_frame_hdr(frame, mac_, dst, ip_, udp_port_, peer->ip, peer->udp_port, flit_len);
      std::memcpy(frame + kFrameHdrSize, p.hdr, kPktHdrSize);
      // Zero copy only for frames sent now: a frame held for ARP outlives
      // this call, and the payload is the engine's to reuse once we return.
      rte_mbuf* ext = nullptr;
      if (ext_pool_ != nullptr && known && p.payload_len >= kZeroCopyMinPayload) {
        ext = rte_pktmbuf_alloc(ext_pool_);  // none left: copy instead
      }
      if (ext != nullptr) {
        rte_mbuf_ext_refcnt_update(&ext_shinfo_, 1);
        rte_pktmbuf_attach_extbuf(ext, const_cast<uint8_t*>(p.payload), RTE_BAD_IOVA,
                                  static_cast<uint16_t>(p.payload_len), &ext_shinfo_);
        ext->data_len = static_cast<uint16_t>(p.payload_len);
        ext->pkt_len = p.payload_len;
        m[i]->next = ext;
        m[i]->nb_segs = 2;
        finish_chained_frame(m[i], flit_len);
        dstats_.tx_zero_copy++;
      } else {
        if (p.payload_len != 0)
          std::memcpy(frame + kFrameHdrSize + kPktHdrSize, p.payload, p.payload_len);
        finish_frame(m[i], p, *peer, flit_len);
      }
      if (known) [[likely]] {
        out[nout++] = m[i];
      } else {
        // The frames built before this one go first: one may be for this
        // hop, its MAC found by a lookup that an update of the table
        // (another queue's, or a re-verification's) then hid from this one.
        if (nout != 0) [[unlikely]] {
          accepted += send_built(out, nout);
          nout = 0;
          // That send's flush may have taken in a MAC learned after this
          // frame's lookup: the chunk's end looks at the held frames again.
          flushed_gen_ = kNoGeneration;
        }
        hold_for_arp(m[i], peer->next_hop);  // takes m[i]: sent or freed later
        accepted++;
      }
    }
    accepted += send_built(out, nout);
    done += chunk;
  }
  return accepted;
}

FLIT_HOT uint32_t DpdkTransport::rx_burst(RxPacket* pkts, uint32_t max) {
  if (++polls_ == kPollsPerClockCheck || reverify_slot_ != NeighborTable::kSlots) [[unlikely]]
    reverify_neighbors();
  rte_mbuf* m[kMaxBurst];
  uint16_t got =
      rte_eth_rx_burst(port_id_, queue_, m, static_cast<uint16_t>(std::min(max, kMaxBurst)));
  dstats_.rx_frames += got;
  uint32_t out = 0;
  for (uint16_t i = 0; i < got; ++i) {
    rte_mbuf* b = m[i];
    if (b->nb_segs != 1) [[unlikely]] {
      dstats_.rx_multi_segment++;
      stats_.rx_truncated++;
      rte_pktmbuf_free(b);
      continue;
    }
    const uint8_t* frame = rte_pktmbuf_mtod(b, const uint8_t*);
    const uint32_t flen = b->data_len;
    if (flen < kFrameHdrSize) [[unlikely]] {
      if (flen >= sizeof(rte_ether_hdr) &&
          reinterpret_cast<const rte_ether_hdr*>(frame)->ether_type ==
              RTE_BE16(RTE_ETHER_TYPE_ARP)) {
        handle_arp(b);
      } else {
        dstats_.rx_bad_header++;
      }
      rte_pktmbuf_free(b);
      continue;
    }
    const auto* eth = reinterpret_cast<const rte_ether_hdr*>(frame);
    if (eth->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV4)) [[unlikely]] {
      if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_ARP)) {
        handle_arp(b);
      } else {
        dstats_.rx_other++;
      }
      rte_pktmbuf_free(b);
      continue;
    }
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(frame + kL3Off);
    const uint32_t ihl = (ip->version_ihl & 0x0f) * 4u;
    const uint32_t ip_len = rte_be_to_cpu_16(ip->total_length);
    const bool bad_ip =
        (ip->version_ihl >> 4) != 4 || ihl < sizeof(rte_ipv4_hdr) ||
        ip_len < ihl + sizeof(rte_udp_hdr) || kL3Off + ip_len > flen ||
        (ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0;
    if (bad_ip || ip->next_proto_id != IPPROTO_UDP) [[unlikely]] {
      (bad_ip ? dstats_.rx_bad_header : dstats_.rx_other)++;
      rte_pktmbuf_free(b);
      continue;
    }
    const auto* udp = reinterpret_cast<const rte_udp_hdr*>(frame + kL3Off + ihl);
    if (ip->dst_addr != ip_ || udp->dst_port != udp_port_ ||
        !rte_is_same_ether_addr(&eth->dst_addr, &mac_)) [[unlikely]] {
      dstats_.rx_not_for_us++;  // flooded by a switch, or for another Rpc
      rte_pktmbuf_free(b);
      continue;
    }
    const uint32_t udp_len = rte_be_to_cpu_16(udp->dgram_len);
    if (udp_len != ip_len - ihl) [[unlikely]] {
      dstats_.rx_bad_header++;
      rte_pktmbuf_free(b);
      continue;
    }
    // Checksums: trust the NIC's verdict when it gives one.
    const HwCksum ipv = rx_cksum_ ? ip_cksum_verdict(b->ol_flags) : HwCksum::kUnknown;
    bool ok = ipv == HwCksum::kUnknown ? ipv4_header_cksum_ok(ip, ihl) : ipv == HwCksum::kGood;
    if (ok && udp->dgram_cksum != 0) {  // 0: the sender computed none (RFC 768)
      const HwCksum l4v = rx_cksum_ ? l4_cksum_verdict(b->ol_flags) : HwCksum::kUnknown;
      ok = l4v == HwCksum::kUnknown ? udp_cksum_ok(ip, udp, udp_len) : l4v == HwCksum::kGood;
    }
    if (!ok) [[unlikely]] {
      dstats_.rx_bad_checksum++;
      stats_.rx_errors++;
      rte_pktmbuf_free(b);
      continue;
    }
    // The sender must be one host: the engine may answer it (a reset for
    // an unknown session), and one spoofed frame from a broadcast or
    // multicast source would have us send to the whole segment.
    if (!unicast_source(eth->src_addr, ip->src_addr)) [[unlikely]] {
      dstats_.rx_bad_header++;
      rte_pktmbuf_free(b);
      continue;
    }
    // The sender, for the engine to answer: in the mbuf's private area,
    // valid until rx_release like the data.
    auto* from = static_cast<Route*>(rte_mbuf_to_priv(b));
    DpdkPeer* peer = dpdk_peer(from);
    peer->ip = ip->src_addr;
    peer->udp_port = udp->src_port;
    peer->mac_valid = 1;
    peer->pad = 0;
    rte_ether_addr_copy(&eth->src_addr, &peer->mac);
    peer->next_hop = next_hop(ip->src_addr);
    RxPacket& p = pkts[out++];
    p.data = reinterpret_cast<const uint8_t*>(udp + 1);
    p.len = udp_len - static_cast<uint32_t>(sizeof(rte_udp_hdr));
    p.from = from;
    p.cookie = reinterpret_cast<uintptr_t>(b);
  }
  // After the burst: frames held for a hop whose ARP answer it brought go
  // in this poll.
  flush_if_due();
  return out;
}

FLIT_HOT void DpdkTransport::rx_release(const RxPacket* pkts, uint32_t n) {
  rte_mbuf* m[kMaxBurst];
  for (uint32_t done = 0; done < n;) {
    uint32_t chunk = std::min(n - done, kMaxBurst);
    for (uint32_t i = 0; i < chunk; ++i) m[i] = reinterpret_cast<rte_mbuf*>(pkts[done + i].cookie);
    rte_pktmbuf_free_bulk(m, chunk);
    done += chunk;
  }
}

// ARP: answer who-has for our address; learn the sender of any ARP frame
// addressed to us (requests and replies), as a kernel does. Cold.
FLIT_COLD void DpdkTransport::handle_arp(rte_mbuf* m) {
  dstats_.arp_rx++;
  if (m->data_len < sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)) {
    dstats_.rx_bad_header++;
    return;
  }
  const auto* arp = rte_pktmbuf_mtod_offset(m, const rte_arp_hdr*, sizeof(rte_ether_hdr));
  if (arp->arp_hardware != RTE_BE16(RTE_ARP_HRD_ETHER) ||
      arp->arp_protocol != RTE_BE16(RTE_ETHER_TYPE_IPV4) || arp->arp_hlen != RTE_ETHER_ADDR_LEN ||
      arp->arp_plen != 4) {
    dstats_.rx_bad_header++;
    return;
  }
  const rte_arp_ipv4& a = arp->arp_data;
  // Only a sender that is one host is learned or answered; a probe (sender
  // address 0, RFC 5227) is answered but teaches nothing.
  const bool probe = a.arp_sip == 0;
  if (probe ? !rte_is_valid_assigned_ether_addr(&a.arp_sha)
            : !unicast_source(a.arp_sha, a.arp_sip)) {
    dstats_.rx_bad_header++;
    return;
  }
  if (a.arp_tip != ip_) {
    if (probe) return;
    // About someone else, or gratuitous (target = sender): only update a
    // peer we know, whose MAC may have changed (failover, a new NIC).
    if (a.arp_sip != ip_ && port_->neighbors().refresh(a.arp_sip, a.arp_sha)) {
      dstats_.arp_refreshed++;
    }
    return;
  }
  switch (probe ? NeighborTable::Learned::kAbsent
                : port_->neighbors().learn(a.arp_sip, a.arp_sha)) {
    case NeighborTable::Learned::kFull:
      dstats_.neighbor_table_full++;
      break;
    case NeighborTable::Learned::kEvicted:
      dstats_.neighbor_evicted++;
      break;
    case NeighborTable::Learned::kChanged:
      dstats_.arp_refreshed++;  // e.g. the answer to a re-verification
      break;
    case NeighborTable::Learned::kNew:
    case NeighborTable::Learned::kSame:
    case NeighborTable::Learned::kAbsent:
      break;
  }
  if (arp->arp_opcode == RTE_BE16(RTE_ARP_OP_REQUEST)) {
    send_arp(RTE_ARP_OP_REPLY, a.arp_sha, a.arp_sip);
    dstats_.arp_replies_tx++;
  }
}

FLIT_COLD void DpdkTransport::send_arp(uint16_t op, const rte_ether_addr& dst_mac,
                                       rte_be32_t dst_ip) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (m == nullptr) {
    dstats_.tx_no_mbuf++;
    return;
  }
  constexpr uint16_t kLen = sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr);
  uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
  std::memset(f, 0, RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN);  // padded to the minimum frame
  auto* eth = reinterpret_cast<rte_ether_hdr*>(f);
  rte_ether_addr bcast;
  std::memset(bcast.addr_bytes, 0xff, RTE_ETHER_ADDR_LEN);
  rte_ether_addr_copy(op == RTE_ARP_OP_REQUEST ? &bcast : &dst_mac, &eth->dst_addr);
  rte_ether_addr_copy(&mac_, &eth->src_addr);
  eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
  arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = RTE_ETHER_ADDR_LEN;
  arp->arp_plen = 4;
  arp->arp_opcode = rte_cpu_to_be_16(op);
  rte_ether_addr_copy(&mac_, &arp->arp_data.arp_sha);
  arp->arp_data.arp_sip = ip_;
  if (op == RTE_ARP_OP_REPLY) rte_ether_addr_copy(&dst_mac, &arp->arp_data.arp_tha);
  arp->arp_data.arp_tip = dst_ip;
  static_assert(kLen <= RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN);
  m->data_len = m->pkt_len = RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN;
  if (rte_eth_tx_burst(port_id_, queue_, &m, 1) != 1) {
    rte_pktmbuf_free(m);
    dstats_.tx_queue_full++;
  }
}

// A broadcast who-has for ip, counted.
FLIT_COLD void DpdkTransport::send_who_has(rte_be32_t ip) {
  rte_ether_addr none{};
  send_arp(RTE_ARP_OP_REQUEST, none, ip);
  dstats_.arp_requests_tx++;
}

// The ARP queue. A frame whose next hop's MAC is unknown waits in that
// hop's record (up to kMaxPendingPerHop per hop, kMaxPending in all, as a
// kernel's ARP queue holds a few packets per neighbour; the engine resends
// the rest) while one who-has per hop goes out, again every arp_retry_tsc_.
// A hop that has not answered arp_give_up_tsc_ after its first frame was
// held is given up, all its frames with it (as a kernel fails a neighbour).
//
// Held frames leave from one place, flush_pending, and only when it can
// have work (flush_if_due): the port's neighbour table moved its generation
// since the last flush looked (a MAC was learned: from an ARP answer this
// queue took, or by another queue's thread), or the earliest retry or
// give-up time came. It is checked at the end of every receive poll, so
// frames go out in the poll that brings their answer, and before each
// transmit chunk goes to the port, so a frame that found its hop's MAC never
// overtakes the frames held for that hop: its lookup found the MAC only if
// the generation moved since those were held (NeighborTable::generation).
// Nothing is scanned per packet.

// Keeps a built frame until its next hop's MAC is known, and asks: one
// who-has per hop, however many frames wait for it. Every hop keeps at
// least one slot: a frame for a new hop, with every slot taken, displaces
// the newest frame of the hop holding the most, so a few hops that never
// answer cannot shut the others out. If every slot holds a hop of its own,
// the frame is dropped (the engine resends it) but its hop is still asked,
// so that hops beyond these get resolved while those wait: at most once per
// retry interval, which a record without frames remembers. Takes m. No
// allocation.
FLIT_COLD void DpdkTransport::hold_for_arp(rte_mbuf* m, rte_be32_t ip) {
  const uint64_t now = rte_get_tsc_cycles();
  HeldHop* h = find_hop(ip);
  if (h != nullptr && h->num_frames != 0) {
    if (h->num_frames < kMaxPendingPerHop && num_held_ < kMaxPending) {
      h->frames[h->num_frames++] = m;  // asked already; flush_pending asks again on time
      num_held_++;
    } else {
      drop_unresolved(m);  // this hop's share, or every slot, taken
    }
    return;
  }
  if (h == nullptr) {
    h = add_hop(ip);
    h->asked_tsc = now - arp_retry_tsc_;  // due now
  }
  // A hop asked for a moment ago (while every slot was taken) is not asked
  // again before its retry interval ends.
  if (now - h->asked_tsc >= arp_retry_tsc_) {
    send_who_has(ip);
    h->asked_tsc = now;
  }
  if (num_held_ == kMaxPending && !displace_for_new_hop()) {
    drop_unresolved(m);  // h stays, without frames, to remember the ask
    return;
  }
  h->since_tsc = now;
  h->frames[0] = m;
  h->num_frames = 1;
  num_held_++;
  next_deadline_tsc_ = std::min(
      {next_deadline_tsc_, h->asked_tsc + arp_retry_tsc_, h->since_tsc + arp_give_up_tsc_});
}

// The record of next hop ip, or null.
DpdkTransport::HeldHop* DpdkTransport::find_hop(rte_be32_t ip) {
  for (uint32_t i = 0; i < num_hops_; ++i) {
    if (hops_[i].ip == ip) return &hops_[i];
  }
  return nullptr;
}

// A new record for ip, which has none, without frames; the caller sets its
// clocks. With every record in use it takes the place of the frame-less one
// asked for longest ago (there is one: kMaxHops > kMaxPending).
DpdkTransport::HeldHop* DpdkTransport::add_hop(rte_be32_t ip) {
  HeldHop* h = nullptr;
  if (num_hops_ < kMaxHops) {
    h = &hops_[num_hops_++];
  } else {
    for (HeldHop& c : hops_) {
      if (c.num_frames == 0 && (h == nullptr || c.asked_tsc < h->asked_tsc)) h = &c;
    }
  }
  h->ip = ip;
  h->num_frames = 0;
  return h;
}

// Forgets a record (its frames already sent or freed): the last one takes
// its place, so h then names another record, or none.
void DpdkTransport::remove_hop(HeldHop* h) {
  const HeldHop& last = hops_[--num_hops_];
  if (h != &last) *h = last;
}

// Frees a frame slot for a new hop: drops the newest frame of the hop
// holding the most frames, if that is more than one. False if every hop
// holds one.
FLIT_COLD bool DpdkTransport::displace_for_new_hop() {
  HeldHop* victim = nullptr;
  uint32_t most = 1;
  for (uint32_t i = 0; i < num_hops_; ++i) {
    if (hops_[i].num_frames <= most) continue;
    most = hops_[i].num_frames;
    victim = &hops_[i];
  }
  if (victim == nullptr) return false;
  drop_unresolved(victim->frames[--victim->num_frames]);
  num_held_--;
  return true;
}

// A frame whose destination's MAC is not known, and cannot wait: freed and
// counted (the engine resends it).
void DpdkTransport::drop_unresolved(rte_mbuf* m) {
  rte_pktmbuf_free(m);
  dstats_.tx_no_neighbor++;
  stats_.tx_dropped++;
}

// A learned MAC can go stale without a gratuitous ARP (a peer's NIC
// replaced, a VM moved, the announcement lost). Every arp_refresh_ms a
// who-has goes to each learned peer a lookup used since the last sweep, and
// every kReverifyAllEvery-th sweep to every learned peer; at most
// kReverifyPerPoll who-has and kReverifySlotsPerPoll slots per call. The
// answers update the table (handle_arp); frames keep using the known MAC
// meanwhile. Static entries are never asked.
FLIT_COLD void DpdkTransport::reverify_neighbors() {
  if (reverify_slot_ == NeighborTable::kSlots) {  // every kPollsPerClockCheck polls
    polls_ = 0;
    if (reverify_every_tsc_ == 0) return;
    const uint64_t now = rte_get_tsc_cycles();
    if (now - reverify_last_tsc_ < reverify_every_tsc_) return;
    reverify_last_tsc_ = now;
    reverify_slot_ = 0;  // start a sweep
    reverify_all_ = reverify_round_++ % kReverifyAllEvery == kReverifyAllEvery - 1;
  }
  NeighborTable& t = port_->neighbors();
  uint32_t sent = 0;
  for (uint32_t looked = 0; reverify_slot_ < NeighborTable::kSlots &&
                            looked < kReverifySlotsPerPoll && sent < kReverifyPerPoll;
       ++looked) {
    rte_be32_t ip = t.take_used(reverify_slot_++, reverify_all_);
    if (ip == 0) continue;
    send_who_has(ip);
    dstats_.arp_reverify_tx++;
    sent++;
  }
}

// Sends the frames of every held hop whose MAC is known now, oldest first,
// in one transmit call per hop; drops those of a hop that has not answered
// arp_give_up_tsc_ after its first frame was held; asks again for the
// others whose retry interval ended, and forgets frame-less records whose
// interval ended. gen: the table's generation, loaded before the lookups
// here. No allocation.
FLIT_COLD void DpdkTransport::flush_pending(uint64_t gen) {
  // Odd: a change was being written, which these lookups may miss. Counted
  // as the even value before it, so that a lookup that later finds that
  // change (tx_burst's) finds the generation moved past what is recorded.
  flushed_gen_ = gen & ~uint64_t{1};
  next_deadline_tsc_ = UINT64_MAX;
  if (num_held_ == 0) return;  // a frame-less record is judged when next found
  const uint64_t now = rte_get_tsc_cycles();
  for (uint32_t i = 0; i < num_hops_;) {
    HeldHop& h = hops_[i];
    rte_ether_addr mac;
    if (h.num_frames != 0 && port_->neighbors().lookup(h.ip, &mac)) {
      for (uint32_t k = 0; k < h.num_frames; ++k)
        rte_ether_addr_copy(&mac, &rte_pktmbuf_mtod(h.frames[k], rte_ether_hdr*)->dst_addr);
      const uint16_t sent =
          rte_eth_tx_burst(port_id_, queue_, h.frames, static_cast<uint16_t>(h.num_frames));
      if (sent < h.num_frames) {
        rte_pktmbuf_free_bulk(h.frames + sent, h.num_frames - sent);
        dstats_.tx_queue_full += h.num_frames - sent;
        stats_.tx_dropped += h.num_frames - sent;
      }
      num_held_ -= h.num_frames;
      remove_hop(&h);  // hops_[i] is the next one to look at
      continue;
    }
    if (h.num_frames != 0 && now - h.since_tsc >= arp_give_up_tsc_) {
      for (uint32_t k = 0; k < h.num_frames; ++k) drop_unresolved(h.frames[k]);
      num_held_ -= h.num_frames;
      remove_hop(&h);
      continue;
    }
    if (now - h.asked_tsc >= arp_retry_tsc_) {
      if (h.num_frames == 0) {
        remove_hop(&h);
        continue;
      }
      send_who_has(h.ip);
      h.asked_tsc = now;
    }
    if (h.num_frames != 0) {
      next_deadline_tsc_ = std::min(
          {next_deadline_tsc_, h.asked_tsc + arp_retry_tsc_, h.since_tsc + arp_give_up_tsc_});
    }
    ++i;
  }
}

}  // namespace flit::transport
