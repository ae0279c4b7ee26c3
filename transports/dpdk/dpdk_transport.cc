// transports/dpdk/dpdk_transport.cc: control path of the DPDK transport
// (options, EAL and port setup, addresses). The data path is
// dpdk_datapath.cc.
#include "dpdk_transport.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <rte_cycles.h>
#include <rte_lcore.h>

#include <algorithm>

#include "flit/error.h"
#include "flit/uri.h"
#include "option_parse.h"

namespace flit::transport {

namespace {

std::vector<std::string> split_list(const std::string& v) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= v.size()) {
    size_t c = v.find(',', start);
    if (c == std::string::npos) c = v.size();
    if (c > start) out.push_back(v.substr(start, c - start));
    start = c + 1;
  }
  return out;
}

rte_be32_t parse_ipv4(const std::string& s, const std::string& what) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1 || a.s_addr == 0) {
    throw Error("flit dpdk: " + what + " '" + s +
                "' is not a numeric IPv4 address (e.g. 198.18.0.2; the DPDK transport has no "
                "name resolver and no IPv6)");
  }
  return a.s_addr;
}

rte_ether_addr parse_mac(const std::string& s, const std::string& what) {
  rte_ether_addr m{};
  if (rte_ether_unformat_addr(s.c_str(), &m) != 0) {
    throw Error("flit dpdk: " + what + " '" + s +
                "' is not a MAC address (e.g. 02:00:00:00:00:01)");
  }
  return m;
}

}  // namespace

void DpdkTransport::parse_options(const std::vector<std::string>& opts, Options* o) {
  for (const std::string& opt : opts) {
    const auto [key, value] = detail::split_option("dpdk", opt);
    if (key == "eal") {
      o->eal = value;
    } else if (key == "port") {
      o->ports = split_list(value);
    } else if (key == "ip") {
      o->ips = split_list(value);
    } else if (key == "mac") {
      o->macs = split_list(value);
    } else if (key == "neighbor") {
      for (std::string& n : split_list(value)) o->neighbors.push_back(n);
    } else if (key == "prefix") {
      o->prefix = static_cast<uint8_t>(detail::parse_option_num("dpdk", key, value, 1, 32));
    } else if (key == "gateway") {
      o->gateway = value;
    } else if (key == "arp_refresh_ms") {
      o->arp_refresh_ms =
          static_cast<uint32_t>(detail::parse_option_num("dpdk", key, value, 0, 3'600'000));
    } else if (key == "queues") {
      o->queues = static_cast<uint16_t>(
          detail::parse_option_num("dpdk", key, value, 1, RTE_MAX_QUEUES_PER_PORT));
    } else if (key == "rx_desc") {
      o->rx_desc = static_cast<uint16_t>(detail::parse_option_num("dpdk", key, value, 64, 32768));
    } else if (key == "tx_desc") {
      o->tx_desc = static_cast<uint16_t>(detail::parse_option_num("dpdk", key, value, 64, 32768));
    } else if (key == "tx_zero_copy") {
      o->tx_zero_copy = detail::parse_option_num("dpdk", key, value, 0, 1) == 1;
    } else if (key == "udp_cksum") {
      o->udp_cksum = detail::parse_option_num("dpdk", key, value, 0, 1) == 1;
    } else {
      throw Error("flit dpdk: unknown transport option '" + key +
                  "' (dpdk knows: eal=\"EAL ARGS\", port=NAME|INDEX[,...], ip=IPV4[,...], "
                  "mac=MAC[,...], neighbor=IPV4@MAC[,...], prefix=N, gateway=IPV4, "
                  "arp_refresh_ms=N, queues=N, rx_desc=N, tx_desc=N, tx_zero_copy=0|1, "
                  "udp_cksum=0|1)");
    }
  }
}

