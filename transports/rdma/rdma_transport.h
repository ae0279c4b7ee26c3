// transports/rdma/rdma_transport.h: flit over RDMA verbs (InfiniBand, RoCE).
//
// One unreliable-datagram (UD) queue pair per Rpc, two-sided send/receive
// only: no memory is registered for remote access, so a peer can never write
// into this process. Why UD and not RC: one QP serves every session of the
// Rpc (RC needs a QP per peer, and NIC QP caches thrash beyond a few hundred),
// and the engine already does what RC would add (loss recovery, flow control
// through session credits, reassembly of MTU-size packets). UD gives up
// nothing the engine needs.
//
// A UD peer cannot be addressed before its QP number is known, so each Rpc
// also owns a management channel: a kernel UDP socket (rdma://HOST:PORT, the
// Rpc's URI) answered by a small thread with this QP's routing information
// (GID, LID, QP number, Q_Key, packet size). resolve() asks it; a server
// learns its clients from the received packets themselves.
//
//   NexusConfig cfg;
//   cfg.listen_uri = "rdma://198.18.0.2:31850";        // Rpc k: port 31850 + k
//   cfg.transport_options = {"device=mlx5_0", "gid_index=3"};
//
// Threading: the data path (tx_burst, rx_burst, rx_release) runs on the
// owning Rpc's thread only: no lock, no allocation in steady state, no
// syscall (the verbs data path is user-space doorbells). The management
// thread only reads immutable fields.
#pragma once

#include <infiniband/verbs.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "flit/transport/transport.h"
#include "rdma_route.h"

namespace flit::transport {

class RdmaTransport final : public Transport {
 public:
  struct Options {
    std::string device;   // "" : the first device in ibv_get_device_list()
    uint8_t ib_port = 1;  // port of that device (1-based, as in ibv_devinfo)
    int gid_index = -1;   // -1: pick (RoCE v2 IPv4-mapped GID first); IB: LID routing
    uint32_t qkey = kDefaultQkey;
    size_t mtu = 0;                           // cap on the packet size; 0: the port's active MTU
    uint32_t recv_depth = kDefaultRecvDepth;  // receive buffers posted
    int max_inline = -1;  // -1: what the device grants up to kWantInline; 0: never inline
    // Management channel: the UDP address this Rpc answers route queries on
    // (its URI). Empty host: 0.0.0.0. Port 0: ephemeral (client-only Rpcs).
    std::string mgmt_host;
    uint16_t mgmt_port = 0;
    uint32_t resolve_timeout_ms = 1000;
    // Remote hosts (address handles) kept at once: a power of two up to
    // kMaxPeers. More are served by evicting the least recently used.
    uint32_t max_peers = kMaxPeers;
  };

  // Every flit endpoint of a fabric uses the same Q_Key unless configured.
  static constexpr uint32_t kDefaultQkey = 0x464c4954;  // "FLIT"
  // The Global Routing Header the HCA writes at the start of every UD
  // receive buffer (present or not).
  static constexpr uint32_t kGrhSize = 40;
  static constexpr uint32_t kDefaultRecvDepth = 1024;
  // Send queue: WRs posted and not yet retired by a polled completion.
  static constexpr uint32_t kSqDepth = 256;
  // Packets per ibv_post_send (one doorbell).
  static constexpr uint32_t kTxChunk = 32;
  // An inline-only stream is signalled at least every kSignalEvery sends,
  // so send-queue slots are retired without a completion per packet.
  static constexpr uint32_t kSignalEvery = 64;
  static constexpr uint32_t kWantInline = 256;
  // Receive WRs handed to the device per ibv_post_recv, at most.
  static constexpr uint32_t kMaxPostBatch = 32;
  // Distinct remote hosts (address handles) per Rpc.
  static constexpr uint32_t kMaxPeers = 4096;
  static_assert(kSqDepth >= kSignalEvery + kTxChunk,
                "an unsignalled run plus one chunk must fit the send queue");
  static_assert(kTxChunk <= kMaxPostBatch);

  // Opens the device, brings a UD QP to RTS, posts the receive buffers and
  // starts the management channel. Throws flit::Error naming the fix (no
  // device, unknown device, port down, locked-memory limit, port in use).
  explicit RdmaTransport(const Options& opt);
  ~RdmaTransport() override;
  RdmaTransport(const RdmaTransport&) = delete;
  RdmaTransport& operator=(const RdmaTransport&) = delete;

