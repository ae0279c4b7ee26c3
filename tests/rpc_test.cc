// tests/rpc_test.cc: the engine's test suite, end to end over a real
// transport. Built once per transport, linked with that transport's
// test_env() (udp_env.cc, ...): a server Rpc on its own thread, clients on the
// test thread.
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "flit/flit.h"
#include "rpc_fixture.h"

namespace flit::testing {
namespace {

TEST_F(RpcTest, ConnectAndDisconnect) {
  SessionId s = connect();
  ASSERT_NE(s, kInvalidSession);
  EXPECT_EQ(client_->session_state(s), SessionState::kConnected);
  EXPECT_EQ(client_->num_client_sessions(), 1u);
  EXPECT_NE(client_->remote_epoch(s), 0u);
  EXPECT_EQ(client_->remote_epoch(s), server_->nexus().epoch());
  EXPECT_EQ(server_->num_sessions(), 1u);

  client_->disconnect(s);
  EXPECT_EQ(client_->session_state(s), SessionState::kDisconnecting);
  ASSERT_TRUE(
      poll_until(*client_, [&] { return client_->session_state(s) == SessionState::kFree; }));
  EXPECT_EQ(client_->num_client_sessions(), 0u);
  EXPECT_EQ(server_->num_sessions(), 0u);

  // The session number is reused and works again.
  SessionId s2 = connect();
  EXPECT_EQ(s2, s);
  expect_echo(s2, 10, 1);
}

TEST_F(RpcTest, EchoEverySizeClassByteExact) {
  SessionId s = connect();
  const size_t dpp = client_->data_per_pkt();
  std::vector<size_t> sizes = {0,       1,     63,      64,      65,
                               dpp - 1, dpp,   dpp + 1, 2 * dpp, 2 * dpp + 1,
                               4096,    65536, 100'000, 1 << 20, (4 << 20) + 3};
  for (size_t c = 6; c <= 23; ++c) sizes.push_back(size_t{1} << c);  // every power of two to 8 MiB
  sizes.push_back(kDefaultMaxMsgSize);
  uint64_t seed = 1;
  for (size_t n : sizes) expect_echo(s, n, seed++);
  RpcStats st = client_->stats();
  EXPECT_EQ(st.calls_started, sizes.size());
  EXPECT_EQ(st.calls_completed, sizes.size());
  EXPECT_EQ(client_->stats().drop_bad_token, 0u);
}

TEST_F(RpcTest, EightConcurrentRequestsPerSessionAndBacklog) {
  SessionId s = connect();
  constexpr int kCalls = 64;  // 8 in the slots at once, the rest in the backlog
  std::vector<MsgBuffer> reqs, resps;
  std::vector<Status> results(kCalls, Status::kInternal);
  int done = 0;
  int max_outstanding = 0, outstanding = 0;
  for (int i = 0; i < kCalls; ++i) {
    reqs.push_back(client_->alloc_msg_buffer(100 + i * 500));  // 1 to 23 packets
    fill_random(reqs.back(), i);
    resps.push_back(client_->alloc_msg_buffer(8));
  }
  for (int i = 0; i < kCalls; ++i) {
    Status st = client_->enqueue_request(s, kEcho, &reqs[i], &resps[i], [&, i](Status r) {
      results[i] = r;
      done++;
      outstanding--;
    });
    ASSERT_EQ(st, Status::kOk);
    max_outstanding = std::max(max_outstanding, ++outstanding);
  }
  EXPECT_EQ(max_outstanding, kCalls);
  ASSERT_TRUE(poll_until(*client_, [&] { return done == kCalls; }));
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(results[i], Status::kOk) << i;
    ASSERT_EQ(resps[i].size(), reqs[i].size()) << i;
    EXPECT_EQ(std::memcmp(resps[i].data(), reqs[i].data(), reqs[i].size()), 0) << i;
  }
}

TEST_F(RpcTest, EightRequestsInFlightAtTheServerAtOnce) {
  // Deferred handlers hold their slots until the server's next loop
  // iteration; with 8 calls issued together, the server sees all 8 before
  // answering any, which needs all 8 slots of the session.
  SessionId s = connect();
  std::vector<MsgBuffer> reqs, resps;
  int done = 0;
  for (int i = 0; i < 8; ++i) {
    reqs.push_back(client_->alloc_msg_buffer(32));
    fill_random(reqs.back(), 100 + i);
    resps.push_back(client_->alloc_msg_buffer(32));
  }
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(client_->enqueue_request(s, kDeferred, &reqs[i], &resps[i],
                                       [&](Status r) { done += r == Status::kOk; }),
              Status::kOk);
  }
  ASSERT_TRUE(poll_until(*client_, [&] { return done == 8; }));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(std::memcmp(resps[i].data(), reqs[i].data(), 32), 0);
}

// A handler that throws: its call completes Internal (or with the answer it
// gave before throwing), the server goes on serving, the slot is reusable,
// and the handle and receive buffer are not leaked (checked by many calls
// through the same slots, and by every session's slots after).
TEST_F(RpcTest, HandlerThatThrowsIsAnsweredInternalAndTheServerGoesOn) {
  SessionId s = connect();
  MsgBuffer resp = client_->alloc_msg_buffer(16);
  for (int i = 0; i < 40; ++i) {
    MsgBuffer req = client_->alloc_msg_buffer(i % 2 == 0 ? 16 : 3 * client_->data_per_pkt());
    std::memset(req.data(), 0, req.size());
    req.data()[0] = static_cast<uint8_t>(i % 4 == 0 ? 1 : 0);  // answered before throwing
    Status st = client_->call(s, kThrows, req, &resp);
    if (i % 4 == 0) {
      EXPECT_EQ(st, Status::kOk) << i;
      EXPECT_EQ(resp.size(), req.size());
    } else {
      EXPECT_EQ(st, Status::kInternal) << i;
    }
    expect_echo(s, 100, static_cast<uint64_t>(i));
  }
  EXPECT_EQ(server_->stats().handler_exceptions, 40u);
  client_->disconnect(s);
  SessionId s2 = connect();
  for (int i = 0; i < 16; ++i) expect_echo(s2, 64, 1000 + static_cast<uint64_t>(i));
}

TEST_F(RpcTest, ResponseEnqueuedAfterHandlerReturned) {
  SessionId s = connect();
  // Multi-packet too: the request copy must outlive the handler.
  for (size_t n : {size_t{0}, size_t{17}, size_t{5000}}) {
    MsgBuffer req = client_->alloc_msg_buffer(n);
    fill_random(req, n);
    MsgBuffer resp = client_->alloc_msg_buffer(8);
    ASSERT_EQ(client_->call(s, kDeferred, req, &resp), Status::kOk);
    ASSERT_EQ(resp.size(), n);
    EXPECT_EQ(std::memcmp(resp.data(), req.data(), n), 0);
  }
}

TEST_F(RpcTest, UnknownMethodIsUnimplemented) {
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(4), resp = client_->alloc_msg_buffer(4);
  EXPECT_EQ(client_->call(s, 999, req, &resp), Status::kUnimplemented);
  // The session still works.
  expect_echo(s, 5, 5);
}

TEST_F(RpcTest, HandlerStatusReachesCaller) {
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(3), resp = client_->alloc_msg_buffer(4);
  EXPECT_EQ(client_->call(s, kSized, req, &resp), Status::kInvalidArgument);
}

// A one-packet response in a buffer without header room (allocated large,
// then shrunk): packet 0's header goes in the send batch.
TEST_F(RpcTest, OnePacketResponseFromALargeBufferShrunk) {
  SessionId s = connect();
  for (size_t size : {size_t{0}, size_t{32}, size_t{1000}}) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      MsgBuffer req = client_->alloc_msg_buffer(size);
      fill_random(req, seed);
      MsgBuffer resp = client_->alloc_msg_buffer(16);
      ASSERT_EQ(client_->call(s, kShrunk, req, &resp), Status::kOk) << size;
      ASSERT_EQ(resp.size(), size);
      EXPECT_EQ(std::memcmp(resp.data(), req.data(), size), 0) << size;
    }
  }
}

