// tests/dpdk/memif_switch.cc: see memif_switch.h.
#include "memif_switch.h"

#include <pthread.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <sched.h>
#include <sys/prctl.h>
#include <time.h>

#include <string>

#include "flit/error.h"

namespace flit::testing {

MemifSwitch::MemifSwitch(std::vector<uint16_t> ports) : ports_(std::move(ports)) {
  pool_ = rte_pktmbuf_pool_create("flit_test_switch", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                  SOCKET_ID_ANY);
  if (pool_ == nullptr) throw Error("memif switch: cannot create its mbuf pool");
  for (uint16_t p : ports_) {
    rte_eth_conf conf{};
    if (rte_eth_dev_configure(p, 1, 1, &conf) != 0 ||
        rte_eth_rx_queue_setup(p, 0, 1024, SOCKET_ID_ANY, nullptr, pool_) != 0 ||
        rte_eth_tx_queue_setup(p, 0, 1024, SOCKET_ID_ANY, nullptr) != 0) {
      throw Error("memif switch: cannot set up port " + std::to_string(p));
    }
  }
}

MemifSwitch::~MemifSwitch() { stop(); }

void MemifSwitch::start() {
  for (uint16_t p : ports_) {
    if (rte_eth_dev_start(p) != 0)
      throw Error("memif switch: cannot start port " + std::to_string(p));
  }
  thread_ = std::thread([this] { run(); });
}

void MemifSwitch::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  thread_.join();
}

int MemifSwitch::lookup(const rte_ether_addr& mac) const {
  uint32_t h = (mac.addr_bytes[4] * 31u + mac.addr_bytes[5]) % kMacSlots;
  for (uint32_t i = 0; i < kMacSlots; ++i, h = (h + 1) % kMacSlots) {
    if (!macs_[h].used) return -1;
    if (rte_is_same_ether_addr(&macs_[h].mac, &mac)) return macs_[h].port_index;
  }
  return -1;
}

void MemifSwitch::learn(const rte_ether_addr& mac, uint16_t idx) {
  uint32_t h = (mac.addr_bytes[4] * 31u + mac.addr_bytes[5]) % kMacSlots;
  for (uint32_t i = 0; i < kMacSlots; ++i, h = (h + 1) % kMacSlots) {
    if (!macs_[h].used || rte_is_same_ether_addr(&macs_[h].mac, &mac)) {
      macs_[h] = MacEntry{mac, idx, true};
      return;
    }
  }
}

void MemifSwitch::run() {
  rte_thread_register();  // a per-lcore mempool cache; works without one too
  // The test's client and server threads busy-poll the two shared cores, so
  // a switch thread competing with them as an equal would forward a burst
  // per scheduler time slice (milliseconds: every call would time out).
  // Like a hardware switch, it gets priority instead: real-time, sleeping
  // 20 us when idle (a few percent of a core), preempting the pollers when
  // it wakes. Without the privilege it runs as an ordinary thread.
  sched_param sp{};
  sp.sched_priority = 1;
  pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  const timespec nap{0, 20'000};
  int idle_rounds = 0;
  constexpr uint16_t kBurst = 32;
  rte_mbuf* in[kBurst];
  const uint16_t n_ports = static_cast<uint16_t>(ports_.size());
  while (!stop_.load(std::memory_order_relaxed)) {
    bool idle = true;
    for (uint16_t i = 0; i < n_ports; ++i) {
      uint16_t got = rte_eth_rx_burst(ports_[i], 0, in, kBurst);
      if (got == 0) continue;
      idle = false;
      for (uint16_t k = 0; k < got; ++k) {
        rte_mbuf* m = in[k];
        const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
        if (rte_is_unicast_ether_addr(&eth->src_addr)) learn(eth->src_addr, i);
        int to = rte_is_unicast_ether_addr(&eth->dst_addr) ? lookup(eth->dst_addr) : -1;
        if (to >= 0) {
          if (to == i || rte_eth_tx_burst(ports_[to], 0, &m, 1) != 1) rte_pktmbuf_free(m);
        } else {
          // Flood: every other port sends the same mbuf (memif copies it).
          for (uint16_t j = 0; j < n_ports; ++j) {
            if (j == i) continue;
            rte_mbuf_refcnt_update(m, 1);
            if (rte_eth_tx_burst(ports_[j], 0, &m, 1) != 1) rte_pktmbuf_free(m);
          }
          rte_pktmbuf_free(m);
        }
      }
      forwarded_.fetch_add(got, std::memory_order_relaxed);
    }
    if (!idle) {
      idle_rounds = 0;
    } else if (++idle_rounds > 64) {
      nanosleep(&nap, nullptr);
    }
  }
  rte_thread_unregister();
}

}  // namespace flit::testing
