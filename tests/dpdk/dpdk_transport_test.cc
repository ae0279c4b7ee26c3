// tests/dpdk/dpdk_transport_test.cc: what is particular to the DPDK
// transport, over the memif test network of dpdk_memif_env.cc: frames on the
// wire (headers, checksums, ARP), what the receive path drops, and the
// errors that name their fix.
#include "dpdk_transport.h"

#include <gtest/gtest.h>
#include <rte_arp.h>
#include <rte_ethdev.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "flit/flit.h"
#include "rpc_fixture.h"
#include "test_env.h"

namespace flit::testing {
namespace {

using transport::DpdkTransport;
using transport::RxPacket;
using transport::TxPacket;

// A transport on the next free endpoint of the test network, as a server
// Nexus's Rpc 0 would get it.
// `extra`: transport options on top of the test network's.
std::unique_ptr<DpdkTransport> make_endpoint(std::string* uri,
                                             const std::vector<std::string>& extra = {}) {
  NexusConfig c = test_env().server_config();
  DpdkTransport::Options o;
  DpdkTransport::parse_options(c.transport_options, &o);
  DpdkTransport::parse_options(extra, &o);
  Uri u = parse_uri(c.listen_uri);
  o.ips = {u.host};
  o.udp_port = u.port;
  *uri = c.listen_uri;
  return std::make_unique<DpdkTransport>(o);
}

// A transport at `ip` on one of the test network's two spare ports
// (net_memif_zc0/1, set up with tx_zero_copy=1: DpdkZeroCopy), for tests
// that need endpoints nobody else sends to. `extra`: more options.
std::unique_ptr<DpdkTransport> spare_port_endpoint(const std::string& ip, int which = 0,
                                                   const std::vector<std::string>& extra = {}) {
  NexusConfig base = test_env().server_config();
  DpdkTransport::Options o;
  DpdkTransport::parse_options(base.transport_options, &o);
  DpdkTransport::parse_options(extra, &o);
  o.ports = {"net_memif_zc" + std::to_string(which)};
  o.ips = {ip};
  o.udp_port = 31850;
  o.tx_zero_copy = true;
  return std::make_unique<DpdkTransport>(o);
}

// An address in 198.18.3.0/24 no test has used in this process: a port's
// neighbour table outlives its transports, so a test that needs a MAC
// unknown to a port (run in any order, or repeated) takes a fresh one.
std::string fresh_ip() {
  static int next = 1;
  if (next > 254) throw Error("the test ran out of fresh addresses");
  return "198.18.3." + std::to_string(next++);
}

// Sends a bare flit header from t to ip's port 31850; returns what
// tx_burst accepted.
uint32_t send_header_to(DpdkTransport& t, const std::string& ip) {
  transport::Route r = t.resolve("dpdk://" + ip + ":31850");
  uint8_t hdr[kPktHdrSize] = {};
  TxPacket p{&r, hdr, nullptr, 0};
  return t.tx_burst(&p, 1);
}

// Polls b (and t, which takes b's ARP answers and sends what it held) until
// b receives frames or 5 s pass; returns how many the first burst brought.
uint32_t first_frames_at(DpdkTransport& b, DpdkTransport& t) {
  RxPacket q[8];
  uint32_t got = 0;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (got == 0 && std::chrono::steady_clock::now() < end) {
    got = b.rx_burst(q, 8);
    b.rx_release(q, got);
    t.rx_release(q, t.rx_burst(q, 8));
  }
  return got;
}

// Polls t until it yields a packet or 5 s pass; returns the count (0 or 1+).
// Polls `also` meanwhile (dropping what it gets), as its Rpc's event loop
// would: that is where it takes ARP replies and sends frames held for them.
uint32_t poll_rx(DpdkTransport& t, RxPacket* p, uint32_t max, DpdkTransport* also = nullptr) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < end) {
    uint32_t n = t.rx_burst(p, max);
    if (n != 0) return n;
    if (also != nullptr) {
      RxPacket q[8];
      also->rx_release(q, also->rx_burst(q, 8));
    }
  }
  return 0;
}

class DpdkTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_ = make_endpoint(&a_uri_);
    b_ = make_endpoint(&b_uri_);
  }
  // Sends one flit packet (header bytes 0..39, then payload) from a to b.
  void send_a_to_b(const uint8_t* payload, uint32_t len) {
    transport::Route to = a_->resolve(b_uri_);
    uint8_t hdr[kPktHdrSize];
    for (size_t i = 0; i < kPktHdrSize; ++i) hdr[i] = static_cast<uint8_t>(i);
    TxPacket p{&to, hdr, payload, len};
    ASSERT_EQ(a_->tx_burst(&p, 1), 1u);
  }
  // Transmits a raw frame on a's port, bypassing the transport.
  void raw_send(const uint8_t* frame, uint16_t len) {
    rte_mbuf* m = rte_pktmbuf_alloc(
        rte_mempool_lookup(("flit_p" + std::to_string(a_->port_id()) + "_q0").c_str()));
    ASSERT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frame, len);
    m->data_len = m->pkt_len = len;
    ASSERT_EQ(rte_eth_tx_burst(a_->port_id(), a_->queue_id(), &m, 1), 1);
  }
  // Sends a broadcast ARP who-has for tip from a's port, saying sip is at
  // sha (the frame's source is a's own MAC).
  void raw_send_arp_request(const rte_ether_addr& sha, rte_be32_t sip, rte_be32_t tip) {
    uint8_t f[60] = {};
    auto* eth = reinterpret_cast<rte_ether_hdr*>(f);
    std::memset(&eth->dst_addr, 0xff, 6);
    rte_eth_macaddr_get(a_->port_id(), &eth->src_addr);
    eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
    auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
    arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
    arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
    arp->arp_hlen = 6;
    arp->arp_plen = 4;
    arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REQUEST);
    arp->arp_data.arp_sha = sha;
    arp->arp_data.arp_sip = sip;
    arp->arp_data.arp_tip = tip;
    raw_send(f, sizeof f);
  }
  // A valid frame from a to b carrying a 40-byte flit header and 8 bytes,
  // as a's transport would send it (b's MAC learned by a first exchange).
  std::vector<uint8_t> valid_frame() {
    const uint8_t payload[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    send_a_to_b(payload, sizeof payload);
    RxPacket p[4];
    uint32_t n = poll_rx(*b_, p, 4, a_.get());
    EXPECT_EQ(n, 1u);
    if (n == 0) return {};
    auto* m = reinterpret_cast<rte_mbuf*>(p[0].cookie);
    std::vector<uint8_t> f(rte_pktmbuf_mtod(m, uint8_t*),
                           rte_pktmbuf_mtod(m, uint8_t*) + m->data_len);
    b_->rx_release(p, n);
    return f;
  }

  // Sends `bad` raw from a's port, then `good` to mark the end; returns how
  // many frames b's first non-empty receive burst brings (1 when only the
  // good one got through), within 5 s.
  uint32_t received_of(const std::vector<std::vector<uint8_t>>& bad,
                       const std::vector<uint8_t>& good) {
    for (const auto& f : bad) raw_send(f.data(), static_cast<uint16_t>(f.size()));
    raw_send(good.data(), static_cast<uint16_t>(good.size()));
    RxPacket p[8];
    uint32_t n = 0;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (n == 0 && std::chrono::steady_clock::now() < end) n = b_->rx_burst(p, 8);
    b_->rx_release(p, n);
    return n;
  }

  std::string a_uri_, b_uri_;
  std::unique_ptr<DpdkTransport> a_, b_;
};

TEST_F(DpdkTransportTest, PacketArrivesInPlaceWithSenderRoute) {
  uint8_t payload[1000];
  for (size_t i = 0; i < sizeof payload; ++i) payload[i] = static_cast<uint8_t>(i * 13);
  send_a_to_b(payload, sizeof payload);
  RxPacket p[4];
  ASSERT_EQ(poll_rx(*b_, p, 4, a_.get()), 1u);
  ASSERT_EQ(p[0].len, kPktHdrSize + sizeof payload);
  for (size_t i = 0; i < kPktHdrSize; ++i) EXPECT_EQ(p[0].data[i], i);
  EXPECT_EQ(std::memcmp(p[0].data + kPktHdrSize, payload, sizeof payload), 0);
  // Zero copy: the data lies inside the mbuf the port received into.
  auto* m = reinterpret_cast<rte_mbuf*>(p[0].cookie);
  EXPECT_EQ(p[0].data, rte_pktmbuf_mtod_offset(m, const uint8_t*, transport::kFrameHdrSize));
  // The sender's route names a's address and is answerable.
  EXPECT_TRUE(b_->same_peer(*p[0].from, b_->resolve(a_uri_)));
  EXPECT_NE(b_->route_to_string(*p[0].from).find(a_uri_), std::string::npos)
      << b_->route_to_string(*p[0].from);
  b_->rx_release(p, 1);
  EXPECT_EQ(b_->dpdk_stats().rx_bad_checksum, 0u);
}