  std::string_view name() const override { return "rdma"; }
  size_t max_packet_size() const override { return mtu_; }
  std::string local_uri() const override;
  // "rdma://HOST:PORT": asks that Rpc's management channel for its route
  // (blocks up to resolve_timeout_ms). Throws flit::Error when nobody
  // answers, the packet sizes differ, or the URI is malformed.
  Route resolve(std::string_view uri) override;
  // Registers [addr, addr+len) with ibv_reg_mr (local write only). Throws
  // flit::Error when the locked-memory limit is reached.
  void register_memory(void* addr, size_t len) override;
  bool same_peer(const Route& a, const Route& b) const override;
  std::string route_to_string(const Route& r) const override;

  uint32_t tx_burst(const TxPacket* pkts, uint32_t n) override;
  uint32_t rx_burst(RxPacket* pkts, uint32_t max) override;
  void rx_release(const RxPacket* pkts, uint32_t n) override;
  TransportStats stats() const override { return stats_; }
  std::vector<Counter> counters() const override {
    return {{"peers_held", peers_held()},
            {"peers_evicted", peers_evicted_},
            {"qp_rebuilds", qp_rebuilds_}};
  }

  // For tests and diagnostics.
  uint32_t qp_num() const { return qp_->qp_num; }
  uint32_t max_inline() const { return max_inline_; }
  uint32_t recv_posted() const { return recv_posted_; }
  const std::string& device_name() const { return device_name_; }
  bool roce() const { return roce_; }
  // Address handles evicted to make room for another host.
  uint64_t peers_evicted() const { return peers_evicted_; }
  // Times the QP was found in ERR and a rebuild tried (rebuild_qp).
  uint64_t qp_rebuilds() const { return qp_rebuilds_; }
  // Peer-table slots in use (hosts with an address handle).
  uint32_t peers_held() const {
    uint32_t n = 0;
    for (uint32_t i = 0; i < num_peer_slots(); ++i) n += peers_[i].ah != nullptr;
    return n;
  }
  int gid_index() const { return gid_index_; }

  // What the management channel says about one Rpc (the answer to a route
  // query), host byte order.
  struct RouteInfo {
    uint8_t gid[16];
    uint32_t qpn;
    uint32_t qkey;
    uint32_t packet_size;
    uint16_t lid;
    uint8_t global;
  };

 private:
  // A registered region of engine or transport memory, sorted by begin.
  struct MemRegion {
    uintptr_t begin;
    uintptr_t end;
    uint32_t lkey;
    ibv_mr* mr;
  };
  // One remote host: its address handle, keyed by GID (global) or LID.
  struct PeerSlot {
    uint8_t gid[16];
    uint16_t lid;
    uint8_t global;
    uint8_t used;       // CLOCK mark: set on every send or receive
    uint64_t gen;       // bumped when the slot is given to another host (never wraps)
    uint64_t last_seq;  // one past the last send WR using ah (its sequence number)
    ibv_ah* ah;         // nullptr: empty slot
  };
  // An evicted address handle, destroyed once no posted WR can use it.
  struct DeadAh {
    ibv_ah* ah;
    uint64_t seq;
  };
  static constexpr uint32_t kMaxDeadAhs = 64;
  static constexpr uint32_t kNoPeer = UINT32_MAX;

  void open_device(const Options& opt);
  void pick_gid(const Options& opt, const ibv_port_attr& pa);
  void create_qp();
  int bring_up_qp(const char** step);
  void setup_buffers();
  ibv_mr* reg_mr_or_throw(void* addr, size_t len, const char* what);
  void start_mgmt(const Options& opt);
  void mgmt_loop();
  void destroy();

  // Data-path helpers (rdma_datapath.cc).
  uint32_t lkey_of(const uint8_t* p, uint32_t len);
  uint32_t peer_slot(const RdmaRoute& r, bool may_evict);
  bool create_peer_ah(const RdmaRoute& r, PeerSlot* slot);
  void reap_dead_ahs();
  void poll_send_cq();
  bool wait_retired(uint64_t seq);
  void recover_qp();
  void rebuild_qp();
  void drain_cqs();
  void post_recvs(uint32_t n);

