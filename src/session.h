// src/session.h: per-session state of the engine (private).
//
// One struct serves both roles; a session is either the client end (it
// issues calls, owns credits and client slots) or the server end (it runs
// handlers and keeps each slot's last response for at-most-once delivery).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "flit/msg_buffer.h"
#include "flit/rpc.h"
#include "flit/transport/transport.h"

namespace flit {

enum class SessionRole : uint8_t { kClient, kServer };

// Answers a client tracks beyond the first missing one, and packets a server
// reassembles beyond the first missing one: a 64-bit window. Credits (32)
// keep fewer packets than that in flight, so the window never limits a
// session that is not losing packets.
inline constexpr uint32_t kWindow = 64;
static_assert(kSessionCredits <= kWindow);

// A request's budget_ms field saturates here (65.5 s); a request that says
// so, or says none (0), is dropped while still being received once no
// packet of it has come for kIdleReceiveNs.
inline constexpr uint16_t kSaturatedBudgetMs = 0xFFFF;
inline constexpr uint64_t kIdleReceiveNs = uint64_t{kSaturatedBudgetMs} * 1'000'000;

// A session's slots as a bit mask (Session::free_slot_mask when all are free).
inline constexpr uint32_t kAllSlotsMask = (1u << kSessionSlots) - 1;

// Sets an Rpc's in_event_loop_ for the scope and then restores it, so that
// continuations run outside the event loop (from disconnect(), or from
// cancel()'s drain of the backlog) run as from it: one that tried to poll
// could take in a packet that frees the session still being walked.
struct InLoopScope {
  bool& flag;
  bool was;
  explicit InLoopScope(bool& f) : flag(f), was(f) { f = true; }
  ~InLoopScope() { flag = was; }
  InLoopScope(const InLoopScope&) = delete;
  InLoopScope& operator=(const InLoopScope&) = delete;
};

// One outstanding call at the client.
//
// Packet indices follow eRPC's scheme: the client's i-th transmitted packet
// (request packet i for i < req_pkts, else the request-for-response of
// response packet i - req_pkts + 1) is answered by its i-th received packet
// (credit return of request packet i for i < req_pkts - 1, else response
// packet i - req_pkts + 1). The requests-for-response of response packets 1
// .. eager - 1 are never sent: the server sends those packets with packet 0,
// and the client counts them as transmitted (holding their credits) along
// with the last request packet, until packet 0 says how many the response
// has. Recovery is selective: answers are accepted in
// any order within the window (rx_mask), and a retransmission resends only
// the packets whose answers are missing. Every sent, unanswered packet holds
// one session credit.
struct ClientSlot {
  bool busy = false;
  uint16_t method = 0;
  uint64_t req_num = 0;   // of the current (or last) call in this slot
  uint32_t call_seq = 0;  // for cancel(): the low half of its CallId
  const MsgBuffer* req = nullptr;
  MsgBuffer* resp = nullptr;
  Continuation cont;
  uint32_t req_pkts = 0;
  uint32_t resp_pkts = 0;    // 0 until response packet 0 arrives
  uint32_t num_tx = 0;       // packets [0, num_tx) sent at least once
  uint32_t num_rx = 0;       // answers [0, num_rx) all received
  uint64_t rx_mask = 0;      // bit j: answer num_rx + j received (bit 0 always clear)
  uint64_t progress_ns = 0;  // last send, accepted answer or sign of life
  uint64_t deadline_ns = 0;
  uint32_t retries = 0;  // retransmission rounds without an answer
  // The server had no reassembly room for this request (a ping saying
  // kResourceExhausted, before any of it was taken): only packet 0 goes,
  // once per retransmission round, as a probe, and the credits of the rest
  // are back for the session's other calls. Cleared by any answer.
  bool refused = false;
  // The copy of packet 0 sent last was answered with a refusal: nothing
  // can answer it any more, so its credit may be taken back exactly
  // (reclaim_probe_credits). Cleared by every send of packet 0.
  bool probe_refused = false;
  // The last request packet has been sent (at least once): from then on the
  // server may have the whole request, and may run it. Unlike num_tx, never
  // taken back (a refused request's credits are; a late refusal can follow
  // a round that sent everything).
  bool last_sent = false;
  uint64_t tx_gen = 0;  // the send batch that last queued a packet reading *req

