// bench/dpdk_baseline.cc: flit-bench's raw DPDK baseline, the limit flit's
// DPDK transport approaches: `flit-bench baseline-server --transport dpdk`
// reflects frames, `flit-bench baseline --transport dpdk` ping-pongs
// (latency) or batch-echoes (throughput) them, with no RPC layer.
//
//   flit-bench baseline-server --listen dpdk://198.18.0.2:31860 --cpu 0
//       --transport-opt port=net_memif0 --dpdk-args "--no-pci --in-memory -l 0
//       --vdev=net_memif0,role=server,socket=/tmp/b.sock"
//   flit-bench baseline --connect dpdk://198.18.0.2:31860 --cpu 1 --mode latency
//       --transport-opt port=net_memif0 --transport-opt ip=198.18.0.1
//       --dpdk-args "--no-pci --in-memory -l 1 --vdev=net_memif0,role=client,socket=/tmp/b.sock"
//
// Both sides open the port exactly as flit does (a DpdkTransport: the same
// EAL arguments, port options, queue and mbuf pool), then bypass it: the
// client sends Ethernet/IPv4/UDP frames the size of the flit packets they
// stand for (40-byte header plus payload; a message larger than one frame
// goes as several, as flit's would), built by copying a prebuilt frame (IPv4
// checksum computed once, no UDP checksum); the server swaps the MAC, IPv4
// and UDP addresses of whatever arrives and sends the same mbuf back.
//
// With --via-transport (both sides, latency mode, one frame), the ping-pong
// goes through DpdkTransport's tx_burst/rx_burst/rx_release (headers,
// checksums, validation, zero-copy receive) with no engine above: it splits
// flit's cost over the raw figure into the transport's share and the
// engine's (bench/dpdk/compare_memif.sh).
#include "dpdk_baseline.h"

#include <arpa/inet.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <vector>

#include "dpdk_transport.h"
#include "flit/config.h"
#include "flit/error.h"
#include "flit/uri.h"
#include "work.h"

