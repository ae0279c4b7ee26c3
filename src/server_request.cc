// src/server_request.cc: the server side: receive and reassemble requests,
// dispatch them to handlers, send responses, and answer duplicates from the
// slot's stored response (at-most-once execution).
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "flit/rpc.h"
#include "msg_buffer_pool.h"
#include "pkthdr.h"
#include "session.h"

namespace flit {

namespace {
// A worker response buffer larger than this is returned to the heap when its
// handle is freed instead of staying with the handle.
constexpr size_t kKeepWorkerBlockBytes = size_t{1} << 20;

PktHdr reply_hdr(PktType type, const Session* s, uint64_t req_num, uint16_t method) {
  PktHdr h{};
  h.magic = kPktMagic;
  h.version = kPktVersion;
  h.type = static_cast<uint8_t>(type);
  h.method = method;
  h.dest_session = s->remote_num;
  h.src_session = s->local_num;
  h.token = s->remote_token;
  h.req_num = req_num;
  return h;
}
}  // namespace

ReqHandle* Rpc::alloc_handle() {
  if (free_handles_.empty()) [[unlikely]] {
    // Warm-up only: handles are reused, so their number is the peak number
    // of requests in handlers at once.
    if (handles_.size() == handles_.capacity()) handles_.reserve(handles_.size() * 2 + 64);
    if (free_handles_.capacity() < handles_.capacity()) free_handles_.reserve(handles_.capacity());
    handles_.push_back(std::make_unique<ReqHandle>());
    stats_.request_handles++;
    handles_.back()->rpc_ = this;
    free_handles_.push_back(handles_.back().get());
  }
  ReqHandle* h = free_handles_.back();
  free_handles_.pop_back();
  h->in_use_ = true;
  return h;
}

void Rpc::free_handle(ReqHandle* h) {
  h->req_buf_.release();
  h->resp_.release();
  h->worker_resp_ = MsgBuffer();  // a view: frees nothing
  if (h->worker_cap_ > kKeepWorkerBlockBytes) {
    h->worker_block_.reset();  // a rare huge worker response: do not keep it
    h->worker_cap_ = 0;
  }
  h->req_data_ = nullptr;
  h->slot_ = nullptr;
  h->sess_ = nullptr;
  h->at_worker_ = false;
  h->waiting_.store(false, std::memory_order_relaxed);
  h->in_use_ = false;
  free_handles_.push_back(h);
}

// The client gave up on the slot's request while its handler holds the
// handle: the handler keeps a valid handle, its response goes nowhere.
void Rpc::detach_handle(ServerSlot* slot) {
  ReqHandle* h = slot->handle;
  if (h == nullptr) return;
  if (h->in_place_) {
    // Only possible while the packet is still being processed; never here,
    // since the handler has returned (dispatch copies a kept request).
    FLIT_CHECK(false, "detaching a handle that reads a receive buffer");
  }
  h->slot_ = nullptr;
  h->sess_ = nullptr;
  h->waiting_.store(false, std::memory_order_relaxed);  // a worker may be reading it
  slot->handle = nullptr;
}

FLIT_HOT void Rpc::handle_request_pkt(const PktHdr& h, const uint8_t* payload, uint32_t len,
                                      Session* s) {
  // Validate sizes before touching any state.
  if (h.msg_size > cfg_.max_msg_size) [[unlikely]] {
    stats_.drop_malformed++;
    return;
  }
  const uint32_t req_pkts = pool_->num_pkts(h.msg_size);
  if (h.pkt_num >= req_pkts) [[unlikely]] {
    stats_.drop_malformed++;
    return;
  }
  const size_t off = size_t{h.pkt_num} * data_per_pkt_;
  const uint32_t expect = static_cast<uint32_t>(std::min<size_t>(data_per_pkt_, h.msg_size - off));
  if (!payload_len_ok(len, expect)) [[unlikely]]
    return;

  ServerSlot* slot = &s->sslots[h.req_num % kSessionSlots];
  const bool have = slot->state != ServerSlotState::kIdle;
  if (have && h.req_num < slot->req_num) {
    stats_.drop_stale++;  // an earlier request of this slot
    return;
  }
  if (have && h.req_num == slot->req_num) {
    if (slot->req_pkts != req_pkts || slot->req_size != h.msg_size) [[unlikely]] {
      stats_.drop_malformed++;
      return;
    }
    switch (slot->state) {
      case ServerSlotState::kReceiving: {
        if (slot->idle_expiry) slot->deadline_ns = now_cache_ns_ + kIdleReceiveNs;  // alive
        uint32_t d = h.pkt_num - slot->num_rx;
        if (h.pkt_num >= slot->num_rx && d < kWindow && ((slot->rx_mask >> d) & 1) == 0) break;
        if (h.pkt_num < slot->num_rx || d < kWindow) {
          stats_.drop_stale++;
          if (h.pkt_num + 1 < req_pkts) send_credit_return(s, h);  // its credit return was lost
        } else {
          stats_.drop_out_of_order++;  // beyond the window: the client resends it
        }
        return;
      }
      case ServerSlotState::kInHandler:
        stats_.drop_stale++;
        if (h.pkt_num + 1 < req_pkts) {
          send_credit_return(s, h);
        } else {
          send_ping(s, h.req_num);  // "still running": a slow handler is not a dead server
        }
        return;
      case ServerSlotState::kResponded:
        stats_.drop_stale++;
        if (h.pkt_num + 1 < req_pkts) {
          send_credit_return(s, h);
        } else {
          // The whole request again: the response was lost. Resend what
          // the response started with (packet 0 and the unasked ones) from
          // the stored response; the handler does not run again.
          stats_.responses_resent++;
          send_response_start(s, slot);
        }
        return;
      case ServerSlotState::kIdle:
        break;
    }
  } else {
    // A new request in this slot: the client has the previous response, or
    // gave up on it. Any packet within the window may come first (packet 0
    // may be lost); one beyond it cannot come from a correct client, and
    // would not fit the receive mask.
    if (h.pkt_num >= kWindow) [[unlikely]] {
      stats_.drop_out_of_order++;
      return;
    }
    // (Net of what the request this one replaces holds: that goes now.)
    const uint64_t held = slot->reassembly_held;
    if (req_pkts > 1 && (s->reassembly_bytes - held + h.msg_size > cfg_.session_reassembly_budget ||
                         reassembly_bytes_ - held + h.msg_size > cfg_.reassembly_budget))
        [[unlikely]] {
      // No room now: the client resends it later. The ping tells it the
      // server is alive, as for a slow handler, so that the wait ends by
      // the call's deadline and does not fail the whole session as
      // unreachable after max_retries resends; its status tells it to stop
      // sending the rest (whose credits would never come back, and which
      // would starve the session's other calls) and to probe with packet 0.
      // One per round of resends: none of the request was taken, so every
      // round starts with packet 0.
      stats_.drop_budget++;
      if (h.pkt_num == 0) send_ping(s, h.req_num, Status::kResourceExhausted);
      return;
    }
    // The request's buffer first: if it cannot be had (the pool throws),
    // the slot is left as it was.
    MsgBuffer buf = req_pkts > 1 ? pool_->alloc(h.msg_size) : MsgBuffer();
    if (slot->state == ServerSlotState::kInHandler) detach_handle(slot);
    release_reassembly(s, slot);
    slot->req_buf.release();
    // A resend of the previous response may wait in the send batch (its
    // duplicate request came in the same burst): it goes before the buffer
    // can be reused, by this request's handler or another session's.
    if (slot->tx_gen == tx_gen_) [[unlikely]]
      tx_flush();
    slot->resp.release();
    slot->state = ServerSlotState::kReceiving;
    slot->req_num = h.req_num;
    slot->req_pkts = req_pkts;
    slot->req_size = h.msg_size;
    slot->method = h.method;
    slot->num_rx = 0;
    slot->rx_mask = 0;
    // 0: none; 0xFFFF: 65.5 s or more (the field saturates). Neither is a
    // deadline to hold the client to (a longer one is its own to enforce),
    // but a request still being received must not hold its reassembly
    // memory for ever if its client goes quiet: it expires kIdleReceiveNs
    // after its latest packet instead.
    const uint16_t budget = h.budget_ms();
    slot->idle_expiry = budget == 0 || budget == kSaturatedBudgetMs;
    slot->deadline_ns =
        now_cache_ns_ + (slot->idle_expiry ? kIdleReceiveNs : uint64_t{budget} * 1'000'000);
    if (req_pkts > 1) {
      slot->req_buf = std::move(buf);
      slot->reassembly_held = h.msg_size;
      s->reassembly_bytes += h.msg_size;
      reassembly_bytes_ += h.msg_size;
    }
  }

  if (req_pkts == 1) {
    // Zero copy: the handler reads the request in the receive buffer.
    slot->num_rx = 1;
    ReqHandle* hd = alloc_handle();
    hd->req_data_ = payload;
    hd->in_place_ = true;
    slot->handle = hd;
    dispatch(s, slot);
    return;
  }
  std::memcpy(slot->req_buf.data() + off, payload, len);
  slot->rx_mask |= uint64_t{1} << (h.pkt_num - slot->num_rx);
  while ((slot->rx_mask & 1) != 0) {
    slot->rx_mask >>= 1;
    slot->num_rx++;
  }
  if (h.pkt_num + 1 < req_pkts) send_credit_return(s, h);
  if (slot->num_rx < req_pkts) return;
  release_reassembly(s, slot);
  ReqHandle* hd = alloc_handle();
  hd->req_buf_ = std::move(slot->req_buf);
  hd->req_data_ = hd->req_buf_.data();
  hd->in_place_ = false;
  slot->handle = hd;
  dispatch(s, slot);
}

// Gives back the reassembly budget a slot's request holds, once: a request
// leaves reassembly when its last packet arrives, when its deadline passes
// first, when a newer request takes the slot or when its session goes, and
// two of those can meet (a request complete but already expired at
// dispatch).
void Rpc::release_reassembly(Session* s, ServerSlot* slot) {
  FLIT_CHECK(
      s->reassembly_bytes >= slot->reassembly_held && reassembly_bytes_ >= s->reassembly_bytes,
      "reassembly bytes: slot", slot->reassembly_held, "session", s->reassembly_bytes, "rpc",
      reassembly_bytes_);
  s->reassembly_bytes -= slot->reassembly_held;
  reassembly_bytes_ -= slot->reassembly_held;
  slot->reassembly_held = 0;
}

// Drops a request whose deadline passed before its handler started: frees
// its memory and stores a DeadlineExceeded answer for its duplicates.
void Rpc::expire_request(Session* s, ServerSlot* slot) {
  stats_.requests_expired++;
  release_reassembly(s, slot);
  slot->req_buf.release();
  if (slot->handle != nullptr) {
    free_handle(slot->handle);
    slot->handle = nullptr;
  }
  slot->resp = pool_->alloc(0);
  slot->resp_status = Status::kDeadlineExceeded;
  slot->resp_pkts = 1;
  slot->state = ServerSlotState::kResponded;
}

void Rpc::dispatch(Session* s, ServerSlot* slot) {
  if (slot->deadline_ns != 0 && now_cache_ns_ > slot->deadline_ns) [[unlikely]] {
    // The caller has given up already: do not start work nobody will see.
    expire_request(s, slot);
    send_response_start(s, slot);
    return;
  }
  slot->state = ServerSlotState::kInHandler;
  ReqHandle* hd = slot->handle;
  hd->slot_ = slot;
  hd->sess_ = s;
  hd->session_ = s->local_num;
  hd->method_ = slot->method;
  hd->req_size_ = slot->req_size;
  hd->waiting_.store(true, std::memory_order_relaxed);
  Handler* fn = nexus_.handler(slot->method);
  if (fn == nullptr) [[unlikely]] {
    enqueue_response(hd, Status::kUnimplemented);
    return;
  }
  stats_.requests_handled++;
  if (nexus_.handler_mode(slot->method) == HandlerMode::kWorker) {
    to_worker(hd);
    return;
  }
  try {
    (*fn)(hd);
  } catch (...) {
    handler_threw(hd, std::current_exception());
    return;
  }
  if (hd->in_use_ && hd->in_place_) {
    // The handler kept the request to respond later, and it was read in
    // place from a receive buffer that goes back to the transport now: copy
    // it so request() stays valid until the response.
    hd->req_buf_ = pool_->alloc(hd->req_size_);
    if (hd->req_size_ != 0) std::memcpy(hd->req_buf_.data(), hd->req_data_, hd->req_size_);
    hd->req_data_ = hd->req_buf_.data();
    hd->in_place_ = false;
  }
}

// An inline handler threw: the request is answered Internal unless the
// handler had answered it, so the slot, the handle and the receive buffer
// it reads are freed as after any answer, and the rest of the burst is
// served. Worker handlers get the same (worker_handoff.cc).
FLIT_COLD void Rpc::handler_threw(ReqHandle* hd, std::exception_ptr e) {
  stats_.handler_exceptions++;
  report_handler_exception("handler", hd->method_, e);
  if (hd->in_use_) enqueue_response(hd, Status::kInternal);
}

// On stderr: what a handler (inline, or on a worker thread) threw.
FLIT_COLD void Rpc::report_handler_exception(const char* kind, uint16_t method,
                                             std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "flit: %s of method %u threw: %s\n", kind, unsigned{method}, x.what());
  } catch (...) {
    std::fprintf(stderr, "flit: %s of method %u threw\n", kind, unsigned{method});
  }
}