DpdkTransport::DpdkTransport(const Options& opt) {
  mtu_ = opt.mtu == 0 ? kDefaultMtu : opt.mtu;
  if (mtu_ < 128 || mtu_ > kMaxMtu) {
    throw Error("flit dpdk: MTU " + std::to_string(mtu_) + " out of range [128, " +
                std::to_string(kMaxMtu) + "]");
  }
  if (opt.ports.empty()) {
    throw Error(
        "flit dpdk: no port given: transport option port=NAME (e.g. port=net_memif0, "
        "port=0000:3b:00.0 or port=0), or port=NAME0,NAME1,... for one port per Rpc");
  }
  if (opt.ips.empty()) {
    throw Error(
        "flit dpdk: this Rpc has no IPv4 address: listen on dpdk://IP:PORT, or give "
        "transport option ip=IPV4 (a client-only Nexus needs one too)");
  }
  const uint8_t k = opt.rpc_id;
  const bool port_per_rpc = opt.ports.size() > 1;
  if (port_per_rpc && k >= opt.ports.size()) {
    throw Error("flit dpdk: Rpc " + std::to_string(k) + " has no port: port= lists " +
                std::to_string(opt.ports.size()) + " (one per Rpc); add one");
  }
  if (opt.ips.size() > 1 && k >= opt.ips.size()) {
    throw Error("flit dpdk: Rpc " + std::to_string(k) + " has no address: ip= lists " +
                std::to_string(opt.ips.size()) + " (one per Rpc); add one");
  }
  if (port_per_rpc && opt.ips.size() < opt.ports.size()) {
    throw Error(
        "flit dpdk: Rpcs on separate ports need separate IPv4 addresses (ARP maps an "
        "address to one MAC): give ip=IP0,IP1,... with one address per port");
  }
  if (!port_per_rpc && opt.ips.size() > 1) {
    throw Error(
        "flit dpdk: Rpcs sharing one port share its IPv4 address: give one ip= (ARP for the "
        "port is answered on its first queue, for one address), or one port per Rpc with "
        "port=NAME0,NAME1,...");
  }
  const std::string port_name = opt.ports[port_per_rpc ? k : 0];
  ip_ = parse_ipv4(opt.ips.size() > 1 ? opt.ips[k] : opt.ips[0], "address");
  if (opt.prefix != 0) mask_ = rte_cpu_to_be_32(~uint32_t{0} << (32 - opt.prefix));
  if (!opt.gateway.empty()) {
    if (opt.prefix == 0) {
      throw Error("flit dpdk: gateway=" + opt.gateway +
                  " needs the subnet it leaves: give prefix=N (e.g. prefix=24)");
    }
    gateway_ = parse_ipv4(opt.gateway, "gateway");
    // With a /32 (as some clouds give) the gateway is on-link by
    // definition, outside the one-address subnet.
    if (gateway_ == ip_ || (opt.prefix != 32 && ((gateway_ ^ ip_) & mask_) != 0)) {
      throw Error("flit dpdk: gateway " + opt.gateway + " is not a neighbour of " +
                  ipv4_to_string(ip_) + "/" + std::to_string(opt.prefix) +
                  " (it must be another address on this endpoint's subnet, or any other "
                  "address with prefix=32)");
    }
  }
  uint32_t uport = opt.udp_port == 0 ? uint32_t{kClientPortBase} + k : opt.udp_port;
  if (uport > 65535) throw Error("flit dpdk: UDP port " + std::to_string(uport) + " > 65535");
  udp_port_ = rte_cpu_to_be_16(static_cast<uint16_t>(uport));

  PortSetup ps;
  ps.queues = port_per_rpc ? 1 : opt.queues;
  ps.rx_desc = opt.rx_desc;
  ps.tx_desc = opt.tx_desc;
  ps.tx_zero_copy = opt.tx_zero_copy;
  ps.max_frame = static_cast<uint32_t>(mtu_ + 28 + RTE_ETHER_HDR_LEN);
  size_t mac_idx = port_per_rpc ? k : 0;
  if (mac_idx < opt.macs.size()) {
    ps.set_mac = true;
    ps.mac = parse_mac(opt.macs[mac_idx], "mac=");
  }
  std::vector<std::pair<rte_be32_t, rte_ether_addr>> statics;
  for (const std::string& n : opt.neighbors) {
    size_t at = n.find('@');
    if (at == std::string::npos) {
      throw Error("flit dpdk: neighbor=" + n +
                  ": expected IPV4@MAC, e.g. 198.18.0.1@02:00:00:00:00:01");
    }
    statics.emplace_back(parse_ipv4(n.substr(0, at), "neighbor address"),
                         parse_mac(n.substr(at + 1), "neighbor MAC"));
  }

  init_eal(opt.eal);
  port_ = DpdkPort::open(port_name, ps);
  queue_ = port_per_rpc ? 0 : k;
  port_->claim_queue(queue_);  // throws "not enough queues"
  try {
    if (port_->queues() > 1) port_->steer(queue_, ip_, udp_port_);
    for (auto& [ip, mac] : statics) {
      if (port_->neighbors().learn(ip, mac, true) == NeighborTable::Learned::kFull) {
        throw Error("flit dpdk: neighbour table of port " + port_->name() +
                    " has no room for neighbor=" + ipv4_to_string(ip) + ": its bucket of " +
                    std::to_string(NeighborTable::kWays) +
                    " entries holds neighbor= entries only (too many of them share a bucket)");
      }
    }
  } catch (...) {
    port_->release_queue(queue_);
    throw;
  }
  port_id_ = port_->id();
  pool_ = port_->pool(queue_);
  ext_pool_ = opt.tx_zero_copy ? port_->ext_pool(queue_) : nullptr;
  ext_shinfo_.free_cb = [](void*, void*) {};
  ext_shinfo_.fcb_opaque = nullptr;
  rte_mbuf_ext_refcnt_set(&ext_shinfo_, 1);
  mac_ = port_->mac();
  tx_cksum_ = port_->tx_cksum_offload();
  tx_udp_cksum_ = opt.udp_cksum;
  rx_cksum_ = port_->rx_cksum_offload();
  // The parts of the IPv4 and UDP checksums that are the same in every frame
  // this transport sends: the IPv4 header with length, destination and
  // checksum zero; the pseudo header's source and protocol, the source port.
  {
    uint8_t f[kFrameHdrSize];
    write_frame_hdr(f, mac_, mac_, ip_, udp_port_, 0, 0, 0);
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(f + sizeof(rte_ether_hdr));
    ip->total_length = 0;
    ip_sum_base_ = cksum_add(ip, sizeof *ip, 0);
    udp_sum_base_ = ipv4_udp_pseudo_sum(ip_, 0, 0) + udp_port_;
  }
  arp_retry_tsc_ = rte_get_tsc_hz() / 5;  // 200 ms between who-has
  arp_give_up_tsc_ = rte_get_tsc_hz();    // a held frame waits at most 1 s
  // ARP reaches a port's first queue: its transport re-verifies the table.
  if (queue_ == 0 && opt.arp_refresh_ms != 0) {
    reverify_every_tsc_ = rte_get_tsc_hz() / 1000 * opt.arp_refresh_ms;
    reverify_last_tsc_ = rte_get_tsc_cycles();
  }

  // An lcore id gives this thread the mempool's per-lcore cache (no atomic
  // per mbuf). Without one (all 128 taken) it still works, more slowly.
  if (rte_lcore_id() == LCORE_ID_ANY && rte_thread_register() == 0) {
    registered_lcore_ = true;
    owner_thread_ = pthread_self();
  }
}

