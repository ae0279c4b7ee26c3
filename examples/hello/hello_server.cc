// examples/hello/hello_server.cc: the smallest flit server. It answers
// method 1 with "hello, " + the request.
//
//   hello_server [udp://127.0.0.1:31850]
#include <flit/flit.h>

#include <cstdio>
#include <cstring>

constexpr uint16_t kHello = 1;

int main(int argc, char** argv) {
  flit::NexusConfig cfg;
  cfg.listen_uri = argc > 1 ? argv[1] : "udp://127.0.0.1:31850";
  flit::Nexus nexus(cfg);

  nexus.register_handler(kHello, [](flit::ReqHandle* h) {
    std::span<const uint8_t> name = h->request();
    flit::MsgBuffer& resp = h->init_response(7 + name.size());
    std::memcpy(resp.data(), "hello, ", 7);
    std::memcpy(resp.data() + 7, name.data(), name.size());
    h->rpc()->enqueue_response(h);
  });

  flit::Rpc rpc(nexus, 0);
  std::printf("hello_server listening on %s\n", rpc.local_uri().c_str());
  std::fflush(stdout);
  for (;;) rpc.run_event_loop_once();
}
