// tests/fault/sim_harness.h: a server and clients on the simulated network,
// a load generator, and the invariants every failure scenario checks:
//   - each issued call gets exactly one completion;
//   - the handler ran at most once per request;
//   - an Ok completion carries exactly the bytes the handler produced;
//   - server state (sessions, buffers, handles, reassembly bytes) returns to
//     its baseline afterwards.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "flit/flit.h"
#include "sim_network.h"

namespace flit::testing {

inline constexpr uint16_t kWork = 1;      // response of the size the request asks for
inline constexpr uint16_t kSlowWork = 2;  // same, answered after `slow_ns` of virtual time

// The response the handler produces for call `id`: deterministic bytes the
// client can check.
inline uint8_t response_byte(uint64_t id, size_t i) {
  return static_cast<uint8_t>((id * 131 + i * 7 + (i >> 8)) & 0xFF);
}

struct ServerSide {
  std::map<uint64_t, int> runs;  // call id -> handler runs
  struct Pending {
    ReqHandle* h;
    uint64_t due_ns;
  };
  std::vector<Pending> slow;
  uint64_t slow_ns = 0;
  sim::Network* net = nullptr;

  static void respond(ReqHandle* h) {
    auto req = h->request();
    uint64_t id;
    uint32_t size;
    std::memcpy(&id, req.data(), 8);
    std::memcpy(&size, req.data() + 8, 4);
    MsgBuffer& out = h->init_response(size);
    for (size_t i = 0; i < size; ++i) out.data()[i] = response_byte(id, i);
    h->rpc()->enqueue_response(h);
  }
  void register_handlers(Nexus& n) {
    n.register_handler(kWork, [this](ReqHandle* h) {
      if (h->request().size() < 12) {
        h->rpc()->enqueue_response(h, Status::kInvalidArgument);
        return;
      }
      uint64_t id;
      std::memcpy(&id, h->request().data(), 8);
      runs[id]++;
      respond(h);
    });
    n.register_handler(kSlowWork, [this](ReqHandle* h) {
      uint64_t id;
      std::memcpy(&id, h->request().data(), 8);
      runs[id]++;
      slow.push_back({h, net->now() + slow_ns});
    });
  }
  // Answers slow requests that are due (call between steps).
  void poll() {
    for (size_t i = 0; i < slow.size();) {
      if (net->now() >= slow[i].due_ns) {
        respond(slow[i].h);
        slow.erase(slow.begin() + static_cast<long>(i));
      } else {
        ++i;
      }
    }
  }
};

// A request for kWork or kSlowWork from `rpc`'s pool: `size` bytes (at
// least 12) filled with `fill`, starting with the call id (u64) and the
// response size the handler is to produce (u32).
inline MsgBuffer work_request(Rpc& rpc, uint64_t id, uint32_t resp_size, size_t size = 12,
                              uint8_t fill = 0) {
  MsgBuffer req = rpc.alloc_msg_buffer(std::max<size_t>(size, 12));
  std::memset(req.data(), fill, req.size());
  std::memcpy(req.data(), &id, 8);
  std::memcpy(req.data() + 8, &resp_size, 4);
  return req;
}

// One call the load generator tracks.
struct CallRecord {
  uint64_t id = 0;
  MsgBuffer req, resp;  // released when the call completes
  CallId cid = kInvalidCall;
  int completions = 0;
  Status status = Status::kInternal;
  bool bytes_ok = false;  // for Ok: the response was exactly the handler's
};

class SimHarness {
 public:
  // eager: the client's NexusConfig::eager_response_pkts.
  explicit SimHarness(uint64_t seed, sim::FaultModel faults = {}, size_t max_msg = 64 << 10,
                      uint32_t eager = kDefaultEagerResponsePkts)
      : net_(seed, faults), drv_(net_), max_msg_(max_msg) {
    server_.net = &net_;
    start_server();
    NexusConfig cc = net_.client_config("client", 200);
    cc.max_msg_size = max_msg_;
    cc.eager_response_pkts = eager;
    client_nexus_ = std::make_unique<Nexus>(cc);
    client_ = std::make_unique<Rpc>(*client_nexus_, 0);
    drv_.add(client_.get());
  }
  ~SimHarness() {
    // Buffers of the client's calls go back before the client.
    calls_.clear();
  }

