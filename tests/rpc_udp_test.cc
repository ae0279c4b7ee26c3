// tests/rpc_udp_test.cc: the RPC engine end to end over UDP on loopback: a
// server Rpc on its own thread, clients on the test thread.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <vector>

#include "flit/flit.h"
#include "pkthdr.h"
#include "test_util.h"

namespace flit {
namespace {

using testing::fill_random;
using testing::loopback_server_config;
using testing::poll_until;
using testing::ServerThread;
using namespace std::chrono_literals;

constexpr uint16_t kEcho = 1;
constexpr uint16_t kDeferred = 2;
constexpr uint16_t kNested = 3;
constexpr uint16_t kBlackhole = 4;
constexpr uint16_t kSized = 5;  // responds with as many bytes as the u64 request says

void echo(ReqHandle* h) {
  auto req = h->request();
  MsgBuffer& out = h->init_response(req.size());
  if (!req.empty()) std::memcpy(out.data(), req.data(), req.size());
  h->rpc()->enqueue_response(h);
}

void sized(ReqHandle* h) {
  uint64_t n = 0;
  if (h->request().size() != sizeof n) {
    h->rpc()->enqueue_response(h, Status::kInvalidArgument);
    return;
  }
  std::memcpy(&n, h->request().data(), sizeof n);
  MsgBuffer& out = h->init_response(n);
  for (size_t i = 0; i < n; ++i) out.data()[i] = static_cast<uint8_t>(i * 7);
  h->rpc()->enqueue_response(h);
}

// State of the server-side test handlers, touched only on the server thread.
struct ServerState {
  std::vector<ReqHandle*> deferred;
  std::vector<ReqHandle*> held;  // never answered
};

void register_all(Nexus& n, ServerState* st) {
  n.register_handler(kEcho, echo);
  n.register_handler(kSized, sized);
  n.register_handler(kDeferred, [st](ReqHandle* h) { st->deferred.push_back(h); });
  n.register_handler(kBlackhole, [st](ReqHandle* h) { st->held.push_back(h); });
}

// Answers deferred requests one loop iteration after their handler returned.
void answer_deferred(ServerState* st, Rpc&) {
  for (ReqHandle* h : st->deferred) echo(h);
  st->deferred.clear();
}

class RpcUdpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerThread>(
        loopback_server_config(), [this](Nexus& n) { register_all(n, &state_); },
        [this](Rpc& r) { answer_deferred(&state_, r); });
    client_nexus_ = std::make_unique<Nexus>(NexusConfig{});
    client_ = std::make_unique<Rpc>(*client_nexus_, 0);
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
  }

  SessionId connect() {
    SessionId s = kInvalidSession;
    EXPECT_EQ(client_->connect(server_->uri(), &s), Status::kOk);
    return s;
  }

  // Sends a random request of `size` bytes to kEcho and checks the reply.
  void expect_echo(SessionId s, size_t size, uint64_t seed) {
    MsgBuffer req = client_->alloc_msg_buffer(size);
    fill_random(req, seed);
    MsgBuffer resp = client_->alloc_msg_buffer(16);
    ASSERT_EQ(client_->call(s, kEcho, req, &resp), Status::kOk) << "size " << size;
    ASSERT_EQ(resp.size(), size);
    EXPECT_EQ(std::memcmp(resp.data(), req.data(), size), 0) << "size " << size;
  }

  ServerState state_;
  std::unique_ptr<ServerThread> server_;
  std::unique_ptr<Nexus> client_nexus_;
  std::unique_ptr<Rpc> client_;
};

TEST_F(RpcUdpTest, ConnectAndDisconnect) {
  SessionId s = connect();
  ASSERT_NE(s, kInvalidSession);
  EXPECT_EQ(client_->session_state(s), SessionState::kConnected);
  EXPECT_EQ(client_->num_client_sessions(), 1u);
  EXPECT_NE(client_->remote_epoch(s), 0u);
  EXPECT_EQ(client_->remote_epoch(s), server_->nexus().epoch());
  EXPECT_EQ(server_->num_sessions(), 1u);

  client_->disconnect(s);
  EXPECT_EQ(client_->session_state(s), SessionState::kDisconnecting);
  ASSERT_TRUE(poll_until(*client_, [&] { return client_->session_state(s) == SessionState::kFree; }));
  EXPECT_EQ(client_->num_client_sessions(), 0u);
  EXPECT_EQ(server_->num_sessions(), 0u);

  // The session number is reused and works again.
  SessionId s2 = connect();
  EXPECT_EQ(s2, s);
  expect_echo(s2, 10, 1);
}

