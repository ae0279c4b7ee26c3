// flit/stats.h: per-Rpc counters, read with Rpc::stats() on the owner thread.
#pragma once

#include <cstdint>

namespace flit {

struct RpcStats {
  // Traffic, flit packets (header included).
  uint64_t pkts_tx = 0;
  uint64_t pkts_rx = 0;
  // (bytes_tx counts the first pkts_tx packets of each burst: exact unless
  // a transport refuses a packet in the middle of a burst, when it is off
  // by the sizes of the packets that differ.)
  uint64_t bytes_tx = 0;
  uint64_t bytes_rx = 0;
  // Packets the client sent again after a retransmission timeout.
  uint64_t retransmissions = 0;

  // Dropped received packets, by reason. None of these ever reaches a
  // handler or a continuation.
  uint64_t drop_truncated = 0;    // shorter than the header, or payload shorter than declared
  uint64_t drop_bad_magic = 0;    // not a flit packet
  uint64_t drop_bad_version = 0;  // a flit packet of a protocol version we do not speak
  uint64_t drop_bad_type = 0;     // unknown packet type, or one not valid for the session's role
  uint64_t drop_unknown_session = 0;  // no such session (or not in a state to take it)
  uint64_t drop_bad_token = 0;        // the session exists but the token is wrong
  uint64_t drop_malformed = 0;        // sizes or packet numbers inconsistent, message too large
  uint64_t drop_stale = 0;            // for an earlier request, or a duplicate already handled
  uint64_t drop_out_of_order = 0;     // ahead of the next expected packet (go-back-N resends it)
  uint64_t tx_dropped = 0;            // packets the transport did not accept
  uint64_t fault_drops = 0;           // packets dropped by Rpc::set_fault_injection
  uint64_t drop_budget = 0;           // first packets of requests over the reassembly budget

  // Calls.
  uint64_t calls_started = 0;        // accepted by enqueue_request
  uint64_t calls_completed = 0;      // continuation run (any status)
  uint64_t requests_handled = 0;     // handler invocations at this server (inline or worker)
  uint64_t requests_to_workers = 0;  // of those, handed to a worker thread
  // Handlers that threw before answering, inline or on a worker: each is
  // answered Internal, reported on stderr, and the event loop goes on. (An
  // inline handler that throws after answering counts too; a worker's is
  // only reported, its handle being the owner's again.)
  uint64_t handler_exceptions = 0;
  // Request handles created: the peak number of requests in handlers at once
  // so far. Each is a heap allocation (and, for a worker handler, its
  // response block), made once: handles are reused after that.
  uint64_t request_handles = 0;
  uint64_t worker_rejected = 0;     // worker-mode requests answered ResourceExhausted unrun
  uint64_t posts_run = 0;           // functions from Rpc::post() run
  uint64_t responses_resent = 0;    // stored responses resent for duplicate requests
  uint64_t responses_orphaned = 0;  // responses dropped: the client had given up on the request
  uint64_t requests_expired = 0;    // dropped unstarted: their deadline passed first
  uint64_t calls_cancelled = 0;     // cancel() calls that found the call
  uint64_t call_retries = 0;        // attempts scheduled again by enqueue_request_with_retry

  // Sessions.
  uint64_t sessions_failed = 0;  // client sessions declared unreachable or reset
  uint64_t sessions_reaped = 0;  // server sessions freed after idle_timeout of silence
  uint64_t resets_sent = 0;      // answers to packets for sessions we do not have
  uint64_t pings_sent = 0;       // keepalives and "still running" signals
};

}  // namespace flit
