// transports/dpdk/dpdk_port.h: process-wide DPDK state shared by the Rpcs of
// a process: the EAL (initialised once), the ethdev ports in use, and each
// port's neighbour table (IPv4 -> MAC, filled by ARP and neighbor= options).
//
// Control path except NeighborTable::lookup(), which the data path calls.
//
//   init_eal("--no-pci --in-memory -l 0 --vdev=net_memif0,role=server");
//   DpdkPort* p = DpdkPort::open("net_memif0", setup);   // configures, starts
//   p->claim_queue(0);                                    // one Rpc's queue
//
// Ports are configured and started by the first Rpc that opens them, with
// every queue the configuration asks for, and stay started until the
// process exits (an ethdev cannot add queues while started, and a memif link
// would have to reconnect). A queue is claimed by one transport at a time;
// a later transport on the same queue first drains what arrived meanwhile.
#pragma once

#include <rte_ether.h>
#include <rte_mempool.h>
#include <rte_spinlock.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

struct rte_flow;  // <rte_flow.h>: only pointers here

namespace flit::transport {

// Initialises DPDK's EAL with the given arguments (whitespace-separated, as
// on a command line; argv[0] is supplied), once per process. A later call
// with the same or empty arguments is a no-op; with different arguments it
// throws flit::Error (the EAL cannot be initialised twice). Checks for
// hugepages first unless the arguments say --no-huge. The calling thread's
// CPU affinity is restored afterwards (rte_eal_init pins it to the main
// lcore, which every thread it later creates would inherit).
void init_eal(const std::string& args);

// IPv4 -> MAC of the peers on one port's network, shared by the Rpcs using
// that port (ARP replies arrive on one queue; every queue's transmit needs
// them). Fixed capacity, no allocation after construction. Writers take a
// spinlock; lookup() takes none.
//
// Set-associative: an address has one bucket of kWays entries, one cache
// line, so a lookup reads one line. A full bucket makes room by CLOCK over
// its learned entries: a lookup marks an entry used; the hand passes over
// used entries, clearing their marks, and evicts the first unused one (so
// some entry always goes, unless all four are static). The re-verification
// sweep clears marks too. A static entry being added evicts a learned one
// whatever its mark.
class NeighborTable {
 public:
  static constexpr uint32_t kWays = 4;
  static constexpr uint32_t kBuckets = 256;
  static constexpr uint32_t kSlots = kWays * kBuckets;  // entries

  // kAbsent: refresh() of an unknown address; learn() never returns it.
  enum class Learned { kFull, kNew, kEvicted, kSame, kChanged, kAbsent };

  // Data path: copies the MAC of ip (network order) into *mac and returns
  // true when known, marking the entry used. No lock, no allocation; a
  // store only on the first use after the mark was cleared.
  bool lookup(rte_be32_t ip, rte_ether_addr* mac) const;
  // Records or updates ip -> mac; kFull only when the bucket holds four
  // static entries. static_entry: set by neighbor=; ARP does not overwrite
  // it.
  Learned learn(rte_be32_t ip, const rte_ether_addr& mac, bool static_entry = false);
  // Updates ip -> mac only if ip is already known (and not static), as a
  // kernel does for any ARP frame whose sender it has an entry for: a
  // gratuitous ARP after a peer's MAC changed. Returns true if updated.
  bool refresh(rte_be32_t ip, const rte_ether_addr& mac);
  // Whether a known peer's MAC ever changed (learn or refresh). Until then
  // a route that carries its peer's MAC (taken from a received frame: a
  // server session's) is sent to without a lookup; after, each send looks
  // the peer up, so a changed MAC reaches those routes too.
  bool any_changed() const { return changed_.load(std::memory_order_relaxed) != 0; }
  // Moves on every learn or refresh that adds an entry or changes a MAC
  // (not on kSame), by two: odd while the change is being written, even
  // once it is. Data path, no lock. A reader that loads an even value and
  // then looks addresses up finds every MAC counted in it; a reader whose
  // lookup found a MAC loads, afterwards, a value past every even one
  // loaded before that MAC was written. So a transport that remembers the
  // last even value it flushed its ARP queue at (DpdkTransport::
  // flush_pending) knows from one load whether any held frame's next hop
  // may have become known since, by whatever thread learned it.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // The address in slot i if it holds a learned (not static) entry that a
  // lookup used since the last call for that slot (or any learned entry,
  // with `all`), else 0; clears the mark. For the periodic
  // re-verification, which walks the slots in turn.
  rte_be32_t take_used(uint32_t i, bool all = false) {
    uint32_t ip = slots_[i].ip.load(std::memory_order_acquire);
    if (ip == 0) return 0;
    const bool used = slots_[i].used.exchange(0, std::memory_order_relaxed) != 0;
    if (!used && !all) return 0;
    return (slots_[i].mac.load(std::memory_order_relaxed) & kStatic) != 0 ? 0 : ip;
  }
  // The bucket an address lives in (tests pick colliding addresses).
  static uint32_t bucket_of(rte_be32_t ip) { return (ip * 2654435761u) >> 24; }

