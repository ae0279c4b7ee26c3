// flit/nexus.h: one per process: configuration, the method table, the
// transport factory, and the worker-thread pool.
//
//   flit::NexusConfig cfg;
//   cfg.listen_uri = "udp://127.0.0.1:31850";   // Rpc k listens on port 31850 + k
//   flit::Nexus nexus(cfg);
//   nexus.register_handler(kEcho, [](flit::ReqHandle* h) { ... });
//   flit::Rpc rpc(nexus, 0);                    // on the thread that will poll it
//
// Register every handler before creating the first Rpc: the table is frozen
// then (registering later throws), so the data path reads it without a lock.
//
// A handler that takes long (blocks on a disk, a lock, another service) is
// registered with HandlerMode::kWorker: it then runs on one of the Nexus's
// worker threads and the Rpc's event loop keeps serving other requests.
//   nexus.register_handler(kScan, scan_handler, flit::HandlerMode::kWorker);
// The Nexus must outlive every Rpc made from it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "flit/config.h"
#include "flit/function.h"
#include "flit/transport/transport.h"

namespace flit {

class ReqHandle;

using Duration = std::chrono::nanoseconds;

struct NexusConfig {
  // Transport: "udp" (always built), "dpdk", "rdma". Empty: taken from the
  // scheme of listen_uri, else "udp".
  std::string transport;
  // Where this process's Rpcs listen: Rpc k binds the URI's port + k. Empty
  // for a client-only process: each Rpc binds an ephemeral port.
  std::string listen_uri;
  // Address client-only Rpcs bind to when listen_uri is empty; "" binds the
  // dual-stack any address (reaches IPv4 and IPv6 peers).
  std::string client_bind_host;
  // Transport-specific settings, "key=value" each; docs/transports.md lists
  // every transport's keys. A key the transport does not know is an error.
  std::vector<std::string> transport_options;
  // Largest flit packet (header included) to send; 0 means the transport's
  // default (1472 for UDP: an Ethernet frame's IPv4/UDP payload).
  size_t mtu = 0;
  // Largest request or response accepted and sent, in bytes.
  size_t max_msg_size = kDefaultMaxMsgSize;
  // Client sessions plus server sessions per Rpc.
  uint32_t max_sessions = kDefaultMaxSessions;
  // Calls per session waiting for a free slot (a ring allocated on the first
  // overflow); enqueue_request returns ResourceExhausted beyond it.
  uint32_t backlog = kDefaultBacklog;
  // Response packets a server sends at once, without waiting for the
  // client's requests-for-response (docs/wire-format.md, "A call"): a
  // response of up to this many packets costs one round trip, not two. Each
  // call holds this many of its session's kSessionCredits credits from its
  // last request packet until its response starts, so above
  // kSessionCredits / kSessionSlots (4) fewer than kSessionSlots
  // single-packet calls fit in flight per session. 1: ask for every
  // response packet after the first (eRPC's scheme). In [1, kSessionCredits].
  // The client's setting is what its sessions use.
  uint32_t eager_response_pkts = kDefaultEagerResponsePkts;
  // Packets each event-loop iteration takes from the transport at most, in
  // [1, kMaxRxBurst]; their answers go out together at the iteration's end.
  // Below the number of packets in flight between two Rpcs, the calls in
  // flight split into several batches that both sides work on at once; at
  // or above it they travel as one batch, and each side waits while the
  // other works through it (docs/ARCHITECTURE.md, "Receive bursts and
  // convoys"). A larger burst spreads each iteration's fixed cost over more
  // packets.
  uint32_t rx_burst = kDefaultRxBurst;
  // Retransmission timeout: a request or request-for-response packet not
  // answered within it is sent again (selective: only the packets whose
  // answers are missing).
  Duration rto = std::chrono::milliseconds(5);
  // Default deadline of a call (enqueue_request can override per call).
  Duration call_deadline = std::chrono::seconds(5);
  // How long connect() waits for the server's answer.
  Duration connect_timeout = std::chrono::seconds(1);
  // Interval between connect (and disconnect) retransmissions.
  Duration connect_retry = std::chrono::milliseconds(50);
  // Retransmission rounds without any answer after which a server is
  // declared unreachable: outstanding calls then complete with kUnavailable
  // (request not fully sent) or kUnknownOutcome (it may have run), within
  // rto * (max_retries + 1) of the last answer. A server whose handler is
  // merely slow answers retransmissions with "still running" and is not
  // declared dead.
  uint32_t max_retries = 100;
  // A server frees a session that sent nothing for this long (a crashed
  // client); clients send keepalives on idle sessions every idle_timeout / 4,
  // and declare an idle session's server unreachable after idle_timeout of
  // silence.
  Duration idle_timeout = std::chrono::seconds(10);
  // Bytes of partly received multi-packet requests one session, and the
  // whole Rpc, may hold. A request beyond what either has left waits (its
  // packets are dropped, the client is told the server is alive and
  // resends until the call's deadline); one larger than either budget is
  // refused by the caller's enqueue_request (kInvalidArgument), as one
  // beyond max_msg_size is.
  size_t session_reassembly_budget = size_t{64} << 20;
  size_t reassembly_budget = size_t{512} << 20;
  // Time source, nanoseconds (tests and simulators): nullptr means
  // std::chrono::steady_clock.
  uint64_t (*clock)(void* ctx) = nullptr;
  void* clock_ctx = nullptr;
  // A custom transport factory (simulators, user transports); when set it
  // replaces the built-in transports.
  std::function<std::unique_ptr<transport::Transport>(uint8_t rpc_id)> transport_factory;

