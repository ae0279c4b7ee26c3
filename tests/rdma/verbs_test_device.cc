// tests/rdma/verbs_test_device.cc: the in-memory verbs device (see
// verbs_test_device.h for the semantics and how it is linked).
#include "verbs_test_device.h"

#include <sched.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace flit::testing::verbs_device {
namespace {

constexpr uint32_t kMaxQpWr = 16384;
constexpr int kMaxCqe = 65536;
constexpr uint32_t kMaxSge = 4;
constexpr uint32_t kMaxInline = 512;
constexpr uint32_t kGrh = 40;
constexpr int kGidTable = 4;

size_t mtu_bytes(ibv_mtu m) { return size_t{128} << static_cast<int>(m); }

struct Gid {
  uint8_t raw[16];
  ibv_gid_type type;
};

struct Device {
  ibv_device ibdev;  // first: ibv_device* and Device* convert
  bool roce;
  uint16_t lid;
  ibv_port_state state;
  ibv_mtu active_mtu;
  Gid gids[kGidTable];
  int num_gids;
};

struct Context {
  verbs_context vctx;  // vctx.context is what the transport holds
  Device* dev;
};

struct Mr {
  ibv_mr mr;
  int access;
};

struct Ah {
  ibv_ah ah;
  ibv_ah_attr attr;
};

struct Cq;

struct PendingSend {
  uint64_t wr_id;
  uint64_t seq;
  bool signalled;
  bool is_inline;
  uint32_t num_sge;
  ibv_sge sge[kMaxSge];
  uint32_t inline_len;
  Ah* ah;
  uint32_t remote_qpn;
  uint32_t remote_qkey;
};

struct PostedRecv {
  uint64_t wr_id;
  ibv_sge sge;
  bool has_sge;
};

struct Qp {
  ibv_qp qp;
  Device* dev;
  uint8_t port = 0;
  uint32_t qkey = 0;
  ibv_qp_cap cap{};
  // Send queue: pending (not yet executed) WRs, a ring.
  std::vector<PendingSend> sq;
  std::vector<uint8_t> inline_data;  // cap.max_inline_data bytes per sq slot
  uint32_t sq_head = 0, sq_count = 0;
  uint64_t sq_posted = 0;   // sequence numbers handed out
  uint64_t sq_retired = 0;  // highest seq whose (signalled) completion was polled
  // Receive queue: posted buffers, a ring.
  std::vector<PostedRecv> rq;
  // Receives discarded at RESET whose flushes come late (flush_late_at_reset):
  // completed when the QP next reaches RTS.
  std::vector<uint64_t> late_flushes;
  uint32_t rq_head = 0, rq_count = 0;
};

struct CqEntry {
  ibv_wc wc;
  uint64_t seq;  // send completions: retires the QP's slots up to it
  bool send;
};

struct Cq {
  ibv_cq cq;
  std::vector<CqEntry> ring;
  uint32_t head = 0, count = 0;
  std::atomic<uint32_t> ready{0};  // == count, readable without the lock
  bool overrun = false;
};

struct Pd {
  ibv_pd pd;
  int users = 0;  // MRs, QPs, AHs
};

// The device's one lock. Every thread polling a CQ takes it, so under CPU
// contention a futex mutex turns each handoff into a sleep and a wake-up
// (tens of microseconds); spinning briefly, then yielding, keeps the
// handoff in user space and lets a preempted holder run.
class DeviceLock {
 public:
  void lock() {
    for (uint32_t spins = 0; flag_.test_and_set(std::memory_order_acquire); ++spins) {
      if (spins >= 128) sched_yield();
    }
  }
  void unlock() { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};

struct State {
  DeviceLock mu;
  Device devs[kNumDevices];
  int visible = kNumDevices;
  bool refuse_last_wr = false;  // refuse_last_wr_of_next_chain
  bool late_flushes = false;    // flush_late_at_reset
  bool refuse_reset = false;    // refuse_reset
  Counters counters;
  std::unordered_map<uint32_t, Qp*> qps;   // by QP number (unique process-wide)
  std::unordered_map<uint32_t, Mr*> mrs;   // by lkey
  std::unordered_set<const Ah*> live_ahs;  // created, not destroyed
  uint32_t next_qpn = 0x000200;
  uint32_t next_key = 0x1000;
  int contexts = 0;
  // Sends posted and not yet executed, device-wide; with Cq::ready, lets an
  // empty poll return without the lock (pollers spin; a lock holder that
  // is preempted would stall them all).
  std::atomic<uint64_t> pending_sends{0};
  std::vector<uint8_t> scratch;  // one packet being moved
  State() {
    reset_locked();
    scratch.resize(8192);
    qps.reserve(1024);
    mrs.reserve(1024);
  }
  void reset_locked() {
    refuse_last_wr = false;
    late_flushes = false;
    refuse_reset = false;
    for (int d = 0; d < kNumDevices; ++d) {
      Device& dev = devs[d];
      std::memset(&dev.ibdev, 0, sizeof dev.ibdev);
      std::snprintf(dev.ibdev.name, sizeof dev.ibdev.name, "flitdev%d", d);
      std::snprintf(dev.ibdev.dev_name, sizeof dev.ibdev.dev_name, "uverbs%d", d);
      dev.ibdev.node_type = IBV_NODE_CA;
      dev.ibdev.transport_type = IBV_TRANSPORT_IB;
      dev.state = IBV_PORT_ACTIVE;
      std::memset(dev.gids, 0, sizeof dev.gids);
      if (d == 0) {
        dev.roce = true;
        dev.lid = 0;
        dev.active_mtu = IBV_MTU_1024;
        dev.num_gids = 4;
        uint8_t ll[16] = {0xfe, 0x80, 0,    0,    0,    0,    0,    0,
                          0x02, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x00, 0x01};
        uint8_t v4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
        std::memcpy(dev.gids[0].raw, ll, 16);
        dev.gids[0].type = IBV_GID_TYPE_ROCE_V1;
        std::memcpy(dev.gids[1].raw, ll, 16);
        dev.gids[1].type = IBV_GID_TYPE_ROCE_V2;
        std::memcpy(dev.gids[2].raw, v4, 16);
        dev.gids[2].type = IBV_GID_TYPE_ROCE_V1;
        std::memcpy(dev.gids[3].raw, v4, 16);
        dev.gids[3].type = IBV_GID_TYPE_ROCE_V2;
      } else {
        dev.roce = false;
        dev.lid = static_cast<uint16_t>(0x10 + d);
        dev.active_mtu = IBV_MTU_4096;
        dev.num_gids = 1;
        uint8_t g[16] = {0xfe, 0x80, 0,    0,    0, 0, 0, 0,
                         0x00, 0x02, 0xc9, 0x03, 0, 0, 0, static_cast<uint8_t>(0x10 + d)};
        std::memcpy(dev.gids[0].raw, g, 16);
        dev.gids[0].type = IBV_GID_TYPE_IB;
      }
    }
    visible = kNumDevices;
    counters = Counters{};
  }
};

State& st() {
  static State* s = new State();  // never destroyed: verbs may run during exit
  return *s;
}

Device* dev_of(ibv_context* c) {
  return reinterpret_cast<Context*>(reinterpret_cast<uint8_t*>(c) - offsetof(Context, vctx.context))
      ->dev;
}

// Finds the port a UD address handle names: by GID (global) or LID.
Device* route(const Ah& ah) {
  State& s = st();
  for (Device& d : s.devs) {
    if (ah.attr.is_global) {
      for (int i = 0; i < d.num_gids; ++i) {
        if (std::memcmp(d.gids[i].raw, ah.attr.grh.dgid.raw, 16) == 0) return &d;
      }
    } else if (!d.roce && d.lid == ah.attr.dlid) {
      return &d;
    }
  }
  return nullptr;
}

void push_cqe(Cq* cq, const ibv_wc& wc, uint64_t seq, bool send) {
  if (cq->count == cq->ring.size()) {
    cq->overrun = true;  // a real CQ overrun is a fatal async error
    return;
  }
  CqEntry& e = cq->ring[(cq->head + cq->count) % cq->ring.size()];
  e.wc = wc;
  e.seq = seq;
  e.send = send;
  cq->count++;
  cq->ready.store(cq->count, std::memory_order_release);
}

Mr* find_mr(uint32_t lkey, Pd* pd) {
  auto it = st().mrs.find(lkey);
  if (it == st().mrs.end() || it->second->mr.pd != &pd->pd) return nullptr;
  return it->second;
}

bool in_mr(const Mr* m, uint64_t addr, uint32_t len) {
  uint64_t b = reinterpret_cast<uintptr_t>(m->mr.addr);
  return addr >= b && addr + len <= b + m->mr.length;
}

void complete_send(Qp* q, const PendingSend& w, ibv_wc_status status) {
  if (status != IBV_WC_SUCCESS || w.signalled) {
    ibv_wc wc{};
    wc.wr_id = w.wr_id;
    wc.status = status;
    wc.opcode = IBV_WC_SEND;
    wc.qp_num = q->qp.qp_num;
    push_cqe(reinterpret_cast<Cq*>(q->qp.send_cq), wc, w.seq, true);
  }
}

// Executes one send: gathers the bytes, checks them, delivers them.
ibv_wc_status execute(Qp* q, const PendingSend& w) {
  State& s = st();
  Pd* pd = reinterpret_cast<Pd*>(q->qp.pd);
  uint8_t* pkt = s.scratch.data();
  uint32_t len = 0;
  if (w.is_inline) {
    len = w.inline_len;
    std::memcpy(pkt, q->inline_data.data() + (w.seq % q->sq.size()) * q->cap.max_inline_data, len);
  } else {
    for (uint32_t i = 0; i < w.num_sge; ++i) {
      const ibv_sge& g = w.sge[i];
      if (len + g.length > mtu_bytes(q->dev->active_mtu)) return IBV_WC_LOC_LEN_ERR;
      Mr* m = find_mr(g.lkey, pd);
      if (m == nullptr || !in_mr(m, g.addr, g.length)) return IBV_WC_LOC_PROT_ERR;
      std::memcpy(pkt + len, reinterpret_cast<const void*>(g.addr), g.length);  // the "DMA"
      len += g.length;
    }
  }
  if (len > mtu_bytes(q->dev->active_mtu)) return IBV_WC_LOC_LEN_ERR;
  (w.is_inline ? s.counters.sends_inline : s.counters.sends_gather)++;

  // An address handle destroyed while a send using it was queued: the
  // driver would read freed memory. Counted, and the send fails.
  if (s.live_ahs.count(w.ah) == 0) {
    s.counters.sends_on_destroyed_ah++;
    return IBV_WC_GENERAL_ERR;
  }
  // The wire: find the destination; anything wrong there is a silent drop.
  Device* dst_dev = route(*w.ah);
  auto it = s.qps.find(w.remote_qpn);
  if (dst_dev == nullptr || it == s.qps.end() || it->second->dev != dst_dev) {
    s.counters.dropped_no_qp++;
    return IBV_WC_SUCCESS;
  }
  Qp* d = it->second;
  if (d->qp.state != IBV_QPS_RTR && d->qp.state != IBV_QPS_RTS) {
    s.counters.dropped_no_qp++;
    return IBV_WC_SUCCESS;
  }
  if (d->qkey != w.remote_qkey) {
    s.counters.dropped_qkey++;
    return IBV_WC_SUCCESS;
  }
  if (len > mtu_bytes(dst_dev->active_mtu)) {
    s.counters.dropped_no_recv++;
    return IBV_WC_SUCCESS;
  }
  if (d->rq_count == 0) {
    s.counters.dropped_no_recv++;
    return IBV_WC_SUCCESS;
  }
  PostedRecv r = d->rq[d->rq_head];
  d->rq_head = (d->rq_head + 1) % d->rq.size();
  d->rq_count--;
  ibv_wc wc{};
  wc.wr_id = r.wr_id;
  wc.opcode = IBV_WC_RECV;
  wc.qp_num = d->qp.qp_num;
  wc.src_qp = q->qp.qp_num;
  wc.slid = q->dev->lid;
  Cq* rcq = reinterpret_cast<Cq*>(d->qp.recv_cq);
  Mr* m = r.has_sge ? find_mr(r.sge.lkey, reinterpret_cast<Pd*>(d->qp.pd)) : nullptr;
  if (m == nullptr || !in_mr(m, r.sge.addr, r.sge.length) ||
      (m->access & IBV_ACCESS_LOCAL_WRITE) == 0) {
    wc.status = IBV_WC_LOC_PROT_ERR;
    s.counters.recv_errors++;
    push_cqe(rcq, wc, 0, false);
    return IBV_WC_SUCCESS;
  }
  if (r.sge.length < kGrh + len) {
    wc.status = IBV_WC_LOC_LEN_ERR;
    s.counters.recv_errors++;
    push_cqe(rcq, wc, 0, false);
    return IBV_WC_SUCCESS;
  }
  auto* buf = reinterpret_cast<uint8_t*>(r.sge.addr);
  if (w.ah->attr.is_global) {
    const Gid& sg = q->dev->gids[w.ah->attr.grh.sgid_index];
    std::memset(buf, 0, kGrh);
    bool v4 = sg.type == IBV_GID_TYPE_ROCE_V2 && sg.raw[10] == 0xff && sg.raw[11] == 0xff &&
              std::memcmp(sg.raw, "\0\0\0\0\0\0\0\0\0\0", 10) == 0;
    if (v4) {
      // RoCE v2 over IPv4: 20 undefined bytes, then the IPv4 header.
      buf[20] = 0x45;
      buf[20 + 8] = w.ah->attr.grh.hop_limit;
      buf[20 + 9] = 17;  // UDP
      std::memcpy(buf + 20 + 12, sg.raw + 12, 4);
      std::memcpy(buf + 20 + 16, w.ah->attr.grh.dgid.raw + 12, 4);
    } else {
      buf[0] = 0x60;
      buf[6] = 0x1b;  // next header: IB BTH
      buf[7] = w.ah->attr.grh.hop_limit;
      std::memcpy(buf + 8, sg.raw, 16);
      std::memcpy(buf + 24, w.ah->attr.grh.dgid.raw, 16);
    }
    wc.wc_flags = IBV_WC_GRH;
  }
  std::memcpy(buf + kGrh, pkt, len);
  wc.byte_len = kGrh + len;
  wc.status = IBV_WC_SUCCESS;
  push_cqe(rcq, wc, 0, false);
  s.counters.delivered++;
  if (len > s.counters.max_delivered_len) s.counters.max_delivered_len = len;
  return IBV_WC_SUCCESS;
}

// Runs every pending send of every QP, in order per QP. Lock held.
void progress() {
  State& s = st();
  for (auto& [qpn, q] : s.qps) {
    while (q->sq_count > 0) {
      PendingSend& w = q->sq[q->sq_head];
      q->sq_head = (q->sq_head + 1) % q->sq.size();
      q->sq_count--;
      s.pending_sends.fetch_sub(1, std::memory_order_relaxed);
      if (q->qp.state != IBV_QPS_RTS) {
        complete_send(q, w, IBV_WC_WR_FLUSH_ERR);
        continue;
      }
      ibv_wc_status status = execute(q, w);
      if (status != IBV_WC_SUCCESS) {
        s.counters.send_errors++;
        q->qp.state = IBV_QPS_SQE;  // the rest of the queue is flushed
      }
      complete_send(q, w, status);
    }
  }
}

// A receive of q completed with a flush error. Lock held.
void flush_recv(Qp* q, uint64_t wr_id) {
  ibv_wc wc{};
  wc.wr_id = wr_id;
  wc.status = IBV_WC_WR_FLUSH_ERR;
  wc.opcode = IBV_WC_RECV;
  wc.qp_num = q->qp.qp_num;
  push_cqe(reinterpret_cast<Cq*>(q->qp.recv_cq), wc, 0, false);
}

// Removes q's completions from cq, as mlx4/mlx5 do when a QP goes to RESET.
void clean_cq(Cq* cq, uint32_t qp_num) {
  uint32_t kept = 0;
  for (uint32_t i = 0; i < cq->count; ++i) {
    const CqEntry e = cq->ring[(cq->head + i) % cq->ring.size()];
    if (e.wc.qp_num != qp_num) cq->ring[(cq->head + kept++) % cq->ring.size()] = e;
  }
  cq->count = kept;
  cq->ready.store(kept, std::memory_order_release);
}

// Moves q to state `to` (checked by the caller). ERR completes every
// posted receive with a flush error unless flush_receives is false (a
// provider whose flushes have not come yet; the sends flush as progress()
// meets them); RESET discards both queues and removes q's completions from
// its CQs. Lock held.
void enter_state(Qp* q, ibv_qp_state to, bool flush_receives = true) {
  if (to == IBV_QPS_ERR && q->qp.state != IBV_QPS_ERR && flush_receives) {
    for (; q->rq_count > 0; q->rq_count--) {
      flush_recv(q, q->rq[q->rq_head].wr_id);
      q->rq_head = (q->rq_head + 1) % q->rq.size();
    }
  }
  if (to == IBV_QPS_RESET) {
    st().pending_sends.fetch_sub(q->sq_count, std::memory_order_relaxed);
    if (st().late_flushes) {
      for (uint32_t i = 0; i < q->rq_count; ++i)
        q->late_flushes.push_back(q->rq[(q->rq_head + i) % q->rq.size()].wr_id);
    }
    q->sq_count = q->rq_count = 0;
    q->sq_retired = q->sq_posted;  // nothing outstanding holds a slot
    clean_cq(reinterpret_cast<Cq*>(q->qp.send_cq), q->qp.qp_num);
    clean_cq(reinterpret_cast<Cq*>(q->qp.recv_cq), q->qp.qp_num);
  }
  if (to == IBV_QPS_RTS) {
    for (uint64_t id : q->late_flushes) flush_recv(q, id);
    q->late_flushes.clear();
  }
  q->qp.state = to;
}

int poll_cq(ibv_cq* ibcq, int n, ibv_wc* wc) {
  State& s = st();
  Cq* cq = reinterpret_cast<Cq*>(ibcq);
  if (cq->ready.load(std::memory_order_acquire) == 0 &&
      s.pending_sends.load(std::memory_order_acquire) == 0) {
    return 0;  // nothing to execute, nothing to return
  }
  std::lock_guard<DeviceLock> lk(s.mu);
  progress();
  if (cq->overrun) return -1;
  int got = 0;
  while (got < n && cq->count > 0) {
    CqEntry& e = cq->ring[cq->head];
    cq->head = (cq->head + 1) % cq->ring.size();
    cq->count--;
    cq->ready.store(cq->count, std::memory_order_release);
    wc[got++] = e.wc;
    if (e.send) {
      auto it = s.qps.find(e.wc.qp_num);
      if (it != s.qps.end() && e.seq > it->second->sq_retired) it->second->sq_retired = e.seq;
    }
  }
  return got;
}

int post_send(ibv_qp* ibqp, ibv_send_wr* wr, ibv_send_wr** bad) {
  State& s = st();
  std::lock_guard<DeviceLock> lk(s.mu);
  Qp* q = reinterpret_cast<Qp*>(ibqp);
  const bool refuse_last = s.refuse_last_wr && wr != nullptr && wr->next != nullptr;
  if (refuse_last) s.refuse_last_wr = false;
  for (; wr != nullptr; wr = wr->next) {
    int err = 0;
    uint32_t total = 0;
    for (int i = 0; i < wr->num_sge; ++i) total += wr->sg_list[i].length;
    // In ERR a send is taken and flushed (progress()), as devices do.
    if ((q->qp.state != IBV_QPS_RTS && q->qp.state != IBV_QPS_ERR) ||
        (refuse_last && wr->next == nullptr)) {
      err = EINVAL;
    } else if (wr->opcode != IBV_WR_SEND || wr->num_sge < 0 ||
               static_cast<uint32_t>(wr->num_sge) > q->cap.max_send_sge ||
               wr->wr.ud.ah == nullptr) {
      err = EINVAL;
    } else if ((wr->send_flags & IBV_SEND_INLINE) != 0 && total > q->cap.max_inline_data) {
      err = EINVAL;
    } else if (q->sq_posted - q->sq_retired >= q->cap.max_send_wr) {
      err = ENOMEM;  // send queue full: completions not polled
    }
    if (err != 0) {
      s.counters.post_send_refused++;
      *bad = wr;
      return err;
    }
    uint64_t seq = ++q->sq_posted;
    PendingSend& p = q->sq[(q->sq_head + q->sq_count) % q->sq.size()];
    q->sq_count++;
    s.pending_sends.fetch_add(1, std::memory_order_release);
    p.wr_id = wr->wr_id;
    p.seq = seq;
    p.signalled = (wr->send_flags & IBV_SEND_SIGNALED) != 0;
    p.is_inline = (wr->send_flags & IBV_SEND_INLINE) != 0;
    p.ah = reinterpret_cast<Ah*>(wr->wr.ud.ah);
    p.remote_qpn = wr->wr.ud.remote_qpn;
    p.remote_qkey = wr->wr.ud.remote_qkey;
    p.num_sge = static_cast<uint32_t>(wr->num_sge);
    p.inline_len = 0;
    if (p.is_inline) {
      // Inline data is copied now: the caller may reuse its buffers at once.
      uint8_t* dst = q->inline_data.data() + (seq % q->sq.size()) * q->cap.max_inline_data;
      for (int i = 0; i < wr->num_sge; ++i) {
        std::memcpy(dst + p.inline_len, reinterpret_cast<const void*>(wr->sg_list[i].addr),
                    wr->sg_list[i].length);
        p.inline_len += wr->sg_list[i].length;
      }
    } else {
      for (int i = 0; i < wr->num_sge; ++i) p.sge[i] = wr->sg_list[i];
    }
  }
  return 0;
}

int post_recv(ibv_qp* ibqp, ibv_recv_wr* wr, ibv_recv_wr** bad) {
  State& s = st();
  std::lock_guard<DeviceLock> lk(s.mu);
  Qp* q = reinterpret_cast<Qp*>(ibqp);
  for (; wr != nullptr; wr = wr->next) {
    if (q->qp.state == IBV_QPS_RESET || wr->num_sge < 0 ||
        static_cast<uint32_t>(wr->num_sge) > q->cap.max_recv_sge) {
      *bad = wr;
      return EINVAL;
    }
    if (q->qp.state == IBV_QPS_ERR) {  // taken and flushed at once, as devices do
      flush_recv(q, wr->wr_id);
      continue;
    }
    if (q->rq_count == q->rq.size()) {
      *bad = wr;
      return ENOMEM;
    }
    for (uint32_t i = 0; i < q->rq_count && wr->num_sge > 0; ++i) {
      const PostedRecv& o = q->rq[(q->rq_head + i) % q->rq.size()];
      if (o.has_sge && o.sge.addr == wr->sg_list[0].addr) s.counters.recv_posted_twice++;
    }
    PostedRecv& r = q->rq[(q->rq_head + q->rq_count) % q->rq.size()];
    q->rq_count++;
    r.wr_id = wr->wr_id;
    r.has_sge = wr->num_sge > 0;
    if (r.has_sge) r.sge = wr->sg_list[0];
  }
  return 0;
}

int query_port(ibv_context* c, uint8_t port, ibv_port_attr* a, size_t) {
  std::lock_guard<DeviceLock> lk(st().mu);
  Device* d = dev_of(c);
  if (port != 1) return EINVAL;
  std::memset(a, 0, sizeof *a);
  a->state = d->state;
  a->max_mtu = IBV_MTU_4096;
  a->active_mtu = d->active_mtu;
  a->gid_tbl_len = d->num_gids;
  a->lid = d->lid;
  a->link_layer = d->roce ? IBV_LINK_LAYER_ETHERNET : IBV_LINK_LAYER_INFINIBAND;
  a->max_msg_sz = 1u << 30;
  a->pkey_tbl_len = 1;
  a->active_width = 2;
  a->active_speed = 32;
  return 0;
}

template <typename T>
T* fail(int e) {
  errno = e;
  return nullptr;
}

}  // namespace

void reset() {
  std::lock_guard<DeviceLock> lk(st().mu);
  st().reset_locked();
}
void set_visible_devices(int n) {
  std::lock_guard<DeviceLock> lk(st().mu);
  st().visible = n;
}
void set_port_state(int dev, ibv_port_state s) {
  std::lock_guard<DeviceLock> lk(st().mu);
  st().devs[dev].state = s;
}
void refuse_last_wr_of_next_chain() {
  std::lock_guard<DeviceLock> lk(st().mu);
  st().refuse_last_wr = true;
}
void flush_late_at_reset(bool on) {
  std::lock_guard<DeviceLock> lk(st().mu);
  st().late_flushes = on;
}
void refuse_reset(bool on) {
  std::lock_guard<DeviceLock> lk(st().mu);
  st().refuse_reset = on;
}
void fail_qp(uint32_t qp_num, bool flush_receives) {
  std::lock_guard<DeviceLock> lk(st().mu);
  auto it = st().qps.find(qp_num);
  if (it != st().qps.end()) enter_state(it->second, IBV_QPS_ERR, flush_receives);
}
void set_active_mtu(int dev, ibv_mtu m) {
  std::lock_guard<DeviceLock> lk(st().mu);
  st().devs[dev].active_mtu = m;
}
Counters counters() {
  std::lock_guard<DeviceLock> lk(st().mu);
  return st().counters;
}
int open_contexts() {
  std::lock_guard<DeviceLock> lk(st().mu);
  return st().contexts;
}
int live_qps() {
  std::lock_guard<DeviceLock> lk(st().mu);
  return static_cast<int>(st().qps.size());
}
int live_mrs() {
  std::lock_guard<DeviceLock> lk(st().mu);
  return static_cast<int>(st().mrs.size());
}
int live_ahs() {
  std::lock_guard<DeviceLock> lk(st().mu);
  return static_cast<int>(st().live_ahs.size());
}

}  // namespace flit::testing::verbs_device