 private:
  // The MAC word: 48-bit MAC, a 14-bit generation (bits 48-61, changed by
  // every eviction of the slot), kStatic, kValid.
  static constexpr uint64_t kValid = uint64_t{1} << 63;
  static constexpr uint64_t kStatic = uint64_t{1} << 62;
  static constexpr uint64_t kGenOne = uint64_t{1} << 48;
  static constexpr uint64_t kGen = ((uint64_t{1} << 14) - 1) << 48;
  struct Slot {
    std::atomic<uint32_t> ip{0};  // 0: empty (0.0.0.0 is never a peer)
    // Set by lookup, cleared by take_used and by the CLOCK hand: a flag;
    // racing writers only ever lose or add a mark, never corrupt an entry.
    mutable std::atomic<uint8_t> used{0};
    std::atomic<uint64_t> mac{0};  // see kValid, kStatic, kGen
  };
  // Sets ip -> mac if ip is known, or adds it if `add` (kFull: no room).
  Learned update(rte_be32_t ip, const rte_ether_addr& mac, bool static_entry, bool add);
  void begin_change();
  Slot* clock_victim(uint32_t bucket, bool for_static);
  static_assert(sizeof(Slot) * kWays == 64, "a bucket is one cache line");
  static_assert(kBuckets == 256, "bucket_of takes 8 bits");
  alignas(64) Slot slots_[kSlots];
  uint8_t hand_[kBuckets] = {};  // CLOCK hand per bucket (writers, under the lock)
  rte_spinlock_t lock_ = RTE_SPINLOCK_INITIALIZER;
  // Not folded into generation_: adding a peer must not turn on the
  // per-frame lookups that a change does (any_changed).
  std::atomic<uint32_t> changed_{0};
  std::atomic<uint64_t> generation_{0};  // see generation(); writers, under the lock
};

// The data room of a receive mbuf for frames of up to max_frame bytes (no
// FCS). NIC drivers round the buffer size they program down (ixgbe to 1 KiB,
// i40e and ice to 128 B) and count the FCS and VLAN tags: a buffer of
// exactly max_frame would split the largest frames into two segments, which
// the transport drops. So: room for FCS and two VLAN tags, rounded up to
// 1 KiB, and at least 2 KiB.
constexpr uint32_t rx_buffer_size(uint32_t max_frame) {
  const uint32_t need = max_frame + RTE_ETHER_CRC_LEN + 2 * RTE_VLAN_HLEN;
  const uint32_t rounded = (need + 1023) / 1024 * 1024;
  return rounded < 2048 ? 2048 : rounded;
}

// How a transport wants its port set up. A port already set up by an
// earlier transport must have been set up compatibly (at least as many
// queues, room for frames as large).
struct PortSetup {
  uint16_t queues = 1;        // queue pairs: one per Rpc sharing the port
  uint16_t rx_desc = 1024;    // receive descriptors per queue
  uint16_t tx_desc = 1024;    // transmit descriptors per queue
  uint32_t max_frame = 1514;  // largest Ethernet frame (no FCS) sent or received
  bool set_mac = false;       // give the port `mac` instead of its own
  rte_ether_addr mac{};
  // Transmit payloads from the engine's memory as external buffers
  // (tx_zero_copy=1): needs multi-segment transmit, and a pool of
  // dataless mbufs per queue to attach them to.
  bool tx_zero_copy = false;
};

class DpdkPort {
 public:
  // The port named `name` (a device name, e.g. "net_memif0" or
  // "0000:3b:00.0", or a port index), configured and started with `setup`
  // by the first caller. Process lifetime; never null. Throws flit::Error
  // naming the fix (no such port, not enough queues, frame too large).
  static DpdkPort* open(const std::string& name, const PortSetup& setup);

  // Takes queue q for one transport; throws if out of range or taken.
  // Drains frames that arrived on it while it was free.
  void claim_queue(uint16_t q);
  void release_queue(uint16_t q);

  uint16_t id() const { return id_; }
  const std::string& name() const { return name_; }
  const rte_ether_addr& mac() const { return mac_; }
  uint16_t queues() const { return queues_; }
  // The mbuf pool of queue q: receive buffers, and frames it sends. Each
  // mbuf has a Route-sized private area (the sender of a received frame).
  rte_mempool* pool(uint16_t q) const { return pools_[q]; }
  // Dataless mbufs of queue q for external payloads; null unless the port
  // was set up with tx_zero_copy.
  rte_mempool* ext_pool(uint16_t q) const { return ext_pools_.empty() ? nullptr : ext_pools_[q]; }
  uint32_t max_frame() const { return max_frame_; }
  // The port computes IPv4 and UDP checksums on transmit / checks them on
  // receive (enabled offloads); otherwise the transport does it in software.
  bool tx_cksum_offload() const { return tx_cksum_; }
  bool rx_cksum_offload() const { return rx_cksum_; }
  NeighborTable& neighbors() { return neighbors_; }

  // Installs an rte_flow rule sending UDP to dst_ip:dst_port (network
  // order) to queue q. Needed only when several queues share the port.
  // Throws flit::Error naming the fix when the port cannot steer.
  void steer(uint16_t q, rte_be32_t dst_ip, rte_be16_t dst_port);

 private:
  DpdkPort() = default;
  void setup(const PortSetup& s);
  // After a setup that threw: stops the port and frees the pools it made,
  // so that a later open of the port can set it up again.
  void undo_setup() noexcept;

  uint16_t id_ = 0;
  std::string name_;
  rte_ether_addr mac_{};
  rte_ether_addr own_mac_{};  // before a mac= override (undo_setup gives it back)
  bool mac_changed_ = false;
  uint16_t queues_ = 0;
  uint16_t rx_desc_ = 0;
  uint16_t tx_desc_ = 0;
  uint32_t max_frame_ = 0;
  bool tx_cksum_ = false;
  bool rx_cksum_ = false;
  std::vector<rte_mempool*> pools_;
  std::vector<rte_mempool*> ext_pools_;
  bool tx_zero_copy_ = false;
  std::vector<bool> claimed_;
  std::vector<rte_flow*> flows_;  // per queue: its steering rule, or null
  NeighborTable neighbors_;
};

}  // namespace flit::transport