  uint32_t total_tx() const { return resp_pkts == 0 ? req_pkts : req_pkts + resp_pkts - 1; }
  // Packets [0, send_limit()) are to be sent: a refused request probes.
  uint32_t send_limit() const { return refused ? 1 : total_tx(); }
  // Has a packet to send that its window allows: only credits hold it back.
  bool wants_credits() const { return busy && num_tx < send_limit() && num_tx - num_rx < kWindow; }
  uint32_t in_flight() const {
    // rx_mask is 0 unless answers arrived out of order; skipping the count
    // then matters because without -mpopcnt (the x86-64 baseline Debian
    // builds for) it is a call into libgcc, once per completed call.
    if (rx_mask == 0) [[likely]]
      return num_tx - num_rx;
    return num_tx - num_rx - static_cast<uint32_t>(__builtin_popcountll(rx_mask));
  }
  bool answered(uint32_t idx) const {
    return idx < num_rx || (idx - num_rx < kWindow && ((rx_mask >> (idx - num_rx)) & 1) != 0);
  }
};

enum class ServerSlotState : uint8_t {
  kIdle,       // no request yet
  kReceiving,  // reassembling a multi-packet request
  kInHandler,  // handler called, no response yet
  kResponded,  // response stored until the next request in this slot
};

struct ServerSlot {
  ServerSlotState state = ServerSlotState::kIdle;
  uint64_t req_num = 0;  // valid unless kIdle
  uint32_t req_pkts = 0;
  uint32_t num_rx = 0;       // request packets [0, num_rx) all received
  uint64_t rx_mask = 0;      // bit j: packet num_rx + j received
  uint64_t deadline_ns = 0;  // from the request's budget (see idle_expiry); 0 while kIdle
  // The request came with no budget (0) or a saturated one (0xFFFF: 65.5 s
  // or more): while it is received, deadline_ns is kIdleReceiveNs after its
  // latest packet, so a slow upload lives and an abandoned one is dropped.
  bool idle_expiry = false;
  uint32_t req_size = 0;
  uint16_t method = 0;
  MsgBuffer req_buf;             // reassembly of a multi-packet request
  uint32_t reassembly_held = 0;  // bytes this slot counts in the reassembly budgets
  ReqHandle* handle = nullptr;   // while kInHandler
  MsgBuffer resp;                // while kResponded: kept for duplicates
  uint64_t tx_gen = 0;           // the send batch that last queued a packet reading resp
  uint32_t resp_pkts = 0;
  Status resp_status = Status::kOk;
};

struct Session {
  SessionRole role = SessionRole::kClient;
  SessionState state = SessionState::kFree;
  SessionId local_num = kInvalidSession;
  uint32_t remote_num = 0xFFFFFFFF;
  uint64_t local_token = 0;   // peers put this on packets to us
  uint64_t remote_token = 0;  // we put this on packets to the peer
  uint64_t remote_epoch = 0;
  uint32_t remote_max_msg = 0;
  // Response packets the server sends without requests-for-response
  // (agreed at the handshake; 1..kSessionCredits).
  uint32_t eager = 1;
  transport::Route route{};

  // Client side.
  uint32_t credits = kSessionCredits;
  uint32_t granted_credits = kSessionCredits;  // by the server at connect (1..32)
  uint64_t next_req_num[kSessionSlots] = {};
  ClientSlot cslots[kSessionSlots];
  uint32_t free_slot_mask = kAllSlotsMask;
  uint8_t send_turn = 0;  // the slot client_send_more serves first next time
  // The slot whose last request packet waits for the eager credits, which
  // then go to it first (kNoWaiter: none).
  static constexpr uint8_t kNoWaiter = 0xFF;
  uint8_t credit_waiter = kNoWaiter;
  // A slot may have packets that only credits hold back: a send stopped
  // with none left before a slot's packets were all out, a slot became the
  // credit_waiter (always set with it: the slots after it were not
  // served), or probes' credits were taken back (the probes go again).
  // Credits coming back must then start a pass over the slots
  // (client_send_more), which recomputes it. While false, a new call sends
  // only its own slot's packets, and a completed call's returned credits
  // wake nobody.
  bool credit_starved = false;
  // fail_session is completing this session's calls; a disconnect() from
  // one of their continuations frees the session when it is done.
  bool failing = false;
  bool free_when_failed = false;
  ConnectCallback on_connect;
  uint64_t hs_deadline_ns = 0;  // connect or disconnect gives up then
  uint64_t hs_last_tx_ns = 0;
  // While connecting to a name with more than one address: the candidates,
  // tried in turn (one per connect attempt); emptied once one answers.
  std::vector<transport::Route> connect_routes;
  uint32_t connect_attempts = 0;
  Status connect_refusal = Status::kOk;  // the last address that refused, why
  // Calls waiting for a slot: a ring allocated on the first overflow
  // (capacity NexusConfig::backlog), never resized.
  struct Pending {
    uint32_t call_seq;
    uint16_t method;
    const MsgBuffer* req;
    MsgBuffer* resp;
    Continuation cont;
    uint64_t deadline_ns;
  };
  std::unique_ptr<Pending[]> backlog;
  uint32_t backlog_head = 0, backlog_len = 0;

  // Server side.
  ServerSlot sslots[kSessionSlots];
  uint64_t reassembly_bytes = 0;  // held by kReceiving slots' buffers

  // Both sides: liveness.
  uint64_t last_rx_ns = 0;  // any valid packet from the peer
  uint64_t last_tx_ns = 0;  // any packet to the peer (keepalive timer)
  uint32_t next_call_seq = 1;
};

// Inline: on every data packet's path (response_path.cc, server_request.cc).
inline bool Rpc::payload_len_ok(uint32_t len, size_t expect) {
  if (len == expect) [[likely]]
    return true;
  if (len < expect) {
    stats_.drop_truncated++;
  } else {
    stats_.drop_malformed++;
  }
  return false;
}

}  // namespace flit
