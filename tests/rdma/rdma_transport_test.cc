// tests/rdma/rdma_transport_test.cc: the verbs test device is faithful enough
// to catch transport bugs, and the RDMA transport behaves on it: receive
// queue running dry, MTU splitting, inline and gather sends, clear errors.
#include "rdma_transport.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "flit/flit.h"
#include "rdma_route.h"
#include "rpc_fixture.h"
#include "verbs_test_device.h"

namespace flit::testing {
namespace {

namespace vd = verbs_device;

// ---------------------------------------------------------------------------
// The device itself, through the raw verbs API.

// One UD endpoint on a test device: QP in RTS, 64 KiB of registered memory.
struct RawQp {
  explicit RawQp(int dev = 0, uint32_t max_send_wr = 64, uint32_t max_inline = 256) {
    int n = 0;
    ibv_device** list = ibv_get_device_list(&n);
    EXPECT_GT(n, dev);
    ctx = ibv_open_device(list[dev]);
    ibv_free_device_list(list);
    pd = ibv_alloc_pd(ctx);
    scq = ibv_create_cq(ctx, 256, nullptr, nullptr, 0);
    rcq = ibv_create_cq(ctx, 256, nullptr, nullptr, 0);
    ibv_qp_init_attr ia{};
    ia.send_cq = scq;
    ia.recv_cq = rcq;
    ia.qp_type = IBV_QPT_UD;
    ia.cap = {max_send_wr, 64, 2, 1, max_inline};
    qp = ibv_create_qp(pd, &ia);
    ibv_qp_attr a{};
    a.qp_state = IBV_QPS_INIT;
    a.port_num = 1;
    a.qkey = 0x1234;
    EXPECT_EQ(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_QKEY),
              0);
    a = ibv_qp_attr{};
    a.qp_state = IBV_QPS_RTR;
    EXPECT_EQ(ibv_modify_qp(qp, &a, IBV_QP_STATE), 0);
    a.qp_state = IBV_QPS_RTS;
    EXPECT_EQ(ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN), 0);
    mem.resize(65536);
    mr = ibv_reg_mr(pd, mem.data(), mem.size(), IBV_ACCESS_LOCAL_WRITE);
    ibv_port_attr pa{};
    ibv_query_port(ctx, 1, &pa);
    ibv_ah_attr aa{};
    aa.port_num = 1;
    if (pa.link_layer == IBV_LINK_LAYER_ETHERNET) {
      aa.is_global = 1;
      aa.grh.sgid_index = 3;  // RoCE v2, IPv4-mapped
      ibv_query_gid(ctx, 1, 3, &aa.grh.dgid);
      aa.grh.hop_limit = 64;
    } else {
      aa.dlid = pa.lid;
    }
    self_ah = ibv_create_ah(pd, &aa);  // to any QP on this port
  }
  ~RawQp() {
    ibv_destroy_ah(self_ah);
    ibv_destroy_qp(qp);
    ibv_dereg_mr(mr);
    ibv_destroy_cq(scq);
    ibv_destroy_cq(rcq);
    ibv_dealloc_pd(pd);
    ibv_close_device(ctx);
  }
  uint8_t* buf(size_t off) { return mem.data() + off; }
  int post_recv(size_t off, uint32_t len, uint64_t id) {
    ibv_sge g{reinterpret_cast<uintptr_t>(buf(off)), len, mr->lkey};
    ibv_recv_wr wr{};
    wr.wr_id = id;
    wr.sg_list = &g;
    wr.num_sge = 1;
    ibv_recv_wr* bad = nullptr;
    return ibv_post_recv(qp, &wr, &bad);
  }
  int send(const RawQp& to, const void* data, uint32_t len, uint32_t lkey, int flags,
           uint64_t id = 0) {
    ibv_sge g{reinterpret_cast<uintptr_t>(data), len, lkey};
    ibv_send_wr wr{};
    wr.wr_id = id;
    wr.sg_list = &g;
    wr.num_sge = 1;
    wr.opcode = IBV_WR_SEND;
    wr.send_flags = static_cast<unsigned>(flags);
    wr.wr.ud.ah = self_ah;
    wr.wr.ud.remote_qpn = to.qp->qp_num;
    wr.wr.ud.remote_qkey = 0x1234;
    ibv_send_wr* bad = nullptr;
    return ibv_post_send(qp, &wr, &bad);
  }
  // A send to QP number qpn on this port with the given Q_Key.
  int send_to_qpn(uint32_t qpn, uint32_t qkey, const void* data, uint32_t len, uint32_t lkey) {
    ibv_sge g{reinterpret_cast<uintptr_t>(data), len, lkey};
    ibv_send_wr wr{};
    wr.sg_list = &g;
    wr.num_sge = 1;
    wr.opcode = IBV_WR_SEND;
    wr.send_flags = IBV_SEND_SIGNALED;
    wr.wr.ud.ah = self_ah;
    wr.wr.ud.remote_qpn = qpn;
    wr.wr.ud.remote_qkey = qkey;
    ibv_send_wr* bad = nullptr;
    return ibv_post_send(qp, &wr, &bad);
  }
  std::vector<ibv_wc> poll(ibv_cq* cq, int max = 64) {
    std::vector<ibv_wc> v(static_cast<size_t>(max));
    int n = ibv_poll_cq(cq, max, v.data());
    v.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return v;
  }

  ibv_context* ctx;
  ibv_pd* pd;
  ibv_cq *scq, *rcq;
  ibv_qp* qp;
  std::vector<uint8_t> mem;
  ibv_mr* mr;
  ibv_ah* self_ah;
};

class VerbsTestDevice : public ::testing::Test {
 protected:
  void SetUp() override { vd::reset(); }
};

TEST_F(VerbsTestDevice, InterposesLibibverbs) {
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  ASSERT_EQ(n, vd::kNumDevices);
  EXPECT_STREQ(ibv_get_device_name(list[0]), "flitdev0");
  EXPECT_STREQ(ibv_get_device_name(list[1]), "flitdev1");
  ibv_free_device_list(list);
}

