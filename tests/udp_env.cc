// tests/udp_env.cc: the engine's test suite over kernel UDP on loopback.
#include "test_env.h"

namespace flit::testing {

namespace {
class UdpEnv final : public TestEnv {
 public:
  std::string name() const override { return "udp"; }
  NexusConfig server_config() override {
    NexusConfig c;
    c.listen_uri = "udp://127.0.0.1:0";  // ephemeral port: servers never collide
    return c;
  }
  NexusConfig client_config() override { return NexusConfig{}; }
};
}  // namespace

TestEnv& test_env() {
  static UdpEnv env;
  return env;
}

}  // namespace flit::testing
