// src/loss_recovery.cc: timers. Client-driven selective retransmission (after
// NexusConfig::rto without an answer, resend only the packets whose answers
// are missing), failure detection (max_retries rounds without any answer),
// call deadlines, handshake retries, keepalives; and at the server, reaping
// sessions of clients that went silent and dropping expired reassemblies.
//
// The scan runs every timer interval (a quarter of the shortest timer) from
// the event loop, over the session table: a few nanoseconds per live session,
// amortised over the packets of an interval. No allocation.
#include "flit/rpc.h"
#include "session.h"

namespace flit {

namespace {
// now - then, or 0 if then is later (timestamps taken mid-iteration can be
// newer than the iteration's cached now).
uint64_t since(uint64_t now, uint64_t then) { return now > then ? now - then : 0; }
}  // namespace

void Rpc::retransmit(Session* s, uint32_t i) {
  ClientSlot& c = s->cslots[i];
  for (uint32_t x = c.num_rx; x < c.num_tx; ++x) {
    if (c.answered(x)) continue;
    // Before response packet 0, the unasked ones need no request: the
    // resent last request packet brings them again with packet 0.
    if (c.resp_pkts == 0 && x >= c.req_pkts) break;
    client_send_one(s, i, x);  // still in flight: holds the credit it had
    stats_.retransmissions++;
  }
  c.retries++;
  c.progress_ns = now_cache_ns_;
}

void Rpc::scan_timers(uint64_t now) {
  last_scan_ns_ = now;
  for (uint32_t n = 0; n < max_session_num_; ++n) {
    Session* s = sessions_[n].get();
    if (s == nullptr) continue;
    if (s->role == SessionRole::kClient) {
      scan_client_session(s, now);
    } else {
      scan_server_session(s, now);
    }
  }
}

void Rpc::scan_client_session(Session* s, uint64_t now) {
  switch (s->state) {
    case SessionState::kConnecting:
      if (now >= s->hs_deadline_ns) {
        // An address that refused says more than the silence of the others.
        finish_connect(
            s, s->connect_refusal != Status::kOk ? s->connect_refusal : Status::kUnavailable);
      } else if (since(now, s->hs_last_tx_ns) >= connect_retry_ns_) {
        send_connect(s);
      }
      return;
    case SessionState::kDisconnecting:
      if (now >= s->hs_deadline_ns) {
        free_session(s);  // the server reclaims its side by itself
      } else if (since(now, s->hs_last_tx_ns) >= connect_retry_ns_) {
        send_disconnect(s);
      }
      return;
    case SessionState::kFailed:
    case SessionState::kFree:
      return;
    case SessionState::kConnected:
      break;
  }
  bool any_busy = false;
  for (uint32_t i = 0; i < kSessionSlots; ++i) {
    ClientSlot& c = s->cslots[i];
    if (!c.busy) continue;
    any_busy = true;
    if (now >= c.deadline_ns) {
      complete_call(s, i, Status::kDeadlineExceeded);
    } else if (c.in_flight() != 0 && since(now, c.progress_ns) >= rto_ns_) {
      if (c.retries >= cfg_.max_retries) {
        fail_session(s);  // unreachable: every call completes once
        return;
      }
      retransmit(s, i);
    }
    if (s->state != SessionState::kConnected) return;  // a continuation disconnected
  }
  // Calls still waiting for a slot can expire too.
  for (uint32_t j = 0; j < s->backlog_len && s->state == SessionState::kConnected; ++j) {
    Session::Pending& p = s->backlog[(s->backlog_head + j) % cfg_.backlog];
    if (p.cont && now >= p.deadline_ns) {
      Continuation cont = std::move(p.cont);  // leaves a tombstone drain_backlog skips
      stats_.calls_completed++;
      cont(Status::kDeadlineExceeded);
    }
  }
  if (s->state != SessionState::kConnected || any_busy) return;
  // Idle: keep the server's side alive, and notice a server that went away.
  if (since(now, s->last_rx_ns) >= idle_timeout_ns_) {
    fail_session(s);
  } else if (since(now, s->last_tx_ns) >= keepalive_ns_) {
    send_ping(s, ~uint64_t{0});
  }
}

void Rpc::scan_server_session(Session* s, uint64_t now) {
  if (since(now, s->last_rx_ns) >= idle_timeout_ns_) {
    // Nothing, not even a keepalive, for idle_timeout: the client is gone.
    stats_.sessions_reaped++;
    free_session(s);
    return;
  }
  for (ServerSlot& slot : s->sslots) {
    if (slot.state == ServerSlotState::kReceiving && slot.deadline_ns != 0 &&
        now > slot.deadline_ns) {
      expire_request(s, &slot);  // the caller gave up mid-request: free its memory
    }
  }
}

}  // namespace flit
