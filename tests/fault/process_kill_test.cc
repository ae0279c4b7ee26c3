// tests/fault/process_kill_test.cc: real processes over UDP on loopback.
//   - kill -9 of a server process under load: every outstanding call
//     completes with a clear status within the documented bound
//     (rto x (max_retries + 1) after the last answer, plus a timer tick),
//     and new sessions succeed once a server runs again on the port;
//   - kill -9 of a client process: the server's state returns to baseline
//     within two idle timeouts.
// The other process is flit-bench (path in $FLIT_BENCH).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "flit/flit.h"
#include "test_util.h"

namespace flit::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

uint16_t free_udp_port() {
  uint16_t port = 0;
  int fd = bind_loopback_udp(0, &port);
  if (fd >= 0) close(fd);
  return port;
}

// A child process running flit-bench with the given arguments.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    const char* bench = std::getenv("FLIT_BENCH");
    if (bench == nullptr) throw Error("FLIT_BENCH (path of flit-bench) is not set");
    args.insert(args.begin(), bench);
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Child() { kill9(); }
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int st;
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

TEST(ProcessKill, ServerKilledUnderLoadEveryCallCompletesClearly) {
  uint16_t port = free_udp_port();
  std::string uri = "udp://127.0.0.1:" + std::to_string(port);
  auto server = std::make_unique<Child>(
      std::vector<std::string>{"server", "--listen", uri, "--duration", "60"});

  NexusConfig cfg;
  cfg.rto = 5ms;
  cfg.max_retries = 40;  // declared unreachable 200 ms after the last answer
  Nexus nexus(cfg);
  Rpc rpc(nexus, 0);
  SessionId s;
  ASSERT_EQ(rpc.connect(uri, &s, 10s), Status::kOk);

  // 64 calls in flight: single- and multi-packet echoes, reissued as they
  // complete, until the server dies.
  struct Call {
    MsgBuffer req, resp;
    int completions = 0;
    Status last = Status::kOk;
  };
  std::vector<std::unique_ptr<Call>> calls;
  int ok = 0, failed = 0, outstanding = 0;
  bool reissue = true;
  std::function<void(Call*)> issue = [&](Call* c) {
    outstanding++;
    Status st = rpc.enqueue_request(s, 1, &c->req, &c->resp, [&, c](Status r) {
      outstanding--;
      c->completions++;
      c->last = r;
      if (r == Status::kOk) {
        ok++;
        if (reissue) {
          c->completions = 0;
          issue(c);
        }
      } else {
        failed++;
      }
    });
    if (st != Status::kOk) {
      outstanding--;
      failed++;
    }
  };
  for (int i = 0; i < 64; ++i) {
    calls.push_back(std::make_unique<Call>());
    calls.back()->req = rpc.alloc_msg_buffer(i % 4 == 0 ? 5000 : 32);
    fill_random(calls.back()->req, i);
    calls.back()->resp = rpc.alloc_msg_buffer(8);
    issue(calls.back().get());
  }
  ASSERT_TRUE(rpc.run_event_loop_until([&] { return ok >= 20'000; }, 60s));

  server->kill9();
  auto killed_at = Clock::now();
  reissue = false;
  ASSERT_TRUE(rpc.run_event_loop_until([&] { return outstanding == 0; }, 30s));
  auto took = Clock::now() - killed_at;
  // Documented bound: rto x (max_retries + 1) after the last answer, plus a
  // timer tick; generous slack for a loaded machine.
  EXPECT_LT(took, 5s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
  // Each call in flight at the kill completed exactly once: Ok if its
  // response was already on its way, else a failure status that says
  // whether it may have run.
  int unclear = 0;
  for (auto& c : calls) {
    EXPECT_EQ(c->completions, 1);
    EXPECT_TRUE(c->last == Status::kOk || c->last == Status::kUnknownOutcome ||
                c->last == Status::kUnavailable)
        << to_string(c->last);
    unclear += c->last != Status::kOk;
  }
  EXPECT_GT(unclear, 0);
  EXPECT_EQ(rpc.session_state(s), SessionState::kFailed);
  EXPECT_EQ(rpc.enqueue_request(s, 1, &calls[0]->req, &calls[0]->resp, [](Status) {}),
            Status::kUnavailable);

  // A new server process on the same port: new sessions succeed.
  rpc.disconnect(s);
  server = std::make_unique<Child>(
      std::vector<std::string>{"server", "--listen", uri, "--duration", "60"});
  SessionId s2;
  ASSERT_EQ(rpc.connect(uri, &s2, 10s), Status::kOk);
  EXPECT_EQ(rpc.call(s2, 1, calls[1]->req, &calls[1]->resp), Status::kOk);
  EXPECT_EQ(std::memcmp(calls[1]->resp.data(), calls[1]->req.data(), calls[1]->req.size()), 0);
}

TEST(ProcessKill, ServerRestartedQuicklyResetsOldSessions) {
  uint16_t port = free_udp_port();
  std::string uri = "udp://127.0.0.1:" + std::to_string(port);
  auto server = std::make_unique<Child>(
      std::vector<std::string>{"server", "--listen", uri, "--duration", "60"});
  NexusConfig cfg;
  cfg.max_retries = 100000;  // only a reset can end the calls quickly
  Nexus nexus(cfg);
  Rpc rpc(nexus, 0);
  SessionId s;
  ASSERT_EQ(rpc.connect(uri, &s, 10s), Status::kOk);
  uint64_t old_epoch = rpc.remote_epoch(s);
  MsgBuffer req = rpc.alloc_msg_buffer(32), resp = rpc.alloc_msg_buffer(32);
  ASSERT_EQ(rpc.call(s, 1, req, &resp), Status::kOk);

  server->kill9();
  server = std::make_unique<Child>(
      std::vector<std::string>{"server", "--listen", uri, "--duration", "60"});
  // The new process does not know the session: it answers with a reset, and
  // the call fails with a clear status instead of waiting out its deadline.
  Status st = Status::kOk;
  bool done = false;
  auto t0 = Clock::now();
  while (!done && Clock::now() - t0 < 20s) {
    st = rpc.call(s, 1, req, &resp, 2s);
    done = st != Status::kOk && st != Status::kDeadlineExceeded;
  }
  EXPECT_TRUE(st == Status::kUnknownOutcome || st == Status::kUnavailable) << to_string(st);
  EXPECT_EQ(rpc.session_state(s), SessionState::kFailed);
  rpc.disconnect(s);
  SessionId s2;
  ASSERT_EQ(rpc.connect(uri, &s2, 10s), Status::kOk);
  EXPECT_NE(rpc.remote_epoch(s2), old_epoch);
  EXPECT_EQ(rpc.call(s2, 1, req, &resp), Status::kOk);
}

TEST(ProcessKill, ClientKilledServerReturnsToBaseline) {
  NexusConfig sc;
  sc.listen_uri = "udp://127.0.0.1:0";
  sc.idle_timeout = 1s;
  ServerThread server(sc, [](Nexus& n) {
    n.register_handler(1, [](ReqHandle* h) {
      auto req = h->request();
      MsgBuffer& out = h->init_response(req.size());
      std::memcpy(out.data(), req.data(), req.size());
      h->rpc()->enqueue_response(h);
    });
    n.register_handler(2, [](ReqHandle* h) {  // flit-bench's sized responses
      auto req = h->request();
      uint32_t size = 0;
      std::memcpy(&size, req.data(), 4);
      MsgBuffer& out = h->init_response(size);
      std::memset(out.data(), 1, size);
      h->rpc()->enqueue_response(h);
    });
  });
  size_t base_buffers = 0;
  server.run_on_server([&](Rpc& r) { base_buffers = r.buffers_in_use(); });

  // A client process with 4 sessions x 16 calls of 20 KB in flight.
  Child client({"client", "--connect", server.uri(), "--mode", "throughput", "--sessions", "4",
                "--inflight", "16", "--req-size", "20000", "--resp-size", "100", "--duration", "60",
                "--warmup", "0", "--connect-timeout", "10"});
  uint64_t handled = 0;
  auto t0 = Clock::now();
  while (handled < 2000 && Clock::now() - t0 < 60s) handled = server.stats().requests_handled;
  ASSERT_GE(handled, 2000u);
  EXPECT_EQ(server.num_sessions(), 4u);

  client.kill9();
  auto killed_at = Clock::now();
  bool baseline = false;
  while (!baseline && Clock::now() - killed_at < 10s) {
    server.run_on_server([&](Rpc& r) {
      baseline = r.num_server_sessions() == 0 && r.reassembly_bytes() == 0 &&
                 r.handles_in_use() == 0 && r.buffers_in_use() == base_buffers;
    });
  }
  EXPECT_TRUE(baseline);
  EXPECT_LT(Clock::now() - killed_at, 2 * 1s + 500ms);  // two idle timeouts (+ a timer tick)
  EXPECT_EQ(server.stats().sessions_reaped, 4u);
}

}  // namespace
}  // namespace flit::testing
