// src/session.h: per-session state of the engine (private).
//
// One struct serves both roles; a session is either the client end (it
// issues calls, owns credits and client slots) or the server end (it runs
// handlers and keeps each slot's last response for at-most-once delivery).
#pragma once

#include <cstdint>
#include <memory>

#include "flit/msg_buffer.h"
#include "flit/rpc.h"
#include "flit/transport/transport.h"

namespace flit {

enum class SessionRole : uint8_t { kClient, kServer };

// One outstanding call at the client.
//
// Packet indices follow eRPC's scheme: the client's n-th transmitted packet
// (request packet i for i < req_pkts, else the request-for-response of
// response packet i - req_pkts + 1) is answered by its n-th received packet
// (credit return of request packet i for i < req_pkts - 1, else response
// packet i - req_pkts + 1). So num_tx - num_rx packets are in flight, each
// holding one session credit.
struct ClientSlot {
  bool busy = false;
  uint16_t method = 0;
  uint64_t req_num = 0;  // of the current (or last) call in this slot
  const MsgBuffer* req = nullptr;
  MsgBuffer* resp = nullptr;
  Continuation cont;
  uint32_t req_pkts = 0;
  uint32_t resp_pkts = 0;  // 0 until response packet 0 arrives
  uint32_t num_tx = 0;
  uint32_t num_rx = 0;
  uint64_t progress_ns = 0;  // last send or in-order receive
  uint64_t deadline_ns = 0;
  uint32_t retries = 0;  // retransmissions without progress

  uint32_t total_tx() const { return resp_pkts == 0 ? req_pkts : req_pkts + resp_pkts - 1; }
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
  uint32_t num_rx = 0;  // request packets received in order
  uint32_t req_size = 0;
  uint16_t method = 0;
  MsgBuffer req_buf;             // reassembly of a multi-packet request
  ReqHandle* handle = nullptr;   // while kInHandler
  MsgBuffer resp;                // while kResponded: kept for duplicates
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
  transport::Route route{};

  // Client side.
  uint32_t credits = kSessionCredits;
  uint64_t next_req_num[kSessionSlots] = {};
  ClientSlot cslots[kSessionSlots];
  uint32_t free_slot_mask = (1u << kSessionSlots) - 1;
  ConnectCallback on_connect;
  uint64_t hs_deadline_ns = 0;  // connect or disconnect gives up then
  uint64_t hs_last_tx_ns = 0;
  // Calls waiting for a slot: a ring allocated on the first overflow
  // (capacity NexusConfig::backlog), never resized.
  struct Pending {
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
  uint64_t last_rx_ns = 0;
};

}  // namespace flit
