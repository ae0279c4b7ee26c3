// src/worker_pool.h: the Nexus's worker threads (private).
//
// Rpc owners hand requests of HandlerMode::kWorker methods to the pool
// through one lock-free MPMC ring; any idle worker takes the next one and
// runs its handler (Rpc::run_on_worker). Responses go back to each Rpc
// through that Rpc's own ring, never through the pool.
//
// Idle workers spin briefly, then sleep on a futex (std::atomic::wait). The
// submitting owner only touches the futex (one wake syscall) when a worker
// has announced it is going to sleep, so under load the hand-off is two ring
// operations and no syscall. The sleep protocol is Dekker-style: the worker
// announces itself (sleepers_++), fences, and checks the ring again; the
// owner pushes, fences, and checks sleepers_: at least one side sees the
// other, so no request waits for a worker that sleeps.
//
// A push is two steps (claim a cell, publish it), and workers stop at a
// claimed cell that is not yet published. So an owner preempted between the
// two can hold back a later owner's published request; that later owner saw
// the workers spinning and woke nobody, and the workers then go to sleep at
// the unpublished cell. When the first owner publishes, it wakes one worker;
// that worker, seeing requests left behind its own and workers asleep, wakes
// another (chain wake-up), so the held-back request does not wait for the
// first one's handler to finish.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "ring.h"

namespace flit {

class ReqHandle;

namespace detail {

class WorkerPool {
 public:
  // What a worker does with a request: Rpc::run_on_worker, except in tests.
  using RunFn = void (*)(ReqHandle*);

  // Starts `threads` workers. Control path.
  WorkerPool(uint32_t threads, uint32_t queue_capacity, RunFn run_fn = run_request);
  // Lets the workers finish what is queued, then joins them. Every Rpc of
  // the Nexus is gone by then, so the queue is empty.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Any thread. No lock, no allocation; a futex wake only when a worker
  // sleeps. False when the queue is full (h untouched).
  bool submit(ReqHandle* h);

 private:
  friend struct WorkerPoolTestPeer;

  static void run_request(ReqHandle* h);
  void run();
  void stop_all();      // wakes and joins every thread started
  void wake_sleeper();  // after a push: wake_one() if a worker sleeps
  void wake_one();      // one futex wake

  Ring<ReqHandle*> queue_;
  alignas(kCacheLine) std::atomic<uint32_t> sleepers_{0};
  std::atomic<uint32_t> wake_seq_{0};  // the futex word
  std::atomic<bool> stop_{false};
  RunFn run_;
  std::vector<std::thread> threads_;
};

}  // namespace detail
}  // namespace flit
