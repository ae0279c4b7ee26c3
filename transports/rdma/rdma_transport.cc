// transports/rdma/rdma_transport.cc: control path of the RDMA transport
// (device and port selection, QP bring-up, memory registration, address
// handles, routes). The data path is rdma_datapath.cc; the management
// channel (route queries over kernel UDP) is rdma_mgmt.cc.
#include "rdma_transport.h"

#include <arpa/inet.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "flit/config.h"
#include "flit/error.h"

namespace flit::transport {

namespace {

std::string errstr(int e) { return std::strerror(e); }

size_t mtu_bytes(ibv_mtu m) {
  switch (m) {
    case IBV_MTU_256:
      return 256;
    case IBV_MTU_512:
      return 512;
    case IBV_MTU_1024:
      return 1024;
    case IBV_MTU_2048:
      return 2048;
    case IBV_MTU_4096:
      return 4096;
  }
  return 0;
}

const char* port_state_name(ibv_port_state s) {
  switch (s) {
    case IBV_PORT_DOWN:
      return "DOWN";
    case IBV_PORT_INIT:
      return "INIT";
    case IBV_PORT_ARMED:
      return "ARMED";
    case IBV_PORT_ACTIVE:
      return "ACTIVE";
    case IBV_PORT_ACTIVE_DEFER:
      return "ACTIVE_DEFER";
    default:
      return "NOP";
  }
}

bool gid_zero(const ibv_gid& g) {
  static const uint8_t zero[16] = {};
  return std::memcmp(g.raw, zero, 16) == 0;
}

bool gid_v4_mapped(const ibv_gid& g) {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(g.raw, prefix, 12) == 0;
}

std::string gid_string(const uint8_t* raw) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, raw, buf, sizeof buf);
  return buf;
}

void* map_or_throw(size_t len, const char* what) {
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw Error(std::string("flit rdma: cannot map ") + what + ": " + errstr(errno));
  }
  return p;
}

}  // namespace

RdmaTransport::RdmaTransport(const Options& opt) {
  qkey_ = opt.qkey;
  resolve_timeout_ms_ = opt.resolve_timeout_ms;
  if (opt.max_peers == 0 || opt.max_peers > kMaxPeers ||
      (opt.max_peers & (opt.max_peers - 1)) != 0) {
    throw Error("flit rdma: max_peers=" + std::to_string(opt.max_peers) +
                ": a power of two from 1 to " + std::to_string(kMaxPeers));
  }
  peer_ways_ = std::min<uint32_t>(4, opt.max_peers);
  peer_buckets_ = opt.max_peers / peer_ways_;
  try {
    open_device(opt);
    create_qp();
    setup_buffers();
    start_mgmt(opt);
  } catch (...) {
    destroy();
    throw;
  }
}

RdmaTransport::~RdmaTransport() { destroy(); }

