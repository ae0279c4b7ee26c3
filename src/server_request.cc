// src/server_request.cc: the server side: receive and reassemble requests,
// dispatch them to handlers, send responses, and answer duplicates from the
// slot's stored response (at-most-once execution).
#include <cstring>

#include "flit/rpc.h"
#include "msg_buffer_pool.h"
#include "pkthdr.h"
#include "session.h"

namespace flit {

namespace {
PktHdr reply_hdr(PktType type, const Session* s, uint64_t req_num, uint16_t method) {
  PktHdr h{};
  h.magic = kPktMagic;
  h.version = kPktVersion;
  h.type = static_cast<uint8_t>(type);
  h.method = method;
  h.dest_session = s->remote_num;
  h.token = s->remote_token;
  h.req_num = req_num;
  return h;
}
}  // namespace

void Rpc::reset_server_slot(ServerSlot* slot) {
  slot->req_buf.release();
  slot->resp_large.release();
  slot->resp = nullptr;
  slot->resp_status = Status::kOk;
  slot->resp_pkts = 0;
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
  if (len != expect) [[unlikely]] {
    if (len < expect) {
      stats_.drop_truncated++;
    } else {
      stats_.drop_malformed++;
    }
    return;
  }

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
      case ServerSlotState::kReceiving:
        if (h.pkt_num == slot->num_rx) break;  // the next packet: take it below
        if (h.pkt_num < slot->num_rx) {
          stats_.drop_stale++;
          send_credit_return(s, h);  // its credit return was lost
        } else {
          stats_.drop_out_of_order++;
        }
        return;
      case ServerSlotState::kInHandler:
        stats_.drop_stale++;
        if (h.pkt_num + 1 < req_pkts) send_credit_return(s, h);
        return;
      case ServerSlotState::kResponded:
        stats_.drop_stale++;
        if (h.pkt_num + 1 < req_pkts) {
          send_credit_return(s, h);
        } else {
          // The whole request again: the response was lost. Resend packet 0
          // of the stored response; the handler does not run again.
          stats_.responses_resent++;
          send_response_pkt(s, slot, 0);
        }
        return;
      case ServerSlotState::kIdle:
        break;
    }
  } else {
    // A new request in this slot.
    if (slot->state == ServerSlotState::kInHandler) {
      // The previous request's handler still holds its ReqHandle (the client
      // gave up on it): the new one waits for its retransmission.
      stats_.drop_stale++;
      return;
    }
    if (h.pkt_num != 0) {
      stats_.drop_out_of_order++;
      return;
    }
    reset_server_slot(slot);
    slot->state = ServerSlotState::kReceiving;
    slot->req_num = h.req_num;
    slot->req_pkts = req_pkts;
    slot->req_size = h.msg_size;
    slot->method = h.method;
    slot->num_rx = 0;
    if (req_pkts > 1) slot->req_buf = pool_->alloc(h.msg_size);
  }

  if (req_pkts == 1) {
    // Zero copy: the handler reads the request in the receive buffer.
    slot->num_rx = 1;
    slot->handle.req_data_ = payload;
    dispatch(s, slot);
    return;
  }
  std::memcpy(slot->req_buf.data() + off, payload, len);
  slot->num_rx++;
  if (slot->num_rx < req_pkts) {
    send_credit_return(s, h);
    return;
  }
  slot->handle.req_data_ = slot->req_buf.data();
  dispatch(s, slot);
}

void Rpc::dispatch(Session* s, ServerSlot* slot) {
  slot->state = ServerSlotState::kInHandler;
  ReqHandle& hd = slot->handle;
  hd.rpc_ = this;
  hd.sess_ = s;
  hd.slot_ = slot;
  hd.session_ = s->local_num;
  hd.method_ = slot->method;
  hd.req_size_ = slot->req_size;
  Handler* fn = nexus_.handler(slot->method);
  if (fn == nullptr) [[unlikely]] {
    enqueue_response(&hd, Status::kUnimplemented);
    return;
  }
  stats_.requests_handled++;
  (*fn)(&hd);
  if (slot->state == ServerSlotState::kInHandler && !slot->req_buf.valid()) {
    // The handler kept the request to respond later: it was read in place
    // from the receive buffer, which goes back to the transport now. Copy it
    // so request() stays valid until the response.
    slot->req_buf = pool_->alloc(slot->req_size);
    std::memcpy(slot->req_buf.data(), hd.req_data_, slot->req_size);
    hd.req_data_ = slot->req_buf.data();
  }
}

FLIT_HOT void Rpc::enqueue_response(ReqHandle* hd, Status st) {
  check_owner("enqueue_response");
  ServerSlot* slot = hd->slot_;
  Session* s = hd->sess_;
  FLIT_CHECK(slot != nullptr && slot->state == ServerSlotState::kInHandler,
             "enqueue_response on a request that was already answered; state",
             int(slot ? static_cast<int>(slot->state) : -1));
  if (st == Status::kOk && slot->resp != nullptr && slot->resp->size() > s->remote_max_msg) {
    st = Status::kResourceExhausted;  // larger than the client accepts
  }
  if (st != Status::kOk || slot->resp == nullptr) {
    hd->init_response(0);
    slot->resp_large.release();
  }
  slot->resp_status = st;
  slot->resp_pkts = pool_->num_pkts(slot->resp->size());
  slot->state = ServerSlotState::kResponded;
  slot->req_buf.release();
  hd->req_data_ = nullptr;
  hd->slot_ = nullptr;
  if (s->state != SessionState::kConnected) {
    // The client disconnected while the handler ran: drop the response, and
    // free the session once no handler holds it.
    for (ServerSlot& o : s->sslots) {
      if (o.state == ServerSlotState::kInHandler) return;
    }
    free_session(s);
    return;
  }
  send_response_pkt(s, slot, 0);
}

FLIT_HOT void Rpc::send_response_pkt(Session* s, ServerSlot* slot, uint32_t k) {
  PktHdr h = reply_hdr(PktType::kResponse, s, slot->req_num, slot->method);
  h.status = static_cast<uint8_t>(slot->resp_status);
  const MsgBuffer& r = *slot->resp;
  h.msg_size = static_cast<uint32_t>(r.size());
  h.pkt_num = k;
  size_t off = size_t{k} * data_per_pkt_;
  uint32_t len = static_cast<uint32_t>(std::min(data_per_pkt_, r.size() - off));
  uint8_t* hdr = k == 0 ? MsgBufferPool::hdr0(r) : tx_hdr_scratch();
  h.store(hdr);
  tx_enqueue(&s->route, hdr, r.data() + off, len);
}

void Rpc::send_credit_return(Session* s, const PktHdr& req) {
  PktHdr h = reply_hdr(PktType::kCreditReturn, s, req.req_num, req.method);
  h.pkt_num = req.pkt_num;
  uint8_t* hdr = tx_hdr_scratch();
  h.store(hdr);
  tx_enqueue(&s->route, hdr, nullptr, 0);
}

void Rpc::handle_rfr(const PktHdr& h, Session* s) {
  ServerSlot* slot = &s->sslots[h.req_num % kSessionSlots];
  if (slot->state != ServerSlotState::kResponded || slot->req_num != h.req_num) {
    stats_.drop_stale++;
    return;
  }
  if (h.pkt_num == 0 || h.pkt_num >= slot->resp_pkts) {
    stats_.drop_malformed++;
    return;
  }
  send_response_pkt(s, slot, h.pkt_num);
}

}  // namespace flit
