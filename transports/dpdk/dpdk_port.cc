// transports/dpdk/dpdk_port.cc: EAL initialisation, port setup and flow
// steering (control path), and the neighbour table.
#include "dpdk_port.h"

#include <pthread.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_kvargs.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string_view>

#include "dpdk_frame.h"
#include "flit/error.h"

namespace flit::transport {

namespace {

std::mutex g_mu;  // guards everything below
bool g_eal_done = false;
std::string g_eal_args;
std::array<std::unique_ptr<DpdkPort>, RTE_MAX_ETHPORTS> g_ports;

std::vector<std::string> split_ws(const std::string& s) {
  std::istringstream is(s);
  std::vector<std::string> v;
  for (std::string w; is >> w;) v.push_back(w);
  return v;
}

// Whether hugepages are reserved and hugetlbfs is mounted: what the EAL
// needs unless it runs with --no-huge.
std::string hugepage_problem() {
  std::ifstream mi("/proc/meminfo");
  long total = -1;
  for (std::string line; std::getline(mi, line);) {
    if (line.rfind("HugePages_Total:", 0) == 0) total = std::stol(line.substr(16));
  }
  if (total <= 0) return "no hugepages are reserved (HugePages_Total is 0)";
  std::ifstream mounts("/proc/mounts");
  for (std::string line; std::getline(mounts, line);) {
    if (line.find(" hugetlbfs ") != std::string::npos) return "";
  }
  return "no hugetlbfs is mounted";
}

std::string port_list() {
  std::string s;
  uint16_t pid;
  RTE_ETH_FOREACH_DEV(pid) {
    char name[RTE_ETH_NAME_MAX_LEN] = {};
    rte_eth_dev_get_name_by_port(pid, name);
    if (!s.empty()) s += ", ";
    s += std::string(name) + " (" + std::to_string(pid) + ")";
  }
  return s.empty() ? "none" : s;
}

std::string rte_err(int e) { return rte_strerror(e < 0 ? -e : e); }

}  // namespace

void init_eal(const std::string& args) {
  std::lock_guard<std::mutex> lk(g_mu);
  if (g_eal_done) {
    if (!args.empty() && args != g_eal_args) {
      throw Error("flit dpdk: the EAL was already initialised in this process with eal='" +
                  g_eal_args + "', now asked for eal='" + args +
                  "': DPDK initialises once per process, so every Nexus of a process must pass "
                  "the same eal= (or none)");
    }
    return;
  }
  std::vector<std::string> words = split_ws(args);
  bool no_huge = std::find(words.begin(), words.end(), "--no-huge") != words.end();
  if (!no_huge) {
    std::string why = hugepage_problem();
    if (!why.empty()) {
      throw Error("flit dpdk: " + why +
                  ": DPDK needs hugepages; run scripts/hugepages.sh as root (reserves 2 MiB "
                  "pages and mounts /dev/hugepages), or pass --no-huge in eal= for a test");
    }
  }
  std::vector<std::string> storage;
  storage.push_back("flit");
  storage.insert(storage.end(), words.begin(), words.end());
  std::vector<char*> argv;
  for (std::string& w : storage) argv.push_back(w.data());
  argv.push_back(nullptr);

  cpu_set_t saved;
  bool have_saved = pthread_getaffinity_np(pthread_self(), sizeof saved, &saved) == 0;
  int rc = rte_eal_init(static_cast<int>(storage.size()), argv.data());
  if (have_saved) pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
  if (rc < 0) {
    int e = rte_errno;
    std::string fix;
    if (e == EALREADY) {
      fix = "the EAL was initialised by someone else in this process";
    } else if (e == EACCES || e == EPERM) {
      fix = "run as root (or with CAP_SYS_ADMIN and access to /dev/hugepages)";
    } else if (e == ENOMEM) {
      fix = "not enough hugepages: run scripts/hugepages.sh with more pages";
    } else {
      fix =
          "check the eal= arguments (the EAL's log above says which one); two DPDK processes "
          "on one host need --in-memory or distinct --file-prefix=NAME";
    }
    throw Error("flit dpdk: EAL initialisation failed with eal='" + args + "': " + rte_err(e) +
                ": " + fix);
  }
  g_eal_done = true;
  g_eal_args = args;
}

bool NeighborTable::lookup(rte_be32_t ip, rte_ether_addr* mac) const {
  const Slot* b = &slots_[bucket_of(ip) * kWays];
  for (uint32_t w = 0; w < kWays; ++w) {
    const Slot& e = b[w];
    if (e.ip.load(std::memory_order_relaxed) != ip) continue;
    // MAC, key, MAC again: the MAC word carries the slot's generation, which
    // every eviction changes (its first store), so equal words around a
    // matching key mean the MAC is this key's, even if the slot went to
    // another address and back in between.
    const uint64_t m = e.mac.load(std::memory_order_acquire);
    if (e.ip.load(std::memory_order_acquire) != ip) return false;
    if (e.mac.load(std::memory_order_relaxed) != m || (m & kValid) == 0) return false;
    if (e.used.load(std::memory_order_relaxed) == 0) [[unlikely]]
      e.used.store(1, std::memory_order_relaxed);
    for (int k = 0; k < RTE_ETHER_ADDR_LEN; ++k)
      mac->addr_bytes[k] = static_cast<uint8_t>(m >> (8 * k));
    return true;
  }
  return false;
}

NeighborTable::Learned NeighborTable::learn(rte_be32_t ip, const rte_ether_addr& mac,
                                            bool static_entry) {
  return update(ip, mac, static_entry, true);
}

bool NeighborTable::refresh(rte_be32_t ip, const rte_ether_addr& mac) {
  return update(ip, mac, false, false) == Learned::kChanged;
}

// The one writer. A static entry is overwritten only by another static one.
NeighborTable::Learned NeighborTable::update(rte_be32_t ip, const rte_ether_addr& mac,
                                             bool static_entry, bool add) {
  if (ip == 0) return add ? Learned::kFull : Learned::kAbsent;  // never a peer
  uint64_t m = kValid | (static_entry ? kStatic : 0);
  for (int k = 0; k < RTE_ETHER_ADDR_LEN; ++k) m |= uint64_t{mac.addr_bytes[k]} << (8 * k);
  const uint32_t bi = bucket_of(ip);
  Slot* b = &slots_[bi * kWays];
  rte_spinlock_lock(&lock_);
  Learned u = add ? Learned::kFull : Learned::kAbsent;
  Slot* empty = nullptr;
  bool known = false;
  for (uint32_t w = 0; w < kWays; ++w) {
    Slot& e = b[w];
    uint32_t k = e.ip.load(std::memory_order_relaxed);
    if (k == ip) {
      known = true;
      const uint64_t old = e.mac.load(std::memory_order_relaxed);
      const uint64_t now = m | (old & kGen);
      u = Learned::kSame;
      if ((static_entry || (old & kStatic) == 0) && old != now) {
        begin_change();
        e.mac.store(now, std::memory_order_release);
        changed_.store(1, std::memory_order_relaxed);
        u = Learned::kChanged;
      }
      break;
    }
    if (k == 0 && empty == nullptr) empty = &e;
  }
  if (!known && add) {
    if (empty != nullptr) {
      // Marked used (not the next victim before its first lookup); MAC
      // first, then the key: a reader that finds the key finds the MAC.
      begin_change();
      empty->used.store(1, std::memory_order_relaxed);
      empty->mac.store(m | (empty->mac.load(std::memory_order_relaxed) & kGen),
                       std::memory_order_release);
      empty->ip.store(ip, std::memory_order_release);
      u = Learned::kNew;
    } else if (Slot* victim = clock_victim(bi, static_entry); victim != nullptr) {
      // A new generation, invalid; the new key; the new MAC in that
      // generation. A lookup that straddles this sees the words differ.
      begin_change();
      const uint64_t gen = (victim->mac.load(std::memory_order_relaxed) + kGenOne) & kGen;
      victim->mac.store(gen, std::memory_order_relaxed);
      victim->used.store(1, std::memory_order_relaxed);
      victim->ip.store(ip, std::memory_order_release);
      victim->mac.store(m | gen, std::memory_order_release);
      u = Learned::kEvicted;
    }
  }
  // The change is written: an even generation again, released after it.
  const uint64_t g = generation_.load(std::memory_order_relaxed);
  if ((g & 1) != 0) generation_.store(g + 1, std::memory_order_release);
  rte_spinlock_unlock(&lock_);
  return u;
}

// Makes the generation odd before a MAC or key is written (under the lock):
// the release stores that follow carry it to any lookup that sees them.
void NeighborTable::begin_change() {
  generation_.store(generation_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// CLOCK over one bucket's learned entries, from its hand: a used one loses
// its mark and is passed over, the first unused one goes. Two turns at
// most, so one always goes unless all are static. A static entry being
// added takes the first learned one whatever its mark. Under the lock.
NeighborTable::Slot* NeighborTable::clock_victim(uint32_t bucket, bool for_static) {
  Slot* b = &slots_[bucket * kWays];
  for (uint32_t step = 0; step < 2 * kWays; ++step) {
    const uint32_t w = (hand_[bucket] + step) % kWays;
    Slot& e = b[w];
    if ((e.mac.load(std::memory_order_relaxed) & kStatic) != 0) continue;
    if (!for_static && e.used.exchange(0, std::memory_order_relaxed) != 0) continue;
    hand_[bucket] = static_cast<uint8_t>((w + 1) % kWays);
    return &e;
  }
  return nullptr;
}

DpdkPort* DpdkPort::open(const std::string& name, const PortSetup& s) {
  uint16_t pid = RTE_MAX_ETHPORTS;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &pid) != 0) {
    bool digits =
        !name.empty() && name.size() < 6 &&
        std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits && rte_eth_dev_is_valid_port(static_cast<uint16_t>(std::stoul(name)))) {
      pid = static_cast<uint16_t>(std::stoul(name));
    } else {
      throw Error("flit dpdk: no such DPDK port '" + name + "' (this process has: " + port_list() +
                  "): name a port by device name or index; add a virtual device to eal= (e.g. "
                  "--vdev=net_memif0,role=server) or bind a NIC to vfio-pci "
                  "(dpdk-devbind.py --bind=vfio-pci 0000:3b:00.0)");
    }
  }
  std::lock_guard<std::mutex> lk(g_mu);
  if (!g_ports[pid]) {
    std::unique_ptr<DpdkPort> p(new DpdkPort());
    p->id_ = pid;
    char buf[RTE_ETH_NAME_MAX_LEN] = {};
    rte_eth_dev_get_name_by_port(pid, buf);
    p->name_ = buf;
    try {
      p->setup(s);
    } catch (...) {
      p->undo_setup();  // else the pools' names stay taken for the process
      throw;
    }
    g_ports[pid] = std::move(p);
    return g_ports[pid].get();
  }
  DpdkPort* p = g_ports[pid].get();
  if (s.queues > p->queues_) {
    throw Error("flit dpdk: port " + p->name_ + " was set up with " + std::to_string(p->queues_) +
                " queue(s) by an earlier Rpc; this one asks for queues=" +
                std::to_string(s.queues) + ": give every Nexus of the process the same queues=");
  }
  if (s.tx_zero_copy && !p->tx_zero_copy_) {
    throw Error("flit dpdk: port " + p->name_ +
                " was set up without tx_zero_copy by an earlier "
                "Rpc: give every Nexus of the process the same tx_zero_copy=");
  }
  if (s.max_frame > p->max_frame_) {
    throw Error("flit dpdk: port " + p->name_ + " was set up for " + std::to_string(p->max_frame_) +
                "-byte frames by an earlier Rpc; this one needs " + std::to_string(s.max_frame) +
                ": give every Nexus of the process the same mtu");
  }
  return p;
}