void RdmaTransport::open_device(const Options& opt) {
  int num = 0;
  ibv_device** list = ibv_get_device_list(&num);
  if (list == nullptr || num == 0) {
    int e = errno;
    if (list != nullptr) ibv_free_device_list(list);
    throw Error(std::string("flit rdma: no RDMA device found: use --transport udp, or load the "
                            "RDMA drivers (ibv_devices lists devices)") +
                (list == nullptr && e != 0 ? " [libibverbs: " + errstr(e) + "]" : std::string()));
  }
  ibv_device* dev = nullptr;
  std::string names;
  for (int i = 0; i < num; ++i) {
    const char* n = ibv_get_device_name(list[i]);
    if (!names.empty()) names += ", ";
    names += n;
    if (dev == nullptr && (opt.device.empty() || opt.device == n)) dev = list[i];
  }
  if (dev == nullptr) {
    ibv_free_device_list(list);
    throw Error("flit rdma: no RDMA device named '" + opt.device + "' (this host has: " + names +
                ")");
  }
  device_name_ = ibv_get_device_name(dev);
  ctx_ = ibv_open_device(dev);
  int e = errno;
  ibv_free_device_list(list);
  if (ctx_ == nullptr) {
    throw Error("flit rdma: cannot open device " + device_name_ + ": " + errstr(e));
  }

  ibv_device_attr da{};
  if (int rc = ibv_query_device(ctx_, &da); rc != 0) {
    throw Error("flit rdma: ibv_query_device(" + device_name_ + ") failed: " + errstr(rc));
  }
  if (opt.ib_port == 0 || opt.ib_port > da.phys_port_cnt) {
    throw Error("flit rdma: device " + device_name_ + " has ports 1.." +
                std::to_string(da.phys_port_cnt) + ", not " + std::to_string(opt.ib_port));
  }
  port_ = opt.ib_port;
  ibv_port_attr pa{};
  if (int rc = ibv_query_port(ctx_, port_, &pa); rc != 0) {
    throw Error("flit rdma: ibv_query_port(" + device_name_ + ", " + std::to_string(port_) +
                ") failed: " + errstr(rc));
  }
  if (pa.state != IBV_PORT_ACTIVE) {
    throw Error("flit rdma: port " + std::to_string(port_) + " of " + device_name_ + " is " +
                port_state_name(pa.state) +
                ", not ACTIVE: check the cable/switch and the subnet manager (ibstat), or pick "
                "another device= or port=");
  }
  roce_ = pa.link_layer == IBV_LINK_LAYER_ETHERNET;
  lid_ = pa.lid;
  pick_gid(opt, pa);

  size_t port_mtu = mtu_bytes(pa.active_mtu);
  if (port_mtu == 0) throw Error("flit rdma: port reports an unknown active MTU");
  mtu_ = opt.mtu == 0 ? port_mtu : std::min(opt.mtu, port_mtu);
  port_mtu_ = port_mtu;
  if (mtu_ < 256) {
    throw Error("flit rdma: packet size " + std::to_string(mtu_) + " is below 256 bytes");
  }
  recv_depth_ = std::min<uint32_t>(opt.recv_depth, static_cast<uint32_t>(da.max_qp_wr));
  if (recv_depth_ == 0) throw Error("flit rdma: recv_depth must be at least 1");
  if (static_cast<uint32_t>(da.max_qp_wr) < kSqDepth ||
      static_cast<uint32_t>(da.max_cqe) < kSqDepth) {
    throw Error("flit rdma: device " + device_name_ + " allows only " +
                std::to_string(da.max_qp_wr) + " WRs per queue; flit needs " +
                std::to_string(kSqDepth));
  }
  max_inline_ = opt.max_inline < 0 ? kWantInline : static_cast<uint32_t>(opt.max_inline);
}

void RdmaTransport::pick_gid(const Options& opt, const ibv_port_attr& pa) {
  if (opt.gid_index >= 0) {
    if (opt.gid_index >= pa.gid_tbl_len) {
      throw Error("flit rdma: gid_index=" + std::to_string(opt.gid_index) + " but port " +
                  std::to_string(port_) + " of " + device_name_ + " has " +
                  std::to_string(pa.gid_tbl_len) + " GIDs (/sys/class/infiniband/" + device_name_ +
                  "/ports/" + std::to_string(port_) + "/gids/ lists them)");
    }
    if (ibv_query_gid(ctx_, port_, opt.gid_index, &gid_) != 0 || gid_zero(gid_)) {
      throw Error("flit rdma: GID index " + std::to_string(opt.gid_index) + " of " + device_name_ +
                  " port " + std::to_string(port_) + " is empty (/sys/class/infiniband/" +
                  device_name_ + "/ports/" + std::to_string(port_) +
                  "/gids/ lists the valid ones)");
    }
    gid_index_ = opt.gid_index;
    global_ = true;
    return;
  }
  if (!roce_) {
    // InfiniBand inside one subnet: LID routing, no GRH.
    if (pa.lid == 0) {
      throw Error("flit rdma: port " + std::to_string(port_) + " of " + device_name_ +
                  " has no LID yet: is a subnet manager running (opensm)?");
    }
    gid_index_ = 0;
    if (ibv_query_gid(ctx_, port_, 0, &gid_) != 0) gid_ = ibv_gid{};
    global_ = false;
    return;
  }
  // RoCE: prefer a RoCE v2 GID that carries an IPv4 address (routable UDP
  // encapsulation), then any RoCE v2 GID, then the first valid one.
  int best = -1;
  int best_rank = 0;
  int tbl = std::min(pa.gid_tbl_len, 256);
  for (int i = 0; i < tbl; ++i) {
    ibv_gid_entry ge{};
    if (ibv_query_gid_ex(ctx_, port_, static_cast<uint32_t>(i), &ge, 0) != 0) continue;
    ibv_gid g;
    std::memcpy(g.raw, ge.gid.raw, 16);
    if (gid_zero(g)) continue;
    int rank = 1;
    if (ge.gid_type == IBV_GID_TYPE_ROCE_V2) rank = gid_v4_mapped(g) ? 3 : 2;
    if (rank > best_rank) {
      best_rank = rank;
      best = i;
    }
  }
  if (best < 0) {
    throw Error("flit rdma: RoCE port " + std::to_string(port_) + " of " + device_name_ +
                " has no GID: give the interface an IP address, or pick gid_index=");
  }
  gid_index_ = best;
  if (ibv_query_gid(ctx_, port_, best, &gid_) != 0) {
    throw Error("flit rdma: ibv_query_gid failed for index " + std::to_string(best));
  }
  global_ = true;
}

