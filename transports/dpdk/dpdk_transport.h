// transports/dpdk/dpdk_transport.h: flit over DPDK, kernel bypass.
//
// Each Rpc polls its own receive/transmit queue pair of a DPDK port: no
// syscall and no copy on the receive path (the flit packet stays in its mbuf
// until the engine releases it). Frames are Ethernet/IPv4/UDP with correct
// checksums (the port's offload where it has one, software otherwise), so a
// DPDK endpoint talks to kernel-UDP endpoints on the same Ethernet segment:
// it answers ARP for its address and resolves its peers' MACs by ARP (or a
// static neighbor= table). Peers off this endpoint's subnet (prefix=N) are
// reached through a gateway (gateway=IPV4), whose MAC ARP resolves.
//
// Which queue an Rpc gets:
//   - port=NAME (one port, queues=N): Rpc k polls queue k; an rte_flow rule
//     steers its UDP port to it (NICs with flow steering).
//   - port=NAME0,NAME1,... : Rpc k gets port k to itself (queue 0), for ports
//     that cannot steer (net_memif, net_af_packet); each needs its own IPv4
//     address (ip=IP0,IP1,...), since ARP maps one address to one MAC.
//
//   flit::NexusConfig cfg;
//   cfg.listen_uri = "dpdk://198.18.0.2:31850";   // Rpc k: UDP port 31850 + k
//   cfg.transport_options = {"eal=--no-pci --in-memory -l 0 "
//                            "--vdev=net_memif0,role=server,socket=/run/flit.sock",
//                            "port=net_memif0"};
//
// docs/transports.md (DPDK) lists every option and error.
#pragma once

#include <pthread.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dpdk_frame.h"
#include "dpdk_port.h"
#include "flit/transport/transport.h"

namespace flit::transport {

// Counters beyond TransportStats, by reason. Owner thread only.
struct DpdkStats {
  uint64_t rx_frames = 0;            // frames taken from the queue
  uint64_t rx_not_for_us = 0;        // unicast to another MAC, IP or UDP port
  uint64_t rx_bad_header = 0;        // malformed Ethernet/IPv4/UDP, fragments, IP options overflow
  uint64_t rx_bad_checksum = 0;      // IPv4 or UDP checksum wrong
  uint64_t rx_other = 0;             // neither IPv4/UDP nor ARP (IPv6, LLDP, ...)
  uint64_t rx_multi_segment = 0;     // larger than one mbuf: larger than any packet we accept
  uint64_t arp_rx = 0;               // ARP frames received
  uint64_t arp_replies_tx = 0;       // answers to who-has our address
  uint64_t arp_requests_tx = 0;      // who-has for a peer we had no MAC for
  uint64_t tx_no_mbuf = 0;           // transmit pool empty
  uint64_t tx_queue_full = 0;        // the port took fewer frames than offered
  uint64_t tx_no_neighbor = 0;       // dropped: peer MAC unknown and no room to wait for ARP
  uint64_t tx_zero_copy = 0;         // frames whose payload went out as an external buffer
  uint64_t arp_refreshed = 0;        // a known peer's MAC changed (any ARP from it)
  uint64_t neighbor_table_full = 0;  // a peer's MAC not learned: its bucket is all static
  uint64_t neighbor_evicted = 0;     // a peer learned in another's place (CLOCK)
  uint64_t arp_reverify_tx = 0;      // who-has re-asking a learned peer (arp_refresh_ms)
};

class DpdkTransport final : public Transport {
 public:
  struct Options {
    std::string eal;                     // EAL arguments, e.g. "--in-memory -l 0 --vdev=..."
    std::vector<std::string> ports;      // one (shared by queue) or one per Rpc
    std::vector<std::string> ips;        // this Rpc's IPv4: entry rpc_id, or the only one
    std::vector<std::string> macs;       // port MAC overrides, indexed like ports
    std::vector<std::string> neighbors;  // static "IP@MAC" entries
    uint8_t prefix = 0;                  // subnet prefix length; 0: every address on-link
    std::string gateway;                 // next hop for addresses off the subnet
    uint32_t arp_refresh_ms = 30'000;    // re-ask learned peers this often; 0: never
    uint16_t queues = 1;                 // queue pairs on a shared port
    uint16_t rx_desc = 1024;
    uint16_t tx_desc = 1024;
    bool tx_zero_copy = false;  // payloads as external buffers (see below)
    // false: frames go out with UDP checksum 0, "none" (RFC 768, IPv4
    // only), and the peer skips verifying them: for links that cannot
    // corrupt a frame, such as net_memif's shared memory, where the
    // software checksum is most of the per-byte cost (docs/transports.md).
    bool udp_cksum = true;
    size_t mtu = 0;         // largest flit packet; 0: kDefaultMtu
    uint16_t udp_port = 0;  // 0: kClientPortBase + rpc_id
    uint8_t rpc_id = 0;
  };
  // 1472: the UDP payload of a 1500-byte Ethernet frame over IPv4, the same
  // default as the UDP transport so the two interoperate.
  static constexpr size_t kDefaultMtu = 1472;
  static constexpr size_t kMaxMtu = 9000 - 28;  // jumbo frame
  // Source UDP port of client-only Rpcs (no listen URI): this + rpc_id.
  static constexpr uint16_t kClientPortBase = 49152;
  // Frames per rte_eth_rx_burst / rte_eth_tx_burst call.
  static constexpr uint32_t kMaxBurst = 64;
  // Frames held while ARP resolves their destination, per Rpc, and per next
  // hop (peers behind a gateway share it; a few frames each, as a kernel's
  // ARP queue holds several, so that a burst of first calls to several
  // peers behind one gateway does not lose all but one to the engine's
  // retransmission timer). The port's pools have room for 64
  // (DpdkPort::setup).
  static constexpr uint32_t kMaxPending = 32;
  static constexpr uint32_t kMaxPendingPerHop = 8;
  static_assert(kMaxPending <= 64 && kMaxPendingPerHop <= kMaxPending);
  // Next hops the ARP queue keeps a record of: those holding frames (at most
  // kMaxPending) and, in the rest, hops asked for while every frame slot was
  // taken, remembered for their retry interval (hold_for_arp).
  static constexpr uint32_t kMaxHops = 2 * kMaxPending;
  static_assert(kMaxHops > kMaxPending, "a record without frames can always be reused");
  // With tx_zero_copy, payloads at least this long go out as an external
  // buffer chained to a header mbuf; shorter ones are copied (a second
  // segment costs more than copying a few cache lines: docs/BENCHMARKS.md (DPDK)).
  static constexpr uint32_t kZeroCopyMinPayload = 512;

