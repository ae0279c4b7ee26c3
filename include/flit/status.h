// flit/status.h: the closed set of outcomes of an RPC.
//
// Every call completes exactly once, with one of these codes. The same codes
// travel on the wire (one byte in the response header), so a server can answer
// a request with, say, InvalidArgument and the client sees exactly that.
//
//   rpc.enqueue_request(s, kEcho, req, resp, [](flit::Status st) {
//     if (st == flit::Status::kOk) ...;
//     else if (flit::is_safe_to_retry(st)) ...;
//   });
#pragma once

#include <cstdint>
#include <string_view>

namespace flit {

// Values are stable: they are sent on the wire. Append only.
enum class Status : uint8_t {
  // The call ran and the response holds the handler's bytes.
  kOk = 0,
  // The call's deadline passed before a response arrived. The request may or
  // may not have run. Retry only if the method is idempotent.
  kDeadlineExceeded = 1,
  // The caller cancelled the call (or disconnected its session, or destroyed
  // its Rpc). The request may or may not have run; nothing further will be
  // delivered for it.
  kCancelled = 2,
  // The request provably did not run (no server, session never established,
  // rejected before dispatch). Safe to retry, with backoff.
  kUnavailable = 3,
  // The server became unreachable after the request was sent: it may have
  // run. Retry only if the method is idempotent.
  kUnknownOutcome = 4,
  // Out of a bounded resource (slots and backlog full, session table full,
  // request larger than the peer accepts, workers busy). The request did
  // not run. Retry later with backoff, or send less.
  kResourceExhausted = 5,
  // The request was malformed (failed validation at the server, or a bad
  // argument to a local call). Do not retry: fix the caller.
  kInvalidArgument = 6,
  // The server has no handler for the method id. Do not retry.
  kUnimplemented = 7,
  // The peer refused the caller (bad credentials). Do not retry.
  kPermissionDenied = 8,
  // A bug or broken invariant in flit or the handler. Do not retry blindly;
  // report it.
  kInternal = 9,
  // The request ran, but its response is larger than this client accepts
  // (NexusConfig::max_msg_size). Do not retry: accept more, or ask for less.
  kResponseTooLarge = 10,
};

inline constexpr uint8_t kNumStatusCodes = 11;

// The enumerator's name without the k, e.g. "DeadlineExceeded".
std::string_view to_string(Status s);

// True for codes after which repeating the call cannot run it twice.
constexpr bool is_safe_to_retry(Status s) {
  return s == Status::kUnavailable || s == Status::kResourceExhausted;
}

// Decodes a status byte from the wire; unknown values map to kInternal.
constexpr Status status_from_wire(uint8_t b) {
  return b < kNumStatusCodes ? static_cast<Status>(b) : Status::kInternal;
}

}  // namespace flit
