// The generated client stub and server skeleton (calc.flit) end to end over
// the real engine on UDP loopback: a server Rpc on its own thread, the client
// on the test thread.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "calc.flit.rpc.h"
#include "flit/nexus.h"
#include "flit/rpc.h"

namespace {

using namespace std::chrono_literals;

constexpr const char* kServerUri = "udp://127.0.0.1:32731";
// A raw handler beside the service: answers with bytes that do not validate.
constexpr uint16_t kGarbage = 99;

int64_t sum_of(const calc::AddRequestView& req) {
  int64_t s = 0;
  for (int64_t v : req.values()) s += v;
  return s;
}

// The service under test. Methods run on the server thread.
class CalcServer : public calc::CalcService {
 public:
  std::atomic<int> add_calls{0};

  void drop_later() { later_.clear(); }

  // add_later requests are answered once this many wait (set by a test
  // before its calls).
  std::atomic<size_t> answer_when{1};
  std::atomic<int> later_calls{0};

  // Answers deferred add_later requests (server thread), from the
  // Responder's copy of each request: by now the receive buffers their
  // views were read from have gone back to the transport, and been reused
  // for the requests that came after.
  void answer_later() {
    if (later_.size() < answer_when.load()) return;
    for (auto& resp : later_) {
      const auto req = resp.request<calc::AddRequestView>();
      calc::AddResponse r;
      r.sum = sum_of(req);
      r.label = "later: " + std::string(req.label());
      resp.respond(r);
    }
    later_.clear();
  }

 protected:
  void add(const calc::AddRequestView& req,
           flit::wire::Responder<calc::AddResponse> resp) override {
    add_calls.fetch_add(1);
    if (req.label() == "drop") return;  // the dropped Responder answers kInternal
    if (req.label() == "in place") {
      // Zero-copy response: built straight into the response buffer.
      flit::MsgBuffer& out = resp.buffer(128);
      flit::wire::Writer w(out);
      auto b = calc::AddResponseBuilder::init_root(w);
      b.set_sum(sum_of(req));
      b.set_label("built in place");
      b.set_count(req.values().size());
      resp.send(w.finish(out));
      return;
    }
    calc::AddResponse r;
    r.sum = sum_of(req);
    r.label = std::string(req.label());
    r.count = req.values().size();
    resp.respond(r);
  }

  void add_later(const calc::AddRequestView& req,
                 flit::wire::Responder<calc::AddResponse> resp) override {
    if (req.label() == "never") {
      // Kept by a timer that outlasts the server: ~Rpc destroys it, and
      // with it the Responder, while the request's handle still exists.
      resp.handle()->rpc()->schedule(std::chrono::hours(1), [r = std::move(resp)] {});
      return;
    }
    later_calls.fetch_add(1);
    later_.push_back(std::move(resp));  // answered on a later loop iteration
  }

 private:
  std::vector<flit::wire::Responder<calc::AddResponse>> later_;
};

class StubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_thread_ = std::thread([this] {
      flit::NexusConfig cfg;
      cfg.listen_uri = kServerUri;
      flit::Nexus nexus(cfg);
      service_.register_with(nexus);
      nexus.register_handler(kGarbage, [](flit::ReqHandle* h) {
        flit::MsgBuffer& out = h->init_response(4);
        std::memset(out.data(), 0xFF, 4);
        h->rpc()->enqueue_response(h);
      });
      try {
        flit::Rpc rpc(nexus, 0);
        ready_.store(1);
        while (!stop_.load()) {
          rpc.run_event_loop_once();
          service_.answer_later();
        }
        service_.drop_later();  // Responders go before their Rpc
      } catch (const std::exception& e) {
        std::fprintf(stderr, "server: %s\n", e.what());
        ready_.store(2);
      }
    });
    while (ready_.load() == 0) std::this_thread::sleep_for(1ms);
    ASSERT_EQ(ready_.load(), 1) << "server failed to start";
    client_nexus_ = std::make_unique<flit::Nexus>(flit::NexusConfig{});
    client_ = std::make_unique<flit::Rpc>(*client_nexus_, 0);
    ASSERT_EQ(client_->connect(kServerUri, &session_), flit::Status::kOk);
  }

  void TearDown() override {
    client_.reset();
    stop_.store(true);
    if (server_thread_.joinable()) server_thread_.join();
  }

  // Polls the client until done is set (the server has its own thread).
  void wait(const bool& done) {
    ASSERT_TRUE(client_->run_event_loop_until([&] { return done; }, 10s));
  }

  CalcServer service_;
  std::thread server_thread_;
  std::atomic<int> ready_{0};
  std::atomic<bool> stop_{false};
  std::unique_ptr<flit::Nexus> client_nexus_;
  std::unique_ptr<flit::Rpc> client_;
  flit::SessionId session_ = flit::kInvalidSession;
};