TEST_F(VerbsTestDevice, DeliversOnlyIntoPostedReceivesAndDropsTheRest) {
  RawQp a, b;
  ASSERT_EQ(b.post_recv(0, 2048, 7), 0);
  ASSERT_EQ(b.post_recv(2048, 2048, 8), 0);
  const char msg[] = "hello";
  for (int i = 0; i < 3; ++i) ASSERT_EQ(a.send(b, msg, sizeof msg, 0, IBV_SEND_INLINE), 0);
  auto wc = b.poll(b.rcq);
  ASSERT_EQ(wc.size(), 2u);  // the third had no buffer: silently dropped
  EXPECT_EQ(wc[0].wr_id, 7u);
  EXPECT_EQ(wc[1].wr_id, 8u);
  EXPECT_EQ(vd::counters().dropped_no_recv, 1u);
  EXPECT_EQ(vd::counters().delivered, 2u);
  // Reposting makes the next one arrive.
  ASSERT_EQ(b.post_recv(0, 2048, 9), 0);
  ASSERT_EQ(a.send(b, msg, sizeof msg, 0, IBV_SEND_INLINE), 0);
  wc = b.poll(b.rcq);
  ASSERT_EQ(wc.size(), 1u);
  EXPECT_EQ(wc[0].wr_id, 9u);
}

TEST_F(VerbsTestDevice, PrependsTheGrhAndCountsItInByteLen) {
  RawQp a, b;
  ASSERT_EQ(b.post_recv(0, 2048, 1), 0);
  std::memcpy(a.buf(100), "0123456789", 10);
  ASSERT_EQ(a.send(b, a.buf(100), 10, a.mr->lkey, IBV_SEND_SIGNALED, 42), 0);
  auto sc = a.poll(a.scq);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(sc[0].wr_id, 42u);
  auto wc = b.poll(b.rcq);
  ASSERT_EQ(wc.size(), 1u);
  EXPECT_EQ(wc[0].status, IBV_WC_SUCCESS);
  EXPECT_EQ(wc[0].byte_len, 40u + 10u);
  EXPECT_NE(wc[0].wc_flags & IBV_WC_GRH, 0);
  EXPECT_EQ(wc[0].src_qp, a.qp->qp_num);
  EXPECT_EQ(std::memcmp(b.buf(40), "0123456789", 10), 0);
  // RoCE v2 over IPv4: the IPv4 header in the GRH area's last 20 bytes.
  EXPECT_EQ(b.buf(0)[20], 0x45);
  EXPECT_EQ(std::memcmp(b.buf(32), "\x7f\0\0\x01", 4), 0);
}

TEST_F(VerbsTestDevice, InfiniBandLidRoutingHasNoGrh) {
  RawQp a(1), b(1);
  ASSERT_EQ(b.post_recv(0, 8192, 1), 0);
  ASSERT_EQ(a.send(b, "x", 1, 0, IBV_SEND_INLINE), 0);
  auto wc = b.poll(b.rcq);
  ASSERT_EQ(wc.size(), 1u);
  EXPECT_EQ(wc[0].wc_flags & IBV_WC_GRH, 0);
  EXPECT_EQ(wc[0].slid, 0x11);
  EXPECT_EQ(wc[0].byte_len, 41u);
}

TEST_F(VerbsTestDevice, SendLargerThanTheMtuCompletesInErrorEvenUnsignalled) {
  RawQp a, b;  // RoCE port: MTU 1024
  ASSERT_EQ(b.post_recv(0, 4096, 1), 0);
  ASSERT_EQ(a.send(b, a.buf(0), 1025, a.mr->lkey, 0), 0);
  auto sc = a.poll(a.scq);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_LOC_LEN_ERR);
  EXPECT_TRUE(b.poll(b.rcq).empty());
  // The QP is in SQE now: posting fails until it is moved back to RTS.
  EXPECT_NE(a.send(b, a.buf(0), 10, a.mr->lkey, 0), 0);
  ibv_qp_attr at{};
  at.qp_state = IBV_QPS_RTS;
  ASSERT_EQ(ibv_modify_qp(a.qp, &at, IBV_QP_STATE), 0);
  EXPECT_EQ(a.send(b, a.buf(0), 1024, a.mr->lkey, IBV_SEND_SIGNALED), 0);
  EXPECT_EQ(b.poll(b.rcq).size(), 1u);
}

TEST_F(VerbsTestDevice, ReceiveBufferTooSmallForGrhPlusPacketIsAnError) {
  RawQp a, b;
  ASSERT_EQ(b.post_recv(0, 40 + 9, 1), 0);
  ASSERT_EQ(a.send(b, "0123456789", 10, 0, IBV_SEND_INLINE), 0);
  auto wc = b.poll(b.rcq);
  ASSERT_EQ(wc.size(), 1u);
  EXPECT_EQ(wc[0].status, IBV_WC_LOC_LEN_ERR);
}

TEST_F(VerbsTestDevice, UnpolledSendCompletionsFillTheSendQueue) {
  RawQp a(0, 8), b;
  for (int i = 0; i < 8; ++i) ASSERT_EQ(a.send(b, "x", 1, 0, IBV_SEND_INLINE), 0) << i;
  // Eight WRs outstanding, none signalled: the queue is full for good.
  EXPECT_EQ(a.send(b, "x", 1, 0, IBV_SEND_INLINE), ENOMEM);
  EXPECT_TRUE(a.poll(a.scq).empty());
  EXPECT_EQ(a.send(b, "x", 1, 0, IBV_SEND_INLINE), ENOMEM);

  RawQp c(0, 8);
  for (int i = 0; i < 7; ++i) ASSERT_EQ(c.send(b, "x", 1, 0, IBV_SEND_INLINE), 0);
  ASSERT_EQ(c.send(b, "x", 1, 0, IBV_SEND_INLINE | IBV_SEND_SIGNALED, 99), 0);
  EXPECT_EQ(c.send(b, "x", 1, 0, IBV_SEND_INLINE), ENOMEM);
  auto sc = c.poll(c.scq);  // the signalled completion retires all eight
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].wr_id, 99u);
  EXPECT_EQ(c.send(b, "x", 1, 0, IBV_SEND_INLINE), 0);
}

TEST_F(VerbsTestDevice, BadLkeyIsAProtectionError) {
  RawQp a, b;
  ASSERT_EQ(b.post_recv(0, 2048, 1), 0);
  std::vector<uint8_t> unregistered(64);
  ASSERT_EQ(a.send(b, unregistered.data(), 64, a.mr->lkey, IBV_SEND_SIGNALED), 0);
  auto sc = a.poll(a.scq);
  ASSERT_EQ(sc.size(), 1u);
  EXPECT_EQ(sc[0].status, IBV_WC_LOC_PROT_ERR);
  EXPECT_TRUE(b.poll(b.rcq).empty());
}