// Something else in call()'s event loop throws (here a timer): the call
// is cancelled before the exception leaves call(), so its continuation,
// which writes into call()'s frame, never runs after that frame is gone.
TEST_F(RpcTest, CallLeftByAnExceptionIsCancelledFirst) {
  SessionId s = connect();
  const RpcStats before = client_->stats();
  client_->schedule(Duration::zero(), [] { throw std::runtime_error("a timer's failure"); });
  MsgBuffer req = client_->alloc_msg_buffer(8), resp = client_->alloc_msg_buffer(8);
  EXPECT_THROW((void)client_->call(s, kBlackhole, req, &resp), std::runtime_error);
  const RpcStats after = client_->stats();
  EXPECT_EQ(after.calls_started, before.calls_started + 1);
  EXPECT_EQ(after.calls_completed, after.calls_started) << "the call is still outstanding";
  EXPECT_EQ(after.calls_cancelled, before.calls_cancelled + 1);
}

TEST_F(RpcTest, ResponseGrowsTheCallersBuffer) {
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(8), resp = client_->alloc_msg_buffer(1);
  uint64_t n = 300'000;
  std::memcpy(req.data(), &n, 8);
  ASSERT_EQ(client_->call(s, kSized, req, &resp), Status::kOk);
  ASSERT_EQ(resp.size(), n);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(resp.data()[i], static_cast<uint8_t>(i * 7)) << i;
}

// A one-packet request whose response has several packets: the server sends
// the first kDefaultEagerResponsePkts with packet 0, unasked; the client asks
// for each one after those with a request-for-response. Counted in the
// packets the client sends per call.
TEST_F(RpcTest, ResponseStartComesUnaskedTheRestOnRequest) {
  SessionId s = connect();
  const size_t dpp = client_->data_per_pkt();
  const uint64_t eager = kDefaultEagerResponsePkts;
  ASSERT_GT(eager, 1u);
  for (uint64_t pkts : {uint64_t{1}, uint64_t{2}, eager, eager + 1, eager + 3}) {
    MsgBuffer req = client_->alloc_msg_buffer(8), resp = client_->alloc_msg_buffer(1);
    const uint64_t n = (pkts - 1) * dpp + 1;  // pkts packets, the last with one byte
    std::memcpy(req.data(), &n, 8);
    const uint64_t before = client_->stats().pkts_tx;
    const uint64_t resent_before = client_->stats().retransmissions;
    ASSERT_EQ(client_->call(s, kSized, req, &resp), Status::kOk) << pkts;
    // Packets resent because a round trip outlasted the RTO (5 ms: a
    // descheduled thread on a loaded 2-core machine) are not the protocol's.
    const uint64_t sent =
        client_->stats().pkts_tx - before - (client_->stats().retransmissions - resent_before);
    ASSERT_EQ(resp.size(), n);
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(resp.data()[i], static_cast<uint8_t>(i * 7)) << i;
    // The request, and one request-for-response per packet past the eager ones.
    EXPECT_EQ(sent, 1 + (pkts > eager ? pkts - eager : 0)) << pkts << "-packet response";
  }
}

TEST_F(RpcTest, CallPastItsDeadlineIsDeadlineExceeded) {
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(4), resp = client_->alloc_msg_buffer(4);
  EXPECT_EQ(client_->call(s, kBlackhole, req, &resp, 50ms), Status::kDeadlineExceeded);
  // Other slots of the session are unaffected.
  expect_echo(s, 100, 9);
}