TEST_F(DpdkTransportTest, ChecksumsOnTheWireAreValid) {
  std::vector<uint8_t> f = valid_frame();
  ASSERT_FALSE(f.empty());
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(f.data() + sizeof(rte_ether_hdr));
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  EXPECT_EQ(rte_raw_cksum(ip, sizeof *ip), 0xffff);
  EXPECT_NE(udp->dgram_cksum, 0) << "UDP checksum must be sent";
  uint16_t sent = udp->dgram_cksum;
  udp->dgram_cksum = 0;
  EXPECT_EQ(rte_ipv4_udptcp_cksum(ip, udp), sent);
}

// udp_cksum=0: the IPv4 header checksum is still sent, the UDP one is 0
// ("none", RFC 768), and the peer (checking by default) takes the frame.
TEST_F(DpdkTransportTest, UdpChecksumOffSendsNoneAndThePeerTakesIt) {
  a_.reset();  // its port and queue go to the new one
  a_ = make_endpoint(&a_uri_, {"udp_cksum=0"});
  std::vector<uint8_t> f = valid_frame();
  ASSERT_FALSE(f.empty());
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(f.data() + sizeof(rte_ether_hdr));
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  EXPECT_EQ(rte_raw_cksum(ip, sizeof *ip), 0xffff);
  EXPECT_EQ(udp->dgram_cksum, 0);
  EXPECT_EQ(b_->dpdk_stats().rx_bad_checksum, 0u);
  std::string uri;
  EXPECT_THROW(make_endpoint(&uri, {"udp_cksum=2"}), Error);
}

TEST_F(DpdkTransportTest, BadChecksumsAndForeignFramesAreDroppedAndCounted) {
  std::vector<uint8_t> good = valid_frame();
  ASSERT_FALSE(good.empty());
  auto with = [&](auto edit) {
    std::vector<uint8_t> f = good;
    edit(reinterpret_cast<rte_ether_hdr*>(f.data()),
         reinterpret_cast<rte_ipv4_hdr*>(f.data() + sizeof(rte_ether_hdr)),
         reinterpret_cast<rte_udp_hdr*>(f.data() + sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr)),
         f.data() + transport::kFrameHdrSize);
    return f;
  };
  auto bad_udp = with([](auto*, auto*, auto*, uint8_t* flit) { flit[45] ^= 0x40; });
  auto bad_ip = with([](auto*, rte_ipv4_hdr* ip, auto*, auto*) { ip->time_to_live--; });
  auto other_port = with([](auto*, auto*, rte_udp_hdr* u, auto*) {
    u->dst_port = rte_cpu_to_be_16(rte_be_to_cpu_16(u->dst_port) + 1);
  });
  auto fragment = with([](auto*, rte_ipv4_hdr* ip, auto*, auto*) {
    ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_MF_FLAG);
  });
  const auto before = b_->dpdk_stats();
  ASSERT_EQ(received_of({bad_udp, bad_ip, other_port, fragment}, good), 1u)
      << "only the good frame reaches the engine";
  const auto& after = b_->dpdk_stats();
  EXPECT_EQ(after.rx_bad_checksum - before.rx_bad_checksum, 2u);
  EXPECT_EQ(after.rx_not_for_us - before.rx_not_for_us, 1u);
  EXPECT_EQ(after.rx_bad_header - before.rx_bad_header, 1u);
  EXPECT_EQ(b_->stats().rx_errors, 2u);
}

// A frame whose sender is not one host (a broadcast or multicast MAC, an
// IPv4 source of 0, broadcast or multicast) is dropped: the engine may
// answer a sender, and must not answer the whole segment.
TEST_F(DpdkTransportTest, FramesFromNoSingleHostAreDropped) {
  std::vector<uint8_t> good = valid_frame();
  ASSERT_FALSE(good.empty());
  auto with = [&](auto edit) {
    std::vector<uint8_t> f = good;
    auto* eth = reinterpret_cast<rte_ether_hdr*>(f.data());
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(f.data() + sizeof(rte_ether_hdr));
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    edit(eth, ip);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = rte_ipv4_cksum(ip);  // valid, so only the source is wrong
    udp->dgram_cksum = 0;
    udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
    return f;
  };
  const std::vector<std::vector<uint8_t>> bad = {
      with([](rte_ether_hdr* e, auto*) { std::memset(&e->src_addr, 0xff, 6); }),
      with([](rte_ether_hdr* e, auto*) { e->src_addr.addr_bytes[0] |= 1; }),  // multicast
      with([](rte_ether_hdr* e, auto*) { std::memset(&e->src_addr, 0, 6); }),
      with([](auto*, rte_ipv4_hdr* ip) { ip->src_addr = 0; }),
      with([](auto*, rte_ipv4_hdr* ip) { ip->src_addr = RTE_BE32(0xffffffff); }),
      with([](auto*, rte_ipv4_hdr* ip) { ip->src_addr = RTE_BE32(0xe0000001); }),
  };
  const auto before = b_->dpdk_stats();
  ASSERT_EQ(received_of(bad, good), 1u) << "only the good frame reaches the engine";
  const auto& after = b_->dpdk_stats();
  EXPECT_EQ(after.rx_bad_header - before.rx_bad_header, bad.size());
  EXPECT_EQ(after.rx_bad_checksum, before.rx_bad_checksum);
}

// ARP from a sender that is no single host is neither learned nor
// answered; a probe (sender address 0) is answered and teaches nothing.
TEST_F(DpdkTransportTest, ArpFromNoSingleHostIsIgnoredAndProbesTeachNothing) {
  const transport::Route rb = a_->resolve(b_uri_);
  const rte_be32_t b_ip = transport::dpdk_peer(&rb)->ip;
  auto arp_seen = [&](uint64_t before) {
    RxPacket p[4];
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (b_->dpdk_stats().arp_rx == before && std::chrono::steady_clock::now() < end)
      b_->rx_release(p, b_->rx_burst(p, 4));
    return b_->dpdk_stats().arp_rx == before + 1;
  };
  rte_ether_addr multicast{};
  multicast.addr_bytes[0] = 0x01;
  multicast.addr_bytes[5] = 0x42;
  transport::DpdkStats before = b_->dpdk_stats();
  raw_send_arp_request(multicast, RTE_BE32(0xc6120063), b_ip);  // 198.18.0.99
  ASSERT_TRUE(arp_seen(before.arp_rx));
  EXPECT_EQ(b_->dpdk_stats().arp_replies_tx, before.arp_replies_tx);
  EXPECT_EQ(b_->dpdk_stats().rx_bad_header, before.rx_bad_header + 1);

  rte_ether_addr prober{};
  prober.addr_bytes[0] = 0x02;  // locally administered unicast
  prober.addr_bytes[5] = 0x77;
  before = b_->dpdk_stats();
  raw_send_arp_request(prober, 0, b_ip);
  ASSERT_TRUE(arp_seen(before.arp_rx));
  EXPECT_EQ(b_->dpdk_stats().arp_replies_tx, before.arp_replies_tx + 1);
  EXPECT_EQ(b_->dpdk_stats().neighbor_table_full, before.neighbor_table_full);
  EXPECT_EQ(b_->dpdk_stats().rx_bad_header, before.rx_bad_header);
}