void RdmaTransport::create_qp() {
  pd_ = ibv_alloc_pd(ctx_);
  if (pd_ == nullptr) throw Error("flit rdma: ibv_alloc_pd failed: " + errstr(errno));
  send_cq_ = ibv_create_cq(ctx_, static_cast<int>(kSqDepth), nullptr, nullptr, 0);
  recv_cq_ = ibv_create_cq(ctx_, static_cast<int>(recv_depth_), nullptr, nullptr, 0);
  if (send_cq_ == nullptr || recv_cq_ == nullptr) {
    throw Error("flit rdma: ibv_create_cq failed: " + errstr(errno));
  }
  ibv_qp_init_attr ia{};
  ia.send_cq = send_cq_;
  ia.recv_cq = recv_cq_;
  ia.qp_type = IBV_QPT_UD;
  ia.sq_sig_all = 0;  // selective signalling
  ia.cap.max_send_wr = kSqDepth;
  ia.cap.max_recv_wr = recv_depth_;
  ia.cap.max_send_sge = 2;
  ia.cap.max_recv_sge = 1;
  ia.cap.max_inline_data = max_inline_;
  qp_ = ibv_create_qp(pd_, &ia);
  if (qp_ == nullptr && max_inline_ != 0) {
    // Some devices grant less inline room: ask for none rather than fail.
    ia.cap.max_inline_data = 0;
    qp_ = ibv_create_qp(pd_, &ia);
  }
  if (qp_ == nullptr) throw Error("flit rdma: ibv_create_qp(UD) failed: " + errstr(errno));
  // What the device granted (it may round up); never more than asked.
  max_inline_ = std::min(max_inline_, ia.cap.max_inline_data);

  const char* step = nullptr;
  if (int rc = bring_up_qp(&step); rc != 0) {
    throw Error(std::string("flit rdma: UD QP to ") + step + " failed: " + errstr(rc));
  }
}

// A new QP, or one in RESET, to RTS: INIT (port, P_Key index 0, Q_Key),
// RTR, RTS. 0, or the error of the transition that failed, named in *step.
int RdmaTransport::bring_up_qp(const char** step) {
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_INIT;
  a.pkey_index = 0;
  a.port_num = port_;
  a.qkey = qkey_;
  *step = "INIT";
  if (int rc = ibv_modify_qp(qp_, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY);
      rc != 0) {
    return rc;
  }
  a = ibv_qp_attr{};
  a.qp_state = IBV_QPS_RTR;
  *step = "RTR";
  if (int rc = ibv_modify_qp(qp_, &a, IBV_QP_STATE); rc != 0) return rc;
  a = ibv_qp_attr{};
  a.qp_state = IBV_QPS_RTS;
  a.sq_psn = 0;
  *step = "RTS";
  return ibv_modify_qp(qp_, &a, IBV_QP_STATE | IBV_QP_SQ_PSN);
}

