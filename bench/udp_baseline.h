// bench/udp_baseline.h: the limit flit's UDP transport approaches: the same
// datagrams ping-ponged (latency) or batch-echoed (throughput) between two
// busy-polled, non-blocking UDP sockets, with no RPC layer.
//
// Datagrams are the size of the flit packets they stand for (40-byte header
// plus payload), sent and received with the same recvmmsg/sendmmsg batching
// as flit's UDP transport.
#pragma once

#include <atomic>
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>

#include "report.h"

namespace flit::bench {

struct BaselineOpts {
  std::string uri;  // listen (server) or connect (client)
  std::string mode = "latency";
  double duration = 10;
  double warmup = 1;
  size_t req_size = 32;  // payload: the datagram is 40 bytes more
  // Client, UDP: the answer's payload (its datagram 40 bytes more; 0: a
  // bare 40-byte header, as a flit credit return); -1: the request's size
  // (an echo). Carried in each datagram (after its send time) for the
  // server, which answers that many bytes of it.
  int64_t resp_size = -1;
  uint32_t inflight = 32;  // throughput mode
  int cpu = -1;
  bool connected = false;  // client: connect() the socket (1:1) instead of addressing each send
  // DPDK (dpdk_baseline.h): transport options (key=value, eal= included),
  // and whether to go through DpdkTransport instead of raw frames.
  std::vector<std::string> transport_options;
  bool via_transport = false;
  uint32_t work_iters = 0;  // server: simulated work per datagram or frame (work.h)
};

// The measured part of a baseline client's run: `warmup` seconds from t0,
// then `duration` seconds measured, and the CPU time spent in them.
struct MeasureWindow {
  MeasureWindow(uint64_t t0_ns, double warmup, double duration)
      : from(t0_ns + static_cast<uint64_t>(warmup * 1e9)),
        end(from + static_cast<uint64_t>(duration * 1e9)) {}
  // Starts measuring once the warm-up is over. Returns whether the run is
  // over (past the end, or stop set); then r's seconds and CPU time are set.
  bool advance(uint64_t now, bool stop, Report* r) {
    if (!measuring && now >= from) {
      measuring = true;
      start = now;
      cpu0 = std::clock();
    }
    if (now < end && !stop) return false;
    r->seconds = measuring ? static_cast<double>(now - start) / 1e9 : 0;
    r->cpu_seconds = measuring ? static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC : 0;
    return true;
  }
  // Whether a round trip that began at `sent` counts.
  bool counts(uint64_t sent) const { return measuring && sent >= start; }

  const uint64_t from, end;
  bool measuring = false;
  uint64_t start = 0;  // when measuring began
  std::clock_t cpu0 = 0;
};

// Echoes every datagram back to its sender (or the answer size it asks
// for) until stop is set or duration (0: unbounded) passes.
int run_udp_baseline_server(const BaselineOpts& o, const std::atomic<bool>& stop);
// Measures; fills r. Returns 0 on success.
int run_udp_baseline_client(const BaselineOpts& o, const std::atomic<bool>& stop, Report* r);

}  // namespace flit::bench