TEST_F(DpdkTransportTest, AnswersArpForItsAddress) {
  // An ARP request from a for b's address, sent raw: b answers, and a (whose
  // transport sees the reply) learns b's MAC.
  rte_ether_addr a_mac;
  rte_eth_macaddr_get(a_->port_id(), &a_mac);
  const transport::Route ra = a_->resolve(a_uri_), rb = b_->resolve(b_uri_);
  const uint64_t replies = b_->dpdk_stats().arp_replies_tx;
  raw_send_arp_request(a_mac, transport::dpdk_peer(&ra)->ip, transport::dpdk_peer(&rb)->ip);
  RxPacket p[4];
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (b_->dpdk_stats().arp_replies_tx == replies && std::chrono::steady_clock::now() < end) {
    uint32_t n = b_->rx_burst(p, 4);
    b_->rx_release(p, n);
  }
  EXPECT_EQ(b_->dpdk_stats().arp_replies_tx, replies + 1);
  const uint64_t arp_rx = a_->dpdk_stats().arp_rx;
  end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (a_->dpdk_stats().arp_rx == arp_rx && std::chrono::steady_clock::now() < end) {
    uint32_t n = a_->rx_burst(p, 4);
    a_->rx_release(p, n);
  }
  EXPECT_EQ(a_->dpdk_stats().arp_rx, arp_rx + 1) << "a received b's ARP reply";
}

// A gratuitous ARP (sender = target) from a known peer with a new MAC
// updates the neighbour table, as a kernel's does: after a failover or a NIC
// swap, frames follow the new MAC instead of going to the old one for ever.
TEST_F(DpdkTransportTest, GratuitousArpFromAKnownPeerUpdatesItsMac) {
  ASSERT_FALSE(valid_frame().empty());  // b learnt a's MAC from a's who-has
  // Two routes to a at b: resolved (looked up in the table, as a client's
  // calls are) and taken from a received frame (carrying a's MAC, as a
  // server session's route does).
  transport::Route resolved = b_->resolve(a_uri_);
  transport::Route from_frame;
  {
    const uint8_t payload[4] = {};
    send_a_to_b(payload, sizeof payload);
    RxPacket p[4];
    ASSERT_EQ(poll_rx(*b_, p, 4, a_.get()), 1u);
    from_frame = *p[0].from;
    b_->rx_release(p, 1);
  }
  ASSERT_EQ(transport::dpdk_peer(&from_frame)->mac_valid, 1);
  const transport::Route ra = a_->resolve(a_uri_);
  const rte_be32_t a_ip = transport::dpdk_peer(&ra)->ip;
  rte_ether_addr a_mac;
  rte_eth_macaddr_get(a_->port_id(), &a_mac);
  auto announce = [&](const rte_ether_addr& mac) {
    const uint64_t seen = b_->dpdk_stats().arp_rx;
    raw_send_arp_request(mac, a_ip, a_ip);  // gratuitous: about itself
    RxPacket p[4];
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (b_->dpdk_stats().arp_rx == seen && std::chrono::steady_clock::now() < end) {
      b_->rx_release(p, b_->rx_burst(p, 4));
    }
    ASSERT_EQ(b_->dpdk_stats().arp_rx, seen + 1);
  };
  // b sends a frame to a over route `to`.
  auto b_to_a = [&](const transport::Route& to) {
    const uint8_t payload[8] = {9};
    uint8_t hdr[kPktHdrSize] = {};
    TxPacket p{&to, hdr, payload, sizeof payload};
    ASSERT_EQ(b_->tx_burst(&p, 1), 1u);
  };
  rte_ether_addr moved = a_mac;
  moved.addr_bytes[5] ^= 0x5a;
  const uint64_t refreshed = b_->dpdk_stats().arp_refreshed;
  announce(moved);
  EXPECT_EQ(b_->dpdk_stats().arp_refreshed, refreshed + 1);
  RxPacket r[4];
  for (const transport::Route* to : {&resolved, &from_frame}) {
    const uint64_t not_for_a = a_->dpdk_stats().rx_not_for_us;
    b_to_a(*to);
    uint32_t delivered = 0;  // until a drops the frame as not its own
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (a_->dpdk_stats().rx_not_for_us == not_for_a && std::chrono::steady_clock::now() < end) {
      uint32_t n = a_->rx_burst(r, 4);
      delivered += n;
      a_->rx_release(r, n);
    }
    EXPECT_EQ(delivered, 0u) << "sent to the announced MAC, not a's";
    EXPECT_EQ(a_->dpdk_stats().rx_not_for_us, not_for_a + 1);
  }
  announce(a_mac);  // and back
  for (const transport::Route* to : {&resolved, &from_frame}) {
    b_to_a(*to);
    ASSERT_EQ(poll_rx(*a_, r, 4), 1u);
    a_->rx_release(r, 1);
  }
}

// A peer's MAC changed and nobody announced it: b's entry for a is wrong
// (poisoned here by an ARP naming another MAC). With arp_refresh_ms, b asks
// again, a answers, and b's frames reach a.
TEST_F(DpdkTransportTest, StaleNeighbourIsReverifiedWithoutAnnouncement) {
  std::string c_uri;
  auto c = make_endpoint(&c_uri, {"arp_refresh_ms=100"});  // c re-asks every 100 ms
  const rte_be32_t a_ip = [&] {
    transport::Route r = a_->resolve(a_uri_);
    return transport::dpdk_peer(&r)->ip;
  }();
  const rte_be32_t c_ip = [&] {
    transport::Route r = a_->resolve(c_uri);
    return transport::dpdk_peer(&r)->ip;
  }();
  rte_ether_addr wrong;
  rte_eth_macaddr_get(a_->port_id(), &wrong);
  wrong.addr_bytes[5] ^= 0x77;
  // "a is at `wrong`", addressed to c: c learns it.
  raw_send_arp_request(wrong, a_ip, c_ip);
  RxPacket r[8];
  auto until = [&](const std::function<bool()>& done) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < end) {
      c->rx_release(r, c->rx_burst(r, 8));
      a_->rx_release(r, a_->rx_burst(r, 8));  // a answers c's who-has
    }
    return done();
  };
  ASSERT_TRUE(until([&] { return c->dpdk_stats().arp_rx >= 1; }));
  transport::Route to_a = c->resolve(a_uri_);
  uint8_t hdr[kPktHdrSize] = {};
  const uint8_t payload[8] = {7};
  TxPacket p{&to_a, hdr, payload, sizeof payload};
  const uint64_t not_for_a = a_->dpdk_stats().rx_not_for_us;
  ASSERT_EQ(c->tx_burst(&p, 1), 1u);
  ASSERT_TRUE(until([&] { return a_->dpdk_stats().rx_not_for_us > not_for_a; }))
      << "the frame went to the wrong MAC";
  const uint64_t refreshed = c->dpdk_stats().arp_refreshed;
  ASSERT_TRUE(until([&] { return c->dpdk_stats().arp_reverify_tx >= 1; }));
  // The answer to the re-verification has put a's MAC back: a frame
  // reaches a (c keeps sending until it does, as the engine would).
  bool arrived = false;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!arrived && std::chrono::steady_clock::now() < end) {
    ASSERT_EQ(c->tx_burst(&p, 1), 1u);
    for (int i = 0; i < 1000 && !arrived; ++i) {
      c->rx_release(r, c->rx_burst(r, 8));
      uint32_t n = a_->rx_burst(r, 8);
      arrived = n != 0;
      a_->rx_release(r, n);
    }
  }
  EXPECT_TRUE(arrived) << "c still sends to the stale MAC";
  EXPECT_GT(c->dpdk_stats().arp_refreshed, refreshed) << "the correction is counted";
  EXPECT_GE(a_->dpdk_stats().arp_replies_tx, 1u);
}

// The neighbour table: ARP overheard about a known peer refreshes it, never
// a static entry, and never adds one (only ARP addressed to us does).
TEST(DpdkNeighbors, RefreshUpdatesKnownNonStaticEntriesOnly) {
  auto t = std::make_unique<transport::NeighborTable>();
  const rte_ether_addr m1{{2, 0, 0, 0, 0, 1}}, m2{{2, 0, 0, 0, 0, 2}};
  const rte_be32_t ip = RTE_BE32(0xc6120063), other = RTE_BE32(0xc6120064), fixed = RTE_BE32(1);
  rte_ether_addr got;
  EXPECT_FALSE(t->refresh(ip, m1));
  EXPECT_FALSE(t->lookup(ip, &got)) << "refresh adds nothing";
  ASSERT_EQ(t->learn(ip, m1), transport::NeighborTable::Learned::kNew);
  EXPECT_TRUE(t->refresh(ip, m2));
  ASSERT_TRUE(t->lookup(ip, &got));
  EXPECT_TRUE(rte_is_same_ether_addr(&got, &m2));
  EXPECT_FALSE(t->refresh(ip, m2)) << "unchanged";
  ASSERT_EQ(t->learn(fixed, m1, true), transport::NeighborTable::Learned::kNew);
  EXPECT_FALSE(t->refresh(fixed, m2));
  ASSERT_TRUE(t->lookup(fixed, &got));
  EXPECT_TRUE(rte_is_same_ether_addr(&got, &m1)) << "a static entry stays";
  EXPECT_FALSE(t->lookup(other, &got));
}

