// flit/rpc.h: the RPC endpoint, one per thread.
//
// An Rpc owns a transport queue, a message-buffer pool, sessions, timers and
// rings. Its owner thread (the one that constructed it) drives it by polling;
// every method below is owner-thread only, and calling one from another
// thread throws flit::Error instead of corrupting state. Two exceptions, and
// they are the only ways other threads reach an Rpc, both through its
// lock-free rings:
//   - post(fn), from any thread: fn runs on the owner, in its event loop;
//   - enqueue_response(h) and h->init_response() for a request handed to a
//     worker thread (HandlerMode::kWorker), from the worker.
//
// Client:
//   flit::Rpc rpc(nexus, 0);
//   flit::SessionId s;
//   if (rpc.connect("udp://127.0.0.1:31850", &s) != flit::Status::kOk) ...;
//   flit::MsgBuffer req = rpc.alloc_msg_buffer(5), resp = rpc.alloc_msg_buffer(64);
//   std::memcpy(req.data(), "hello", 5);
//   (void)rpc.enqueue_request(s, kEcho, &req, &resp, [&](flit::Status st) { ... });
//   while (...) rpc.run_event_loop_once();
//
// Server: register handlers with the Nexus, create an Rpc, poll it.
//
// Cost: enqueue_request, enqueue_response and run_event_loop_once do no heap
// allocation and take no lock after warm-up; the only syscalls are the UDP
// transport's one sendmmsg/recvmmsg per burst (and a futex wake when a
// request is handed to a worker thread that has gone to sleep).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "flit/config.h"
#include "flit/function.h"
#include "flit/msg_buffer.h"
#include "flit/nexus.h"
#include "flit/stats.h"
#include "flit/status.h"
#include "flit/transport/transport.h"

// __builtin_thread_pointer: GCC 11 and later on x86-64 (GCC 7 on
// AArch64); clang 14 and later (earlier ones fail to select it on x86-64).
#if (defined(__clang__) && __clang_major__ >= 14 &&    \
     (defined(__x86_64__) || defined(__aarch64__))) || \
    (!defined(__clang__) && defined(__GNUC__) &&       \
     ((defined(__x86_64__) && __GNUC__ >= 11) || (defined(__aarch64__) && __GNUC__ >= 7)))
#define FLIT_HAS_THREAD_POINTER 1
#else
#define FLIT_HAS_THREAD_POINTER 0
#endif

namespace flit {

class Rpc;
class MsgBufferPool;
struct Session;
struct ServerSlot;
struct PktHdr;
namespace detail {
template <typename T>
class Ring;
class WorkerPool;
}  // namespace detail

// A session number local to one Rpc.
using SessionId = uint32_t;
inline constexpr SessionId kInvalidSession = 0xFFFFFFFF;

enum class SessionState : uint8_t {
  kFree,           // no such session
  kConnecting,     // handshake in progress
  kConnected,      // calls may be issued
  kDisconnecting,  // disconnect sent, waiting for the server's answer
  kFailed,         // the server became unreachable or reset the session: calls
                   // fail with kUnavailable; disconnect() frees it, connect anew
};

// Names one call for cancel(): the session number and a per-session
// sequence number.
using CallId = uint64_t;
inline constexpr CallId kInvalidCall = 0;

// Runs when a call completes: exactly once per accepted call, on the owner
// thread, from inside the event loop. The response buffer holds the reply
// when the status is kOk.
using Continuation = Function<void(Status), 64>;
// Runs when a handshake started by create_session finishes.
using ConnectCallback = Function<void(SessionId, Status), 48>;

// The server's view of one request. Owned by the Rpc (a per-Rpc pool, no
// allocation per request); valid from the handler call until
// enqueue_response() for it returns.
//
// If the client gives up on the request (its deadline passed and it reused
// the slot, or it disconnected) while the handler still holds the handle, the
// handle is detached: request() stays valid, and the eventual response is
// dropped (RpcStats::responses_orphaned). A slow handler never blocks a
// session's slot.
//
// Threads: an inline handler's handle is used on the owner thread only. A
// worker handler's handle (HandlerMode::kWorker) belongs to the worker from
// the handler call until enqueue_response(): request(), init_response(),
// client_waiting() and enqueue_response() may be called there (one thread
// at a time), and the owner touches nothing the worker reads meanwhile.
class ReqHandle {
 public:
  Rpc* rpc() const { return rpc_; }
  uint16_t method() const { return method_; }
  SessionId session() const { return session_; }
  // The request's bytes. For a single-packet request to an inline handler
  // they are read in place from the transport's receive buffer (no copy),
  // valid only while the handler runs; if the handler returns without
  // responding they are copied once so they stay valid until
  // enqueue_response(). A worker handler always gets a copy (made on the
  // owner before the hand-off), valid until enqueue_response().
  std::span<const uint8_t> request() const { return {req_data_, req_size_}; }
  // The buffer to write the response into, sized to `size`. Calling it again
  // replaces the earlier buffer. Throws flit::Error if size exceeds the
  // maximum message size.
  // Inline handler: a buffer from the Rpc's pool, sent without a copy; no
  // heap allocation. Worker handler: the handle's own heap buffer (at least
  // 16 KiB, kept with the handle and reused, so it allocates only on the
  // handle's first worker response or one larger than any before through
  // it; a buffer over 1 MiB is not kept, so each worker response that large
  // allocates); the owner copies it into a pool buffer when the response
  // arrives back. Do not move the buffer out.
  MsgBuffer& init_response(size_t size);
  // False once the client has given up on this request (or the Rpc is being
  // destroyed): a response would be dropped, so a long handler may stop
  // early. Any thread.
  bool client_waiting() const { return waiting_.load(std::memory_order_relaxed); }

