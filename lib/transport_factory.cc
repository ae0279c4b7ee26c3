// lib/transport_factory.cc: the one place transports are wired together.
//
// The engine (flit_core) knows only the Transport interface; this file, part
// of the installed libflit, picks a transport by name and links the ones this
// build has. A transport that was not built is reported as such, not as an
// unknown name.
#include <cstdint>
#include <string>
#include <utility>

#include "flit/error.h"
#include "flit/nexus.h"
#include "flit/uri.h"
#include "option_parse.h"
#include "udp_transport.h"
#if FLIT_HAVE_DPDK
#include "dpdk_transport.h"
#endif
#if FLIT_HAVE_RDMA
#include "rdma_transport.h"
#endif

namespace flit {

namespace {
// Socket buffer sizes beyond this are refused (the kernel's int).
constexpr uint64_t kMaxSocketBuf = uint64_t{1} << 30;

}  // namespace

std::vector<std::string> Nexus::transports_built() {
  std::vector<std::string> v{"udp"};
#if FLIT_HAVE_DPDK
  v.push_back("dpdk");
#endif
#if FLIT_HAVE_RDMA
  v.push_back("rdma");
#endif
  return v;
}

std::unique_ptr<transport::Transport> Nexus::make_transport(uint8_t rpc_id) {
  if (cfg_.transport_factory) return cfg_.transport_factory(rpc_id);
  std::string name = cfg_.transport;
  Uri listen;
  bool have_listen = !cfg_.listen_uri.empty();
  if (have_listen) {
    listen = parse_uri(cfg_.listen_uri);
    if (name.empty()) name = listen.scheme;
    if (listen.scheme != name) {
      throw Error("flit: listen URI '" + cfg_.listen_uri + "' has scheme '" + listen.scheme +
                  "' but the transport is '" + name + "'");
    }
  }
  if (name.empty()) name = "udp";
  if (name == "udp") {
    transport::UdpTransport::Options o;
    o.mtu = cfg_.mtu;
    for (const std::string& opt : cfg_.transport_options) {
      auto [key, value] = detail::split_option("udp", opt);
      if (key == "rcvbuf") {
        o.rcvbuf = detail::parse_option_num("udp", key, value, 1, kMaxSocketBuf);
      } else if (key == "sndbuf") {
        o.sndbuf = detail::parse_option_num("udp", key, value, 1, kMaxSocketBuf);
      } else {
        throw Error("flit udp: unknown transport option '" + key +
                    "' (udp knows: rcvbuf=BYTES, sndbuf=BYTES)");
      }
    }
    if (have_listen) {
      o.bind_host = listen.host;
      if (listen.port != 0 && listen.port + rpc_id > 65535) {
        throw Error("flit: listen port " + std::to_string(listen.port) + " + Rpc id " +
                    std::to_string(rpc_id) + " exceeds 65535");
      }
      o.port = listen.port == 0 ? 0 : static_cast<uint16_t>(listen.port + rpc_id);
    } else {
      o.bind_host = cfg_.client_bind_host;
      o.port = 0;
    }
    return std::make_unique<transport::UdpTransport>(o);
  }
#if FLIT_HAVE_RDMA
  if (name == "rdma") {
    transport::RdmaTransport::Options o;
    o.mtu = cfg_.mtu;
    for (const std::string& opt : cfg_.transport_options) {
      auto [key, value] = detail::split_option("rdma", opt);
      if (key == "device") {
        o.device = value;
      } else if (key == "port") {
        o.ib_port = static_cast<uint8_t>(detail::parse_option_num("rdma", key, value, 1, 255));
      } else if (key == "gid_index") {
        o.gid_index = value == "auto"
                          ? -1
                          : static_cast<int>(detail::parse_option_num("rdma", key, value, 0, 255));
      } else if (key == "qkey") {
        o.qkey = static_cast<uint32_t>(
            detail::parse_option_num("rdma", key, value, 0, UINT32_MAX, true));
      } else if (key == "recv_depth") {
        o.recv_depth =
            static_cast<uint32_t>(detail::parse_option_num("rdma", key, value, 1, 1u << 20));
      } else if (key == "max_inline") {
        o.max_inline = static_cast<int>(detail::parse_option_num("rdma", key, value, 0, 4096));
      } else if (key == "resolve_timeout_ms") {
        o.resolve_timeout_ms =
            static_cast<uint32_t>(detail::parse_option_num("rdma", key, value, 1, 3'600'000));
      } else if (key == "max_peers") {
        // A power of two: checked by the transport.
        o.max_peers = static_cast<uint32_t>(detail::parse_option_num("rdma", key, value, 1, 4096));
      } else {
        throw Error("flit rdma: unknown transport option '" + key +
                    "' (rdma knows: device=NAME, port=N, gid_index=N|auto, qkey=N, "
                    "recv_depth=N, max_inline=BYTES, resolve_timeout_ms=N, max_peers=N)");
      }
    }
    if (have_listen) {
      o.mgmt_host = listen.host;
      if (listen.port != 0 && listen.port + rpc_id > 65535) {
        throw Error("flit: listen port " + std::to_string(listen.port) + " + Rpc id " +
                    std::to_string(rpc_id) + " exceeds 65535");
      }
      o.mgmt_port = listen.port == 0 ? 0 : static_cast<uint16_t>(listen.port + rpc_id);
    } else {
      o.mgmt_host = cfg_.client_bind_host;
      o.mgmt_port = 0;
    }
    return std::make_unique<transport::RdmaTransport>(o);
  }
#endif
#if FLIT_HAVE_DPDK
  if (name == "dpdk") {
    transport::DpdkTransport::Options o;
    transport::DpdkTransport::parse_options(cfg_.transport_options, &o);
    o.mtu = cfg_.mtu;
    o.rpc_id = rpc_id;
    if (have_listen) {
      if (o.ips.empty()) {
        o.ips.push_back(listen.host);
      } else if (o.ips[0] != listen.host) {
        throw Error("flit dpdk: listen URI '" + cfg_.listen_uri + "' and ip=" + o.ips[0] +
                    " disagree on the address of Rpc 0");
      }
      if (listen.port == 0) {
        throw Error("flit dpdk: listen URI '" + cfg_.listen_uri +
                    "' needs a port (the DPDK transport has no ephemeral ports)");
      }
      if (listen.port + rpc_id > 65535) {
        throw Error("flit: listen port " + std::to_string(listen.port) + " + Rpc id " +
                    std::to_string(rpc_id) + " exceeds 65535");
      }
      o.udp_port = static_cast<uint16_t>(listen.port + rpc_id);
    }
    return std::make_unique<transport::DpdkTransport>(o);
  }
#endif
  if (name == "dpdk" || name == "rdma") {
    throw Error("flit was built without " + std::string(name == "dpdk" ? "DPDK" : "RDMA") +
                " support: install " + (name == "dpdk" ? "libdpdk-dev" : "libibverbs-dev") +
                " and rebuild with -D" + name + "=enabled, or use the udp transport");
  }
  throw Error("flit: unknown transport '" + name + "' (this build has: udp" +
#if FLIT_HAVE_DPDK
              std::string(", dpdk") +
#endif
#if FLIT_HAVE_RDMA
              std::string(", rdma") +
#endif
              ")");
}

}  // namespace flit
