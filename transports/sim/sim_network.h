// transports/sim/sim_network.h: an in-process network with a virtual clock
// and a seeded fault model, for tests of the protocol's failure handling.
//
//   flit::sim::Network net(seed);
//   net.set_faults({.drop = 0.05});
//   flit::NexusConfig cfg = net.server_config("srv", 100);   // sim://srv:100
//   flit::Nexus nexus(cfg);  flit::Rpc rpc(nexus, 0);
//   flit::sim::Driver d(net);  d.add(&rpc); ...  d.run_until([&]{ return done; });
//
// Every Rpc on the network runs on the test's thread, driven in a fixed
// order by Driver::step(); time is the network's, so a 5 ms timeout costs
// nothing to wait for and a run is a pure function of the seed. The same seed
// gives the same trace (trace_hash()): a failing run prints its seed and
// replays exactly. Tests only: not part of libflit.
//
// The link is modelled on UDP: every packet carries a checksum (CRC-32C)
// computed when sent and checked on delivery, so a bit flipped in flight is
// detected and dropped (corrupt_detected), as the UDP checksum would.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "flit/nexus.h"
#include "flit/transport/transport.h"

namespace flit {
class Rpc;
}

namespace flit::sim {

struct FaultModel {
  double drop = 0;       // probability each packet is lost
  double duplicate = 0;  // probability a packet is delivered twice (second copy delayed)
  double replay = 0;     // probability, per send, of re-injecting an older packet (stale)
  double reorder = 0;    // probability a packet gets a random extra delay
  uint64_t max_extra_delay_ns = 300'000;
  double corrupt = 0;           // probability one random bit of a packet is flipped
  uint64_t latency_ns = 2'000;  // one-way
};

struct NetworkStats {
  uint64_t sent = 0, delivered = 0, dropped = 0, duplicated = 0, replayed = 0;
  uint64_t reordered = 0, corrupted = 0, corrupt_detected = 0, partitioned = 0;
  uint64_t no_endpoint = 0;  // delivered to an address nobody listens on
};

class SimTransport;

class Network {
 public:
  explicit Network(uint64_t seed, FaultModel faults = {});
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  uint64_t seed() const { return seed_; }
  uint64_t now() const { return now_; }
  void set_faults(const FaultModel& f) { faults_ = f; }
  const FaultModel& faults() const { return faults_; }
  const NetworkStats& stats() const { return stats_; }

  // Drops every packet between hosts a and b (both ways) until virtual time
  // `until_ns`.
  void partition(const std::string& host_a, const std::string& host_b, uint64_t until_ns);
  // Drops every packet from host `from` to host `to` (one way only) until
  // virtual time `until_ns`: a path broken in one direction.
  void cut(const std::string& from, const std::string& to, uint64_t until_ns);

  // A host name with several addresses, as a resolver would return them:
  // sim://name:port resolves to sim://host:port for each host, in order
  // (Transport::resolve_all; resolve() gives the first).
  void add_name(const std::string& name, std::vector<std::string> hosts);
  // Another address of a host: packets to alias:port are delivered to
  // host:port, whose answers come from host:port (a multi-homed server
  // answering from its primary address, or a VIP in front of it).
  // partition() names hosts as packets are addressed: it does not cut an
  // alias's traffic.
  void add_address_alias(const std::string& alias, const std::string& host);
  // Packets host sends to to_host (as addressed) carry the source as_host,
  // same port, as a host with an IPv6 and an IPv4 address picks its source
  // by the destination. as_host should be an alias of host
  // (add_address_alias), so that answers to it arrive.
  void add_source_for(const std::string& host, const std::string& to_host,
                      const std::string& as_host);

  // Called with every packet sent (its bytes: header, then payload) before
  // the fault model sees it, on the sending Rpc's thread: a test can act at
  // the moment a given packet leaves. Null: none.
  void set_tap(std::function<void(const uint8_t* bytes, size_t len)> tap) { tap_ = std::move(tap); }
  // Loses every packet sent for which `lose` returns true (counted as
  // dropped), after the tap: a test can lose one kind of packet. Null: none.
  void set_loss(std::function<bool(const uint8_t* bytes, size_t len)> lose) {
    lose_ = std::move(lose);
  }

  // Delivers `bytes` to to_host_port ("host:port") as if from_host_port had
  // sent them, after the one-way latency, never lost, duplicated or delayed
  // (only FaultModel::corrupt applies): a hand-built packet, as a peer that
  // breaks the protocol would send.
  void inject(const std::string& from_host_port, const std::string& to_host_port,
              std::vector<uint8_t> bytes) {
    enqueue(address_id(from_host_port), address_id(to_host_port), std::move(bytes),
            faults_.latency_ns);
  }

  // NexusConfigs whose Rpc k lives at sim://host:port+k, on this network's
  // clock. Timeouts are scaled for a fast network (rto 1 ms).
  NexusConfig server_config(const std::string& host, uint16_t port);
  NexusConfig client_config(const std::string& host, uint16_t port);