TEST_F(RpcTest, NestedRpcFromHandler) {
  // Front server: its handler for kNested calls kEcho on the back server (the
  // fixture's) and answers with the reply. Its session to the back server is
  // opened from the front server's own thread.
  struct Front {
    SessionId backend = kInvalidSession;
    struct Call {
      ReqHandle* h;
      MsgBuffer req, resp;
    };
    std::deque<Call> calls;
  } front;
  ServerThread front_server(test_env().server_config(), [&front](Nexus& n) {
    n.register_handler(kNested, [f = &front](ReqHandle* h) {
      Rpc* rpc = h->rpc();
      f->calls.push_back({h, rpc->alloc_msg_buffer(h->request().size()), rpc->alloc_msg_buffer(8)});
      Front::Call* c = &f->calls.back();
      std::memcpy(c->req.data(), h->request().data(), h->request().size());
      Status st = rpc->enqueue_request(f->backend, kEcho, &c->req, &c->resp, [c, rpc](Status r) {
        if (r != Status::kOk) {
          rpc->enqueue_response(c->h, r);
          return;
        }
        MsgBuffer& out = c->h->init_response(c->resp.size());
        std::memcpy(out.data(), c->resp.data(), c->resp.size());
        rpc->enqueue_response(c->h);
      });
      if (st != Status::kOk) rpc->enqueue_response(h, st);
    });
  });
  bool connected = false;
  std::string back_uri = server_->uri();
  front_server.run_on_server([&](Rpc& r) {
    front.backend = r.create_session(
        back_uri, [&connected](SessionId, Status st) { connected = st == Status::kOk; });
  });
  bool ok = false;
  for (int i = 0; i < 3000 && !ok; ++i) {
    front_server.run_on_server([&](Rpc&) { ok = connected; });
  }
  ASSERT_TRUE(ok);

  SessionId s = kInvalidSession;
  ASSERT_EQ(client_->connect(front_server.uri(), &s), Status::kOk);
  for (size_t n : {size_t{1}, size_t{3000}, size_t{200'000}}) {
    MsgBuffer req = client_->alloc_msg_buffer(n);
    fill_random(req, n);
    MsgBuffer resp = client_->alloc_msg_buffer(8);
    ASSERT_EQ(client_->call(s, kNested, req, &resp), Status::kOk);
    ASSERT_EQ(resp.size(), n);
    EXPECT_EQ(std::memcmp(resp.data(), req.data(), n), 0);
  }
  EXPECT_EQ(server_->stats().requests_handled, 3u);  // the back server ran kEcho 3 times
  // The calls' buffers belong to the front server's Rpc: free them there.
  front_server.run_on_server([&](Rpc&) { front.calls.clear(); });
}

TEST_F(RpcTest, ServerWith512ClientSessions) {
  constexpr int kSessions = 512;
  std::vector<SessionId> ids;
  int connected = 0, failed = 0;
  for (int i = 0; i < kSessions; ++i) {
    ids.push_back(client_->create_session(
        server_->uri(), [&](SessionId, Status st) { (st == Status::kOk ? connected : failed)++; }));
  }
  ASSERT_TRUE(poll_until(*client_, [&] { return connected + failed == kSessions; }));
  ASSERT_EQ(connected, kSessions);
  EXPECT_EQ(server_->num_sessions(), static_cast<uint32_t>(kSessions));

  // One call on every session, all in flight together.
  std::vector<MsgBuffer> reqs, resps;
  int done = 0;
  for (int i = 0; i < kSessions; ++i) {
    reqs.push_back(client_->alloc_msg_buffer(8));
    uint64_t v = i;
    std::memcpy(reqs.back().data(), &v, 8);
    resps.push_back(client_->alloc_msg_buffer(8));
  }
  for (int i = 0; i < kSessions; ++i) {
    ASSERT_EQ(client_->enqueue_request(ids[i], kEcho, &reqs[i], &resps[i],
                                       [&](Status r) { done += r == Status::kOk ? 1 : 1000; }),
              Status::kOk);
  }
  ASSERT_TRUE(poll_until(*client_, [&] { return done >= kSessions; }));
  EXPECT_EQ(done, kSessions);
  for (int i = 0; i < kSessions; ++i) {
    uint64_t v;
    std::memcpy(&v, resps[i].data(), 8);
    EXPECT_EQ(v, static_cast<uint64_t>(i));
  }
  for (SessionId id : ids) client_->disconnect(id);
  ASSERT_TRUE(poll_until(*client_, [&] { return client_->num_client_sessions() == 0; }));
  EXPECT_EQ(server_->num_sessions(), 0u);
}

TEST_F(RpcTest, DisconnectCancelsOutstandingCalls) {
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(4), resp = client_->alloc_msg_buffer(4);
  Status got = Status::kOk;
  int runs = 0;
  ASSERT_EQ(client_->enqueue_request(s, kBlackhole, &req, &resp,
                                     [&](Status r) {
                                       got = r;
                                       runs++;
                                     }),
            Status::kOk);
  client_->disconnect(s);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(got, Status::kCancelled);
  EXPECT_EQ(client_->enqueue_request(s, kEcho, &req, &resp, [](Status) {}), Status::kUnavailable);
  ASSERT_TRUE(
      poll_until(*client_, [&] { return client_->session_state(s) == SessionState::kFree; }));
  EXPECT_EQ(runs, 1);
}

// The first continuation disconnect() runs throws: the others still run,
// the server is still told, and the session is still freed; the exception
// reaches disconnect()'s caller.
TEST_F(RpcTest, DisconnectWhoseContinuationThrowsStillCompletesEveryCall) {
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(4);
  std::vector<MsgBuffer> resps;
  for (int i = 0; i < 3; ++i) resps.push_back(client_->alloc_msg_buffer(4));
  int cancelled = 0;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(client_->enqueue_request(s, kBlackhole, &req, &resps[i],
                                       [&, i](Status r) {
                                         cancelled += r == Status::kCancelled;
                                         if (i == 0) throw std::runtime_error("continuation 0");
                                       }),
              Status::kOk);
  }
  EXPECT_THROW(client_->disconnect(s), std::runtime_error);
  EXPECT_EQ(cancelled, 3);
  ASSERT_TRUE(
      poll_until(*client_, [&] { return client_->session_state(s) == SessionState::kFree; }));
  ASSERT_TRUE(poll_until(*client_, [&] { return server_->num_sessions() == 0; }))
      << "the server was not told";
}

// disconnect() called outside the event loop runs its continuations as
// from the loop: one that polls (here a blocking call()) is refused, as in
// any continuation. Polling there could take in the disconnect's ack and
// free the session disconnect() is still walking.
TEST_F(RpcTest, DisconnectsContinuationsCannotPoll) {
  SessionId a = connect(), b = connect();
  MsgBuffer req = client_->alloc_msg_buffer(4), resp = client_->alloc_msg_buffer(4);
  MsgBuffer req2 = client_->alloc_msg_buffer(4), resp2 = client_->alloc_msg_buffer(4);
  int runs = 0;
  bool refused = false;
  ASSERT_EQ(client_->enqueue_request(a, kBlackhole, &req, &resp,
                                     [&](Status) {
                                       runs++;
                                       try {
                                         (void)client_->call(b, kEcho, req2, &resp2);
                                       } catch (const Error&) {
                                         refused = true;
                                       }
                                     }),
            Status::kOk);
  client_->disconnect(a);
  EXPECT_EQ(runs, 1);
  EXPECT_TRUE(refused);
  ASSERT_TRUE(
      poll_until(*client_, [&] { return client_->session_state(a) == SessionState::kFree; }));
  expect_echo(b, 16, 5);  // b and the loop are fine
}

TEST_F(RpcTest, RequestLargerThanServerAcceptsIsRejected) {
  NexusConfig small = test_env().server_config();
  small.max_msg_size = 4096;
  ServerThread tiny(small, [](Nexus& n) { n.register_handler(kEcho, echo); });
  SessionId s = kInvalidSession;
  ASSERT_EQ(client_->connect(tiny.uri(), &s), Status::kOk);
  MsgBuffer big = client_->alloc_msg_buffer(4097), resp = client_->alloc_msg_buffer(8);
  EXPECT_EQ(client_->enqueue_request(s, kEcho, &big, &resp, [](Status) {}),
            Status::kInvalidArgument);
  big.resize(4096);
  EXPECT_EQ(client_->call(s, kEcho, big, &resp), Status::kOk);
}

// A server whose reassembly budget is below its maximum message size says
// so at the handshake: a request it could never take is refused at the
// caller (before, its packets were dropped until the session failed).
TEST_F(RpcTest, RequestLargerThanTheServersReassemblyBudgetIsRejected) {
  NexusConfig small = test_env().server_config();
  small.session_reassembly_budget = 64 << 10;
  ServerThread tight(small, [](Nexus& n) { n.register_handler(kEcho, echo); });
  SessionId s = kInvalidSession;
  ASSERT_EQ(client_->connect(tight.uri(), &s), Status::kOk);
  MsgBuffer big = client_->alloc_msg_buffer((64 << 10) + 1), resp = client_->alloc_msg_buffer(8);
  EXPECT_EQ(client_->enqueue_request(s, kEcho, &big, &resp, [](Status) {}),
            Status::kInvalidArgument);
  big.resize(64 << 10);
  EXPECT_EQ(client_->call(s, kEcho, big, &resp), Status::kOk);
}

// A CallId names one call: once its session is freed and the number given
// to a new session, cancel() of the old id finds nothing, and the new
// session's call goes on.
TEST_F(RpcTest, CancelOfACallIdFromAFreedSessionCancelsNothing) {
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(4), resp = client_->alloc_msg_buffer(4),
            resp2 = client_->alloc_msg_buffer(4);
  CallId old_id = kInvalidCall;
  bool done = false;
  ASSERT_EQ(client_->enqueue_request(
                s, kEcho, &req, &resp, [&](Status) { done = true; }, Duration::zero(), &old_id),
            Status::kOk);
  ASSERT_TRUE(poll_until(*client_, [&] { return done; }));
  client_->disconnect(s);
  ASSERT_TRUE(
      poll_until(*client_, [&] { return client_->session_state(s) == SessionState::kFree; }));
  SessionId s2 = connect();
  ASSERT_EQ(s2, s);  // the number is reused
  CallId new_id = kInvalidCall;
  int runs = 0;
  Status got = Status::kOk;
  ASSERT_EQ(client_->enqueue_request(
                s2, kBlackhole, &req, &resp2,
                [&](Status r) {
                  runs++;
                  got = r;
                },
                Duration::zero(), &new_id),
            Status::kOk);
  EXPECT_NE(new_id, old_id);
  EXPECT_FALSE(client_->cancel(old_id));
  EXPECT_EQ(runs, 0);
  EXPECT_TRUE(client_->cancel(new_id));
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(got, Status::kCancelled);
}

// A call whose last request packet waits for the eager credits it needs
// holds back the calls started after it; if it ends before it could send
// that packet (cancelled here, before any answer came back), they go at
// once, not at their deadlines.
TEST_F(RpcTest, CallsBehindACreditWaiterGoWhenItIsCancelled) {
  SessionId s = connect();
  // kSessionCredits - 1 packets: all but the last go, leaving one credit,
  // fewer than the kDefaultEagerResponsePkts the last one needs.
  MsgBuffer big = client_->alloc_msg_buffer(client_->data_per_pkt() * (kSessionCredits - 1));
  MsgBuffer big_resp = client_->alloc_msg_buffer(4);
  MsgBuffer req = client_->alloc_msg_buffer(4), resp = client_->alloc_msg_buffer(4);
  std::memset(req.data(), 5, 4);
  CallId big_id = kInvalidCall;
  Status big_st = Status::kInternal, st = Status::kInternal;
  ASSERT_EQ(
      client_->enqueue_request(
          s, kEcho, &big, &big_resp, [&](Status r) { big_st = r; }, Duration::zero(), &big_id),
      Status::kOk);
  ASSERT_EQ(client_->enqueue_request(
                s, kEcho, &req, &resp, [&](Status r) { st = r; }, std::chrono::seconds(2)),
            Status::kOk);
  EXPECT_TRUE(client_->cancel(big_id));
  EXPECT_EQ(big_st, Status::kCancelled);
  ASSERT_TRUE(poll_until(*client_, [&] { return st != Status::kInternal; }));
  EXPECT_EQ(st, Status::kOk);
  EXPECT_EQ(std::memcmp(resp.data(), req.data(), 4), 0);
}

// A call started by a continuation that disconnect() runs from outside the
// event loop takes its deadline from the time of that call, not from the
// last loop iteration's clock reading (here 2 s old: a test clock jumps
// ahead, by less than the idle timeout; the call's deadline is 1 s).
TEST_F(RpcTest, ACallStartedFromDisconnectOutsideTheLoopTakesItsDeadlineFromNow) {
  struct TestClock {  // the steady clock, plus a jump
    std::atomic<uint64_t> ahead_ns{0};
    static uint64_t read(void* self) {
      const auto t = std::chrono::steady_clock::now().time_since_epoch();
      return static_cast<uint64_t>(std::chrono::nanoseconds(t).count()) +
             static_cast<TestClock*>(self)->ahead_ns.load();
    }
  } clock;
  NexusConfig cfg = test_env().client_config();
  cfg.clock = &TestClock::read;
  cfg.clock_ctx = &clock;
  Nexus nexus(cfg);
  Rpc rpc(nexus, 0);
  SessionId s1 = kInvalidSession, s2 = kInvalidSession;
  ASSERT_EQ(rpc.connect(server_->uri(), &s1), Status::kOk);
  ASSERT_EQ(rpc.connect(server_->uri(), &s2), Status::kOk);
  MsgBuffer held = rpc.alloc_msg_buffer(4), held_resp = rpc.alloc_msg_buffer(4);
  MsgBuffer req = rpc.alloc_msg_buffer(4), resp = rpc.alloc_msg_buffer(4);
  std::memset(req.data(), 9, 4);
  Status held_st = Status::kInternal, st = Status::kInternal;
  ASSERT_EQ(rpc.enqueue_request(s1, kBlackhole, &held, &held_resp,
                                [&](Status r) {
                                  held_st = r;
                                  EXPECT_EQ(rpc.enqueue_request(
                                                s2, kEcho, &req, &resp, [&](Status r2) { st = r2; },
                                                std::chrono::seconds(1)),
                                            Status::kOk);
                                }),
            Status::kOk);
  rpc.run_event_loop_once();        // sends it; reads the clock
  clock.ahead_ns += 2'000'000'000;  // away from the loop
  rpc.disconnect(s1);
  ASSERT_NE(held_st, Status::kInternal);
  ASSERT_TRUE(poll_until(rpc, [&] { return st != Status::kInternal; }));
  EXPECT_EQ(st, Status::kOk);
  EXPECT_EQ(std::memcmp(resp.data(), req.data(), 4), 0);
}

// Destroying a client Rpc completes what it owes, once each, with
// kCancelled: calls in the slots and in the backlog, a retried call waiting
// for its next attempt, and a connect under way.
TEST_F(RpcTest, DestroyingTheClientCompletesEveryOutstandingCall) {
  NexusConfig cc = test_env().client_config();
  cc.backlog = 1;
  client_.reset();  // the same transport endpoint, with a one-call backlog
  client_nexus_ = std::make_unique<Nexus>(cc);
  client_ = std::make_unique<Rpc>(*client_nexus_, 0);
  SessionId s = connect();
  constexpr int kCalls = kSessionSlots + 2;  // the slots, the backlog, a retried call
  MsgBuffer req = client_->alloc_msg_buffer(4);
  std::vector<MsgBuffer> resp;
  for (int i = 0; i < kCalls; ++i) resp.push_back(client_->alloc_msg_buffer(4));
  int runs[kCalls] = {};
  Status got[kCalls] = {};
  int completed = 0;
  // Each continuation gives its buffers back, as an application would
  // before the Rpc (and its pool) is gone.
  auto cont = [&](int i) {
    return [&, i](Status st) {
      runs[i]++;
      got[i] = st;
      resp[static_cast<size_t>(i)].release();
      if (++completed == kCalls) req.release();
    };
  };
  for (int i = 0; i < kCalls - 1; ++i) {
    ASSERT_EQ(client_->enqueue_request(s, kBlackhole, &req, &resp[static_cast<size_t>(i)], cont(i)),
              Status::kOk)
        << i;
  }
  RetryPolicy p;
  p.max_attempts = 3;
  p.initial_backoff = std::chrono::seconds(30);  // refused now (backlog full): waits
  ASSERT_EQ(client_->enqueue_request_with_retry(s, kBlackhole, &req, &resp[kCalls - 1],
                                                cont(kCalls - 1), p),
            Status::kOk);
  int connect_runs = 0;
  Status connect_st = Status::kOk;
  client_->create_session(server_->uri(), [&](SessionId, Status st) {
    connect_runs++;
    connect_st = st;
  });  // its answer is never read: the loop is not polled again
  EXPECT_EQ(completed, 0);
  client_.reset();
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(runs[i], 1) << i;
    EXPECT_EQ(got[i], Status::kCancelled) << i;
  }
  EXPECT_EQ(connect_runs, 1);
  EXPECT_EQ(connect_st, Status::kCancelled);
  EXPECT_FALSE(req.valid());
}