namespace flit::bench {

namespace {

using flit::transport::DpdkTransport;
using flit::transport::kFrameHdrSize;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kBurst = 32;
constexpr uint64_t kLossNs = 100'000'000;  // a message unanswered this long is lost
constexpr size_t kHdr = 40;                // a flit packet header's worth

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

Uri dpdk_uri(const std::string& text) {
  Uri u = parse_uri(text);
  if (u.scheme != "dpdk" && u.scheme != "udp") {
    throw Error("the DPDK baseline needs a dpdk://IPV4:PORT URI, got " + text);
  }
  return u;
}

// The port, opened as flit opens it. Server: at the --listen address;
// client: at ip= from the transport options.
std::unique_ptr<DpdkTransport> open_port(const BaselineOpts& o, bool server) {
  DpdkTransport::Options t;
  DpdkTransport::parse_options(o.transport_options, &t);
  if (server) {
    Uri u = dpdk_uri(o.uri);
    if (t.ips.empty()) t.ips = {u.host};
    t.udp_port = u.port;
  }
  return std::make_unique<DpdkTransport>(t);
}

// Swaps source and destination at every layer of an IPv4/UDP frame (the
// checksums stay valid: a sum does not depend on the order of its terms);
// other frames (ARP) only at the Ethernet layer.
inline void reflect(rte_mbuf* m) {
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  rte_ether_addr tmp = eth->dst_addr;
  eth->dst_addr = eth->src_addr;
  eth->src_addr = tmp;
  if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4) && m->data_len >= kFrameHdrSize) {
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

int run_reflector(DpdkTransport& t, const BaselineOpts& o, const std::atomic<bool>& stop) {
  const uint16_t port = t.port_id(), queue = t.queue_id();
  std::printf("flit-bench baseline server: reflecting raw frames on %s (port %u)\n", o.uri.c_str(),
              port);
  if (o.work_iters != 0) {
    std::printf("flit-bench baseline server: %u multiply-adds of work per frame\n", o.work_iters);
  }
  std::fflush(stdout);
  const uint64_t end =
      o.duration > 0 ? now_ns() + static_cast<uint64_t>(o.duration * 1e9) : UINT64_MAX;
  rte_mbuf* m[kBurst];
  uint64_t echoed = 0;
  for (uint64_t spins = 0; !stop.load(std::memory_order_relaxed); ++spins) {
    const uint16_t got = rte_eth_rx_burst(port, queue, m, kBurst);
    for (uint16_t i = 0; i < got; ++i) {
      if (o.work_iters != 0) simulated_work(o.work_iters);
      reflect(m[i]);
    }
    const uint16_t sent = got == 0 ? 0 : rte_eth_tx_burst(port, queue, m, got);
    if (sent < got) rte_pktmbuf_free_bulk(m + sent, got - sent);  // dropped, like a wire
    echoed += sent;
    if ((spins & 1023) == 0 && now_ns() >= end) break;
  }
  std::printf("flit-bench baseline server: %lu frames reflected\n",
              static_cast<unsigned long>(echoed));
  return 0;
}

int run_transport_echo(DpdkTransport& t, const BaselineOpts& o, const std::atomic<bool>& stop) {
  std::printf("flit-bench baseline server: echoing through DpdkTransport on %s\n", o.uri.c_str());
  if (o.work_iters != 0) {
    std::printf("flit-bench baseline server: %u multiply-adds of work per packet\n", o.work_iters);
  }
  std::fflush(stdout);
  const uint64_t end =
      o.duration > 0 ? now_ns() + static_cast<uint64_t>(o.duration * 1e9) : UINT64_MAX;
  transport::RxPacket rx[kBurst];
  transport::TxPacket tx[kBurst];
  for (uint64_t spins = 0; !stop.load(std::memory_order_relaxed); ++spins) {
    const uint32_t n = t.rx_burst(rx, kBurst);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; ++i) {
      if (rx[i].len < flit::kPktHdrSize) continue;
      if (o.work_iters != 0) simulated_work(o.work_iters);
      tx[k++] = {rx[i].from, rx[i].data, rx[i].data + flit::kPktHdrSize,
                 rx[i].len - static_cast<uint32_t>(flit::kPktHdrSize)};
    }
    if (k != 0) t.tx_burst(tx, k);
    if (n != 0) t.rx_release(rx, n);
    if ((spins & 1023) == 0 && now_ns() >= end) break;
  }
  return 0;
}

// What the client stamps into each frame where flit's header would be.
struct Stamp {
  uint64_t sent_ns;  // when the message's first frame was built
  uint64_t seq;      // message number
  uint32_t index;    // frame within the message
  uint32_t frames;   // frames in the message
};

// The ping-pong through DpdkTransport (no engine): one single-frame message
// in flight.
int run_transport_client(DpdkTransport& t, const BaselineOpts& o, const std::atomic<bool>& stop,
                         Report* r) {
  const transport::Route to = t.resolve(o.uri);
  if (kHdr + o.req_size > t.max_packet_size()) {
    throw Error("--via-transport sends one frame per message: --req-size at most " +
                std::to_string(t.max_packet_size() - kHdr));
  }
  std::vector<uint8_t> msg(kHdr + o.req_size, 0);
  MeasureWindow w(now_ns(), o.warmup, o.duration);
  uint64_t seq = 0;
  transport::RxPacket in[kBurst];
  for (;;) {
    const uint64_t start = now_ns();
    if (w.advance(start, stop.load(std::memory_order_relaxed), r)) break;
    ++seq;
    std::memcpy(msg.data(), &seq, sizeof seq);
    transport::TxPacket p{&to, msg.data(), msg.data() + flit::kPktHdrSize,
                          static_cast<uint32_t>(o.req_size)};
    if (t.tx_burst(&p, 1) != 1) continue;
    bool back = false;
    for (uint32_t polls = 1; !back; ++polls) {
      const uint32_t got = t.rx_burst(in, kBurst);
      for (uint32_t i = 0; i < got; ++i) {
        uint64_t s = 0;
        if (in[i].len >= sizeof s) std::memcpy(&s, in[i].data, sizeof s);
        back |= s == seq;
      }
      t.rx_release(in, got);
      // The clock (tens of ns on a VM) only now and then: the poll loop
      // stays as tight as a ping-pong's can be.
      if (!back && polls % 256 == 0 && now_ns() - start > kLossNs) break;
    }
    if (!w.measuring) continue;
    if (back) {
      r->latency.record(now_ns() - start);
      r->requests++;
    } else {
      r->errors++;
    }
  }
  return r->requests > 0 ? 0 : 1;
}

// Raw frames: a window of messages (1 in latency mode), each as many frames
// as its 40 + req_size bytes need at the port's packet size. A message's
// round trip ends when its last frame comes back.
int run_raw_client(DpdkTransport& t, const BaselineOpts& o, const std::atomic<bool>& stop,
                   Report* r) {
  const uint16_t port = t.port_id(), queue = t.queue_id();
  rte_mempool* pool = t.pool();
  const Uri u = dpdk_uri(o.uri);
  in_addr dst{};
  if (inet_pton(AF_INET, u.host.c_str(), &dst) != 1) {
    throw Error("the DPDK baseline needs a numeric IPv4 address, got " + u.host);
  }
  const size_t per_frame = t.max_packet_size();  // flit bytes per frame
  const size_t msg_bytes = kHdr + o.req_size;
  const auto frames = static_cast<uint32_t>((msg_bytes + per_frame - 1) / per_frame);
  const uint32_t window = o.mode == "latency" ? 1 : o.inflight;
  if (uint64_t{frames} * window > 1024) {
    throw Error(
        "the DPDK baseline keeps at most 1024 frames in flight (a receive ring's "
        "worth): lower --inflight");
  }
  // One prebuilt frame per distinct length (full frames and the last).
  auto build = [&](size_t flit_len) {
    std::vector<uint8_t> f(kFrameHdrSize + flit_len, 0);
    auto* eth = reinterpret_cast<rte_ether_hdr*>(f.data());
    std::memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);  // the reflector takes anything
    eth->src_addr = t.mac();
    eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(f.size() - sizeof(rte_ether_hdr)));
    ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
    ip->time_to_live = 64;
    ip->next_proto_id = IPPROTO_UDP;
    ip->src_addr = t.ipv4();
    ip->dst_addr = dst.s_addr;
    ip->hdr_checksum = rte_ipv4_cksum(ip);
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    udp->src_port = t.udp_port();
    udp->dst_port = rte_cpu_to_be_16(u.port);
    udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_udp_hdr) + flit_len));
    return f;
  };
  const std::vector<uint8_t> full = build(std::min(per_frame, msg_bytes));
  // (A last frame too short for the stamp is padded to hold it.)
  const std::vector<uint8_t> last =
      build(std::max(msg_bytes - (frames - 1) * per_frame, sizeof(Stamp)));

  r->inflight = window;
  const uint64_t t0 = now_ns();
  MeasureWindow w(t0, o.warmup, o.duration);
  uint64_t seq = 0, last_rx = t0;
  uint64_t reset_at = 0;     // messages sent before this were counted lost
  uint32_t outstanding = 0;  // messages
  uint32_t idle_polls = 0;
  rte_mbuf* out[kBurst];
  rte_mbuf* in[kBurst];
  for (;;) {
    // Top the window up, whole messages at a time: as many as fit in one
    // burst per transmit call (flit's transport too sends a chunk of up to
    // kBurst frames per call), each stamped with the burst's time; a
    // message longer than a burst goes in bursts of its own. Messages not
    // sent whole (pool empty, port full) are not outstanding.
    while (outstanding < window) {
      const uint64_t ts = now_ns();
      const uint32_t msgs = frames <= kBurst ? std::min(window - outstanding, kBurst / frames) : 1;
      uint32_t sent_msgs = 0;
      for (uint32_t f = 0; f < msgs * frames; f += kBurst) {
        const uint32_t cnt = std::min(kBurst, msgs * frames - f);
        if (rte_pktmbuf_alloc_bulk(pool, out, cnt) != 0) break;  // receive first
        for (uint32_t i = 0; i < cnt; ++i) {
          const uint32_t frame_no = f + i;  // in this top-up
          const uint32_t index = frame_no % frames;
          const std::vector<uint8_t>& tmpl = index + 1 == frames ? last : full;
          auto* d = rte_pktmbuf_mtod(out[i], uint8_t*);
          std::memcpy(d, tmpl.data(), tmpl.size());
          const Stamp st{ts, seq + 1 + frame_no / frames, index, frames};
          std::memcpy(d + kFrameHdrSize, &st, sizeof st);
          out[i]->data_len = static_cast<uint16_t>(tmpl.size());
          out[i]->pkt_len = static_cast<uint32_t>(tmpl.size());
        }
        const uint16_t sent = rte_eth_tx_burst(port, queue, out, static_cast<uint16_t>(cnt));
        sent_msgs = (f + sent) / frames;  // whole messages sent so far
        if (sent < cnt) {
          rte_pktmbuf_free_bulk(out + sent, cnt - sent);
          break;  // the port is full: receive first
        }
      }
      seq += msgs;
      outstanding += sent_msgs;
      if (sent_msgs < msgs) break;
    }
    const uint16_t got = rte_eth_rx_burst(port, queue, in, kBurst);
    // The clock when something arrived, else only now and then (tens of ns
    // on a VM: the poll loop stays tight).
    if (got == 0 && ++idle_polls % 256 != 0) continue;
    const uint64_t now = now_ns();
    if (got != 0) {
      last_rx = now;
      for (uint16_t i = 0; i < got; ++i) {
        Stamp s{};
        if (in[i]->data_len >= kFrameHdrSize + sizeof s) {
          std::memcpy(&s, rte_pktmbuf_mtod(in[i], uint8_t*) + kFrameHdrSize, sizeof s);
        }
        if (s.frames == 0 || s.index + 1 != s.frames) continue;  // not a message's last frame
        if (s.sent_ns < reset_at) continue;                      // late: already counted lost
        if (outstanding != 0) outstanding--;
        if (w.counts(s.sent_ns)) {
          r->latency.record(now - s.sent_ns);
          r->requests++;
        }
      }
      rte_pktmbuf_free_bulk(in, got);
    } else if (outstanding != 0 && now - last_rx > kLossNs) {
      if (w.measuring) r->errors += outstanding;  // lost: refill the window
      outstanding = 0;
      last_rx = reset_at = now;
    }
    if (w.advance(now, stop.load(std::memory_order_relaxed), r)) break;
  }
  return r->requests > 0 ? 0 : 1;
}

}  // namespace

int run_dpdk_baseline_server(const BaselineOpts& o, const std::atomic<bool>& stop) {
  std::unique_ptr<DpdkTransport> t = open_port(o, true);
  return o.via_transport ? run_transport_echo(*t, o, stop) : run_reflector(*t, o, stop);
}

int run_dpdk_baseline_client(const BaselineOpts& o, const std::atomic<bool>& stop, Report* r) {
  std::unique_ptr<DpdkTransport> t = open_port(o, false);
  r->kind = "baseline";
  r->transport = o.via_transport ? "dpdk (DpdkTransport, no engine)" : "dpdk (raw frames)";
  r->mode = o.mode;
  r->target = o.uri;
  r->req_size = r->resp_size = o.req_size;
  r->inflight = 1;
  if (o.via_transport) return run_transport_client(*t, o, stop, r);
  return run_raw_client(*t, o, stop, r);
}

}  // namespace flit::bench
