// bench/dpdk_baseline.cc: flit-dpdk-baseline, the limit flit's DPDK
// transport approaches: a ping-pong of raw frames over the same DPDK port
// type, with no RPC layer.
//
//   flit-dpdk-baseline server --port net_memif0 --cpu 0 --dpdk-args
//       "--no-pci --in-memory -l 0 --vdev=net_memif0,role=server,socket=/tmp/b.sock"
//   flit-dpdk-baseline client --port net_memif0 --cpu 1 --duration 2 --warmup 0.5
//       [--req-size 32] [--json FILE] --dpdk-args
//       "--no-pci --in-memory -l 1 --vdev=net_memif0,role=client,socket=/tmp/b.sock"
//
// The client sends one Ethernet/IPv4/UDP frame the size of the flit packet
// it stands for (40-byte header plus --req-size payload), waits for it to
// come back, and records the round trip; the server swaps the MAC, IPv4 and
// UDP addresses and sends the same mbuf back (so a DpdkTransport client gets
// an answer it accepts too). Per round trip the client copies a prebuilt
// frame into a fresh mbuf (as flit's transmit does), the server copies
// nothing. The report has the same lines (and JSON) as flit-bench's, so the
// two compare directly: flit's median over this one is the RPC layer's cost.
//
// With --via-transport (both sides), the same ping-pong goes through flit's
// DpdkTransport instead (tx_burst/rx_burst/rx_release: headers, checksums,
// ARP, zero-copy receive) with no engine above it: it splits flit's cost
// over the raw baseline into the transport's share and the engine's.
#include <pthread.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>
#include <sched.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "dpdk_transport.h"
#include "flit/config.h"
#include "histogram.h"
#include "report.h"

namespace {

using Clock = std::chrono::steady_clock;
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

struct Opts {
  std::string dpdk_args;
  std::string port = "0";
  int cpu = -1;
  double duration = 0;  // server: 0 = until SIGINT; client: measured seconds
  double warmup = 0.5;
  size_t req_size = 32;
  std::string json;
  bool via_transport = false;
};

using flit::transport::DpdkTransport;

void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) std::perror("flit-dpdk-baseline: cannot pin");
}

// A DpdkTransport on o.port, at 198.18.0.2:31860 (server) or
// 198.18.0.1:31861 (client).
std::unique_ptr<DpdkTransport> open_transport(const Opts& o, bool server) {
  DpdkTransport::Options t;
  t.eal = o.dpdk_args;
  t.ports = {o.port};
  t.ips = {server ? "198.18.0.2" : "198.18.0.1"};
  t.udp_port = server ? 31860 : 31861;
  return std::make_unique<DpdkTransport>(t);
}

int run_transport_server(const Opts& o) {
  pin(o.cpu);
  auto t = open_transport(o, true);
  std::printf("flit-dpdk-baseline server: echoing through DpdkTransport on port %s\n",
              o.port.c_str());
  std::fflush(stdout);
  auto end = Clock::now() + std::chrono::duration<double>(o.duration > 0 ? o.duration : 1e9);
  flit::transport::RxPacket rx[32];
  flit::transport::TxPacket tx[32];
  uint64_t iter = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    uint32_t n = t->rx_burst(rx, 32);
    for (uint32_t i = 0; i < n; ++i) {
      tx[i] = {rx[i].from, rx[i].data, rx[i].data + flit::kPktHdrSize,
               rx[i].len - static_cast<uint32_t>(flit::kPktHdrSize)};
    }
    if (n != 0) {
      t->tx_burst(tx, n);
      t->rx_release(rx, n);
    }
    if ((++iter & 0x3ff) == 0 && Clock::now() > end) break;
  }
  return 0;
}