// The libibverbs functions the transport calls, defined here so that they
// interpose on libibverbs.so's (see the header).
using namespace flit::testing::verbs_device;  // NOLINT

extern "C" {

ibv_device** ibv_get_device_list(int* num) {
  State& s = st();
  std::lock_guard<DeviceLock> lk(s.mu);
  auto** list = new ibv_device*[kNumDevices + 1]();
  int n = 0;
  for (int i = 0; i < s.visible && i < kNumDevices; ++i) list[n++] = &s.devs[i].ibdev;
  if (num != nullptr) *num = n;
  return list;
}

void ibv_free_device_list(ibv_device** list) { delete[] list; }

const char* ibv_get_device_name(ibv_device* d) { return d->name; }

ibv_context* ibv_open_device(ibv_device* d) {
  State& s = st();
  std::lock_guard<DeviceLock> lk(s.mu);
  auto* c = new Context();
  std::memset(&c->vctx, 0, sizeof c->vctx);
  c->dev = reinterpret_cast<Device*>(d);
  c->vctx.sz = sizeof(verbs_context);
  c->vctx.query_port = query_port;
  c->vctx.context.device = d;
  c->vctx.context.abi_compat = __VERBS_ABI_IS_EXTENDED;
  c->vctx.context.ops.poll_cq = poll_cq;
  c->vctx.context.ops.post_send = post_send;
  c->vctx.context.ops.post_recv = post_recv;
  s.contexts++;
  return &c->vctx.context;
}

int ibv_close_device(ibv_context* ctx) {
  State& s = st();
  std::lock_guard<DeviceLock> lk(s.mu);
  s.contexts--;
  delete reinterpret_cast<Context*>(reinterpret_cast<uint8_t*>(ctx) -
                                    offsetof(Context, vctx.context));
  return 0;
}

int ibv_query_device(ibv_context* ctx, ibv_device_attr* a) {
  std::lock_guard<DeviceLock> lk(st().mu);
  std::memset(a, 0, sizeof *a);
  std::snprintf(a->fw_ver, sizeof a->fw_ver, "flit-test-1.0");
  a->max_qp = 1 << 16;
  a->max_qp_wr = kMaxQpWr;
  a->max_sge = kMaxSge;
  a->max_cq = 1 << 16;
  a->max_cqe = kMaxCqe;
  a->max_mr = 1 << 20;
  a->max_pd = 1 << 16;
  a->max_ah = 1 << 20;
  a->phys_port_cnt = 1;
  a->vendor_id = 0xf117;
  (void)dev_of(ctx);
  return 0;
}

int ibv_query_gid(ibv_context* ctx, uint8_t port, int index, ibv_gid* gid) {
  std::lock_guard<DeviceLock> lk(st().mu);
  Device* d = dev_of(ctx);
  if (port != 1 || index < 0 || index >= d->num_gids) return -1;
  std::memcpy(gid->raw, d->gids[index].raw, 16);
  return 0;
}

int _ibv_query_gid_ex(ibv_context* ctx, uint32_t port, uint32_t index, ibv_gid_entry* e,
                      uint32_t flags, size_t) {
  std::lock_guard<DeviceLock> lk(st().mu);
  Device* d = dev_of(ctx);
  if (port != 1 || flags != 0 || index >= static_cast<uint32_t>(d->num_gids)) return EINVAL;
  std::memset(e, 0, sizeof *e);
  std::memcpy(e->gid.raw, d->gids[index].raw, 16);
  e->gid_index = index;
  e->port_num = port;
  e->gid_type = d->gids[index].type;
  return 0;
}

ibv_pd* ibv_alloc_pd(ibv_context* ctx) {
  std::lock_guard<DeviceLock> lk(st().mu);
  auto* p = new Pd();
  p->pd.context = ctx;
  p->pd.handle = st().next_key++;
  return &p->pd;
}

int ibv_dealloc_pd(ibv_pd* pd) {
  std::lock_guard<DeviceLock> lk(st().mu);
  Pd* p = reinterpret_cast<Pd*>(pd);
  if (p->users != 0) {
    st().counters.resource_errors++;
    return EBUSY;
  }
  delete p;
  return 0;
}

ibv_mr*(ibv_reg_mr)(ibv_pd* pd, void* addr, size_t len, int access) {
  State& s = st();
  std::lock_guard<DeviceLock> lk(s.mu);
  if (pd == nullptr || addr == nullptr || len == 0) return fail<ibv_mr>(EINVAL);
  auto* m = new Mr();
  m->access = access;
  m->mr.context = pd->context;
  m->mr.pd = pd;
  m->mr.addr = addr;
  m->mr.length = len;
  m->mr.lkey = s.next_key++;
  m->mr.rkey = (access & (IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE)) ? m->mr.lkey : 0;
  m->mr.handle = m->mr.lkey;
  s.mrs[m->mr.lkey] = m;
  reinterpret_cast<Pd*>(pd)->users++;
  return &m->mr;
}

ibv_mr* ibv_reg_mr_iova2(ibv_pd* pd, void* addr, size_t len, uint64_t, unsigned int access) {
  return (ibv_reg_mr)(pd, addr, len, static_cast<int>(access));
}

int ibv_dereg_mr(ibv_mr* mr) {
  State& s = st();
  std::lock_guard<DeviceLock> lk(s.mu);
  s.mrs.erase(mr->lkey);
  reinterpret_cast<Pd*>(mr->pd)->users--;
  delete reinterpret_cast<Mr*>(mr);
  return 0;
}

ibv_cq* ibv_create_cq(ibv_context* ctx, int cqe, void* cq_context, ibv_comp_channel* ch, int) {
  std::lock_guard<DeviceLock> lk(st().mu);
  if (cqe <= 0 || cqe > kMaxCqe) return fail<ibv_cq>(EINVAL);
  auto* c = new Cq();
  c->cq.context = ctx;
  c->cq.channel = ch;
  c->cq.cq_context = cq_context;
  c->cq.cqe = cqe;
  c->ring.resize(static_cast<size_t>(cqe));
  return &c->cq;
}

int ibv_destroy_cq(ibv_cq* cq) {
  std::lock_guard<DeviceLock> lk(st().mu);
  for (auto& [n, q] : st().qps) {
    if (q->qp.send_cq == cq || q->qp.recv_cq == cq) {
      st().counters.resource_errors++;
      return EBUSY;
    }
  }
  delete reinterpret_cast<Cq*>(cq);
  return 0;
}

ibv_qp* ibv_create_qp(ibv_pd* pd, ibv_qp_init_attr* ia) {
  State& s = st();
  std::lock_guard<DeviceLock> lk(s.mu);
  if (ia->qp_type != IBV_QPT_UD) return fail<ibv_qp>(EOPNOTSUPP);  // UD only, like flit
  if (ia->send_cq == nullptr || ia->recv_cq == nullptr || ia->srq != nullptr)
    return fail<ibv_qp>(EINVAL);
  ibv_qp_cap& c = ia->cap;
  if (c.max_send_wr == 0 || c.max_send_wr > kMaxQpWr || c.max_recv_wr > kMaxQpWr ||
      c.max_send_sge > kMaxSge || c.max_recv_sge > kMaxSge || c.max_inline_data > kMaxInline) {
    return fail<ibv_qp>(EINVAL);
  }
  auto* q = new Qp();
  q->dev = reinterpret_cast<Context*>(reinterpret_cast<uint8_t*>(pd->context) -
                                      offsetof(Context, vctx.context))
               ->dev;
  q->qp.context = pd->context;
  q->qp.pd = pd;
  q->qp.send_cq = ia->send_cq;
  q->qp.recv_cq = ia->recv_cq;
  q->qp.qp_context = ia->qp_context;
  q->qp.qp_type = IBV_QPT_UD;
  q->qp.state = IBV_QPS_RESET;
  q->qp.qp_num = s.next_qpn++ & 0xffffff;
  q->cap = c;
  q->sq.resize(c.max_send_wr);
  q->inline_data.resize(size_t{c.max_send_wr} * c.max_inline_data);
  q->rq.resize(c.max_recv_wr == 0 ? 1 : c.max_recv_wr);
  s.qps[q->qp.qp_num] = q;
  reinterpret_cast<Pd*>(pd)->users++;
  return &q->qp;
}

int ibv_modify_qp(ibv_qp* ibqp, ibv_qp_attr* a, int mask) {
  std::lock_guard<DeviceLock> lk(st().mu);
  Qp* q = reinterpret_cast<Qp*>(ibqp);
  if ((mask & IBV_QP_STATE) == 0) return EINVAL;
  ibv_qp_state from = q->qp.state, to = a->qp_state;
  if ((mask & IBV_QP_CUR_STATE) != 0 && a->cur_qp_state != from) return EINVAL;
  const int init_mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY;
  bool ok = false;
  if (to == IBV_QPS_RESET || to == IBV_QPS_ERR) {
    ok = to == IBV_QPS_ERR || !st().refuse_reset;
  } else if (from == IBV_QPS_RESET && to == IBV_QPS_INIT) {
    ok = (mask & init_mask) == init_mask && a->port_num == 1 && a->pkey_index == 0;
    if (ok) {
      q->port = a->port_num;
      q->qkey = a->qkey;
    }
  } else if (from == IBV_QPS_INIT && to == IBV_QPS_RTR) {
    ok = mask == IBV_QP_STATE || (mask & ~(IBV_QP_STATE | IBV_QP_QKEY)) == 0;
  } else if (from == IBV_QPS_RTR && to == IBV_QPS_RTS) {
    ok = (mask & IBV_QP_SQ_PSN) != 0;
  } else if ((from == IBV_QPS_SQE || from == IBV_QPS_RTS) && to == IBV_QPS_RTS) {
    ok = true;
  }
  if (!ok) return EINVAL;
  if ((mask & IBV_QP_QKEY) != 0) q->qkey = a->qkey;
  enter_state(q, to);
  return 0;
}

int ibv_query_qp(ibv_qp* ibqp, ibv_qp_attr* a, int, ibv_qp_init_attr* ia) {
  std::lock_guard<DeviceLock> lk(st().mu);
  const Qp* q = reinterpret_cast<const Qp*>(ibqp);
  *a = ibv_qp_attr{};
  a->qp_state = a->cur_qp_state = q->qp.state;
  a->qkey = q->qkey;
  a->port_num = q->port;
  a->cap = q->cap;
  if (ia != nullptr) {
    *ia = ibv_qp_init_attr{};
    ia->send_cq = q->qp.send_cq;
    ia->recv_cq = q->qp.recv_cq;
    ia->qp_type = IBV_QPT_UD;
    ia->cap = q->cap;
  }
  return 0;
}

int ibv_destroy_qp(ibv_qp* ibqp) {
  State& s = st();
  std::lock_guard<DeviceLock> lk(s.mu);
  Qp* q = reinterpret_cast<Qp*>(ibqp);
  s.pending_sends.fetch_sub(q->sq_count, std::memory_order_relaxed);
  s.qps.erase(q->qp.qp_num);
  reinterpret_cast<Pd*>(q->qp.pd)->users--;
  delete q;
  return 0;
}

ibv_ah* ibv_create_ah(ibv_pd* pd, ibv_ah_attr* attr) {
  std::lock_guard<DeviceLock> lk(st().mu);
  Device* d = reinterpret_cast<Context*>(reinterpret_cast<uint8_t*>(pd->context) -
                                         offsetof(Context, vctx.context))
                  ->dev;
  if (attr->port_num != 1) return fail<ibv_ah>(EINVAL);
  if (attr->is_global) {
    if (attr->grh.sgid_index >= d->num_gids) return fail<ibv_ah>(EINVAL);
  } else if (d->roce || attr->dlid == 0) {
    return fail<ibv_ah>(EINVAL);  // RoCE needs a GRH; IB LID routing needs a LID
  }
  auto* a = new Ah();
  a->ah.context = pd->context;
  a->ah.pd = pd;
  a->attr = *attr;
  reinterpret_cast<Pd*>(pd)->users++;
  st().live_ahs.insert(a);
  return &a->ah;
}

int ibv_destroy_ah(ibv_ah* ah) {
  std::lock_guard<DeviceLock> lk(st().mu);
  if (st().live_ahs.erase(reinterpret_cast<Ah*>(ah)) == 0) {
    st().counters.resource_errors++;  // destroyed twice
    return EINVAL;
  }
  reinterpret_cast<Pd*>(ah->pd)->users--;
  // Kept, not freed: a queued send may still name it (counted above). A
  // test process creates few enough.
  return 0;
}

}  // extern "C"