TEST_F(VerbsTestDevice, GatherSendsReadMemoryWhenExecutedInlineSendsAtPost) {
  RawQp a, b;
  ASSERT_EQ(b.post_recv(0, 2048, 1), 0);
  ASSERT_EQ(b.post_recv(2048, 2048, 2), 0);
  std::memcpy(a.buf(0), "AAAA", 4);
  ASSERT_EQ(a.send(b, a.buf(0), 4, a.mr->lkey, IBV_SEND_SIGNALED), 0);
  std::memcpy(a.buf(0), "BBBB", 4);  // reused before the completion: a bug
  char inl[4] = {'C', 'C', 'C', 'C'};
  ASSERT_EQ(a.send(b, inl, 4, 0, IBV_SEND_INLINE), 0);
  std::memcpy(inl, "DDDD", 4);  // fine: inline data was copied at post
  auto wc = b.poll(b.rcq);
  ASSERT_EQ(wc.size(), 2u);
  EXPECT_EQ(std::memcmp(b.buf(40), "BBBB", 4), 0) << "the reuse shows";
  EXPECT_EQ(std::memcmp(b.buf(2048 + 40), "CCCC", 4), 0);
}

TEST_F(VerbsTestDevice, WrongQkeyIsDropped) {
  RawQp a, b;
  ASSERT_EQ(b.post_recv(0, 2048, 1), 0);
  ibv_sge g{reinterpret_cast<uintptr_t>("x"), 1, 0};
  ibv_send_wr wr{};
  wr.sg_list = &g;
  wr.num_sge = 1;
  wr.opcode = IBV_WR_SEND;
  wr.send_flags = IBV_SEND_INLINE;
  wr.wr.ud.ah = a.self_ah;
  wr.wr.ud.remote_qpn = b.qp->qp_num;
  wr.wr.ud.remote_qkey = 0x9999;
  ibv_send_wr* bad = nullptr;
  ASSERT_EQ(ibv_post_send(a.qp, &wr, &bad), 0);
  EXPECT_TRUE(b.poll(b.rcq).empty());
  EXPECT_EQ(vd::counters().dropped_qkey, 1u);
}

TEST_F(VerbsTestDevice, QpStateTransitionsAreChecked) {
  RawQp a;
  ibv_qp_init_attr ia{};
  ia.send_cq = a.scq;
  ia.recv_cq = a.rcq;
  ia.qp_type = IBV_QPT_UD;
  ia.cap = {8, 8, 1, 1, 0};
  ibv_qp* q = ibv_create_qp(a.pd, &ia);
  ASSERT_NE(q, nullptr);
  ibv_qp_attr at{};
  at.qp_state = IBV_QPS_RTS;
  EXPECT_NE(ibv_modify_qp(q, &at, IBV_QP_STATE | IBV_QP_SQ_PSN), 0);  // RESET -> RTS
  ibv_recv_wr rwr{};
  ibv_recv_wr* rbad = nullptr;
  EXPECT_NE(ibv_post_recv(q, &rwr, &rbad), 0);  // RESET: no receives
  ia.qp_type = IBV_QPT_RC;
  EXPECT_EQ(ibv_create_qp(a.pd, &ia), nullptr);
  EXPECT_EQ(ibv_destroy_qp(q), 0);
}

// ---------------------------------------------------------------------------
// The transport on the device.

class RdmaTransportTest : public ::testing::Test {
 protected:
  void SetUp() override { vd::reset(); }
  void TearDown() override { vd::reset(); }

