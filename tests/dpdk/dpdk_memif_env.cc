// tests/dpdk/dpdk_memif_env.cc: the engine's suite over DPDK net_memif, in
// one process.
//
// The process creates a pool of memif endpoint ports (net_memif0..N-1, each
// with its own MAC and IPv4 address in 198.18.1.0/24) and plugs each into a
// port of an in-process learning switch (memif_switch.h), so every endpoint
// reaches every other through real DPDK ports, ARP included. Each
// server_config()/client_config() hands out the next free endpoint ports
// (the pool is used round robin; a test uses at most six at once, and the
// previous test's Rpcs are gone when the next starts).
//
// Needs root and hugepages (scripts/hugepages.sh); without them every test
// is skipped with the reason.
#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "dpdk_port.h"
#include "dpdk_skip.h"
#include "flit/error.h"
#include "memif_switch.h"
#include "test_env.h"

namespace flit::testing {

namespace {

constexpr int kEndpoints = 10;  // the switch ports loop below lists them

class MemifEnv final : public TestEnv {
 public:
  MemifEnv() {
    std::string sock = "/tmp/flit-test-memif-" + std::to_string(getpid()) + ".sock";
    // Switch ports (memif servers, probed first) then endpoints (clients).
    eal_ = "--no-pci --in-memory --no-telemetry -l 0 --log-level=*:warning";
    for (int i = 0; i < kEndpoints; ++i) {
      eal_ += " --vdev=net_memif" + std::to_string(100 + i) +
              ",role=server,id=" + std::to_string(i) + ",socket=" + sock;
    }
    for (int i = 0; i < kEndpoints; ++i) {
      eal_ += " --vdev=net_memif" + std::to_string(i) + ",role=client,id=" + std::to_string(i) +
              ",socket=" + sock + ",mac=02:00:00:00:01:" + hex(i);
    }
    // Two more endpoints on the switch, never handed out, for transports
    // with tx_zero_copy=1 (a port is set up one way for the process).
    for (int i = 0; i < 2; ++i) {
      eal_ += " --vdev=net_memif" + std::to_string(120 + i) +
              ",role=server,id=" + std::to_string(20 + i) + ",socket=" + sock;
      eal_ += " --vdev=net_memif_zc" + std::to_string(i) +
              ",role=client,id=" + std::to_string(20 + i) + ",socket=" + sock +
              ",mac=02:00:00:00:02:0" + std::to_string(i);
    }
    // Ports with no peer, never handed out: for tests of port setup errors
    // (spare1: one whose setup fails after it made its pools, then works;
    // net_ring_nomac: a port whose MAC is all zeros).
    eal_ += " --vdev=net_memif_spare0,role=server,id=0,socket=" + sock + ".spare";
    eal_ += " --vdev=net_memif_spare1,role=server,id=1,socket=" + sock + ".spare";
    eal_ += " --vdev=net_ring_nomac";
    transport::init_eal(eal_);
    std::vector<uint16_t> sw;
    for (int i : {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 21}) {
      uint16_t pid = 0;
      std::string name = "net_memif" + std::to_string(100 + i);
      if (rte_eth_dev_get_port_by_name(name.c_str(), &pid) != 0) throw Error("no port " + name);
      sw.push_back(pid);
    }
    switch_ = std::make_unique<MemifSwitch>(sw);
    switch_->start();
  }
  ~MemifEnv() override { switch_->stop(); }

  std::string name() const override { return "dpdk-memif"; }

  NexusConfig server_config() override {
    int i = next();
    NexusConfig c;
    c.listen_uri = "dpdk://" + ip(i) + ":31850";
    c.transport_options = {"eal=" + eal_, "port=net_memif" + std::to_string(i)};
    return c;
  }
  NexusConfig client_config() override {
    int a = next(), b = next();  // Rpc 0 and Rpc 1: a port each
    NexusConfig c;
    c.transport = "dpdk";
    c.transport_options = {"eal=" + eal_,
                           "port=net_memif" + std::to_string(a) + ",net_memif" + std::to_string(b),
                           "ip=" + ip(a) + "," + ip(b)};
    return c;
  }

 private:
  static std::string hex(int i) {
    char b[3];
    snprintf(b, sizeof b, "%02x", i);
    return b;
  }
  static std::string ip(int i) { return "198.18.1." + std::to_string(10 + i); }
  int next() {
    int i = next_;
    next_ = (next_ + 1) % kEndpoints;
    return i;
  }

  std::string eal_;
  std::unique_ptr<MemifSwitch> switch_;
  int next_ = 0;
};

}  // namespace

TestEnv& test_env() {
  static MemifEnv env;
  return env;
}

}  // namespace flit::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return flit::testing::run_or_skip("DPDK memif tests", flit::testing::why_no_dpdk(256));
}
