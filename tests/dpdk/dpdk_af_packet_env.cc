// tests/dpdk/dpdk_af_packet_env.cc: the engine's suite between DPDK and
// kernel UDP, over net_af_packet on veth pairs.
//
// Run through netns_run.sh, which builds a network namespace with a Linux
// bridge (198.18.0.1) and veth pairs vk<i>/vd<i>. Servers are kernel-UDP
// Rpcs on the bridge's address; clients are DPDK Rpcs, each on its own
// net_af_packet port (vd<i>, 198.18.0.10+i). Every call crosses between the
// two stacks: the DPDK client resolves the kernel's MAC by ARP and the kernel
// resolves the client's, checksums are checked by both, and a nested call
// from one kernel server to another stays in the kernel.
//
// With FLIT_TEST_NETNS_ROUTED=1 (netns_run.sh's routed network) the
// clients are on 198.18.1.0/24 and reach the servers through the kernel as
// their gateway (prefix=24, gateway=198.18.1.1), which answers ARP for its
// own address only.
//
// Needs root and hugepages; outside netns_run.sh every test is skipped with
// the reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "dpdk_port.h"
#include "dpdk_skip.h"
#include "test_env.h"

namespace flit::testing {

namespace {

bool routed() {
  const char* r = std::getenv("FLIT_TEST_NETNS_ROUTED");
  return r != nullptr && std::string(r) == "1";
}

int pairs() {
  const char* p = std::getenv("FLIT_TEST_NETNS_PAIRS");
  return p == nullptr ? 0 : std::atoi(p);
}

std::string why_not_runnable() {
  if (pairs() < 4) return "run through tests/dpdk/netns_run.sh 8 (it builds the test network)";
  return why_no_dpdk(128);
}

class AfPacketEnv final : public TestEnv {
 public:
  AfPacketEnv() : n_(pairs()) {
    eal_ = "--no-pci --in-memory --no-telemetry -l 0 --log-level=*:warning";
    for (int i = 0; i < n_; ++i) {
      eal_ += " --vdev=net_af_packet" + std::to_string(i) + ",iface=vd" + std::to_string(i);
    }
  }
  std::string name() const override {
    return routed() ? "dpdk-af_packet-via-gateway-vs-udp" : "dpdk-af_packet-vs-udp";
  }

  NexusConfig server_config() override {
    NexusConfig c;
    c.listen_uri = "udp://198.18.0.1:0";
    return c;
  }
  NexusConfig client_config() override {
    int a = next(), b = next();  // Rpc 0 and Rpc 1: a port each
    NexusConfig c;
    c.transport = "dpdk";
    const std::string net = routed() ? "198.18.1." : "198.18.0.";
    c.transport_options = {
        "eal=" + eal_,
        "port=net_af_packet" + std::to_string(a) + ",net_af_packet" + std::to_string(b),
        "ip=" + net + std::to_string(10 + a) + "," + net + std::to_string(10 + b)};
    if (routed()) {
      c.transport_options.push_back("prefix=24");
      c.transport_options.push_back("gateway=198.18.1.1");
    }
    return c;
  }

 private:
  int next() {
    int i = next_;
    next_ = (next_ + 1) % n_;
    return i;
  }
  int n_;
  std::string eal_;
  int next_ = 0;
};

}  // namespace

TestEnv& test_env() {
  static AfPacketEnv env;
  return env;
}

}  // namespace flit::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return flit::testing::run_or_skip("DPDK af_packet tests", flit::testing::why_not_runnable());
}