  static NexusConfig server(std::vector<std::string> opts = {}) {
    NexusConfig c = test_env().server_config();
    c.transport_options = std::move(opts);
    return c;
  }
  static NexusConfig client(std::vector<std::string> opts = {}) {
    NexusConfig c = test_env().client_config();
    c.transport_options = std::move(opts);
    return c;
  }
  // The error connect() throws (or "(no error)").
  static std::string connect_error(Rpc& r, const std::string& uri) {
    SessionId sid = kInvalidSession;
    try {
      (void)r.connect(uri, &sid);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }
  static std::string rpc_error(const NexusConfig& cfg) {
    try {
      Nexus n(cfg);
      Rpc r(n, 0);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }
};

TEST_F(RdmaTransportTest, NoDeviceIsAClearError) {
  vd::set_visible_devices(0);
  std::string e = rpc_error(client());
  EXPECT_NE(e.find("no RDMA device found: use --transport udp"), std::string::npos) << e;
}

TEST_F(RdmaTransportTest, UnknownDeviceNameIsAClearError) {
  std::string e = rpc_error(client({"device=mlx5_9"}));
  EXPECT_NE(e.find("no RDMA device named 'mlx5_9'"), std::string::npos) << e;
  EXPECT_NE(e.find("flitdev0, flitdev1"), std::string::npos) << e;
}

TEST_F(RdmaTransportTest, PortDownIsAClearError) {
  vd::set_port_state(0, IBV_PORT_DOWN);
  std::string e = rpc_error(client());
  EXPECT_NE(e.find("port 1 of flitdev0 is DOWN"), std::string::npos) << e;
}

TEST_F(RdmaTransportTest, UnknownOptionListsTheValidOnes) {
  std::string e = rpc_error(client({"devcie=flitdev0"}));
  EXPECT_NE(e.find("unknown transport option 'devcie'"), std::string::npos) << e;
  EXPECT_NE(e.find("device=NAME"), std::string::npos) << e;
  e = rpc_error(client({"gid_index=9"}));
  EXPECT_NE(e.find("gid_index=9"), std::string::npos) << e;
}

TEST_F(RdmaTransportTest, NothingListeningIsAClearError) {
  Nexus n(client());
  Rpc r(n, 0);
  std::string uri;
  {
    // A port that was just free.
    Nexus s(server());
    Rpc sr(s, 0);
    uri = sr.local_uri();
  }
  const std::string e = connect_error(r, uri);
  EXPECT_NE(e.find("nothing listens at " + uri), std::string::npos) << e;
}

TEST_F(RdmaTransportTest, PacketSizeMismatchIsAClearError) {
  ServerThread srv(server({"device=flitdev1"}), [](Nexus& n) { n.register_handler(kEcho, echo); });
  Nexus n(client({"device=flitdev0"}));
  Rpc r(n, 0);
  const std::string e = connect_error(r, srv.uri());
  EXPECT_NE(e.find("uses packets of 4096 bytes, this Rpc 1024"), std::string::npos) << e;
}

// Echoes sizes around the inline and MTU boundaries and checks every byte.
void echo_sizes(Rpc& rpc, SessionId s, const std::vector<size_t>& sizes) {
  uint64_t seed = 1;
  for (size_t n : sizes) {
    MsgBuffer req = rpc.alloc_msg_buffer(n);
    fill_random(req, seed++);
    MsgBuffer resp = rpc.alloc_msg_buffer(8);
    ASSERT_EQ(rpc.call(s, kEcho, req, &resp), Status::kOk) << n;
    ASSERT_EQ(resp.size(), n);
    ASSERT_EQ(std::memcmp(resp.data(), req.data(), n), 0) << n;
  }
}

// Numbers in range, decimal (qkey also 0x-hex); nothing silently cut down.
TEST_F(RdmaTransportTest, BadOptionValuesAreClearErrors) {
  struct Case {
    const char* opt;
    const char* says;
  } cases[] = {
      {"qkey=-1", "qkey=-1: not a number (decimal, or hex as 0x...)"},
      {"qkey=0x1ffffffff", "out of range [0, 4294967295]"},
      {"qkey=0x", "not a number"},
      {"gid_index=256", "gid_index=256: out of range [0, 255]"},
      {"port=0", "port=0: out of range [1, 255]"},
      {"recv_depth=0", "recv_depth=0: out of range [1, 1048576]"},
      {"max_inline=5000", "max_inline=5000: out of range [0, 4096]"},
      {"max_peers=8192", "max_peers=8192: out of range [1, 4096]"},
      {"resolve_timeout_ms=1s", "resolve_timeout_ms=1s: not a number"},
  };
  for (const Case& c : cases) {
    std::string e = rpc_error(client({c.opt}));
    EXPECT_NE(e.find(c.says), std::string::npos) << c.opt << ": " << e;
  }
  // The default Q_Key written in hex is the default.
  ServerThread srv(server(), [](Nexus& n) { n.register_handler(kEcho, echo); });
  Nexus n(client({"qkey=0x464c4954"}));
  Rpc r(n, 0);
  SessionId s = kInvalidSession;
  ASSERT_EQ(r.connect(srv.uri(), &s), Status::kOk);
  echo_sizes(r, s, {1});
}

TEST_F(RdmaTransportTest, InlineAndGatherSendsBothDeliverTheRightBytes) {
  // 256 bytes inline: payloads up to 216 bytes go inline, larger ones are
  // gathered from the message buffer.
  std::vector<size_t> sizes = {0, 1, 100, 215, 216, 217, 500, 983, 984, 985, 5000, 100'000};
  {
    ServerThread srv(server(), [](Nexus& n) { n.register_handler(kEcho, echo); });
    Nexus n(client());
    Rpc r(n, 0);
    SessionId s = kInvalidSession;
    ASSERT_EQ(r.connect(srv.uri(), &s), Status::kOk);
    vd::Counters before = vd::counters();
    echo_sizes(r, s, sizes);
    vd::Counters after = vd::counters();
    EXPECT_GT(after.sends_inline - before.sends_inline, 10u);
    EXPECT_GT(after.sends_gather - before.sends_gather, 10u);
    EXPECT_EQ(after.send_errors, 0u);
  }
  {
    // Inline off on both ends: everything gathered.
    ServerThread srv(server({"max_inline=0"}), [](Nexus& n) { n.register_handler(kEcho, echo); });
    Nexus n(client({"max_inline=0"}));
    Rpc r(n, 0);
    SessionId s = kInvalidSession;
    ASSERT_EQ(r.connect(srv.uri(), &s), Status::kOk);
    vd::Counters before = vd::counters();
    echo_sizes(r, s, sizes);
    vd::Counters after = vd::counters();
    EXPECT_EQ(after.sends_inline - before.sends_inline, 0u);
    EXPECT_GT(after.sends_gather - before.sends_gather, 20u);
  }
  {
    // Everything up to 512 bytes inline.
    ServerThread srv(server({"max_inline=512"}), [](Nexus& n) { n.register_handler(kEcho, echo); });
    Nexus n(client({"max_inline=512"}));
    Rpc r(n, 0);
    SessionId s = kInvalidSession;
    ASSERT_EQ(r.connect(srv.uri(), &s), Status::kOk);
    echo_sizes(r, s, sizes);
  }
  EXPECT_EQ(vd::counters().send_errors, 0u);
}

TEST_F(RdmaTransportTest, MessagesLargerThanTheMtuAreSplit) {
  for (ibv_mtu mtu : {IBV_MTU_256, IBV_MTU_1024, IBV_MTU_4096}) {
    vd::reset();
    vd::set_active_mtu(0, mtu);
    size_t mtu_b = size_t{128} << static_cast<int>(mtu);
    ServerThread srv(server(), [](Nexus& n) { n.register_handler(kEcho, echo); });
    Nexus n(client());
    Rpc r(n, 0);
    EXPECT_EQ(r.data_per_pkt(), mtu_b - kPktHdrSize);
    SessionId s = kInvalidSession;
    ASSERT_EQ(r.connect(srv.uri(), &s), Status::kOk);
    vd::Counters before = vd::counters();
    echo_sizes(r, s, {30'000});
    vd::Counters after = vd::counters();
    // Request and response, each split into MTU-size packets.
    uint64_t pkts = 2 * ((30'000 + r.data_per_pkt() - 1) / r.data_per_pkt());
    EXPECT_GE(after.delivered - before.delivered, pkts) << mtu_b;
    EXPECT_EQ(after.max_delivered_len, mtu_b) << "full packets, never larger";
    EXPECT_EQ(after.send_errors, 0u);
  }
}

TEST_F(RdmaTransportTest, ReceiveQueueRunningDryDropsAndTheEngineRecovers) {
  // Eight receive buffers at the server: a window of 32 request packets
  // overruns them; the device drops what finds no buffer posted and the
  // client's retransmissions bring every call to completion, byte-exact.
  ServerThread srv(server({"recv_depth=8"}), [](Nexus& n) { n.register_handler(kEcho, echo); });
  Nexus n(client());
  Rpc r(n, 0);
  SessionId s = kInvalidSession;
  ASSERT_EQ(r.connect(srv.uri(), &s), Status::kOk);
  vd::Counters before = vd::counters();
  echo_sizes(r, s, {60'000, 60'001, 100'000, 5'000});
  EXPECT_GT(vd::counters().dropped_no_recv - before.dropped_no_recv, 0u);
  EXPECT_GT(r.stats().retransmissions, 0u);
  EXPECT_EQ(srv.stats().requests_handled, 4u);
}

TEST_F(RdmaTransportTest, ReceivesAreRepostedAsTheEngineReleasesThem) {
  // Far more packets than receive buffers, without loss: only possible if
  // every released buffer goes back to the receive queue.
  ServerThread srv(server({"recv_depth=64"}), [](Nexus& n) { n.register_handler(kEcho, echo); });
  Nexus n(client({"recv_depth=64"}));
  Rpc r(n, 0);
  SessionId s = kInvalidSession;
  ASSERT_EQ(r.connect(srv.uri(), &s), Status::kOk);
  vd::Counters before = vd::counters();
  for (int i = 0; i < 500; ++i) echo_sizes(r, s, {static_cast<size_t>(i % 3000)});
  vd::Counters after = vd::counters();
  EXPECT_GE(after.delivered - before.delivered, 1000u);
  EXPECT_EQ(after.dropped_no_recv - before.dropped_no_recv, 0u);
}

TEST_F(RdmaTransportTest, SendErrorsAreCountedAndTheQueuePairRecovers) {
  // Shrinking the port MTU under a running transport makes its full-size
  // sends complete in error (the QP enters SQE); the transport counts them
  // as dropped and moves the QP back to RTS, so traffic resumes once the
  // MTU is restored.
  ServerThread srv(server(), [](Nexus& n) { n.register_handler(kEcho, echo); });
  Nexus n(client());
  Rpc r(n, 0);
  SessionId s = kInvalidSession;
  ASSERT_EQ(r.connect(srv.uri(), &s), Status::kOk);
  echo_sizes(r, s, {5000});
  vd::set_active_mtu(0, IBV_MTU_512);
  MsgBuffer req = r.alloc_msg_buffer(5000), resp = r.alloc_msg_buffer(8);
  fill_random(req, 5);
  EXPECT_EQ(r.call(s, kEcho, req, &resp, std::chrono::milliseconds(100)),
            Status::kDeadlineExceeded);
  EXPECT_GT(vd::counters().send_errors, 0u);
  EXPECT_GT(r.transport_stats().tx_dropped, 0u);
  vd::set_active_mtu(0, IBV_MTU_1024);
  echo_sizes(r, s, {1, 5000, 20'000});
}

// A chain of zero-copy sends whose signalled last WR the driver refuses:
// the WRs posted before it complete unsignalled, so the transport posts the
// last of them again, signalled, and waits for that. Without it, the wait
// for the payloads ran into its 2 s limit (counted as one more drop) or
// ended on an older completion while the payloads were still being read.
TEST_F(RdmaTransportTest, RefusedLastWrOfAZeroCopyChainIsFencedByARepost) {
  ServerThread srv(server({"max_inline=0"}), [](Nexus& n) { n.register_handler(kEcho, echo); });
  Nexus n(client({"max_inline=0"}));
  Rpc r(n, 0);
  SessionId s = kInvalidSession;
  ASSERT_EQ(r.connect(srv.uri(), &s), Status::kOk);
  MsgBuffer req = r.alloc_msg_buffer(3 * r.data_per_pkt()), resp = r.alloc_msg_buffer(8);
  fill_random(req, 11);
  const uint64_t refused = vd::counters().post_send_refused;
  const uint64_t dropped = r.transport_stats().tx_dropped;
  vd::refuse_last_wr_of_next_chain();                    // the request's three packets: one chain
  ASSERT_EQ(r.call(s, kEcho, req, &resp), Status::kOk);  // the engine resends the refused one
  EXPECT_EQ(vd::counters().post_send_refused, refused + 1);
  EXPECT_EQ(r.transport_stats().tx_dropped, dropped + 1) << "the refused WR only; no wait timeout";
  EXPECT_EQ(std::memcmp(req.data(), resp.data(), req.size()), 0);
  EXPECT_EQ(vd::counters().send_errors, 0u);
}

// More remote hosts than the peer table holds: a server keeping one address
// handle (max_peers=1) serves two clients on different GIDs in turn. Each
// turn evicts the other's handle; a handle with sends still queued is
// destroyed only after they complete. Before, the second host was refused
// for good (4096 in normal use).
TEST_F(RdmaTransportTest, MoreHostsThanThePeerTableHoldsAreServedByEviction) {
  const int ahs = vd::live_ahs();
  {
    ServerThread srv(server({"max_peers=1"}), [](Nexus& n) { n.register_handler(kEcho, echo); });
    Nexus na(client({"gid_index=1"}));  // RoCE v2, link-local GID
    Nexus nb(client({"gid_index=3"}));  // RoCE v2, IPv4-mapped GID
    Rpc ra(na, 0), rb(nb, 0);
    SessionId sa = kInvalidSession, sb = kInvalidSession;
    ASSERT_EQ(ra.connect(srv.uri(), &sa), Status::kOk);
    ASSERT_EQ(rb.connect(srv.uri(), &sb), Status::kOk);
    for (int round = 0; round < 20; ++round) {
      echo_sizes(ra, sa, {100, 3000});
      echo_sizes(rb, sb, {100, 3000});
    }
    // Both at once, many calls in flight: the server's sends to one client
    // are still queued when the other's packets evict its handle.
    constexpr int kCalls = 16;
    std::vector<MsgBuffer> reqs, resps;
    for (int i = 0; i < 2 * kCalls; ++i) {
      reqs.push_back((i < kCalls ? ra : rb).alloc_msg_buffer(200));
      resps.push_back((i < kCalls ? ra : rb).alloc_msg_buffer(8));
      fill_random(reqs.back(), 100 + static_cast<uint64_t>(i));
    }
    for (int round = 0; round < 50; ++round) {
      int done = 0, ok = 0;
      for (int i = 0; i < 2 * kCalls; ++i) {
        Rpc& r = i < kCalls ? ra : rb;
        ASSERT_EQ(r.enqueue_request(i < kCalls ? sa : sb, kEcho, &reqs[i], &resps[i],
                                    [&, i](Status st) {
                                      done++;
                                      ok += st == Status::kOk &&
                                            std::memcmp(resps[i].data(), reqs[i].data(), 200) == 0;
                                    }),
                  Status::kOk);
      }
      while (done < 2 * kCalls) {  // ends: every call completes by its deadline
        ra.run_event_loop_once();
        rb.run_event_loop_once();
      }
      ASSERT_EQ(ok, 2 * kCalls) << "round " << round;
    }
    EXPECT_EQ(vd::counters().sends_on_destroyed_ah, 0u);
    EXPECT_EQ(vd::counters().send_errors, 0u);
  }
  EXPECT_EQ(vd::live_ahs(), ahs) << "every handle destroyed, evicted ones included";
  std::string e = rpc_error(server({"max_peers=3"}));
  EXPECT_NE(e.find("max_peers=3: a power of two from 1 to 4096"), std::string::npos) << e;
}

// The same, at the transport, deterministically: one send chunk to two
// hosts with room for one. Building the second WR evicts the first WR's
// host while that WR, not yet posted, names its handle: the handle must
// outlive the WR (parked), not be destroyed at eviction.
TEST_F(RdmaTransportTest, HandleEvictedWithinOneSendChunkOutlivesItsSend) {
  auto make = [](const std::string& opt) {
    transport::RdmaTransport::Options o;
    o.mgmt_host = "127.0.0.1";
    if (opt.rfind("gid_index=", 0) == 0) o.gid_index = std::stoi(opt.substr(10));
    if (opt.rfind("max_peers=", 0) == 0)
      o.max_peers = static_cast<uint32_t>(std::stoul(opt.substr(10)));
    return std::make_unique<transport::RdmaTransport>(o);
  };
  auto s = make("max_peers=1");
  auto a = make("gid_index=1");  // RoCE v2, link-local GID
  auto b = make("gid_index=3");  // RoCE v2, IPv4-mapped GID
  transport::Route to_a = s->resolve(a->local_uri());
  transport::Route to_b = s->resolve(b->local_uri());  // evicts a's handle
  EXPECT_EQ(s->peers_held(), 1u);
  const uint64_t evicted = s->peers_evicted();
  uint8_t hdr[kPktHdrSize] = {};
  const uint8_t payload[16] = {1, 2, 3};
  transport::TxPacket pkts[2] = {{&to_a, hdr, payload, sizeof payload},
                                 {&to_b, hdr, payload, sizeof payload}};
  ASSERT_EQ(s->tx_burst(pkts, 2), 2u);
  EXPECT_EQ(s->peers_evicted(), evicted + 2) << "b's handle for a's, then a's for b's";
  EXPECT_EQ(s->peers_held(), 1u);
  const auto counters = s->counters();  // what Rpc::transport_counters shows
  ASSERT_EQ(counters.size(), 3u);
  EXPECT_EQ(counters[0].name, "peers_held");
  EXPECT_EQ(counters[0].value, 1u);
  EXPECT_EQ(counters[1].name, "peers_evicted");
  EXPECT_EQ(counters[1].value, evicted + 2);
  EXPECT_EQ(counters[2].name, "qp_rebuilds");
  EXPECT_EQ(counters[2].value, 0u);
  for (transport::RdmaTransport* t : {a.get(), b.get()}) {
    transport::RxPacket p[4];
    uint32_t n = 0;
    for (int i = 0; i < 100'000 && n == 0; ++i) n = t->rx_burst(p, 4);
    ASSERT_EQ(n, 1u);
    EXPECT_EQ(p[0].len, kPktHdrSize + sizeof payload);
    t->rx_release(p, n);
  }
  EXPECT_EQ(vd::counters().sends_on_destroyed_ah, 0u);
  EXPECT_EQ(vd::counters().send_errors, 0u);
}

// Two transports on the test device, each able to reach the other.
struct RdmaPair {
  explicit RdmaPair(int max_inline = -1) {
    transport::RdmaTransport::Options o;
    o.mgmt_host = "127.0.0.1";
    o.recv_depth = kDepth;
    o.max_inline = max_inline;
    a = std::make_unique<transport::RdmaTransport>(o);
    b = std::make_unique<transport::RdmaTransport>(o);
    to_a = b->resolve(a->local_uri());
    to_b = a->resolve(b->local_uri());
  }
  // Sends one packet from->to; its bytes are checked. The packet stays with
  // the receiver unless release (then *held is left alone).
  static bool one_packet(transport::RdmaTransport& from, const transport::Route& route,
                         transport::RdmaTransport& to, bool release = true,
                         transport::RxPacket* held = nullptr) {
    uint8_t hdr[kPktHdrSize] = {};
    transport::TxPacket tx{&route, hdr, kPayload, sizeof kPayload};
    if (from.tx_burst(&tx, 1) != 1) return false;
    transport::RxPacket p[4];
    uint32_t n = 0;
    for (int i = 0; i < 100'000 && n == 0; ++i) n = to.rx_burst(p, 4);
    const bool ok = n == 1 && intact(p[0]);
    if (release) {
      to.rx_release(p, n);
    } else if (held != nullptr) {
      *held = p[0];
    }
    return ok;
  }
  static bool intact(const transport::RxPacket& p) {
    return p.len == kPktHdrSize + sizeof kPayload &&
           std::memcmp(p.data + kPktHdrSize, kPayload, sizeof kPayload) == 0;
  }
  static constexpr uint32_t kDepth = 64;
  static constexpr uint8_t kPayload[16] = {7, 8, 9, 10};
  std::unique_ptr<transport::RdmaTransport> a, b;
  transport::Route to_a, to_b;
};

// A fatal error moves a transport's QP to ERR (the device reports it
// asynchronously; vd::fail_qp stands for that): the receives posted on it
// complete with flush errors, and it would send and receive nothing more.
// The transport takes the first flushed receive as the sign, takes the QP
// through RESET back to RTS and posts its receive buffers again, but not
// the one the engine still holds: a full receive queue's worth of packets
// later, its bytes are intact and no buffer was posted twice. Traffic both
// ways resumes, and a second failure is mended as the first. Before, the
// QP stayed in ERR for good.
TEST_F(RdmaTransportTest, AQueuePairInErrorIsRebuiltAndTrafficResumes) {
  RdmaPair q;
  transport::RdmaTransport& a = *q.a;
  transport::RdmaTransport& b = *q.b;
  ASSERT_TRUE(RdmaPair::one_packet(b, q.to_a, a));
  transport::RxPacket held{};
  ASSERT_TRUE(RdmaPair::one_packet(b, q.to_a, a, false, &held));
  // (A released buffer may wait for a batch of reposts.)
  const uint32_t posted = a.recv_posted();
  const uint64_t rx_errors = a.stats().rx_errors;

  vd::fail_qp(a.qp_num());
  uint8_t hdr[kPktHdrSize] = {};
  transport::TxPacket tx{&q.to_a, hdr, RdmaPair::kPayload, sizeof RdmaPair::kPayload};
  ASSERT_EQ(b.tx_burst(&tx, 1), 1u);  // lost: a's QP takes nothing in ERR
  transport::RxPacket p[4];
  EXPECT_EQ(a.rx_burst(p, 4), 0u);  // the flushes: a rebuilds its QP
  EXPECT_EQ(a.qp_rebuilds(), 1u);
  EXPECT_EQ(a.stats().rx_errors - rx_errors, posted) << "one flush per posted receive";
  EXPECT_EQ(a.recv_posted(), RdmaPair::kDepth - 1) << "every buffer but the held one posted";

  for (uint32_t i = 0; i < RdmaPair::kDepth; ++i) {
    ASSERT_TRUE(RdmaPair::one_packet(b, q.to_a, a)) << "a receives again: packet " << i;
  }
  EXPECT_TRUE(RdmaPair::intact(held)) << "the held buffer was not received into";
  a.rx_release(&held, 1);
  EXPECT_TRUE(RdmaPair::one_packet(a, q.to_b, b)) << "a sends again";
  EXPECT_EQ(vd::counters().recv_posted_twice, 0u);
  EXPECT_EQ(b.qp_rebuilds(), 0u);

  // Again, at once: recover_qp looks at most every 10 ms, so a's polls
  // mend it within a few (bounded: 2 s).
  vd::fail_qp(a.qp_num());
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (a.qp_rebuilds() < 2 && std::chrono::steady_clock::now() < give_up) {
    a.rx_release(p, a.rx_burst(p, 4));
  }
  EXPECT_EQ(a.qp_rebuilds(), 2u);
  EXPECT_TRUE(RdmaPair::one_packet(b, q.to_a, a)) << "a receives after the second rebuild";
  EXPECT_TRUE(RdmaPair::one_packet(a, q.to_b, b)) << "a sends after the second rebuild";
  EXPECT_EQ(vd::counters().recv_posted_twice, 0u);
}

// The same when the device has not flushed the receives (providers differ
// in when they do; RESET discards them and, on mlx4/mlx5, their
// completions): the first sign is a send's flush, here from inside the
// wait for a zero-copy send (max_inline=0), which the rebuild ends. Every
// receive buffer is posted again all the same, none twice.
TEST_F(RdmaTransportTest, AQueuePairInErrorIsRebuiltFromASendWithoutReceiveFlushes) {
  RdmaPair q(0);
  transport::RdmaTransport& a = *q.a;
  transport::RdmaTransport& b = *q.b;
  ASSERT_TRUE(RdmaPair::one_packet(b, q.to_a, a));
  vd::fail_qp(a.qp_num(), false);
  uint8_t hdr[kPktHdrSize] = {};
  transport::TxPacket tx{&q.to_b, hdr, RdmaPair::kPayload, sizeof RdmaPair::kPayload};
  const uint64_t dropped = a.stats().tx_dropped;
  EXPECT_EQ(a.tx_burst(&tx, 1), 1u);  // posted, then flushed
  EXPECT_EQ(a.qp_rebuilds(), 1u);
  EXPECT_EQ(a.stats().tx_dropped, dropped + 1) << "the flushed send; no wait timeout";
  EXPECT_EQ(a.recv_posted(), RdmaPair::kDepth);
  transport::RxPacket p[4];
  EXPECT_EQ(b.rx_burst(p, 4), 0u) << "the flushed send never left";

  EXPECT_TRUE(RdmaPair::one_packet(b, q.to_a, a)) << "a receives again";
  EXPECT_TRUE(RdmaPair::one_packet(a, q.to_b, b)) << "a sends again";
  EXPECT_EQ(a.qp_rebuilds(), 1u);
  EXPECT_EQ(vd::counters().recv_posted_twice, 0u);
}

// Flushes that come only after the rebuild (a provider that makes them
// late and keeps them past RESET) name buffers the transport has posted
// again on the new QP: they are told apart by the rebuild count in the
// receive's wr_id and ignored. Taken as the new posts' completions, they
// would have the buffers posted a second time.
TEST_F(RdmaTransportTest, FlushesOfTheOldQueuePairAreNotTakenForTheNewOnes) {
  RdmaPair q(0);  // (zero-copy sends: tx_burst waits for, and sees, the flush)
  transport::RdmaTransport& a = *q.a;
  transport::RdmaTransport& b = *q.b;
  ASSERT_TRUE(RdmaPair::one_packet(b, q.to_a, a));
  vd::flush_late_at_reset(true);
  vd::fail_qp(a.qp_num(), false);
  uint8_t hdr[kPktHdrSize] = {};
  transport::TxPacket tx{&q.to_b, hdr, RdmaPair::kPayload, sizeof RdmaPair::kPayload};
  EXPECT_EQ(a.tx_burst(&tx, 1), 1u);  // flushed: a rebuilds; the old receives flush now
  EXPECT_EQ(a.qp_rebuilds(), 1u);
  const uint32_t posted = a.recv_posted();
  transport::RxPacket p[4];
  for (int i = 0; i < 100; ++i) a.rx_release(p, a.rx_burst(p, 4));  // the late flushes
  EXPECT_EQ(a.recv_posted(), posted);
  EXPECT_EQ(a.qp_rebuilds(), 1u) << "a late flush is no sign of a new error";
  EXPECT_EQ(vd::counters().recv_posted_twice, 0u);
  EXPECT_TRUE(RdmaPair::one_packet(b, q.to_a, a)) << "a receives again";
  EXPECT_TRUE(RdmaPair::one_packet(a, q.to_b, b)) << "a sends again";
}

// A QP that cannot be rebuilt (the device refuses RESET, as one that is
// gone would): the transport says so once and stops. It posts nothing
// more, so a send neither waits for a completion that cannot come nor
// counts as sent; no rebuild is tried again however often it is polled.
TEST_F(RdmaTransportTest, AQueuePairThatCannotBeRebuiltStopsTheTransportCleanly) {
  RdmaPair q(0);
  transport::RdmaTransport& a = *q.a;
  ASSERT_TRUE(RdmaPair::one_packet(*q.b, q.to_a, a));
  vd::refuse_reset(true);
  vd::fail_qp(a.qp_num());
  transport::RxPacket p[4];
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  while (std::chrono::steady_clock::now() < until) a.rx_release(p, a.rx_burst(p, 4));
  EXPECT_EQ(a.qp_rebuilds(), 1u) << "tried once";
  uint8_t hdr[kPktHdrSize] = {};
  transport::TxPacket tx{&q.to_b, hdr, RdmaPair::kPayload, sizeof RdmaPair::kPayload};
  const uint64_t dropped = a.stats().tx_dropped;
  const uint64_t refused = vd::counters().post_send_refused;
  EXPECT_EQ(a.tx_burst(&tx, 1), 0u);
  EXPECT_EQ(a.stats().tx_dropped, dropped + 1);
  EXPECT_EQ(vd::counters().post_send_refused, refused) << "not even tried";
}

// Under the engine: the client's QP goes to ERR between calls, and the next
// calls complete (the engine resends what the error cost) with every byte
// right.
TEST_F(RdmaTransportTest, CallsGoOnAfterTheClientsQueuePairFails) {
  ServerThread srv(server(), [](Nexus& n) { n.register_handler(kEcho, echo); });
  transport::RdmaTransport::Options o;
  o.mgmt_host = "127.0.0.1";
  transport::RdmaTransport* t = nullptr;
  NexusConfig cfg = client();
  cfg.transport_factory = [&](uint8_t) {
    auto u = std::make_unique<transport::RdmaTransport>(o);
    t = u.get();
    return u;
  };
  Nexus n(cfg);
  Rpc r(n, 0);
  ASSERT_NE(t, nullptr);
  SessionId s = kInvalidSession;
  ASSERT_EQ(r.connect(srv.uri(), &s), Status::kOk);
  echo_sizes(r, s, {100, 5000});
  vd::fail_qp(t->qp_num());
  echo_sizes(r, s, {1, 5000, 20'000});
  EXPECT_EQ(t->qp_rebuilds(), 1u);
  EXPECT_EQ(srv.stats().requests_handled, 5u);
}

// An endpoint whose packets are smaller than its port's MTU (mtu=1024 on
// a 4096 port) receives a peer's 4000-byte message whole and drops it as
// truncated; a receive slot sized for its own packets only would end the
// receive in an error (which some NICs answer by putting the QP in the
// error state). Its own traffic goes on.
TEST_F(RdmaTransportTest, MessageLargerThanOurPacketsButNotThePortsIsDroppedAsTruncated) {
  auto make = [](size_t mtu) {
    transport::RdmaTransport::Options o;
    o.device = "flitdev1";  // InfiniBand, active MTU 4096
    o.mtu = mtu;
    o.mgmt_host = "127.0.0.1";
    return std::make_unique<transport::RdmaTransport>(o);
  };
  auto a = make(1024), c = make(1024);
  const transport::Route to_a = c->resolve(a->local_uri());
  RawQp raw(1);
  std::memset(raw.buf(0), 0x5c, 4000);
  ASSERT_EQ(raw.send_to_qpn(transport::rdma_route(&to_a)->qpn,
                            transport::RdmaTransport::kDefaultQkey, raw.buf(0), 4000, raw.mr->lkey),
            0);
  transport::RxPacket p[4];
  for (int i = 0; i < 1000 && a->stats().rx_truncated == 0; ++i)
    a->rx_release(p, a->rx_burst(p, 4));
  EXPECT_EQ(a->stats().rx_truncated, 1u);
  EXPECT_EQ(a->stats().rx_errors, 0u);
  EXPECT_EQ(vd::counters().recv_errors, 0u);
  // The QP still receives.
  uint8_t hdr[kPktHdrSize] = {};
  const uint8_t payload[8] = {7};
  transport::TxPacket pkt{&to_a, hdr, payload, sizeof payload};
  ASSERT_EQ(c->tx_burst(&pkt, 1), 1u);
  uint32_t n = 0;
  for (int i = 0; i < 100'000 && n == 0; ++i) n = a->rx_burst(p, 4);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(p[0].len, kPktHdrSize + sizeof payload);
  a->rx_release(p, n);
}

// A client refuses a server with another Q_Key: the answers would go out
// with the client's own (a received packet carries no other), and the
// server's QP would drop every one.
TEST_F(RdmaTransportTest, QkeyMismatchIsAClearError) {
  ServerThread srv(server({"qkey=0x1111"}), [](Nexus& n) { n.register_handler(kEcho, echo); });
  Nexus n(client());
  Rpc r(n, 0);
  const std::string e = connect_error(r, srv.uri());
  EXPECT_NE(e.find("uses Q_Key 4369, this Rpc 1179404628"), std::string::npos) << e;
}

TEST_F(RdmaTransportTest, InfiniBandPortUsesLidRouting) {
  ServerThread srv(server({"device=flitdev1"}), [](Nexus& n) { n.register_handler(kEcho, echo); });
  Nexus n(client({"device=flitdev1"}));
  Rpc r(n, 0);
  EXPECT_EQ(r.data_per_pkt(), 4096 - kPktHdrSize);
  SessionId s = kInvalidSession;
  ASSERT_EQ(r.connect(srv.uri(), &s), Status::kOk);
  echo_sizes(r, s, {1, 4000, 70'000});
}

TEST_F(RdmaTransportTest, ExplicitGidIndexIsUsed) {
  // Index 0: the RoCE v1 link-local GID (GRH with an IPv6 layout).
  ServerThread srv(server({"gid_index=0"}), [](Nexus& n) { n.register_handler(kEcho, echo); });
  Nexus n(client({"gid_index=0"}));
  Rpc r(n, 0);
  SessionId s = kInvalidSession;
  ASSERT_EQ(r.connect(srv.uri(), &s), Status::kOk);
  echo_sizes(r, s, {1, 3000});
}

TEST_F(RdmaTransportTest, EveryVerbsObjectIsFreed) {
  int ctx = vd::open_contexts(), qps = vd::live_qps(), mrs = vd::live_mrs();
  {
    ServerThread srv(server(), [](Nexus& n) { n.register_handler(kEcho, echo); });
    Nexus n(client());
    Rpc r(n, 0);
    SessionId s = kInvalidSession;
    ASSERT_EQ(r.connect(srv.uri(), &s), Status::kOk);
    echo_sizes(r, s, {10, 10'000});
    EXPECT_EQ(vd::live_qps(), qps + 2);
  }
  EXPECT_EQ(vd::open_contexts(), ctx);
  EXPECT_EQ(vd::live_qps(), qps);
  EXPECT_EQ(vd::live_mrs(), mrs);
  EXPECT_EQ(vd::counters().resource_errors, 0u);
}

// The GRH area of a RoCE v2 IPv4 receive: only its last 20 bytes (the IPv4
// header) are written; the first 20 keep what an earlier packet left, which
// may look like an IPv6 GRH. The sender's address must come from the IPv4
// header all the same.
TEST(RdmaGrh, IPv4HeaderIsRecognisedBehindStaleIPv6Bytes) {
  uint8_t grh[40];
  std::memset(grh, 0xAB, sizeof grh);
  grh[0] = 0x60;  // stale: a previous IPv6 GRH
  const uint8_t ip4[20] = {0x45, 0, 0,   60, 0, 0, 0x40, 0,  64, 17,
                           0,    0, 198, 18, 0, 1, 198,  18, 0,  2};
  std::memcpy(grh + 20, ip4, sizeof ip4);
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += uint32_t{ip4[i]} << 8 | ip4[i + 1];
  while ((sum >> 16) != 0) sum = (sum & 0xffff) + (sum >> 16);
  grh[30] = static_cast<uint8_t>(~sum >> 8);
  grh[31] = static_cast<uint8_t>(~sum);
  EXPECT_TRUE(transport::grh_holds_ipv4(grh));
  grh[31] ^= 1;  // a bad checksum: then it is an IPv6 GRH after all
  EXPECT_FALSE(transport::grh_holds_ipv4(grh));
  grh[0] = 0x45;  // not version 6 in byte 0: IPv4
  EXPECT_TRUE(transport::grh_holds_ipv4(grh));
  grh[0] = 0x60;
  grh[20] = 0x46;  // IPv4 with options is never RoCE v2
  EXPECT_FALSE(transport::grh_holds_ipv4(grh));
}

}  // namespace
}  // namespace flit::testing
