// tests/rdma/rdma_env.cc: the engine's test suite over the RDMA transport,
// through the in-memory verbs test device (verbs_test_device.h).
//
// FLIT_TEST_RDMA_DEVICE picks the device: flitdev0 (RoCE, the default: GID
// addressing, GRH on every receive, MTU 1024) or flitdev1 (InfiniBand: LID
// addressing, no GRH, MTU 4096).
#include <cstdlib>

#include "test_env.h"

namespace flit::testing {

namespace {
class RdmaEnv final : public TestEnv {
 public:
  std::string name() const override { return "rdma"; }
  NexusConfig server_config() override {
    NexusConfig c;
    c.listen_uri = "rdma://127.0.0.1:0";  // management channel on an ephemeral port
    c.transport_options = options();
    return c;
  }
  NexusConfig client_config() override {
    NexusConfig c;
    c.transport = "rdma";
    c.client_bind_host = "127.0.0.1";
    c.transport_options = options();
    return c;
  }

 private:
  static std::vector<std::string> options() {
    const char* dev = std::getenv("FLIT_TEST_RDMA_DEVICE");
    if (dev == nullptr || *dev == '\0') return {};
    return {std::string("device=") + dev};
  }
};
}  // namespace

TestEnv& test_env() {
  static RdmaEnv env;
  return env;
}

}  // namespace flit::testing
