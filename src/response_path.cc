// src/response_path.cc: the client side of credit returns and responses:
// accept answers in any order within the window, return credits, reassemble
// the response into the caller's buffer, ask for the rest with
// requests-for-response, complete.
#include <algorithm>
#include <cstring>

#include "flit/rpc.h"
#include "msg_buffer_pool.h"
#include "pkthdr.h"
#include "session.h"

namespace flit {

// Records answer rx_idx of slot i if it is new: returns its credit, slides
// the window over answers now contiguous. Duplicates (stale) and answers to
// packets never sent (malformed) are dropped. No allocation.
FLIT_HOT bool Rpc::client_rx_ok(Session* s, uint32_t i, uint32_t rx_idx) {
  ClientSlot& c = s->cslots[i];
  if (rx_idx >= c.num_tx) [[unlikely]] {
    if (rx_idx == 0 && c.refused && c.num_tx == 0 && c.req_pkts > 1) {
      // The server admitted an older copy of a refused request's probe
      // whose credit was taken back (reclaim_probe_credits): packet 0 is
      // in, and holds no credit any more.
      c.num_tx = c.num_rx = 1;
      c.progress_ns = now_cache_ns_;
      c.retries = 0;
      c.refused = c.probe_refused = false;
      return true;
    }
    stats_.drop_malformed++;  // an answer to a packet we never sent
    return false;
  }
  if (c.answered(rx_idx)) {
    stats_.drop_stale++;  // a duplicate, e.g. the answer to a retransmission
    return false;
  }
  c.rx_mask |= uint64_t{1} << (rx_idx - c.num_rx);
  while ((c.rx_mask & 1) != 0) {
    c.rx_mask >>= 1;
    c.num_rx++;
  }
  s->credits++;
  c.progress_ns = now_cache_ns_;
  c.retries = 0;
  c.refused = c.probe_refused = false;  // the server took a packet: it has room now
  return true;
}

namespace {
// The slot a packet is for, or -1 if it is for no outstanding call.
int find_slot(const Session* s, uint64_t req_num) {
  uint32_t i = static_cast<uint32_t>(req_num % kSessionSlots);
  const ClientSlot& c = s->cslots[i];
  return c.busy && c.req_num == req_num ? static_cast<int>(i) : -1;
}
}  // namespace

FLIT_HOT void Rpc::handle_credit_return(const PktHdr& h, Session* s) {
  int i = find_slot(s, h.req_num);
  if (i < 0) {
    stats_.drop_stale++;
    return;
  }
  ClientSlot& c = s->cslots[i];
  if (h.pkt_num + 1 >= c.req_pkts) {  // the last request packet is answered by the response
    stats_.drop_malformed++;
    return;
  }
  if (!client_rx_ok(s, static_cast<uint32_t>(i), h.pkt_num)) return;
  client_send_more(s);
}

FLIT_HOT void Rpc::handle_response_pkt(const PktHdr& h, const uint8_t* payload, uint32_t len,
                                       Session* s) {
  int si = find_slot(s, h.req_num);
  if (si < 0) {
    stats_.drop_stale++;
    return;
  }
  const uint32_t i = static_cast<uint32_t>(si);
  ClientSlot& c = s->cslots[i];
  const uint32_t k = h.pkt_num;
  const uint32_t rx_idx = c.req_pkts - 1 + k;
  if (k == 0) {
    const Status st = status_from_wire(h.status);
    const size_t expect = std::min<size_t>(data_per_pkt_, h.msg_size);
    if (st != Status::kOk && h.msg_size != 0) [[unlikely]] {  // a failure carries no data
      stats_.drop_malformed++;
      return;
    }
    if (!payload_len_ok(len, expect)) [[unlikely]]
      return;
    if (!client_rx_ok(s, i, rx_idx)) return;
    // Response packet 0 means the server has every request packet: credit
    // returns still missing are moot.
    for (uint32_t x = c.num_rx; x < c.req_pkts - 1; ++x) {
      if (!c.answered(x)) {
        c.rx_mask |= uint64_t{1} << (x - c.num_rx);
        s->credits++;
      }
    }
    while ((c.rx_mask & 1) != 0) {
      c.rx_mask >>= 1;
      c.num_rx++;
    }
    if (st != Status::kOk) {
      complete_call(s, i, st);
      return;
    }
    if (h.msg_size > cfg_.max_msg_size) [[unlikely]] {
      // The server ignored the size we announced in the handshake.
      complete_call(s, i, Status::kResponseTooLarge);
      return;
    }
    c.resp_pkts = pool_->num_pkts(h.msg_size);
    if (c.num_tx > c.total_tx()) {
      // Credits held for unasked packets this response does not have
      // (nothing can have answered them: a packet past 0 is not taken
      // before packet 0).
      s->credits += c.num_tx - c.total_tx();
      c.num_tx = c.total_tx();
    }
    if (c.resp->capacity() < h.msg_size) {
      pool_->alloc_into(*c.resp, h.msg_size);  // grows the caller's buffer from the pool
    } else {
      c.resp->resize(h.msg_size);
    }
    std::memcpy(c.resp->data(), payload, len);
  } else {
    if (c.resp_pkts == 0) {
      stats_.drop_out_of_order++;  // before packet 0: cannot be expected yet
      return;
    }
    if (k >= c.resp_pkts || h.msg_size != c.resp->size()) [[unlikely]] {
      stats_.drop_malformed++;
      return;
    }
    const size_t off = size_t{k} * data_per_pkt_;
    const size_t expect = std::min<size_t>(data_per_pkt_, c.resp->size() - off);
    if (!payload_len_ok(len, expect)) [[unlikely]]
      return;
    if (!client_rx_ok(s, i, rx_idx)) return;
    std::memcpy(c.resp->data() + off, payload, len);
  }
  if (c.num_rx == c.total_tx()) {
    complete_call(s, i, Status::kOk);
  } else {
    client_send_more(s);
  }
}

}  // namespace flit
