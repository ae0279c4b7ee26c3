// src/loss_recovery.cc: timers. Client-driven retransmission (go-back-N from
// the first unanswered packet after NexusConfig::rto without progress), call
// deadlines, and the handshake timers of connect and disconnect.
//
// The scan runs every timer_interval (a quarter of the shortest timer) from
// the event loop, over the session table: a few nanoseconds per live session,
// amortised over the packets of an interval. No allocation.
#include "flit/rpc.h"
#include "session.h"

namespace flit {

void Rpc::retransmit(Session* s, uint32_t i) {
  ClientSlot& c = s->cslots[i];
  s->credits += c.num_tx - c.num_rx;
  stats_.retransmissions += c.num_tx - c.num_rx;
  c.num_tx = c.num_rx;
  c.retries++;
  c.progress_ns = now_cache_ns_;
  client_send_more(s);
}

void Rpc::scan_timers(uint64_t now) {
  last_scan_ns_ = now;
  for (uint32_t n = 0; n < max_session_num_; ++n) {
    Session* s = sessions_[n].get();
    if (s == nullptr || s->role != SessionRole::kClient) continue;
    switch (s->state) {
      case SessionState::kConnecting:
        if (now >= s->hs_deadline_ns) {
          finish_connect(s, Status::kUnavailable);
        } else if (now - s->hs_last_tx_ns >= connect_retry_ns_) {
          send_connect(s);
        }
        break;
      case SessionState::kDisconnecting:
        if (now >= s->hs_deadline_ns) {
          free_session(s);  // the server reclaims its side by itself
        } else if (now - s->hs_last_tx_ns >= connect_retry_ns_) {
          send_disconnect(s);
        }
        break;
      case SessionState::kConnected: {
        for (uint32_t i = 0; i < kSessionSlots; ++i) {
          ClientSlot& c = s->cslots[i];
          if (!c.busy) continue;
          if (now >= c.deadline_ns) {
            complete_call(s, i, Status::kDeadlineExceeded);
          } else if (c.num_tx > c.num_rx && now - c.progress_ns >= rto_ns_) {
            retransmit(s, i);
          }
          if (s->state != SessionState::kConnected) break;  // a continuation disconnected
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
        break;
      }
      case SessionState::kFree:
        break;
    }
  }
}

}  // namespace flit