FLIT_HOT void Rpc::enqueue_response(ReqHandle* hd, Status st) {
  if (!on_owner_thread()) [[unlikely]] {
    // Only a worker handler's request may be answered off the owner thread:
    // the response goes back through the ring.
    if (hd != nullptr && hd->at_worker_) {
      worker_response(hd, st);
      return;
    }
    owner_violation("enqueue_response");
  }
  FLIT_CHECK(hd != nullptr && hd->in_use_,
             "enqueue_response on a request that was already answered (a ReqHandle is spent "
             "after its response)");
  if (hd->at_worker_) [[unlikely]] {
    // A worker handler's request answered on the owner (the handler handed
    // it over, with post() say): complete it here, not through the ring.
    if (give_worker_answer(hd, st)) finish_worker(hd);  // else its worker sends it on return
    return;
  }
  ServerSlot* slot = hd->slot_;
  Session* s = hd->sess_;
  if (slot == nullptr) {
    // Detached: the client gave up on this request, or disconnected.
    stats_.responses_orphaned++;
    free_handle(hd);
    return;
  }
  respond(hd, s, slot, st);
}

// Stores h's response in its slot (for duplicates) and sends packet 0.
// Owner thread; h is freed.
FLIT_HOT void Rpc::respond(ReqHandle* hd, Session* s, ServerSlot* slot, Status st) {
  if (st == Status::kOk && hd->resp_.valid() && hd->resp_.size() > s->remote_max_msg) {
    st = Status::kResponseTooLarge;  // it ran: not kResourceExhausted, which is safe to retry
  }
  if (st != Status::kOk || !hd->resp_.valid()) {
    pool_->alloc_into(hd->resp_, 0);  // a status-only (or empty) response
  }
  slot->resp = std::move(hd->resp_);
  slot->resp_status = st;
  slot->resp_pkts = pool_->num_pkts(slot->resp.size());
  slot->state = ServerSlotState::kResponded;
  slot->handle = nullptr;
  hd->in_place_ = false;
  free_handle(hd);
  send_response_start(s, slot);
}

