// transports/rdma/rdma_datapath.cc: the RDMA data path. Owner thread only;
// no lock, no syscall (verbs post and poll are user-space doorbells and
// memory reads), no allocation while the peers in use have address handles
// (a new host, or one evicted from the peer table, costs ibv_create_ah).
// The exception is the error path: a QP that left RTS is brought back with
// verbs that may enter the kernel (recover_qp, rebuild_qp).
//
// Sending. A packet whose header and payload fit the device's inline room
// is copied into the work request by ibv_post_send itself (IBV_SEND_INLINE):
// nothing to register, nothing to wait for. A larger packet is sent zero-copy:
// the 40-byte header (valid only during tx_burst) is copied into a registered
// staging slot and the payload is a second SGE pointing into the engine's
// registered message buffer (its lkey found by address in a sorted table).
// The engine may free or reuse that buffer as soon as tx_burst returns, so
// tx_burst signals the last WR of every chunk holding a zero-copy send and
// polls the send CQ until that completion arrives: completions come in order,
// so every earlier WR has been read by the HCA too. The cost is one DMA read
// round trip (about a microsecond on PCIe) per chunk of up to kTxChunk
// packets, paid only by bursts carrying large packets; copying instead would
// cost a memcpy of every payload byte. TODO(perf): an engine hook that defers
// freeing a message until the transport reports its send complete (as eRPC
// does) would remove the wait. Inline-only chunks are unsignalled except
// every kSignalEvery WRs, which is all the send queue needs to retire slots.
//
// Receiving. The HCA writes the 40-byte GRH (or leaves 40 undefined bytes,
// for InfiniBand without GRH) before the packet; rx_burst hands the engine
// the packet after it, in place, and rx_release gives the buffers back,
// reposted in batches of post_batch_ (one doorbell per batch).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "flit/config.h"
#include "flit/error.h"
#include "rdma_transport.h"

