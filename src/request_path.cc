// src/request_path.cc: the client side of a call: accept it into a slot (or
// the backlog), split the request into packets, send them as session credits
// allow, and complete the call exactly once (answer, deadline, cancel, or
// session failure).
#include <algorithm>
#include <bit>
#include <cstring>
#include <exception>

#include "flit/rpc.h"
#include "msg_buffer_pool.h"
#include "pkthdr.h"
#include "session.h"

namespace flit {

namespace {
CallId make_call_id(SessionId s, uint32_t seq) { return (uint64_t{s} << 32) | seq; }
}  // namespace

FLIT_HOT Status Rpc::enqueue_request(SessionId sn, uint16_t method, const MsgBuffer* req,
                                     MsgBuffer* resp, Continuation cont, Duration deadline,
                                     CallId* id) {
  check_owner("enqueue_request");
  if (sn >= max_session_num_ || sessions_[sn] == nullptr ||
      sessions_[sn]->role != SessionRole::kClient) [[unlikely]] {
    return Status::kInvalidArgument;
  }
  Session* s = sessions_[sn].get();
  if (s->state != SessionState::kConnected) [[unlikely]]
    return Status::kUnavailable;
  if (req == nullptr || resp == nullptr || !req->valid() || !resp->valid() ||
      req->pool_ != pool_.get() || resp->pool_ != pool_.get() || req->size() > s->remote_max_msg)
      [[unlikely]] {
    return Status::kInvalidArgument;
  }
  // From a handler or continuation, the time this loop iteration read saves
  // a clock read per call; it is as old as the iteration's work before this
  // call, microseconds against deadlines of milliseconds.
  const uint64_t now = now_fresh_ ? now_cache_ns_ : now_ns();
  uint64_t dl =
      now + (deadline == Duration::zero() ? deadline_ns_ : static_cast<uint64_t>(deadline.count()));
  uint32_t seq = s->next_call_seq++;
  if (s->next_call_seq == 0) s->next_call_seq = 1;  // CallId 0 is kInvalidCall
  if (s->free_slot_mask == 0 || s->backlog_len != 0) [[unlikely]] {
    // All slots busy: wait in the session's backlog ring. (Or a slot is
    // free while drain_backlog runs the continuation of a call that expired
    // there: the calls behind it go first.)
    if (s->backlog == nullptr) {
      s->backlog = std::make_unique<Session::Pending[]>(cfg_.backlog);  // once per session
    }
    if (s->backlog_len == cfg_.backlog) return Status::kResourceExhausted;
    Session::Pending& p = s->backlog[(s->backlog_head + s->backlog_len) % cfg_.backlog];
    p.call_seq = seq;
    p.method = method;
    p.req = req;
    p.resp = resp;
    p.cont = std::move(cont);
    p.deadline_ns = dl;
    s->backlog_len++;
    stats_.calls_started++;
    if (id != nullptr) *id = make_call_id(sn, seq);
    return Status::kOk;
  }
  stats_.calls_started++;
  if (id != nullptr) *id = make_call_id(sn, seq);
  return start_call(s, seq, method, req, resp, std::move(cont), dl);
}

FLIT_HOT Status Rpc::start_call(Session* s, uint32_t seq, uint16_t method, const MsgBuffer* req,
                                MsgBuffer* resp, Continuation&& cont, uint64_t deadline_ns) {
  uint32_t i = static_cast<uint32_t>(std::countr_zero(s->free_slot_mask));
  s->free_slot_mask &= ~(1u << i);
  ClientSlot& c = s->cslots[i];
  c.busy = true;
  c.method = method;
  c.call_seq = seq;
  c.req_num = s->next_req_num[i];
  s->next_req_num[i] += kSessionSlots;
  c.req = req;
  c.resp = resp;
  c.cont = std::move(cont);
  c.req_pkts = pool_->num_pkts(req->size());
  c.resp_pkts = 0;
  c.num_tx = c.num_rx = 0;
  c.rx_mask = 0;
  c.progress_ns = now_cache_ns_;
  c.deadline_ns = deadline_ns;
  c.retries = 0;
  c.refused = false;
  c.probe_refused = false;
  c.last_sent = false;
  // No other slot waits for credits: only this one has packets to send,
  // and the pass over every busy slot can be skipped (unless sending them
  // took back probes' credits, whose probes then want a pass).
  if (!s->credit_starved) [[likely]] {
    if (!client_send_slot(s, i)) return Status::kOk;  // now the credit waiter
    if (!s->credit_starved) [[likely]]
      return Status::kOk;
  }
  client_send_more(s);
  return Status::kOk;
}

// Takes back the credit each refused request's probe holds (packet 0, in
// flight until the server has room for the request), when without them a
// last request packet could never have its eager credits: that room may
// come only once the waiting request is whole, and with eager near the
// session's credits (32 of 32) the two waited for each other until their
// deadlines. Otherwise answers to the packets in flight bring the credits
// back, and the probes stay. The probes go again once the waiter has sent
// (client_send_more); should an older copy be admitted after all, its
// answer counts as the admission (client_rx_ok). Cold.
FLIT_COLD void Rpc::reclaim_probe_credits(Session* s) {
  // Only a probe the server has refused, and not sent since: no answer
  // admitting that copy can come (one just sent could be admitted, its
  // credit return arriving for a packet taken back).
  auto probing = [](const ClientSlot& c) {
    return c.busy && c.refused && c.probe_refused && c.num_tx == 1 && c.num_rx == 0 &&
           c.rx_mask == 0;
  };
  uint32_t probes = 0;
  for (const ClientSlot& c : s->cslots) probes += probing(c);
  if (probes == 0 || s->granted_credits - probes >= s->eager) return;
  for (ClientSlot& c : s->cslots) {
    if (!probing(c)) continue;
    c.num_tx = 0;
    s->credits++;
  }
  s->credit_starved = true;  // the probes go again in a later pass
}

// Sends every new packet the session's credits and each slot's window allow,
// the slots taking turns (each pass starts one slot further on), so that no
// slot waits for credits while others keep taking them. No allocation.
FLIT_HOT void Rpc::client_send_more(Session* s) {
  if (s->credit_waiter != Session::kNoWaiter) {
    // A last request packet waits for its eager credits: nobody else takes
    // any until it has them. Answers to the packets in flight (32 - credits
    // of them, at least eager - credits) bring them back, but for refused
    // requests' probes, which hold theirs until the server has room.
    if (s->credits < s->eager) reclaim_probe_credits(s);
    if (s->credits < s->eager) return;
    const uint32_t w = s->credit_waiter;
    s->credit_waiter = Session::kNoWaiter;
    send_last_request_pkt(s, w);
  }
  s->credit_starved = false;
  const uint32_t start = s->send_turn;
  s->send_turn = (start + 1) % kSessionSlots;
  const uint32_t busy = ~s->free_slot_mask & kAllSlotsMask;
  // busy rotated so that bit 0 is slot `start`.
  uint32_t turn = ((busy >> start) | (busy << (kSessionSlots - start))) & kAllSlotsMask;
  while (turn != 0) {
    const uint32_t i = (static_cast<uint32_t>(std::countr_zero(turn)) + start) % kSessionSlots;
    turn &= turn - 1;
    if (s->credits == 0) [[unlikely]] {
      // The slots not served: the next credits back start another pass
      // (complete_call, start_call) if one of them has packets to send.
      if (s->cslots[i].wants_credits()) s->credit_starved = true;
      continue;
    }
    if (!client_send_slot(s, i)) return;
  }
}

// Sends what slot i's window and the session's credits allow of its
// packets. False if its last request packet must wait for the eager credits
// (it is then the credit_waiter). No allocation.
FLIT_HOT bool Rpc::client_send_slot(Session* s, uint32_t i) {
  ClientSlot& c = s->cslots[i];
  const uint32_t limit = c.send_limit();
  while (c.num_tx < limit && s->credits != 0 && c.num_tx - c.num_rx < kWindow) {
    if (c.num_tx + 1 == c.req_pkts && s->eager > 1 && c.resp_pkts == 0) {
      if (s->credits < s->eager) reclaim_probe_credits(s);
      if (s->credits < s->eager) {
        s->credit_waiter = static_cast<uint8_t>(i);
        // The slots after it in this pass (and calls started while it
        // waits) were not served: should its call end before it is
        // sent, a pass must follow.
        s->credit_starved = true;
        return false;
      }
      send_last_request_pkt(s, i);
      break;
    }
    client_send_one(s, i, c.num_tx);
    c.num_tx++;
    s->credits--;
  }
  if (s->credits == 0 && c.wants_credits()) s->credit_starved = true;
  return true;
}

// The last request packet of slot i. Its answer, response packet 0, comes
// with the next eager - 1 response packets unasked: the client holds a credit
// for each, as if their requests-for-response went out with it. The window
// needs no room for those: their answers are taken only after packet 0,
// which moves num_rx past every request packet. Needs s->eager credits.
void Rpc::send_last_request_pkt(Session* s, uint32_t i) {
  ClientSlot& c = s->cslots[i];
  client_send_one(s, i, c.num_tx);
  c.num_tx += s->eager;
  s->credits -= s->eager;
}

FLIT_HOT void Rpc::client_send_one(Session* s, uint32_t slot_idx, uint32_t tx_idx) {
  ClientSlot& c = s->cslots[slot_idx];
  PktHdr h{};
  h.magic = kPktMagic;
  h.version = kPktVersion;
  h.method = c.method;
  h.dest_session = s->remote_num;
  h.src_session = s->local_num;
  h.token = s->remote_token;
  h.req_num = c.req_num;
  c.progress_ns = now_cache_ns_;
  s->last_tx_ns = now_cache_ns_;
  if (tx_idx == 0) c.probe_refused = false;  // this copy may yet be admitted
  uint8_t* hdr = tx_hdr_scratch();
  if (tx_idx < c.req_pkts) {
    // Request packet tx_idx. Its header goes in the send batch, never into
    // the caller's buffer: one request buffer may be in several calls at once.
    uint32_t k = tx_idx;
    size_t off = size_t{k} * data_per_pkt_;
    uint32_t len = static_cast<uint32_t>(std::min(data_per_pkt_, c.req->size() - off));
    h.type = static_cast<uint8_t>(PktType::kRequest);
    h.msg_size = static_cast<uint32_t>(c.req->size());
    h.pkt_num = k;
    if (k + 1 == c.req_pkts) c.last_sent = true;
    // The time left, so the server can drop work that can no longer be
    // answered in time.
    uint64_t left_ms =
        c.deadline_ns > now_cache_ns_ ? (c.deadline_ns - now_cache_ns_ + 999'999) / 1'000'000 : 1;
    h.set_budget_ms(static_cast<uint16_t>(std::min<uint64_t>(left_ms, kSaturatedBudgetMs)));
    h.store(hdr);
    tx_enqueue(&s->route, hdr, c.req->data() + off, len);
    c.tx_gen = tx_gen_;
  } else {
    // Request-for-response of response packet j.
    h.type = static_cast<uint8_t>(PktType::kRequestForResponse);
    h.pkt_num = tx_idx - c.req_pkts + 1;
    h.store(hdr);
    tx_enqueue(&s->route, hdr, nullptr, 0);
  }
}

namespace {
// Runs step(); if it throws, keeps the first exception in *first and
// returns, so that a loop completing many calls completes them all even if
// one continuation throws (the caller rethrows *first at the end).
template <typename Step>
void keep_first_exception(std::exception_ptr* first, Step&& step) {
  try {
    step();
  } catch (...) {
    if (!*first) *first = std::current_exception();
  }
}
}  // namespace

// Ends the call in slot slot_idx with st: frees the slot (returning the
// credits of packets still in flight: their answers will be dropped as
// stale), starts the next backlogged call, lets waiting slots use the
// credits, then runs the continuation.
void Rpc::complete_call(Session* s, uint32_t slot_idx, Status st) {
  ClientSlot& c = s->cslots[slot_idx];
  // A call can end (cancel, deadline, failure) while packets reading its
  // request wait in the send batch; once its continuation runs, the caller
  // may change or free the request. Send them now, as they were.
  if (c.tx_gen == tx_gen_) [[unlikely]]
    tx_flush();
  Continuation cont = std::move(c.cont);
  s->credits += c.in_flight();
  c.busy = false;
  c.req = nullptr;
  c.resp = nullptr;
  s->free_slot_mask |= 1u << slot_idx;
  // Every sent, unanswered packet holds one credit: with no call left, all
  // the server granted are back. (Two compares per call; a leak would stall
  // the session, an excess would overrun the server's receive window.)
  FLIT_CHECK(s->credits <= s->granted_credits &&
                 (s->free_slot_mask != kAllSlotsMask || s->credits == s->granted_credits),
             "session credits", s->credits, "of", s->granted_credits, "slots free",
             s->free_slot_mask);
  if (s->credit_waiter == slot_idx) s->credit_waiter = Session::kNoWaiter;
  stats_.calls_completed++;
  std::exception_ptr first;  // from a backlogged call that expired
  {
    // Continuations of expired calls run there, mid-way: as from the loop.
    InLoopScope loop(in_event_loop_);
    drain_backlog(s, &first);
  }
  // The credits returned may be what another slot waits for: with nothing
  // of its own in flight, no answer would wake it. (No other slot busy, as
  // with one call in flight, or no slot short of credits: nobody waits.)
  if (s->free_slot_mask != kAllSlotsMask && s->state == SessionState::kConnected &&
      s->credit_starved)
    client_send_more(s);
  if (first) [[unlikely]] {
    keep_first_exception(&first, [&] { cont(st); });
    std::rethrow_exception(first);
  }
  cont(st);
}

// Starts backlogged calls, oldest first, while slots are free. One whose
// deadline passed since the last timer scan completes kDeadlineExceeded
// instead: started, it would reach the server with a budget of 1 ms and
// might run there, though its caller is told it timed out. Its
// continuation runs here, before that of the call whose slot freed; an
// exception from it is kept in *first and the draining goes on.
void Rpc::drain_backlog(Session* s, std::exception_ptr* first) {
  while (s->backlog_len != 0 && s->free_slot_mask != 0 && s->state == SessionState::kConnected) {
    Session::Pending& p = s->backlog[s->backlog_head];
    s->backlog_head = (s->backlog_head + 1) % cfg_.backlog;
    s->backlog_len--;
    if (!p.cont) continue;  // expired or cancelled while waiting
    if (now_cache_ns_ >= p.deadline_ns) [[unlikely]] {
      Continuation cont = std::move(p.cont);
      stats_.calls_completed++;
      keep_first_exception(first, [&] { cont(Status::kDeadlineExceeded); });
      continue;
    }
    (void)start_call(s, p.call_seq, p.method, p.req, p.resp, std::move(p.cont), p.deadline_ns);
  }
}

void Rpc::fail_all_calls(Session* s, Status st) {
  std::exception_ptr first;
  // Backlogged calls first, so completing a slot does not start one of them.
  while (s->backlog_len != 0) {
    Session::Pending& p = s->backlog[s->backlog_head];
    s->backlog_head = (s->backlog_head + 1) % cfg_.backlog;
    s->backlog_len--;
    if (!p.cont) continue;
    Continuation cont = std::move(p.cont);
    stats_.calls_completed++;
    keep_first_exception(&first, [&] { cont(st); });
  }
  for (uint32_t i = 0; i < kSessionSlots; ++i) {
    if (s->cslots[i].busy) keep_first_exception(&first, [&] { complete_call(s, i, st); });
  }
  if (first) std::rethrow_exception(first);
}

// The server is unreachable or reset the session. Each outstanding call
// completes once: kUnavailable if the server cannot have run it (never sent,
// or not every request packet sent), else kUnknownOutcome.
//
// A continuation may disconnect() the failed session, which frees it: that
// waits until the last call here has completed (the session must outlive
// this loop).
void Rpc::fail_session(Session* s) {
  s->state = SessionState::kFailed;
  stats_.sessions_failed++;
  s->failing = true;
  // A continuation that throws does not keep the others from running, nor
  // the session from being freed if one of them asked: the first exception
  // leaves at the end.
  std::exception_ptr first;
  for (uint32_t i = 0; i < kSessionSlots; ++i) {
    ClientSlot& c = s->cslots[i];
    if (!c.busy) continue;
    keep_first_exception(&first, [&] {
      complete_call(s, i, c.last_sent ? Status::kUnknownOutcome : Status::kUnavailable);
    });
  }
  keep_first_exception(&first, [&] { fail_all_calls(s, Status::kUnavailable); });  // the backlog
  s->failing = false;
  if (s->free_when_failed) free_session(s);
  if (first) std::rethrow_exception(first);
}

bool Rpc::cancel(CallId id) {
  check_owner("cancel");
  SessionId sn = static_cast<SessionId>(id >> 32);
  uint32_t seq = static_cast<uint32_t>(id);
  if (id == kInvalidCall || sn >= max_session_num_ || sessions_[sn] == nullptr) return false;
  Session* s = sessions_[sn].get();
  if (s->role != SessionRole::kClient) return false;
  // The backlog drained when a slot frees must see which calls expired.
  catch_up_clock();
  for (uint32_t i = 0; i < kSessionSlots; ++i) {
    ClientSlot& c = s->cslots[i];
    if (c.busy && c.call_seq == seq) {
      stats_.calls_cancelled++;
      complete_call(s, i, Status::kCancelled);
      return true;
    }
  }
  for (uint32_t j = 0; j < s->backlog_len; ++j) {
    Session::Pending& p = s->backlog[(s->backlog_head + j) % cfg_.backlog];
    if (p.cont && p.call_seq == seq) {
      Continuation cont = std::move(p.cont);  // leaves a tombstone drain_backlog skips
      stats_.calls_cancelled++;
      stats_.calls_completed++;
      cont(Status::kCancelled);
      return true;
    }
  }
  return false;
}

}  // namespace flit
