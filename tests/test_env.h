// tests/test_env.h: what the engine's test suite needs from a transport.
//
// rpc_test.cc is compiled once per transport and linked with one definition
// of test_env() (udp_env.cc for UDP on loopback, and one per other
// transport), so the same tests run over every transport.
#pragma once

#include <string>

#include "flit/nexus.h"

namespace flit::testing {

class TestEnv {
 public:
  virtual ~TestEnv() = default;
  virtual std::string name() const = 0;
  // A config for a new server Nexus: each call may return a fresh endpoint
  // (tests run several servers at once). Its Rpc 0 is the server.
  virtual NexusConfig server_config() = 0;
  // A config for a client-only Nexus (its Rpcs have ids 0 and 1).
  virtual NexusConfig client_config() = 0;
};

TestEnv& test_env();

}  // namespace flit::testing