  // Parses the transport options ("key=value" each; keys in
  // docs/transports.md (DPDK)) into o. Throws flit::Error listing the valid
  // keys for an unknown one.
  static void parse_options(const std::vector<std::string>& opts, Options* o);

  // Initialises the EAL (first transport of the process), opens and claims
  // this Rpc's port and queue. Throws flit::Error naming the fix.
  explicit DpdkTransport(const Options& opt);
  ~DpdkTransport() override;

  std::string_view name() const override { return "dpdk"; }
  size_t max_packet_size() const override { return mtu_; }
  std::string local_uri() const override;
  // Accepts dpdk://IPv4:port and udp://IPv4:port (a kernel-UDP peer is
  // reached the same way). Numeric IPv4 only: there is no resolver here.
  Route resolve(std::string_view uri) override;
  bool same_peer(const Route& a, const Route& b) const override;
  std::string route_to_string(const Route& r) const override;

  uint32_t tx_burst(const TxPacket* pkts, uint32_t n) override;
  uint32_t rx_burst(RxPacket* pkts, uint32_t max) override;
  void rx_release(const RxPacket* pkts, uint32_t n) override;
  TransportStats stats() const override { return stats_; }
  std::vector<Counter> counters() const override;

  const DpdkStats& dpdk_stats() const { return dstats_; }
  uint16_t port_id() const { return port_->id(); }
  uint16_t queue_id() const { return queue_; }
  // This Rpc's queue's mbuf pool, MAC, IPv4 address and UDP port (network
  // order): for tools that drive the same queue with raw frames
  // (flit-bench baseline --transport dpdk).
  rte_mempool* pool() const { return pool_; }
  const rte_ether_addr& mac() const { return mac_; }
  rte_be32_t ipv4() const { return ip_; }
  rte_be16_t udp_port() const { return udp_port_; }
  // The port's neighbour table, shared by its queues' transports (what one
  // queue's thread learns, the others use).
  NeighborTable& neighbors() { return port_->neighbors(); }
  // Whose MAC a frame to ip (network order) is sent to: ip itself when it is
  // on this endpoint's subnet (or no prefix= was given), else the gateway.
  rte_be32_t next_hop(rte_be32_t ip) const {
    return ((ip ^ ip_) & mask_) == 0 || gateway_ == 0 ? ip : gateway_;
  }