// The generation moves, by two, on every learn or refresh that adds an
// entry or changes a MAC (evictions included), and on nothing else; adding
// does not set the sticky any_changed(), which turns on per-frame lookups.
TEST(DpdkNeighbors, GenerationMovesOnEveryAddOrChange) {
  using transport::NeighborTable;
  using L = NeighborTable::Learned;
  auto t = std::make_unique<NeighborTable>();
  const rte_ether_addr m1{{2, 0, 0, 0, 0, 1}}, m2{{2, 0, 0, 0, 0, 2}};
  const rte_be32_t ip = RTE_BE32(0xc6140063), other = RTE_BE32(0xc6140064),
                   fixed = RTE_BE32(0xc6140001);
  uint64_t g = t->generation();
  EXPECT_EQ(g % 2, 0u);
  auto moved = [&] {
    const uint64_t now = t->generation();
    const uint64_t by = now - g;
    g = now;
    return by;
  };
  ASSERT_EQ(t->learn(ip, m1), L::kNew);
  EXPECT_EQ(moved(), 2u) << "added";
  EXPECT_FALSE(t->any_changed()) << "an addition is not a change";
  ASSERT_EQ(t->learn(ip, m1), L::kSame);
  EXPECT_EQ(moved(), 0u) << "the same MAC again";
  ASSERT_TRUE(t->refresh(ip, m2));
  EXPECT_EQ(moved(), 2u) << "changed by a refresh";
  EXPECT_TRUE(t->any_changed());
  ASSERT_EQ(t->learn(ip, m1), L::kChanged);
  EXPECT_EQ(moved(), 2u) << "changed by a learn";
  EXPECT_FALSE(t->refresh(other, m1));
  EXPECT_EQ(moved(), 0u) << "a refresh adds nothing";
  ASSERT_EQ(t->learn(fixed, m1, true), L::kNew);
  EXPECT_EQ(moved(), 2u) << "a static entry added";
  EXPECT_FALSE(t->refresh(fixed, m2));
  EXPECT_EQ(moved(), 0u) << "a static entry stays";
  std::vector<rte_be32_t> same;  // a full bucket, then one more
  const uint32_t bucket = NeighborTable::bucket_of(rte_cpu_to_be_32(0xc6150001));
  for (uint32_t a = 0xc6150001; same.size() < NeighborTable::kWays + 1; ++a) {
    if (NeighborTable::bucket_of(rte_cpu_to_be_32(a)) == bucket)
      same.push_back(rte_cpu_to_be_32(a));
  }
  for (uint32_t i = 0; i < NeighborTable::kWays; ++i) ASSERT_EQ(t->learn(same[i], m1), L::kNew);
  EXPECT_EQ(moved(), 2u * NeighborTable::kWays);
  ASSERT_EQ(t->learn(same.back(), m1), L::kEvicted);
  EXPECT_EQ(moved(), 2u) << "added in another's place";
}

// The generation's contract, which the ARP queue's ordering rests on: a
// lookup that finds a MAC written after an even generation was loaded is
// followed by a load of another generation. Two lookups of a peer whose MAC
// another thread keeps changing, between two loads of the same even
// generation, find the same MAC.
TEST(DpdkNeighbors, ChangeSeenByALookupMovesTheGeneration) {
  using transport::NeighborTable;
  auto t = std::make_unique<NeighborTable>();
  const rte_ether_addr m1{{2, 0, 0, 0, 0, 1}}, m2{{2, 0, 0, 0, 0, 2}};
  const rte_be32_t ip = RTE_BE32(0xc6160001);
  ASSERT_EQ(t->learn(ip, m1), NeighborTable::Learned::kNew);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (uint32_t i = 0; i < 200'000; ++i) (void)t->learn(ip, i % 2 ? m1 : m2);
    done.store(true);
  });
  uint64_t checked = 0, wrong = 0;
  while (!done.load()) {
    const uint64_t g = t->generation();
    rte_ether_addr a, b;
    if (!t->lookup(ip, &a) || !t->lookup(ip, &b)) continue;
    if (t->generation() != g || g % 2 != 0) continue;
    checked++;
    if (!rte_is_same_ether_addr(&a, &b)) wrong++;
  }
  writer.join();
  EXPECT_EQ(wrong, 0u) << "of " << checked;
  EXPECT_GT(checked, 0u);
}

// Re-verification asks for learned peers a lookup used since the last
// sweep (a new entry counts as used once), and now and then for every
// learned one; never for static entries.
TEST(DpdkNeighbors, OnlyUsedLearnedEntriesAreReverified) {
  auto t = std::make_unique<transport::NeighborTable>();
  const rte_ether_addr m1{{2, 0, 0, 0, 0, 1}}, m2{{2, 0, 0, 0, 0, 2}};
  const rte_be32_t ip = RTE_BE32(0xc6120063), fixed = RTE_BE32(0xc6120001);
  auto sweep = [&](bool all = false) {
    std::vector<rte_be32_t> asked;
    for (uint32_t i = 0; i < transport::NeighborTable::kSlots; ++i) {
      if (rte_be32_t a = t->take_used(i, all); a != 0) asked.push_back(a);
    }
    return asked;
  };
  using L = transport::NeighborTable::Learned;
  ASSERT_EQ(t->learn(ip, m1), L::kNew);
  ASSERT_EQ(t->learn(fixed, m1, true), L::kNew);
  EXPECT_EQ(sweep(), std::vector<rte_be32_t>{ip}) << "new: asked once; static: never";
  EXPECT_TRUE(sweep().empty()) << "learned, not sent to since";
  EXPECT_EQ(sweep(true), std::vector<rte_be32_t>{ip}) << "every learned one, now and then";
  rte_ether_addr got;
  ASSERT_TRUE(t->lookup(ip, &got));
  ASSERT_TRUE(t->lookup(fixed, &got));
  EXPECT_EQ(sweep(), std::vector<rte_be32_t>{ip}) << "used: asked";
  EXPECT_TRUE(sweep().empty()) << "the mark is cleared by the sweep";
  EXPECT_EQ(t->learn(ip, m2), L::kChanged);
  EXPECT_EQ(t->learn(ip, m2), L::kSame) << "same MAC again";
}

// A full bucket makes room by CLOCK: used entries lose their mark and are
// passed over, the first unused one goes; some entry always goes unless all
// are static; a static entry being added evicts a learned one regardless.
TEST(DpdkNeighbors, FullBucketEvictsByClock) {
  using transport::NeighborTable;
  using L = NeighborTable::Learned;
  std::vector<rte_be32_t> same;  // addresses in 198.18.0.0/16 sharing a bucket
  const uint32_t bucket = NeighborTable::bucket_of(rte_cpu_to_be_32(0xc6120001));
  for (uint32_t a = 0xc6120001; same.size() < 6; ++a) {
    if (NeighborTable::bucket_of(rte_cpu_to_be_32(a)) == bucket)
      same.push_back(rte_cpu_to_be_32(a));
  }
  const rte_ether_addr mac{{2, 0, 0, 0, 0, 9}};
  rte_ether_addr got;
  auto fill = [&](NeighborTable& t, bool statics) {
    for (uint32_t i = 0; i < NeighborTable::kWays; ++i)
      ASSERT_EQ(t.learn(same[i], mac, statics), L::kNew);
  };
  auto clear_marks = [](NeighborTable& t) {
    for (uint32_t i = 0; i < NeighborTable::kSlots; ++i) (void)t.take_used(i);
  };
  {  // All new (marked): a full turn clears them, the first goes.
    auto t = std::make_unique<NeighborTable>();
    fill(*t, false);
    EXPECT_EQ(t->learn(same[4], mac), L::kEvicted);
    EXPECT_FALSE(t->lookup(same[0], &got));
    for (int i : {1, 2, 3, 4}) EXPECT_TRUE(t->lookup(same[i], &got)) << i;
  }
  {  // Entries in use survive; the first unused one goes.
    auto t = std::make_unique<NeighborTable>();
    fill(*t, false);
    clear_marks(*t);
    ASSERT_TRUE(t->lookup(same[0], &got));
    ASSERT_TRUE(t->lookup(same[1], &got));
    EXPECT_EQ(t->learn(same[4], mac), L::kEvicted);
    EXPECT_FALSE(t->lookup(same[2], &got));
    for (int i : {0, 1, 3, 4}) EXPECT_TRUE(t->lookup(same[i], &got)) << i;
    // The hand moved on: next time the search starts after the evicted way.
    clear_marks(*t);
    EXPECT_EQ(t->learn(same[5], mac), L::kEvicted);
    EXPECT_FALSE(t->lookup(same[3], &got)) << "the way after the last victim";
  }
  {  // Statics stay: four of them leave no room.
    auto t = std::make_unique<NeighborTable>();
    fill(*t, true);
    EXPECT_EQ(t->learn(same[4], mac), L::kFull);
    EXPECT_EQ(t->learn(same[4], mac), L::kFull);
    for (int i : {0, 1, 2, 3}) EXPECT_TRUE(t->lookup(same[i], &got)) << i;
  }
  {  // A static entry takes a learned one's place even if it is in use.
    auto t = std::make_unique<NeighborTable>();
    fill(*t, false);
    for (int i : {0, 1, 2, 3}) ASSERT_TRUE(t->lookup(same[i], &got));
    EXPECT_EQ(t->learn(same[4], mac, true), L::kEvicted);
    EXPECT_TRUE(t->lookup(same[4], &got));
  }
}

