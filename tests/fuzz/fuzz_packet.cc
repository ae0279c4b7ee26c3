// tests/fuzz/fuzz_packet.cc: the engine's packet parser against arbitrary
// packets, with the engine's promises as the oracle.
//
// A client Rpc and a server Rpc talk through an in-memory pipe, on a virtual
// clock (timeouts fire within a bounded number of loop iterations, so a hang
// is detected, not waited for). Each input is one packet: its first byte
// picks the receiver (client or server), the rest is delivered as received
// from the peer's address, while a three-packet call is in flight. Then,
// whatever the packet did:
//   - that call completes exactly once, within the call deadline, and an Ok
//     response is the echo of its request (unless the packet was an answer
//     naming this very request: with the session's token, that is the
//     server speaking, as far as the protocol can tell);
//   - the server still accepts a session (a new one if this one was closed);
//   - a fresh call completes exactly once too.
// Malformed packets must be dropped and counted, never crash (run under
// ASan/UBSan to catch a bad read), never hang a call, never complete one
// twice. The seeds are the real packets of a handshake, single- and
// multi-packet calls, and a disconnect, captured off the pipe; the session
// they belong to stays up, so mutations of them carry valid tokens.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "flit/flit.h"
#include "fuzz.h"

namespace {

using namespace flit;

constexpr uint16_t kEcho = 1;
constexpr uint64_t kTickNs = 200'000;  // virtual time per loop iteration
constexpr size_t kMtu = 1472;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_packet: invariant broken: %s\n", what);
  std::abort();
}

// Packets go into the peer's queue by copy; every packet carried is also
// offered to a recorder (the seeds).
class Pipe final : public transport::Transport {
 public:
  explicit Pipe(Pipe** self) { *self = this; }
  Pipe* peer = nullptr;
  std::vector<std::vector<uint8_t>>* record = nullptr;
  uint8_t tag = 0;  // prefixed to recorded packets: which side received it

  std::string_view name() const override { return "fuzzpipe"; }
  size_t max_packet_size() const override { return kMtu; }
  std::string local_uri() const override { return "fuzzpipe://local:1"; }
  transport::Route resolve(std::string_view) override { return {}; }
  bool same_peer(const transport::Route&, const transport::Route&) const override { return true; }
  std::string route_to_string(const transport::Route&) const override { return "fuzzpipe"; }
  // The session fields (dest_session at 8, token at 16, src_session at 36)
  // of the last genuine packet this pipe delivered to its peer.
  uint8_t last_ids[3][8] = {};
  uint64_t last_req_num = 0;  // bytes 24-31 of that packet

  uint32_t tx_burst(const transport::TxPacket* pkts, uint32_t n) override {
    for (uint32_t i = 0; i < n; ++i) {
      std::memcpy(last_ids[0], pkts[i].hdr + 8, 4);
      std::memcpy(last_ids[1], pkts[i].hdr + 16, 8);
      std::memcpy(last_ids[2], pkts[i].hdr + 36, 4);
      std::memcpy(&last_req_num, pkts[i].hdr + 24, 8);
      std::vector<uint8_t> p(pkts[i].hdr, pkts[i].hdr + kPktHdrSize);
      p.insert(p.end(), pkts[i].payload, pkts[i].payload + pkts[i].payload_len);
      if (record != nullptr) {
        std::vector<uint8_t> r{peer->tag};
        r.insert(r.end(), p.begin(), p.end());
        record->push_back(std::move(r));
      }
      peer->inject(std::move(p));
    }
    return n;
  }
  uint32_t rx_burst(transport::RxPacket* pkts, uint32_t max) override {
    uint32_t n = 0;
    while (n < max && !queue_.empty() && n < kHeld) {
      held_[n] = std::move(queue_.front());
      queue_.pop_front();
      pkts[n] = {held_[n].data(), static_cast<uint32_t>(held_[n].size()), &route_, n};
      ++n;
    }
    return n;
  }
  void rx_release(const transport::RxPacket*, uint32_t) override {}
  transport::TransportStats stats() const override { return {}; }
  void inject(std::vector<uint8_t> p) { queue_.push_back(std::move(p)); }
  // Ahead of whatever is queued: the next packet received.
  void inject_first(std::vector<uint8_t> p) { queue_.push_front(std::move(p)); }
  void clear() { queue_.clear(); }

