// lib/transport_factory.cc: the one place transports are wired together.
//
// The engine (flit_core) knows only the Transport interface; this file, part
// of the installed libflit, picks a transport by name and links the ones this
// build has. A transport that was not built is reported as such, not as an
// unknown name.
#include <string>

#include "flit/error.h"
#include "flit/nexus.h"
#include "flit/uri.h"
#include "udp_transport.h"
#if FLIT_HAVE_DPDK
#include "dpdk_transport.h"
#endif
#if FLIT_HAVE_RDMA
#include "rdma_transport.h"
#endif

namespace flit {

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