  // Applied to the server's configuration at its next (re)start.
  size_t session_reassembly_budget = 0;  // 0: the default
  size_t reassembly_budget = 0;          // the whole Rpc's; 0: the default

  void start_server() {
    NexusConfig sc = net_.server_config("server", 100);
    sc.max_msg_size = max_msg_;
    if (session_reassembly_budget != 0) sc.session_reassembly_budget = session_reassembly_budget;
    if (reassembly_budget != 0) sc.reassembly_budget = reassembly_budget;
    server_nexus_ = std::make_unique<Nexus>(sc);
    server_.register_handlers(*server_nexus_);
    server_rpc_ = std::make_unique<Rpc>(*server_nexus_, 0);
    drv_.add(server_rpc_.get());
  }
  // The server process dies (no goodbye) and a new one starts at the same
  // address with a new epoch.
  void restart_server() {
    kill_server();
    start_server();
  }
  void kill_server() {
    drv_.remove(server_rpc_.get());
    server_.slow.clear();
    server_rpc_.reset();
    server_nexus_.reset();
  }

  SessionId connect() {
    bool done = false;
    Status st = Status::kInternal;
    SessionId s = client_->create_session("sim://server:100", [&](SessionId, Status r) {
      done = true;
      st = r;
    });
    EXPECT_TRUE(drv_.run_until([&] { return done; }, 10'000'000'000ULL)) << "seed " << net_.seed();
    EXPECT_EQ(st, Status::kOk) << "seed " << net_.seed();
    return st == Status::kOk ? s : kInvalidSession;
  }

  struct Load {
    std::vector<SessionId> sessions;
    size_t total = 0;
    uint32_t window = 8;  // outstanding per session
    size_t req_size = 100;
    size_t resp_size = 100;
    uint16_t method = kWork;
    Duration deadline = Duration::zero();
    uint64_t virtual_limit_ns = 3600'000'000'000ULL;
    std::function<void()> on_step;  // runs between steps (fault events)
    // Per step, the chance (in 1/1000) that the oldest outstanding call is
    // cancelled (the choice of step is seeded, so runs replay).
    uint32_t cancel_per_mille = 0;
  };

  // Issues load.total calls, keeping load.window outstanding per session,
  // and steps until all completed (bounded in virtual time). Each call's
  // response is checked as it completes (Ok must carry exactly the
  // handler's bytes) and its buffers freed.
  void run_load(const Load& load) {
    size_t issued = 0, completed_before = completed_;
    size_t first_open = calls_.size();  // calls before this load are done
    uint64_t rng = net_.seed() * 0x9E3779B97F4A7C15ULL + 1;
    std::vector<uint32_t> outstanding(load.sessions.size(), 0);
    auto finish = [this](CallRecord* r, Status s) {
      r->completions++;
      r->status = s;
      completed_++;
      if (s == Status::kOk) {
        uint32_t rs;
        std::memcpy(&rs, r->req.data() + 8, 4);
        r->bytes_ok = r->resp.size() == rs;
        for (size_t i = 0; r->bytes_ok && i < rs; ++i) {
          r->bytes_ok = r->resp.data()[i] == response_byte(r->id, i);
        }
      }
      r->req.release();
      r->resp.release();
    };
    auto issue = [&](size_t si) {
      auto rec = std::make_unique<CallRecord>();
      rec->id = next_id_++;
      rec->req = work_request(*client_, rec->id, static_cast<uint32_t>(load.resp_size),
                              load.req_size, 0xEE);
      rec->resp = client_->alloc_msg_buffer(1);
      CallRecord* r = rec.get();
      calls_.push_back(std::move(rec));
      outstanding[si]++;
      issued++;
      Status st = client_->enqueue_request(
          load.sessions[si], load.method, &r->req, &r->resp,
          [finish, r, si, &outstanding](Status s) {
            outstanding[si]--;
            finish(r, s);
          },
          load.deadline, &r->cid);
      if (st != Status::kOk) {  // not accepted: it still counts as completed, once
        outstanding[si]--;
        finish(r, st);
      }
    };
    bool ok = drv_.run_until(
        [&] {
          server_.poll();
          if (load.on_step) load.on_step();
          if (load.cancel_per_mille != 0) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            if ((rng >> 33) % 1000 < load.cancel_per_mille) {
              while (first_open < calls_.size() && calls_[first_open]->completions != 0) {
                ++first_open;
              }
              if (first_open < calls_.size()) client_->cancel(calls_[first_open]->cid);
            }
          }
          for (size_t si = 0; si < load.sessions.size(); ++si) {
            while (issued < load.total && outstanding[si] < load.window) issue(si);
          }
          return issued == load.total && completed_ - completed_before == load.total;
        },
        load.virtual_limit_ns);
    ASSERT_TRUE(ok) << "calls did not all complete; seed " << net_.seed() << ", completed "
                    << completed_ - completed_before << " of " << load.total;
  }

  // The invariants. expect_all_ok: every call must have completed Ok.
  void check_calls(bool expect_all_ok) {
    for (auto& c : calls_) {
      ASSERT_EQ(c->completions, 1) << "call " << c->id << " seed " << net_.seed();
      if (expect_all_ok) {
        ASSERT_EQ(c->status, Status::kOk)
            << "call " << c->id << ": " << to_string(c->status) << "; seed " << net_.seed();
      }
      if (c->status == Status::kOk) {
        ASSERT_TRUE(c->bytes_ok) << "call " << c->id << " Ok with wrong bytes; seed "
                                 << net_.seed();
      }
    }
    for (auto& [id, n] : server_.runs) ASSERT_LE(n, 1) << "handler ran twice for call " << id;
  }

  // Disconnects and waits until the server is back to its baseline.
  void check_server_baseline(const std::vector<SessionId>& sessions,
                             uint64_t virtual_limit_ns = 30'000'000'000ULL) {
    for (SessionId s : sessions) {
      if (client_->session_state(s) != SessionState::kFree) client_->disconnect(s);
    }
    Rpc* srv = server_rpc_.get();
    bool ok = drv_.run_until(
        [&] {
          return srv->num_server_sessions() == 0 && srv->reassembly_bytes() == 0 &&
                 srv->handles_in_use() == 0 && srv->buffers_in_use() == 0;
        },
        virtual_limit_ns);
    EXPECT_TRUE(ok) << "server not back to baseline: sessions " << srv->num_server_sessions()
                    << ", reassembly bytes " << srv->reassembly_bytes() << ", handles "
                    << srv->handles_in_use() << ", buffers " << srv->buffers_in_use() << "; seed "
                    << net_.seed();
  }

  // With faults off, `calls` calls of `size` bytes each way through every
  // slot of the sessions: all must be Ok, the sessions still connected and
  // no reassembly bytes left; then the server must return to its baseline
  // once they disconnect. A credit or budget byte leaked by what came
  // before shows here as a stalled or refused call.
  void check_sessions_whole(const std::vector<SessionId>& sessions, size_t calls, size_t size) {
    net_.set_faults({});
    Load clean;
    clean.sessions = sessions;
    clean.total = calls;
    clean.req_size = clean.resp_size = size;
    const size_t ok_before = count(Status::kOk);
    run_load(clean);
    EXPECT_EQ(count(Status::kOk), ok_before + calls) << "seed " << net_.seed();
    drv_.run_for(10'000'000);  // late duplicates from the faulty phase, if any
    EXPECT_EQ(server_rpc_->reassembly_bytes(), 0u) << "seed " << net_.seed();
    for (SessionId s : sessions) {
      EXPECT_EQ(client_->session_state(s), SessionState::kConnected) << "seed " << net_.seed();
    }
    check_server_baseline(sessions);
  }

  size_t count(Status s) const {
    size_t n = 0;
    for (auto& c : calls_) n += c->status == s;
    return n;
  }

  sim::Network& net() { return net_; }
  sim::Driver& driver() { return drv_; }
  Rpc& client() { return *client_; }
  Rpc& server() { return *server_rpc_; }
  ServerSide& server_side() { return server_; }
  std::vector<std::unique_ptr<CallRecord>>& calls() { return calls_; }

 private:
  sim::Network net_;
  sim::Driver drv_;
  size_t max_msg_;
  ServerSide server_;
  std::unique_ptr<Nexus> server_nexus_;
  std::unique_ptr<Rpc> server_rpc_;
  std::unique_ptr<Nexus> client_nexus_;
  std::unique_ptr<Rpc> client_;
  std::vector<std::unique_ptr<CallRecord>> calls_;
  uint64_t next_id_ = 1;
  size_t completed_ = 0;
};

}  // namespace flit::testing
