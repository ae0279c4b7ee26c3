// tests/test_util.h: helpers for tests over real transports.
//
// ServerThread runs a server Rpc on its own thread (its owner), polling until
// stopped; the test thread talks to it as a client would, and inspects its
// state with run_on_server(), which executes a function on the server thread
// between two event-loop iterations.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "flit/flit.h"

namespace flit::testing {

// A UDP socket bound to 127.0.0.1 on a port the kernel picked (socket()
// type flags such as SOCK_NONBLOCK in `flags`); its port in *port. -1 if
// the socket cannot be made.
inline int bind_loopback_udp(int flags, uint16_t* port) {
  int fd = socket(AF_INET, SOCK_DGRAM | flags, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

class ServerThread {
 public:
  // register_fn registers handlers on the server's Nexus. on_loop runs after
  // every event-loop iteration on the server thread (for deferred work).
  ServerThread(NexusConfig cfg, const std::function<void(Nexus&)>& register_fn,
               std::function<void(Rpc&)> on_loop = nullptr)
      : nexus_(std::move(cfg)), on_loop_(std::move(on_loop)) {
    if (register_fn) register_fn(nexus_);
    thread_ = std::thread([this] { run(); });
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [this] { return ready_; });
    if (!error_.empty()) {
      lk.unlock();
      thread_.join();
      throw Error(error_);
    }
  }
  ~ServerThread() { stop(); }

  void stop() {
    if (!thread_.joinable()) return;
    stop_.store(true);
    thread_.join();
  }

  const std::string& uri() const { return uri_; }
  Nexus& nexus() { return nexus_; }

  // Runs fn(rpc) on the server thread and waits for it.
  template <typename F>
  void run_on_server(F&& fn) {
    std::function<void(Rpc&)> task = std::forward<F>(fn);
    std::unique_lock<std::mutex> lk(mu_);
    task_ = &task;
    has_task_.store(true, std::memory_order_release);
    cv_.wait(lk, [this] { return task_ == nullptr; });
  }

  RpcStats stats() {
    RpcStats s;
    run_on_server([&s](Rpc& r) { s = r.stats(); });
    return s;
  }
  uint32_t num_sessions() {
    uint32_t n = 0;
    run_on_server([&n](Rpc& r) { n = r.num_server_sessions(); });
    return n;
  }

 private:
  void run() {
    std::unique_ptr<Rpc> rpc;
    try {
      rpc = std::make_unique<Rpc>(nexus_, 0);
      uri_ = rpc->local_uri();
    } catch (const std::exception& e) {
      error_ = e.what();
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      ready_ = true;
    }
    cv_.notify_all();
    if (!rpc) return;
    while (!stop_.load(std::memory_order_relaxed)) {
      rpc->run_event_loop_once();
      if (on_loop_) on_loop_(*rpc);
      if (has_task_.load(std::memory_order_acquire)) {
        std::lock_guard<std::mutex> lk(mu_);
        (*task_)(*rpc);
        task_ = nullptr;
        has_task_.store(false);
        cv_.notify_all();
      }
    }
  }

  Nexus nexus_;
  std::function<void(Rpc&)> on_loop_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> has_task_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void(Rpc&)>* task_ = nullptr;
  bool ready_ = false;
  std::string error_;
  std::string uri_;
};

// A gate the test opens; worker handlers block on it (no sleeps).
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> entered{0};
  void pass() {
    entered.fetch_add(1);
    std::unique_lock<std::mutex> lk(mu);
    cv.wait(lk, [this] { return open; });
  }
  void release() {
    {
      std::lock_guard<std::mutex> lk(mu);
      open = true;
    }
    cv.notify_all();
  }
};

// Polls rpc until done() or a generous bound (a failing test ends instead of
// hanging); returns done().
template <typename Pred>
bool poll_until(Rpc& rpc, Pred done, std::chrono::seconds bound = std::chrono::seconds(30)) {
  return rpc.run_event_loop_until(done, bound);
}

// The message of the flit::Error that connecting to uri throws, or
// "(no error)" when the connect returns instead (whatever its status).
inline std::string connect_error(Rpc& rpc, const std::string& uri) {
  SessionId s;
  try {
    (void)rpc.connect(uri, &s);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

inline void fill_random(MsgBuffer& b, uint64_t seed) {
  std::mt19937_64 rng(seed);
  size_t i = 0;
  for (; i + 8 <= b.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(b.data() + i, &v, 8);
  }
  for (; i < b.size(); ++i) b.data()[i] = static_cast<uint8_t>(rng());
}

// `calls` echo calls on session s, all in flight at once, of mixed sizes
// (every third up to 20 packets, the others under 500 bytes): each must end
// Ok with its request's bytes back. For the loss-recovery tests, with fault
// injection on. The buffers and counters are shared with the continuations:
// after a failure here, calls still in flight end in a later poll of rpc
// and must not write into this function's finished frame.
inline void echo_calls_all_ok(Rpc& rpc, SessionId s, uint16_t method, int calls) {
  struct Calls {
    std::vector<MsgBuffer> reqs, resps;
    int done = 0, ok = 0;
  };
  auto c = std::make_shared<Calls>();
  const size_t dpp = rpc.data_per_pkt();
  for (int i = 0; i < calls; ++i) {
    c->reqs.push_back(rpc.alloc_msg_buffer((i % 3 == 0) ? 1 + i * 13 % (20 * dpp) : i % 500));
    fill_random(c->reqs.back(), 1000 + i);
    c->resps.push_back(rpc.alloc_msg_buffer(8));
  }
  int issued = 0;
  for (int i = 0; i < calls; ++i) {
    Status st = rpc.enqueue_request(s, method, &c->reqs[i], &c->resps[i], [c](Status r) {
      c->done++;
      c->ok += r == Status::kOk;
    });
    if (st != Status::kOk) {
      ADD_FAILURE() << "enqueue_request " << i << ": " << to_string(st);
      break;
    }
    issued++;
  }
  ASSERT_TRUE(poll_until(
      rpc, [&] { return c->done == issued; }, std::chrono::seconds(120)))
      << c->done << " of " << issued << " calls ended";
  EXPECT_EQ(c->ok, calls);
  for (int i = 0; i < issued; ++i) {
    ASSERT_EQ(c->resps[i].size(), c->reqs[i].size()) << i;
    ASSERT_EQ(std::memcmp(c->resps[i].data(), c->reqs[i].data(), c->reqs[i].size()), 0) << i;
  }
}

}  // namespace flit::testing
