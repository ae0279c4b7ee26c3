// tests/dpdk/memif_switch.h: a learning Ethernet switch between DPDK ports,
// for tests that put many DPDK endpoints of one process on one network.
//
// memif links are point to point; the engine's suite needs every endpoint to
// reach every other (a client talks to several servers, a server to several
// clients). Each endpoint port is one end of a memif pair whose other end is
// a port of this switch, as a memif interface would be plugged into VPP. A
// thread polls the switch's ports, learns source MACs and forwards by
// destination MAC, flooding broadcasts and unknown destinations.
//
//   MemifSwitch sw({sw_port0, sw_port1, ...});   // ports already probed
//   sw.start();                                   // configures them, starts the thread
//
// No allocation after start() (the alloc test counts every thread's).
#pragma once

#include <rte_ether.h>
#include <rte_mempool.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace flit::testing {

class MemifSwitch {
 public:
  // Takes DPDK port ids; configures each with one queue pair. Throws
  // flit::Error when a port cannot be set up.
  explicit MemifSwitch(std::vector<uint16_t> ports);
  ~MemifSwitch();

  void start();
  void stop();
  // Frames forwarded and dropped so far (any thread; approximate).
  uint64_t forwarded() const { return forwarded_.load(std::memory_order_relaxed); }

 private:
  static constexpr uint32_t kMacSlots = 256;
  struct MacEntry {
    rte_ether_addr mac;
    uint16_t port_index;
    bool used;
  };
  void run();
  int lookup(const rte_ether_addr& mac) const;
  void learn(const rte_ether_addr& mac, uint16_t idx);

  std::vector<uint16_t> ports_;
  rte_mempool* pool_ = nullptr;
  MacEntry macs_[kMacSlots] = {};
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> forwarded_{0};
};

}  // namespace flit::testing
