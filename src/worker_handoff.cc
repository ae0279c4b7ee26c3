// src/worker_handoff.cc: work that crosses threads, through the Rpc's rings.
//
//   - post(fn): any thread -> the owner's event loop (posted_ ring).
//   - Worker handlers: the owner hands a request to the Nexus's worker pool
//     (to_worker); the worker runs the handler (run_on_worker), whose
//     enqueue_response() pushes the handle onto this Rpc's response ring
//     (worker_response); the owner takes it off in its event loop and sends
//     the response exactly as the inline path does (finish_worker, respond).
//
// Ownership of a worker request's handle: the owner until the hand-off, the
// worker (or whatever thread the handler passes it to) until its response
// is pushed, the owner again after. The rings' release/acquire pairs order
// every field written on one side before it is read on the other; while a
// handle is away, the owner only writes its atomic waiting_ flag (detach).
//
// Why a worker's response is written into the handle's own heap buffer and
// copied on the owner, not into a pool buffer: the MsgBuffer pool is
// single-threaded by design (free lists without atomics, the inline data
// path's cost). A worker cannot allocate from it, and the owner cannot know
// a response's size in advance to pre-allocate one. The buffer lives with
// the handle and is reused, so steady state allocates nothing; the copy is
// one memcpy of the response, small next to a handler worth a thread.
#include <cstring>
#include <exception>

#include "flit/rpc.h"
#include "msg_buffer_pool.h"
#include "ring.h"
#include "session.h"

