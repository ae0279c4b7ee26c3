// flit/uri.h: endpoint addresses as URIs.
//
//   udp://127.0.0.1:31850     udp://[::1]:31850     udp://localhost:31850
//   dpdk://198.18.0.2:31850   rdma://198.18.0.2:31850
//
// The scheme names the transport; host and port name the Rpc. Control path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace flit {

struct Uri {
  std::string scheme;  // "udp", "dpdk", "rdma", ...
  std::string host;    // without brackets for IPv6 literals
  uint16_t port = 0;

  std::string to_string() const;
};

// Parses "scheme://host:port". Throws flit::Error naming what is wrong, e.g.
// "bad URI 'udp//x:1': expected scheme://host:port, e.g. udp://127.0.0.1:31850".
Uri parse_uri(std::string_view text);

}  // namespace flit
