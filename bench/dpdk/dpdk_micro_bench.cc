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
//     and verifies them; rx_release frees), per packet size.
//   - BM_Cksum*: flit's software Internet checksum (inet_cksum.h) against
//     DPDK's rte_raw_cksum, over one 32-byte call's frame.
// The difference between the first two is what the transport adds per frame
// on each side; a round trip has two of each.
//
//   build-release/bench/dpdk/flit-dpdk-micro-bench [--benchmark_filter=...]
//
// Needs no hugepages and no root (--no-huge, --no-shconf); the memif socket
// is a file in $TMPDIR (default /tmp), removed at exit.
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
#include <memory>
#include <vector>

#include "dpdk_transport.h"
#include "flit/error.h"
#include "inet_cksum.h"
#include "pkthdr.h"

namespace {

using flit::transport::DpdkTransport;
using flit::transport::kFrameHdrSize;

constexpr const char* kIpA = "198.18.0.1";  // sends
constexpr const char* kIpB = "198.18.0.2";  // receives
constexpr uint16_t kUdpPort = 31870;

// The two transports, one per end of the memif link (rpc_id 0 on
// net_memif0, 1 on net_memif1), made once: the EAL is initialised once per
// process. `a` sends to `b`.
struct Pair {
  std::string sock;
  std::unique_ptr<DpdkTransport> a, b;
  ~Pair() {
    a.reset();
    b.reset();
    std::remove(sock.c_str());
  }
};

Pair& pair() {
  static Pair q;
  if (q.a == nullptr) {
    const char* dir = std::getenv("TMPDIR");
    q.sock = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") +
             "/flit-dpdk-micro-bench-" + std::to_string(getpid()) + "-" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) +
             ".sock";  // unique even if a killed run left its file
    DpdkTransport::Options o;
    o.eal =
        "--no-huge -m 512 --no-pci --no-shconf --no-telemetry -l 0 --log-level=*:warning "
        "--log-level=pmd.net.memif:critical --vdev=net_memif0,role=server,id=0,socket=" +
        q.sock + " --vdev=net_memif1,role=client,id=0,socket=" + q.sock;
    o.ports = {"net_memif0", "net_memif1"};
    o.ips = {kIpA, kIpB};
    o.udp_port = kUdpPort;
    o.rpc_id = 0;
    q.a = std::make_unique<DpdkTransport>(o);
    o.rpc_id = 1;
    q.b = std::make_unique<DpdkTransport>(o);
  }
  return q;
}

void BM_TransportLoopback(benchmark::State& state) {
  DpdkTransport& a = *pair().a;
  DpdkTransport& b = *pair().b;
  const auto payload_len = static_cast<uint32_t>(state.range(0));
  const flit::transport::Route to =
      a.resolve("dpdk://" + std::string(kIpB) + ":" + std::to_string(kUdpPort));
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
BENCHMARK(BM_TransportLoopback)->Arg(32)->Arg(1024);

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
