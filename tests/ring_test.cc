// tests/ring_test.cc: the bounded lock-free ring (src/ring.h).
#include "ring.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "flit/function.h"

namespace flit::detail {
namespace {

TEST(Ring, CapacityRoundsUpToAPowerOfTwo) {
  EXPECT_EQ(Ring<int>(1).capacity(), 2u);
  EXPECT_EQ(Ring<int>(2).capacity(), 2u);
  EXPECT_EQ(Ring<int>(5).capacity(), 8u);
  EXPECT_EQ(Ring<int>(1024).capacity(), 1024u);
}

TEST(Ring, FifoOrderSingleThreaded) {
  Ring<int> r(8);
  // Several laps, so every cell is reused with a new sequence number.
  int next_in = 0, next_out = 0;
  for (int lap = 0; lap < 10; ++lap) {
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(r.try_push(int{next_in++}));
    for (int i = 0; i < 5; ++i) {
      int v = -1;
      ASSERT_TRUE(r.try_pop(v));
      EXPECT_EQ(v, next_out++);
    }
  }
  int v;
  EXPECT_FALSE(r.try_pop(v));
}

TEST(Ring, FullAndEmptyEdges) {
  Ring<int> r(4);
  int v = 0;
  EXPECT_TRUE(r.empty_now());
  EXPECT_FALSE(r.try_pop(v));  // empty from the start
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(r.try_push(int{i})) << i;
    EXPECT_FALSE(r.empty_now()) << i;
  }
  EXPECT_EQ(r.size_approx(), 4u);
  EXPECT_FALSE(r.try_push(99));  // full: refused, not blocked
  ASSERT_TRUE(r.try_pop(v));
  EXPECT_EQ(v, 0);
  EXPECT_TRUE(r.try_push(4));  // one free cell again
  EXPECT_FALSE(r.try_push(5));
  for (int want = 1; want <= 4; ++want) {
    ASSERT_TRUE(r.try_pop(v));
    EXPECT_EQ(v, want);
  }
  EXPECT_FALSE(r.try_pop(v));
  EXPECT_TRUE(r.empty_now());  // after a full lap too
  EXPECT_EQ(r.size_approx(), 0u);
}

// A claimed cell holds back everything behind it until it is published,
// and keeps its place in the order; a claim counts against the capacity.
TEST(Ring, AClaimedCellHoldsBackLaterItemsUntilPublished) {
  Ring<int> r(4);
  size_t pos;
  ASSERT_TRUE(r.try_claim(pos));
  ASSERT_TRUE(r.try_push(2));
  ASSERT_TRUE(r.try_push(3));
  ASSERT_TRUE(r.try_push(4));
  EXPECT_FALSE(r.try_push(5));  // the claim took the fourth cell
  EXPECT_EQ(r.size_approx(), 4u);
  int v = 0;
  EXPECT_TRUE(r.empty_now());
  EXPECT_FALSE(r.try_pop(v));  // stops at the claimed cell
  r.publish(pos, 1);
  for (int want = 1; want <= 4; ++want) {
    ASSERT_TRUE(r.try_pop(v));
    EXPECT_EQ(v, want);
  }
  EXPECT_FALSE(r.try_pop(v));
}

TEST(Ring, RefusedPushLeavesTheValueToTheCaller) {
  Ring<Function<int(), 16>> r(2);
  ASSERT_TRUE(r.try_push([] { return 1; }));
  ASSERT_TRUE(r.try_push([] { return 2; }));
  Function<int(), 16> f = [] { return 3; };
  EXPECT_FALSE(r.try_push(std::move(f)));
  ASSERT_TRUE(static_cast<bool>(f));  // not moved from: the caller can retry
  Function<int(), 16> out;
  ASSERT_TRUE(r.try_pop(out));
  EXPECT_EQ(out(), 1);
  ASSERT_TRUE(r.try_push(std::move(f)));
  ASSERT_TRUE(r.try_pop(out));
  EXPECT_EQ(out(), 2);
  ASSERT_TRUE(r.try_pop(out));
  EXPECT_EQ(out(), 3);
}

// Several producers, one consumer, a small ring (so it is full often):
// every item arrives exactly once, and each producer's items in order.
TEST(Ring, ManyProducersOneConsumerDeliverEveryItemExactlyOnce) {
  constexpr uint32_t kProducers = 4;
  constexpr uint32_t kPerProducer = 200'000;
  Ring<uint64_t> r(64);
  std::atomic<bool> go{false};
  std::atomic<uint32_t> producers_done{0};
  std::vector<std::thread> producers;
  uint64_t full_seen[kProducers] = {};
  for (uint32_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (uint32_t i = 0; i < kPerProducer; ++i) {
        uint64_t item = (uint64_t{p} << 32) | i;
        while (!r.try_push(uint64_t{item})) {
          full_seen[p]++;
          std::this_thread::yield();
        }
      }
      producers_done.fetch_add(1, std::memory_order_release);
    });
  }
  std::vector<uint8_t> seen(size_t{kProducers} * kPerProducer, 0);
  std::vector<int64_t> last(kProducers, -1);
  uint64_t received = 0, duplicates = 0, out_of_order = 0;
  go.store(true, std::memory_order_release);
  for (;;) {
    // Read before popping: once every producer has returned from its last
    // push, an empty ring is really empty (no push is half done), so a lost
    // item ends the test with a failure instead of a hang.
    const bool all_pushed = producers_done.load(std::memory_order_acquire) == kProducers;
    uint64_t item;
    if (!r.try_pop(item)) {
      if (all_pushed) break;
      std::this_thread::yield();
      continue;
    }
    uint32_t p = static_cast<uint32_t>(item >> 32), i = static_cast<uint32_t>(item);
    ASSERT_LT(p, kProducers);
    ASSERT_LT(i, kPerProducer);
    uint8_t& s = seen[size_t{p} * kPerProducer + i];
    if (s != 0) duplicates++;
    s = 1;
    if (static_cast<int64_t>(i) <= last[p]) out_of_order++;
    last[p] = i;
    received++;
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(received, uint64_t{kProducers} * kPerProducer);
  EXPECT_EQ(duplicates, 0u);
  EXPECT_EQ(out_of_order, 0u);
  for (size_t k = 0; k < seen.size(); ++k) ASSERT_EQ(seen[k], 1) << "item " << k << " missing";
}