 private:
  friend class Rpc;
  Rpc* rpc_ = nullptr;
  ServerSlot* slot_ = nullptr;  // nullptr: detached, or not in use (owner only)
  Session* sess_ = nullptr;     // owner only
  const uint8_t* req_data_ = nullptr;
  uint32_t req_size_ = 0;
  SessionId session_ = kInvalidSession;
  uint16_t method_ = 0;
  bool in_use_ = false;
  bool in_place_ = false;               // req_data_ points into a receive buffer
  bool at_worker_ = false;              // handed to a worker; back when its response is
  Status worker_status_ = Status::kOk;  // written by the worker with the response
  bool worker_threw_ = false;           // likewise: the handler threw before answering
  // A request at a worker: its answer claimed (kAnswerClaimed), its status
  // written (kAnswerReady), and its worker out of the handler
  // (kWorkerExited). The answer, from whichever thread gives it, goes to the
  // owner once, when the last of those is set: a second answer is refused,
  // a throw after an answer given elsewhere is only reported, and the handle
  // is not freed while its worker still runs.
  static constexpr uint8_t kAnswerClaimed = 1, kAnswerReady = 2, kWorkerExited = 4;
  std::atomic<uint8_t> worker_state_{0};
  std::atomic<bool> waiting_{false};  // client_waiting()
  MsgBuffer req_buf_;                 // the request, when not read in place
  MsgBuffer resp_;                    // from init_response(), inline
  // A worker handler's response: a heap block (kBufHeadroom + capacity
  // bytes) and a MsgBuffer view of it that owns nothing.
  std::unique_ptr<uint8_t[]> worker_block_;
  size_t worker_cap_ = 0;
  MsgBuffer worker_resp_;
};

// Random packet loss injected by the engine itself, on any transport: a test
// hook for loss recovery (see Rpc::set_fault_injection).
struct FaultInjection {
  double drop_rx = 0;  // probability a received packet is discarded unread
  double drop_tx = 0;  // probability a packet to send is discarded instead
  uint64_t seed = 1;   // same seed, same choices for the same packet sequence
};

// An opt-in retry policy for enqueue_request_with_retry. Only calls that
// cannot have run twice are retried: those that ended kUnavailable or
// kResourceExhausted (the request did not run), and, if the method is marked
// idempotent, also kDeadlineExceeded and kUnknownOutcome. kOk, kCancelled,
// kInvalidArgument, kUnimplemented, kPermissionDenied, kInternal and
// kResponseTooLarge (the request ran) are final.
struct RetryPolicy {
  uint32_t max_attempts = 3;  // including the first
  Duration initial_backoff = std::chrono::milliseconds(1);
  Duration max_backoff = std::chrono::milliseconds(200);
  double multiplier = 2.0;  // backoff grows by this per attempt...
  double jitter = 0.2;      // ...then is scaled by a random factor in [1 - jitter, 1 + jitter]
  bool idempotent = false;  // the method may safely run more than once
};

class Rpc {
 public:
  // Creates the endpoint and its transport (Rpc rpc_id of this process binds
  // the Nexus's listen port + rpc_id). The calling thread becomes the owner.
  // Throws flit::Error if the transport cannot be created.
  Rpc(Nexus& nexus, uint8_t rpc_id);
  // Completes what is still outstanding, on the calling thread: every
  // accepted call's continuation (slots, backlogs, retried calls waiting
  // for their next attempt) and every pending ConnectCallback runs once
  // with kCancelled, and the servers of connected sessions are told to free
  // their side. Those continuations may not start new work: sessions are no
  // longer connected (enqueue_request says kUnavailable), create_session
  // throws, and an exception from a continuation is swallowed here. So
  // whatever an outstanding call's continuation uses must outlive the Rpc,
  // or the calls be ended first (disconnect() or cancel() run them now).
  // Functions in the post ring and schedule() timers are destroyed without
  // running.
  ~Rpc();
  Rpc(const Rpc&) = delete;
  Rpc& operator=(const Rpc&) = delete;