 private:
  // One next hop of the ARP queue: the frames waiting for its MAC, oldest
  // first, and its clocks. A record with no frames remembers when a hop was
  // asked for while every frame slot was taken, until its retry interval
  // ends. 88 bytes.
  struct HeldHop {
    rte_be32_t ip;
    uint32_t num_frames;                  // <= kMaxPendingPerHop
    uint64_t asked_tsc;                   // when the last who-has for ip went out
    uint64_t since_tsc;                   // when its oldest frame was held (the give-up clock)
    rte_mbuf* frames[kMaxPendingPerHop];  // built, but for the destination MAC
  };

  // Data path helpers (dpdk_datapath.cc).
  void handle_arp(rte_mbuf* m);
  void hold_for_arp(rte_mbuf* m, rte_be32_t ip);
  HeldHop* find_hop(rte_be32_t ip);
  HeldHop* add_hop(rte_be32_t ip);
  void remove_hop(HeldHop* h);
  bool displace_for_new_hop();
  void drop_unresolved(rte_mbuf* m);
  void send_arp(uint16_t op, const rte_ether_addr& dst_mac, rte_be32_t dst_ip);
  void send_who_has(rte_be32_t ip);
  void flush_if_due();
  uint32_t send_built(rte_mbuf** out, uint32_t n);
  void flush_pending(uint64_t gen);
  void reverify_neighbors();
  void finish_frame(rte_mbuf* m, const TxPacket& p, const DpdkPeer& peer, uint32_t flit_len);
  void finish_chained_frame(rte_mbuf* m, uint32_t flit_len);

  DpdkPort* port_ = nullptr;
  uint16_t port_id_ = 0;
  uint16_t queue_ = 0;
  rte_mempool* pool_ = nullptr;
  rte_mempool* ext_pool_ = nullptr;  // non-null: tx_zero_copy
  // Shared by every external payload this transport attaches. It holds one
  // reference of its own, so the count never reaches zero and no free
  // callback runs: the payload belongs to the engine. Valid because the
  // ports tx_zero_copy is for copy the frame inside rte_eth_tx_burst.
  rte_mbuf_ext_shared_info ext_shinfo_{};
  rte_ether_addr mac_{};
  rte_be32_t ip_ = 0;
  rte_be32_t mask_ = 0;     // subnet mask (network order); 0: all on-link
  rte_be32_t gateway_ = 0;  // 0: none
  rte_be16_t udp_port_ = 0;
  size_t mtu_ = kDefaultMtu;
  bool tx_cksum_ = false;
  bool tx_udp_cksum_ = true;  // Options::udp_cksum
  // Checksum partial sums of the header fields every sent frame shares
  // (software checksums; see finish_frame).
  uint64_t ip_sum_base_ = 0;
  uint64_t udp_sum_base_ = 0;
  bool rx_cksum_ = false;
  bool registered_lcore_ = false;  // rte_thread_register()ed owner_thread_
  pthread_t owner_thread_{};
  uint64_t arp_retry_tsc_ = 0;    // between who-has for one peer
  uint64_t arp_give_up_tsc_ = 0;  // a hop's frames are dropped this long after the first
  // The ARP queue (hold_for_arp, flush_pending). Owner thread only.
  HeldHop hops_[kMaxHops];
  uint32_t num_hops_ = 0;     // records in use: hops_[0, num_hops_), one per ip
  uint32_t num_held_ = 0;     // frames in them, <= kMaxPending
  uint64_t flushed_gen_ = 0;  // NeighborTable::generation() flush_pending last looked up at
  static constexpr uint64_t kNoGeneration =
      UINT64_MAX;                            // never a generation: the next check flushes
  uint64_t next_deadline_tsc_ = UINT64_MAX;  // earliest retry or give-up of a hop with frames
  // Re-verification of learned neighbours (queue 0's transport of a port):
  // every arp_refresh_ms a who-has goes to the learned peers in use, a few
  // per receive poll, so a MAC that changed without a gratuitous ARP is
  // found (reverify_neighbors).
  static constexpr uint32_t kPollsPerClockCheck = 4096;
  static constexpr uint32_t kReverifyPerPoll = 8;
  static constexpr uint32_t kReverifySlotsPerPoll = 64;
  uint32_t polls_ = 0;
  uint64_t reverify_every_tsc_ = 0;  // 0: off
  uint64_t reverify_last_tsc_ = 0;
  uint32_t reverify_slot_ = NeighborTable::kSlots;  // kSlots: no sweep under way
  // Every kReverifyAllEvery-th sweep asks every learned peer, not only
  // those looked up: a server session's route carries its client's MAC
  // from the client's frame and sends without a lookup, yet follows the
  // table once any entry changed.
  static constexpr uint32_t kReverifyAllEvery = 8;
  uint32_t reverify_round_ = 0;
  bool reverify_all_ = false;
  TransportStats stats_;
  DpdkStats dstats_;
};

}  // namespace flit::transport