uint64_t cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Pins, initialises the EAL (restoring the pin: rte_eal_init moves the
// thread to its main lcore), and starts the port with one queue pair.
// Returns the port id, or -1 after printing why.
int setup(const Opts& o, rte_mempool** pool) {
  if (o.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o.cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
      std::perror("flit-dpdk-baseline: cannot pin");
      return -1;
    }
  }
  std::istringstream is(o.dpdk_args);
  std::vector<std::string> words{"flit-dpdk-baseline"};
  for (std::string w; is >> w;) words.push_back(w);
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  cpu_set_t saved;
  pthread_getaffinity_np(pthread_self(), sizeof saved, &saved);
  if (rte_eal_init(static_cast<int>(words.size()), argv.data()) < 0) {
    std::fprintf(stderr,
                 "flit-dpdk-baseline: EAL initialisation failed: %s (hugepages: "
                 "scripts/hugepages.sh)\n",
                 rte_strerror(rte_errno));
    return -1;
  }
  pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
  uint16_t pid = 0;
  if (rte_eth_dev_get_port_by_name(o.port.c_str(), &pid) != 0) {
    char* end = nullptr;
    unsigned long v = std::strtoul(o.port.c_str(), &end, 10);
    if (*end != '\0' || !rte_eth_dev_is_valid_port(static_cast<uint16_t>(v))) {
      std::fprintf(stderr, "flit-dpdk-baseline: no such port '%s'\n", o.port.c_str());
      return -1;
    }
    pid = static_cast<uint16_t>(v);
  }
  *pool =
      rte_pktmbuf_pool_create("baseline", 4095, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  rte_eth_conf conf{};
  if (*pool == nullptr || rte_eth_dev_configure(pid, 1, 1, &conf) != 0 ||
      rte_eth_rx_queue_setup(pid, 0, 1024, SOCKET_ID_ANY, nullptr, *pool) != 0 ||
      rte_eth_tx_queue_setup(pid, 0, 1024, SOCKET_ID_ANY, nullptr) != 0 ||
      rte_eth_dev_start(pid) != 0) {
    std::fprintf(stderr, "flit-dpdk-baseline: cannot set up port %s\n", o.port.c_str());
    return -1;
  }
  return pid;
}

int run_server(const Opts& o) {
  rte_mempool* pool = nullptr;
  int pid = setup(o, &pool);
  if (pid < 0) return 1;
  std::printf("flit-dpdk-baseline server: echoing on port %s\n", o.port.c_str());
  std::fflush(stdout);
  auto end = Clock::now() + std::chrono::duration<double>(o.duration > 0 ? o.duration : 1e9);
  rte_mbuf* m[32];
  uint64_t iter = 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    uint16_t got = rte_eth_rx_burst(static_cast<uint16_t>(pid), 0, m, 32);
    for (uint16_t i = 0; i < got; ++i) {
      // A reflector: swap the addresses of all three layers (checksums
      // stay valid: a sum does not depend on the order of its terms).
      auto* eth = rte_pktmbuf_mtod(m[i], rte_ether_hdr*);
      rte_ether_addr tmp = eth->dst_addr;
      eth->dst_addr = eth->src_addr;
      eth->src_addr = tmp;
      if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4) &&
          m[i]->data_len >= sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr)) {
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
        auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
        const rte_be32_t a = ip->src_addr;
        ip->src_addr = ip->dst_addr;
        ip->dst_addr = a;
        const rte_be16_t p = udp->src_port;
        udp->src_port = udp->dst_port;
        udp->dst_port = p;
      }
    }
    uint16_t sent = got == 0 ? 0 : rte_eth_tx_burst(static_cast<uint16_t>(pid), 0, m, got);
    if (sent < got) rte_pktmbuf_free_bulk(m + sent, got - sent);
    if ((++iter & 0x3ff) == 0 && Clock::now() > end) break;
  }
  rte_eal_cleanup();
  return 0;
}

