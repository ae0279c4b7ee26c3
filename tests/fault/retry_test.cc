// tests/fault/retry_test.cc: the opt-in retry helper, on the simulated
// network (virtual time makes backoff measurable exactly).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "flit/flit.h"
#include "sim_network.h"

namespace flit::testing {
namespace {

constexpr uint16_t kFlaky = 1;   // answers kUnavailable until `fail_first` calls have failed
constexpr uint16_t kRefuse = 2;  // answers kInvalidArgument
constexpr uint16_t kSlow = 3;    // answers after `slow_ns` (while slow_ns > 0)

struct Server {
  int calls = 0;
  int fail_first = 0;
  uint64_t slow_ns = 0;
  std::vector<std::pair<ReqHandle*, uint64_t>> pending;
  std::vector<uint64_t> arrivals;  // virtual time of each kFlaky call
  sim::Network* net;
};

class RetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.net = &net_;
    snexus_ = std::make_unique<Nexus>(net_.server_config("server", 100));
    Server* sv = &server_;
    snexus_->register_handler(kFlaky, [sv](ReqHandle* h) {
      sv->calls++;
      sv->arrivals.push_back(sv->net->now());
      if (sv->calls <= sv->fail_first) {
        h->rpc()->enqueue_response(h, Status::kUnavailable);
      } else {
        h->init_response(2);
        h->rpc()->enqueue_response(h);
      }
    });
    snexus_->register_handler(kRefuse, [sv](ReqHandle* h) {
      sv->calls++;
      h->rpc()->enqueue_response(h, Status::kInvalidArgument);
    });
    snexus_->register_handler(kSlow, [sv](ReqHandle* h) {
      sv->calls++;
      sv->pending.push_back({h, sv->net->now() + sv->slow_ns});
    });
    server_rpc_ = std::make_unique<Rpc>(*snexus_, 0);
    cnexus_ = std::make_unique<Nexus>(net_.client_config("client", 200));
    client_ = std::make_unique<Rpc>(*cnexus_, 0);
    drv_.add(server_rpc_.get());
    drv_.add(client_.get());
    bool up = false;
    session_ = client_->create_session("sim://server:100",
                                       [&](SessionId, Status st) { up = st == Status::kOk; });
    ASSERT_TRUE(drv_.run_until([&] { return up; }, 1'000'000'000));
    req_ = client_->alloc_msg_buffer(8);
    resp_ = client_->alloc_msg_buffer(8);
  }
  void TearDown() override {
    req_.release();
    resp_.release();
  }

  // Runs until the call completes; returns its status and how often its
  // continuation ran.
  std::pair<Status, int> run(uint16_t method, const RetryPolicy& p,
                             Duration deadline = Duration::zero()) {
    int runs = 0;
    Status got = Status::kInternal;
    Status st = client_->enqueue_request_with_retry(
        session_, method, &req_, &resp_,
        [&](Status r) {
          runs++;
          got = r;
        },
        p, deadline);
    EXPECT_EQ(st, Status::kOk);
    drv_.run_until(
        [&] {
          for (size_t i = 0; i < server_.pending.size();) {
            if (net_.now() >= server_.pending[i].second) {
              server_.pending[i].first->init_response(1);
              server_rpc_->enqueue_response(server_.pending[i].first);
              server_.pending.erase(server_.pending.begin() + static_cast<long>(i));
            } else {
              ++i;
            }
          }
          return runs > 0;
        },
        10'000'000'000ULL);
    drv_.run_for(5'000'000);  // nothing more may happen
    return {got, runs};
  }

  sim::Network net_{42};
  sim::Driver drv_{net_};
  Server server_;
  std::unique_ptr<Nexus> snexus_, cnexus_;
  std::unique_ptr<Rpc> server_rpc_, client_;
  SessionId session_ = kInvalidSession;
  MsgBuffer req_, resp_;
};

TEST_F(RetryTest, UnavailableIsRetriedWithExponentialBackoff) {
  server_.fail_first = 3;
  RetryPolicy p;
  p.max_attempts = 5;
  p.initial_backoff = std::chrono::milliseconds(2);
  p.multiplier = 2;
  p.jitter = 0.25;
  auto [st, runs] = run(kFlaky, p);
  EXPECT_EQ(st, Status::kOk);
  EXPECT_EQ(runs, 1);
  ASSERT_EQ(server_.calls, 4);
  // Gaps between attempts: 2, 4, 8 ms, each within the jitter, plus the
  // round trip.
  for (size_t i = 1; i < server_.arrivals.size(); ++i) {
    double gap = static_cast<double>(server_.arrivals[i] - server_.arrivals[i - 1]);
    double base = 2e6 * static_cast<double>(1u << (i - 1));
    EXPECT_GE(gap, base * 0.75) << i;
    EXPECT_LE(gap, base * 1.25 + 100'000) << i;
  }
  EXPECT_EQ(client_->stats().call_retries, 3u);
}

TEST_F(RetryTest, GivesUpAfterMaxAttemptsWithTheLastStatus) {
  server_.fail_first = 100;
  RetryPolicy p;
  p.max_attempts = 3;
  auto [st, runs] = run(kFlaky, p);
  EXPECT_EQ(st, Status::kUnavailable);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(server_.calls, 3);
}

TEST_F(RetryTest, FinalStatusesAreNeverRetried) {
  RetryPolicy p;
  p.max_attempts = 5;
  p.idempotent = true;
  auto [st, runs] = run(kRefuse, p);
  EXPECT_EQ(st, Status::kInvalidArgument);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(server_.calls, 1);
}

TEST_F(RetryTest, DeadlineExceededIsRetriedOnlyForIdempotentMethods) {
  server_.slow_ns = 50'000'000;  // slower than the 10 ms deadline
  RetryPolicy p;
  p.max_attempts = 3;
  auto [st, runs] = run(kSlow, p, std::chrono::milliseconds(10));
  EXPECT_EQ(st, Status::kDeadlineExceeded);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(server_.calls, 1);  // might have run: not retried

  server_.calls = 0;
  p.idempotent = true;
  auto [st2, runs2] = run(kSlow, p, std::chrono::milliseconds(10));
  EXPECT_EQ(st2, Status::kDeadlineExceeded);
  EXPECT_EQ(runs2, 1);
  EXPECT_EQ(server_.calls, 3);
}

TEST_F(RetryTest, BadPolicyIsRejected) {
  RetryPolicy p;
  p.max_attempts = 0;
  EXPECT_EQ(client_->enqueue_request_with_retry(
                session_, kFlaky, &req_, &resp_, [](Status) {}, p),
            Status::kInvalidArgument);
}

}  // namespace
}  // namespace flit::testing