TEST_F(RpcTest, ResponseLargerThanClientAcceptsIsResponseTooLarge) {
  NexusConfig cc = test_env().client_config();
  cc.max_msg_size = 10'000;
  Nexus small_nexus(cc);
  Rpc small_client(small_nexus, 1);
  SessionId s = kInvalidSession;
  ASSERT_EQ(small_client.connect(server_->uri(), &s), Status::kOk);
  MsgBuffer req = small_client.alloc_msg_buffer(8), resp = small_client.alloc_msg_buffer(8);
  uint64_t n = 20'000;
  std::memcpy(req.data(), &n, 8);
  EXPECT_EQ(small_client.call(s, kSized, req, &resp), Status::kResponseTooLarge);
  // It ran: the retry helper must not run it again unless it is idempotent.
  RetryPolicy p;
  p.max_attempts = 4;
  const uint64_t handled = server_->stats().requests_handled;
  Status got = Status::kOk;
  bool done = false;
  ASSERT_EQ(small_client.enqueue_request_with_retry(
                s, kSized, &req, &resp,
                [&](Status st) {
                  done = true;
                  got = st;
                },
                p),
            Status::kOk);
  const auto until = std::chrono::steady_clock::now() + 10s;  // bounded
  while (!done && std::chrono::steady_clock::now() < until) small_client.run_event_loop_once();
  ASSERT_TRUE(done);
  EXPECT_EQ(got, Status::kResponseTooLarge);
  EXPECT_EQ(server_->stats().requests_handled, handled + 1);
  EXPECT_EQ(small_client.stats().call_retries, 0u);
  n = 10'000;
  std::memcpy(req.data(), &n, 8);
  EXPECT_EQ(small_client.call(s, kSized, req, &resp), Status::kOk);
  EXPECT_EQ(resp.size(), 10'000u);
}

// More worker threads than a Nexus may have is refused when it is
// configured, with the limit, not when the system runs out of threads.
TEST(NexusConfigTest, TooManyWorkerThreadsIsAClearError) {
  NexusConfig c = test_env().client_config();
  c.num_worker_threads = 1'000'000;
  try {
    Nexus n(c);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_worker_threads must be at most 4096"),
              std::string::npos)
        << e.what();
  }
  c.num_worker_threads = NexusConfig::kMaxWorkerThreads;
  EXPECT_NO_THROW(Nexus{c});
}