// Several consumers too (how the Nexus's worker threads use it): the sum of
// what they popped equals what was pushed, with no item twice.
TEST(Ring, ManyProducersManyConsumers) {
  constexpr uint32_t kThreads = 3;
  constexpr uint32_t kPerProducer = 100'000;
  Ring<uint32_t> r(32);
  std::vector<std::atomic<uint32_t>> count(size_t{kThreads} * kPerProducer);
  std::atomic<uint64_t> popped{0};
  std::atomic<uint32_t> producers_done{0};
  std::vector<std::thread> ts;
  for (uint32_t p = 0; p < kThreads; ++p) {
    ts.emplace_back([&, p] {
      for (uint32_t i = 0; i < kPerProducer; ++i) {
        while (!r.try_push(p * kPerProducer + i)) std::this_thread::yield();
      }
      producers_done.fetch_add(1, std::memory_order_release);
    });
  }
  for (uint32_t c = 0; c < kThreads; ++c) {
    ts.emplace_back([&] {
      for (;;) {
        const bool all_pushed = producers_done.load(std::memory_order_acquire) == kThreads;
        uint32_t v;
        if (r.try_pop(v)) {
          count[v].fetch_add(1, std::memory_order_relaxed);
          popped.fetch_add(1, std::memory_order_relaxed);
        } else if (all_pushed) {
          return;  // nothing is half pushed: the ring is really empty
        } else {
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(popped.load(), uint64_t{kThreads} * kPerProducer);
  for (size_t k = 0; k < count.size(); ++k) ASSERT_EQ(count[k].load(), 1u) << "item " << k;
}

}  // namespace
}  // namespace flit::detail
