// src/retry.cc: the opt-in retry helper and the Rpc's timers.
//
// Retry state lives in a per-Rpc pool (no allocation per call after
// warm-up); backoff waits are schedule() timers, run from the event loop.
#include <algorithm>
#include <cmath>

#include "flit/rpc.h"
#include "retry_state.h"

namespace flit {

namespace {
bool retryable(Status st, bool idempotent) {
  switch (st) {
    case Status::kUnavailable:
    case Status::kResourceExhausted:
      return true;
    case Status::kDeadlineExceeded:
    case Status::kUnknownOutcome:
      return idempotent;
    default:
      return false;
  }
}
}  // namespace

Rpc::RetryState* Rpc::alloc_retry() {
  if (free_retries_.empty()) {
    retries_.push_back(std::make_unique<RetryState>());  // warm-up only
    free_retries_.reserve(retries_.size());
    return retries_.back().get();
  }
  RetryState* st = free_retries_.back();
  free_retries_.pop_back();
  return st;
}

void Rpc::free_retry(RetryState* st) {
  st->cont.reset();
  st->session_for_attempt.reset();
  free_retries_.push_back(st);
}

Status Rpc::enqueue_request_with_retry(SessionId s, uint16_t method, const MsgBuffer* req,
                                       MsgBuffer* resp, Continuation cont,
                                       const RetryPolicy& policy, Duration deadline,
                                       Function<SessionId(uint32_t), 32> session_for_attempt) {
  check_owner("enqueue_request_with_retry");
  if (policy.max_attempts == 0 || policy.multiplier < 1.0 || policy.jitter < 0 ||
      policy.jitter >= 1 || policy.initial_backoff < Duration::zero()) {
    return Status::kInvalidArgument;
  }
  if (closing_) [[unlikely]]
    return Status::kUnavailable;  // from a continuation ~Rpc ran: no attempt would ever run
  RetryState* st = alloc_retry();
  st->session = s;
  st->method = method;
  st->req = req;
  st->resp = resp;
  st->cont = std::move(cont);
  st->policy = policy;
  st->deadline = deadline;
  st->session_for_attempt = std::move(session_for_attempt);
  st->attempt = 1;
  SessionId sn = st->session_for_attempt ? st->session_for_attempt(1) : s;
  Status first = enqueue_request(
      sn, method, req, resp, [this, st](Status r) { retry_done(st, r); }, deadline);
  if (first == Status::kOk) return Status::kOk;
  if (!retryable(first, false) || policy.max_attempts == 1) {
    free_retry(st);  // refused outright: the continuation never runs
    return first;
  }
  retry_done(st, first);  // schedules the next attempt
  return Status::kOk;
}

void Rpc::retry_attempt(RetryState* st) {
  st->attempt++;
  SessionId sn = st->session_for_attempt ? st->session_for_attempt(st->attempt) : st->session;
  Status r = enqueue_request(
      sn, st->method, st->req, st->resp, [this, st](Status x) { retry_done(st, x); }, st->deadline);
  if (r != Status::kOk) retry_done(st, r);
}

void Rpc::retry_done(RetryState* st, Status r) {
  if (r == Status::kOk || !retryable(r, st->policy.idempotent) ||
      st->attempt >= st->policy.max_attempts) {
    Continuation cont = std::move(st->cont);
    free_retry(st);
    cont(r);
    return;
  }
  // Exponential backoff with jitter.
  double base = static_cast<double>(st->policy.initial_backoff.count()) *
                std::pow(st->policy.multiplier, static_cast<double>(st->attempt - 1));
  base = std::min(base, static_cast<double>(st->policy.max_backoff.count()));
  retry_rng_ ^= retry_rng_ << 13;
  retry_rng_ ^= retry_rng_ >> 7;
  retry_rng_ ^= retry_rng_ << 17;
  double u = static_cast<double>(retry_rng_ >> 11) * 0x1.0p-53;  // [0, 1)
  double factor = 1.0 + st->policy.jitter * (2 * u - 1);
  stats_.call_retries++;
  schedule(Duration(static_cast<Duration::rep>(base * factor)), [this, st] { retry_attempt(st); });
}

namespace {
struct TimerLater {
  template <typename T>
  bool operator()(const T& a, const T& b) const {
    return a.due_ns != b.due_ns ? a.due_ns > b.due_ns : a.seq > b.seq;
  }
};
}  // namespace

void Rpc::schedule(Duration delay, Function<void(), 48> fn) {
  check_owner("schedule");
  uint64_t d = delay.count() > 0 ? static_cast<uint64_t>(delay.count()) : 0;
  if (timers_.size() == timers_.capacity()) timers_.reserve(timers_.size() * 2 + 16);
  timers_.push_back(Timer{now_ns() + d, timer_seq_++, std::move(fn)});
  std::push_heap(timers_.begin(), timers_.end(), TimerLater{});
}

void Rpc::run_due_timers() {
  while (!timers_.empty() && timers_.front().due_ns <= now_cache_ns_) {
    std::pop_heap(timers_.begin(), timers_.end(), TimerLater{});
    Function<void(), 48> fn = std::move(timers_.back().fn);
    timers_.pop_back();
    fn();
  }
}

}  // namespace flit
