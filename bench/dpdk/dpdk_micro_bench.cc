// bench/dpdk/dpdk_micro_bench.cc: flit-dpdk-micro-bench, Google Benchmark
// micro-benchmarks of the DPDK transport's per-packet CPU cost, on one core
// with no second process: two ports of this process are the two ends of one
// memif link (net_memif0 role=server, net_memif1 role=client, one socket),
// so what one sends the other receives, and a send and a receive cost what
// the transport, the mempool and the memif PMD's copies cost.
//   - BM_RawFrameLoopback: the raw ping-pong's work per frame (allocate an
//     mbuf, copy a prebuilt frame, send; receive, free): the floor.
//   - BM_TransportLoopback: the same through DpdkTransport (tx_burst builds
//     Ethernet/IPv4/UDP headers and software checksums; rx_burst validates
//     and verifies them; rx_release frees), per packet size, with UDP
//     checksums (/1) and without (/0: udp_cksum=0, on a second memif link).
//   - BM_RpcLoopback: whole calls, a client Rpc and an echo server Rpc on a
//     third link (engine, transport and PMD, both sides on this core), one
//     or 32 in flight: the CPU side of the memif targets, free of the
//     two-core runs' regimes.
//   - BM_Cksum*: flit's software Internet checksum (inet_cksum.h) against
//     DPDK's rte_raw_cksum, over one 32-byte call's frame.
// The difference between the first two is what the transport adds per frame
// on each side; a round trip has two of each.
//
//   build-release/bench/dpdk/flit-dpdk-micro-bench [--benchmark_filter=...]
//
// Needs no hugepages and no root (--no-huge, --no-shconf); the memif sockets
// are files in $TMPDIR (default /tmp), removed at exit.
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "dpdk_transport.h"
#include "flit/error.h"
#include "flit/flit.h"
#include "inet_cksum.h"
#include "pkthdr.h"

namespace {

using flit::transport::DpdkTransport;
using flit::transport::kFrameHdrSize;

constexpr int kPorts = 6;  // three memif links
constexpr const char* kIps[kPorts] = {"198.18.0.1", "198.18.0.2", "198.18.0.3",
                                      "198.18.0.4", "198.18.0.5", "198.18.0.6"};
constexpr uint16_t kUdpPort = 31870;

// Three memif links, each with a transport at either end (rpc_id k on
// net_memifk), made once: the EAL is initialised once per process. On
// link 0, `a` (net_memif0) sends to `b` (net_memif1) with UDP checksums;
// on link 1, net_memif2 sends to net_memif3 with udp_cksum=0; link 2
// (net_memif4 and 5) carries BM_RpcLoopback's Rpcs, made when it first runs.
struct Pair {
  std::string sock;
  DpdkTransport::Options options;  // every port's, rpc_id aside
  std::unique_ptr<DpdkTransport> t[4];
  DpdkTransport* a = nullptr;  // the sender of link `udp_cksum`
  DpdkTransport* b = nullptr;  // its receiver
  const char* b_ip = nullptr;
  ~Pair() {
    for (auto& x : t) x.reset();
    for (int link = 0; link < kPorts / 2; ++link)
      std::remove((sock + std::to_string(link)).c_str());
  }
};

Pair& pair(bool udp_cksum = true) {
  static Pair q;
  if (q.t[0] == nullptr) {
    const char* dir = std::getenv("TMPDIR");
    q.sock = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") +
             "/flit-dpdk-micro-bench-" + std::to_string(getpid()) + "-" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) +
             ".sock";  // unique even if a killed run left its file
    DpdkTransport::Options o;
    o.eal =
        "--no-huge -m 512 --no-pci --no-shconf --no-telemetry -l 0 --log-level=*:warning "
        "--log-level=pmd.net.memif:critical";
    for (int k = 0; k < kPorts; ++k) {
      o.eal += " --vdev=net_memif" + std::to_string(k) +
               (k % 2 == 0 ? ",role=server" : ",role=client") + ",id=0,socket=" + q.sock +
               std::to_string(k / 2);
      o.ports.push_back("net_memif" + std::to_string(k));
      o.ips.push_back(kIps[k]);
    }
    o.udp_port = kUdpPort;
    q.options = o;  // link 2: BM_RpcLoopback's (RpcPair)
    for (uint8_t k = 0; k < 4; ++k) {
      o.rpc_id = k;
      o.udp_cksum = k < 2;
      q.t[k] = std::make_unique<DpdkTransport>(o);
    }
  }
  const int link = udp_cksum ? 0 : 1;
  q.a = q.t[2 * link].get();
  q.b = q.t[2 * link + 1].get();
  q.b_ip = kIps[2 * link + 1];
  return q;
}