namespace {
// Whether a net_memif device's arguments turn its zero-copy mode on, read
// as the PMD reads them: the last zero-copy= wins, and a value containing
// "yes" means on.
bool memif_zero_copy(const char* args) {
  rte_kvargs* kv = rte_kvargs_parse(args, nullptr);
  if (kv == nullptr) return std::string_view(args).find("zero-copy") != std::string_view::npos;
  bool on = false;
  for (unsigned i = 0; i < kv->count; ++i) {
    const rte_kvargs_pair& p = kv->pairs[i];
    if (p.key != nullptr && std::string_view(p.key) == "zero-copy") {
      on = p.value != nullptr && std::string_view(p.value).find("yes") != std::string_view::npos;
    }
  }
  rte_kvargs_free(kv);
  return on;
}
}  // namespace

void DpdkPort::undo_setup() noexcept {
  rte_eth_dev_stop(id_);  // (an error if it never started: nothing to undo)
  if (mac_changed_) {
    rte_eth_dev_default_mac_addr_set(id_, &own_mac_);  // a later open without mac=
    mac_changed_ = false;
  }
  for (rte_mempool* mp : pools_) rte_mempool_free(mp);
  for (rte_mempool* mp : ext_pools_) rte_mempool_free(mp);
  pools_.clear();
  ext_pools_.clear();
}

