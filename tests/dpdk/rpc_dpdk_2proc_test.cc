// tests/dpdk/rpc_dpdk_2proc_test.cc: the engine's calls between two
// processes over one net_memif link.
//
//   rpc_dpdk_2proc_test FLIT_BENCH [gtest flags]
//
// The server is another process: `flit-bench server` over DPDK (memif
// role=server), which answers method 1 by echoing the request and method 2
// with as many bytes as the request's first little-endian u32 says. This
// process is the client (memif role=client). The cases mirror rpc_test.cc's
// where they need no server-side hooks: every size from 0 B to 8 MiB byte
// exact, 64 concurrent calls through the slots and backlog, 512 sessions,
// unknown methods, and loss in both directions recovered by retransmission
// (the client's fault injection drops its received and its sent packets, so
// the server's duplicate handling is exercised too).
//
// Both sides transmit with tx_zero_copy=1 (payloads of 512 bytes or more
// sent from the engine's memory as external buffers), the path the
// one-process suites, which copy, do not take.
//
// Needs root and hugepages; exits 77 with the reason otherwise.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "dpdk_skip.h"
#include "flit/flit.h"
#include "test_util.h"

extern char** environ;

namespace flit::testing {
namespace {

constexpr uint16_t kEchoMethod = 1;
constexpr uint16_t kSizedMethod = 2;
const char* const kServerUri = "dpdk://198.18.3.2:31850";

std::string g_bench;  // flit-bench path (argv[1])
std::string g_sock;   // memif socket name, per test process

std::string eal(int lcore, const char* role) {
  return "--no-pci --in-memory --no-telemetry -l " + std::to_string(lcore) +
         " --log-level=*:warning --log-level=pmd.net.memif:critical --vdev=net_memif0,role=" +
         role + ",id=0,socket=" + g_sock;
}

// The server process, started once for the whole run; stopped at exit.
class ServerProcess {
 public:
  void start() {
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    std::vector<std::string> args = {g_bench,           "server",          "--listen",
                                     kServerUri,        "--duration",      "600",
                                     "--transport-opt", "port=net_memif0", "--transport-opt",
                                     "tx_zero_copy=1",  "--dpdk-args",     eal(0, "server")};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ASSERT_EQ(posix_spawn(&pid_, g_bench.c_str(), &fa, nullptr, argv.data(), environ), 0)
        << "cannot run " << g_bench;
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    // Ready when it says it listens (it prints that after its port is up);
    // reading blocks until then, and ends if the server dies.
    FILE* f = fdopen(out[0], "r");
    char line[512];
    bool ready = false;
    while (!ready && std::fgets(line, sizeof line, f) != nullptr) {
      ready = std::strstr(line, "listening on") != nullptr;
    }
    out_ = f;  // kept open: the server's later output goes nowhere harmful
    ASSERT_TRUE(ready) << "flit-bench server did not start";
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int st = 0;
      waitpid(pid_, &st, 0);
    }
    if (out_ != nullptr) std::fclose(out_);
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

ServerProcess* g_server = nullptr;

class TwoProcess : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    g_server = new ServerProcess();
    g_server->start();
  }
  static void TearDownTestSuite() {
    delete g_server;
    g_server = nullptr;
  }
  void SetUp() override {
    NexusConfig c;
    c.transport = "dpdk";
    c.transport_options = {"eal=" + eal(1, "client"), "port=net_memif0", "ip=198.18.3.1",
                           "tx_zero_copy=1"};
    // Correctness, not speed: two busy-polling processes share two cores
    // with whatever else runs, and an 8 MiB call may take seconds.
    c.call_deadline = std::chrono::seconds(30);
    nexus_ = std::make_unique<Nexus>(c);
    rpc_ = std::make_unique<Rpc>(*nexus_, 0);
    ASSERT_EQ(rpc_->connect(kServerUri, &s_), Status::kOk);
  }
  void TearDown() override {
    rpc_.reset();
    nexus_.reset();
  }
  void expect_echo(size_t size, uint64_t seed) {
    MsgBuffer req = rpc_->alloc_msg_buffer(size);
    fill_random(req, seed);
    MsgBuffer resp = rpc_->alloc_msg_buffer(16);
    ASSERT_EQ(rpc_->call(s_, kEchoMethod, req, &resp), Status::kOk) << "size " << size;
    ASSERT_EQ(resp.size(), size);
    EXPECT_EQ(std::memcmp(resp.data(), req.data(), size), 0) << "size " << size;
  }

