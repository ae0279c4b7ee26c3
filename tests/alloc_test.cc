// tests/alloc_test.cc: no heap allocation per call in steady state.
//
// Replaces the global operator new with a counting one, warms a client and a
// server up, then issues 10,000 calls and checks that neither side (nor the
// transport) allocated once.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "alloc_counter.h"
#include "flit/flit.h"
#include "test_env.h"
#include "test_util.h"

namespace flit {
namespace {

using namespace std::chrono_literals;

TEST(Alloc, CountingOperatorNewSeesAllocations) {
  // The counter works: a std::vector allocation is seen (guards against a
  // test that passes because nothing is counted).
  uint64_t before = flit::testing::heap_allocations();
  auto* v = new std::vector<int>(100);
  delete v;
  EXPECT_GE(flit::testing::heap_allocations() - before, 2u);
}

TEST(Alloc, NoHeapAllocationPerCallInSteadyState) {
  testing::ServerThread server(testing::test_env().server_config(), [](Nexus& n) {
    n.register_handler(1, [](ReqHandle* h) {
      auto req = h->request();
      MsgBuffer& out = h->init_response(req.size());
      std::memcpy(out.data(), req.data(), req.size());
      h->rpc()->enqueue_response(h);
    });
  });
  Nexus nexus(testing::test_env().client_config());
  Rpc rpc(nexus, 0);
  SessionId s;
  ASSERT_EQ(rpc.connect(server.uri(), &s), Status::kOk);

  // Single-packet and multi-packet calls, synchronous and pipelined.
  MsgBuffer small = rpc.alloc_msg_buffer(32), big = rpc.alloc_msg_buffer(5000);
  MsgBuffer resp[8];
  for (auto& r : resp) r = rpc.alloc_msg_buffer(5000);
  testing::fill_random(small, 1);
  testing::fill_random(big, 2);

  auto run = [&](int calls) {
    int done = 0, ok = 0;
    for (int i = 0; i < calls; i += 8) {
      for (int j = 0; j < 8; ++j) {
        const MsgBuffer* req = (j % 4 == 3) ? &big : &small;
        Status st = rpc.enqueue_request(s, 1, req, &resp[j], [&done, &ok](Status r) {
          done++;
          ok += r == Status::kOk;
        });
        if (st != Status::kOk) return -1;
      }
      while (done < i + 8) rpc.run_event_loop_once();
    }
    return ok;
  };
  ASSERT_EQ(run(1000), 1000);  // warm-up: pools, backlog, socket buffers

  uint64_t before = flit::testing::heap_allocations();
  int ok = run(10'000);
  uint64_t after = flit::testing::heap_allocations();
  ASSERT_EQ(ok, 10'000);
  EXPECT_EQ(after - before, 0u) << "heap allocations during 10,000 calls";
  EXPECT_EQ(rpc.stats().calls_completed, 11'000u);
}

// The same for a handler on a worker thread: the hand-off through the
// rings, the request copy and the response buffer (kept with the handle)
// allocate nothing once warm. Counts allocations on every thread.
TEST(Alloc, NoHeapAllocationPerWorkerCallInSteadyState) {
  NexusConfig sc = testing::test_env().server_config();
  sc.num_worker_threads = 2;
  testing::ServerThread server(sc, [](Nexus& n) {
    n.register_handler(
        1,
        [](ReqHandle* h) {
          auto req = h->request();
          MsgBuffer& out = h->init_response(req.size());
          std::memcpy(out.data(), req.data(), req.size());
          h->rpc()->enqueue_response(h);
        },
        HandlerMode::kWorker);
  });
  Nexus nexus(testing::test_env().client_config());
  Rpc rpc(nexus, 0);
  SessionId s;
  ASSERT_EQ(rpc.connect(server.uri(), &s), Status::kOk);
  MsgBuffer small = rpc.alloc_msg_buffer(32), big = rpc.alloc_msg_buffer(5000);
  MsgBuffer resp[8];
  for (auto& r : resp) r = rpc.alloc_msg_buffer(5000);
  testing::fill_random(small, 3);
  testing::fill_random(big, 4);
  auto run = [&](int calls) {
    int done = 0, ok = 0;
    for (int i = 0; i < calls; i += 8) {
      for (int j = 0; j < 8; ++j) {
        const MsgBuffer* req = (j % 4 == 3) ? &big : &small;
        Status st = rpc.enqueue_request(s, 1, req, &resp[j], [&done, &ok](Status r) {
          done++;
          ok += r == Status::kOk;
        });
        if (st != Status::kOk) return -1;
      }
      while (done < i + 8) rpc.run_event_loop_once();
    }
    return ok;
  };
  ASSERT_EQ(run(2000), 2000);  // warm-up: the handles so far have seen a big response

  // The server creates a request handle (an allocation, and one for its
  // worker response block) only when more requests than ever before are in
  // handlers at once. How many of the 8 calls overlap there depends on
  // timing (a call's last request packet waits for its eager credits), so
  // the run may still reach a new peak; nothing else may allocate.
  const uint64_t handles_before = server.stats().request_handles;
  uint64_t before = flit::testing::heap_allocations();
  int ok = run(5'000);
  uint64_t after = flit::testing::heap_allocations();
  const uint64_t handles_after = server.stats().request_handles;
  ASSERT_EQ(ok, 5'000);
  EXPECT_EQ(after - before, 2 * (handles_after - handles_before))
      << "heap allocations during 5,000 worker calls, besides the server's new handles ("
      << handles_after - handles_before << ")";
  EXPECT_GE(handles_after, 1u);
  EXPECT_LE(handles_after, kSessionSlots) << "one session has at most 8 requests in handlers";
  EXPECT_EQ(server.stats().requests_to_workers, 7'000u);
}

}  // namespace
}  // namespace flit
