// bench/dpdk_baseline.h: the raw DPDK baseline of flit-bench
// (baseline-server / baseline with --transport dpdk): frames reflected and
// ping-ponged or batch-echoed on a DPDK port opened as flit opens it, with no
// RPC layer. Built with the DPDK transport only. bench/dpdk_baseline.cc.
#pragma once

#include <atomic>

#include "udp_baseline.h"

namespace flit::bench {

// Reflects every frame (or, with o.via_transport, echoes every packet
// through DpdkTransport) until stop is set or o.duration (0: unbounded)
// passes. Throws flit::Error for a bad port, address or EAL setup.
int run_dpdk_baseline_server(const BaselineOpts& o, const std::atomic<bool>& stop);
// Measures; fills r. Returns 0 when some round trip completed.
int run_dpdk_baseline_client(const BaselineOpts& o, const std::atomic<bool>& stop, Report* r);

}  // namespace flit::bench