void DpdkPort::setup(const PortSetup& s) {
  rte_eth_dev_info info;
  int rc = rte_eth_dev_info_get(id_, &info);
  if (rc != 0) throw Error("flit dpdk: port " + name_ + ": cannot query it: " + rte_err(rc));
  if (s.queues > info.max_rx_queues || s.queues > info.max_tx_queues) {
    throw Error("flit dpdk: port " + name_ + " (" + info.driver_name + ") has " +
                std::to_string(std::min(info.max_rx_queues, info.max_tx_queues)) +
                " queue pair(s), not the " + std::to_string(s.queues) +
                " asked for (queues=, one per Rpc): lower queues=, or give each Rpc its own port "
                "(port=NAME0,NAME1,...)");
  }
  uint32_t max_rx = info.max_rx_pktlen == 0 ? UINT32_MAX : info.max_rx_pktlen;
  if (s.max_frame > max_rx) {
    throw Error("flit dpdk: port " + name_ + " receives frames of at most " +
                std::to_string(max_rx) + " bytes, not " + std::to_string(s.max_frame) +
                ": lower the Nexus mtu");
  }
  queues_ = s.queues;
  rx_desc_ = s.rx_desc;
  tx_desc_ = s.tx_desc;
  max_frame_ = s.max_frame;

  rte_eth_conf conf{};
  constexpr uint64_t kTxCksum = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
  constexpr uint64_t kRxCksum = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
  tx_cksum_ = (info.tx_offload_capa & kTxCksum) == kTxCksum;
  rx_cksum_ = (info.rx_offload_capa & kRxCksum) == kRxCksum;
  if (tx_cksum_) conf.txmode.offloads |= kTxCksum;
  if (rx_cksum_) conf.rxmode.offloads |= kRxCksum;
  if (s.tx_zero_copy) {
    // The engine may reuse a payload once tx_burst returns: only PMDs that
    // copy every frame inside rte_eth_tx_burst can send from it directly.
    std::string drv = info.driver_name;
    if (drv != "net_memif" && drv != "net_af_packet") {
      throw Error("flit dpdk: tx_zero_copy=1 is not safe on port " + name_ + " (" + drv +
                  "): its device reads the payload after rte_eth_tx_burst returns, when the "
                  "engine may already reuse it; it is for ports that copy in tx_burst "
                  "(net_memif, net_af_packet): drop tx_zero_copy=");
    }
    // memif's zero-copy mode (zero-copy=yes) does not copy either: its
    // transmit keeps the mbuf and points the ring at it.
    const rte_devargs* da = info.device != nullptr ? rte_dev_devargs(info.device) : nullptr;
    if (drv == "net_memif" && da != nullptr && da->args != nullptr && memif_zero_copy(da->args)) {
      throw Error("flit dpdk: tx_zero_copy=1 is not safe on port " + name_ +
                  ": memif in zero-copy mode (zero-copy=yes) sends from the mbuf after "
                  "rte_eth_tx_burst returns, when the engine may already reuse the payload: "
                  "drop tx_zero_copy= or zero-copy=yes");
    }
    if ((info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) == 0) {
      throw Error("flit dpdk: port " + name_ + " (" + info.driver_name +
                  ") cannot send multi-segment frames, which tx_zero_copy=1 needs: drop it");
    }
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  } else if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE) {
    // Every mbuf a queue sends comes from that queue's pool, direct, with
    // refcount 1 (not so with external buffers).
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
  }
  tx_zero_copy_ = s.tx_zero_copy;
  uint32_t mtu = s.max_frame - RTE_ETHER_HDR_LEN;
  if (mtu > RTE_ETHER_MTU) conf.rxmode.mtu = mtu;
  rc = rte_eth_dev_configure(id_, queues_, queues_, &conf);
  if (rc != 0) {
    throw Error("flit dpdk: port " + name_ + ": configuring " + std::to_string(queues_) +
                " queue pair(s) failed: " + rte_err(rc));
  }
  uint16_t nrx = rx_desc_, ntx = tx_desc_;
  rte_eth_dev_adjust_nb_rx_tx_desc(id_, &nrx, &ntx);
  // Per queue: a full receive ring, a full transmit ring, bursts held by the
  // engine (3 x 64) and frames waiting for ARP (DpdkTransport::kMaxPending,
  // 32; room here for up to 64), and the per-lcore cache.
  constexpr uint32_t kCache = 256;
  uint32_t n = uint32_t{nrx} + ntx + 4 * 64 + 2 * kCache;
  uint32_t pool_size = 1;
  while (pool_size - 1 < n) pool_size <<= 1;
  uint32_t room = RTE_PKTMBUF_HEADROOM + rx_buffer_size(s.max_frame);
  int socket = rte_eth_dev_socket_id(id_);
  if (socket < 0) socket = SOCKET_ID_ANY;
  for (uint16_t q = 0; q < queues_; ++q) {
    std::string pname = "flit_p" + std::to_string(id_) + "_q" + std::to_string(q);
    rte_mempool* mp = rte_pktmbuf_pool_create(pname.c_str(), pool_size - 1, kCache,
                                              static_cast<uint16_t>(sizeof(Route)),
                                              static_cast<uint16_t>(room), socket);
    if (mp == nullptr) {
      throw Error("flit dpdk: port " + name_ + ": cannot create a pool of " +
                  std::to_string(pool_size - 1) + " mbufs of " + std::to_string(room) +
                  " bytes: " + rte_err(rte_errno) +
                  (rte_errno == ENOMEM ? " (not enough hugepages: run scripts/hugepages.sh with "
                                         "more pages, or lower rx_desc=/tx_desc=)"
                                       : ""));
    }
    pools_.push_back(mp);
    if (s.tx_zero_copy) {
      std::string ename = "flit_x" + std::to_string(id_) + "_q" + std::to_string(q);
      rte_mempool* ep = rte_pktmbuf_pool_create(ename.c_str(), pool_size - 1, kCache, 0, 0, socket);
      if (ep == nullptr) {
        throw Error("flit dpdk: port " + name_ +
                    ": cannot create the external-buffer mbuf pool: " + rte_err(rte_errno));
      }
      ext_pools_.push_back(ep);
    }
    rc = rte_eth_rx_queue_setup(id_, q, nrx, static_cast<unsigned>(socket), nullptr, mp);
    if (rc != 0) {
      throw Error("flit dpdk: port " + name_ + ": receive queue " + std::to_string(q) +
                  " setup failed: " + rte_err(rc));
    }
    rte_eth_txconf txc = info.default_txconf;
    txc.offloads = conf.txmode.offloads;
    rc = rte_eth_tx_queue_setup(id_, q, ntx, static_cast<unsigned>(socket), &txc);
    if (rc != 0) {
      throw Error("flit dpdk: port " + name_ + ": transmit queue " + std::to_string(q) +
                  " setup failed: " + rte_err(rc));
    }
  }
  if (s.set_mac) {
    rte_eth_macaddr_get(id_, &own_mac_);  // given back if the setup fails
    rte_ether_addr m = s.mac;
    rc = rte_eth_dev_default_mac_addr_set(id_, &m);
    mac_changed_ = rc == 0;
    if (rc != 0) {
      throw Error("flit dpdk: port " + name_ + " does not accept MAC " + mac_to_string(s.mac) +
                  ": " + rte_err(rc) + " (drop mac= to use the port's own)");
    }
  }
  rc = rte_eth_dev_start(id_);
  if (rc != 0) {
    throw Error("flit dpdk: port " + name_ + ": start failed: " + rte_err(rc) +
                (std::string(info.driver_name) == "net_memif"
                     ? " (a memif role=client port needs its role=server peer up first)"
                     : ""));
  }
  rte_eth_macaddr_get(id_, &mac_);
  // Peers drop frames whose source MAC is not one host's (a flit peer's
  // unicast_source check, a kernel's and a switch's): a port without one
  // (net_ring's is all zeros) could send but never be answered.
  // Checked once started, on the MAC the frames will carry (undo_setup
  // stops the port again).
  if (!rte_is_valid_assigned_ether_addr(&mac_)) {
    throw Error("flit dpdk: port " + name_ + " (" + info.driver_name + ") has MAC " +
                mac_to_string(mac_) +
                ", not a unicast address: peers would drop every frame from it; set one with "
                "mac=02:00:00:00:00:01 (locally administered) if the driver can take one, else "
                "use a port that has one (net_ring can do neither)");
  }
  claimed_.assign(queues_, false);
  // Frames sent before the link is up are lost (a memif link connects
  // asynchronously after start): wait for it, bounded, since the peer may
  // simply not be there yet (the engine retransmits then).
  for (int i = 0; i < 200; ++i) {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(id_, &link) == 0 && link.link_status == RTE_ETH_LINK_UP) break;
    rte_delay_us_sleep(5000);
  }
}