// A service whose method id is taken registers none of its methods (not
// those before the taken one), and says which id.
TEST(StubRegistration, ATakenMethodIdRegistersNothingOfTheService) {
  flit::NexusConfig cfg;
  cfg.listen_uri = kServerUri;
  flit::Nexus nexus(cfg);
  nexus.register_handler(calc::CalcMethods::kAddLater,
                         [](flit::ReqHandle* h) { h->rpc()->enqueue_response(h); });
  CalcServer service;
  try {
    service.register_with(nexus);
    FAIL() << "register_with accepted a taken method id";
  } catch (const flit::Error& e) {
    EXPECT_STREQ(e.what(),
                 "CalcService::register_with: method id 2 is already registered; no method of "
                 "CalcService was registered");
  }
  EXPECT_FALSE(nexus.is_registered(calc::CalcMethods::kAdd));
  EXPECT_FALSE(nexus.is_registered(calc::CalcMethods::kUnused));
  EXPECT_TRUE(nexus.is_registered(calc::CalcMethods::kAddLater));
  EXPECT_FALSE(nexus.is_registered(60000));  // beyond the table
  // The id freed, the service registers whole on another Nexus.
  flit::Nexus other(cfg);
  service.register_with(other);
  for (uint16_t id :
       {calc::CalcMethods::kAdd, calc::CalcMethods::kAddLater, calc::CalcMethods::kUnused}) {
    EXPECT_TRUE(other.is_registered(id)) << id;
  }
}

TEST_F(StubTest, BlockingCallReturnsDecodedResponse) {
  calc::CalcClient calc(*client_, session_);
  calc::AddRequest req{{1, 2, 3, -10}, "blocking"};
  calc::AddResponse resp;
  ASSERT_EQ(calc.add(req, &resp), flit::Status::kOk);
  EXPECT_EQ(resp.sum, -4);
  EXPECT_EQ(resp.label, "blocking");
  EXPECT_EQ(resp.count, 4u);
}

TEST_F(StubTest, AsyncCallRunsContinuationWithValidatedReply) {
  calc::CalcClient calc(*client_, session_);
  flit::wire::ClientCall<calc::AddResponseView> call;
  bool done = false;
  flit::Status result = flit::Status::kInternal;
  calc::AddRequest req{{40, 2}, "async"};
  ASSERT_EQ(calc.add(req, &call,
                     [&](flit::Status st) {
                       result = st;
                       done = true;
                     }),
            flit::Status::kOk);
  wait(done);
  ASSERT_EQ(result, flit::Status::kOk);
  EXPECT_EQ(call.reply().sum(), 42);
  EXPECT_EQ(call.reply().label(), "async");

  // The same call object can be reused for the next call.
  done = false;
  ASSERT_EQ(calc.add(calc::AddRequest{{7}, "again"}, &call,
                     [&](flit::Status st) {
                       result = st;
                       done = true;
                     }),
            flit::Status::kOk);
  wait(done);
  ASSERT_EQ(result, flit::Status::kOk);
  EXPECT_EQ(call.reply().sum(), 7);
}