DpdkTransport::~DpdkTransport() {
  for (uint32_t i = 0; i < num_hops_; ++i)
    rte_pktmbuf_free_bulk(hops_[i].frames, hops_[i].num_frames);
  num_hops_ = num_held_ = 0;
  if (port_ != nullptr) port_->release_queue(queue_);
  if (registered_lcore_ && pthread_equal(owner_thread_, pthread_self())) rte_thread_unregister();
}

std::vector<Transport::Counter> DpdkTransport::counters() const {
  const DpdkStats& d = dstats_;
  return {{"rx_frames", d.rx_frames},
          {"rx_not_for_us", d.rx_not_for_us},
          {"rx_bad_header", d.rx_bad_header},
          {"rx_bad_checksum", d.rx_bad_checksum},
          {"rx_other", d.rx_other},
          {"rx_multi_segment", d.rx_multi_segment},
          {"arp_rx", d.arp_rx},
          {"arp_replies_tx", d.arp_replies_tx},
          {"arp_requests_tx", d.arp_requests_tx},
          {"arp_reverify_tx", d.arp_reverify_tx},
          {"arp_refreshed", d.arp_refreshed},
          {"neighbor_evicted", d.neighbor_evicted},
          {"neighbor_table_full", d.neighbor_table_full},
          {"tx_no_mbuf", d.tx_no_mbuf},
          {"tx_queue_full", d.tx_queue_full},
          {"tx_no_neighbor", d.tx_no_neighbor},
          {"tx_zero_copy", d.tx_zero_copy}};
}

std::string DpdkTransport::local_uri() const {
  return "dpdk://" + ipv4_to_string(ip_) + ":" + std::to_string(rte_be_to_cpu_16(udp_port_));
}

std::string DpdkTransport::route_to_string(const Route& r) const {
  const DpdkPeer* p = dpdk_peer(&r);
  std::string s =
      "dpdk://" + ipv4_to_string(p->ip) + ":" + std::to_string(rte_be_to_cpu_16(p->udp_port));
  if (p->next_hop != p->ip) s += " via " + ipv4_to_string(p->next_hop);
  if (p->mac_valid) s += " (" + mac_to_string(p->mac) + ")";
  return s;
}

Route DpdkTransport::resolve(std::string_view text) {
  Uri u = parse_uri(text);
  if (u.scheme != "dpdk" && u.scheme != "udp") {
    throw Error("flit dpdk: cannot reach '" + std::string(text) + "' over DPDK: its scheme is '" +
                u.scheme + "' (this Rpc's transport is dpdk; it reaches dpdk:// and udp:// peers)");
  }
  if (u.port == 0)
    throw Error("bad URI '" + std::string(text) + "': port 0 cannot be connected to");
  Route r{};
  DpdkPeer* p = dpdk_peer(&r);
  p->ip = parse_ipv4(u.host, "host of '" + std::string(text) + "'");
  p->udp_port = rte_cpu_to_be_16(u.port);
  p->mac_valid = 0;  // the neighbour table has it, or ARP will
  if (mask_ != 0 && ((p->ip ^ ip_) & mask_) != 0 && gateway_ == 0) {
    throw Error("flit dpdk: cannot reach " + ipv4_to_string(p->ip) + ": it is outside " +
                ipv4_to_string(ip_ & mask_) + "/" + std::to_string(__builtin_popcount(mask_)) +
                " and no gateway= is set");
  }
  p->next_hop = next_hop(p->ip);
  return r;
}

bool DpdkTransport::same_peer(const Route& ra, const Route& rb) const {
  const DpdkPeer* a = dpdk_peer(&ra);
  const DpdkPeer* b = dpdk_peer(&rb);
  return a->ip == b->ip && a->udp_port == b->udp_port;
}

}  // namespace flit::transport
