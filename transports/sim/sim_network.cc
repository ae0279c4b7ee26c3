#include "sim_network.h"

#include <algorithm>
#include <cstring>

#include "flit/config.h"
#include "flit/error.h"
#include "flit/rpc.h"
#include "flit/uri.h"

namespace flit::sim {

namespace {

// CRC-32C: the SSE4.2 instruction where the CPU has it (8 bytes a step),
// else a table. The link checksum is most of the simulator's work per packet.
uint32_t crc32c_table(const uint8_t* p, size_t n, uint32_t crc) {
  static const auto table = [] {
    std::vector<uint32_t> t(256);
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t crc32c_hw(const uint8_t* p, size_t n, uint32_t crc) {
  uint64_t c = crc;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    c = __builtin_ia32_crc32di(c, v);
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  for (; i < n; ++i) c32 = __builtin_ia32_crc32qi(c32, p[i]);
  return c32;
}
#endif

uint32_t crc32c(const uint8_t* p, size_t n, uint32_t crc = 0) {
  crc = ~crc;
#if defined(__x86_64__)
  static const bool hw = __builtin_cpu_supports("sse4.2");
  crc = hw ? crc32c_hw(p, n, crc) : crc32c_table(p, n, crc);
#else
  crc = crc32c_table(p, n, crc);
#endif
  return ~crc;
}

void mix(uint64_t* h, const void* p, size_t n) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < n; ++i) {
    *h ^= b[i];
    *h *= 1099511628211ULL;
  }
}

// Route layout: the destination's address id.
uint32_t route_addr(const transport::Route& r) {
  uint32_t a;
  std::memcpy(&a, r.bytes, sizeof a);
  return a;
}
transport::Route make_route(uint32_t addr) {
  transport::Route r{};
  std::memcpy(r.bytes, &addr, sizeof addr);
  return r;
}

}  // namespace

Network::Network(uint64_t seed, FaultModel faults) : seed_(seed), faults_(faults), rng_(seed) {}

Network::~Network() {
  while (!in_flight_.empty()) {
    delete in_flight_.top();
    in_flight_.pop();
  }
}

void Network::add_name(const std::string& name, std::vector<std::string> hosts) {
  if (hosts.empty()) throw Error("sim: name " + name + " needs at least one host");
  aliases_[name] = std::move(hosts);
}

void Network::add_address_alias(const std::string& alias, const std::string& host) {
  host_aliases_[alias] = host;
}

uint32_t Network::address_id(const std::string& host_port) {
  auto it = ids_.find(host_port);
  if (it != ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(names_.size());
  ids_[host_port] = id;
  names_.push_back(host_port);
  endpoints_.push_back(nullptr);
  return id;
}

void Network::attach(uint32_t addr, SimTransport* t) {
  if (endpoints_[addr] != nullptr) {
    throw Error("sim: address " + names_[addr] + " is already in use");
  }
  endpoints_[addr] = t;
}

void Network::detach(uint32_t addr, SimTransport* t) {
  if (endpoints_[addr] == t) endpoints_[addr] = nullptr;
}

void Network::partition(const std::string& a, const std::string& b, uint64_t until_ns) {
  partitions_.push_back({a, b, until_ns, false});
}

void Network::cut(const std::string& from, const std::string& to, uint64_t until_ns) {
  partitions_.push_back({from, to, until_ns, true});
}

void Network::add_source_for(const std::string& host, const std::string& to_host,
                             const std::string& as_host) {
  sources_[{host, to_host}] = as_host;
}

uint32_t Network::source_for(uint32_t from, uint32_t to) {
  if (sources_.empty()) return from;
  const std::string fa = names_[from], ta = names_[to];  // copies: address_id may grow names_
  const size_t colon = fa.rfind(':');
  auto it = sources_.find({fa.substr(0, colon), ta.substr(0, ta.rfind(':'))});
  return it == sources_.end() ? from : address_id(it->second + fa.substr(colon));
}

bool Network::partitioned(uint32_t from, uint32_t to) const {
  if (partitions_.empty()) return false;
  const std::string& fa = names_[from];
  const std::string& ta = names_[to];
  std::string fh = fa.substr(0, fa.rfind(':'));
  std::string th = ta.substr(0, ta.rfind(':'));
  for (const Partition& p : partitions_) {
    if (now_ < p.until && ((p.a == fh && p.b == th) || (!p.one_way && p.a == th && p.b == fh)))
      return true;
  }
  return false;
}

void Network::enqueue(uint32_t from, uint32_t to, std::vector<uint8_t> bytes, uint64_t delay) {
  auto* p = new Packet{now_ + delay, seq_++, from, to, 0, std::move(bytes)};
  p->crc = crc32c(p->bytes.data(), p->bytes.size());
  if (uniform() < faults_.corrupt && !p->bytes.empty()) {
    // After the checksum: the receiver's link layer must notice.
    size_t bit = std::uniform_int_distribution<size_t>(0, p->bytes.size() * 8 - 1)(rng_);
    p->bytes[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    stats_.corrupted++;
  }
  in_flight_.push(p);
}

void Network::send(uint32_t from, uint32_t to, const uint8_t* hdr, size_t hdr_len,
                   const uint8_t* payload, size_t len) {
  stats_.sent++;
  std::vector<uint8_t> bytes(hdr_len + len);
  std::memcpy(bytes.data(), hdr, hdr_len);
  if (len != 0) std::memcpy(bytes.data() + hdr_len, payload, len);
  if (tap_) tap_(bytes.data(), bytes.size());
  if (lose_ && lose_(bytes.data(), bytes.size())) {
    stats_.dropped++;
    return;
  }

  // Stale packets: now and then, an old packet arrives again.
  if (faults_.replay > 0 && !history_.empty() && uniform() < faults_.replay) {
    size_t k = std::uniform_int_distribution<size_t>(0, history_.size() - 1)(rng_);
    auto& old = history_[k];
    enqueue(old.first.first, old.first.second, old.second, faults_.latency_ns);
    stats_.replayed++;
  }
  if (faults_.replay > 0) {
    history_.push_back({{from, to}, bytes});
    if (history_.size() > 4096) history_.pop_front();
  }

  if (partitioned(from, to)) {
    stats_.partitioned++;
    return;
  }
  if (uniform() < faults_.drop) {
    stats_.dropped++;
    return;
  }
  auto delay = [&] {
    uint64_t d = faults_.latency_ns;
    if (faults_.reorder > 0 && uniform() < faults_.reorder) {
      d += std::uniform_int_distribution<uint64_t>(0, faults_.max_extra_delay_ns)(rng_);
      stats_.reordered++;
    }
    return d;
  };
  if (faults_.duplicate > 0 && uniform() < faults_.duplicate) {
    enqueue(from, to, bytes,
            delay() + std::uniform_int_distribution<uint64_t>(0, faults_.max_extra_delay_ns)(rng_));
    stats_.duplicated++;
  }
  enqueue(from, to, std::move(bytes), delay());
}

void Network::advance(uint64_t max_step_ns) {
  uint64_t target = now_ + max_step_ns;
  if (!in_flight_.empty() && in_flight_.top()->at < target) target = in_flight_.top()->at;
  if (target > now_) now_ = target;
  while (!in_flight_.empty() && in_flight_.top()->at <= now_) {
    std::unique_ptr<Packet> p(in_flight_.top());
    in_flight_.pop();
    if (crc32c(p->bytes.data(), p->bytes.size()) != p->crc) {
      stats_.corrupt_detected++;
      continue;
    }
    SimTransport* t = endpoints_[p->to];
    if (t == nullptr && !host_aliases_.empty()) {
      // An alias address: delivered to the host it names, same port.
      const std::string hp = names_[p->to];  // a copy: address_id may grow names_
      const size_t colon = hp.rfind(':');
      auto a = host_aliases_.find(hp.substr(0, colon));
      if (a != host_aliases_.end()) t = endpoints_[address_id(a->second + hp.substr(colon))];
    }
    if (t == nullptr) {
      stats_.no_endpoint++;
      continue;
    }
    stats_.delivered++;
    // The trace: when, who to whom, and the bytes less tokens and
    // handshake payloads (random from the OS, not from the seed).
    uint64_t rec[3] = {now_, p->from, p->to};
    mix(&trace_, rec, sizeof rec);
    size_t n = p->bytes.size();
    if (n >= kPktHdrSize) {
      mix(&trace_, p->bytes.data(), 16);
      mix(&trace_, p->bytes.data() + 24, kPktHdrSize - 24);
      uint8_t type = p->bytes[3];
      if (type != 5 && type != 6) {
        uint32_t body = crc32c(p->bytes.data() + kPktHdrSize, n - kPktHdrSize);
        mix(&trace_, &body, sizeof body);
      }
    } else {
      mix(&trace_, p->bytes.data(), n);
    }
    auto rx = std::make_unique<SimTransport::Rx>();
    rx->from = p->from;
    rx->bytes = std::move(p->bytes);
    rx->route = make_route(p->from);
    t->queue_.push_back(std::move(rx));
  }
}

NexusConfig Network::base_config(const std::string& host, uint16_t port) {
  NexusConfig c;
  c.clock = &Network::clock;
  c.clock_ctx = this;
  c.rto = std::chrono::milliseconds(1);
  c.connect_retry = std::chrono::milliseconds(10);
  c.connect_timeout = std::chrono::seconds(1);
  c.call_deadline = std::chrono::seconds(60);
  c.idle_timeout = std::chrono::seconds(2);
  c.mtu = 1024;
  c.transport = "sim";
  c.transport_factory = [this, host,
                         port](uint8_t rpc_id) -> std::unique_ptr<transport::Transport> {
    return std::make_unique<SimTransport>(this, host, static_cast<uint16_t>(port + rpc_id), 1024);
  };
  return c;
}

NexusConfig Network::server_config(const std::string& host, uint16_t port) {
  NexusConfig c = base_config(host, port);
  c.listen_uri = "sim://" + host + ":" + std::to_string(port);
  return c;
}

NexusConfig Network::client_config(const std::string& host, uint16_t port) {
  return base_config(host, port);
}

SimTransport::SimTransport(Network* net, std::string host, uint16_t port, size_t mtu)
    : net_(net), host_(std::move(host)), port_(port), mtu_(mtu) {
  addr_ = net_->address_id(host_ + ":" + std::to_string(port_));
  net_->attach(addr_, this);
}

SimTransport::~SimTransport() { net_->detach(addr_, this); }

std::string SimTransport::local_uri() const {
  return "sim://" + host_ + ":" + std::to_string(port_);
}

transport::Route SimTransport::resolve(std::string_view uri) { return resolve_all(uri).front(); }

std::vector<transport::Route> SimTransport::resolve_all(std::string_view uri) {
  Uri u = parse_uri(uri);
  if (u.scheme != "sim") {
    throw Error("sim: cannot reach '" + std::string(uri) + "': scheme is '" + u.scheme + "'");
  }
  std::vector<transport::Route> routes;
  auto alias = net_->aliases_.find(u.host);
  if (alias == net_->aliases_.end()) {
    routes.push_back(make_route(net_->address_id(u.host + ":" + std::to_string(u.port))));
  } else {
    for (const std::string& h : alias->second) {
      routes.push_back(make_route(net_->address_id(h + ":" + std::to_string(u.port))));
    }
  }
  return routes;
}

bool SimTransport::same_peer(const transport::Route& a, const transport::Route& b) const {
  return route_addr(a) == route_addr(b);
}

std::string SimTransport::route_to_string(const transport::Route& r) const {
  return "sim://" + net_->address_name(route_addr(r));
}

uint32_t SimTransport::tx_burst(const transport::TxPacket* pkts, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    const transport::TxPacket& p = pkts[i];
    const uint32_t to = route_addr(*p.route);
    net_->send(net_->source_for(addr_, to), to, p.hdr, kPktHdrSize, p.payload, p.payload_len);
  }
  return n;
}

uint32_t SimTransport::rx_burst(transport::RxPacket* pkts, uint32_t max) {
  uint32_t n = 0;
  while (n < max && !queue_.empty()) {
    std::unique_ptr<Rx> rx = std::move(queue_.front());
    queue_.pop_front();
    uint32_t slot;
    if (!free_held_.empty()) {
      slot = free_held_.back();
      free_held_.pop_back();
    } else {
      slot = static_cast<uint32_t>(held_.size());
      held_.emplace_back();
    }
    transport::RxPacket& p = pkts[n++];
    p.data = rx->bytes.data();
    p.len = static_cast<uint32_t>(rx->bytes.size());
    p.from = &rx->route;
    p.cookie = slot;
    held_[slot] = std::move(rx);
  }
  return n;
}

void SimTransport::rx_release(const transport::RxPacket* pkts, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    held_[pkts[i].cookie].reset();
    free_held_.push_back(static_cast<uint32_t>(pkts[i].cookie));
  }
}

void Driver::remove(Rpc* rpc) {
  rpcs_.erase(std::remove(rpcs_.begin(), rpcs_.end(), rpc), rpcs_.end());
}

void Driver::step() {
  for (Rpc* r : rpcs_) r->run_event_loop_once();
  net_.advance(quantum_);
}

bool Driver::run_until(const std::function<bool()>& done, uint64_t virtual_limit_ns) {
  uint64_t end = net_.now() + virtual_limit_ns;
  while (!done()) {
    if (net_.now() >= end) return done();
    step();
  }
  return true;
}

void Driver::run_for(uint64_t virtual_ns) {
  uint64_t end = net_.now() + virtual_ns;
  while (net_.now() < end) step();
}

}  // namespace flit::sim