TEST_F(RpcTest, MessageBeyondConfiguredMaximumIsAClearError) {
  try {
    (void)client_->alloc_msg_buffer(kDefaultMaxMsgSize + 1);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the maximum message size"), std::string::npos)
        << e.what();
  }
}

TEST_F(RpcTest, LossOnBothSidesIsRecoveredAndHandlersRunOnce) {
  // 5% of packets dropped on receive and on send, at both ends: every call
  // still completes Ok with the right bytes, and the server ran the handler
  // exactly once per call (retransmitted requests get the stored response).
  server_->run_on_server([](Rpc& r) { r.set_fault_injection({0.05, 0.05, 7}); });
  client_->set_fault_injection({0.05, 0.05, 11});
  SessionId s = kInvalidSession;
  for (int attempt = 0; attempt < 20 && s == kInvalidSession; ++attempt) {
    if (client_->connect(server_->uri(), &s) != Status::kOk) s = kInvalidSession;
  }
  ASSERT_NE(s, kInvalidSession);
  constexpr int kCalls = 600;
  ASSERT_NO_FATAL_FAILURE(echo_calls_all_ok(*client_, s, kEcho, kCalls));
  RpcStats cs = client_->stats();
  EXPECT_GT(cs.fault_drops, 0u);
  EXPECT_GT(cs.retransmissions, 0u);
  RpcStats ss = server_->stats();
  EXPECT_GT(ss.fault_drops, 0u);
  EXPECT_EQ(ss.requests_handled, static_cast<uint64_t>(kCalls));
}

// --- Rpc::post: other threads hand work to the owner ----------------------

