// flit/nexus.h: one per process: configuration, the method table, and the
// transport factory.
//
//   flit::NexusConfig cfg;
//   cfg.listen_uri = "udp://127.0.0.1:31850";   // Rpc k listens on port 31850 + k
//   flit::Nexus nexus(cfg);
//   nexus.register_handler(kEcho, [](flit::ReqHandle* h) { ... });
//   flit::Rpc rpc(nexus, 0);                    // on the thread that will poll it
//
// Register every handler before creating the first Rpc: the table is frozen
// then (registering later throws), so the data path reads it without a lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
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
  // Retransmission timeout: a request or request-for-response packet not
  // answered within it is sent again (go-back-N from the first unanswered).
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
  // whole Rpc, may hold; a request beyond either waits (its first packet is
  // dropped, the client resends).
  size_t session_reassembly_budget = size_t{64} << 20;
  size_t reassembly_budget = size_t{512} << 20;
  // Time source, nanoseconds (tests and simulators): nullptr means
  // std::chrono::steady_clock.
  uint64_t (*clock)(void* ctx) = nullptr;
  void* clock_ctx = nullptr;
  // A custom transport factory (simulators, user transports); when set it
  // replaces the built-in transports.
  std::function<std::unique_ptr<transport::Transport>(uint8_t rpc_id)> transport_factory;
};

// A request handler. Runs on the Rpc's owner thread, inside the event loop.
// It responds with rpc.enqueue_response(h) now, or keeps h and responds later
// (after nested calls, say); h stays valid until it responds.
using Handler = Function<void(ReqHandle*), 64>;

class Nexus {
 public:
  explicit Nexus(NexusConfig cfg);
  ~Nexus();
  Nexus(const Nexus&) = delete;
  Nexus& operator=(const Nexus&) = delete;

  // Registers the handler for a method id. Throws flit::Error if the id is
  // taken or an Rpc already exists.
  void register_handler(uint16_t method, Handler handler);

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
  void freeze() { frozen_.store(true, std::memory_order_release); }

 private:
  NexusConfig cfg_;
  uint64_t epoch_;
  std::vector<Handler> handlers_;
  std::atomic<bool> frozen_{false};
};

// 64 random bits from the kernel's CSPRNG (getrandom). Control path.
uint64_t secure_random_u64();

}  // namespace flit