  std::unique_ptr<Nexus> nexus_;
  std::unique_ptr<Rpc> rpc_;
  SessionId s_ = kInvalidSession;
};

TEST_F(TwoProcess, EchoEverySizeClassByteExact) {
  const size_t dpp = rpc_->data_per_pkt();
  std::vector<size_t> sizes = {0,       1,     63,      64,      65,
                               dpp - 1, dpp,   dpp + 1, 2 * dpp, 2 * dpp + 1,
                               4096,    65536, 100'000, 1 << 20, (4 << 20) + 3};
  for (size_t c = 6; c <= 23; ++c) sizes.push_back(size_t{1} << c);
  uint64_t seed = 1;
  for (size_t n : sizes) expect_echo(n, seed++);
  EXPECT_EQ(rpc_->stats().calls_completed, sizes.size());
}

TEST_F(TwoProcess, ResponseSizedByTheServer) {
  MsgBuffer req = rpc_->alloc_msg_buffer(4), resp = rpc_->alloc_msg_buffer(1);
  uint32_t n = 300'000;
  std::memcpy(req.data(), &n, 4);
  ASSERT_EQ(rpc_->call(s_, kSizedMethod, req, &resp), Status::kOk);
  EXPECT_EQ(resp.size(), n);
}

TEST_F(TwoProcess, SixtyFourConcurrentCallsThroughSlotsAndBacklog) {
  constexpr int kCalls = 64;
  std::vector<MsgBuffer> reqs, resps;
  int done = 0, ok = 0;
  for (int i = 0; i < kCalls; ++i) {
    reqs.push_back(rpc_->alloc_msg_buffer(100 + i * 500));
    fill_random(reqs.back(), i);
    resps.push_back(rpc_->alloc_msg_buffer(8));
  }
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(rpc_->enqueue_request(s_, kEchoMethod, &reqs[i], &resps[i],
                                    [&](Status r) {
                                      done++;
                                      ok += r == Status::kOk;
                                    }),
              Status::kOk);
  }
  ASSERT_TRUE(poll_until(*rpc_, [&] { return done == kCalls; }));
  EXPECT_EQ(ok, kCalls);
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(resps[i].size(), reqs[i].size()) << i;
    EXPECT_EQ(std::memcmp(resps[i].data(), reqs[i].data(), reqs[i].size()), 0) << i;
  }
}

TEST_F(TwoProcess, FiveHundredTwelveSessions) {
  constexpr int kSessions = 512;
  std::vector<SessionId> ids;
  int connected = 0, failed = 0;
  for (int i = 0; i < kSessions; ++i) {
    ids.push_back(rpc_->create_session(
        kServerUri, [&](SessionId, Status st) { (st == Status::kOk ? connected : failed)++; }));
  }
  ASSERT_TRUE(poll_until(*rpc_, [&] { return connected + failed == kSessions; }));
  ASSERT_EQ(connected, kSessions);
  std::vector<MsgBuffer> reqs, resps;
  int done = 0;
  for (int i = 0; i < kSessions; ++i) {
    reqs.push_back(rpc_->alloc_msg_buffer(8));
    uint64_t v = i;
    std::memcpy(reqs.back().data(), &v, 8);
    resps.push_back(rpc_->alloc_msg_buffer(8));
  }
  for (int i = 0; i < kSessions; ++i) {
    ASSERT_EQ(rpc_->enqueue_request(ids[i], kEchoMethod, &reqs[i], &resps[i],
                                    [&](Status r) { done += r == Status::kOk ? 1 : 1000; }),
              Status::kOk);
  }
  ASSERT_TRUE(poll_until(*rpc_, [&] { return done >= kSessions; }));
  EXPECT_EQ(done, kSessions);
  for (int i = 0; i < kSessions; ++i) {
    uint64_t v;
    std::memcpy(&v, resps[i].data(), 8);
    EXPECT_EQ(v, static_cast<uint64_t>(i));
  }
  for (SessionId id : ids) rpc_->disconnect(id);
  ASSERT_TRUE(poll_until(*rpc_, [&] { return rpc_->num_client_sessions() == 1; }));
}

TEST_F(TwoProcess, UnknownMethodIsUnimplemented) {
  MsgBuffer req = rpc_->alloc_msg_buffer(4), resp = rpc_->alloc_msg_buffer(4);
  EXPECT_EQ(rpc_->call(s_, 999, req, &resp), Status::kUnimplemented);
  expect_echo(5, 5);
}

TEST_F(TwoProcess, LossBothWaysIsRecovered) {
  // Drops 5% of what the client receives (responses, credit returns: the
  // server must resend stored responses) and of what it sends.
  rpc_->set_fault_injection({0.05, 0.05, 11});
  ASSERT_NO_FATAL_FAILURE(echo_calls_all_ok(*rpc_, s_, kEchoMethod, 300));
  EXPECT_GT(rpc_->stats().fault_drops, 0u);
  EXPECT_GT(rpc_->stats().retransmissions, 0u);
}

std::string why_not_runnable() {
  if (g_bench.empty() || access(g_bench.c_str(), X_OK) != 0) {
    return "usage: rpc_dpdk_2proc_test FLIT_BENCH (path to flit-bench)";
  }
  return why_no_dpdk(256);
}

}  // namespace
}  // namespace flit::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) flit::testing::g_bench = argv[1];
  flit::testing::g_sock = "flit-2proc-" + std::to_string(getpid());
  return flit::testing::run_or_skip("DPDK two-process tests", flit::testing::why_not_runnable());
}