namespace flit {

namespace {
// Smallest heap block for a worker handler's response (see init_response).
constexpr size_t kMinWorkerBlock = size_t{16} << 10;
}  // namespace

bool Rpc::post(PostedFn&& fn) { return posted_->try_push(std::move(fn)); }

FLIT_HOT void Rpc::run_posted() {
  PostedFn fn;
  for (uint32_t i = 0; i < kPostsPerLoop && posted_->try_pop(fn); ++i) {
    // The clock is read lazily on idle polls; posted work may start calls.
    if (!now_fresh_) read_clock();
    stats_.posts_run++;
    fn();
  }
}

// Owner: hands a dispatched request (slot kInHandler) to a worker thread.
void Rpc::to_worker(ReqHandle* hd) {
  if (worker_outstanding_ >= max_worker_requests_) [[unlikely]] {
    stats_.requests_handled--;
    stats_.worker_rejected++;
    enqueue_response(hd, Status::kResourceExhausted);  // it did not run: safe to retry
    return;
  }
  if (hd->in_place_) {
    // The receive buffer goes back to the transport when this burst is
    // done; the worker reads the request after that.
    hd->req_buf_ = pool_->alloc(hd->req_size_);
    if (hd->req_size_ != 0) std::memcpy(hd->req_buf_.data(), hd->req_data_, hd->req_size_);
    hd->req_data_ = hd->req_buf_.data();
    hd->in_place_ = false;
  }
  hd->at_worker_ = true;
  hd->worker_state_.store(0, std::memory_order_relaxed);  // published by the submit
  worker_outstanding_++;
  stats_.requests_to_workers++;
  workers_running_.fetch_add(1, std::memory_order_relaxed);
  if (!nexus_.submit_to_worker(hd)) [[unlikely]] {
    workers_running_.fetch_sub(1, std::memory_order_relaxed);
    hd->at_worker_ = false;
    worker_outstanding_--;
    stats_.requests_to_workers--;
    stats_.requests_handled--;
    stats_.worker_rejected++;
    enqueue_response(hd, Status::kResourceExhausted);
  }
  // hd belongs to the worker now: not touched again here.
}

// On a worker thread.
void Rpc::run_on_worker(ReqHandle* h) {
  Rpc* rpc = h->rpc_;
  if (!h->waiting_.load(std::memory_order_relaxed)) {
    // The client gave up (or the Rpc is shutting down) before a worker got
    // to it: do not start work whose answer would be dropped.
    h->worker_status_ = Status::kCancelled;
    h->worker_state_.store(
        ReqHandle::kAnswerClaimed | ReqHandle::kAnswerReady | ReqHandle::kWorkerExited,
        std::memory_order_relaxed);
    rpc->push_worker_response(h);
  } else {
    const uint16_t method = h->method_;
    bool threw = false;
    try {
      (*rpc->nexus_.handler(method))(h);
    } catch (...) {
      report_handler_exception("worker handler", method, std::current_exception());
      threw = true;
    }
    // A handler that threw before its request was answered (here, or on a
    // thread it passed the handle to) has it answered kInternal; one
    // answered already only reports the throw. Counted either way.
    if (threw) {
      h->worker_threw_ = true;  // published with the response, for the owner to count
      bool worker_gone;         // false: this worker is still here
      (void)answer_at_worker(h, Status::kInternal, &worker_gone);
    }
    // The answer goes now if it is ready; else its giver sends it.
    if (h->worker_state_.fetch_or(ReqHandle::kWorkerExited, std::memory_order_acq_rel) &
        ReqHandle::kAnswerReady)
      rpc->push_worker_response(h);  // the last touch of h: the owner may free it
  }
  // Last touch of the Rpc: ~Rpc may proceed once this reaches zero.
  rpc->workers_running_.fetch_sub(1, std::memory_order_release);
}

// Gives the one answer of a request at a worker, from any thread: false if
// it was given already. *worker_gone says whether its worker has left the
// handler, so the answer goes now; else the worker sends it when it does.
// The handle is never freed while its worker runs.
bool Rpc::answer_at_worker(ReqHandle* h, Status st, bool* worker_gone) {
  if (h->worker_state_.fetch_or(ReqHandle::kAnswerClaimed, std::memory_order_acq_rel) &
      ReqHandle::kAnswerClaimed)
    return false;
  h->worker_status_ = st;
  *worker_gone = (h->worker_state_.fetch_or(ReqHandle::kAnswerReady, std::memory_order_acq_rel) &
                  ReqHandle::kWorkerExited) != 0;
  return true;
}

// The answer of a request at a worker given by the application (from the
// worker, any thread the handler passed it to, or the owner): true if it
// goes now.
bool Rpc::give_worker_answer(ReqHandle* h, Status st) {
  bool worker_gone = false;
  FLIT_CHECK(answer_at_worker(h, st, &worker_gone),
             "enqueue_response on a worker request that was already answered (a ReqHandle is "
             "spent after its response; a worker handler that throws before its handle is "
             "answered elsewhere has it answered kInternal)");
  return worker_gone;
}

// Off the owner thread (a worker, or any thread the handler passed h to):
// the response goes to the owner through the ring. No lock, no allocation.
void Rpc::worker_response(ReqHandle* h, Status st) {
  if (give_worker_answer(h, st)) push_worker_response(h);
}

// A worker request's answer, given and ready, to the owner through the ring.
void Rpc::push_worker_response(ReqHandle* h) {
  // Never full: at most max_worker_requests_ handles are away at once, and
  // the ring holds at least that many.
  const bool pushed = worker_done_->try_push(std::move(h));
  FLIT_CHECK(pushed, "worker response ring full: more handles at workers than it holds");
}

MsgBuffer& Rpc::worker_init_response(ReqHandle* h, size_t size) {
  if (size > h->rpc_->cfg_.max_msg_size) {
    throw Error("flit::ReqHandle::init_response: " + std::to_string(size) +
                " bytes exceeds the maximum message size (NexusConfig::max_msg_size = " +
                std::to_string(h->rpc_->cfg_.max_msg_size) + ")");
  }
  if (size > h->worker_cap_ || !h->worker_block_) {
    // At least kMinWorkerBlock, so that after a handle's first worker
    // response only a response larger than any before (and than this)
    // allocates: steady state allocates nothing.
    size_t cap = kMinWorkerBlock;
    while (cap < size) cap <<= 1;
    h->worker_block_.reset(new uint8_t[kBufHeadroom + cap]);
    h->worker_cap_ = cap;
  }
  // A view that owns nothing (no pool): releasing it frees nothing.
  h->worker_resp_ = MsgBuffer(nullptr, h->worker_block_.get() + kBufHeadroom,
                              static_cast<uint32_t>(h->worker_cap_), 0);
  h->worker_resp_.resize(size);
  return h->worker_resp_;
}

FLIT_HOT void Rpc::drain_worker_responses() {
  ReqHandle* h;
  for (uint32_t i = 0; i < kWorkerResponsesPerLoop && worker_done_->try_pop(h); ++i) {
    finish_worker(h);
  }
}

// Owner: a worker handler's response is back; send it as the inline path
// would (or drop it if the client gave up meanwhile).
void Rpc::finish_worker(ReqHandle* h) {
  worker_outstanding_--;
  h->at_worker_ = false;
  if (h->worker_threw_) [[unlikely]] {
    stats_.handler_exceptions++;
    h->worker_threw_ = false;
  }
  Status st = h->worker_status_;
  ServerSlot* slot = h->slot_;
  Session* s = h->sess_;
  if (slot == nullptr) {
    stats_.responses_orphaned++;  // detached: the client gave up, or disconnected
    free_handle(h);
    return;
  }
  if (st == Status::kOk && h->worker_resp_.valid()) {
    const size_t n = h->worker_resp_.size();
    if (n > s->remote_max_msg) {
      st = Status::kResponseTooLarge;  // it ran (see respond())
    } else {
      pool_->alloc_into(h->resp_, n);
      if (n != 0) std::memcpy(h->resp_.data(), h->worker_resp_.data(), n);
    }
  }
  respond(h, s, slot, st);
}

// ~Rpc: no worker may touch this Rpc after it is gone. Handles at workers
// are detached (their handlers see client_waiting() == false; queued ones
// are skipped), then this waits until every handler handed out has
// returned, and frees the responses already in the ring. Handles a worker
// handler kept past its return (to respond later) are the application's to
// answer before destroying the Rpc, exactly as inline ones.
void Rpc::wait_for_workers() {
  if (!worker_done_) return;
  for (auto& hp : handles_) {
    if (hp->in_use_ && hp->at_worker_) hp->waiting_.store(false, std::memory_order_relaxed);
  }
  while (workers_running_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  ReqHandle* h;
  while (worker_done_->try_pop(h)) {
    worker_outstanding_--;
    h->at_worker_ = false;
    free_handle(h);
  }
}

}  // namespace flit
