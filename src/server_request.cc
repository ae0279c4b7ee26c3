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

ReqHandle* Rpc::alloc_handle() {
  if (free_handles_.empty()) [[unlikely]] {
    // Warm-up only: handles are reused, so their number is the peak number
    // of requests in handlers at once.
    if (handles_.size() == handles_.capacity()) handles_.reserve(handles_.size() * 2 + 64);
    if (free_handles_.capacity() < handles_.capacity()) free_handles_.reserve(handles_.capacity());
    handles_.push_back(std::make_unique<ReqHandle>());
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
  h->req_data_ = nullptr;
  h->slot_ = nullptr;
  h->sess_ = nullptr;
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
    // A new request in this slot: the client has the previous response, or
    // gave up on it.
    if (h.pkt_num != 0) {
      stats_.drop_out_of_order++;
      return;
    }
    if (slot->state == ServerSlotState::kInHandler) detach_handle(slot);
    slot->req_buf.release();
    slot->resp.release();
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
    ReqHandle* hd = alloc_handle();
    hd->req_data_ = payload;
    hd->in_place_ = true;
    slot->handle = hd;
    dispatch(s, slot);
    return;
  }
  std::memcpy(slot->req_buf.data() + off, payload, len);
  slot->num_rx++;
  if (slot->num_rx < req_pkts) {
    send_credit_return(s, h);
    return;
  }
  ReqHandle* hd = alloc_handle();
  hd->req_buf_ = std::move(slot->req_buf);
  hd->req_data_ = hd->req_buf_.data();
  hd->in_place_ = false;
  slot->handle = hd;
  dispatch(s, slot);
}

void Rpc::dispatch(Session* s, ServerSlot* slot) {
  slot->state = ServerSlotState::kInHandler;
  ReqHandle* hd = slot->handle;
  hd->slot_ = slot;
  hd->sess_ = s;
  hd->session_ = s->local_num;
  hd->method_ = slot->method;
  hd->req_size_ = slot->req_size;
  Handler* fn = nexus_.handler(slot->method);
  if (fn == nullptr) [[unlikely]] {
    enqueue_response(hd, Status::kUnimplemented);
    return;
  }
  stats_.requests_handled++;
  (*fn)(hd);
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

FLIT_HOT void Rpc::enqueue_response(ReqHandle* hd, Status st) {
  check_owner("enqueue_response");
  FLIT_CHECK(hd != nullptr && hd->in_use_,
             "enqueue_response on a request that was already answered (a ReqHandle is spent "
             "after its response)");
  ServerSlot* slot = hd->slot_;
  Session* s = hd->sess_;
  if (slot == nullptr) {
    // Detached: the client gave up on this request, or disconnected.
    stats_.responses_orphaned++;
    free_handle(hd);
    return;
  }
  if (st == Status::kOk && hd->resp_.valid() && hd->resp_.size() > s->remote_max_msg) {
    st = Status::kResourceExhausted;  // larger than the client accepts
  }
  if (st != Status::kOk || !hd->resp_.valid()) {
    hd->resp_ = pool_->alloc(0);  // a status-only (or empty) response
  }
  slot->resp = std::move(hd->resp_);
  slot->resp_status = st;
  slot->resp_pkts = pool_->num_pkts(slot->resp.size());
  slot->state = ServerSlotState::kResponded;
  slot->handle = nullptr;
  hd->in_place_ = false;
  free_handle(hd);
  send_response_pkt(s, slot, 0);
}

FLIT_HOT void Rpc::send_response_pkt(Session* s, ServerSlot* slot, uint32_t k) {
  PktHdr h = reply_hdr(PktType::kResponse, s, slot->req_num, slot->method);
  h.status = static_cast<uint8_t>(slot->resp_status);
  const MsgBuffer& r = slot->resp;
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
