#include "flit/nexus.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include "flit/error.h"
#include "worker_pool.h"

namespace flit {

uint64_t secure_random_u64() {
  uint64_t v = 0;
  auto* p = reinterpret_cast<uint8_t*>(&v);
  size_t got = 0;
  while (got < sizeof v) {
    ssize_t r = getrandom(p + got, sizeof v - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(std::string("flit: getrandom failed: ") + std::strerror(errno));
    }
    got += static_cast<size_t>(r);
  }
  return v;
}

Nexus::Nexus(NexusConfig cfg) : cfg_(std::move(cfg)), epoch_(secure_random_u64()) {
  if (cfg_.max_msg_size == 0 || cfg_.max_msg_size > kMaxMsgSizeLimit) {
    throw Error("flit: NexusConfig::max_msg_size must be in [1, " +
                std::to_string(kMaxMsgSizeLimit) + "], got " + std::to_string(cfg_.max_msg_size));
  }
  if (cfg_.max_sessions == 0 || cfg_.max_sessions >= (1u << 31)) {
    throw Error("flit: NexusConfig::max_sessions must be in [1, 2^31)");
  }
  if (cfg_.backlog == 0) throw Error("flit: NexusConfig::backlog must be at least 1");
  if (cfg_.eager_response_pkts == 0 || cfg_.eager_response_pkts > kSessionCredits) {
    throw Error("flit: NexusConfig::eager_response_pkts must be in [1, " +
                std::to_string(kSessionCredits) + "], got " +
                std::to_string(cfg_.eager_response_pkts));
  }
  if (cfg_.rx_burst == 0 || cfg_.rx_burst > kMaxRxBurst) {
    throw Error("flit: NexusConfig::rx_burst must be in [1, " + std::to_string(kMaxRxBurst) +
                "], got " + std::to_string(cfg_.rx_burst));
  }
  if (cfg_.rto <= Duration::zero() || cfg_.call_deadline <= Duration::zero() ||
      cfg_.connect_timeout <= Duration::zero() || cfg_.connect_retry <= Duration::zero()) {
    throw Error(
        "flit: NexusConfig timeouts (rto, call_deadline, connect_timeout, "
        "connect_retry) must be positive");
  }
  if (cfg_.num_worker_threads > NexusConfig::kMaxWorkerThreads) {
    throw Error("flit: NexusConfig::num_worker_threads must be at most " +
                std::to_string(NexusConfig::kMaxWorkerThreads) + ", got " +
                std::to_string(cfg_.num_worker_threads));
  }
  if (cfg_.post_ring_capacity == 0 || cfg_.post_ring_capacity > (1u << 24) ||
      cfg_.max_worker_requests == 0 || cfg_.max_worker_requests > (1u << 24) ||
      cfg_.worker_queue_capacity == 0 || cfg_.worker_queue_capacity > (1u << 24)) {
    throw Error(
        "flit: NexusConfig::post_ring_capacity, max_worker_requests and worker_queue_capacity "
        "must be in [1, 2^24]");
  }
  if (epoch_ == 0) epoch_ = 1;  // 0 means "unknown" to the client
}

// Every Rpc is gone (they hold a reference to the Nexus), so no request is
// at a worker: the pool's destructor only wakes and joins the threads.
Nexus::~Nexus() = default;

void Nexus::freeze() {
  std::call_once(start_workers_, [this] {
    frozen_.store(true, std::memory_order_release);
    if (num_worker_handlers_ != 0) {
      workers_ =
          std::make_unique<detail::WorkerPool>(cfg_.num_worker_threads, cfg_.worker_queue_capacity);
    }
  });
}

bool Nexus::submit_to_worker(ReqHandle* h) { return workers_->submit(h); }

void Nexus::register_handler(uint16_t method, Handler handler, HandlerMode mode) {
  if (frozen_.load(std::memory_order_acquire)) {
    throw Error("flit::Nexus::register_handler(" + std::to_string(method) +
                "): register every handler before creating the first Rpc");
  }
  if (!handler) throw Error("flit::Nexus::register_handler: empty handler");
  if (method >= handlers_.size()) handlers_.resize(size_t{method} + 1);
  if (handlers_[method]) {
    throw Error("flit::Nexus::register_handler: method id " + std::to_string(method) +
                " is already registered");
  }
  if (mode == HandlerMode::kWorker && cfg_.num_worker_threads == 0) {
    throw Error("flit::Nexus::register_handler(" + std::to_string(method) +
                ", kWorker): NexusConfig::num_worker_threads is 0; give the Nexus worker threads "
                "or register the handler inline");
  }
  handlers_[method] = std::move(handler);
  if (method >= modes_.size()) modes_.resize(size_t{method} + 1, HandlerMode::kInline);
  modes_[method] = mode;
  if (mode == HandlerMode::kWorker) num_worker_handlers_++;
}

bool Nexus::is_registered(uint16_t method) const {
  return method < handlers_.size() && static_cast<bool>(handlers_[method]);
}

}  // namespace flit