TEST_F(RpcTest, PostsFromManyThreadsRunExactlyOnceOnTheOwner) {
  NexusConfig cc = test_env().client_config();
  cc.post_ring_capacity = 64;  // small: producers find it full and retry
  Nexus nexus(cc);
  Rpc rpc(nexus, 1);
  constexpr int kThreads = 4, kPerThread = 5'000, kTotal = kThreads * kPerThread;
  struct State {
    std::thread::id owner;
    std::vector<int> runs = std::vector<int>(kTotal, 0);  // touched on the owner only
    int total = 0;
    int off_owner = 0;
  } st;
  st.owner = std::this_thread::get_id();
  std::atomic<uint64_t> refused{0};
  std::atomic<int> producers_done{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int k = t * kPerThread + i;
        Rpc::PostedFn fn = [s = &st, k] {
          s->runs[k]++;
          s->total++;
          if (std::this_thread::get_id() != s->owner) s->off_owner++;
        };
        while (!rpc.post(std::move(fn))) {
          ASSERT_TRUE(static_cast<bool>(fn));  // a refused fn is left to the caller
          refused.fetch_add(1, std::memory_order_relaxed);
          std::this_thread::yield();
        }
      }
      producers_done.fetch_add(1);
    });
  }
  // Poll until every producer has posted everything (the owner must keep
  // draining for them to finish), then drain what is left.
  bool all = poll_until(
      rpc, [&] { return producers_done.load() == kThreads; }, std::chrono::seconds(120));
  for (auto& p : producers) p.join();
  ASSERT_TRUE(all);
  for (uint32_t i = 0; i <= cc.post_ring_capacity / kPostsPerLoop; ++i) rpc.run_event_loop_once();
  EXPECT_EQ(st.total, kTotal);
  EXPECT_EQ(st.off_owner, 0);
  for (int k = 0; k < kTotal; ++k) ASSERT_EQ(st.runs[k], 1) << "posted function " << k;
  EXPECT_EQ(rpc.stats().posts_run, static_cast<uint64_t>(kTotal));
}

TEST_F(RpcTest, PostRingFullIsRefusedAndDrainIsBoundedPerLoop) {
  NexusConfig cc = test_env().client_config();
  cc.post_ring_capacity = 2 * kPostsPerLoop;
  Nexus nexus(cc);
  Rpc rpc(nexus, 1);
  int ran = 0;
  for (uint32_t i = 0; i < 2 * kPostsPerLoop; ++i) ASSERT_TRUE(rpc.post([&ran] { ran++; })) << i;
  EXPECT_FALSE(rpc.post([&ran] { ran += 1000; }));  // full: refused, never run
  rpc.run_event_loop_once();
  EXPECT_EQ(ran, static_cast<int>(kPostsPerLoop));  // a bounded number per iteration
  rpc.run_event_loop_once();
  EXPECT_EQ(ran, static_cast<int>(2 * kPostsPerLoop));
  rpc.run_event_loop_once();
  EXPECT_EQ(ran, static_cast<int>(2 * kPostsPerLoop));
}

TEST_F(RpcTest, PostedFunctionIssuesACall) {
  // Another thread starts a call through the owner: the posted function runs
  // in the event loop, where enqueue_request is allowed.
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(300), resp = client_->alloc_msg_buffer(8);
  fill_random(req, 77);
  Status result = Status::kInternal;
  bool done = false;
  struct Ctx {
    Rpc* rpc;
    SessionId s;
    MsgBuffer *req, *resp;
    Status* result;
    bool* done;
  } ctx{client_.get(), s, &req, &resp, &result, &done};
  std::thread other([&ctx] {
    bool posted = ctx.rpc->post([c = &ctx] {
      Status st = c->rpc->enqueue_request(c->s, kEcho, c->req, c->resp, [c](Status r) {
        *c->result = r;
        *c->done = true;
      });
      if (st != Status::kOk) {
        *c->result = st;
        *c->done = true;
      }
    });
    EXPECT_TRUE(posted);
  });
  other.join();
  ASSERT_TRUE(poll_until(*client_, [&] { return done; }));
  EXPECT_EQ(result, Status::kOk);
  ASSERT_EQ(resp.size(), req.size());
  EXPECT_EQ(std::memcmp(resp.data(), req.data(), req.size()), 0);
}

// --- Worker-thread handlers ------------------------------------------------

inline constexpr uint16_t kWorkerEcho = 20;
inline constexpr uint16_t kWorkerSized = 21;
inline constexpr uint16_t kWorkerGate = 22;   // waits for the test to open the gate, then echoes
inline constexpr uint16_t kWorkerThrow = 23;  // throws
// Answers from another thread it starts and joins, then throws.
inline constexpr uint16_t kWorkerHandOffThenThrow = 24;

class WorkerTest : public RpcTest {
 protected:
  void SetUp() override {
    NexusConfig sc = test_env().server_config();
    sc.num_worker_threads = 2;
    server_ = std::make_unique<ServerThread>(
        sc,
        [this](Nexus& n) {
          register_all(n, &state_);
          n.register_handler(kWorkerEcho, echo, HandlerMode::kWorker);
          n.register_handler(kWorkerSized, sized, HandlerMode::kWorker);
          n.register_handler(
              kWorkerGate,
              [g = &gate_](ReqHandle* h) {
                g->pass();
                echo(h);
              },
              HandlerMode::kWorker);
          n.register_handler(
              kWorkerThrow, [](ReqHandle*) { throw std::runtime_error("handler failed"); },
              HandlerMode::kWorker);
          n.register_handler(
              kWorkerHandOffThenThrow,
              [](ReqHandle* h) {
                std::thread([h] { echo(h); }).join();
                throw std::runtime_error("failed after its answer was given elsewhere");
              },
              HandlerMode::kWorker);
        },
        [this](Rpc& r) { answer_deferred(&state_, r); });
    client_nexus_ = std::make_unique<Nexus>(test_env().client_config());
    client_ = std::make_unique<Rpc>(*client_nexus_, 0);
  }
  void TearDown() override {
    gate_.release();  // a failed test must not leave a worker blocked
    RpcTest::TearDown();
  }

  // Polls the client and checks pred on the server's thread until it holds;
  // bounded.
  template <typename Pred>
  bool server_until(Pred pred) {
    return poll_until(*client_, [&] {
      bool ok = false;
      server_->run_on_server([&](Rpc& r) { ok = pred(r); });
      return ok;
    });
  }

  Gate gate_;
};