TEST_F(RpcUdpTest, EchoEverySizeClassByteExact) {
  SessionId s = connect();
  const size_t dpp = client_->data_per_pkt();
  std::vector<size_t> sizes = {0, 1, 63, 64, 65, dpp - 1, dpp, dpp + 1, 2 * dpp, 2 * dpp + 1,
                               4096, 65536, 100'000, 1 << 20, (4 << 20) + 3};
  for (size_t c = 6; c <= 23; ++c) sizes.push_back(size_t{1} << c);  // every power of two to 8 MiB
  sizes.push_back(kDefaultMaxMsgSize);
  uint64_t seed = 1;
  for (size_t n : sizes) expect_echo(s, n, seed++);
  RpcStats st = client_->stats();
  EXPECT_EQ(st.calls_started, sizes.size());
  EXPECT_EQ(st.calls_completed, sizes.size());
  EXPECT_EQ(client_->stats().drop_bad_token, 0u);
}

TEST_F(RpcUdpTest, EightConcurrentRequestsPerSessionAndBacklog) {
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

TEST_F(RpcUdpTest, EightRequestsInFlightAtTheServerAtOnce) {
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

TEST_F(RpcUdpTest, ResponseEnqueuedAfterHandlerReturned) {
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

TEST_F(RpcUdpTest, UnknownMethodIsUnimplemented) {
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(4), resp = client_->alloc_msg_buffer(4);
  EXPECT_EQ(client_->call(s, 999, req, &resp), Status::kUnimplemented);
  // The session still works.
  expect_echo(s, 5, 5);
}

TEST_F(RpcUdpTest, HandlerStatusReachesCaller) {
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(3), resp = client_->alloc_msg_buffer(4);
  EXPECT_EQ(client_->call(s, kSized, req, &resp), Status::kInvalidArgument);
}

TEST_F(RpcUdpTest, ResponseGrowsTheCallersBuffer) {
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(8), resp = client_->alloc_msg_buffer(1);
  uint64_t n = 300'000;
  std::memcpy(req.data(), &n, 8);
  ASSERT_EQ(client_->call(s, kSized, req, &resp), Status::kOk);
  ASSERT_EQ(resp.size(), n);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(resp.data()[i], static_cast<uint8_t>(i * 7)) << i;
}

TEST_F(RpcUdpTest, CallPastItsDeadlineIsDeadlineExceeded) {
  SessionId s = connect();
  MsgBuffer req = client_->alloc_msg_buffer(4), resp = client_->alloc_msg_buffer(4);
  EXPECT_EQ(client_->call(s, kBlackhole, req, &resp, 50ms), Status::kDeadlineExceeded);
  // Other slots of the session are unaffected.
  expect_echo(s, 100, 9);
}

TEST_F(RpcUdpTest, NestedRpcFromHandler) {
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
  ServerThread front_server(loopback_server_config(), [&front](Nexus& n) {
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
    front.backend = r.create_session(back_uri, [&connected](SessionId, Status st) {
      connected = st == Status::kOk;
    });
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

TEST_F(RpcUdpTest, ServerWith512ClientSessions) {
  constexpr int kSessions = 512;
  std::vector<SessionId> ids;
  int connected = 0, failed = 0;
  for (int i = 0; i < kSessions; ++i) {
    ids.push_back(client_->create_session(server_->uri(), [&](SessionId, Status st) {
      (st == Status::kOk ? connected : failed)++;
    }));
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

TEST_F(RpcUdpTest, DisconnectCancelsOutstandingCalls) {
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
  ASSERT_TRUE(poll_until(*client_, [&] { return client_->session_state(s) == SessionState::kFree; }));
  EXPECT_EQ(runs, 1);
}

TEST_F(RpcUdpTest, RequestLargerThanServerAcceptsIsRejected) {
  NexusConfig small = loopback_server_config();
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

TEST_F(RpcUdpTest, ResponseLargerThanClientAcceptsIsResourceExhausted) {
  NexusConfig cc;
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

TEST_F(RpcUdpTest, MessageBeyondConfiguredMaximumIsAClearError) {
  try {
    (void)client_->alloc_msg_buffer(kDefaultMaxMsgSize + 1);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the maximum message size"), std::string::npos)
        << e.what();
  }
}

TEST(RpcUdpNoServer, ConnectToPortWithNoServerIsUnavailableWithinDeadline) {
  // Find a port nobody listens on: bind one, note it, close it.
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  std::string uri = "udp://127.0.0.1:" + std::to_string(ntohs(a.sin_port));

  Nexus nexus(NexusConfig{});
  Rpc rpc(nexus, 0);
  SessionId s = 7;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(rpc.connect(uri, &s, 300ms), Status::kUnavailable);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(s, kInvalidSession);
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 10s);  // bounded: the deadline plus one timer tick, generously
  EXPECT_EQ(rpc.num_client_sessions(), 0u);
}

TEST(RpcUdpMisuse, MalformedUriIsAClearError) {
  Nexus nexus(NexusConfig{});
  Rpc rpc(nexus, 0);
  SessionId s;
  for (const char* bad : {"udp//127.0.0.1:1", "udp://127.0.0.1", "udp://127.0.0.1:99999",
                          "udp://:1", "udp://::1:5", "UDP://x:1"}) {
    try {
      (void)rpc.connect(bad, &s);
      FAIL() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad URI"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
  try {
    (void)rpc.connect("dpdk://198.18.0.1:1", &s);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("scheme is 'dpdk'"), std::string::npos) << e.what();
  }
}

TEST(RpcUdpMisuse, CallFromForeignThreadIsAClearError) {
  Nexus nexus(NexusConfig{});
  Rpc rpc(nexus, 0);
  std::string what;
  std::thread t([&] {
    try {
      rpc.run_event_loop_once();
    } catch (const Error& e) {
      what = e.what();
    }
  });
  t.join();
  EXPECT_NE(what.find("owned by thread"), std::string::npos) << what;
  EXPECT_NE(what.find("run_event_loop_once"), std::string::npos) << what;
}

TEST(RpcUdpMisuse, RegisteringAfterFirstRpcIsAnError) {
  Nexus nexus(NexusConfig{});
  nexus.register_handler(1, echo);
  EXPECT_THROW(nexus.register_handler(1, echo), Error);
  Rpc rpc(nexus, 0);
  EXPECT_THROW(nexus.register_handler(2, echo), Error);
}

TEST(RpcUdpMisuse, UnbuiltTransportSaysSo) {
  NexusConfig c;
  c.transport = "dpdk";
  Nexus nexus(c);
  try {
    Rpc rpc(nexus, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("built without DPDK"), std::string::npos) << e.what();
  }
}

TEST(RpcUdpIpv6, EchoOverIpv6Loopback) {
  NexusConfig sc;
  sc.listen_uri = "udp://[::1]:0";
  ServerThread server(sc, [](Nexus& n) { n.register_handler(kEcho, echo); });
  EXPECT_NE(server.uri().find("[::1]"), std::string::npos) << server.uri();
  Nexus nexus(NexusConfig{});
  Rpc rpc(nexus, 0);
  SessionId s;
  ASSERT_EQ(rpc.connect(server.uri(), &s), Status::kOk);
  MsgBuffer req = rpc.alloc_msg_buffer(3000), resp = rpc.alloc_msg_buffer(8);
  fill_random(req, 3);
  ASSERT_EQ(rpc.call(s, kEcho, req, &resp), Status::kOk);
  EXPECT_EQ(std::memcmp(req.data(), resp.data(), 3000), 0);
}

// --- Bad packets --------------------------------------------------------

class RawSender {
 public:
  explicit RawSender(const std::string& uri) {
    Uri u = parse_uri(uri);
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    to_.sin_family = AF_INET;
    to_.sin_port = htons(u.port);
    inet_pton(AF_INET, u.host.c_str(), &to_.sin_addr);
  }
  ~RawSender() { close(fd_); }
  void send(const void* p, size_t n) {
    ASSERT_EQ(sendto(fd_, p, n, 0, reinterpret_cast<sockaddr*>(&to_), sizeof to_),
              static_cast<ssize_t>(n));
  }

 private:
  int fd_;
  sockaddr_in to_{};
};

PktHdr request_hdr(uint32_t session, uint64_t token) {
  PktHdr h{};
  h.magic = kPktMagic;
  h.version = kPktVersion;
  h.type = static_cast<uint8_t>(PktType::kRequest);
  h.method = kEcho;
  h.dest_session = session;
  h.token = token;
  h.msg_size = 0;
  h.req_num = 0;
  return h;
}

TEST_F(RpcUdpTest, BadPacketsAreDroppedAndCounted) {
  SessionId s = connect();  // server session 0 exists
  RawSender raw(server_->uri());
  uint8_t buf[kPktHdrSize + 64] = {};

  raw.send(buf, 10);  // shorter than a header
  PktHdr h = request_hdr(0, 0x1234);
  h.magic = 0xBEEF;
  h.store(buf);
  raw.send(buf, kPktHdrSize);  // bad magic
  h = request_hdr(0, 0x1234);
  h.version = 9;
  h.store(buf);
  raw.send(buf, kPktHdrSize);  // unknown version
  h = request_hdr(77, 0x1234);
  h.store(buf);
  raw.send(buf, kPktHdrSize);  // unknown session
  h = request_hdr(0, 0x1234);
  h.store(buf);
  raw.send(buf, kPktHdrSize);  // session 0 exists, token is wrong
  h = request_hdr(0, 0);
  h.type = 200;
  h.store(buf);
  raw.send(buf, kPktHdrSize);  // unknown packet type
  std::mt19937 rng(42);
  for (int i = 0; i < 50; ++i) {  // garbage of many lengths, never with our magic
    uint8_t junk[kPktHdrSize + 64];
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    junk[0] = 0;
    raw.send(junk, static_cast<size_t>(i) * 7 % sizeof junk + 1);
  }

  // The server keeps serving, and every bad packet shows up in a counter.
  expect_echo(s, 50, 50);
  RpcStats st;
  for (int i = 0; i < 1000; ++i) {
    st = server_->stats();
    uint64_t drops = st.drop_truncated + st.drop_bad_magic + st.drop_bad_version +
                     st.drop_unknown_session + st.drop_bad_token + st.drop_bad_type;
    if (drops >= 56) break;
  }
  EXPECT_GE(st.drop_truncated, 1u);
  EXPECT_GE(st.drop_bad_magic, 1u);
  EXPECT_EQ(st.drop_truncated + st.drop_bad_magic, 52u);  // short, 0xBEEF, 50 garbage
  EXPECT_EQ(st.drop_bad_version, 1u);
  EXPECT_EQ(st.drop_unknown_session, 1u);
  EXPECT_EQ(st.drop_bad_token, 1u);
  EXPECT_EQ(st.drop_bad_type, 1u);
  EXPECT_EQ(st.requests_handled, 1u);  // only the real echo ran a handler
  EXPECT_EQ(server_->num_sessions(), 1u);
}

// A client written against the wire format alone: it does the handshake by
// hand, then sends packets an engine never would.
class RawClient {
 public:
  explicit RawClient(const std::string& uri) {
    Uri u = parse_uri(uri);
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    to_.sin_family = AF_INET;
    to_.sin_port = htons(u.port);
    inet_pton(AF_INET, u.host.c_str(), &to_.sin_addr);
    timeval tv{5, 0};  // a lost reply fails the test instead of hanging it
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~RawClient() { close(fd_); }

  void send(const PktHdr& h, const void* payload, size_t n) {
    uint8_t buf[2048];
    h.store(buf);
    if (n != 0) std::memcpy(buf + kPktHdrSize, payload, n);
    ASSERT_EQ(sendto(fd_, buf, kPktHdrSize + n, 0, reinterpret_cast<sockaddr*>(&to_), sizeof to_),
              static_cast<ssize_t>(kPktHdrSize + n));
  }
  // Receives one packet; false on timeout.
  bool recv(PktHdr* h, std::vector<uint8_t>* payload) {
    uint8_t buf[2048];
    ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r < static_cast<ssize_t>(kPktHdrSize)) return false;
    *h = PktHdr::load(buf);
    payload->assign(buf + kPktHdrSize, buf + r);
    return true;
  }

  void handshake(uint32_t data_per_pkt) {
    PktHdr h{};
    h.magic = kPktMagic;
    h.version = kPktVersion;
    h.type = static_cast<uint8_t>(PktType::kConnect);
    h.dest_session = kNoSession;
    h.token = my_token;
    ConnectPayload cp{};
    cp.client_session = 5;
    cp.max_msg_size = 1 << 20;
    cp.slots = kSessionSlots;
    cp.credits = kSessionCredits;
    cp.data_per_pkt = data_per_pkt;
    uint8_t p[sizeof cp];
    store_payload(cp, p);
    h.msg_size = sizeof p;
    send(h, p, sizeof p);
    PktHdr a;
    std::vector<uint8_t> pl;
    ASSERT_TRUE(recv(&a, &pl));
    ASSERT_EQ(a.pkt_type(), PktType::kConnectAck);
    ASSERT_EQ(a.status, 0);
    ASSERT_EQ(a.dest_session, 5u);
    ASSERT_EQ(a.token, my_token);
    ASSERT_EQ(pl.size(), sizeof(ConnectAckPayload));
    ConnectAckPayload ap = load_payload<ConnectAckPayload>(pl.data());
    server_session = ap.server_session;
    server_token = ap.server_token;
  }

  PktHdr request(uint64_t req_num, uint32_t msg_size, uint32_t pkt_num = 0) const {
    PktHdr h{};
    h.magic = kPktMagic;
    h.version = kPktVersion;
    h.type = static_cast<uint8_t>(PktType::kRequest);
    h.method = kEcho;
    h.dest_session = server_session;
    h.token = server_token;
    h.req_num = req_num;
    h.msg_size = msg_size;
    h.pkt_num = pkt_num;
    return h;
  }

  const uint64_t my_token = 0x0123456789abcdefULL;
  uint32_t server_session = 0;
  uint64_t server_token = 0;

 private:
  int fd_;
  sockaddr_in to_{};
};

TEST_F(RpcUdpTest, MalformedSizesAreDroppedAndCounted) {
  RawClient raw(server_->uri());
  raw.handshake(static_cast<uint32_t>(client_->data_per_pkt()));
  ASSERT_EQ(server_->num_sessions(), 1u);
  uint8_t data[600] = {1, 2, 3};

  raw.send(raw.request(0, 100), data, 50);                  // payload shorter than declared
  raw.send(raw.request(0, 100), data, 150);                 // payload longer than declared
  raw.send(raw.request(0, 1u << 30), data, 0);              // larger than the server's maximum
  raw.send(raw.request(0, 100, 3), data, 100);              // packet 3 of a 1-packet message
  PktHdr wrong = raw.request(0, 3);
  wrong.token ^= 1;
  raw.send(wrong, data, 3);                                 // wrong token

  // A well-formed request is answered; its duplicate gets the stored response
  // and the handler runs once (at most once per request).
  raw.send(raw.request(0, 3), data, 3);
  PktHdr r;
  std::vector<uint8_t> pl;
  ASSERT_TRUE(raw.recv(&r, &pl));
  EXPECT_EQ(r.pkt_type(), PktType::kResponse);
  EXPECT_EQ(r.dest_session, 5u);
  EXPECT_EQ(r.token, raw.my_token);
  EXPECT_EQ(r.req_num, 0u);
  EXPECT_EQ(r.status, 0);
  ASSERT_EQ(pl, std::vector<uint8_t>({1, 2, 3}));
  raw.send(raw.request(0, 3), data, 3);
  ASSERT_TRUE(raw.recv(&r, &pl));
  EXPECT_EQ(r.pkt_type(), PktType::kResponse);
  EXPECT_EQ(pl, std::vector<uint8_t>({1, 2, 3}));

  RpcStats st = server_->stats();
  EXPECT_EQ(st.drop_truncated, 1u);
  EXPECT_EQ(st.drop_malformed, 3u);
  EXPECT_EQ(st.drop_bad_token, 1u);
  EXPECT_EQ(st.requests_handled, 1u);
  EXPECT_EQ(st.responses_resent, 1u);
}

TEST_F(RpcUdpTest, MismatchedPacketSizeIsRefusedAtConnect) {
  RawClient raw(server_->uri());
  PktHdr h{};
  h.magic = kPktMagic;
  h.version = kPktVersion;
  h.type = static_cast<uint8_t>(PktType::kConnect);
  h.dest_session = kNoSession;
  h.token = 99;
  ConnectPayload cp{};
  cp.client_session = 1;
  cp.max_msg_size = 1 << 20;
  cp.slots = kSessionSlots;
  cp.credits = kSessionCredits;
  cp.data_per_pkt = 100;  // not the server's
  uint8_t p[sizeof cp];
  store_payload(cp, p);
  h.msg_size = sizeof p;
  raw.send(h, p, sizeof p);
  PktHdr a;
  std::vector<uint8_t> pl;
  ASSERT_TRUE(raw.recv(&a, &pl));
  EXPECT_EQ(a.pkt_type(), PktType::kConnectAck);
  EXPECT_EQ(status_from_wire(a.status), Status::kInvalidArgument);
  EXPECT_EQ(server_->num_sessions(), 0u);
}

}  // namespace
}  // namespace flit
