// tests/rpc_udp_test.cc: tests only the UDP transport can run: raw sockets
// that send what no engine would, IPv6, ports with nobody listening.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "flit/flit.h"
#include "pkthdr.h"
#include "rpc_fixture.h"

namespace flit::testing {

// sendmmsg as this process sees it, libflit's included: the real one,
// counted, unless a test asks it to fail with an errno.
std::atomic<int> g_sendmmsg_errno{0};
std::atomic<int> g_sendmmsg_calls{0};

}  // namespace flit::testing

extern "C" int sendmmsg(int fd, struct mmsghdr* msgs, unsigned int n, int flags) {
  using Real = int (*)(int, struct mmsghdr*, unsigned int, int);
  static const Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "sendmmsg"));
  flit::testing::g_sendmmsg_calls.fetch_add(1);
  if (int e = flit::testing::g_sendmmsg_errno.load(); e != 0) {
    errno = e;
    return -1;
  }
  return real(fd, msgs, n, flags);
}

namespace flit::testing {
namespace {

// A full socket send buffer (EAGAIN, ENOBUFS) ends the burst: the rest of
// it is dropped and counted with no more system calls. Before, each
// remaining packet cost one more failing sendmmsg, when the machine was
// already overloaded.
TEST(RpcUdpTransport, FullSendBufferEndsTheBurstInOneSystemCall) {
  Nexus nexus(NexusConfig{});
  std::unique_ptr<transport::Transport> t = nexus.make_transport(0);
  uint16_t port = 0;
  int fd = bind_loopback_udp(SOCK_NONBLOCK, &port);
  ASSERT_GE(fd, 0);
  const transport::Route to = t->resolve("udp://127.0.0.1:" + std::to_string(port));
  uint8_t hdr[kPktHdrSize] = {};
  std::vector<transport::TxPacket> pkts(64, transport::TxPacket{&to, hdr, nullptr, 0});
  for (int e : {EAGAIN, ENOBUFS}) {
    const uint64_t dropped = t->stats().tx_dropped;
    g_sendmmsg_calls.store(0);
    g_sendmmsg_errno.store(e);
    EXPECT_EQ(t->tx_burst(pkts.data(), static_cast<uint32_t>(pkts.size())), 0u);
    g_sendmmsg_errno.store(0);
    EXPECT_EQ(g_sendmmsg_calls.load(), 1) << std::strerror(e);
    EXPECT_EQ(t->stats().tx_dropped - dropped, pkts.size());
  }
  // Then sends go out again, all in one call.
  g_sendmmsg_calls.store(0);
  EXPECT_EQ(t->tx_burst(pkts.data(), 8), 8u);
  EXPECT_EQ(g_sendmmsg_calls.load(), 1);
  close(fd);
}

TEST(RpcUdpNoServer, ConnectToPortWithNoServerIsUnavailableWithinDeadline) {
  // Find a port nobody listens on: bind one, note it, close it.
  uint16_t port = 0;
  int fd = bind_loopback_udp(0, &port);
  ASSERT_GE(fd, 0);
  close(fd);
  std::string uri = "udp://127.0.0.1:" + std::to_string(port);

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

// Something else in connect()'s event loop throws (here a timer): the
// half-made session goes with the exception (its callback writes into
// connect()'s frame), and the Rpc goes on.
TEST(RpcUdpNoServer, ConnectLeftByAnExceptionDropsItsSession) {
  // A bound socket nobody reads: the handshake is never answered.
  uint16_t port = 0;
  int fd = bind_loopback_udp(0, &port);
  ASSERT_GE(fd, 0);
  Nexus nexus(NexusConfig{});
  Rpc rpc(nexus, 0);
  rpc.schedule(Duration::zero(), [] { throw std::runtime_error("a timer's failure"); });
  SessionId s = kInvalidSession;
  try {
    (void)rpc.connect("udp://127.0.0.1:" + std::to_string(port), &s);
    ADD_FAILURE() << "connect did not pass the timer's exception on";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "a timer's failure");
  }
  EXPECT_EQ(s, kInvalidSession);
  EXPECT_EQ(rpc.num_client_sessions(), 0u);
  // Nothing is left to fire: the loop runs on quietly.
  EXPECT_NO_THROW(rpc.run_event_loop(20ms));
  close(fd);
}

// A server (here a raw socket speaking the wire format) may grant fewer
// than 32 credits at connect. The client keeps within them and, once a call
// is done, has exactly those back: the engine's credit check is against
// what the server granted, not a constant a peer could trip.
TEST(RpcUdpRawServer, ServerGrantingFewerCreditsIsServedWithinThem) {
  uint16_t port = 0;
  int fd = bind_loopback_udp(SOCK_NONBLOCK, &port);
  ASSERT_GE(fd, 0);
  const std::string uri = "udp://127.0.0.1:" + std::to_string(port);
  Nexus nexus(NexusConfig{});
  Rpc rpc(nexus, 0);
  constexpr uint16_t kGranted = 3;  // below the default eager count (4)
  constexpr uint64_t kServerToken = 0x5eed;
  uint64_t client_token = 0;
  uint32_t client_session = 0;
  int requests = 0;
  // One step of the raw server: answers a connect and single-packet
  // requests (echo), everything else is ignored.
  auto serve = [&] {
    uint8_t buf[2048];
    sockaddr_in from{};
    socklen_t flen = sizeof from;
    ssize_t r = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
    if (r < static_cast<ssize_t>(kPktHdrSize)) return;
    PktHdr h = PktHdr::load(buf);
    uint8_t out[2048];
    PktHdr o{};
    o.magic = kPktMagic;
    o.version = kPktVersion;
    o.src_session = 1;
    size_t n = 0;
    if (h.pkt_type() == PktType::kConnect) {
      ConnectPayload cp = load_payload<ConnectPayload>(buf + kPktHdrSize);
      client_token = h.token;
      client_session = cp.client_session;
      ConnectAckPayload ap{};
      ap.server_session = 1;
      ap.max_msg_size = 1 << 20;
      ap.slots = kSessionSlots;
      ap.credits = kGranted;
      ap.data_per_pkt = cp.data_per_pkt;
      ap.server_token = kServerToken;
      ap.server_epoch = 42;
      o.type = static_cast<uint8_t>(PktType::kConnectAck);
      o.dest_session = client_session;
      o.token = client_token;
      o.msg_size = sizeof ap;
      store_payload(ap, out + kPktHdrSize);
      n = sizeof ap;
    } else if (h.pkt_type() == PktType::kRequest && h.token == kServerToken && h.pkt_num == 0) {
      requests++;
      o.type = static_cast<uint8_t>(PktType::kResponse);
      o.method = h.method;
      o.dest_session = client_session;
      o.token = client_token;
      o.req_num = h.req_num;
      o.msg_size = h.msg_size;
      n = static_cast<size_t>(r) - kPktHdrSize;
      std::memcpy(out + kPktHdrSize, buf + kPktHdrSize, n);
    } else {
      return;
    }
    o.store(out);
    sendto(fd, out, kPktHdrSize + n, 0, reinterpret_cast<sockaddr*>(&from), flen);
  };
  bool up = false;
  Status cst = Status::kInternal;
  SessionId s = rpc.create_session(uri, [&](SessionId, Status st) {
    up = true;
    cst = st;
  });
  for (int i = 0; i < 2'000'000 && !up; ++i) {  // bounded
    rpc.run_event_loop_once();
    serve();
  }
  ASSERT_TRUE(up);
  ASSERT_EQ(cst, Status::kOk);
  MsgBuffer req = rpc.alloc_msg_buffer(32), resp = rpc.alloc_msg_buffer(32);
  for (int call = 0; call < 20; ++call) {
    std::memset(req.data(), call, 32);
    bool done = false;
    Status got = Status::kInternal;
    ASSERT_EQ(rpc.enqueue_request(s, 1, &req, &resp,
                                  [&](Status st) {
                                    done = true;
                                    got = st;
                                  }),
              Status::kOk);
    for (int i = 0; i < 2'000'000 && !done; ++i) {
      rpc.run_event_loop_once();
      serve();
    }
    ASSERT_TRUE(done) << "call " << call;
    ASSERT_EQ(got, Status::kOk) << "call " << call;
    ASSERT_EQ(resp.size(), 32u);
    EXPECT_EQ(resp.data()[31], call);
  }
  EXPECT_EQ(requests, 20);
  close(fd);
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

// Constructing a Nexus from c throws a flit::Error whose message has want.
void expect_config_error(const NexusConfig& c, const std::string& want) {
  try {
    Nexus nexus(c);
    ADD_FAILURE() << "no error; wanted: " << want;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
  }
}

TEST(RpcUdpMisuse, EagerResponsePacketsOutOfRangeIsAClearError) {
  for (uint32_t bad : {0u, kSessionCredits + 1}) {
    NexusConfig c;
    c.eager_response_pkts = bad;
    expect_config_error(c, "eager_response_pkts must be in [1, 32], got " + std::to_string(bad));
  }
}

TEST(RpcUdpMisuse, RxBurstOutOfRangeIsAClearError) {
  for (uint32_t bad : {0u, kMaxRxBurst + 1}) {
    NexusConfig c;
    c.rx_burst = bad;
    expect_config_error(c, "rx_burst must be in [1, 32], got " + std::to_string(bad));
  }
}

// Clients with other eager counts than the default, against the same server:
// a call costs the request and one request-for-response per response packet
// past the eager ones, and the responses are byte-exact.
TEST_F(RpcTest, ClientsChooseHowManyResponsePacketsComeUnasked) {
  const size_t dpp = client_->data_per_pkt();
  for (uint32_t eager : {1u, 2u, 7u}) {
    NexusConfig cfg = test_env().client_config();
    cfg.eager_response_pkts = eager;
    Nexus nexus(cfg);
    Rpc rpc(nexus, 0);
    SessionId s = kInvalidSession;
    ASSERT_EQ(rpc.connect(server_->uri(), &s), Status::kOk);
    for (uint64_t pkts : {uint64_t{1}, uint64_t{3}, uint64_t{7}, uint64_t{9}}) {
      MsgBuffer req = rpc.alloc_msg_buffer(8), resp = rpc.alloc_msg_buffer(1);
      const uint64_t n = (pkts - 1) * dpp + 5;
      std::memcpy(req.data(), &n, 8);
      const uint64_t before = rpc.stats().pkts_tx;
      ASSERT_EQ(rpc.call(s, kSized, req, &resp), Status::kOk);
      const uint64_t sent = rpc.stats().pkts_tx - before;
      ASSERT_EQ(resp.size(), n);
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(resp.data()[i], static_cast<uint8_t>(i * 7));
      EXPECT_EQ(sent, 1 + (pkts > eager ? pkts - eager : 0))
          << "eager " << eager << ", " << pkts << "-packet response";
    }
    // Eight calls at once still fit the session's credits (with 7 eager
    // packets each, some wait for credits; all complete).
    MsgBuffer reqs[kSessionSlots], resps[kSessionSlots];
    int done = 0;
    for (uint32_t k = 0; k < kSessionSlots; ++k) {
      reqs[k] = rpc.alloc_msg_buffer(8);
      resps[k] = rpc.alloc_msg_buffer(1);
      const uint64_t n = 2 * dpp;
      std::memcpy(reqs[k].data(), &n, 8);
      ASSERT_EQ(rpc.enqueue_request(s, kSized, &reqs[k], &resps[k],
                                    [&done](Status st) { done += st == Status::kOk; }),
                Status::kOk);
    }
    ASSERT_TRUE(poll_until(rpc, [&] { return done == static_cast<int>(kSessionSlots); }));
    EXPECT_EQ(rpc.stats().retransmissions, 0u) << "eager " << eager;
  }
}

TEST(RpcUdpMisuse, UnbuiltOrUnknownTransportSaysSo) {
  // A transport this build lacks is named as such; an unknown one lists
  // those it has.
  std::vector<std::string> built = Nexus::transports_built();
  for (std::string t : {"dpdk", "rdma"}) {
    if (std::find(built.begin(), built.end(), t) != built.end()) continue;
    NexusConfig c;
    c.transport = t;
    Nexus nexus(c);
    try {
      Rpc rpc(nexus, 0);
      ADD_FAILURE() << t;
    } catch (const Error& e) {
      std::string want = std::string("built without ") + (t == "dpdk" ? "DPDK" : "RDMA");
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  }
  NexusConfig c;
  c.transport = "carrier-pigeon";
  Nexus nexus(c);
  try {
    Rpc rpc(nexus, 0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown transport 'carrier-pigeon'"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("udp"), std::string::npos) << e.what();
  }
}

// Option values are plain decimal numbers in range: "-1" is not a huge
// buffer, "4k" not 4, and a size past the kernel's limit is refused rather
// than cut down unsaid.
TEST(RpcUdpMisuse, BadOptionValuesAreClearErrors) {
  auto error_for = [](const std::string& opt) -> std::string {
    NexusConfig c;
    c.transport_options = {opt};
    Nexus nexus(c);
    try {
      Rpc rpc(nexus, 0);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  for (const char* v : {"rcvbuf=-1", "rcvbuf=4k", "rcvbuf= 5", "rcvbuf=", "sndbuf=0x100"}) {
    EXPECT_NE(error_for(v).find(std::string(v) + ": not a number"), std::string::npos)
        << error_for(v);
  }
  for (const char* v : {"rcvbuf=2147483648", "sndbuf=0", "sndbuf=99999999999999999999999"}) {
    EXPECT_NE(error_for(v).find(std::string(v) + ": out of range [1, 1073741824]"),
              std::string::npos)
        << error_for(v);
  }
  EXPECT_EQ(error_for("rcvbuf=1073741824"), "(no error)");
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

// A link-local address names a host only together with its interface:
// the same address on two interfaces is two peers, and a route prints the
// interface, so a URI made from it (a server's local_uri) reaches it again.
TEST(RpcUdpIpv6, LinkLocalAddressesKeepTheirInterface) {
  NexusConfig c;
  c.client_bind_host = "::";
  Nexus nexus(c);
  std::unique_ptr<transport::Transport> t = nexus.make_transport(0);
  const transport::Route on_lo = t->resolve("udp://[fe80::1%lo]:4000");
  const transport::Route on_1 = t->resolve("udp://[fe80::1%1]:4000");  // lo's index
  const transport::Route on_9 = t->resolve("udp://[fe80::1%9]:4000");
  EXPECT_TRUE(t->same_peer(on_lo, on_1));
  EXPECT_FALSE(t->same_peer(on_lo, on_9));
  EXPECT_EQ(t->route_to_string(on_lo), "udp://[fe80::1%lo]:4000");
  EXPECT_EQ(t->route_to_string(on_9), "udp://[fe80::1%9]:4000");
  // A global address has no interface to compare or print.
  EXPECT_EQ(t->route_to_string(t->resolve("udp://[2001:db8::1]:4000")), "udp://[2001:db8::1]:4000");
}

// --- Names with several addresses -----------------------------------------

// This thread's own /etc/hosts, in a private mount namespace (root only):
// a name can then have the addresses a test needs, in the order it needs,
// whatever the machine's resolver configuration says.
class PrivateHosts {
 public:
  explicit PrivateHosts(const std::string& text) {
    if (geteuid() != 0) {
      skip_ = "needs root for a private /etc/hosts (mount namespace)";
      return;
    }
    // Back to this namespace afterwards, so later tests see the real /etc.
    orig_ns_ = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (orig_ns_ < 0 || unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      skip_ = std::string("cannot make a private mount namespace: ") + std::strerror(errno);
      return;
    }
    char path[] = "/tmp/flit-hosts-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) throw Error(std::string("mkstemp: ") + std::strerror(errno));
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
    file_ = path;
    if (mount(path, "/etc/hosts", nullptr, MS_BIND, nullptr) != 0)
      throw Error(std::string("bind-mounting /etc/hosts: ") + std::strerror(errno));
    mounted_ = true;
  }
  ~PrivateHosts() {
    if (mounted_) umount("/etc/hosts");
    if (!file_.empty()) unlink(file_.c_str());
    if (orig_ns_ >= 0) {
      EXPECT_EQ(setns(orig_ns_, CLONE_NEWNS), 0) << std::strerror(errno);
      close(orig_ns_);
    }
  }
  const std::string& skip() const { return skip_; }

 private:
  std::string skip_, file_;
  bool mounted_ = false;
  int orig_ns_ = -1;
};

// The addresses getaddrinfo gives for a name, in its order, as text.
std::vector<std::string> addresses_of(const char* name) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  std::vector<std::string> out;
  if (getaddrinfo(name, "1", &hints, &res) != 0) return out;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    char buf[INET6_ADDRSTRLEN] = {};
    const void* a =
        ai->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr);
    inet_ntop(ai->ai_family, a, buf, sizeof buf);
    out.push_back(buf);
  }
  freeaddrinfo(res);
  return out;
}

// localhost on most machines: ::1 and 127.0.0.1. A server listening on one
// of them is reached whichever the resolver puts first: the connect tries
// each address in turn.
TEST(RpcUdpResolve, NameWithTwoAddressesReachesAServerOnTheSecond) {
  PrivateHosts hosts("::1 flit-two.test\n127.0.0.1 flit-two.test\n");
  if (!hosts.skip().empty()) GTEST_SKIP() << hosts.skip();
  std::vector<std::string> order = addresses_of("flit-two.test");
  if (order.size() != 2u) {
    GTEST_SKIP() << "the resolver does not answer from /etc/hosts (nscd, or nss-resolve before "
                    "files?): flit-two.test gave "
                 << order.size() << " addresses";
  }
  // The server takes the address the resolver lists second, so the first
  // attempt always goes where nobody listens.
  const std::string second = order[1];
  NexusConfig sc;
  sc.listen_uri =
      second.find(':') != std::string::npos ? "udp://[" + second + "]:0" : "udp://" + second + ":0";
  ServerThread server(sc, [](Nexus& n) { n.register_handler(kEcho, echo); });
  const std::string port = server.uri().substr(server.uri().rfind(':') + 1);
  Nexus nexus(NexusConfig{});  // dual-stack client: both addresses reachable
  Rpc rpc(nexus, 0);
  SessionId s;
  ASSERT_EQ(rpc.connect("udp://flit-two.test:" + port, &s), Status::kOk)
      << "server on " << server.uri() << ", resolver order " << order[0] << ", " << order[1];
  MsgBuffer req = rpc.alloc_msg_buffer(100), resp = rpc.alloc_msg_buffer(100);
  fill_random(req, 5);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(rpc.call(s, kEcho, req, &resp), Status::kOk);
    ASSERT_EQ(std::memcmp(req.data(), resp.data(), 100), 0);
  }
}

// A dual-stack server reached through both of a name's addresses (the acks
// lost for a while, so the client alternates): one session for the client,
// not one per address it came from.
TEST(RpcUdpResolve, ServerReachedThroughTwoAddressesKeepsOneSessionPerClient) {
  PrivateHosts hosts("::1 flit-two.test\n127.0.0.1 flit-two.test\n");
  if (!hosts.skip().empty()) GTEST_SKIP() << hosts.skip();
  if (addresses_of("flit-two.test").size() != 2u)
    GTEST_SKIP() << "the resolver does not answer from /etc/hosts";
  NexusConfig sc;
  sc.listen_uri = "udp://[::]:0";
  ServerThread server(sc, [](Nexus& n) { n.register_handler(kEcho, echo); });
  const std::string port = server.uri().substr(server.uri().rfind(':') + 1);
  server.run_on_server([](Rpc& r) { r.set_fault_injection({.drop_tx = 1.0}); });
  NexusConfig cc;
  cc.connect_timeout = std::chrono::seconds(10);  // however slowly this machine runs the steps
  Nexus nexus(cc);
  Rpc rpc(nexus, 0);
  bool done = false;
  Status st = Status::kInternal;
  SessionId s = rpc.create_session("udp://flit-two.test:" + port, [&](SessionId, Status r) {
    done = true;
    st = r;
  });
  // Until the server has had connects from both addresses (three attempts).
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server.stats().pkts_rx < 3 && std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 1000; ++i) rpc.run_event_loop_once();
  }
  ASSERT_GE(server.stats().pkts_rx, 3u);
  server.run_on_server([](Rpc& r) { r.set_fault_injection({}); });
  while (!done) rpc.run_event_loop_once();  // ends by the connect deadline at the latest
  ASSERT_EQ(st, Status::kOk);
  EXPECT_EQ(server.num_sessions(), 1u);
  MsgBuffer req = rpc.alloc_msg_buffer(16), resp = rpc.alloc_msg_buffer(16);
  fill_random(req, 8);
  ASSERT_EQ(rpc.call(s, kEcho, req, &resp), Status::kOk);
  EXPECT_EQ(std::memcmp(req.data(), resp.data(), 16), 0);
}

// A socket bound to one IPv6 address cannot send to IPv4 ones: a name with
// only those is refused, saying why.
TEST(RpcUdpResolve, SocketOnOneIpv6AddressSkipsIpv4Addresses) {
  PrivateHosts hosts("127.0.0.1 flit-four.test\n");
  if (!hosts.skip().empty()) GTEST_SKIP() << hosts.skip();
  NexusConfig cc;
  cc.client_bind_host = "::1";
  Nexus nexus(cc);
  Rpc rpc(nexus, 0);
  SessionId s;
  const std::string e = connect_error(rpc, "udp://flit-four.test:9");
  EXPECT_NE(e.find("only IPv4 addresses"), std::string::npos) << e;
  // An IPv4-mapped IPv6 address is an IPv4 one too (before, it was kept,
  // and every send to it failed).
  const std::string m = connect_error(rpc, "udp://[::ffff:127.0.0.1]:9");
  EXPECT_NE(m.find("only IPv4 addresses"), std::string::npos) << m;
  NexusConfig any;
  any.client_bind_host = "::0";  // the any address, spelt otherwise: dual-stack
  Nexus nexus2(any);
  Rpc rpc2(nexus2, 0);
  NexusConfig sc;
  sc.listen_uri = "udp://127.0.0.1:0";
  ServerThread server(sc, [](Nexus& n) { n.register_handler(kEcho, echo); });
  const std::string port = server.uri().substr(server.uri().rfind(':') + 1);
  ASSERT_EQ(rpc2.connect("udp://flit-four.test:" + port, &s), Status::kOk);
}

// A socket bound to an IPv4-mapped address is an IPv4 socket in IPv6
// clothes: it reaches IPv4 peers, given either way, and no IPv6 one.
TEST(RpcUdpResolve, SocketOnAnIpv4MappedAddressReachesIpv4Peers) {
  NexusConfig sc;
  sc.listen_uri = "udp://127.0.0.1:0";
  ServerThread server(sc, [](Nexus& n) { n.register_handler(kEcho, echo); });
  const std::string port = server.uri().substr(server.uri().rfind(':') + 1);
  NexusConfig cc;
  cc.client_bind_host = "::ffff:127.0.0.1";
  Nexus nexus(cc);
  Rpc rpc(nexus, 0);
  MsgBuffer req = rpc.alloc_msg_buffer(8), resp = rpc.alloc_msg_buffer(8);
  fill_random(req, 9);
  for (const std::string host : {"127.0.0.1", "[::ffff:127.0.0.1]"}) {
    SessionId s;
    ASSERT_EQ(rpc.connect("udp://" + host + ":" + port, &s), Status::kOk) << host;
    ASSERT_EQ(rpc.call(s, kEcho, req, &resp), Status::kOk) << host;
  }
  const std::string e = connect_error(rpc, "udp://[::1]:" + port);
  EXPECT_NE(e.find("only IPv6 addresses"), std::string::npos) << e;
}

// An IPv4 socket skips a name's IPv6 addresses, and says so when that
// leaves none.
TEST(RpcUdpResolve, Ipv4ClientSkipsIpv6AddressesAndNamesTheProblemWhenNoneIsLeft) {
  PrivateHosts hosts(
      "::1 flit-two.test\n127.0.0.1 flit-two.test\n::1 flit-six.test\n"
      "::ffff:127.0.0.1 flit-mapped.test\n");
  if (!hosts.skip().empty()) GTEST_SKIP() << hosts.skip();
  NexusConfig sc;
  sc.listen_uri = "udp://127.0.0.1:0";
  ServerThread server(sc, [](Nexus& n) { n.register_handler(kEcho, echo); });
  const std::string port = server.uri().substr(server.uri().rfind(':') + 1);
  NexusConfig cc;
  cc.client_bind_host = "0.0.0.0";  // a plain IPv4 client socket
  Nexus nexus(cc);
  Rpc rpc(nexus, 0);
  SessionId s;
  ASSERT_EQ(rpc.connect("udp://flit-two.test:" + port, &s), Status::kOk);
  MsgBuffer req = rpc.alloc_msg_buffer(8), resp = rpc.alloc_msg_buffer(8);
  fill_random(req, 6);
  ASSERT_EQ(rpc.call(s, kEcho, req, &resp), Status::kOk);
  // An IPv4-mapped address is the IPv4 address to an IPv4 socket.
  SessionId m;
  ASSERT_EQ(rpc.connect("udp://flit-mapped.test:" + port, &m), Status::kOk);
  ASSERT_EQ(rpc.call(m, kEcho, req, &resp), Status::kOk);
  const std::string e = connect_error(rpc, "udp://flit-six.test:" + port);
  EXPECT_NE(e.find("only IPv6 addresses"), std::string::npos) << e;
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

TEST_F(RpcTest, BadPacketsAreDroppedAndCounted) {
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
  // Sends the packets with one sendmmsg, so the server most likely
  // receives them in one burst.
  void send_burst(const std::vector<std::pair<PktHdr, std::vector<uint8_t>>>& pkts) {
    std::vector<std::vector<uint8_t>> bufs;
    std::vector<iovec> iov(pkts.size());
    std::vector<mmsghdr> msgs(pkts.size());
    for (size_t i = 0; i < pkts.size(); ++i) {
      bufs.emplace_back(kPktHdrSize + pkts[i].second.size());
      pkts[i].first.store(bufs[i].data());
      std::copy(pkts[i].second.begin(), pkts[i].second.end(), bufs[i].begin() + kPktHdrSize);
      iov[i] = {bufs[i].data(), bufs[i].size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_name = &to_;
      msgs[i].msg_hdr.msg_namelen = sizeof to_;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    ASSERT_EQ(sendmmsg(fd_, msgs.data(), static_cast<unsigned>(msgs.size()), 0),
              static_cast<int>(msgs.size()));
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

  // A connect the server accepts (client session 5), for tests to change.
  static ConnectPayload connect_payload(uint32_t data_per_pkt) {
    ConnectPayload cp{};
    cp.client_session = 5;
    cp.max_msg_size = 1 << 20;
    cp.slots = kSessionSlots;
    cp.credits = kSessionCredits;
    cp.data_per_pkt = data_per_pkt;
    return cp;
  }

  // Sends a connect with payload cp and receives the server's answer.
  void connect(const ConnectPayload& cp, PktHdr* ack, std::vector<uint8_t>* ack_payload) {
    PktHdr h{};
    h.magic = kPktMagic;
    h.version = kPktVersion;
    h.type = static_cast<uint8_t>(PktType::kConnect);
    h.dest_session = kNoSession;
    h.token = my_token;
    uint8_t p[sizeof cp];
    store_payload(cp, p);
    h.msg_size = sizeof p;
    send(h, p, sizeof p);
    ASSERT_TRUE(recv(ack, ack_payload));
    ASSERT_EQ(ack->pkt_type(), PktType::kConnectAck);
  }

  void handshake(uint32_t data_per_pkt, uint16_t eager_pkts = 0) {
    ConnectPayload cp = connect_payload(data_per_pkt);
    cp.eager_pkts = eager_pkts;
    PktHdr a;
    std::vector<uint8_t> pl;
    ASSERT_NO_FATAL_FAILURE(connect(cp, &a, &pl));
    ASSERT_EQ(a.status, 0);
    ASSERT_EQ(a.dest_session, 5u);
    ASSERT_EQ(a.token, my_token);
    ASSERT_EQ(pl.size(), sizeof(ConnectAckPayload));
    ConnectAckPayload ap = load_payload<ConnectAckPayload>(pl.data());
    server_session = ap.server_session;
    server_token = ap.server_token;
  }

  PktHdr request(uint64_t req_num, uint32_t msg_size, uint32_t pkt_num = 0,
                 uint16_t method = kEcho) const {
    PktHdr h{};
    h.magic = kPktMagic;
    h.version = kPktVersion;
    h.type = static_cast<uint8_t>(PktType::kRequest);
    h.method = method;
    h.dest_session = server_session;
    h.token = server_token;
    h.req_num = req_num;
    h.msg_size = msg_size;
    h.pkt_num = pkt_num;
    h.src_session = 5;
    return h;
  }

  const uint64_t my_token = 0x0123456789abcdefULL;
  uint32_t server_session = 0;
  uint64_t server_token = 0;

 private:
  int fd_;
  sockaddr_in to_{};
};

TEST_F(RpcTest, MalformedSizesAreDroppedAndCounted) {
  RawClient raw(server_->uri());
  raw.handshake(static_cast<uint32_t>(client_->data_per_pkt()));
  ASSERT_EQ(server_->num_sessions(), 1u);
  uint8_t data[600] = {1, 2, 3};

  raw.send(raw.request(0, 100), data, 50);      // payload shorter than declared
  raw.send(raw.request(0, 100), data, 150);     // payload longer than declared
  raw.send(raw.request(0, 1u << 30), data, 0);  // larger than the server's maximum
  raw.send(raw.request(0, 100, 3), data, 100);  // packet 3 of a 1-packet message
  PktHdr wrong = raw.request(0, 3);
  wrong.token ^= 1;
  raw.send(wrong, data, 3);  // wrong token
  // ... is answered with a reset that echoes the token it carried, so only
  // the sender can match it to a session of its own.
  PktHdr r;
  std::vector<uint8_t> pl;
  ASSERT_TRUE(raw.recv(&r, &pl));
  EXPECT_EQ(r.pkt_type(), PktType::kReset);
  EXPECT_EQ(r.dest_session, 5u);
  EXPECT_EQ(r.token, wrong.token);

  // A well-formed request is answered; its duplicate gets the stored response
  // and the handler runs once (at most once per request).
  raw.send(raw.request(0, 3), data, 3);
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
  EXPECT_EQ(st.resets_sent, 1u);
  EXPECT_EQ(st.requests_handled, 1u);
  EXPECT_EQ(st.responses_resent, 1u);
}

// The wire format alone: a client that agreed to 2 eager packets gets
// response packets 0 and 1 of a 3-packet response unasked, and packet 2 only
// once it asks (a request-for-response for 1 first, to see that 2 was not
// already on its way: loopback keeps the order).
TEST_F(RpcTest, ServerSendsTheAgreedResponsePacketsUnasked) {
  RawClient raw(server_->uri());
  const uint32_t dpp = static_cast<uint32_t>(client_->data_per_pkt());
  raw.handshake(dpp, 2);
  const uint64_t n = 2 * uint64_t{dpp} + 10;  // 3 packets
  raw.send(raw.request(0, 8, 0, kSized), &n, 8);
  PktHdr r;
  std::vector<uint8_t> pl;
  for (uint32_t k : {0u, 1u}) {
    ASSERT_TRUE(raw.recv(&r, &pl));
    EXPECT_EQ(r.pkt_type(), PktType::kResponse);
    EXPECT_EQ(r.pkt_num, k);
    EXPECT_EQ(r.msg_size, n);
    EXPECT_EQ(pl.size(), dpp);
  }
  PktHdr rfr = raw.request(0, 0, 1, kSized);
  rfr.type = static_cast<uint8_t>(PktType::kRequestForResponse);
  raw.send(rfr, nullptr, 0);
  ASSERT_TRUE(raw.recv(&r, &pl));
  EXPECT_EQ(r.pkt_num, 1u);  // the answer to the request-for-response, not packet 2
  rfr.pkt_num = 2;
  raw.send(rfr, nullptr, 0);
  ASSERT_TRUE(raw.recv(&r, &pl));
  EXPECT_EQ(r.pkt_type(), PktType::kResponse);
  EXPECT_EQ(r.pkt_num, 2u);
  ASSERT_EQ(pl.size(), 10u);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(pl[i], static_cast<uint8_t>((2 * dpp + i) * 7));
  // The whole request again (its response lost): packet 0 and the eager one
  // come again from the stored response; the handler does not run again.
  raw.send(raw.request(0, 8, 0, kSized), &n, 8);
  for (uint32_t k : {0u, 1u}) {
    ASSERT_TRUE(raw.recv(&r, &pl));
    EXPECT_EQ(r.pkt_num, k);
  }
  EXPECT_EQ(server_->stats().requests_handled, 1u);
  EXPECT_EQ(server_->stats().responses_resent, 1u);
}

// A duplicate of request N and request N+8 (the same slot) in one burst:
// the duplicate queues a resend of N's stored response, and N+8 then frees
// that buffer, which N+8's own response takes at once. The resend must go
// out before, as N's response: not as a second copy of N+8's (nor, with
// another session's handler taking the buffer, as someone else's data).
TEST_F(RpcTest, ResendQueuedBeforeItsSlotsNextRequestCarriesTheOldResponse) {
  RawClient raw(server_->uri());
  ASSERT_NO_FATAL_FAILURE(raw.handshake(static_cast<uint32_t>(client_->data_per_pkt())));
  const std::vector<uint8_t> a(64, 'A'), b(64, 'B');
  PktHdr r;
  std::vector<uint8_t> pl;
  for (int round = 0; round < 20; ++round) {
    const uint64_t n = uint64_t{16} * static_cast<uint64_t>(round);  // slot 0 each time
    raw.send(raw.request(n, 64), a.data(), a.size());
    ASSERT_TRUE(raw.recv(&r, &pl));
    ASSERT_EQ(r.req_num, n);
    ASSERT_NO_FATAL_FAILURE(raw.send_burst({{raw.request(n, 64), a}, {raw.request(n + 8, 64), b}}));
    int got_old = 0, got_new = 0;
    while (got_old + got_new < 2) {
      ASSERT_TRUE(raw.recv(&r, &pl)) << "round " << round;
      if (r.pkt_type() != PktType::kResponse) continue;
      if (r.req_num == n) {
        got_old++;
        EXPECT_EQ(pl, a) << "round " << round;
      } else {
        ASSERT_EQ(r.req_num, n + 8) << "round " << round;
        got_new++;
        EXPECT_EQ(pl, b) << "round " << round;
      }
    }
    EXPECT_EQ(got_old, 1) << "round " << round;
    EXPECT_EQ(got_new, 1) << "round " << round;
  }
}

TEST_F(RpcTest, EagerCountAboveTheCreditsIsRefusedAtConnect) {
  RawClient raw(server_->uri());
  ConnectPayload cp = RawClient::connect_payload(static_cast<uint32_t>(client_->data_per_pkt()));
  cp.credits = 4;
  cp.eager_pkts = 5;  // more unasked packets than the client has credits for
  PktHdr a;
  std::vector<uint8_t> pl;
  ASSERT_NO_FATAL_FAILURE(raw.connect(cp, &a, &pl));
  EXPECT_EQ(status_from_wire(a.status), Status::kInvalidArgument);
  EXPECT_EQ(server_->num_sessions(), 0u);
}

TEST_F(RpcTest, MismatchedPacketSizeIsRefusedAtConnect) {
  RawClient raw(server_->uri());
  const ConnectPayload cp = RawClient::connect_payload(100);  // not the server's
  PktHdr a;
  std::vector<uint8_t> pl;
  ASSERT_NO_FATAL_FAILURE(raw.connect(cp, &a, &pl));
  EXPECT_EQ(status_from_wire(a.status), Status::kInvalidArgument);
  EXPECT_EQ(server_->num_sessions(), 0u);
}

}  // namespace
}  // namespace flit::testing

namespace flit::testing {
namespace {

// A transport whose receive queue holds `queued` junk packets (a header with
// a wrong magic, which the engine drops and counts), and which records the
// burst each rx_burst asks for.
class JunkQueue final : public transport::Transport {
 public:
  JunkQueue(JunkQueue** self, uint32_t queued) : queued_(queued) {
    *self = this;
    std::memset(junk_, 0xAB, sizeof junk_);
  }
  std::vector<uint32_t> asked;  // `max` of every rx_burst call

  std::string_view name() const override { return "junkqueue"; }
  size_t max_packet_size() const override { return 1472; }
  std::string local_uri() const override { return "junkqueue://local:1"; }
  transport::Route resolve(std::string_view) override { return {}; }
  bool same_peer(const transport::Route&, const transport::Route&) const override { return true; }
  std::string route_to_string(const transport::Route&) const override { return "junkqueue"; }
  uint32_t tx_burst(const transport::TxPacket*, uint32_t n) override { return n; }
  uint32_t rx_burst(transport::RxPacket* pkts, uint32_t max) override {
    asked.push_back(max);
    uint32_t n = 0;
    for (; n < max && queued_ != 0; ++n, --queued_) pkts[n] = {junk_, sizeof junk_, &route_, n};
    return n;
  }
  void rx_release(const transport::RxPacket*, uint32_t) override {}
  transport::TransportStats stats() const override { return {}; }

 private:
  uint32_t queued_;
  uint8_t junk_[kPktHdrSize];
  transport::Route route_{};
};

// Each event-loop iteration takes at most NexusConfig::rx_burst packets,
// by default kDefaultRxBurst; the rest wait for the next iteration.
TEST(RpcRxBurst, EachLoopIterationTakesAtMostRxBurstPackets) {
  for (uint32_t burst : {0u, 1u, 5u, kMaxRxBurst}) {  // 0: leave the default
    SCOPED_TRACE(burst);
    const uint32_t want = burst == 0 ? kDefaultRxBurst : burst;
    JunkQueue* t = nullptr;
    NexusConfig c;
    if (burst != 0) c.rx_burst = burst;
    const uint32_t queued = 2 * want + 3;
    c.transport_factory = [&](uint8_t) { return std::make_unique<JunkQueue>(&t, queued); };
    Nexus nexus(c);
    Rpc rpc(nexus, 0);
    for (uint64_t expect : {want, 2 * want, std::min(3 * want, queued)}) {
      rpc.run_event_loop_once();
      EXPECT_EQ(rpc.stats().drop_bad_magic, expect);
    }
    EXPECT_EQ(t->asked, std::vector<uint32_t>(3, want));
  }
}

}  // namespace
}  // namespace flit::testing
