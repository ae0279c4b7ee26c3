// tests/rpc_test.cc: the engine's test suite, end to end over a real
// transport. Built once per transport, linked with that transport's
// test_env() (udp_env.cc, ...): a server Rpc on its own thread, clients on the
// test thread.
#include <cstring>
#include <deque>
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

TEST_F(RpcTest, ResponseGrowsTheCallersBuffer) {
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(8), resp = client_->alloc_msg_buffer(1);
  uint64_t n = 300'000;
  std::memcpy(req.data(), &n, 8);
  ASSERT_EQ(client_->call(s, kSized, req, &resp), Status::kOk);
  ASSERT_EQ(resp.size(), n);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(resp.data()[i], static_cast<uint8_t>(i * 7)) << i;
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

TEST_F(RpcTest, ResponseLargerThanClientAcceptsIsResourceExhausted) {
  NexusConfig cc = test_env().client_config();
  cc.max_msg_size = 10'000;
  Nexus small_nexus(cc);
  Rpc small_client(small_nexus, 1);
  SessionId s = kInvalidSession;
  ASSERT_EQ(small_client.connect(server_->uri(), &s), Status::kOk);
  MsgBuffer req = small_client.alloc_msg_buffer(8), resp = small_client.alloc_msg_buffer(8);
  uint64_t n = 20'000;
  std::memcpy(req.data(), &n, 8);
  EXPECT_EQ(small_client.call(s, kSized, req, &resp), Status::kResourceExhausted);
  n = 10'000;
  std::memcpy(req.data(), &n, 8);
  EXPECT_EQ(small_client.call(s, kSized, req, &resp), Status::kOk);
  EXPECT_EQ(resp.size(), 10'000u);
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
  const size_t dpp = client_->data_per_pkt();
  constexpr int kCalls = 600;
  std::vector<MsgBuffer> reqs, resps;
  for (int i = 0; i < kCalls; ++i) {
    reqs.push_back(client_->alloc_msg_buffer((i % 3 == 0) ? 1 + i * 13 % (20 * dpp) : i % 500));
    fill_random(reqs.back(), 1000 + i);
    resps.push_back(client_->alloc_msg_buffer(8));
  }
  int done = 0, ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(client_->enqueue_request(s, kEcho, &reqs[i], &resps[i],
                                       [&](Status r) {
                                         done++;
                                         ok += r == Status::kOk;
                                       }),
              Status::kOk);
  }
  ASSERT_TRUE(poll_until(
      *client_, [&] { return done == kCalls; }, std::chrono::seconds(120)));
  EXPECT_EQ(ok, kCalls);
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(resps[i].size(), reqs[i].size()) << i;
    ASSERT_EQ(std::memcmp(resps[i].data(), reqs[i].data(), reqs[i].size()), 0) << i;
  }
  RpcStats cs = client_->stats();
  EXPECT_GT(cs.fault_drops, 0u);
  EXPECT_GT(cs.retransmissions, 0u);
  RpcStats ss = server_->stats();
  EXPECT_GT(ss.fault_drops, 0u);
  EXPECT_EQ(ss.requests_handled, static_cast<uint64_t>(kCalls));
}

}  // namespace
}  // namespace flit::testing
