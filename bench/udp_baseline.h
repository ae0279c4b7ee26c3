// bench/udp_baseline.h: the limit flit's UDP transport approaches: the same
// datagrams ping-ponged (latency) or batch-echoed (throughput) between two
// busy-polled, non-blocking UDP sockets, with no RPC layer.
//
// Datagrams are the size of the flit packets they stand for (40-byte header
// plus payload), sent and received with the same recvmmsg/sendmmsg batching
// as flit's UDP transport.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "report.h"

namespace flit::bench {

struct BaselineOpts {
  std::string uri;  // listen (server) or connect (client)
  std::string mode = "latency";
  double duration = 10;
  double warmup = 1;
  size_t req_size = 32;    // payload: the datagram is 40 bytes more
  uint32_t inflight = 32;  // throughput mode
  int cpu = -1;
  bool connected = false;  // client: connect() the socket (1:1) instead of addressing each send
  // DPDK (dpdk_baseline.h): transport options (key=value, eal= included),
  // and whether to go through DpdkTransport instead of raw frames.
  std::vector<std::string> transport_options;
  bool via_transport = false;
};

// Echoes every datagram back to its sender until stop is set or duration
// (0: unbounded) passes.
int run_udp_baseline_server(const BaselineOpts& o, const std::atomic<bool>& stop);
// Measures; fills r. Returns 0 on success.
int run_udp_baseline_client(const BaselineOpts& o, const std::atomic<bool>& stop, Report* r);

}  // namespace flit::bench