// state.range(0): payload bytes; range(1): 1 with UDP checksums, 0 with
// udp_cksum=0 on the sender (the receiver then verifies none either).
void BM_TransportLoopback(benchmark::State& state) {
  Pair& q = pair(state.range(1) != 0);
  DpdkTransport& a = *q.a;
  DpdkTransport& b = *q.b;
  const auto payload_len = static_cast<uint32_t>(state.range(0));
  const flit::transport::Route to =
      a.resolve("dpdk://" + std::string(q.b_ip) + ":" + std::to_string(kUdpPort));
  uint8_t hdr[flit::kPktHdrSize] = {};
  std::vector<uint8_t> payload(payload_len, 0x5a);
  flit::transport::TxPacket p{&to, hdr, payload.data(), payload_len};
  flit::transport::RxPacket rx[4];
  // The link comes up asynchronously and the first frame waits for ARP:
  // bounded warm-up (5 s) until one arrives.
  bool warm = false;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (uint64_t i = 0; !warm && std::chrono::steady_clock::now() < give_up; ++i) {
    if (i % 1000 == 0) a.tx_burst(&p, 1);
    a.rx_release(rx, a.rx_burst(rx, 4));  // takes in b's ARP answer
    const uint32_t got = b.rx_burst(rx, 4);
    warm = got != 0;
    b.rx_release(rx, got);
  }
  if (!warm) {
    state.SkipWithError("no frame crossed the memif link (link down, or ARP failed)");
    return;
  }
  for (auto _ : state) {
    if (a.tx_burst(&p, 1) != 1) {
      state.SkipWithError("tx_burst refused the frame");
      break;
    }
    const uint32_t got = b.rx_burst(rx, 4);
    if (got != 1 || rx[0].len != flit::kPktHdrSize + payload_len) {
      state.SkipWithError("the frame did not arrive whole");
      break;
    }
    benchmark::DoNotOptimize(rx[0].data[flit::kPktHdrSize]);
    b.rx_release(rx, got);
  }
  if (b.dpdk_stats().rx_bad_checksum != 0) state.SkipWithError("bad checksums on the link");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TransportLoopback)->ArgsProduct({{32, 1024}, {1, 0}});

void BM_RawFrameLoopback(benchmark::State& state) {
  // The same ports, used directly.
  const uint16_t port_a = pair().a->port_id(), queue_a = pair().a->queue_id();
  const uint16_t port_b = pair().b->port_id(), queue_b = pair().b->queue_id();
  rte_mempool* pool =
      rte_pktmbuf_pool_create("raw_bench", 1023, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (pool == nullptr) {
    state.SkipWithError("cannot create the mbuf pool");
    return;
  }
  const size_t frame_len = kFrameHdrSize + flit::kPktHdrSize + static_cast<size_t>(state.range(0));
  std::vector<uint8_t> frame(frame_len, 0);  // not for us: the rx_burst below bypasses flit
  rte_mbuf* rx[4];
  for (auto _ : state) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
      state.SkipWithError("mbuf pool empty");
      break;
    }
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), frame.data(), frame_len);
    m->data_len = m->pkt_len = static_cast<uint32_t>(frame_len);
    if (rte_eth_tx_burst(port_a, queue_a, &m, 1) != 1) {
      rte_pktmbuf_free(m);
      state.SkipWithError("tx refused");
      break;
    }
    uint16_t got = rte_eth_rx_burst(port_b, queue_b, rx, 4);
    if (got != 1) {
      state.SkipWithError("the frame did not arrive");
      break;
    }
    benchmark::DoNotOptimize(rte_pktmbuf_mtod(rx[0], uint8_t*)[kFrameHdrSize]);
    rte_pktmbuf_free_bulk(rx, got);
  }
  state.SetItemsProcessed(state.iterations());
  rte_mempool_free(pool);
}
BENCHMARK(BM_RawFrameLoopback)->Arg(32)->Arg(1024);

// A server Rpc (echo handler, inline) on net_memif4 and a client Rpc on
// net_memif5, both driven by this thread, with kSessions sessions between
// them: made once, on first use, and kept (the ports stay open for the
// process).
struct RpcPair {
  static constexpr uint16_t kEcho = 1;
  static constexpr uint32_t kSessions = 4;
  std::unique_ptr<flit::Nexus> server_nexus, client_nexus;
  std::unique_ptr<flit::Rpc> server, client;
  flit::SessionId sessions[kSessions] = {};
  std::string error;  // why the pair could not be made