int run_client(const Opts& o) {
  std::unique_ptr<DpdkTransport> tr;
  rte_mempool* pool = nullptr;
  int pid = 0;
  if (o.via_transport) {
    pin(o.cpu);
    tr = open_transport(o, false);
    pid = tr->port_id();
  } else {
    pid = setup(o, &pool);
    if (pid < 0) return 1;
  }
  const uint16_t port = static_cast<uint16_t>(pid);
  flit::transport::Route to{};
  std::vector<uint8_t> msg(40 + o.req_size, 0);
  if (tr) to = tr->resolve("dpdk://198.18.0.2:31860");
  // The frame: broadcast destination (the server echoes whatever comes),
  // IPv4/UDP headers with checksums computed once, then 40 + req_size bytes.
  const size_t flit_len = 40 + o.req_size;
  const size_t frame_len =
      sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + flit_len;
  if (frame_len > 1514) {
    std::fprintf(stderr, "flit-dpdk-baseline: --req-size too large for one frame\n");
    return 2;
  }
  std::vector<uint8_t> tmpl(frame_len, 0);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(tmpl.data());
  std::memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
  rte_eth_macaddr_get(port, &eth->src_addr);
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(frame_len - sizeof(rte_ether_hdr)));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->src_addr = rte_cpu_to_be_32(0xC6120001);  // 198.18.0.1
  ip->dst_addr = rte_cpu_to_be_32(0xC6120002);  // 198.18.0.2
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = rte_cpu_to_be_16(31860);
  udp->dst_port = rte_cpu_to_be_16(31860);
  udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_udp_hdr) + flit_len));
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  const size_t seq_off = frame_len - flit_len;  // a sequence number where flit's header is

  std::signal(SIGINT, on_signal);
  flit::bench::Histogram hist;
  uint64_t lost = 0, seq = 0;
  const auto warm_end = Clock::now() + std::chrono::duration<double>(o.warmup);
  const auto end = warm_end + std::chrono::duration<double>(o.duration);
  bool measuring = false;
  uint64_t cpu0 = 0;
  Clock::time_point t_start;
  rte_mbuf* rx[32];
  while (!g_stop.load(std::memory_order_relaxed)) {
    auto now = Clock::now();
    if (!measuring && now >= warm_end) {
      measuring = true;
      hist.reset();
      lost = 0;
      cpu0 = cpu_ns();
      t_start = now;
    }
    if (now >= end) break;
    if (tr) {
      ++seq;
      std::memcpy(msg.data(), &seq, sizeof seq);
      flit::transport::TxPacket p{&to, msg.data(), msg.data() + flit::kPktHdrSize,
                                  static_cast<uint32_t>(o.req_size)};
      auto t0 = Clock::now();
      if (tr->tx_burst(&p, 1) != 1) continue;
      bool back = false;
      const auto give_up = t0 + std::chrono::milliseconds(100);
      flit::transport::RxPacket in[32];
      while (!back) {
        uint32_t got = tr->rx_burst(in, 32);
        for (uint32_t i = 0; i < got; ++i) {
          uint64_t s = 0;
          if (in[i].len >= sizeof s) std::memcpy(&s, in[i].data, sizeof s);
          back |= s == seq;
        }
        tr->rx_release(in, got);
        if (!back && Clock::now() > give_up) break;
      }
      auto t1 = Clock::now();
      if (back) {
        hist.record(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
      } else {
        lost++;
      }
      continue;
    }
    // The round trip starts before the frame is built, as flit's starts
    // before its request is: sending costs what it costs.
    auto t0 = Clock::now();
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (m == nullptr) {
      std::fprintf(stderr, "flit-dpdk-baseline: mbuf pool empty\n");
      return 1;
    }
    uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
    std::memcpy(d, tmpl.data(), frame_len);
    ++seq;
    std::memcpy(d + seq_off, &seq, sizeof seq);
    m->data_len = m->pkt_len = static_cast<uint32_t>(frame_len);
    if (rte_eth_tx_burst(port, 0, &m, 1) != 1) {
      rte_pktmbuf_free(m);
      continue;
    }
    bool back = false;
    const auto give_up = t0 + std::chrono::milliseconds(100);
    while (!back) {
      uint16_t got = rte_eth_rx_burst(port, 0, rx, 32);
      for (uint16_t i = 0; i < got; ++i) {
        uint64_t s = 0;
        if (rx[i]->data_len >= frame_len)
          std::memcpy(&s, rte_pktmbuf_mtod(rx[i], uint8_t*) + seq_off, sizeof s);
        back |= s == seq;
      }
      if (got != 0) rte_pktmbuf_free_bulk(rx, got);
      if (!back && Clock::now() > give_up) break;
    }
    auto t1 = Clock::now();
    if (back) {
      hist.record(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
    } else {
      lost++;
    }
  }
  flit::bench::Report r;
  r.kind = "baseline";
  r.transport = o.via_transport ? "dpdk (DpdkTransport, no engine)" : "dpdk (raw frames)";
  r.mode = "latency";
  r.target = "port " + o.port;
  r.req_size = o.req_size;
  r.resp_size = o.req_size;
  r.seconds = measuring ? std::chrono::duration<double>(Clock::now() - t_start).count() : 0;
  r.requests = hist.count();
  r.errors = lost;
  r.cpu_seconds = measuring ? static_cast<double>(cpu_ns() - cpu0) / 1e9 : 0;
  r.latency = hist;
  flit::bench::print_report(r);
  if (!o.json.empty() && !flit::bench::write_json(r, o.json)) {
    std::fprintf(stderr, "flit-dpdk-baseline: cannot write %s\n", o.json.c_str());
    return 1;
  }
  tr.reset();
  rte_eal_cleanup();
  return r.requests > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flit-dpdk-baseline: raw DPDK frame ping-pong, the limit for flit over DPDK"};
  app.require_subcommand(1);
  Opts so, co;
  auto* server = app.add_subcommand("server", "echo frames back to their sender");
  auto* client = app.add_subcommand("client", "ping-pong frames and report round trips");
  for (auto [cmd, o] : {std::pair{server, &so}, std::pair{client, &co}}) {
    cmd->add_option("--dpdk-args", o->dpdk_args, "EAL arguments")->required();
    cmd->add_option("--port", o->port, "port name or index")->capture_default_str();
    cmd->add_option("--cpu", o->cpu, "pin to this CPU")->check(CLI::Range(0, 4095));
    cmd->add_flag("--via-transport", o->via_transport,
                  "go through flit's DpdkTransport (no engine) instead of raw frames");
  }
  server->add_option("--duration", so.duration, "exit after SECONDS (default: until SIGINT)")
      ->check(CLI::Range(0.0, 86400.0));
  co.duration = 2;
  client->add_option("--duration", co.duration, "measured SECONDS")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  client->add_option("--warmup", co.warmup, "unmeasured SECONDS first")
      ->check(CLI::Range(0.0, 60.0))
      ->capture_default_str();
  client->add_option("--req-size", co.req_size, "payload bytes (plus a 40-byte flit header)")
      ->check(CLI::Range(size_t{8}, size_t{1400}))
      ->capture_default_str();
  client->add_option("--json", co.json, "also write the result as JSON to FILE");
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGTERM, on_signal);
  try {
    if (server->parsed()) return so.via_transport ? run_transport_server(so) : run_server(so);
    return run_client(co);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flit-dpdk-baseline: %s\n", e.what());
    return 1;
  }
}