TEST_F(StubTest, ManyCallsInFlight) {
  calc::CalcClient calc(*client_, session_);
  constexpr int kCalls = 20;
  std::vector<std::unique_ptr<flit::wire::ClientCall<calc::AddResponseView>>> calls;
  int completed = 0, ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(std::make_unique<flit::wire::ClientCall<calc::AddResponseView>>());
    auto* c = calls.back().get();
    ASSERT_EQ(calc.add(calc::AddRequest{{i, i}, "n"}, c,
                       [&, c, i](flit::Status st) {
                         ++completed;
                         if (st == flit::Status::kOk && c->reply().sum() == 2 * i) ++ok;
                       }),
              flit::Status::kOk);
  }
  ASSERT_TRUE(client_->run_event_loop_until([&] { return completed == kCalls; }, 10s));
  EXPECT_EQ(ok, kCalls);
}

TEST_F(StubTest, ZeroCopyRequestAndResponse) {
  calc::CalcClient calc(*client_, session_);
  flit::wire::ClientCall<calc::AddResponseView> call;
  call.request() = client_->alloc_msg_buffer(256);
  flit::wire::Writer w(call.request());
  auto b = calc::AddRequestBuilder::init_root(w);
  auto values = b.init_values(3);
  values.set(0, 100);
  values.set(1, 20);
  values.set(2, 3);
  b.set_label("in place");
  ASSERT_EQ(w.finish(call.request()), flit::Status::kOk);
  bool done = false;
  flit::Status result = flit::Status::kInternal;
  ASSERT_EQ(calc.add(&call,
                     [&](flit::Status st) {
                       result = st;
                       done = true;
                     }),
            flit::Status::kOk);
  wait(done);
  ASSERT_EQ(result, flit::Status::kOk);
  EXPECT_EQ(call.reply().sum(), 123);
  EXPECT_EQ(call.reply().label(), "built in place");
  EXPECT_EQ(call.reply().count(), 3u);
}

TEST_F(StubTest, DeferredResponse) {
  calc::CalcClient calc(*client_, session_);
  flit::wire::ClientCall<calc::AddResponseView> call;
  bool done = false;
  flit::Status result = flit::Status::kInternal;
  ASSERT_EQ(calc.add_later(calc::AddRequest{{5, 6}, ""}, &call,
                           [&](flit::Status st) {
                             result = st;
                             done = true;
                           }),
            flit::Status::kOk);
  wait(done);
  ASSERT_EQ(result, flit::Status::kOk);
  EXPECT_EQ(call.reply().sum(), 11);
  EXPECT_EQ(call.reply().label(), "later: ");
}

// Two deferred requests, the first answered only after the second arrived:
// each answer is computed from its own request, read again through the
// Responder (the view the method got read a receive buffer the second
// request then took).
TEST_F(StubTest, DeferredResponseReadsItsOwnRequestLater) {
  service_.answer_when.store(2);
  calc::CalcClient calc(*client_, session_);
  flit::wire::ClientCall<calc::AddResponseView> first, second;
  int done = 0;
  flit::Status st1 = flit::Status::kInternal, st2 = flit::Status::kInternal;
  ASSERT_EQ(calc.add_later(calc::AddRequest{{1, 2}, "first"}, &first,
                           [&](flit::Status st) {
                             st1 = st;
                             done++;
                           }),
            flit::Status::kOk);
  ASSERT_TRUE(client_->run_event_loop_until([&] { return service_.later_calls.load() == 1; }, 10s));
  ASSERT_EQ(calc.add_later(calc::AddRequest{{10, 20, 30}, "second one"}, &second,
                           [&](flit::Status st) {
                             st2 = st;
                             done++;
                           }),
            flit::Status::kOk);
  ASSERT_TRUE(client_->run_event_loop_until([&] { return done == 2; }, 10s));
  ASSERT_EQ(st1, flit::Status::kOk);
  ASSERT_EQ(st2, flit::Status::kOk);
  EXPECT_EQ(first.reply().sum(), 3);
  EXPECT_EQ(first.reply().label(), "later: first");
  EXPECT_EQ(second.reply().sum(), 60);
  EXPECT_EQ(second.reply().label(), "later: second one");
}