  RpcPair() {
    Pair& q = pair();  // the EAL, with link 2's ports declared
    auto config = [&q](uint8_t rpc_id) {
      flit::NexusConfig c;
      // The link comes up asynchronously and the first packets wait for ARP
      // (as BM_TransportLoopback's warm-up allows: 5 s); and the sessions
      // must outlive the other benchmarks' runs, when nothing polls them.
      c.connect_timeout = std::chrono::seconds(5);
      c.idle_timeout = std::chrono::hours(24);
      c.transport_factory = [&q, rpc_id](uint8_t) {
        DpdkTransport::Options o = q.options;
        o.rpc_id = rpc_id;
        return std::make_unique<DpdkTransport>(o);
      };
      return c;
    };
    server_nexus = std::make_unique<flit::Nexus>(config(4));
    server_nexus->register_handler(kEcho, [](flit::ReqHandle* h) {
      auto req = h->request();
      flit::MsgBuffer& out = h->init_response(req.size());
      if (req.size() != 0) std::memcpy(out.data(), req.data(), req.size());
      h->rpc()->enqueue_response(h);
    });
    client_nexus = std::make_unique<flit::Nexus>(config(5));
    server = std::make_unique<flit::Rpc>(*server_nexus, 0);
    client = std::make_unique<flit::Rpc>(*client_nexus, 0);
    uint32_t done = 0;
    flit::Status up = flit::Status::kOk;
    for (flit::SessionId& s : sessions) {
      s = client->create_session("dpdk://" + std::string(kIps[4]) + ":" + std::to_string(kUdpPort),
                                 [&](flit::SessionId, flit::Status st) {
                                   if (st != flit::Status::kOk) up = st;
                                   done++;
                                 });
    }
    while (done != kSessions) poll();  // bounded by connect_timeout
    if (up != flit::Status::kOk) error = "no session over memif: " + std::string(to_string(up));
  }
  void poll() {
    server->run_event_loop_once();
    client->run_event_loop_once();
  }
};

RpcPair& rpc_pair() {
  static RpcPair p;
  return p;
}

// flit's whole per-call CPU cost over DPDK on one core, both sides: client
// calls through the engine and DpdkTransport to an echo handler and back,
// 32-byte request and response, state.range(0) calls in flight in closed
// loop (each completion starts the next call from its continuation, as
// flit-bench's client does), spread over RpcPair::kSessions sessions. Both
// Rpcs run on this thread, so no cross-core transfer is in it, and the fast
// and slow regimes of two-core runs do not show: it is the CPU side of the
// latency and throughput targets, to be set against BM_RawFrameLoopback/32
// twice (a frame each way; the raw reflector sends back the mbuf it got).
void BM_RpcLoopback(benchmark::State& state) {
  RpcPair& p = rpc_pair();
  if (!p.error.empty()) {
    state.SkipWithError(p.error.c_str());
    return;
  }
  const auto inflight = static_cast<uint32_t>(state.range(0));
  struct Call {
    flit::MsgBuffer req, resp;
    flit::SessionId session;
  };
  std::vector<Call> calls(inflight);
  uint64_t completed = 0, failed = 0;
  uint32_t outstanding = 0;
  bool stopping = false;
  std::function<void(Call*)> issue = [&](Call* c) {
    outstanding++;
    const flit::Status st = p.client->enqueue_request(c->session, RpcPair::kEcho, &c->req, &c->resp,
                                                      [&, c](flit::Status r) {
                                                        outstanding--;
                                                        completed++;
                                                        failed += r != flit::Status::kOk;
                                                        if (!stopping) issue(c);
                                                      });
    if (st != flit::Status::kOk) {
      outstanding--;
      failed++;
    }
  };
  for (uint32_t i = 0; i < inflight; ++i) {
    calls[i].req = p.client->alloc_msg_buffer(32);
    std::memset(calls[i].req.data(), 0x5a, 32);
    calls[i].resp = p.client->alloc_msg_buffer(32);
    calls[i].session = p.sessions[i % RpcPair::kSessions];
    issue(&calls[i]);
  }
  uint64_t target = 0;
  // Each call ends by its deadline at worst: the polls are bounded.
  while (state.KeepRunningBatch(inflight)) {
    target += inflight;
    while (completed < target && outstanding != 0) p.poll();
  }
  stopping = true;
  while (outstanding != 0) p.poll();
  if (failed != 0) state.SkipWithError("calls failed (lost frames or a dead link)");
  state.SetItemsProcessed(static_cast<int64_t>(target));
}
BENCHMARK(BM_RpcLoopback)->Arg(1)->Arg(32);

// The UDP part of a 32-byte call's frame: 8 + 40 + 32 bytes.
constexpr size_t kUdpBytes = 8 + flit::kPktHdrSize + 32;

void BM_CksumFlit(benchmark::State& state) {
  alignas(64) uint8_t buf[kUdpBytes + 2];
  for (size_t i = 0; i < sizeof buf; ++i) buf[i] = static_cast<uint8_t>(i * 7);
  for (auto _ : state) {
    benchmark::DoNotOptimize(buf);
    benchmark::DoNotOptimize(
        flit::transport::cksum_fold(flit::transport::cksum_add(buf + 2, kUdpBytes, 0)));
  }
}
BENCHMARK(BM_CksumFlit);

void BM_CksumRteRaw(benchmark::State& state) {
  alignas(64) uint8_t buf[kUdpBytes + 2];
  for (size_t i = 0; i < sizeof buf; ++i) buf[i] = static_cast<uint8_t>(i * 7);
  for (auto _ : state) {
    benchmark::DoNotOptimize(buf);
    benchmark::DoNotOptimize(rte_raw_cksum(buf + 2, kUdpBytes));
  }
}
BENCHMARK(BM_CksumRteRaw);

}  // namespace

BENCHMARK_MAIN();