  std::string device_name_;
  uint8_t port_ = 1;
  int gid_index_ = 0;
  bool roce_ = false;    // link layer Ethernet
  bool global_ = false;  // this endpoint is addressed by GID
  ibv_gid gid_{};
  uint16_t lid_ = 0;
  uint32_t qkey_ = kDefaultQkey;
  size_t mtu_ = 0;
  size_t port_mtu_ = 0;  // the port's active MTU: receive slots hold this much
  uint32_t max_inline_ = 0;

  ibv_context* ctx_ = nullptr;
  ibv_pd* pd_ = nullptr;
  ibv_cq* send_cq_ = nullptr;
  ibv_cq* recv_cq_ = nullptr;
  ibv_qp* qp_ = nullptr;

  // Receive buffers: recv_depth_ slots of rx_slot_ bytes (GRH + packet),
  // posted to the RQ; handed to the engine in rx_burst, reposted in batches
  // of post_batch_ as it releases them.
  uint8_t* rx_mem_ = nullptr;
  size_t rx_mem_len_ = 0;
  ibv_mr* rx_mr_ = nullptr;
  uint32_t rx_slot_ = 0;
  uint32_t recv_depth_ = 0;
  uint32_t recv_posted_ = 0;
  uint32_t post_batch_ = 1;
  std::unique_ptr<Route[]> rx_routes_;    // sender of the packet in each buffer
  std::unique_ptr<uint32_t[]> reposts_;   // released, not yet reposted
  std::unique_ptr<uint8_t[]> rx_posted_;  // 1: the buffer is posted to the RQ
  uint32_t rx_gen_ = 0;                   // rebuilds so far, in each receive WR's wr_id (high half)
  static constexpr uint32_t kNotPosted = UINT32_MAX;
  // The buffer a receive completion's wr_id names, if it is posted on the
  // current QP; else kNotPosted.
  uint32_t posted_buffer(uint64_t wr_id) const {
    const auto b = static_cast<uint32_t>(wr_id);
    return (wr_id >> 32) == rx_gen_ && b < recv_depth_ && rx_posted_[b] != 0 ? b : kNotPosted;
  }
  uint32_t num_reposts_ = 0;
  ibv_recv_wr recv_wrs_[kMaxPostBatch];
  ibv_sge recv_sges_[kMaxPostBatch];

  // Send side: kTxChunk staging slots of mtu_ bytes (header copy, and the
  // payload when it is not in registered memory).
  uint8_t* tx_mem_ = nullptr;
  size_t tx_mem_len_ = 0;
  ibv_mr* tx_mr_ = nullptr;
  uint64_t sq_posted_ = 0;    // WRs posted (wr_id = sequence number, from 1)
  uint64_t sq_retired_ = 0;   // highest sequence number whose completion was polled
  uint32_t unsignalled_ = 0;  // posted since the last signalled WR
  bool qp_error_ = false;     // an error completion or a refused post: recover_qp looks
  bool qp_dead_ = false;      // a rebuild failed: the QP stays down, no more tries
  uint64_t qp_rebuilds_ = 0;
  uint64_t sq_rebuilt_at_ = 0;  // sq_posted_ at the last rebuild: older WRs are gone
  std::chrono::steady_clock::time_point next_recover_{};  // recover_qp's rate limit
  ibv_send_wr send_wrs_[kTxChunk];
  ibv_sge send_sges_[kTxChunk][2];

  std::vector<MemRegion> regions_;  // sorted by begin; control path adds
  size_t last_region_ = 0;          // last lookup hit

  // Peer table: peer_buckets_ buckets of peer_ways_ slots (set-associative,
  // CLOCK within a bucket).
  std::unique_ptr<PeerSlot[]> peers_;
  uint32_t peer_ways_ = 4;
  uint32_t peer_buckets_ = kMaxPeers / 4;
  uint32_t num_peer_slots() const { return peer_ways_ * peer_buckets_; }
  std::unique_ptr<uint8_t[]> peer_hand_;  // CLOCK hand per bucket
  uint32_t last_peer_ = kNoPeer;          // last lookup hit
  DeadAh dead_ahs_[kMaxDeadAhs];
  uint32_t num_dead_ahs_ = 0;
  uint64_t peers_evicted_ = 0;

  // Management channel (rdma_mgmt.cc).
  int mgmt_fd_ = -1;
  int stop_fd_ = -1;
  std::string mgmt_host_;
  uint16_t mgmt_port_ = 0;
  uint32_t resolve_timeout_ms_ = 1000;
  RouteInfo self_{};
  std::thread mgmt_thread_;

  TransportStats stats_;
};

}  // namespace flit::transport