  // --- Threads -----------------------------------------------------------
  // Functions other threads may hand each Rpc at once with Rpc::post()
  // before it runs them (its ring; rounded up to a power of two). post()
  // returns false when the ring is full.
  uint32_t post_ring_capacity = 1024;
  // Worker threads for handlers registered with HandlerMode::kWorker
  // (at most kMaxWorkerThreads); started with the first Rpc if any such
  // handler exists, joined by ~Nexus. Workers spin briefly when idle, then
  // sleep on a futex.
  static constexpr uint32_t kMaxWorkerThreads = 4096;
  uint32_t num_worker_threads = 2;
  // Requests one Rpc may have handed to workers and not yet answered; a
  // worker-mode request beyond it is answered kResourceExhausted without
  // running (safe to retry). Sizes the Rpc's response ring, so a worker's
  // response always has room in it.
  uint32_t max_worker_requests = 1024;
  // Requests waiting for a free worker thread, from all Rpcs together;
  // beyond it kResourceExhausted, as above.
  uint32_t worker_queue_capacity = 4096;
};

// Where a handler runs.
enum class HandlerMode : uint8_t {
  // On the Rpc's owner thread, inside its event loop: for handlers that
  // answer in microseconds (or respond later, after nested calls). A
  // single-packet request is read in place from the transport's receive
  // buffer until the handler returns.
  kInline,
  // On a worker thread of the Nexus: for handlers that block or run long.
  // The request is copied out of the receive buffer before the hand-off
  // (request() is valid until the response). The handler may call
  // h->init_response() and h->rpc()->enqueue_response(h) from the worker
  // thread (or any thread later); the response travels back to the owner
  // through the Rpc's ring and is sent from its event loop. Nothing else of
  // the Rpc may be used from the worker: hand other work to the owner with
  // Rpc::post(). One handler may run on several workers at once.
  kWorker,
};

namespace detail {
class WorkerPool;
}

// A request handler. Runs on the Rpc's owner thread, inside the event loop
// (HandlerMode::kInline), or on a worker thread (kWorker).
// It responds with rpc.enqueue_response(h) now, or keeps h and responds later
// (after nested calls, say); h stays valid until it responds.
using Handler = Function<void(ReqHandle*), 64>;

class Nexus {
 public:
  explicit Nexus(NexusConfig cfg);
  ~Nexus();
  Nexus(const Nexus&) = delete;
  Nexus& operator=(const Nexus&) = delete;

  // Registers the handler for a method id, to run inline in the event loop
  // or on a worker thread (see HandlerMode). Throws flit::Error if the id is
  // taken, an Rpc already exists, or kWorker is asked with
  // num_worker_threads == 0. A handler that throws has its request answered
  // kInternal (unless it had answered it), the exception reported on stderr
  // and counted (RpcStats::handler_exceptions); the server goes on serving.
  void register_handler(uint16_t method, Handler handler, HandlerMode mode = HandlerMode::kInline);
  // Whether a handler is registered for the method id. Lets a caller that
  // registers several (a generated service's register_with) check them all
  // first, so that a taken id registers none.
  bool is_registered(uint16_t method) const;

  const NexusConfig& config() const { return cfg_; }
  // Random per process start: a client seeing a new epoch knows the server
  // restarted.
  uint64_t epoch() const { return epoch_; }

  // The transports this build of flit contains, e.g. {"udp", "dpdk"}.
  static std::vector<std::string> transports_built();

  // Creates the transport of Rpc rpc_id (control path; Rpc's constructor
  // calls it). Throws flit::Error naming the fix.
  std::unique_ptr<transport::Transport> make_transport(uint8_t rpc_id);

  // Handler for a method id, or nullptr. Freezes the table.
  Handler* handler(uint16_t method) {
    return method < handlers_.size() && handlers_[method] ? &handlers_[method] : nullptr;
  }
  // Where the handler of a registered method runs.
  HandlerMode handler_mode(uint16_t method) const {
    return method < modes_.size() ? modes_[method] : HandlerMode::kInline;
  }
  bool has_worker_handlers() const { return num_worker_handlers_ != 0; }
  // Freezes the method table and starts the worker threads if a handler
  // needs them (once; any thread). Rpc's constructor calls it.
  void freeze();

 private:
  friend class Rpc;
  // Hands a request to a worker thread. Any thread; no lock, no allocation;
  // wakes a sleeping worker (one futex syscall) only if all are asleep.
  // False when the queue is full.
  bool submit_to_worker(ReqHandle* h);

  NexusConfig cfg_;
  uint64_t epoch_;
  std::vector<Handler> handlers_;
  std::vector<HandlerMode> modes_;
  uint32_t num_worker_handlers_ = 0;
  std::atomic<bool> frozen_{false};
  std::once_flag start_workers_;
  std::unique_ptr<detail::WorkerPool> workers_;  // null unless a kWorker handler exists
};

// 64 random bits from the kernel's CSPRNG (getrandom). Control path.
uint64_t secure_random_u64();

}  // namespace flit