ibv_mr* RdmaTransport::reg_mr_or_throw(void* addr, size_t len, const char* what) {
  ibv_mr* mr = ibv_reg_mr(pd_, addr, len, IBV_ACCESS_LOCAL_WRITE);
  if (mr == nullptr) {
    int e = errno;
    throw Error("flit rdma: cannot register " + std::to_string(len) + " bytes of " + what +
                " with " + device_name_ + ": " + errstr(e) +
                (e == ENOMEM || e == EPERM || e == EAGAIN
                     ? " (the locked-memory limit is too low: run 'ulimit -l unlimited' or raise "
                       "memlock in /etc/security/limits.conf)"
                     : ""));
  }
  return mr;
}

void RdmaTransport::setup_buffers() {
  // Receive slots: the 40-byte GRH area, then a packet as large as the
  // port carries (not only as large as ours: a peer's larger message must
  // land whole and be dropped as truncated, not end the receive in an
  // error, which some NICs answer by putting the QP in the error state); a
  // multiple of 64 so packets start cache-line aligned + 40.
  rx_slot_ = static_cast<uint32_t>((kGrhSize + port_mtu_ + 63) / 64 * 64);
  rx_mem_len_ = size_t{rx_slot_} * recv_depth_;
  rx_mem_ = static_cast<uint8_t*>(map_or_throw(rx_mem_len_, "receive buffers"));
  rx_mr_ = reg_mr_or_throw(rx_mem_, rx_mem_len_, "receive buffers");
  tx_mem_len_ = mtu_ * kTxChunk;
  tx_mem_ = static_cast<uint8_t*>(map_or_throw(tx_mem_len_, "send staging buffers"));
  tx_mr_ = reg_mr_or_throw(tx_mem_, tx_mem_len_, "send staging buffers");

  rx_routes_ = std::make_unique<Route[]>(recv_depth_);
  reposts_ = std::make_unique<uint32_t[]>(recv_depth_);
  rx_posted_ = std::make_unique<uint8_t[]>(recv_depth_);  // zeroed
  peers_ = std::make_unique<PeerSlot[]>(num_peer_slots());
  std::memset(peers_.get(), 0, sizeof(PeerSlot) * num_peer_slots());
  peer_hand_ = std::make_unique<uint8_t[]>(peer_buckets_);
  std::memset(peer_hand_.get(), 0, peer_buckets_);
  regions_.reserve(64);
  std::memset(recv_wrs_, 0, sizeof recv_wrs_);
  std::memset(recv_sges_, 0, sizeof recv_sges_);
  std::memset(send_wrs_, 0, sizeof send_wrs_);
  std::memset(send_sges_, 0, sizeof send_sges_);

  // A quarter of the queue per post keeps the queue full while amortizing
  // the doorbell; with a tiny queue, one buffer per post.
  post_batch_ = std::clamp<uint32_t>(recv_depth_ / 4, 1, kMaxPostBatch);
  for (uint32_t i = 0; i < recv_depth_; ++i) reposts_[i] = recv_depth_ - 1 - i;
  num_reposts_ = recv_depth_;
  while (num_reposts_ > 0) {
    const uint32_t before = num_reposts_;
    post_recvs(std::min(num_reposts_, kMaxPostBatch));
    if (num_reposts_ == before) break;  // the QP took none: said below
  }
  if (recv_posted_ != recv_depth_) {
    throw Error("flit rdma: could not post " + std::to_string(recv_depth_) +
                " receive buffers (posted " + std::to_string(recv_posted_) + ")");
  }
}