// A Responder still held (here by a timer) when the server's Rpc is
// destroyed is dropped inside ~Rpc, as an orphan: no answer, and no use of
// the freed session or handle (an ASan build checks the latter).
TEST_F(StubTest, ResponderHeldPastTheServersEndIsDroppedSafely) {
  calc::CalcClient calc(*client_, session_);
  calc::AddResponse resp;
  EXPECT_EQ(calc.add_later(calc::AddRequest{{1}, "never"}, &resp, 200ms),
            flit::Status::kDeadlineExceeded);
  TearDown();  // the server's Rpc goes with the timer and its Responder
  EXPECT_FALSE(server_thread_.joinable());
}

// A method that returns without responding: its Responder, destroyed,
// answers kInternal, so the client hears at once (before, each call waited
// for its deadline, and the server kept its request handle for good).
TEST_F(StubTest, DroppedResponderAnswersInternal) {
  calc::CalcClient calc(*client_, session_);
  calc::AddResponse resp;
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(calc.add(calc::AddRequest{{}, "drop"}, &resp, 5s), flit::Status::kInternal) << i;
  }
  ASSERT_EQ(calc.add(calc::AddRequest{{4}, "kept"}, &resp), flit::Status::kOk);
  EXPECT_EQ(resp.sum, 4);
}

TEST_F(StubTest, MethodNotOverriddenIsUnimplemented) {
  calc::CalcClient calc(*client_, session_);
  calc::AddResponse resp;
  EXPECT_EQ(calc.unused(calc::AddRequest{}, &resp), flit::Status::kUnimplemented);
}

TEST_F(StubTest, InvalidRequestIsRejectedWithoutCallingTheService) {
  // Raw bytes that are not an AddRequest: a root header claiming more bytes
  // than the message has.
  flit::MsgBuffer req = client_->alloc_msg_buffer(8);
  const uint8_t garbage[8] = {0xFF, 0, 0, 0, 1, 2, 3, 4};
  std::memcpy(req.data(), garbage, sizeof garbage);
  flit::MsgBuffer resp = client_->alloc_msg_buffer(64);
  bool done = false;
  flit::Status result = flit::Status::kOk;
  ASSERT_EQ(client_->enqueue_request(session_, calc::CalcMethods::kAdd, &req, &resp,
                                     [&](flit::Status st) {
                                       result = st;
                                       done = true;
                                     }),
            flit::Status::kOk);
  wait(done);
  EXPECT_EQ(result, flit::Status::kInvalidArgument);
  EXPECT_EQ(service_.add_calls.load(), 0);

  // A list reference past the end of the message: also rejected.
  flit::MsgBuffer req2 = client_->alloc_msg_buffer(20);
  std::memset(req2.data(), 0, 20);
  const uint8_t hdr[] = {16, 0, 0, 0, 4, 0, 0, 0, 9, 0, 0, 0};  // values -> [4, +9*8)
  std::memcpy(req2.data(), hdr, sizeof hdr);
  done = false;
  ASSERT_EQ(client_->enqueue_request(session_, calc::CalcMethods::kAdd, &req2, &resp,
                                     [&](flit::Status st) {
                                       result = st;
                                       done = true;
                                     }),
            flit::Status::kOk);
  wait(done);
  EXPECT_EQ(result, flit::Status::kInvalidArgument);
  EXPECT_EQ(service_.add_calls.load(), 0);
}

TEST_F(StubTest, MalformedResponseCompletesWithInternal) {
  // kGarbage answers any request with bytes that are not an AddResponse; the
  // client stub validates replies and reports kInternal instead of handing
  // out a view over them.
  calc::CalcClient calc(*client_, session_);
  flit::wire::ClientCall<calc::AddResponseView> call;
  ASSERT_EQ(call.encode_request(*client_, calc::AddRequest{{1}, "x"}), flit::Status::kOk);
  bool done = false;
  flit::Status result = flit::Status::kOk;
  ASSERT_EQ(call.send(
                *client_, session_, kGarbage,
                [&](flit::Status st) {
                  result = st;
                  done = true;
                },
                flit::Duration::zero()),
            flit::Status::kOk);
  wait(done);
  EXPECT_EQ(result, flit::Status::kInternal);
}

}  // namespace