// Lookups without the lock while another thread evicts: a lookup returns
// the MAC learned for the address it asked about, or nothing, never another
// address's MAC (each MAC here encodes its address).
TEST(DpdkNeighbors, LockFreeLookupsNeverSeeAnotherPeersMac) {
  using transport::NeighborTable;
  using L = NeighborTable::Learned;
  auto t = std::make_unique<NeighborTable>();
  std::vector<rte_be32_t> same;
  const uint32_t bucket = NeighborTable::bucket_of(rte_cpu_to_be_32(0xc6130001));
  for (uint32_t a = 0xc6130001; same.size() < 8; ++a) {
    if (NeighborTable::bucket_of(rte_cpu_to_be_32(a)) == bucket)
      same.push_back(rte_cpu_to_be_32(a));
  }
  auto mac_of = [](rte_be32_t ip) {
    rte_ether_addr m{};
    m.addr_bytes[0] = 2;
    std::memcpy(&m.addr_bytes[2], &ip, 4);
    return m;
  };
  std::atomic<bool> done{false};
  uint64_t evictions = 0;
  std::thread writer([&] {
    for (uint32_t i = 0; i < 200'000; ++i) {
      rte_be32_t ip = same[i % same.size()];
      if (t->learn(ip, mac_of(ip)) == L::kEvicted) evictions++;
    }
    done.store(true);
  });
  uint64_t hits = 0, wrong = 0;
  while (!done.load()) {
    for (rte_be32_t ip : same) {
      rte_ether_addr got;
      if (!t->lookup(ip, &got)) continue;
      hits++;
      rte_ether_addr want = mac_of(ip);
      if (!rte_is_same_ether_addr(&got, &want)) wrong++;
    }
  }
  writer.join();
  EXPECT_EQ(wrong, 0u) << "of " << hits << " hits";
  EXPECT_GT(evictions, 1000u);
  EXPECT_GT(hits, 0u);
}

// With every ARP-wait slot taken by peers that never answer, one frame
// each, a frame for one more peer is dropped (the engine resends it) but its
// who-has still goes out, once per retry interval per peer: otherwise live
// peers beyond those could not be resolved until the dead ones' frames were
// given up, and their connects failed.
TEST(DpdkArp, PeerBeyondTheWaitingFramesIsStillAsked) {
  auto tp = spare_port_endpoint(fresh_ip());
  DpdkTransport& t = *tp;
  uint8_t hdr[kPktHdrSize] = {};
  auto send_to = [&](int host) {
    transport::Route to = t.resolve("dpdk://198.18.7." + std::to_string(host) + ":31850");
    TxPacket p{&to, hdr, nullptr, 0};
    return t.tx_burst(&p, 1);
  };
  for (uint32_t i = 0; i < DpdkTransport::kMaxPending; ++i) ASSERT_EQ(send_to(1 + i), 1u);
  const uint64_t asked = t.dpdk_stats().arp_requests_tx;
  const uint64_t dropped = t.dpdk_stats().tx_no_neighbor;
  EXPECT_EQ(asked, DpdkTransport::kMaxPending);
  send_to(100);
  EXPECT_EQ(t.dpdk_stats().tx_no_neighbor, dropped + 1) << "no room to hold it";
  EXPECT_EQ(t.dpdk_stats().arp_requests_tx, asked + 1) << "but asked for";
  send_to(100);
  EXPECT_EQ(t.dpdk_stats().arp_requests_tx, asked + 1) << "once per retry interval per peer";
  send_to(101);  // another peer is not held back by the first
  EXPECT_EQ(t.dpdk_stats().arp_requests_tx, asked + 2);
}

// Hops asked for while every slot holds a hop of its own are remembered
// (not asked again within the retry interval) in the records the held hops
// leave, at least kMaxPending of them; beyond that the one asked longest
// ago is forgotten first.
TEST(DpdkArp, HopsAskedWhileFullAreRememberedInTheFreeRecords) {
  auto tp = spare_port_endpoint(fresh_ip());
  DpdkTransport& t = *tp;
  auto send_to = [&](int host) {
    return send_header_to(t, "198.18.8." + std::to_string(host));  // nobody
  };
  constexpr int kHeld = DpdkTransport::kMaxPending;
  constexpr int kAsked = DpdkTransport::kMaxHops - DpdkTransport::kMaxPending;
  static_assert(kHeld + kAsked + 8 <= 254);
  for (int i = 1; i <= kHeld; ++i) ASSERT_EQ(send_to(i), 1u);
  // Every slot holds a hop of its own: these are dropped, each asked once.
  for (int i = kHeld + 1; i <= kHeld + kAsked + 8; ++i) ASSERT_EQ(send_to(i), 1u);
  const uint64_t asked = t.dpdk_stats().arp_requests_tx;
  ASSERT_EQ(asked, uint64_t{kHeld + kAsked + 8});
  ASSERT_EQ(t.dpdk_stats().tx_no_neighbor, uint64_t{kAsked + 8});
  for (int i = kHeld + 9; i <= kHeld + kAsked + 8; ++i) ASSERT_EQ(send_to(i), 1u);
  EXPECT_EQ(t.dpdk_stats().arp_requests_tx, asked) << "the last kAsked are remembered";
  ASSERT_EQ(send_to(kHeld + 1), 1u);
  EXPECT_EQ(t.dpdk_stats().arp_requests_tx, asked + 1) << "the first was forgotten";
}

// The NIC's receive checksum verdicts: NONE means the data was verified
// (the checksum field is partial, as from a virtio peer), so it is good; a
// software check of it would drop valid frames.
TEST(DpdkChecksumFlags, NoneMeansVerifiedUnknownMeansCheckInSoftware) {
  using transport::HwCksum;
  EXPECT_EQ(transport::ip_cksum_verdict(RTE_MBUF_F_RX_IP_CKSUM_GOOD), HwCksum::kGood);
  EXPECT_EQ(transport::ip_cksum_verdict(RTE_MBUF_F_RX_IP_CKSUM_NONE), HwCksum::kGood);
  EXPECT_EQ(transport::ip_cksum_verdict(RTE_MBUF_F_RX_IP_CKSUM_BAD), HwCksum::kBad);
  EXPECT_EQ(transport::ip_cksum_verdict(RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN), HwCksum::kUnknown);
  EXPECT_EQ(transport::l4_cksum_verdict(RTE_MBUF_F_RX_L4_CKSUM_GOOD), HwCksum::kGood);
  EXPECT_EQ(transport::l4_cksum_verdict(RTE_MBUF_F_RX_L4_CKSUM_NONE), HwCksum::kGood);
  EXPECT_EQ(transport::l4_cksum_verdict(RTE_MBUF_F_RX_L4_CKSUM_BAD), HwCksum::kBad);
  EXPECT_EQ(transport::l4_cksum_verdict(RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN), HwCksum::kUnknown);
  // Each looks at its own bits only.
  EXPECT_EQ(transport::ip_cksum_verdict(RTE_MBUF_F_RX_L4_CKSUM_BAD), HwCksum::kUnknown);
  EXPECT_EQ(transport::l4_cksum_verdict(RTE_MBUF_F_RX_IP_CKSUM_BAD | RTE_MBUF_F_RX_L4_CKSUM_GOOD),
            HwCksum::kGood);
}