void DpdkPort::claim_queue(uint16_t q) {
  {
    std::lock_guard<std::mutex> lk(g_mu);
    if (q >= queues_) {
      throw Error("flit dpdk: not enough queues on port " + name_ + ": queue " + std::to_string(q) +
                  " asked for, the port was set up with " + std::to_string(queues_) +
                  " (queues=N: one per Rpc on the port; or give each "
                  "Rpc its own port with port=NAME0,NAME1,...)");
    }
    if (claimed_[q]) {
      throw Error("flit dpdk: queue " + std::to_string(q) + " of port " + name_ +
                  " is in use by another Rpc of this process (two Nexus on one port need "
                  "distinct Rpc ids, or separate ports)");
    }
    claimed_[q] = true;
  }
  // Frames that arrived while nobody owned the queue belong to no one.
  rte_mbuf* m[64];
  for (int i = 0; i < 1024; ++i) {
    uint16_t n = rte_eth_rx_burst(id_, q, m, 64);
    if (n == 0) break;
    rte_pktmbuf_free_bulk(m, n);
  }
}

void DpdkPort::release_queue(uint16_t q) {
  std::lock_guard<std::mutex> lk(g_mu);
  if (q < claimed_.size()) claimed_[q] = false;
  // The queue's steering rule goes with its Rpc: the next one on the queue
  // installs its own (a NIC may refuse a duplicate, and an old rule would
  // keep steering an address nobody owns to the queue).
  if (q < flows_.size() && flows_[q] != nullptr) {
    rte_flow_error err{};
    rte_flow_destroy(id_, flows_[q], &err);
    flows_[q] = nullptr;
  }
}