// Packet 0 of the slot's response and the next ones the client holds
// credits for (the session's eager count): the rest go out as the client's
// requests-for-response arrive.
FLIT_HOT void Rpc::send_response_start(Session* s, ServerSlot* slot) {
  const uint32_t n = std::min(slot->resp_pkts, s->eager);
  for (uint32_t k = 0; k < n; ++k) send_response_pkt(s, slot, k);
}

FLIT_HOT void Rpc::send_response_pkt(Session* s, ServerSlot* slot, uint32_t k) {
  PktHdr h = reply_hdr(PktType::kResponse, s, slot->req_num, slot->method);
  h.status = static_cast<uint8_t>(slot->resp_status);
  const MsgBuffer& r = slot->resp;
  h.msg_size = static_cast<uint32_t>(r.size());
  h.pkt_num = k;
  size_t off = size_t{k} * data_per_pkt_;
  uint32_t len = static_cast<uint32_t>(std::min(data_per_pkt_, r.size() - off));
  uint8_t* hdr = k == 0 ? MsgBufferPool::hdr0(r) : nullptr;
  if (hdr == nullptr) hdr = tx_hdr_scratch();
  h.store(hdr);
  tx_enqueue(&s->route, hdr, r.data() + off, len);
  slot->tx_gen = tx_gen_;
}