void RdmaTransport::destroy() {
  if (mgmt_thread_.joinable()) {
    uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof one) < 0) {
      // eventfd writes fail only on overflow; the thread also checks on timeout.
    }
    mgmt_thread_.join();
  }
  if (mgmt_fd_ >= 0) close(mgmt_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
  mgmt_fd_ = stop_fd_ = -1;
  if (qp_ != nullptr) ibv_destroy_qp(qp_);
  qp_ = nullptr;
  if (peers_) {
    for (uint32_t i = 0; i < num_peer_slots(); ++i) {
      if (peers_[i].ah != nullptr) ibv_destroy_ah(peers_[i].ah);
      peers_[i].ah = nullptr;
    }
  }
  for (uint32_t i = 0; i < num_dead_ahs_; ++i) ibv_destroy_ah(dead_ahs_[i].ah);
  num_dead_ahs_ = 0;
  for (const MemRegion& r : regions_) ibv_dereg_mr(r.mr);
  regions_.clear();
  if (rx_mr_ != nullptr) ibv_dereg_mr(rx_mr_);
  if (tx_mr_ != nullptr) ibv_dereg_mr(tx_mr_);
  rx_mr_ = tx_mr_ = nullptr;
  if (send_cq_ != nullptr) ibv_destroy_cq(send_cq_);
  if (recv_cq_ != nullptr) ibv_destroy_cq(recv_cq_);
  send_cq_ = recv_cq_ = nullptr;
  if (pd_ != nullptr) ibv_dealloc_pd(pd_);
  pd_ = nullptr;
  if (ctx_ != nullptr) ibv_close_device(ctx_);
  ctx_ = nullptr;
  if (rx_mem_ != nullptr) munmap(rx_mem_, rx_mem_len_);
  if (tx_mem_ != nullptr) munmap(tx_mem_, tx_mem_len_);
  rx_mem_ = tx_mem_ = nullptr;
}

void RdmaTransport::register_memory(void* addr, size_t len) {
  ibv_mr* mr = reg_mr_or_throw(addr, len, "message buffers");
  MemRegion r{reinterpret_cast<uintptr_t>(addr), reinterpret_cast<uintptr_t>(addr) + len, mr->lkey,
              mr};
  auto it = std::upper_bound(regions_.begin(), regions_.end(), r.begin,
                             [](uintptr_t b, const MemRegion& x) { return b < x.begin; });
  regions_.insert(it, r);
  last_region_ = 0;
}

// Makes the route's host's address handle in `slot` (a new generation);
// false, with the slot unchanged, when the device refuses.
bool RdmaTransport::create_peer_ah(const RdmaRoute& r, PeerSlot* slot) {
  ibv_ah_attr aa{};
  aa.port_num = port_;
  aa.sl = 0;
  if (r.global) {
    aa.is_global = 1;
    std::memcpy(aa.grh.dgid.raw, r.gid, 16);
    aa.grh.sgid_index = static_cast<uint8_t>(gid_index_);
    aa.grh.hop_limit = 64;
  } else {
    aa.dlid = r.lid;
  }
  ibv_ah* ah = ibv_create_ah(pd_, &aa);
  if (ah == nullptr) return false;
  std::memcpy(slot->gid, r.gid, 16);
  slot->lid = r.lid;
  slot->global = r.global;
  slot->ah = ah;
  slot->gen++;
  slot->used = 1;
  slot->last_seq = 0;
  return true;
}

std::string RdmaTransport::route_to_string(const Route& rt) const {
  const RdmaRoute* r = rdma_route(&rt);
  char qpn[16];
  std::snprintf(qpn, sizeof qpn, "0x%06x", r->qpn);
  if (r->global) return "rdma:gid=" + gid_string(r->gid) + ",qpn=" + qpn;
  return "rdma:lid=" + std::to_string(r->lid) + ",qpn=" + qpn;
}

bool RdmaTransport::same_peer(const Route& ra, const Route& rb) const {
  const RdmaRoute* a = rdma_route(&ra);
  const RdmaRoute* b = rdma_route(&rb);
  if (a->qpn != b->qpn || a->global != b->global) return false;
  return a->global ? std::memcmp(a->gid, b->gid, 16) == 0 : a->lid == b->lid;
}

}  // namespace flit::transport
