// flit/wire/stub.h: what generated service code (X.flit.rpc.h) needs from
// the RPC engine: the client call object and the server responder.
//
// Unlike the rest of flit/wire/, this header uses the engine (flit/rpc.h):
// the stubs exist to call it. Message code (X.flit.h) does not include it.
//
// Client, asynchronous (kv::KvClient generated from a `service Kv`):
//
//   flit::wire::ClientCall<kv::GetResponseView> call;   // stays put until done
//   kv::KvClient kv(rpc, session);
//   flit::Status st = kv.get(req, &call, [&call](flit::Status s) {
//     if (s == flit::Status::kOk) use(call.reply().value());
//   });
//   // st != kOk: not accepted, the continuation will not run.
//
// Server: subclass kv::KvService, override get(const GetRequestView&,
// flit::wire::Responder<GetResponse>), call register_with(nexus).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "flit/error.h"
#include "flit/function.h"
#include "flit/msg_buffer.h"
#include "flit/nexus.h"
#include "flit/rpc.h"
#include "flit/status.h"
#include "flit/wire/wire.h"

namespace flit::wire {

// A client call's completion: runs once with the call's status.
using CallDone = Function<void(Status), 64>;

// One outstanding call of a method whose response is RespView's struct: its
// request and response buffers (from the Rpc's pool; reused by later calls
// through the same object) and its continuation.
//
// Lifetime: must not move or be destroyed while a call is outstanding
// (between an accepted send() and its continuation). Owner thread of the Rpc
// only. Destroy it before the Rpc (its buffers return to the Rpc's pool).
template <typename RespView>
class ClientCall {
 public:
  ClientCall() = default;
  ClientCall(const ClientCall&) = delete;
  ClientCall& operator=(const ClientCall&) = delete;

  // The request to send. To build it in place: assign a buffer from
  // rpc.alloc_msg_buffer(capacity), fill it through a flit::wire::Writer,
  // and Writer::finish(request()) to set its size.
  MsgBuffer& request() { return request_; }
  // The raw response bytes (after a kOk completion).
  const MsgBuffer& response() const { return response_; }
  // The validated response. Valid in and after a kOk continuation until the
  // next call through this object or its destruction.
  const RespView& reply() const { return reply_; }

  // Encodes req into request() (a pool buffer of exactly the encoded size).
  // kResourceExhausted if it exceeds the Nexus's max_msg_size.
  template <typename Req>
  [[nodiscard]] Status encode_request(Rpc& rpc, const Req& req) {
    size_t n = req.encoded_size();
    if (n > rpc.nexus().config().max_msg_size) return Status::kResourceExhausted;
    if (!request_.valid() || request_.capacity() < n) request_ = rpc.alloc_msg_buffer(n);
    return req.encode(request_);
  }

  // Sends request() as method `method` on session s. On acceptance returns
  // kOk and done runs exactly once later: kOk if a response arrived and
  // validated (reply() reads it), kInternal if the server's response was
  // malformed, else the engine's status. Otherwise returns the engine's
  // refusal (Rpc::enqueue_request), or kInvalidArgument if request() holds
  // no buffer, and done never runs.
  [[nodiscard]] Status send(Rpc& rpc, SessionId s, uint16_t method, CallDone done,
                            Duration deadline) {
    if (!request_.valid()) return Status::kInvalidArgument;
    if (!response_.valid()) response_ = rpc.alloc_msg_buffer(kMinBufferClass);
    reply_ = RespView();
    done_ = std::move(done);
    Status st = rpc.enqueue_request(
        s, method, &request_, &response_, [this](Status result) { complete(result); }, deadline);
    if (st != Status::kOk) done_.reset();
    return st;
  }

  // Blocking: encodes req, sends it and polls rpc until the call completes;
  // on kOk decodes the reply into *resp. The server must be driven by some
  // other thread or process (this one is busy polling the client Rpc).
  template <typename Req, typename Resp>
  [[nodiscard]] Status call(Rpc& rpc, SessionId s, uint16_t method, const Req& req, Resp* resp,
                            Duration deadline) {
    Status st = encode_request(rpc, req);
    if (st != Status::kOk) return st;
    bool done = false;
    Status result = Status::kInternal;
    st = send(
        rpc, s, method,
        [&done, &result](Status r) {
          done = true;
          result = r;
        },
        deadline);
    if (st != Status::kOk) return st;
    while (!done) rpc.run_event_loop_once();
    if (result == Status::kOk) Resp::from_view(reply_, resp);
    return result;
  }

