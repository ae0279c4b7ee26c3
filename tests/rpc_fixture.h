// tests/rpc_fixture.h: the server handlers and the fixture shared by the
// engine's test suite on every transport (rpc_test.cc) and the UDP-only tests.
#pragma once

#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "flit/flit.h"
#include "test_env.h"
#include "test_util.h"

namespace flit::testing {

using namespace std::chrono_literals;

inline constexpr uint16_t kEcho = 1;
inline constexpr uint16_t kDeferred = 2;
inline constexpr uint16_t kNested = 3;
inline constexpr uint16_t kBlackhole = 4;
inline constexpr uint16_t kSized = 5;  // responds with as many bytes as the u64 request says
// Throws; a request whose first byte is 1 is answered (echo) first.
inline constexpr uint16_t kThrows = 6;
// Echoes from a response buffer allocated large (kBareBufferBytes, no header
// room) and shrunk to the request's size.
inline constexpr uint16_t kShrunk = 7;

inline void echo(ReqHandle* h) {
  auto req = h->request();
  MsgBuffer& out = h->init_response(req.size());
  if (!req.empty()) std::memcpy(out.data(), req.data(), req.size());
  h->rpc()->enqueue_response(h);
}

inline void echo_from_shrunk(ReqHandle* h) {
  auto req = h->request();
  MsgBuffer& out = h->init_response(kBareBufferBytes);
  out.resize(req.size());
  if (!req.empty()) std::memcpy(out.data(), req.data(), req.size());
  h->rpc()->enqueue_response(h);
}

inline void sized(ReqHandle* h) {
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

inline void register_all(Nexus& n, ServerState* st) {
  n.register_handler(kEcho, echo);
  n.register_handler(kSized, sized);
  n.register_handler(kShrunk, echo_from_shrunk);
  n.register_handler(kThrows, [](ReqHandle* h) {
    if (!h->request().empty() && h->request()[0] == 1) echo(h);
    throw std::runtime_error("the handler's own failure");
  });
  n.register_handler(kDeferred, [st](ReqHandle* h) { st->deferred.push_back(h); });
  n.register_handler(kBlackhole, [st](ReqHandle* h) { st->held.push_back(h); });
}

// Answers deferred requests one loop iteration after their handler returned.
inline void answer_deferred(ServerState* st, Rpc&) {
  for (ReqHandle* h : st->deferred) echo(h);
  st->deferred.clear();
}

class RpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerThread>(
        test_env().server_config(), [this](Nexus& n) { register_all(n, &state_); },
        [this](Rpc& r) { answer_deferred(&state_, r); });
    client_nexus_ = std::make_unique<Nexus>(test_env().client_config());
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

}  // namespace flit::testing
