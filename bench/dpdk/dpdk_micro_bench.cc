// bench/dpdk/dpdk_micro_bench.cc: flit-dpdk-micro-bench, Google Benchmark
// micro-benchmarks of the DPDK transport's per-packet CPU cost, on one core
// with no second process: a net_ring port loops every transmitted frame back
// to its own receive queue, so a send and a receive cost what the transport
// and the mempool cost, plus one rte_ring enqueue and dequeue.
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
// Needs no hugepages and no root (--no-huge, --no-shconf).
#include <benchmark/benchmark.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <cstdio>
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

constexpr const char* kIp = "198.18.0.1";
constexpr uint16_t kUdpPort = 31870;

// One loopback transport for the whole process (the EAL is initialised
// once): it sends to its own address, whose MAC it learns by ARP from itself
// on the first frame (net_ring takes no mac= override).
DpdkTransport& transport() {
  static std::unique_ptr<DpdkTransport> t = [] {
    DpdkTransport::Options o;
    o.eal =
        "--no-huge -m 512 --no-pci --no-shconf --no-telemetry -l 0 --log-level=*:warning "
        "--vdev=net_ring0";
    o.ports = {"net_ring0"};
    o.ips = {kIp};
    o.udp_port = kUdpPort;
    return std::make_unique<DpdkTransport>(o);
  }();
  return *t;
}

void BM_TransportLoopback(benchmark::State& state) {
  DpdkTransport& t = transport();
  const auto payload_len = static_cast<uint32_t>(state.range(0));
  const flit::transport::Route to =
      t.resolve("dpdk://" + std::string(kIp) + ":" + std::to_string(kUdpPort));
  uint8_t hdr[flit::kPktHdrSize] = {};
  std::vector<uint8_t> payload(payload_len, 0x5a);
  flit::transport::TxPacket p{&to, hdr, payload.data(), payload_len};
  flit::transport::RxPacket rx[4];
  // The first frame waits for ARP (to ourselves): bounded warm-up until one
  // comes back.
  bool warm = false;
  for (int i = 0; i < 1000 && !warm; ++i) {
    if (i % 100 == 0) t.tx_burst(&p, 1);
    uint32_t got = t.rx_burst(rx, 4);
    warm = got != 0;
    t.rx_release(rx, got);
  }
  if (!warm) {
    state.SkipWithError("no frame came back from the loopback port (ARP to self failed)");
    return;
  }
  for (auto _ : state) {
    if (t.tx_burst(&p, 1) != 1) {
      state.SkipWithError("tx_burst refused the frame");
      break;
    }
    uint32_t got = t.rx_burst(rx, 4);
    if (got != 1 || rx[0].len != flit::kPktHdrSize + payload_len) {
      state.SkipWithError("the frame did not come back whole");
      break;
    }
    benchmark::DoNotOptimize(rx[0].data[flit::kPktHdrSize]);
    t.rx_release(rx, got);
  }
  if (t.dpdk_stats().rx_bad_checksum != 0) state.SkipWithError("bad checksums on loopback");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TransportLoopback)->Arg(32)->Arg(1024);

void BM_RawFrameLoopback(benchmark::State& state) {
  DpdkTransport& t = transport();  // the same port, used directly
  const uint16_t port = t.port_id(), queue = t.queue_id();
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
    if (rte_eth_tx_burst(port, queue, &m, 1) != 1) {
      rte_pktmbuf_free(m);
      state.SkipWithError("tx refused");
      break;
    }
    uint16_t got = rte_eth_rx_burst(port, queue, rx, 4);
    if (got != 1) {
      state.SkipWithError("the frame did not come back");
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