 private:
  static constexpr uint32_t kHeld = 64;
  std::deque<std::vector<uint8_t>> queue_;
  std::vector<uint8_t> held_[kHeld];
  transport::Route route_{};
};

uint64_t virtual_clock(void* ctx) { return *static_cast<uint64_t*>(ctx); }

// Where the session fields sit in a header, and how long they are.
constexpr size_t kIdOff[3] = {8, 16, 36};
constexpr size_t kIdLen[3] = {4, 8, 4};

struct World {
  uint64_t now_ns = 1'000'000'000;
  // The seed session's fields, per receiver (0: client, 1: server).
  uint8_t seed_ids[2][3][8] = {};
  Pipe* st = nullptr;
  Pipe* ct = nullptr;
  std::unique_ptr<Nexus> sn, cn;
  std::unique_ptr<Rpc> server, client;
  SessionId session = 0;
  bool have_session = false;

  World() {
    NexusConfig sc, cc;
    for (NexusConfig* c : {&sc, &cc}) {
      c->clock = virtual_clock;
      c->clock_ctx = &now_ns;
      c->rto = std::chrono::milliseconds(1);
      c->call_deadline = std::chrono::milliseconds(200);
      c->connect_timeout = std::chrono::milliseconds(100);
      c->connect_retry = std::chrono::milliseconds(5);
      c->max_retries = 8;
      c->max_msg_size = 1 << 16;
    }
    sc.transport_factory = [this](uint8_t) { return std::make_unique<Pipe>(&st); };
    cc.transport_factory = [this](uint8_t) { return std::make_unique<Pipe>(&ct); };
    sn = std::make_unique<Nexus>(sc);
    cn = std::make_unique<Nexus>(cc);
    sn->register_handler(kEcho, [](ReqHandle* h) {
      auto req = h->request();
      MsgBuffer& out = h->init_response(req.size());
      if (!req.empty()) std::memcpy(out.data(), req.data(), req.size());
      h->rpc()->enqueue_response(h);
    });
    server = std::make_unique<Rpc>(*sn, 0);
    client = std::make_unique<Rpc>(*cn, 0);
    st->peer = ct;
    ct->peer = st;
    st->tag = 1;
    ct->tag = 0;
  }

  void step() {
    now_ns += kTickNs;
    client->run_event_loop_once();
    server->run_event_loop_once();
  }

  // A connected session, reusing the current one while it is up.
  void ensure_session() {
    if (have_session && client->session_state(session) == SessionState::kConnected) return;
    if (have_session) client->disconnect(session);
    bool done = false;
    Status st = Status::kInternal;
    session = client->create_session("fuzzpipe://server:1", [&](SessionId, Status s) {
      if (done) fail("connect callback ran twice");
      done = true;
      st = s;
    });
    have_session = true;
    for (int i = 0; i < 20000 && !done; ++i) step();
    if (!done) fail("connect never completed");
    if (st != Status::kOk) fail("the server no longer accepts sessions");
  }

  // One call of `size` bytes: must complete exactly once, before the
  // deadline. `during`, if set, runs once the call is in flight.
  //
  // A packet carrying the live session's token and this call's request
  // number is, by the protocol, from the server: if one was injected
  // (*forged_answer), an Ok need not be the echo.
  template <typename F = void (*)()>
  Status call(
      size_t size, F during = [] {}, const bool* forged_answer = nullptr) {
    MsgBuffer req = client->alloc_msg_buffer(size);
    MsgBuffer resp = client->alloc_msg_buffer(size);
    if (size != 0) std::memset(req.data(), 0x5a, size);
    int completions = 0;
    Status st = Status::kInternal;
    Status rc = client->enqueue_request(session, kEcho, &req, &resp, [&](Status s) {
      completions++;
      st = s;
    });
    if (rc != Status::kOk) return rc;  // e.g. the session just went down: not a call
    step();
    during();
    for (int i = 0; i < 20000 && completions == 0; ++i) step();
    if (completions == 0) fail("a call never completed (hang)");
    for (int i = 0; i < 50; ++i) step();  // late duplicates must not complete it again
    if (completions != 1) fail("a call completed more than once");
    const bool may_differ = forged_answer != nullptr && *forged_answer;
    if (st == Status::kOk && !may_differ &&
        (resp.size() != size ||
         (size != 0 && (resp.data()[0] != 0x5a || resp.data()[size - 1] != 0x5a)))) {
      fail("an Ok response is not the echo of the request");
    }
    return st;
  }
};