  // --- Message buffers ---------------------------------------------------
  // A buffer of `size` bytes from this Rpc's pool. Throws flit::Error if size
  // exceeds NexusConfig::max_msg_size.
  MsgBuffer alloc_msg_buffer(size_t size);

  // --- Event loop --------------------------------------------------------
  // One iteration: receive a burst, run handlers and continuations, fire due
  // timers (retransmission, deadlines, handshakes), send the batch.
  // An exception from a continuation, a timer or a posted function leaves
  // here (a handler's is caught: see Nexus::register_handler). Calls that
  // complete together (a session's failure, a disconnect) all complete
  // first; the first exception leaves after them. call() and connect()
  // cancel what they started before passing one on.
  void run_event_loop_once();
  // Polls for the given duration.
  void run_event_loop(Duration d);
  // Polls until done() returns true or the timeout passes; returns done().
  template <typename Pred>
  bool run_event_loop_until(Pred done, Duration timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= end) return done();
      run_event_loop_once();
    }
    return true;
  }

  // --- Sessions ----------------------------------------------------------
  // Starts connecting to the Rpc at `uri` (e.g. "udp://127.0.0.1:31850").
  // cb runs once: kOk when connected, kUnavailable when the server did not
  // answer within NexusConfig::connect_timeout, kResourceExhausted when it
  // refused (session table full), kCancelled when disconnect() or ~Rpc came
  // first. Throws flit::Error for a malformed URI or a
  // full local session table.
  SessionId create_session(std::string_view uri, ConnectCallback cb);
  // Connects and waits (polling this Rpc) until done. timeout zero: the
  // Nexus's connect_timeout.
  [[nodiscard]] Status connect(std::string_view uri, SessionId* out,
                               Duration timeout = Duration::zero());
  // Ends a client session: its outstanding and backlogged calls complete with
  // kCancelled now, the server is told to free its side. Asynchronous; the
  // session number is reusable once session_state() says kFree.
  void disconnect(SessionId s);
  SessionState session_state(SessionId s) const;
  // The server's epoch as learnt in the handshake (0 before it).
  uint64_t remote_epoch(SessionId s) const;

  // --- Calls -------------------------------------------------------------
  // Sends request `req` for `method` on client session s. When the response
  // arrives it is written into *resp (reallocated from the pool if it does not
  // fit) and cont runs with kOk; on failure cont runs with the status.
  // req and resp must stay valid, and req unchanged, until cont runs. The
  // engine never writes into req, so one request buffer may be sent by many
  // calls at once; each call needs its own resp.
  // deadline zero: NexusConfig::call_deadline.
  //
  // Returns kOk when the call was accepted (cont will run exactly once, at
  // the latest from ~Rpc, with kCancelled), or,
  // with cont never run: kInvalidArgument (no such client session, req larger
  // than the server accepts), kUnavailable (session not connected),
  // kResourceExhausted (slots and backlog full).
  // If id is given, it receives the call's CallId (for cancel()).
  [[nodiscard]] Status enqueue_request(SessionId s, uint16_t method, const MsgBuffer* req,
                                       MsgBuffer* resp, Continuation cont,
                                       Duration deadline = Duration::zero(), CallId* id = nullptr);
  // Cancels an outstanding call: its continuation runs now with kCancelled
  // (the request may still run at the server; a late response is dropped).
  // Returns false if the call already completed (its continuation ran).
  // The slot it frees goes to the session's next backlogged call; any
  // backlogged call whose deadline passed meanwhile completes first, with
  // kDeadlineExceeded, its continuation run as from the event loop. If one
  // of those throws, cancel() still completes the call, then rethrows.
  bool cancel(CallId id);
  // enqueue_request with retries under `policy`, each attempt with its own
  // deadline. cont runs once, with the last attempt's status. The session
  // for each attempt comes from session_for_attempt(attempt) if given (so
  // the application can reconnect after a session failure), else s.
  // Returns as enqueue_request does for the first attempt, except that a
  // retryable refusal (kResourceExhausted, kUnavailable) is retried too.
  [[nodiscard]] Status enqueue_request_with_retry(
      SessionId s, uint16_t method, const MsgBuffer* req, MsgBuffer* resp, Continuation cont,
      const RetryPolicy& policy, Duration deadline = Duration::zero(),
      Function<SessionId(uint32_t attempt), 32> session_for_attempt = nullptr);

  // Runs fn on the owner thread, from the event loop, after `delay`.
  // No allocation after warm-up. Owner thread only.
  void schedule(Duration delay, Function<void(), 48> fn);

  // Hands fn to the owner thread: it runs once, in a later event-loop
  // iteration (at most kPostsPerLoop per iteration, in FIFO order per
  // posting thread), where it may use the Rpc like a continuation
  // (enqueue_request, enqueue_response, ...; not call() or connect()).
  // Callable from ANY thread, the owner's included: the one Rpc method that
  // is. No lock, no allocation, no syscall, never blocks.
  // Returns false, with fn not moved from, when the ring is full
  // (NexusConfig::post_ring_capacity functions wait): the caller decides
  // whether to retry, drop or do the work itself.
  // The caller must know the Rpc outlives the call; functions still in the
  // ring when the Rpc is destroyed are destroyed without running.
  using PostedFn = Function<void(), 64>;
  [[nodiscard]] bool post(PostedFn&& fn);

  // Blocking helper: enqueue_request, then poll until the call completes.
  [[nodiscard]] Status call(SessionId s, uint16_t method, const MsgBuffer& req, MsgBuffer* resp,
                            Duration deadline = Duration::zero());

  // Sends the response for h: the buffer from h->init_response() (empty if
  // it was never called), with status st (a non-Ok status sends no body).
  // Callable from the handler or any time later, including from a
  // continuation of a nested call. h is invalid afterwards.
  // For a worker handler's request it may be called off the owner thread
  // (from the worker, or any thread later): the response is then pushed
  // onto this Rpc's response ring (never full: it holds
  // max_worker_requests) and sent by the owner's next event-loop iteration,
  // exactly as an inline response. Any other request: owner thread only.
  void enqueue_response(ReqHandle* h, Status st = Status::kOk);

  // Drops packets at random (RpcStats::fault_drops counts them). For tests
  // of loss recovery; all-zero (the default) costs one branch per burst.
  void set_fault_injection(const FaultInjection& f);

  // --- Introspection -----------------------------------------------------
  const RpcStats& stats() const { return stats_; }
  transport::TransportStats transport_stats() const;
  // The transport's own counters (Transport::counters): for DPDK every
  // DpdkStats field, for RDMA the peer table's.
  std::vector<transport::Transport::Counter> transport_counters() const;
  uint8_t id() const { return id_; }
  Nexus& nexus() { return nexus_; }
  // This Rpc's own address, e.g. "udp://127.0.0.1:31851".
  std::string local_uri() const;
  // Live sessions where this Rpc is the server / the client.
  uint32_t num_server_sessions() const { return num_server_sessions_; }
  uint32_t num_client_sessions() const { return num_client_sessions_; }
  // Message buffers currently handed out (by the user and the engine).
  size_t buffers_in_use() const;
  // Server state that a departed client leaves behind until reclaimed:
  // bytes of partly received requests, and request handles held by handlers.
  uint64_t reassembly_bytes() const { return reassembly_bytes_; }
  size_t handles_in_use() const { return handles_.size() - free_handles_.size(); }
  // Requests handed to worker threads and not yet answered.
  uint32_t worker_requests() const { return worker_outstanding_; }
  bool hugepage_backed() const;
  // Largest payload per packet on this Rpc's transport.
  size_t data_per_pkt() const { return data_per_pkt_; }

 private:
  struct PendingCall;
  struct TxBatch;
  friend class detail::WorkerPool;
  friend class ReqHandle;

  void check_owner(const char* fn) const {
    if (!on_owner_thread()) [[unlikely]]
      owner_violation(fn);
  }
  // The thread pointer is one load where the compiler exposes it (the
  // thread id is a call into libc, two to three per call made or answered).
  bool on_owner_thread() const {
#if FLIT_HAS_THREAD_POINTER
    return __builtin_thread_pointer() == owner_tp_;
#else
    return std::this_thread::get_id() == owner_;
#endif
  }
  [[noreturn]] FLIT_COLD void owner_violation(const char* fn) const;
  uint64_t now_ns() const;
  // The loop iteration's clock read: the timers and the calls it starts
  // (enqueue_request) take their time from it.
  void read_clock() {
    idle_polls_ = 0;
    now_cache_ns_ = now_ns();
    now_fresh_ = true;
  }
  // Called outside the loop (cancel(), disconnect()), before continuations
  // run as from it: the cached time may be old, so read the clock.
  void catch_up_clock() {
    if (!in_event_loop_) now_cache_ns_ = std::max(now_cache_ns_, now_ns());
  }

  // session_handshake.cc
  SessionId alloc_session_num();
  void free_session(Session* s);
  void handle_connect(const PktHdr& h, const uint8_t* payload, uint32_t len,
                      const transport::Route& from);
  void handle_connect_ack(const PktHdr& h, const uint8_t* payload, uint32_t len, Session* s,
                          const transport::Route& from);
  void handle_disconnect(const PktHdr& h, Session* s);
  void handle_disconnect_ack(Session* s);
  void send_connect(Session* s);
  void send_disconnect(Session* s);
  void send_ctrl(const transport::Route& route, const PktHdr& h, const void* payload, uint32_t len);
  void finish_connect(Session* s, Status st);

  // request_path.cc (client side: issue, packetize, send)
  Status start_call(Session* s, uint32_t seq, uint16_t method, const MsgBuffer* req,
                    MsgBuffer* resp, Continuation&& cont, uint64_t deadline_ns);
  void client_send_more(Session* s);
  bool client_send_slot(Session* s, uint32_t slot_idx);
  void client_send_one(Session* s, uint32_t slot_idx, uint32_t tx_idx);
  void complete_call(Session* s, uint32_t slot_idx, Status st);
  void drain_backlog(Session* s, std::exception_ptr* first);
  void fail_all_calls(Session* s, Status st);
  void fail_session(Session* s);

  // server_request.cc (server side: receive, reassemble, dispatch)
  void handle_request_pkt(const PktHdr& h, const uint8_t* payload, uint32_t len, Session* s);
  void handle_rfr(const PktHdr& h, Session* s);
  void handle_ping(const PktHdr& h, Session* s);
  void send_ping(Session* s, uint64_t req_num, Status st = Status::kOk);
  void send_reset(const PktHdr& offending, const transport::Route& to);
  void handle_reset(const PktHdr& h);
  void expire_request(Session* s, ServerSlot* slot);
  void release_reassembly(Session* s, ServerSlot* slot);
  void dispatch(Session* s, ServerSlot* slot);
  void handler_threw(ReqHandle* hd, std::exception_ptr e);
  static void report_handler_exception(const char* kind, uint16_t method, std::exception_ptr e);
  void send_credit_return(Session* s, const PktHdr& req_hdr);
  void send_response_pkt(Session* s, ServerSlot* slot, uint32_t pkt);
  void send_response_start(Session* s, ServerSlot* slot);
  void send_last_request_pkt(Session* s, uint32_t slot_idx);
  void reclaim_probe_credits(Session* s);
  ReqHandle* alloc_handle();
  void free_handle(ReqHandle* h);
  void detach_handle(ServerSlot* slot);

  // A data packet's payload must be exactly the bytes its header implies:
  // counts a shorter one as truncated, a longer one as malformed.
  bool payload_len_ok(uint32_t len, size_t expect);

  // response_path.cc (client side: credit returns, responses)
  void handle_credit_return(const PktHdr& h, Session* s);
  void handle_response_pkt(const PktHdr& h, const uint8_t* payload, uint32_t len, Session* s);
  bool client_rx_ok(Session* s, uint32_t slot_idx, uint32_t rx_idx);

  // loss_recovery.cc (timers: retransmission, deadlines, handshakes)
  void scan_timers(uint64_t now);
  void scan_client_session(Session* s, uint64_t now);
  void scan_server_session(Session* s, uint64_t now);
  void retransmit(Session* s, uint32_t slot_idx);

  // worker_handoff.cc: posted functions and worker-thread handlers
  void run_posted();
  void to_worker(ReqHandle* h);
  void drain_worker_responses();
  void finish_worker(ReqHandle* h);
  void worker_response(ReqHandle* h, Status st);
  static bool answer_at_worker(ReqHandle* h, Status st, bool* worker_gone);
  static bool give_worker_answer(ReqHandle* h, Status st);
  void push_worker_response(ReqHandle* h);
  void wait_for_workers();
  static void run_on_worker(ReqHandle* h);  // on a worker thread
  static MsgBuffer& worker_init_response(ReqHandle* h, size_t size);
  void respond(ReqHandle* h, Session* s, ServerSlot* slot, Status st);

  // rpc.cc: receive dispatch and transmit batching
  void process_packet(const transport::RxPacket& p);
  void tx_enqueue(const transport::Route* route, const uint8_t* hdr, const uint8_t* payload,
                  uint32_t len);
  uint8_t* tx_hdr_scratch();
  void tx_flush();

  Nexus& nexus_;
  const NexusConfig& cfg_;
  uint8_t id_;
  std::thread::id owner_;
  const void* owner_tp_;  // the owner's thread pointer (on_owner_thread)
  std::unique_ptr<transport::Transport> transport_;
  std::unique_ptr<MsgBufferPool> pool_;
  std::unique_ptr<TxBatch> tx_;
  // Counts the send batches that went out: a slot that queued a packet
  // reading its buffer in batch tx_gen_ flushes before that buffer can be
  // released or reused (TxPacket's contract).
  uint64_t tx_gen_ = 1;
  size_t data_per_pkt_;
  uint64_t rto_ns_, deadline_ns_, connect_timeout_ns_, connect_retry_ns_;
  uint64_t idle_timeout_ns_, keepalive_ns_;
  uint64_t reassembly_bytes_ = 0;
  uint64_t timer_interval_ns_;
  uint64_t last_scan_ns_ = 0;
  uint64_t now_cache_ns_ = 0;  // refreshed once per event-loop iteration
  bool in_event_loop_ = false;
  bool closing_ = false;     // in ~Rpc: no new sessions or retried calls
  uint32_t idle_polls_ = 0;  // empty polls since the clock was last read
  // This event-loop iteration read the clock into now_cache_ns_ (false
  // outside the loop, InLoopScope included): enqueue_request uses it.
  bool now_fresh_ = false;
  FaultInjection fault_;
  bool fault_on_ = false;
  uint64_t fault_rng_ = 1;
  bool fault_hit(double p);

  std::vector<std::unique_ptr<Session>> sessions_;  // indexed by session number
  std::vector<SessionId> free_session_nums_;
  // Per session number, where the next client session with that number
  // starts counting its calls: a CallId names one call even after its
  // session is freed and the number reused (cancel() of an old id must
  // not cancel the new session's call).
  std::vector<uint32_t> next_call_seq_;
  // Server sessions by the connecting client's token, so a retransmitted
  // connect gets the same session (control path).
  std::unordered_map<uint64_t, SessionId> connect_index_;
  uint32_t num_server_sessions_ = 0;
  uint32_t num_client_sessions_ = 0;
  uint32_t max_session_num_ = 0;  // one past the highest ever used

  // retry.cc
  struct RetryState;
  void retry_attempt(RetryState* st);
  void retry_done(RetryState* st, Status r);
  RetryState* alloc_retry();
  void free_retry(RetryState* st);
  std::vector<std::unique_ptr<RetryState>> retries_;
  std::vector<RetryState*> free_retries_;
  uint64_t retry_rng_ = 0x853c49e6748fea9bULL;

  // Timers from schedule(): a binary min-heap on due time.
  struct Timer {
    uint64_t due_ns;
    uint64_t seq;
    Function<void(), 48> fn;
  };
  std::vector<Timer> timers_;
  uint64_t timer_seq_ = 0;
  void run_due_timers();

  // Request handles: every one ever made, and the free ones.
  std::vector<std::unique_ptr<ReqHandle>> handles_;
  std::vector<ReqHandle*> free_handles_;

  // Functions from post(), any thread to the owner.
  std::unique_ptr<detail::Ring<PostedFn>> posted_;
  // Worker handlers' responses, worker threads to the owner; null when the
  // Nexus has no worker handlers. Capacity >= max_worker_requests, and at
  // most that many handles are ever at workers, so a push never fails.
  std::unique_ptr<detail::Ring<ReqHandle*>> worker_done_;
  uint32_t worker_outstanding_ = 0;  // handed to workers, response not yet back
  uint32_t max_worker_requests_ = 0;
  // Handlers handed to a worker and not yet returned (queued or running);
  // ~Rpc waits for zero, so no worker touches a destroyed Rpc.
  std::atomic<uint32_t> workers_running_{0};

  RpcStats stats_;
};

}  // namespace flit
