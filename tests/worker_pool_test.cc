// tests/worker_pool_test.cc: the Nexus's worker threads (src/worker_pool.h),
// with a stand-in for Rpc::run_on_worker, so the tests can hold the ring in
// states that real submitters only pass through.
#include "worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace flit::detail {

struct WorkerPoolTestPeer {
  static Ring<ReqHandle*>& queue(WorkerPool& p) { return p.queue_; }
  static uint32_t sleepers(const WorkerPool& p) { return p.sleepers_.load(); }
  static void wake_sleeper(WorkerPool& p) { p.wake_sleeper(); }
};

namespace {

using Clock = std::chrono::steady_clock;
using Peer = WorkerPoolTestPeer;

// The workers never dereference a handle here: the run function only
// compares it.
ReqHandle* fake_handle(uintptr_t i) { return reinterpret_cast<ReqHandle*>(i); }

// Polls cond (yielding) until it holds or `limit` passes; returns whether it
// holds. A wait for an event with a failure bound, not a sleep.
template <typename Cond>
bool eventually(Cond cond, std::chrono::seconds limit = std::chrono::seconds(10)) {
  const auto end = Clock::now() + limit;
  while (!cond()) {
    if (Clock::now() >= end) return false;
    std::this_thread::yield();
  }
  return true;
}

// RunFn is a plain function pointer: the stand-in keeps its state here.
constexpr uintptr_t kFirst = 0x1000, kSecond = 0x2000;
std::atomic<bool> g_second_ran{false};
std::atomic<bool> g_first_saw_second{false};
std::atomic<bool> g_first_done{false};

void run_two(ReqHandle* h) {
  if (h == fake_handle(kSecond)) {
    g_second_ran.store(true);
    return;
  }
  // The first request's handler runs until the second request has run, or
  // gives up after 10 s.
  g_first_saw_second.store(eventually([] { return g_second_ran.load(); }));
  g_first_done.store(true);
}

// A submitter preempted between claiming its ring cell and publishing it:
// a later submitter's request, published behind it while the workers spun,
// woke nobody, and the workers then fell asleep at the unpublished cell.
// When the first submitter publishes and wakes one worker, that worker
// must wake another for the request behind, not leave it queued until the
// first handler returns.
TEST(WorkerPool, ARequestHeldBehindAnUnpublishedCellDoesNotWaitForTheHandlerAhead) {
  WorkerPool pool(2, 16, run_two);
  ASSERT_TRUE(eventually([&] { return Peer::sleepers(pool) == 2; })) << "workers never slept";

  Ring<ReqHandle*>& q = Peer::queue(pool);
  size_t first_cell;
  ASSERT_TRUE(q.try_claim(first_cell));
  // The second submitter: pushed with the workers (as it saw them) awake,
  // so no wake-up.
  ASSERT_TRUE(q.try_push(fake_handle(kSecond)));
  EXPECT_EQ(Peer::sleepers(pool), 2u);

  // The first submitter resumes: publishes, then wakes one sleeper.
  q.publish(first_cell, fake_handle(kFirst));
  Peer::wake_sleeper(pool);

  ASSERT_TRUE(eventually([] { return g_first_done.load(); }, std::chrono::seconds(20)));
  EXPECT_TRUE(g_first_saw_second.load())
      << "the second request waited for the first one's handler to return";
  EXPECT_TRUE(eventually([] { return g_second_ran.load(); }));
}

std::atomic<uint64_t> g_runs{0};
void count_run(ReqHandle*) { g_runs.fetch_add(1); }

// Many submitting threads, few workers, with the workers falling asleep
// between bursts: every request runs, none is stranded in the queue.
TEST(WorkerPool, EverySubmittedRequestRunsOnce) {
  constexpr int kThreads = 4, kBursts = 50, kPerBurst = 20;
  WorkerPool pool(2, 64, count_run);
  std::atomic<uint64_t> submitted{0};
  std::vector<std::thread> owners;
  for (int t = 0; t < kThreads; ++t) {
    owners.emplace_back([&] {
      for (int b = 0; b < kBursts; ++b) {
        for (int i = 0; i < kPerBurst;) {
          if (pool.submit(fake_handle(1))) {
            ++i;
            submitted.fetch_add(1);
          } else {
            std::this_thread::yield();  // full: the workers catch up
          }
        }
        // Let the workers drain and go to sleep now and then.
        if (b % 10 == 9) eventually([&] { return g_runs.load() == submitted.load(); });
      }
    });
  }
  for (auto& t : owners) t.join();
  EXPECT_TRUE(eventually([&] { return g_runs.load() == uint64_t{kThreads * kBursts * kPerBurst}; }))
      << g_runs.load() << " of " << kThreads * kBursts * kPerBurst << " ran";
}

}  // namespace
}  // namespace flit::detail