namespace flit::transport {

namespace {

constexpr uint32_t kSendPoll = 16;
// recover_qp looks at the QP at most this often.
constexpr auto kRecoverEvery = std::chrono::milliseconds(10);
// A zero-copy send not completed within this is a broken device; tx_burst
// gives up waiting (the packet counts as dropped) rather than hang.
constexpr auto kCompletionTimeout = std::chrono::seconds(2);

uint32_t peer_hash(const RdmaRoute& r) {
  uint64_t a, b;
  std::memcpy(&a, r.gid, 8);
  std::memcpy(&b, r.gid + 8, 8);
  uint64_t h =
      (a * 0x9e3779b97f4a7c15ULL) ^ (b + 0x632be59bd9b4e019ULL) ^ (uint64_t{r.lid} << 1) ^ r.global;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 32;
  return static_cast<uint32_t>(h);
}

}  // namespace

// The peer-table slot holding the route's host, its address handle created
// on first sight (the one allocation and syscall here, once per host while
// it stays in the table). A full bucket evicts by CLOCK: the hand passes
// over hosts used since it last came by, clearing the mark, and takes the
// first unmarked one; its handle is destroyed once no posted send can use
// it. kNoPeer when the device refuses a handle, or too many evicted ones
// still wait for their sends.
FLIT_HOT uint32_t RdmaTransport::peer_slot(const RdmaRoute& r, bool may_evict) {
  auto match = [&r](const PeerSlot& s) {
    return s.ah != nullptr && s.global == r.global &&
           (r.global ? std::memcmp(s.gid, r.gid, 16) == 0 : s.lid == r.lid);
  };
  if (last_peer_ != kNoPeer && match(peers_[last_peer_])) return last_peer_;
  const uint32_t bucket = peer_hash(r) & (peer_buckets_ - 1);
  PeerSlot* b = &peers_[bucket * peer_ways_];
  PeerSlot* empty = nullptr;
  for (uint32_t w = 0; w < peer_ways_; ++w) {
    if (match(b[w])) {
      last_peer_ = bucket * peer_ways_ + w;
      return last_peer_;
    }
    if (b[w].ah == nullptr && empty == nullptr) empty = &b[w];
  }
  PeerSlot* slot = empty;
  if (slot == nullptr && !may_evict) return kNoPeer;
  if (slot == nullptr) [[unlikely]] {
    for (uint32_t step = 0; step < 2 * peer_ways_ && slot == nullptr; ++step) {
      PeerSlot& e = b[(peer_hand_[bucket] + step) % peer_ways_];
      if (e.used != 0) {
        e.used = 0;
        continue;
      }
      slot = &e;
      peer_hand_[bucket] = static_cast<uint8_t>((&e - b + 1) % peer_ways_);
    }
    // A send still queued may use the victim's handle: park it until the
    // completions pass that send (in order, so a later signalled one will).
    if (slot->last_seq > sq_retired_) poll_send_cq();
    if (slot->last_seq > sq_retired_ && num_dead_ahs_ == kMaxDeadAhs) reap_dead_ahs();
    if (slot->last_seq > sq_retired_ && num_dead_ahs_ == kMaxDeadAhs) {
      errno = EBUSY;  // for resolve()'s message
      return kNoPeer;
    }
  }
  ibv_ah* old = slot->ah;
  const uint64_t old_seq = slot->last_seq;
  if (!create_peer_ah(r, slot)) return kNoPeer;  // slot unchanged
  if (old != nullptr) {
    peers_evicted_++;
    if (old_seq <= sq_retired_) {
      ibv_destroy_ah(old);
    } else {
      dead_ahs_[num_dead_ahs_++] = DeadAh{old, old_seq};
    }
  }
  last_peer_ = static_cast<uint32_t>(slot - peers_.get());
  return last_peer_;
}

// Destroys the evicted handles no posted send can use any more.
void RdmaTransport::reap_dead_ahs() {
  uint32_t keep = 0;
  for (uint32_t i = 0; i < num_dead_ahs_; ++i) {
    if (dead_ahs_[i].seq <= sq_retired_) {
      ibv_destroy_ah(dead_ahs_[i].ah);
    } else {
      dead_ahs_[keep++] = dead_ahs_[i];
    }
  }
  num_dead_ahs_ = keep;
}

// lkey of the registered region holding [p, p+len), or 0 when none does
// (the caller copies). Binary search over a few dozen regions; the last hit
// is tried first.
FLIT_HOT uint32_t RdmaTransport::lkey_of(const uint8_t* p, uint32_t len) {
  uintptr_t b = reinterpret_cast<uintptr_t>(p);
  uintptr_t e = b + len;
  if (last_region_ < regions_.size()) {
    const MemRegion& r = regions_[last_region_];
    if (b >= r.begin && e <= r.end) return r.lkey;
  }
  size_t lo = 0, hi = regions_.size();
  while (lo < hi) {  // first region with begin > b
    size_t mid = (lo + hi) / 2;
    if (regions_[mid].begin > b) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  if (lo == 0) return 0;
  const MemRegion& r = regions_[lo - 1];
  if (e > r.end) return 0;
  last_region_ = lo - 1;
  return r.lkey;
}

// Retires send WRs whose completions are ready. Non-blocking.
FLIT_HOT void RdmaTransport::poll_send_cq() {
  ibv_wc wc[kSendPoll];
  int n = ibv_poll_cq(send_cq_, kSendPoll, wc);
  if (n < 0) [[unlikely]] {
    stats_.tx_dropped++;  // the CQ itself failed (overrun): no QP transition mends it
    return;
  }
  for (int i = 0; i < n; ++i) {
    if (wc[i].wr_id <= sq_rebuilt_at_) [[unlikely]]
      continue;  // a WR of the QP before its rebuild: retired then
    if (wc[i].wr_id > sq_retired_) sq_retired_ = wc[i].wr_id;
    if (wc[i].status != IBV_WC_SUCCESS) [[unlikely]] {
      // An error completion (even of an unsignalled WR) or a WR flushed
      // after one: the packet is lost, like on the wire; the engine's
      // retransmission recovers it. The QP left RTS: bring it back.
      stats_.tx_dropped++;
      qp_error_ = true;
    }
  }
  if (qp_error_) [[unlikely]]
    recover_qp();
  if (num_dead_ahs_ != 0 && n > 0) [[unlikely]]
    reap_dead_ahs();
}

// Cold: brings the QP back to RTS after a sign that it left it (an error
// completion, a refused post). A send error moves a UD QP to SQE, one
// transition from RTS. A fatal error (the device's, reported as
// IBV_EVENT_QP_FATAL) moves it to ERR, where it sends and receives nothing
// until it goes through RESET: rebuild_qp. Verbs calls that may enter the
// kernel; nothing when the QP is in RTS.
FLIT_COLD void RdmaTransport::recover_qp() {
  qp_error_ = false;
  if (qp_dead_) return;
  // At most one look per kRecoverEvery: a QP that keeps failing (or posts
  // that keep being refused) must not cost verbs calls on every poll.
  const auto now = std::chrono::steady_clock::now();
  if (now < next_recover_) {
    qp_error_ = true;  // looked at once the interval ends
    return;
  }
  next_recover_ = now + kRecoverEvery;
  ibv_qp_attr a{};
  ibv_qp_init_attr ia{};
  if (ibv_query_qp(qp_, &a, IBV_QP_STATE, &ia) != 0) return;
  if (a.qp_state == IBV_QPS_SQE) {
    a = ibv_qp_attr{};
    a.qp_state = IBV_QPS_RTS;
    a.cur_qp_state = IBV_QPS_SQE;
    (void)ibv_modify_qp(qp_, &a, IBV_QP_STATE | IBV_QP_CUR_STATE);
  } else if (a.qp_state == IBV_QPS_ERR) {
    rebuild_qp();
  }
}

// Takes the completions waiting in both CQs before the QP goes through
// RESET: send ones retire their WRs, receive ones put their buffers back on
// the repost list (counted as receive errors: a packet among them is lost,
// like one on the wire). No allocation.
FLIT_COLD void RdmaTransport::drain_cqs() {
  ibv_wc wc[kSendPoll];
  for (int n; (n = ibv_poll_cq(send_cq_, kSendPoll, wc)) > 0;) {
    for (int i = 0; i < n; ++i) {
      if (wc[i].wr_id <= sq_rebuilt_at_) continue;
      if (wc[i].wr_id > sq_retired_) sq_retired_ = wc[i].wr_id;
      if (wc[i].status != IBV_WC_SUCCESS) stats_.tx_dropped++;
    }
  }
  for (int n; (n = ibv_poll_cq(recv_cq_, kSendPoll, wc)) > 0;) {
    for (int i = 0; i < n; ++i) {
      const uint32_t b = posted_buffer(wc[i].wr_id);
      if (b == kNotPosted) continue;
      rx_posted_[b] = 0;
      recv_posted_--;
      reposts_[num_reposts_++] = b;
      stats_.rx_errors++;
    }
  }
}

// Cold: a QP in ERR back to RTS, so that a fatal error costs the packets in
// flight (the engine resends them) and not the Rpc. RESET discards every
// WR the device still holds: the receive buffers still marked posted are
// then free (whether or not the device flushed them, and whether or not it
// kept their completions: providers differ), and so is every send slot (the
// engine may reuse a zero-copy payload once tx_burst returns, and after
// RESET the device reads none). Then INIT, RTR, RTS and the receives posted
// again. Buffers the engine holds stay with it. If the QP cannot be brought
// back, this Rpc is dead: said once on stderr; the engine then fails its
// sessions as unreachable. No allocation.
FLIT_COLD void RdmaTransport::rebuild_qp() {
  qp_rebuilds_++;
  drain_cqs();
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_RESET;
  const char* step = "RESET";
  int rc = ibv_modify_qp(qp_, &a, IBV_QP_STATE);
  if (rc == 0) {
    // Completions of the old QP that come from now on (providers differ in
    // what they keep past RESET) are told apart and ignored: receives by
    // rx_gen_ in their wr_id, sends by sq_rebuilt_at_.
    for (uint32_t b = 0; b < recv_depth_; ++b) {
      if (rx_posted_[b] == 0) continue;
      rx_posted_[b] = 0;
      reposts_[num_reposts_++] = b;
    }
    recv_posted_ = 0;
    rx_gen_++;  // a receive completion of the old QP is not taken for a new post's
    sq_retired_ = sq_rebuilt_at_ = sq_posted_;
    unsignalled_ = 0;
    if (num_dead_ahs_ != 0) reap_dead_ahs();  // the WRs that used them are gone
    rc = bring_up_qp(&step);
  }
  if (rc != 0) {
    qp_dead_ = true;
    std::fprintf(stderr,
                 "flit rdma: %s: the queue pair went to the error state and could not be "
                 "rebuilt (to %s: %s): this Rpc can no longer send or receive\n",
                 device_name_.c_str(), step, std::strerror(rc > 0 ? rc : EIO));
    return;
  }
  std::fprintf(stderr,
               "flit rdma: %s: the queue pair went to the error state and was rebuilt "
               "(%llu so far); the packets in flight were lost\n",
               device_name_.c_str(), static_cast<unsigned long long>(qp_rebuilds_));
  qp_error_ = false;
  while (num_reposts_ > 0) {
    const uint32_t before = num_reposts_;
    post_recvs(num_reposts_);
    if (num_reposts_ == before) break;  // refused: rx_burst tries again
  }
}

// Polls the send CQ until WR seq is retired, bounded by kCompletionTimeout.
bool RdmaTransport::wait_retired(uint64_t seq) {
  std::chrono::steady_clock::time_point start{};
  for (uint32_t spins = 0; sq_retired_ < seq; ++spins) {
    poll_send_cq();
    if ((spins & 1023) == 1023) [[unlikely]] {
      auto now = std::chrono::steady_clock::now();
      if (spins == 1023) {
        start = now;
      } else if (now - start > kCompletionTimeout) {
        return false;
      }
    }
  }
  return true;
}

FLIT_HOT uint32_t RdmaTransport::tx_burst(const TxPacket* pkts, uint32_t n) {
  if (qp_dead_) [[unlikely]] {
    stats_.tx_dropped += n;  // nothing would complete: no wait for it
    return 0;
  }
  uint32_t accepted = 0;
  for (uint32_t done = 0; done < n;) {
    uint32_t m = std::min(n - done, kTxChunk);
    // Room in the send queue for the whole chunk.
    if (sq_posted_ - sq_retired_ + m > kSqDepth) [[unlikely]] {
      poll_send_cq();
      if (sq_posted_ - sq_retired_ + m > kSqDepth && !wait_retired(sq_posted_ + m - kSqDepth)) {
        stats_.tx_dropped += n - done;
        return accepted;
      }
    }
    uint32_t k = 0;  // WRs built
    bool zero_copy = false;
    for (uint32_t i = 0; i < m; ++i) {
      const TxPacket& p = pkts[done + i];
      if (uint64_t{kPktHdrSize} + p.payload_len > mtu_) [[unlikely]] {
        stats_.tx_dropped++;  // the engine never builds these
        continue;
      }
      const auto total = static_cast<uint32_t>(kPktHdrSize + p.payload_len);
      const RdmaRoute* r = rdma_route(p.route);
      // The route's slot, unless the table gave it to another host since
      // (then the host is looked up, or its handle made, again).
      uint32_t ps = r->peer;
      if (ps >= num_peer_slots() || peers_[ps].gen != r->peer_gen || peers_[ps].ah == nullptr)
          [[unlikely]] {
        ps = peer_slot(*r, true);
        if (ps == kNoPeer) [[unlikely]] {
          stats_.tx_dropped++;
          continue;
        }
      }
      PeerSlot& peer = peers_[ps];
      ibv_send_wr& wr = send_wrs_[k];
      ibv_sge* sge = send_sges_[k];
      wr.wr_id = sq_posted_ + k + 1;
      peer.used = 1;
      // One past this WR: a chunk the QP refuses part of may post it once
      // more, signalled, with the next sequence number (the fence below),
      // and the handle must outlive that send too.
      peer.last_seq = wr.wr_id + 1;
      wr.next = nullptr;
      wr.sg_list = sge;
      wr.opcode = IBV_WR_SEND;
      wr.wr.ud.ah = peer.ah;
      wr.wr.ud.remote_qpn = r->qpn;
      wr.wr.ud.remote_qkey = r->qkey;
      if (total <= max_inline_) {
        sge[0] = {reinterpret_cast<uintptr_t>(p.hdr), static_cast<uint32_t>(kPktHdrSize), 0};
        sge[1] = {reinterpret_cast<uintptr_t>(p.payload), p.payload_len, 0};
        wr.num_sge = p.payload_len == 0 ? 1 : 2;
        wr.send_flags = IBV_SEND_INLINE;
      } else {
        uint8_t* slot = tx_mem_ + size_t{k} * mtu_;
        std::memcpy(slot, p.hdr, kPktHdrSize);
        uint32_t lkey = lkey_of(p.payload, p.payload_len);
        if (lkey != 0) {
          sge[0] = {reinterpret_cast<uintptr_t>(slot), static_cast<uint32_t>(kPktHdrSize),
                    tx_mr_->lkey};
          sge[1] = {reinterpret_cast<uintptr_t>(p.payload), p.payload_len, lkey};
          wr.num_sge = p.payload_len == 0 ? 1 : 2;  // (length 0 means 2 GiB to some NICs)
        } else {
          // Payload outside registered memory (a control packet's payload
          // on the engine's stack): stage it with the header.
          if (p.payload_len != 0) std::memcpy(slot + kPktHdrSize, p.payload, p.payload_len);
          sge[0] = {reinterpret_cast<uintptr_t>(slot), total, tx_mr_->lkey};
          wr.num_sge = 1;
        }
        wr.send_flags = 0;
        zero_copy = true;
      }
      if (k > 0) send_wrs_[k - 1].next = &wr;
      k++;
    }
    done += m;
    if (k == 0) continue;
    // Signalled also while evicted handles wait: its completion frees them.
    bool signal = zero_copy || unsignalled_ + k >= kSignalEvery || num_dead_ahs_ != 0;
    if (signal) send_wrs_[k - 1].send_flags |= IBV_SEND_SIGNALED;
    ibv_send_wr* bad = nullptr;
    uint32_t posted = k;
    uint32_t fence = 0;
    if (ibv_post_send(qp_, send_wrs_, &bad) != 0) [[unlikely]] {
      posted = bad == nullptr ? 0 : static_cast<uint32_t>(bad - send_wrs_);
      stats_.tx_dropped += k - posted;
      qp_error_ = !qp_dead_;  // the QP may have left RTS: the next poll looks
      if (signal && posted > 0 && posted < k) {
        // The signalled last WR was refused, so the posted ones would
        // complete unseen, and a zero-copy wait could end on an older
        // completion (payloads still being read) or never. Post the last
        // posted one again, signalled: its completion, in order, retires
        // them all. The peer gets that packet twice, which the protocol
        // drops as a duplicate.
        ibv_send_wr again = send_wrs_[posted - 1];
        again.next = nullptr;
        again.wr_id = sq_posted_ + posted + 1;
        again.send_flags |= IBV_SEND_SIGNALED;
        ibv_send_wr* bad_again = nullptr;
        fence = ibv_post_send(qp_, &again, &bad_again) == 0 ? 1 : 0;
      }
      signal = signal && (posted == k || fence == 1);
    }
    sq_posted_ += posted + fence;
    accepted += posted;
    unsignalled_ = signal ? 0 : unsignalled_ + posted;
    if (zero_copy && posted > 0) {
      // Wait until the HCA has read every payload of this chunk. Without a
      // signalled WR (even the fence refused: the QP is in error), the
      // error state flushes the rest, each with a completion.
      if (!wait_retired(signal ? sq_posted_ : sq_retired_ + 1)) [[unlikely]]
        stats_.tx_dropped++;
    } else if (sq_posted_ - sq_retired_ >= kSignalEvery) {
      poll_send_cq();
    }
  }
  return accepted;
}

// Posts up to n (at most kMaxPostBatch) buffers from the repost list to the
// RQ with one doorbell.
FLIT_HOT void RdmaTransport::post_recvs(uint32_t n) {
  n = std::min({n, num_reposts_, kMaxPostBatch});
  if (n == 0 || qp_dead_) return;
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t b = reposts_[num_reposts_ - 1 - i];
    recv_sges_[i].addr = reinterpret_cast<uintptr_t>(rx_mem_ + size_t{b} * rx_slot_);
    recv_sges_[i].length = rx_slot_;
    recv_sges_[i].lkey = rx_mr_->lkey;
    recv_wrs_[i].wr_id = (uint64_t{rx_gen_} << 32) | b;
    recv_wrs_[i].sg_list = &recv_sges_[i];
    recv_wrs_[i].num_sge = 1;
    recv_wrs_[i].next = i + 1 < n ? &recv_wrs_[i + 1] : nullptr;
  }
  ibv_recv_wr* bad = nullptr;
  uint32_t posted = n;
  if (ibv_post_recv(qp_, recv_wrs_, &bad) != 0) [[unlikely]] {
    posted = bad == nullptr ? 0 : static_cast<uint32_t>(bad - recv_wrs_);
    stats_.rx_errors++;
    qp_error_ = true;  // the QP may have left RTS: the next poll looks
  }
  for (uint32_t i = 0; i < posted; ++i) rx_posted_[static_cast<uint32_t>(recv_wrs_[i].wr_id)] = 1;
  num_reposts_ -= posted;
  recv_posted_ += posted;
}

FLIT_HOT uint32_t RdmaTransport::rx_burst(RxPacket* pkts, uint32_t max) {
  constexpr uint32_t kMaxPoll = 64;
  ibv_wc wc[kMaxPoll];
  int got = ibv_poll_cq(recv_cq_, static_cast<int>(std::min(max, kMaxPoll)), wc);
  if (got <= 0) {
    if (got < 0) [[unlikely]]
      stats_.rx_errors++;
    // Idle: give back buffers held below the batch size.
    if (num_reposts_ > 0) post_recvs(num_reposts_);
    if (qp_error_) [[unlikely]]
      recover_qp();
    return 0;
  }
  uint32_t out = 0;
  for (int i = 0; i < got; ++i) {
    const ibv_wc& c = wc[i];
    // Not a buffer posted now: a completion of the QP before a rebuild
    // (providers differ in what they keep past RESET). Ignored: that post
    // was taken back at the rebuild.
    const uint32_t b = posted_buffer(c.wr_id);
    if (b == kNotPosted) [[unlikely]]
      continue;
    rx_posted_[b] = 0;
    recv_posted_--;
    uint8_t* buf = rx_mem_ + size_t{b} * rx_slot_;
    if (c.status != IBV_WC_SUCCESS || c.byte_len < kGrhSize) [[unlikely]] {
      stats_.rx_errors++;
      reposts_[num_reposts_++] = b;
      // A receive error leaves the QP in ERR; a flush says it is there.
      if (c.status != IBV_WC_SUCCESS) qp_error_ = true;
      continue;
    }
    uint32_t len = c.byte_len - kGrhSize;
    if (len > mtu_) [[unlikely]] {
      stats_.rx_truncated++;
      reposts_[num_reposts_++] = b;
      continue;
    }
    RdmaRoute* r = rdma_route(&rx_routes_[b]);
    r->qpn = c.src_qp;
    r->qkey = qkey_;
    if ((c.wc_flags & IBV_WC_GRH) != 0) {
      r->global = 1;
      r->lid = 0;
      // Only RoCE v2 carries IPv4; on InfiniBand the GRH is always one.
      if (!roce_ || !grh_holds_ipv4(buf)) {
        std::memcpy(r->gid, buf + 8, 16);  // IB GRH / RoCE v1 / RoCE v2 over IPv6: SGID
      } else {
        // RoCE v2 over IPv4: the IPv4 header sits in the GRH area's last
        // 20 bytes; the GID is the IPv4-mapped source address.
        std::memset(r->gid, 0, 10);
        r->gid[10] = r->gid[11] = 0xff;
        std::memcpy(r->gid + 12, buf + 20 + 12, 4);
      }
    } else {
      r->global = 0;
      std::memset(r->gid, 0, 16);
      r->lid = c.slid;
    }
    // A known host, or a new one while its bucket has room; never an
    // eviction here: packets from anywhere (a flood) must not push out the
    // hosts being served. A host found no room for gets one when, and if,
    // the engine answers it (tx_burst).
    const uint32_t ps = peer_slot(*r, false);
    if (ps != kNoPeer) [[likely]] {
      peers_[ps].used = 1;
      r->peer = ps;
      r->peer_gen = peers_[ps].gen;
    } else {
      r->peer = kNoPeer;
      r->peer_gen = 0;
    }
    RxPacket& p = pkts[out++];
    p.data = buf + kGrhSize;
    p.len = len;
    p.from = &rx_routes_[b];
    p.cookie = b;
  }
  if (qp_error_) [[unlikely]]
    recover_qp();
  if (num_reposts_ >= post_batch_) post_recvs(num_reposts_);
  return out;
}

FLIT_HOT void RdmaTransport::rx_release(const RxPacket* pkts, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) reposts_[num_reposts_++] = static_cast<uint32_t>(pkts[i].cookie);
  while (num_reposts_ >= post_batch_) {
    uint32_t before = num_reposts_;
    post_recvs(num_reposts_);
    if (num_reposts_ == before) break;  // the RQ refused: try again next burst
  }
}

}  // namespace flit::transport
