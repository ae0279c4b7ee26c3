// src/rpc.cc: construction, the event loop, receive dispatch and transmit
// batching. The protocol itself lives in one file per concern:
// session_handshake.cc, request_path.cc, server_request.cc,
// response_path.cc, loss_recovery.cc.
#include "flit/rpc.h"

#include <algorithm>
#include <sstream>

#include "clock.h"
#include "msg_buffer_pool.h"
#include "pkthdr.h"
#include "retry_state.h"
#include "ring.h"
#include "session.h"

namespace flit {

struct Rpc::TxBatch {
  transport::TxPacket pkts[kTxBatch];
  alignas(8) uint8_t hdrs[kTxBatch][kPktHdrSize];  // headers built for this burst
  uint32_t n = 0;
};

namespace {
uint64_t to_ns(Duration d) { return static_cast<uint64_t>(d.count()); }
}  // namespace

Rpc::Rpc(Nexus& nexus, uint8_t rpc_id)
    : nexus_(nexus),
      cfg_(nexus.config()),
      id_(rpc_id),
      owner_(std::this_thread::get_id()),
#if FLIT_HAS_THREAD_POINTER
      owner_tp_(__builtin_thread_pointer()),
#else
      owner_tp_(nullptr),
#endif
      tx_(std::make_unique<TxBatch>()) {
  nexus_.freeze();
  transport_ = nexus_.make_transport(rpc_id);
  size_t mps = transport_->max_packet_size();
  FLIT_CHECK(mps > kPktHdrSize + 16, "transport packet size too small", mps);
  data_per_pkt_ = mps - kPktHdrSize;
  auto* t = transport_.get();
  pool_ = std::make_unique<MsgBufferPool>(data_per_pkt_, cfg_.max_msg_size,
                                          [t](void* p, size_t n) { t->register_memory(p, n); });
  rto_ns_ = to_ns(cfg_.rto);
  deadline_ns_ = to_ns(cfg_.call_deadline);
  connect_timeout_ns_ = to_ns(cfg_.connect_timeout);
  connect_retry_ns_ = to_ns(cfg_.connect_retry);
  idle_timeout_ns_ = to_ns(cfg_.idle_timeout);
  keepalive_ns_ = idle_timeout_ns_ / 4;
  uint64_t finest = std::min(rto_ns_, connect_retry_ns_);
  timer_interval_ns_ = std::max<uint64_t>(finest / 4, 20'000);
  sessions_.reserve(cfg_.max_sessions);
  free_session_nums_.reserve(cfg_.max_sessions);
  now_cache_ns_ = now_ns();
  last_scan_ns_ = now_cache_ns_;
  posted_ = std::make_unique<detail::Ring<PostedFn>>(cfg_.post_ring_capacity);
  if (nexus_.has_worker_handlers()) {
    max_worker_requests_ = cfg_.max_worker_requests;
    worker_done_ = std::make_unique<detail::Ring<ReqHandle*>>(max_worker_requests_);
  }
}

Rpc::~Rpc() {
  // First, so no worker thread touches this Rpc once it is gone.
  wait_for_workers();
  // Every accepted call completes once, here too: calls outstanding or in
  // a backlog, connects under way and retried calls waiting for their next
  // attempt end with kCancelled. Their continuations cannot start new work:
  // no session is connected any more, create_session and
  // enqueue_request_with_retry refuse, and the event loop cannot be entered.
  // A continuation that throws does not stop the others.
  closing_ = true;
  in_event_loop_ = true;
  auto run_all = [](auto&& step) {
    for (;;) {
      try {
        step();
        return;
      } catch (...) {  // from a continuation: carry on with the rest
      }
    }
  };
  // First, before any continuation runs (one might disconnect another
  // session and throw before telling its server): tell the servers of the
  // connected sessions to free their side now rather than after an idle
  // timeout (best effort, one packet each).
  for (SessionId n = 0; n < max_session_num_; ++n) {
    Session* s = sessions_[n].get();
    if (s == nullptr || s->role != SessionRole::kClient || s->state != SessionState::kConnected)
      continue;
    s->state = SessionState::kDisconnecting;
    send_disconnect(s);
  }
  for (SessionId n = 0; n < max_session_num_; ++n) {
    Session* s = sessions_[n].get();
    if (s == nullptr || s->role != SessionRole::kClient) continue;
    if (s->state == SessionState::kConnecting) {
      try {
        finish_connect(s, Status::kCancelled);
      } catch (...) {
      }
      continue;
    }
    run_all([&] { fail_all_calls(s, Status::kCancelled); });
  }
  run_all([&] {
    for (auto& st : retries_) {
      if (!st->cont) continue;  // free, or already completed
      Continuation cont = std::move(st->cont);
      cont(Status::kCancelled);
    }
  });
  tx_flush();
  // Requests the application still holds (a deferred response's ReqHandle
  // or generated Responder) are detached: answering one now, or dropping a
  // Responder, frees its handle and sends nothing. Then the posted
  // functions and timers go, while the handles they may capture still
  // exist (their members are destroyed only after this body).
  for (auto& h : handles_) {
    if (!h->in_use_) continue;
    h->slot_ = nullptr;
    h->sess_ = nullptr;
    h->waiting_.store(false, std::memory_order_relaxed);
  }
  PostedFn fn;
  while (posted_->try_pop(fn)) fn = PostedFn();
  timers_.clear();
  // Sessions hold MsgBuffers from the pool: destroy them before it.
  sessions_.clear();
}

void Rpc::owner_violation(const char* fn) const {
  std::ostringstream os;
  os << "flit::Rpc::" << fn << " called from thread " << std::this_thread::get_id() << ", but Rpc "
     << int(id_) << " is owned by thread " << owner_
     << ": an Rpc is used only by the thread that created it (create one Rpc per thread)";
  throw Error(os.str());
}

uint64_t Rpc::now_ns() const {
  if (cfg_.clock != nullptr) return cfg_.clock(cfg_.clock_ctx);
  return detail::mono_ns();
}

MsgBuffer Rpc::alloc_msg_buffer(size_t size) {
  check_owner("alloc_msg_buffer");
  return pool_->alloc(size);
}

size_t Rpc::buffers_in_use() const { return pool_->buffers_in_use(); }
bool Rpc::hugepage_backed() const { return pool_->hugepage_backed(); }
std::string Rpc::local_uri() const { return transport_->local_uri(); }
transport::TransportStats Rpc::transport_stats() const { return transport_->stats(); }

std::vector<transport::Transport::Counter> Rpc::transport_counters() const {
  check_owner("transport_counters");
  return transport_->counters();
}

namespace {
// Marks the Rpc as inside its event loop for the scope (so a handler that
// tries to poll re-entrantly gets an error), and gives received packets back
// even if a handler throws.
struct LoopScope {
  bool& flag;
  bool& now_fresh;
  transport::Transport* t;
  transport::RxPacket* rx;
  uint32_t n = 0;
  ~LoopScope() {
    if (n != 0) t->rx_release(rx, n);
    flag = false;
    now_fresh = false;
  }
};
}  // namespace

FLIT_HOT void Rpc::run_event_loop_once() {
  check_owner("run_event_loop_once");
  if (in_event_loop_) [[unlikely]] {
    throw Error(
        "flit::Rpc: the event loop was entered from inside a handler or continuation "
        "(run_event_loop*, call() or connect()); issue nested calls with enqueue_request and "
        "a continuation instead");
  }
  in_event_loop_ = true;
  transport::RxPacket rx[kMaxRxBurst];
  LoopScope scope{in_event_loop_, now_fresh_, transport_.get(), rx};
  scope.n = transport_->rx_burst(rx, cfg_.rx_burst);
  // The steady clock is read when there is work, and on every 16th empty
  // poll for the timers (millisecond-scale: a few microseconds stale is
  // nothing); an idle poll loop then costs little more than the transport's
  // poll (clock_gettime is ~75 ns on a kvm-clock VM). A custom clock (the
  // simulator's, whose polls each advance virtual time) is read every time.
  if (scope.n != 0 || tx_->n != 0 || cfg_.clock != nullptr || ++idle_polls_ >= 16) read_clock();
  for (uint32_t i = 0; i < scope.n; ++i) process_packet(rx[i]);
  // Work handed in by other threads, a bounded amount per iteration (the
  // inline look at the ring keeps an empty one at two loads per poll).
  if (!posted_->empty_now()) [[unlikely]]
    run_posted();
  if (worker_outstanding_ != 0) drain_worker_responses();
  if (now_cache_ns_ - last_scan_ns_ >= timer_interval_ns_) scan_timers(now_cache_ns_);
  if (!timers_.empty()) run_due_timers();
  tx_flush();
}

void Rpc::run_event_loop(Duration d) {
  auto end = std::chrono::steady_clock::now() + d;
  do {
    run_event_loop_once();
  } while (std::chrono::steady_clock::now() < end);
}

// Validates the header and hands the packet to the handler of its type.
// Malformed or unauthenticated packets are dropped and counted, never
// passed on. No allocation.
FLIT_HOT void Rpc::process_packet(const transport::RxPacket& p) {
  stats_.pkts_rx++;
  stats_.bytes_rx += p.len;
  if (fault_on_ && fault_hit(fault_.drop_rx)) [[unlikely]] {
    stats_.fault_drops++;
    return;
  }
  if (p.len < kPktHdrSize) [[unlikely]] {
    stats_.drop_truncated++;
    return;
  }
  const PktHdr h = PktHdr::load(p.data);
  if (h.magic != kPktMagic) [[unlikely]] {
    stats_.drop_bad_magic++;
    return;
  }
  if (h.version != kPktVersion) [[unlikely]] {
    stats_.drop_bad_version++;
    return;
  }
  if (h.type == 0 || h.type > kMaxPktType) [[unlikely]] {
    stats_.drop_bad_type++;
    return;
  }
  const uint8_t* payload = p.data + kPktHdrSize;
  const uint32_t plen = p.len - static_cast<uint32_t>(kPktHdrSize);
  const PktType type = h.pkt_type();
  if (type == PktType::kConnect) [[unlikely]] {
    handle_connect(h, payload, plen, *p.from);
    return;
  }
  if (type == PktType::kReset) [[unlikely]] {
    handle_reset(h);
    return;
  }
  // Packets of an exchange in progress: a peer that names a session we do
  // not have (we restarted, or reaped it) is told so, unless the packet is
  // itself an end-of-exchange answer.
  // (A disconnect too: the server freed the session when it acked an
  // earlier copy, whose ack was lost; the reset lets the client free its
  // own now rather than resend until connect_timeout.)
  const bool answerable = type == PktType::kRequest || type == PktType::kRequestForResponse ||
                          type == PktType::kResponse || type == PktType::kCreditReturn ||
                          type == PktType::kPing || type == PktType::kDisconnect;
  if (h.dest_session >= max_session_num_ || sessions_[h.dest_session] == nullptr) [[unlikely]] {
    stats_.drop_unknown_session++;
    if (answerable) send_reset(h, *p.from);
    return;
  }
  Session* s = sessions_[h.dest_session].get();
  if (h.token != s->local_token) [[unlikely]] {
    stats_.drop_bad_token++;
    if (answerable) send_reset(h, *p.from);
    return;
  }
  s->last_rx_ns = now_cache_ns_;
  const bool server = s->role == SessionRole::kServer;
  switch (type) {
    case PktType::kRequest:
      if (server && s->state == SessionState::kConnected) {
        handle_request_pkt(h, payload, plen, s);
        return;
      }
      break;
    case PktType::kRequestForResponse:
      if (server && s->state == SessionState::kConnected) {
        handle_rfr(h, s);
        return;
      }
      break;
    case PktType::kCreditReturn:
      if (!server && s->state == SessionState::kConnected) {
        handle_credit_return(h, s);
        return;
      }
      break;
    case PktType::kResponse:
      if (!server && s->state == SessionState::kConnected) {
        handle_response_pkt(h, payload, plen, s);
        return;
      }
      break;
    case PktType::kPing:
      if (s->state == SessionState::kConnected) {
        handle_ping(h, s);
        return;
      }
      break;
    case PktType::kConnectAck:
      if (!server) {
        handle_connect_ack(h, payload, plen, s, *p.from);
        return;
      }
      break;
    case PktType::kDisconnect:
      if (server) {
        handle_disconnect(h, s);
        return;
      }
      break;
    case PktType::kDisconnectAck:
      if (!server && s->state == SessionState::kDisconnecting) {
        handle_disconnect_ack(s);
        return;
      }
      if (!server) {
        stats_.drop_stale++;
        return;
      }
      break;
    default:
      break;
  }
  // A type this role never receives, or a session not in a state to take it.
  if (s->state != SessionState::kConnected && s->state != SessionState::kConnecting) {
    stats_.drop_stale++;
  } else {
    stats_.drop_bad_type++;
  }
}

uint8_t* Rpc::tx_hdr_scratch() {
  if (tx_->n == kTxBatch) tx_flush();
  return tx_->hdrs[tx_->n];
}

FLIT_HOT void Rpc::tx_enqueue(const transport::Route* route, const uint8_t* hdr,
                              const uint8_t* payload, uint32_t len) {
  if (tx_->n == kTxBatch) tx_flush();
  transport::TxPacket& p = tx_->pkts[tx_->n++];
  p.route = route;
  p.hdr = hdr;
  p.payload = payload;
  p.payload_len = len;
}

FLIT_HOT void Rpc::tx_flush() {
  uint32_t n = tx_->n;
  if (n == 0) return;
  if (fault_on_ && fault_.drop_tx > 0) [[unlikely]] {
    uint32_t keep = 0;
    for (uint32_t i = 0; i < n; ++i) {
      if (fault_hit(fault_.drop_tx)) {
        stats_.fault_drops++;
      } else {
        tx_->pkts[keep++] = tx_->pkts[i];
      }
    }
    n = tx_->n = keep;
    if (n == 0) return;
  }
  uint32_t sent = transport_->tx_burst(tx_->pkts, n);
  for (uint32_t i = 0; i < sent; ++i) stats_.bytes_tx += kPktHdrSize + tx_->pkts[i].payload_len;
  stats_.pkts_tx += sent;
  // Unsent packets are lost like packets dropped on the wire; the client's
  // retransmission timer recovers them.
  stats_.tx_dropped += n - sent;
  tx_->n = 0;
  tx_gen_++;
}

void Rpc::set_fault_injection(const FaultInjection& f) {
  check_owner("set_fault_injection");
  FLIT_CHECK(f.drop_rx >= 0 && f.drop_rx <= 1 && f.drop_tx >= 0 && f.drop_tx <= 1,
             "drop probabilities must be in [0, 1]:", f.drop_rx, f.drop_tx);
  fault_ = f;
  fault_on_ = f.drop_rx > 0 || f.drop_tx > 0;
  fault_rng_ = f.seed == 0 ? 0x9e3779b97f4a7c15ULL : f.seed;
}

// xorshift64*: a fast deterministic choice per packet.
bool Rpc::fault_hit(double p) {
  fault_rng_ ^= fault_rng_ >> 12;
  fault_rng_ ^= fault_rng_ << 25;
  fault_rng_ ^= fault_rng_ >> 27;
  uint64_t r = fault_rng_ * 0x2545F4914F6CDD1DULL;
  return static_cast<double>(r >> 11) * 0x1.0p-53 < p;
}

Status Rpc::call(SessionId s, uint16_t method, const MsgBuffer& req, MsgBuffer* resp,
                 Duration deadline) {
  check_owner("call");
  if (in_event_loop_) {
    throw Error(
        "flit::Rpc::call() from inside a handler or continuation would re-enter the event loop; "
        "use enqueue_request with a continuation");
  }
  bool done = false;
  Status result = Status::kInternal;
  CallId id = kInvalidCall;
  Status st = enqueue_request(
      s, method, &req, resp,
      [&done, &result](Status r) {
        done = true;
        result = r;
      },
      deadline, &id);
  if (st != Status::kOk) return st;
  // Terminates: every accepted call completes by its deadline. Something
  // else in the loop may throw (a timer, a posted function, another call's
  // continuation): the call is cancelled before the exception leaves, so
  // its continuation never writes into this frame once it is gone.
  try {
    while (!done) run_event_loop_once();
  } catch (...) {
    if (!done) {
      try {
        cancel(id);
      } catch (...) {  // another call's continuation: the first exception goes on
      }
    }
    throw;
  }
  return result;
}

MsgBuffer& ReqHandle::init_response(size_t size) {
  FLIT_CHECK(in_use_, "ReqHandle::init_response after enqueue_response: the handle is spent");
  if (at_worker_) return Rpc::worker_init_response(this, size);  // any thread
  rpc_->check_owner("ReqHandle::init_response");
  rpc_->pool_->alloc_into(resp_, size);
  return resp_;
}

}  // namespace flit