TEST_F(WorkerTest, WorkerHandlerResponseIsByteExact) {
  SessionId s = connect();
  const size_t dpp = client_->data_per_pkt();
  std::vector<size_t> sizes = {0,    1,     63,      dpp - 1, dpp,          dpp + 1,
                               5000, 65536, 100'000, 1 << 20, (2 << 20) + 3};
  uint64_t seed = 500;
  for (size_t n : sizes) {
    MsgBuffer req = client_->alloc_msg_buffer(n);
    fill_random(req, seed++);
    MsgBuffer resp = client_->alloc_msg_buffer(8);
    ASSERT_EQ(client_->call(s, kWorkerEcho, req, &resp), Status::kOk) << n;
    ASSERT_EQ(resp.size(), n);
    EXPECT_EQ(std::memcmp(resp.data(), req.data(), n), 0) << n;
  }
  // A response the worker writes itself, larger than its request.
  MsgBuffer req = client_->alloc_msg_buffer(8), resp = client_->alloc_msg_buffer(8);
  uint64_t n = 300'000;
  std::memcpy(req.data(), &n, 8);
  ASSERT_EQ(client_->call(s, kWorkerSized, req, &resp), Status::kOk);
  ASSERT_EQ(resp.size(), n);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(resp.data()[i], static_cast<uint8_t>(i * 7)) << i;
  // A status from a worker handler, and a handler that throws.
  req.resize(3);
  EXPECT_EQ(client_->call(s, kWorkerSized, req, &resp), Status::kInvalidArgument);
  EXPECT_EQ(client_->call(s, kWorkerThrow, req, &resp), Status::kInternal);
  RpcStats ss = server_->stats();
  EXPECT_EQ(ss.requests_to_workers, sizes.size() + 3);
  EXPECT_EQ(ss.requests_handled, sizes.size() + 3);
  EXPECT_EQ(ss.handler_exceptions, 1u);
  expect_echo(s, 100, 1);  // the session is fine
}

// A worker handler that passes its handle to another thread, which
// answers, and then throws: the answer stands and the throw is only
// reported. Before, the throw answered a second time, which freed the
// handle twice and wrapped the count of requests at workers, so every
// later worker request was refused.
TEST_F(WorkerTest, ThrowAfterTheHandleWasAnsweredElsewhereAnswersOnce) {
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(64), resp = client_->alloc_msg_buffer(64);
  fill_random(req, 9);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(client_->call(s, kWorkerHandOffThenThrow, req, &resp), Status::kOk) << i;
    ASSERT_EQ(resp.size(), req.size());
    EXPECT_EQ(std::memcmp(resp.data(), req.data(), req.size()), 0);
  }
  expect_echo(s, 100, 1);
  MsgBuffer wreq = client_->alloc_msg_buffer(10), wresp = client_->alloc_msg_buffer(10);
  EXPECT_EQ(client_->call(s, kWorkerEcho, wreq, &wresp), Status::kOk);
  RpcStats ss = server_->stats();
  EXPECT_EQ(ss.handler_exceptions, 20u);
  EXPECT_EQ(ss.worker_rejected, 0u);
}

TEST_F(WorkerTest, InlineHandlersServedWhileWorkerHandlerBlocks) {
  SessionId s = connect();
  MsgBuffer greq = client_->alloc_msg_buffer(700), gresp = client_->alloc_msg_buffer(8);
  fill_random(greq, 42);
  Status gst = Status::kInternal;
  int gdone = 0;
  ASSERT_EQ(client_->enqueue_request(s, kWorkerGate, &greq, &gresp,
                                     [&](Status r) {
                                       gst = r;
                                       gdone++;
                                     }),
            Status::kOk);
  ASSERT_TRUE(poll_until(*client_, [&] { return gate_.entered.load() == 1; }));
  // The worker is blocked; the same server Rpc keeps answering inline calls.
  for (int i = 0; i < 50; ++i) expect_echo(s, 10 + i * 40, 900 + i);
  // Let retransmissions of the blocked request reach the server: they are
  // answered "still running", the handler does not run again.
  ASSERT_TRUE(poll_until(*client_, [&] { return client_->stats().retransmissions > 0; }));
  ASSERT_TRUE(server_until([](Rpc& r) { return r.stats().pings_sent > 0; }));
  EXPECT_EQ(gdone, 0);
  EXPECT_EQ(gate_.entered.load(), 1);
  gate_.release();
  ASSERT_TRUE(poll_until(*client_, [&] { return gdone != 0; }));
  EXPECT_EQ(gdone, 1);
  EXPECT_EQ(gst, Status::kOk);
  ASSERT_EQ(gresp.size(), greq.size());
  EXPECT_EQ(std::memcmp(gresp.data(), greq.data(), greq.size()), 0);
  EXPECT_EQ(gate_.entered.load(), 1);
  RpcStats ss = server_->stats();
  EXPECT_EQ(ss.requests_to_workers, 1u);
  EXPECT_EQ(ss.requests_handled, 51u);
}

TEST_F(WorkerTest, ManyConcurrentWorkerCalls) {
  constexpr int kSessions = 4, kPerSession = 64, kCalls = kSessions * kPerSession;
  std::vector<SessionId> ss;
  for (int i = 0; i < kSessions; ++i) ss.push_back(connect());
  std::vector<MsgBuffer> reqs, resps;
  std::vector<Status> results(kCalls, Status::kInternal);
  int done = 0;
  for (int i = 0; i < kCalls; ++i) {
    reqs.push_back(client_->alloc_msg_buffer(i % 5 == 0 ? 0 : 1 + (i * 97) % 4000));
    fill_random(reqs.back(), 3000 + i);
    resps.push_back(client_->alloc_msg_buffer(8));
  }
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(client_->enqueue_request(ss[i % kSessions], kWorkerEcho, &reqs[i], &resps[i],
                                       [&, i](Status r) {
                                         results[i] = r;
                                         done++;
                                       }),
              Status::kOk);
  }
  ASSERT_TRUE(poll_until(*client_, [&] { return done == kCalls; }));
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(results[i], Status::kOk) << i;
    ASSERT_EQ(resps[i].size(), reqs[i].size()) << i;
    ASSERT_EQ(std::memcmp(resps[i].data(), reqs[i].data(), reqs[i].size()), 0) << i;
  }
  server_->run_on_server([&](Rpc& r) {
    EXPECT_EQ(r.stats().requests_to_workers, static_cast<uint64_t>(kCalls));
    EXPECT_EQ(r.worker_requests(), 0u);
    EXPECT_EQ(r.handles_in_use(), 0u);
  });
}

