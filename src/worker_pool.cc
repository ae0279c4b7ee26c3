// src/worker_pool.cc: the Nexus's worker threads.
#include "worker_pool.h"

#include <string>

#include "flit/error.h"
#include "flit/rpc.h"

namespace flit::detail {

namespace {
// Polls of an empty queue before a worker sleeps: a few microseconds, so a
// steady stream of requests is picked up without a wake-up syscall, and an
// idle process does not burn a core.
constexpr int kIdleSpins = 1024;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
}  // namespace

void WorkerPool::run_request(ReqHandle* h) { Rpc::run_on_worker(h); }

WorkerPool::WorkerPool(uint32_t threads, uint32_t queue_capacity, RunFn run_fn)
    : queue_(queue_capacity), run_(run_fn) {
  threads_.reserve(threads);
  for (uint32_t i = 0; i < threads; ++i) {
    try {
      threads_.emplace_back([this] { run(); });
    } catch (const std::exception& e) {
      // The system refused a thread (a thread or process limit): stop the
      // ones started, then say so, rather than terminate on their handles.
      stop_all();
      throw Error("flit: cannot start worker thread " + std::to_string(i + 1) + " of " +
                  std::to_string(threads) + " (NexusConfig::num_worker_threads): " + e.what());
    }
  }
}

WorkerPool::~WorkerPool() { stop_all(); }

void WorkerPool::stop_all() {
  stop_.store(true, std::memory_order_seq_cst);
  wake_seq_.fetch_add(1, std::memory_order_seq_cst);
  wake_seq_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

bool WorkerPool::submit(ReqHandle* h) {
  if (!queue_.try_push(std::move(h))) return false;
  wake_sleeper();
  return true;
}

void WorkerPool::wake_sleeper() {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_relaxed) != 0) [[unlikely]]
    wake_one();
}

void WorkerPool::wake_one() {
  wake_seq_.fetch_add(1, std::memory_order_release);
  wake_seq_.notify_one();
}

void WorkerPool::run() {
  for (;;) {
    ReqHandle* h = nullptr;
    bool got = queue_.try_pop(h);
    for (int i = 0; !got && i < kIdleSpins; ++i) {
      cpu_relax();
      got = queue_.try_pop(h);
    }
    if (!got) {
      const uint32_t seq = wake_seq_.load(std::memory_order_acquire);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      got = queue_.try_pop(h);
      if (!got) {
        if (stop_.load(std::memory_order_acquire)) {
          sleepers_.fetch_sub(1, std::memory_order_relaxed);
          return;
        }
        wake_seq_.wait(seq, std::memory_order_acquire);
      }
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      if (!got) continue;
    }
    // Chain wake-up (see the header): requests left behind this one, and a
    // worker asleep, may mean their owner's wake-up was skipped. The fence
    // pairs with a sleeper's: either it sees the pop just made and takes the
    // next request itself, or this load sees it asleep.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_relaxed) != 0 && queue_.size_approx() != 0) wake_one();
    run_(h);
  }
}

}  // namespace flit::detail