void Rpc::send_credit_return(Session* s, const PktHdr& req) {
  PktHdr h = reply_hdr(PktType::kCreditReturn, s, req.req_num, req.method);
  h.pkt_num = req.pkt_num;
  uint8_t* hdr = tx_hdr_scratch();
  h.store(hdr);
  tx_enqueue(&s->route, hdr, nullptr, 0);
}

void Rpc::send_ping(Session* s, uint64_t req_num, Status st) {
  PktHdr h = reply_hdr(PktType::kPing, s, req_num, 0);
  h.status = static_cast<uint8_t>(st);
  uint8_t* hdr = tx_hdr_scratch();
  h.store(hdr);
  tx_enqueue(&s->route, hdr, nullptr, 0);
  s->last_tx_ns = now_cache_ns_;
  stats_.pings_sent++;
}

// A ping from the client is a keepalive (answered, so the client knows we
// live); from the server it is an answer to a keepalive, or "your request
// req_num is still running", which holds off the client's failure detector.
void Rpc::handle_ping(const PktHdr& h, Session* s) {
  if (s->role == SessionRole::kServer) {
    send_ping(s, h.req_num);
    return;
  }
  uint32_t i = static_cast<uint32_t>(h.req_num % kSessionSlots);
  ClientSlot& c = s->cslots[i];
  if (!c.busy || c.req_num != h.req_num) return;
  c.retries = 0;
  c.progress_ns = now_cache_ns_;
  // No reassembly room for the request (and none of it taken): keep packet
  // 0 in flight as the probe, take back the credits of the rest.
  if (status_from_wire(h.status) == Status::kResourceExhausted && c.num_rx == 0 && c.rx_mask == 0 &&
      c.resp_pkts == 0) {
    c.refused = true;
    c.probe_refused = c.num_tx != 0;  // the copy in flight is answered
    // Credits, or the turn to take them; or a waiter that may lack only the
    // credit this probe holds (reclaim_probe_credits).
    bool freed = c.probe_refused && s->credit_waiter != Session::kNoWaiter;
    if (s->credit_waiter == i) {
      s->credit_waiter = Session::kNoWaiter;
      freed = true;
    }
    if (c.num_tx > 1) {
      s->credits += c.num_tx - 1;
      c.num_tx = 1;
      freed = true;
    }
    if (freed) client_send_more(s);
  }
}