// Receive buffers with room to spare for what NIC drivers round and count.
TEST(DpdkPortSetup, ReceiveBuffersHoldTheLargestFrameInOneSegment) {
  EXPECT_EQ(transport::rx_buffer_size(1514), 2048u);
  for (uint32_t frame : {1514u, 2000u, 4042u, 9014u}) {
    const uint32_t room = transport::rx_buffer_size(frame);
    EXPECT_EQ(room % 1024, 0u) << frame;
    EXPECT_GE(room, frame + RTE_ETHER_CRC_LEN + 2 * RTE_VLAN_HLEN) << frame;
  }
  std::string uri;
  auto t = make_endpoint(&uri);
  EXPECT_GE(rte_pktmbuf_data_room_size(t->pool()),
            RTE_PKTMBUF_HEADROOM + transport::rx_buffer_size(1514));
}

// udp_cksum: the senders' option; false: the frames carry UDP checksum 0.
void external_payload_arrives_byte_exact(bool udp_cksum) {
  // Two transports with tx_zero_copy=1 on the spare switch ports.
  NexusConfig base = test_env().server_config();
  auto open = [&](int i) {
    DpdkTransport::Options o;
    DpdkTransport::parse_options(base.transport_options, &o);
    o.ports = {"net_memif_zc" + std::to_string(i)};
    o.ips = {"198.18.1." + std::to_string(200 + i)};
    o.udp_port = 31850;
    o.tx_zero_copy = true;
    o.udp_cksum = udp_cksum;
    return std::make_unique<DpdkTransport>(o);
  };
  auto a = open(0), b = open(1);
  transport::Route to = a->resolve("dpdk://198.18.1.201:31850");
  uint8_t hdr[kPktHdrSize] = {};
  std::vector<uint8_t> payload(1400);
  for (int round = 0; round < 3; ++round) {  // the first waits for ARP (and is copied)
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i * 7 + round);
    hdr[0] = static_cast<uint8_t>(round);
    TxPacket p{&to, hdr, payload.data(), static_cast<uint32_t>(payload.size())};
    ASSERT_EQ(a->tx_burst(&p, 1), 1u);
    // The engine may reuse the payload once tx_burst returned.
    std::vector<uint8_t> sent = payload;
    std::fill(payload.begin(), payload.end(), 0xEE);
    RxPacket r[4];
    ASSERT_EQ(poll_rx(*b, r, 4, a.get()), 1u) << "round " << round;
    ASSERT_EQ(r[0].len, kPktHdrSize + sent.size());
    EXPECT_EQ(r[0].data[0], round);
    EXPECT_EQ(std::memcmp(r[0].data + kPktHdrSize, sent.data(), sent.size()), 0) << round;
    const auto* udp = reinterpret_cast<const rte_udp_hdr*>(r[0].data) - 1;
    EXPECT_EQ(udp->dgram_cksum != 0, udp_cksum) << "round " << round;
    b->rx_release(r, 1);
  }
  EXPECT_GE(a->dpdk_stats().tx_zero_copy, 2u) << "rounds after ARP go out zero-copy";
  EXPECT_EQ(b->dpdk_stats().rx_bad_checksum, 0u) << "checksums over both segments";
}

TEST(DpdkZeroCopy, ExternalPayloadArrivesByteExact) { external_payload_arrives_byte_exact(true); }

// udp_cksum=0: both kinds of frame, copied (round 0, held for ARP) and
// chained, go out with UDP checksum 0, "none", and are taken as they are.
TEST(DpdkZeroCopy, ExternalPayloadArrivesByteExactWithoutUdpChecksums) {
  external_payload_arrives_byte_exact(false);
}