 private:
  void complete(Status st) {
    if (st == Status::kOk && RespView::parse(response_.span(), &reply_) != Status::kOk) {
      st = Status::kInternal;
    }
    // Moved out first so the continuation may start the next call on *this.
    CallDone d = std::move(done_);
    d(st);
  }

  MsgBuffer request_;
  MsgBuffer response_;
  RespView reply_;
  CallDone done_;
};

// The server side of one request of a method whose response type is Resp
// (the generated owning struct). Handed to the service method; respond
// exactly once, now or later (move the Responder somewhere), from the Rpc's
// owner thread. Move-only, so a request has one responder; responding twice
// through it is a bug and aborts (FLIT_CHECK). A Responder destroyed (or
// assigned over) without having responded answers kInternal, so the
// request's engine state is freed and the client hears at once. Like the
// ReqHandle it wraps, it must not outlive its Rpc: one still held by a
// posted function or a timer when the Rpc is destroyed is dropped there,
// answering nothing; one kept elsewhere must be answered or destroyed
// first.
template <typename Resp>
class Responder {
 public:
  explicit Responder(ReqHandle* h) : h_(h) {}
  Responder(Responder&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Responder& operator=(Responder&& o) noexcept {
    if (this != &o) {
      abandon();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  ~Responder() { abandon(); }

  // The request again, as V (the method's request view type), read from
  // the engine's copy: valid until this Responder responds. The view the
  // method was called with may read the receive buffer, which goes back to
  // the transport when the method returns; a method that responds later
  // reads its request through this.
  template <typename V>
  V request() const {
    FLIT_CHECK(h_ != nullptr, "Responder used after responding");
    V v;
    FLIT_CHECK(V::parse(h_->request(), &v) == Status::kOk,
               "a request validated once no longer parses");
    return v;
  }

  // Encodes r into the response buffer and sends it with kOk (or
  // kResourceExhausted, without a body, if r exceeds max_msg_size).
  void respond(const Resp& r) {
    ReqHandle* h = take();
    size_t n = r.encoded_size();
    if (n > h->rpc()->nexus().config().max_msg_size) {
      h->rpc()->enqueue_response(h, Status::kResourceExhausted);
      return;
    }
    MsgBuffer& out = h->init_response(n);
    Status st = r.encode(out);
    h->rpc()->enqueue_response(h, st);
  }

  // Zero-copy path: a response buffer of `capacity` bytes to build into with
  // a flit::wire::Writer and Resp's builder; then send(writer.finish(buf)).
  MsgBuffer& buffer(size_t capacity) {
    FLIT_CHECK(h_ != nullptr, "Responder used after responding");
    return h_->init_response(capacity);
  }
  // Sends the buffer from buffer() with st (kOk), or st without a body.
  void send(Status st) {
    ReqHandle* h = take();
    h->rpc()->enqueue_response(h, st);
  }

  // Answers with an error status and no body (do not use kOk here).
  void fail(Status st) {
    ReqHandle* h = take();
    h->rpc()->enqueue_response(h, st);
  }

  // The engine's handle (session, Rpc for nested calls). Null once responded.
  ReqHandle* handle() const { return h_; }

 private:
  ReqHandle* take() {
    FLIT_CHECK(h_ != nullptr, "Responder: responded twice");
    return std::exchange(h_, nullptr);
  }
  // Never responded: answer kInternal. (From a thread that may not respond
  // the engine refuses with an exception, which must not leave a
  // destructor: the request is then left to the client's deadline.)
  void abandon() noexcept {
    if (h_ == nullptr) return;
    ReqHandle* h = std::exchange(h_, nullptr);
    try {
      h->rpc()->enqueue_response(h, Status::kInternal);
    } catch (...) {
    }
  }

  ReqHandle* h_;
};

}  // namespace flit::wire