void print_stats(const char* who, const RpcStats& s) {
  std::fprintf(stderr,
               "fuzz_packet: %s: rx %llu, dropped truncated %llu, magic %llu, version %llu, "
               "type %llu, session %llu, token %llu, malformed %llu, stale %llu, out of order "
               "%llu; requests handled %llu, calls completed %llu, sessions failed %llu\n",
               who, (unsigned long long)s.pkts_rx, (unsigned long long)s.drop_truncated,
               (unsigned long long)s.drop_bad_magic, (unsigned long long)s.drop_bad_version,
               (unsigned long long)s.drop_bad_type, (unsigned long long)s.drop_unknown_session,
               (unsigned long long)s.drop_bad_token, (unsigned long long)s.drop_malformed,
               (unsigned long long)s.drop_stale, (unsigned long long)s.drop_out_of_order,
               (unsigned long long)s.requests_handled, (unsigned long long)s.calls_completed,
               (unsigned long long)s.sessions_failed);
}

World* g_world = nullptr;

World& world() {
  if (g_world == nullptr) {
    g_world = new World();  // never destroyed: process exit ends it
    // Where the packets went: a fuzzer whose inputs all die at the magic
    // check tests nothing, and this shows it.
    std::atexit([] {
      print_stats("server", g_world->server->stats());
      print_stats("client", g_world->client->stats());
    });
  }
  return *g_world;
}

}  // namespace

std::vector<std::vector<uint8_t>> flit_fuzz_seeds() {
  World& w = world();
  std::vector<std::vector<uint8_t>> seeds;
  w.st->record = &seeds;
  w.ct->record = &seeds;
  w.ensure_session();
  w.call(0);
  w.call(32);
  w.call(5000);  // four packets each way: credit returns, requests for response
  // A second session's handshake and disconnect. The first stays up: the
  // seeds carry its tokens, so mutated packets get past the token check
  // into the slot and reassembly logic (until an input closes it).
  const SessionId keep = w.session;
  w.have_session = false;
  w.ensure_session();
  w.client->disconnect(w.session);
  for (int i = 0; i < 200; ++i) w.step();
  w.session = keep;
  w.have_session = true;
  w.call(0);  // so that last_ids are the kept session's again
  std::memcpy(w.seed_ids[0], w.st->last_ids, sizeof w.seed_ids[0]);
  std::memcpy(w.seed_ids[1], w.ct->last_ids, sizeof w.seed_ids[1]);
  w.st->record = nullptr;
  w.ct->record = nullptr;
  return seeds;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = world();
  w.ensure_session();
  if (size != 0) {
    const int side = data[0] & 1;  // 1: to the server
    Pipe* to = side != 0 ? w.st : w.ct;
    Pipe* from = side != 0 ? w.ct : w.st;
    const size_t len = std::min(size - 1, kMtu);
    std::vector<uint8_t> pkt(data + 1, data + 1 + len);
    // A session field still equal to the seed session's is rebased onto the
    // session now up (a new one after an input closed the old), so that
    // mutations keep reaching the code behind the token check; a mutated
    // field stays as the input has it.
    for (int f = 0; f < 3; ++f) {
      if (pkt.size() >= kIdOff[f] + kIdLen[f] &&
          std::memcmp(pkt.data() + kIdOff[f], w.seed_ids[side][f], kIdLen[f]) == 0) {
        std::memcpy(pkt.data() + kIdOff[f], from->last_ids[f], kIdLen[f]);
      }
    }
    // Delivered while a three-packet call is in flight, so a stray response,
    // credit return or reset meets a busy slot.
    bool forged_answer = false;
    w.call(
        3000,
        [&] {
          uint64_t req_num = 0;
          if (side == 0 && pkt.size() >= 32) std::memcpy(&req_num, pkt.data() + 24, 8);
          forged_answer = side == 0 && pkt.size() >= 32 && req_num == w.ct->last_req_num;
          to->inject_first(std::move(pkt));
        },
        &forged_answer);
  }
  w.ensure_session();
  w.call(32);
  return 0;
}