TEST_F(WorkerTest, ClientDeadlineCancelAndDisconnectWhileAtWorker) {
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(64), resp1 = client_->alloc_msg_buffer(8),
            resp2 = client_->alloc_msg_buffer(8), resp3 = client_->alloc_msg_buffer(8);
  fill_random(req, 5);
  // 1: the deadline passes while the handler blocks on a worker.
  EXPECT_EQ(client_->call(s, kWorkerGate, req, &resp1, 30ms), Status::kDeadlineExceeded);
  EXPECT_EQ(gate_.entered.load(), 1);
  // 2: cancelled while the handler blocks on the second worker.
  Status st2 = Status::kInternal;
  int runs2 = 0;
  CallId id = kInvalidCall;
  ASSERT_EQ(client_->enqueue_request(
                s, kWorkerGate, &req, &resp2,
                [&](Status r) {
                  st2 = r;
                  runs2++;
                },
                Duration::zero(), &id),
            Status::kOk);
  ASSERT_TRUE(poll_until(*client_, [&] { return gate_.entered.load() == 2; }));
  EXPECT_TRUE(client_->cancel(id));
  EXPECT_EQ(runs2, 1);
  EXPECT_EQ(st2, Status::kCancelled);
  // 3: both workers are blocked, so this one waits in the worker queue; its
  // session is then closed (the server frees it) and the request is never
  // started.
  SessionId s3 = connect();
  int runs3 = 0;
  Status st3 = Status::kInternal;
  ASSERT_EQ(client_->enqueue_request(s3, kWorkerGate, &req, &resp3,
                                     [&](Status r) {
                                       st3 = r;
                                       runs3++;
                                     }),
            Status::kOk);
  ASSERT_TRUE(server_until([](Rpc& r) { return r.stats().requests_to_workers == 3; }));
  client_->disconnect(s3);
  EXPECT_EQ(runs3, 1);
  EXPECT_EQ(st3, Status::kCancelled);
  ASSERT_TRUE(
      poll_until(*client_, [&] { return client_->session_state(s3) == SessionState::kFree; }));

  gate_.release();
  // Every handle comes back from the workers and is freed; the third
  // handler never ran; nothing is left behind.
  ASSERT_TRUE(server_until([](Rpc& r) { return r.worker_requests() == 0; }));
  ASSERT_TRUE(server_until([](Rpc& r) { return r.handles_in_use() == 0; }));
  EXPECT_EQ(gate_.entered.load(), 2);
  EXPECT_GE(server_->stats().responses_orphaned, 1u);
  EXPECT_EQ(runs2, 1);
  EXPECT_EQ(runs3, 1);
  // The first session still works, on workers and inline.
  expect_echo(s, 2000, 8);
  MsgBuffer r4 = client_->alloc_msg_buffer(8);
  EXPECT_EQ(client_->call(s, kWorkerEcho, req, &r4), Status::kOk);
}

TEST_F(WorkerTest, RequestsBeyondMaxWorkerRequestsAreRefusedUnrun) {
  NexusConfig sc = test_env().server_config();
  sc.num_worker_threads = 1;
  sc.max_worker_requests = 1;
  Gate gate;
  ServerThread srv(sc, [&gate](Nexus& n) {
    n.register_handler(
        kWorkerGate,
        [g = &gate](ReqHandle* h) {
          g->pass();
          echo(h);
        },
        HandlerMode::kWorker);
  });
  SessionId s = kInvalidSession;
  ASSERT_EQ(client_->connect(srv.uri(), &s), Status::kOk);
  MsgBuffer req = client_->alloc_msg_buffer(16), r1 = client_->alloc_msg_buffer(8),
            r2 = client_->alloc_msg_buffer(8);
  fill_random(req, 1);
  Status st1 = Status::kInternal;
  bool done1 = false;
  ASSERT_EQ(client_->enqueue_request(s, kWorkerGate, &req, &r1,
                                     [&](Status r) {
                                       st1 = r;
                                       done1 = true;
                                     }),
            Status::kOk);
  ASSERT_TRUE(poll_until(*client_, [&] { return gate.entered.load() == 1; }));
  EXPECT_EQ(client_->call(s, kWorkerGate, req, &r2), Status::kResourceExhausted);
  EXPECT_EQ(gate.entered.load(), 1);  // the refused request did not run
  gate.release();
  ASSERT_TRUE(poll_until(*client_, [&] { return done1; }));
  EXPECT_EQ(st1, Status::kOk);
  EXPECT_EQ(srv.stats().worker_rejected, 1u);
}

TEST_F(WorkerTest, DestroyingTheServerWithRequestsAtWorkers) {
  // One worker: the first request's handler runs (until it sees the Rpc go),
  // the second waits in the worker queue. Destroying the server Rpc must
  // neither hang nor let a worker touch it afterwards: ~Rpc tells the
  // running handler the client is gone, skips the queued one, and waits.
  NexusConfig sc = test_env().server_config();
  sc.num_worker_threads = 1;
  std::atomic<int> entered{0}, finished{0};
  auto srv = std::make_unique<ServerThread>(sc, [&](Nexus& n) {
    n.register_handler(
        kWorkerEcho,
        [&entered, &finished](ReqHandle* h) {
          entered.fetch_add(1);
          while (h->client_waiting()) std::this_thread::yield();
          finished.fetch_add(1);
          echo(h);  // a response after the client is gone: dropped, not a crash
        },
        HandlerMode::kWorker);
  });
  SessionId s = kInvalidSession;
  ASSERT_EQ(client_->connect(srv->uri(), &s), Status::kOk);
  MsgBuffer req = client_->alloc_msg_buffer(100), r1 = client_->alloc_msg_buffer(8),
            r2 = client_->alloc_msg_buffer(8);
  fill_random(req, 2);
  int completions = 0;
  ASSERT_EQ(client_->enqueue_request(s, kWorkerEcho, &req, &r1, [&](Status) { completions++; }),
            Status::kOk);
  ASSERT_EQ(client_->enqueue_request(s, kWorkerEcho, &req, &r2, [&](Status) { completions++; }),
            Status::kOk);
  ASSERT_TRUE(poll_until(*client_, [&] { return entered.load() == 1; }));
  ASSERT_TRUE(poll_until(*client_, [&] {
    uint64_t n = 0;
    srv->run_on_server([&n](Rpc& r) { n = r.stats().requests_to_workers; });
    return n == 2;
  }));
  srv->stop();  // ~Rpc on the server thread
  EXPECT_EQ(finished.load(), 1);
  EXPECT_EQ(entered.load(), 1);  // the queued request was not started
  srv.reset();                   // ~Nexus joins the worker
  EXPECT_EQ(completions, 0);
  client_->disconnect(s);  // fails both calls now: Cancelled
  EXPECT_EQ(completions, 2);
}

}  // namespace
}  // namespace flit::testing