void DpdkPort::steer(uint16_t q, rte_be32_t dst_ip, rte_be16_t dst_port) {
  rte_flow_attr attr{};
  attr.ingress = 1;
  rte_flow_item_ipv4 ip_spec{}, ip_mask{};
  ip_spec.hdr.dst_addr = dst_ip;
  ip_mask.hdr.dst_addr = RTE_BE32(0xffffffff);
  rte_flow_item_udp udp_spec{}, udp_mask{};
  udp_spec.hdr.dst_port = dst_port;
  udp_mask.hdr.dst_port = RTE_BE16(0xffff);
  rte_flow_item pattern[4] = {};
  pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH;
  pattern[1].type = RTE_FLOW_ITEM_TYPE_IPV4;
  pattern[1].spec = &ip_spec;
  pattern[1].mask = &ip_mask;
  pattern[2].type = RTE_FLOW_ITEM_TYPE_UDP;
  pattern[2].spec = &udp_spec;
  pattern[2].mask = &udp_mask;
  pattern[3].type = RTE_FLOW_ITEM_TYPE_END;
  rte_flow_action_queue to_queue{};
  to_queue.index = q;
  rte_flow_action actions[2] = {};
  actions[0].type = RTE_FLOW_ACTION_TYPE_QUEUE;
  actions[0].conf = &to_queue;
  actions[1].type = RTE_FLOW_ACTION_TYPE_END;
  rte_flow_error err{};
  std::lock_guard<std::mutex> lk(g_mu);
  int rc = rte_flow_validate(id_, &attr, pattern, actions, &err);
  rte_flow* f = rc == 0 ? rte_flow_create(id_, &attr, pattern, actions, &err) : nullptr;
  if (f != nullptr) {
    if (flows_.size() <= q) flows_.resize(size_t{q} + 1, nullptr);
    flows_[q] = f;  // destroyed by release_queue
    return;
  }
  throw Error("flit dpdk: port " + name_ + " cannot steer UDP port " +
              std::to_string(rte_be_to_cpu_16(dst_port)) + " to queue " + std::to_string(q) +
              " (rte_flow: " + (err.message != nullptr ? err.message : rte_err(rte_errno)) +
              "): ports without flow steering (virtual devices such as net_memif, net_af_packet) "
              "take one Rpc each: give each Rpc its own port with port=NAME0,NAME1,... and "
              "ip=IP0,IP1,...");
}

}  // namespace flit::transport