// Expects constructing an Rpc from cfg (with Rpc id `id`) to throw an Error
// whose message contains every one of `parts`.
void expect_error(const NexusConfig& cfg, uint8_t id, std::initializer_list<const char*> parts) {
  Nexus n(cfg);
  try {
    Rpc r(n, id);
    FAIL() << "no error";
  } catch (const Error& e) {
    for (const char* part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  }
}

// The same for a DpdkTransport opened directly with o.
void expect_open_error(const DpdkTransport::Options& o, std::initializer_list<const char*> parts) {
  try {
    DpdkTransport t(o);
    FAIL() << "no error";
  } catch (const Error& e) {
    for (const char* part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  }
}

// The test network's options for a transport of its own on `port` at `ip`.
DpdkTransport::Options port_options(const char* port, const char* ip) {
  DpdkTransport::Options o;
  DpdkTransport::parse_options(test_env().server_config().transport_options, &o);
  o.ports = {port};
  o.ips = {ip};
  o.udp_port = 31850;
  return o;
}

TEST(DpdkErrors, UnknownOptionListsTheValidOnes) {
  NexusConfig c = test_env().server_config();
  c.transport_options.push_back("bogus=1");
  expect_error(c, 0, {"unknown transport option 'bogus'", "port=", "neighbor="});
}

// A port whose setup failed after it made its mbuf pools (here: the port
// refuses a multicast MAC) can be opened again: the failed setup gives its
// pools back (before, every later open failed: "cannot create a pool ...
// File exists").
TEST(DpdkErrors, APortWhoseSetupFailedCanBeOpenedAgain) {
  const DpdkTransport::Options o =
      port_options("net_memif_spare1", "198.18.4.1");  // opened by no other test
  DpdkTransport::Options bad = o;
  bad.macs = {"01:00:5e:00:00:01"};
  expect_open_error(bad, {"does not accept MAC 01:00:5E:00:00:01"});
  EXPECT_NO_THROW(DpdkTransport{o});
}

// A port whose MAC is not one host's (net_ring's is all zeros) is refused
// before it starts, naming mac=: every peer would drop its frames (before,
// it opened, and every call over it ended Unavailable with nothing said).
// Its pools are given back, so the second open fails the same way.
TEST(DpdkErrors, APortWithoutAUnicastMacIsRefusedNamingMac) {
  const DpdkTransport::Options o = port_options("net_ring_nomac", "198.18.4.2");
  for (int attempt = 0; attempt < 2; ++attempt) {
    expect_open_error(o, {"port net_ring_nomac (net_ring) has MAC 00:00:00:00:00:00, not a "
                          "unicast address",
                          "mac=02:00:00:00:00:01"});
  }
}

TEST(DpdkErrors, NoSuchPortNamesThePortsAndTheFix) {
  NexusConfig c = test_env().server_config();
  c.transport_options.push_back("port=net_nonesuch");
  expect_error(c, 0, {"no such DPDK port 'net_nonesuch'", "net_memif0 (", "--vdev="});
}

TEST(DpdkErrors, RpcBeyondThePortsQueuesIsNotEnoughQueues) {
  // One port, one queue: Rpc 1 has none.
  expect_error(test_env().server_config(), 1, {"not enough queues", "queues=", "port=NAME0,NAME1"});
}

TEST(DpdkErrors, PortThatCannotSteerNamesTheOnePortPerRpcFix) {
  // Two Rpcs sharing a memif port would need rte_flow to split their
  // traffic; memif has none.
  NexusConfig c = test_env().server_config();
  c.transport_options.push_back("port=net_memif_spare0");
  c.transport_options.push_back("queues=2");
  expect_error(c, 0, {"cannot steer UDP port 31850 to queue 0", "port=NAME0,NAME1"});
}

TEST(DpdkErrors, RpcsSharingAPortShareItsAddress) {
  // ARP for a shared port reaches its first queue only: a second address
  // would never be answered.
  NexusConfig c = test_env().server_config();
  c.transport_options.push_back("queues=2");
  c.transport_options.push_back("ip=" + parse_uri(c.listen_uri).host + ",198.18.1.2");
  expect_error(c, 0, {"share its IPv4 address", "one ip=", "port=NAME0,NAME1"});
}

TEST(DpdkErrors, DifferentEalArgumentsInOneProcess) {
  NexusConfig c = test_env().server_config();
  c.transport_options.push_back("eal=--no-pci -l 0");
  expect_error(c, 0, {"already initialised", "same eal="});
}

TEST(DpdkErrors, ClientWithoutAddress) {
  NexusConfig c = test_env().client_config();
  std::erase_if(c.transport_options, [](const std::string& o) { return o.rfind("ip=", 0) == 0; });
  expect_error(c, 0, {"no IPv4 address", "ip="});
}

TEST(DpdkErrors, SeparatePortsNeedSeparateAddresses) {
  NexusConfig c = test_env().client_config();
  for (std::string& o : c.transport_options) {
    if (o.rfind("ip=", 0) == 0) o = "ip=198.18.1.99";
  }
  expect_error(c, 0, {"separate IPv4 addresses", "ip=IP0,IP1"});
}

TEST(DpdkErrors, NonNumericPeerAddress) {
  Nexus n(test_env().client_config());
  Rpc r(n, 0);
  const std::string e = connect_error(r, "dpdk://localhost:31850");
  EXPECT_NE(e.find("not a numeric IPv4 address"), std::string::npos) << e;
}

TEST(DpdkErrors, GatewayNeedsAPrefixInsideIt) {
  NexusConfig c = test_env().server_config();
  c.transport_options.push_back("gateway=198.18.1.1");
  expect_error(c, 0, {"gateway=198.18.1.1 needs the subnet", "prefix=N"});
  c.transport_options.push_back("prefix=24");
  c.transport_options.push_back("gateway=198.18.2.1");  // the later one counts
  expect_error(c, 0, {"gateway 198.18.2.1 is not a neighbour of", "/24"});
  c.transport_options.back() = "gateway=" + parse_uri(c.listen_uri).host;
  expect_error(c, 0, {"is not a neighbour of"});  // itself
  c.transport_options.back() = "prefix=33";
  expect_error(c, 0, {"prefix=33", "out of range [1, 32]"});
}

TEST(DpdkErrors, PeerOffTheSubnetWithoutGatewayIsRefusedAtConnect) {
  NexusConfig c = test_env().client_config();
  c.transport_options.push_back("prefix=24");
  Nexus n(c);
  Rpc r(n, 0);
  const std::string e = connect_error(r, "dpdk://198.18.7.1:31850");
  EXPECT_NE(e.find("cannot reach 198.18.7.1: it is outside 198.18.1.0/24 and no gateway= is set"),
            std::string::npos)
      << e;
}

// Off the subnet, frames go to the gateway's MAC with the peer's address:
// a's gateway is b, so a frame to 198.18.7.1 reaches b's port (and b, not
// being 198.18.7.1, drops it as not for it). On the subnet, no gateway.
TEST_F(DpdkTransportTest, PeerOffTheSubnetIsSentThroughTheGateway) {
  const std::string b_ip = parse_uri(b_uri_).host;
  std::string g_uri;
  auto gp = make_endpoint(&g_uri, {"prefix=24", "gateway=" + b_ip});
  DpdkTransport& g = *gp;
  transport::Route off = g.resolve("dpdk://198.18.7.1:31850");
  EXPECT_EQ(g.route_to_string(off), "dpdk://198.18.7.1:31850 via " + b_ip);
  transport::Route on = g.resolve(b_uri_);
  EXPECT_EQ(g.route_to_string(on), b_uri_);
  uint8_t hdr[kPktHdrSize] = {};
  const uint8_t payload[4] = {9, 8, 7, 6};
  TxPacket p{&off, hdr, payload, sizeof payload};
  const uint64_t before = b_->dpdk_stats().rx_not_for_us;
  ASSERT_EQ(g.tx_burst(&p, 1), 1u);  // sent, or held while b answers ARP for the gateway
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  RxPacket q[8];
  while (b_->dpdk_stats().rx_not_for_us == before && std::chrono::steady_clock::now() < end) {
    b_->rx_release(q, b_->rx_burst(q, 8));
    g.rx_release(q, g.rx_burst(q, 8));
  }
  EXPECT_EQ(b_->dpdk_stats().rx_not_for_us, before + 1) << "the frame reached the gateway's MAC";
}

// First frames to several peers behind one gateway whose MAC is not known
// yet: they wait together for the gateway's ARP reply (one who-has), up to
// kMaxPendingPerHop, and all go out when it comes; beyond that share they
// are dropped (the engine resends them).
TEST(DpdkArp, FramesForPeersBehindOneGatewayWaitTogether) {
  const std::string gw_ip = fresh_ip();
  auto gw = spare_port_endpoint(gw_ip, 1);
  auto g = spare_port_endpoint(fresh_ip(), 0, {"prefix=24", "gateway=" + gw_ip});
  uint8_t hdr[kPktHdrSize] = {};
  const uint8_t payload[4] = {1, 2, 3, 4};
  constexpr uint32_t kShare = DpdkTransport::kMaxPendingPerHop;
  std::vector<transport::Route> to;
  for (uint32_t i = 0; i < kShare + 2; ++i)
    to.push_back(g->resolve("dpdk://198.18.7." + std::to_string(1 + i % 3) + ":31850"));
  const uint64_t not_for_gw = gw->dpdk_stats().rx_not_for_us;
  for (const transport::Route& r : to) {
    TxPacket p{&r, hdr, payload, sizeof payload};
    ASSERT_EQ(g->tx_burst(&p, 1), 1u);
  }
  EXPECT_EQ(g->dpdk_stats().arp_requests_tx, 1u) << "one who-has for the gateway";
  EXPECT_EQ(g->dpdk_stats().tx_no_neighbor, 2u) << "beyond the gateway's share";
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  RxPacket q[8];
  while (gw->dpdk_stats().rx_not_for_us < not_for_gw + kShare &&
         std::chrono::steady_clock::now() < end) {
    gw->rx_release(q, gw->rx_burst(q, 8));
    g->rx_release(q, g->rx_burst(q, 8));
  }
  EXPECT_EQ(gw->dpdk_stats().rx_not_for_us, not_for_gw + kShare)
      << "every held frame reached the gateway's MAC";
  EXPECT_EQ(g->dpdk_stats().tx_no_neighbor, 2u);
}

// Two spare-port endpoints a and b, a holding frames 1, 2 and 3 (one
// payload byte each) for b, whose MAC it does not know yet.
struct HeldForB {
  std::string b_ip = fresh_ip();
  std::unique_ptr<DpdkTransport> b = spare_port_endpoint(b_ip, 1);
  std::unique_ptr<DpdkTransport> a = spare_port_endpoint(fresh_ip(), 0);
  transport::Route to = a->resolve("dpdk://" + b_ip + ":31850");
  uint8_t hdr[kPktHdrSize] = {};
  std::vector<uint8_t> got;  // payload bytes b received, in order

  HeldForB() {
    for (uint8_t seq : {1, 2, 3}) send(seq);
  }
  void send(uint8_t seq) {
    TxPacket p{&to, hdr, &seq, 1};
    ASSERT_EQ(a->tx_burst(&p, 1), 1u);
  }
  // Polls b (and a, if also_a) until b has received n frames or 5 s pass.
  void receive(size_t n, bool also_a) {
    RxPacket q[8];
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (got.size() < n && std::chrono::steady_clock::now() < end) {
      uint32_t k = b->rx_burst(q, 8);  // b answers a's who-has too
      for (uint32_t i = 0; i < k; ++i) got.push_back(q[i].data[kPktHdrSize]);
      b->rx_release(q, k);
      if (also_a) a->rx_release(q, a->rx_burst(q, 8));
    }
  }
};

// The ARP answer sends the frames held for its sender at once, in the
// receive poll that takes it.
TEST(DpdkArp, HeldFramesGoWhenTheAnswerArrives) {
  HeldForB h;
  RxPacket q[8];
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (h.a->dpdk_stats().arp_rx == 0 && std::chrono::steady_clock::now() < end) {
    h.b->rx_release(q, h.b->rx_burst(q, 8));  // b answers the who-has
    h.a->rx_release(q, h.a->rx_burst(q, 8));  // a takes the answer
  }
  ASSERT_GE(h.a->dpdk_stats().arp_rx, 1u);
  h.receive(3, /*also_a=*/false);
  EXPECT_EQ(h.got, (std::vector<uint8_t>{1, 2, 3}));
}

// b's MAC learned by another queue's thread (the table is the port's): a's
// next frame for b finds the MAC, and the held ones go before it.
TEST(DpdkArp, HeldFramesGoBeforeLaterOnes) {
  HeldForB h;
  rte_ether_addr b_mac;
  rte_eth_macaddr_get(h.b->port_id(), &b_mac);
  transport::Route rb = h.a->resolve("dpdk://" + h.b_ip + ":31850");
  h.a->neighbors().learn(transport::dpdk_peer(&rb)->ip, b_mac);
  h.send(4);
  h.receive(4, /*also_a=*/false);
  EXPECT_EQ(h.got, (std::vector<uint8_t>{1, 2, 3, 4}));
}

// b's MAC learned by another queue's thread, and nothing sent to b since:
// a's next receive poll, which takes no ARP frame, sends the held frames (the
// table's generation moved).
TEST(DpdkArp, HeldFramesGoInThePollAfterAnotherQueueLearnsTheirHop) {
  HeldForB h;
  rte_ether_addr b_mac;
  rte_eth_macaddr_get(h.b->port_id(), &b_mac);
  h.a->neighbors().learn(transport::dpdk_peer(&h.to)->ip, b_mac);
  RxPacket q[8];
  h.a->rx_release(q, h.a->rx_burst(q, 8));  // one poll, well within the retry interval
  ASSERT_EQ(h.b->dpdk_stats().arp_replies_tx, 0u) << "b, not polled yet, has not answered";
  h.receive(3, /*also_a=*/false);
  EXPECT_EQ(h.got, (std::vector<uint8_t>{1, 2, 3}));
}

// A next hop that does not answer is given up one give-up interval (1 s)
// after its first frame was held, with every frame held for it, later ones
// too (as a kernel fails a neighbour); meanwhile it is asked once per retry
// interval (200 ms). Nothing but the clock moves the queue here.
TEST(DpdkArp, UnansweredHopIsGivenUpWithAllItsFrames) {
  auto tp = spare_port_endpoint(fresh_ip());
  DpdkTransport& t = *tp;
  uint8_t hdr[kPktHdrSize] = {};
  transport::Route to = t.resolve("dpdk://198.18.1.248:31850");  // nobody
  TxPacket p{&to, hdr, nullptr, 0};
  RxPacket q[8];
  const auto first = std::chrono::steady_clock::now();
  ASSERT_EQ(t.tx_burst(&p, 1), 1u);
  while (std::chrono::steady_clock::now() < first + std::chrono::milliseconds(700))
    t.rx_release(q, t.rx_burst(q, 8));
  ASSERT_EQ(t.dpdk_stats().tx_no_neighbor, 0u);
  ASSERT_EQ(t.tx_burst(&p, 1), 1u);  // held with the first
  while (t.dpdk_stats().tx_no_neighbor == 0 &&
         std::chrono::steady_clock::now() < first + std::chrono::seconds(5))
    t.rx_release(q, t.rx_burst(q, 8));
  const auto waited = std::chrono::steady_clock::now() - first;
  EXPECT_EQ(t.dpdk_stats().tx_no_neighbor, 2u) << "both frames at once";
  EXPECT_GE(waited, std::chrono::milliseconds(950));
  EXPECT_LT(waited, std::chrono::milliseconds(1350)) << "the first frame's clock counts";
  EXPECT_GE(t.dpdk_stats().arp_requests_tx, 2u) << "asked again";
  EXPECT_LE(t.dpdk_stats().arp_requests_tx, 5u) << "at most once per 200 ms";
}

// Four next hops that never answer, eight frames each, take every slot; a
// frame for a fifth hop still gets one (the newest frame of a full hop
// makes room), and reaches that hop once it answers.
TEST(DpdkArp, DeadHopsCannotTakeEverySlot) {
  const std::string b_ip = fresh_ip();
  auto b = spare_port_endpoint(b_ip, 1);
  auto t = spare_port_endpoint(fresh_ip(), 0);
  auto send_to = [&](const std::string& ip) { return send_header_to(*t, ip); };
  static_assert(DpdkTransport::kMaxPending == 4 * DpdkTransport::kMaxPendingPerHop);
  for (int h = 0; h < 4; ++h) {
    const std::string dead = fresh_ip();
    for (uint32_t i = 0; i < DpdkTransport::kMaxPendingPerHop; ++i) ASSERT_EQ(send_to(dead), 1u);
  }
  ASSERT_EQ(t->dpdk_stats().tx_no_neighbor, 0u);
  ASSERT_EQ(t->dpdk_stats().arp_requests_tx, 4u);
  ASSERT_EQ(send_to(b_ip), 1u);
  EXPECT_EQ(t->dpdk_stats().arp_requests_tx, 5u) << "the fifth hop is asked for";
  EXPECT_EQ(t->dpdk_stats().tx_no_neighbor, 1u) << "one frame of a full hop made room";
  const uint32_t got = first_frames_at(*b, *t);
  EXPECT_EQ(got, 1u) << "the fifth hop's frame was held, and sent when it answered";
}

// A hop asked for while every slot was taken is not asked again when a
// slot frees and its next frame is held, before the retry interval.
TEST(DpdkArp, HopAskedWhileFullIsNotAskedTwice) {
  const std::string b_ip = fresh_ip();
  auto b = spare_port_endpoint(b_ip, 1);
  auto t = spare_port_endpoint(fresh_ip(), 0);
  auto send_to = [&](const std::string& ip) { return send_header_to(*t, ip); };
  ASSERT_EQ(send_to(b_ip), 1u);  // b's frame takes a slot; b will answer
  for (uint32_t i = 1; i < DpdkTransport::kMaxPending; ++i) ASSERT_EQ(send_to(fresh_ip()), 1u);
  const std::string x = fresh_ip();
  ASSERT_EQ(send_to(x), 1u);  // every slot holds a hop of its own: dropped, but asked
  const uint64_t asked = t->dpdk_stats().arp_requests_tx;
  ASSERT_EQ(asked, DpdkTransport::kMaxPending + 1);
  // b answers; t sends b's frame, freeing its slot.
  ASSERT_EQ(first_frames_at(*b, *t), 1u);
  ASSERT_EQ(send_to(x), 1u);  // held now
  EXPECT_EQ(t->dpdk_stats().arp_requests_tx, asked) << "x was asked for a moment ago";
}

// While several frames wait for a next hop that does not answer, the
// who-has is repeated once per retry interval for the hop, not once per
// frame.
TEST(DpdkArp, FramesWaitingForOneHopRepeatOneWhoHas) {
  auto tp = spare_port_endpoint(fresh_ip());
  DpdkTransport& t = *tp;
  uint8_t hdr[kPktHdrSize] = {};
  transport::Route to = t.resolve("dpdk://198.18.1.249:31850");  // nobody
  for (int i = 0; i < 3; ++i) {
    TxPacket p{&to, hdr, nullptr, 0};
    ASSERT_EQ(t.tx_burst(&p, 1), 1u);
  }
  ASSERT_EQ(t.dpdk_stats().arp_requests_tx, 1u);
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  RxPacket q[8];
  while (t.dpdk_stats().arp_requests_tx == 1 && std::chrono::steady_clock::now() < end)
    t.rx_release(q, t.rx_burst(q, 8));
  EXPECT_EQ(t.dpdk_stats().arp_requests_tx, 2u) << "one repeat for the three frames";
  EXPECT_EQ(t.dpdk_stats().tx_no_neighbor, 0u) << "all three still wait";
}

// A /32 address (as some clouds hand out) with a gateway outside it: the
// gateway is on-link, and every other address goes through it.
TEST(DpdkGateway, SlashThirtyTwoTakesAnOnLinkGateway) {
  std::string uri;
  auto t = make_endpoint(&uri, {"prefix=32", "gateway=198.18.9.9"});
  EXPECT_EQ(t->route_to_string(t->resolve("dpdk://198.18.1.77:5")),
            "dpdk://198.18.1.77:5 via 198.18.9.9");
}

// A call to an address nobody answers ARP for fails by its deadline, and
// the transport says why (ARP requests sent, frames dropped unresolved).
TEST_F(RpcTest, DpdkPeerThatNeverAnswersArpIsUnavailable) {
  SessionId s = kInvalidSession;
  EXPECT_NE(client_->connect("dpdk://198.18.1.250:31850", &s), Status::kOk);
  EXPECT_GT(client_->transport_stats().tx_dropped, 0u);
  // The reasons are visible through the Rpc, by name.
  std::map<std::string, uint64_t> c;
  for (const auto& k : client_->transport_counters()) c[k.name] = k.value;
  EXPECT_EQ(c.size(), 17u) << "every DpdkStats field, once";
  EXPECT_GT(c["arp_requests_tx"], 0u);
  EXPECT_GT(c["tx_no_neighbor"], 0u);
  EXPECT_EQ(c.count("neighbor_evicted"), 1u);
}

}  // namespace
}  // namespace flit::testing