  // Moves time forward to the next delivery, or by at most max_step_ns when
  // nothing is in flight sooner, and delivers what is due.
  void advance(uint64_t max_step_ns);
  bool idle() const { return in_flight_.empty(); }

  // A hash of every delivery so far: time, endpoints and packet bytes, less
  // the random session tokens and handshake payloads (drawn from the OS
  // CSPRNG, not the seed).
  uint64_t trace_hash() const { return trace_; }

  static uint64_t clock(void* net) { return static_cast<Network*>(net)->now_; }

 private:
  friend class SimTransport;
  struct Packet {
    uint64_t at;
    uint64_t seq;
    uint32_t from, to;  // address ids
    uint32_t crc;
    std::vector<uint8_t> bytes;
  };
  struct Later {
    bool operator()(const Packet* a, const Packet* b) const {
      return a->at != b->at ? a->at > b->at : a->seq > b->seq;
    }
  };

  uint32_t address_id(const std::string& host_port);
  const std::string& address_name(uint32_t id) const { return names_[id]; }
  void attach(uint32_t addr, SimTransport* t);
  void detach(uint32_t addr, SimTransport* t);
  void send(uint32_t from, uint32_t to, const uint8_t* hdr, size_t hdr_len, const uint8_t* payload,
            size_t len);
  void enqueue(uint32_t from, uint32_t to, std::vector<uint8_t> bytes, uint64_t delay);
  bool partitioned(uint32_t a, uint32_t b) const;
  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  NexusConfig base_config(const std::string& host, uint16_t port);

  uint64_t seed_;
  FaultModel faults_;
  std::mt19937_64 rng_;
  uint64_t now_ = 1'000'000'000;  // start at 1 s: 0 is "never" to some timers
  uint64_t seq_ = 0;
  uint64_t trace_ = 1469598103934665603ULL;
  NetworkStats stats_;
  std::priority_queue<Packet*, std::vector<Packet*>, Later> in_flight_;
  std::map<std::string, uint32_t> ids_;
  std::map<std::string, std::vector<std::string>> aliases_;  // add_name
  std::map<std::string, std::string> host_aliases_;          // add_address_alias
  std::vector<std::string> names_;
  std::vector<SimTransport*> endpoints_;  // by address id
  struct Partition {
    std::string a, b;
    uint64_t until;
    bool one_way;  // a to b only
  };
  std::map<std::pair<std::string, std::string>, std::string> sources_;  // add_source_for
  std::function<void(const uint8_t*, size_t)> tap_;                     // set_tap
  std::function<bool(const uint8_t*, size_t)> lose_;                    // set_loss
  uint32_t source_for(uint32_t from, uint32_t to);
  std::vector<Partition> partitions_;
  std::deque<std::pair<std::pair<uint32_t, uint32_t>, std::vector<uint8_t>>> history_;
};

// One endpoint (an Rpc's transport) on the network.
class SimTransport final : public transport::Transport {
 public:
  SimTransport(Network* net, std::string host, uint16_t port, size_t mtu);
  ~SimTransport() override;

  std::string_view name() const override { return "sim"; }
  size_t max_packet_size() const override { return mtu_; }
  std::string local_uri() const override;
  transport::Route resolve(std::string_view uri) override;
  std::vector<transport::Route> resolve_all(std::string_view uri) override;
  bool same_peer(const transport::Route& a, const transport::Route& b) const override;
  std::string route_to_string(const transport::Route& r) const override;
  uint32_t tx_burst(const transport::TxPacket* pkts, uint32_t n) override;
  uint32_t rx_burst(transport::RxPacket* pkts, uint32_t max) override;
  void rx_release(const transport::RxPacket* pkts, uint32_t n) override;
  transport::TransportStats stats() const override { return {}; }

 private:
  friend class Network;
  struct Rx {
    uint32_t from;
    std::vector<uint8_t> bytes;
    transport::Route route;
  };
  Network* net_;
  std::string host_;
  uint16_t port_;
  uint32_t addr_;
  size_t mtu_;
  std::deque<std::unique_ptr<Rx>> queue_;  // delivered, not yet received
  std::vector<std::unique_ptr<Rx>> held_;  // received, not yet released (by cookie)
  std::vector<uint32_t> free_held_;
};

// Runs Rpcs (all on this thread) in a fixed order against virtual time.
class Driver {
 public:
  explicit Driver(Network& net, uint64_t quantum_ns = 20'000) : net_(net), quantum_(quantum_ns) {}
  void add(Rpc* rpc) { rpcs_.push_back(rpc); }
  void remove(Rpc* rpc);
  // One event-loop iteration of every Rpc, then time moves on.
  void step();
  // Steps until done() or the virtual time limit; returns done().
  bool run_until(const std::function<bool()>& done, uint64_t virtual_limit_ns);
  // Steps for the given virtual time.
  void run_for(uint64_t virtual_ns);

 private:
  Network& net_;
  uint64_t quantum_;
  std::vector<Rpc*> rpcs_;
};

}  // namespace flit::sim
