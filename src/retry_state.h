// src/retry_state.h: one call under enqueue_request_with_retry (private).
#pragma once

#include "flit/rpc.h"

namespace flit {

struct Rpc::RetryState {
  SessionId session;
  uint16_t method;
  const MsgBuffer* req;
  MsgBuffer* resp;
  Continuation cont;
  RetryPolicy policy;
  Duration deadline;
  Function<SessionId(uint32_t), 32> session_for_attempt;
  uint32_t attempt = 0;  // attempts started
};

}  // namespace flit