// Answers a packet naming a session we do not have (or with a stale token):
// a restarted server's answer to its old clients, a restarted client's to
// its old servers. The reset echoes the packet's token, so only the peer
// that sent it can match it to its session.
void Rpc::send_reset(const PktHdr& offending, const transport::Route& to) {
  if (offending.src_session == kNoSession) return;
  PktHdr h{};
  h.magic = kPktMagic;
  h.version = kPktVersion;
  h.type = static_cast<uint8_t>(PktType::kReset);
  h.dest_session = offending.src_session;
  h.src_session = kNoSession;
  h.token = offending.token;
  h.req_num = offending.req_num;
  uint8_t* hdr = tx_hdr_scratch();
  h.store(hdr);
  // `to` is the receive buffer's route: send before it is released.
  tx_enqueue(&to, hdr, nullptr, 0);
  tx_flush();
  stats_.resets_sent++;
}

void Rpc::handle_reset(const PktHdr& h) {
  if (h.dest_session >= max_session_num_ || sessions_[h.dest_session] == nullptr) {
    stats_.drop_unknown_session++;
    return;
  }
  Session* s = sessions_[h.dest_session].get();
  if (h.token != s->remote_token) {  // must echo the token we sent
    stats_.drop_bad_token++;
    return;
  }
  if (s->role == SessionRole::kServer) {
    free_session(s);  // the client restarted: nothing of this session is wanted
  } else if (s->state == SessionState::kConnected) {
    fail_session(s);  // the server restarted (or reaped us): calls fail once each
  } else if (s->state == SessionState::kDisconnecting) {
    free_session(s);
  } else {
    stats_.drop_stale++;
  }
}

void Rpc::handle_rfr(const PktHdr& h, Session* s) {
  ServerSlot* slot = &s->sslots[h.req_num % kSessionSlots];
  if (slot->state != ServerSlotState::kResponded || slot->req_num != h.req_num) {
    stats_.drop_stale++;
    if (slot->state == ServerSlotState::kInHandler && slot->req_num == h.req_num) {
      send_ping(s, h.req_num);
    }
    return;
  }
  if (h.pkt_num == 0 || h.pkt_num >= slot->resp_pkts) {
    stats_.drop_malformed++;
    return;
  }
  send_response_pkt(s, slot, h.pkt_num);
}

}  // namespace flit
