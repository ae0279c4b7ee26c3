// src/session_handshake.cc: opening and closing sessions.
//
// connect:    client -> server  [hdr: dest=none, token=client token][ConnectPayload]
// connect-ack: server -> client [hdr: dest=client session, token=client token,
//                                status][ConnectAckPayload: server session, token, epoch]
// Later packets carry the receiver's session number and token. A lost connect
// or ack is covered by the client resending connect every connect_retry; the
// server recognises the resent connect by the client's token and answers with
// the same session. Control path: allocation is allowed here.
#include <algorithm>
#include <cstring>

#include "flit/rpc.h"
#include "msg_buffer_pool.h"
#include "pkthdr.h"
#include "session.h"

namespace flit {

SessionId Rpc::alloc_session_num() {
  if (!free_session_nums_.empty()) {
    SessionId n = free_session_nums_.back();
    free_session_nums_.pop_back();
    return n;
  }
  if (max_session_num_ >= cfg_.max_sessions) return kInvalidSession;
  sessions_.emplace_back();
  next_call_seq_.push_back(1);
  return max_session_num_++;
}

void Rpc::free_session(Session* s) {
  tx_flush();  // queued packets may point at the session's route
  SessionId n = s->local_num;
  if (s->role == SessionRole::kServer) {
    // Handlers still running for this session keep valid, detached handles.
    for (ServerSlot& slot : s->sslots) {
      if (slot.state == ServerSlotState::kInHandler) detach_handle(&slot);
    }
    reassembly_bytes_ -= s->reassembly_bytes;
    auto it = connect_index_.find(s->remote_token);
    if (it != connect_index_.end() && it->second == n) connect_index_.erase(it);
    num_server_sessions_--;
  } else {
    num_client_sessions_--;
    next_call_seq_[n] = s->next_call_seq;
  }
  sessions_[n].reset();
  free_session_nums_.push_back(n);
}

void Rpc::send_ctrl(const transport::Route& route, const PktHdr& h, const void* payload,
                    uint32_t len) {
  // Control packets are rare: copy header and payload into one scratch header
  // slot when the payload fits, else send the payload from the caller (which
  // must outlive the flush: only connect payloads, flushed before return).
  uint8_t* hdr = tx_hdr_scratch();
  h.store(hdr);
  tx_enqueue(&route, hdr, static_cast<const uint8_t*>(payload), len);
  if (len != 0) tx_flush();
}

namespace {
PktHdr make_hdr(PktType type, uint32_t dest, uint64_t token, uint32_t src) {
  PktHdr h{};
  h.src_session = src;
  h.magic = kPktMagic;
  h.version = kPktVersion;
  h.type = static_cast<uint8_t>(type);
  h.dest_session = dest;
  h.token = token;
  return h;
}
}  // namespace

SessionId Rpc::create_session(std::string_view uri, ConnectCallback cb) {
  check_owner("create_session");
  if (closing_) [[unlikely]]
    throw Error(
        "flit: create_session while the Rpc is being destroyed (from a continuation ~Rpc ran)");
  // Throws on a malformed URI or an unknown name.
  std::vector<transport::Route> routes = transport_->resolve_all(uri);
  if (routes.empty()) throw Error("flit: " + std::string(uri) + " names no address");
  SessionId n = alloc_session_num();
  if (n == kInvalidSession) {
    throw Error("flit: cannot connect to " + std::string(uri) +
                ": this Rpc's session table is full (" + std::to_string(cfg_.max_sessions) +
                " sessions, NexusConfig::max_sessions)");
  }
  auto s = std::make_unique<Session>();
  s->role = SessionRole::kClient;
  s->state = SessionState::kConnecting;
  s->local_num = n;
  s->next_call_seq = next_call_seq_[n];
  s->local_token = secure_random_u64();
  s->route = routes.front();
  if (routes.size() > 1) s->connect_routes = std::move(routes);
  s->on_connect = std::move(cb);
  for (uint32_t i = 0; i < kSessionSlots; ++i) s->next_req_num[i] = i;
  uint64_t now = now_ns();
  s->hs_deadline_ns = now + connect_timeout_ns_;
  Session* sp = s.get();
  sessions_[n] = std::move(s);
  num_client_sessions_++;
  send_connect(sp);
  tx_flush();
  return n;
}

Status Rpc::connect(std::string_view uri, SessionId* out, Duration timeout) {
  check_owner("connect");
  if (in_event_loop_) {
    throw Error(
        "flit::Rpc::connect() from inside a handler or continuation would re-enter the "
        "event loop; use create_session with a callback");
  }
  bool done = false;
  Status result = Status::kInternal;
  SessionId n = create_session(uri, [&done, &result](SessionId, Status st) {
    done = true;
    result = st;
  });
  if (timeout != Duration::zero()) {
    sessions_[n]->hs_deadline_ns = now_ns() + static_cast<uint64_t>(timeout.count());
  }
  // Terminates: the handshake completes or fails by its deadline. If
  // something else in the loop throws, the half-made session goes (its
  // callback points into this frame), as a failed handshake's does.
  try {
    while (!done) run_event_loop_once();
  } catch (...) {
    if (!done && sessions_[n] != nullptr) {
      sessions_[n]->on_connect = nullptr;
      free_session(sessions_[n].get());
    }
    throw;
  }
  *out = result == Status::kOk ? n : kInvalidSession;
  return result;
}

void Rpc::send_connect(Session* s) {
  if (!s->connect_routes.empty()) {
    s->route = s->connect_routes[s->connect_attempts % s->connect_routes.size()];
    s->connect_attempts++;
  }
  PktHdr h = make_hdr(PktType::kConnect, kNoSession, s->local_token, s->local_num);
  ConnectPayload cp{};
  cp.client_session = s->local_num;
  cp.max_msg_size = static_cast<uint32_t>(cfg_.max_msg_size);
  cp.slots = kSessionSlots;
  cp.credits = kSessionCredits;
  cp.data_per_pkt = static_cast<uint32_t>(data_per_pkt_);
  cp.client_epoch = nexus_.epoch();
  cp.eager_pkts = static_cast<uint16_t>(cfg_.eager_response_pkts);
  uint8_t buf[sizeof cp];
  store_payload(cp, buf);
  h.msg_size = sizeof buf;
  s->hs_last_tx_ns = now_ns();
  send_ctrl(s->route, h, buf, sizeof buf);
}

void Rpc::handle_connect(const PktHdr& h, const uint8_t* payload, uint32_t len,
                         const transport::Route& from) {
  if (len < sizeof(ConnectPayload)) {
    stats_.drop_truncated++;
    return;
  }
  ConnectPayload cp = load_payload<ConnectPayload>(payload);
  PktHdr ack = make_hdr(PktType::kConnectAck, cp.client_session, h.token, kNoSession);
  ConnectAckPayload ap{};
  // The largest request this server can ever take: a multi-packet one must
  // fit the reassembly budgets too (one that cannot is refused at the
  // caller's enqueue_request instead of being resent until it times out).
  const size_t budget = std::min(cfg_.session_reassembly_budget, cfg_.reassembly_budget);
  ap.max_msg_size =
      static_cast<uint32_t>(std::min(cfg_.max_msg_size, std::max(budget, data_per_pkt_)));
  ap.slots = kSessionSlots;
  ap.credits = kSessionCredits;
  ap.data_per_pkt = static_cast<uint32_t>(data_per_pkt_);
  ap.server_epoch = nexus_.epoch();
  ap.server_session = kNoSession;

  Session* s = nullptr;
  auto it = connect_index_.find(h.token);
  if (it != connect_index_.end()) {
    Session* old = sessions_[it->second].get();
    // A resent connect: answer with the same session. From any source
    // address: a client trying a name's addresses in turn may reach this
    // server through two of them, and the token (64 random bits, secret to
    // the two ends) is what names the client, not where it sent from.
    // The ack, and what follows, go where the latest connect came from:
    // the client is alternating because some path did not work.
    if (old != nullptr && old->remote_num == cp.client_session) {
      s = old;
      s->route = from;
    }
  }
  if (s == nullptr) {
    Status refuse = Status::kOk;
    SessionId n = kInvalidSession;
    // Both ends split messages at the same packet size (same MTU): a
    // mismatch is refused rather than misparsed.
    if (cp.slots != kSessionSlots || cp.credits == 0 || cp.credits > kSessionCredits ||
        cp.max_msg_size == 0 || cp.data_per_pkt != data_per_pkt_ || cp.eager_pkts > cp.credits) {
      refuse = Status::kInvalidArgument;
    } else if ((n = alloc_session_num()) == kInvalidSession) {
      refuse = Status::kResourceExhausted;
    }
    if (refuse != Status::kOk) {
      ack.status = static_cast<uint8_t>(refuse);
      uint8_t buf[sizeof ap];
      store_payload(ap, buf);
      ack.msg_size = sizeof buf;
      transport::Route r = from;
      send_ctrl(r, ack, buf, sizeof buf);
      return;
    }
    auto ns = std::make_unique<Session>();
    ns->role = SessionRole::kServer;
    ns->state = SessionState::kConnected;
    ns->local_num = n;
    ns->local_token = secure_random_u64();
    ns->remote_num = cp.client_session;
    ns->remote_token = h.token;
    ns->remote_epoch = cp.client_epoch;
    ns->remote_max_msg = cp.max_msg_size;
    // 0 (a client that predates the field) asks for every packet but the
    // first; never more than the client's credits, as the client counts.
    ns->eager = std::clamp<uint32_t>(cp.eager_pkts, 1, cp.credits);
    ns->route = from;
    ns->last_rx_ns = now_ns();
    s = ns.get();
    sessions_[n] = std::move(ns);
    connect_index_[h.token] = n;
    num_server_sessions_++;
  }
  ack.src_session = s->local_num;
  ap.server_session = s->local_num;
  ap.server_token = s->local_token;
  uint8_t buf[sizeof ap];
  store_payload(ap, buf);
  ack.msg_size = sizeof buf;
  send_ctrl(s->route, ack, buf, sizeof buf);
}

void Rpc::handle_connect_ack(const PktHdr& h, const uint8_t* payload, uint32_t len, Session* s,
                             const transport::Route& from) {
  if (s->state != SessionState::kConnecting) {
    stats_.drop_stale++;  // a duplicate ack
    return;
  }
  if (len < sizeof(ConnectAckPayload)) {
    stats_.drop_truncated++;
    return;
  }
  ConnectAckPayload ap = load_payload<ConnectAckPayload>(payload);
  Status st = status_from_wire(h.status);
  if (st != Status::kOk && !s->connect_routes.empty()) {
    // One of a name's addresses refused (full, or a server we cannot talk
    // to): it is not asked again, the others still get their turn (the
    // next one at once), and the refusal is the answer if none accepts by
    // the deadline. A refusal from none of them (late, duplicated, or from
    // another address of a server) drops nothing.
    auto refused =
        std::find_if(s->connect_routes.begin(), s->connect_routes.end(),
                     [&](const transport::Route& r) { return transport_->same_peer(r, from); });
    if (refused != s->connect_routes.end()) s->connect_routes.erase(refused);
    s->connect_refusal = st;
    if (!s->connect_routes.empty()) {
      send_connect(s);
      return;
    }
  }
  if (st == Status::kOk) {
    if (ap.slots != kSessionSlots || ap.credits == 0 || ap.max_msg_size == 0 ||
        ap.data_per_pkt != data_per_pkt_) {
      st = Status::kInvalidArgument;  // a server we cannot talk to
    } else {
      s->remote_num = ap.server_session;
      s->remote_token = ap.server_token;
      s->remote_epoch = ap.server_epoch;
      s->remote_max_msg = ap.max_msg_size;
      s->credits = std::min<uint32_t>(ap.credits, kSessionCredits);
      s->granted_credits = s->credits;
      // The server sends this many response packets unasked, and the
      // client holds a credit for each (never more than it has).
      s->eager = std::min(cfg_.eager_response_pkts, s->credits);
      s->state = SessionState::kConnected;
      s->last_rx_ns = s->last_tx_ns = now_cache_ns_;
      // Of several addresses, keep the one that answered (not necessarily
      // the last one tried: an earlier attempt's answer may come late), or
      // where the answer came from if it is none of them (a server that
      // answers from another of its addresses).
      if (!s->connect_routes.empty()) {
        s->route = from;
        for (const transport::Route& r : s->connect_routes) {
          if (transport_->same_peer(r, from)) s->route = r;
        }
        std::vector<transport::Route>().swap(s->connect_routes);
      }
    }
  }
  finish_connect(s, st);
}

void Rpc::finish_connect(Session* s, Status st) {
  ConnectCallback cb = std::move(s->on_connect);
  SessionId n = s->local_num;
  if (st != Status::kOk) free_session(s);
  if (cb) cb(n, st);
}

void Rpc::disconnect(SessionId n) {
  check_owner("disconnect");
  if (n >= max_session_num_ || sessions_[n] == nullptr ||
      sessions_[n]->role != SessionRole::kClient) {
    throw Error("flit::Rpc::disconnect: " + std::to_string(n) +
                " is not a client session of this Rpc");
  }
  Session* s = sessions_[n].get();
  if (s->state == SessionState::kConnecting) {
    finish_connect(s, Status::kCancelled);
    return;
  }
  if (s->state == SessionState::kFailed) {
    if (s->failing) {  // from a continuation fail_session is running
      s->free_when_failed = true;
      return;
    }
    free_session(s);  // the server is gone or forgot us: nothing to tell it
    return;
  }
  if (s->state != SessionState::kConnected) return;  // already disconnecting
  s->state = SessionState::kDisconnecting;
  // Calls the continuations start take their progress and budget from it.
  catch_up_clock();
  // The server is told before the continuations run: one that throws
  // (fail_all_calls still runs the rest, then passes it on) must not leave
  // the session disconnecting with nothing sent and no deadline set.
  s->hs_deadline_ns = now_ns() + connect_timeout_ns_;
  send_disconnect(s);
  // The continuations run as from the event loop, even when disconnect()
  // is called outside it: one that polled (call(), connect()) could take in
  // the disconnect's ack, which frees the session still being walked here.
  InLoopScope loop(in_event_loop_);
  fail_all_calls(s, Status::kCancelled);
}

void Rpc::send_disconnect(Session* s) {
  PktHdr h = make_hdr(PktType::kDisconnect, s->remote_num, s->remote_token, s->local_num);
  s->hs_last_tx_ns = now_ns();
  send_ctrl(s->route, h, nullptr, 0);
}

void Rpc::handle_disconnect(const PktHdr& h, Session* s) {
  (void)h;
  PktHdr ack = make_hdr(PktType::kDisconnectAck, s->remote_num, s->remote_token, s->local_num);
  // The ack must not point into the session we are about to free.
  transport::Route route = s->route;
  // Free first: the session's requests still queued for a worker are
  // detached (never started) before the client can learn that the
  // disconnect is done. Acked first, a worker freed meanwhile could start
  // one for a client that had already moved on.
  free_session(s);
  uint8_t* hdr = tx_hdr_scratch();
  ack.store(hdr);
  tx_enqueue(&route, hdr, nullptr, 0);
  tx_flush();
}

void Rpc::handle_disconnect_ack(Session* s) { free_session(s); }

SessionState Rpc::session_state(SessionId n) const {
  if (n >= max_session_num_ || sessions_[n] == nullptr) return SessionState::kFree;
  return sessions_[n]->state;
}

uint64_t Rpc::remote_epoch(SessionId n) const {
  if (n >= max_session_num_ || sessions_[n] == nullptr) return 0;
  return sessions_[n]->remote_epoch;
}

}  // namespace flit
