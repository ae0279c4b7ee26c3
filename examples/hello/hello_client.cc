// examples/hello/hello_client.cc: the smallest flit client.
//
//   hello_client [udp://127.0.0.1:31850] [name]
#include <flit/flit.h>

#include <cstdio>
#include <cstring>
#include <string>

constexpr uint16_t kHello = 1;

int main(int argc, char** argv) {
  std::string server = argc > 1 ? argv[1] : "udp://127.0.0.1:31850";
  std::string name = argc > 2 ? argv[2] : "world";

  flit::Nexus nexus(flit::NexusConfig{});  // client only: no listen address
  flit::Rpc rpc(nexus, 0);

  flit::SessionId session;
  if (flit::Status st = rpc.connect(server, &session); st != flit::Status::kOk) {
    std::fprintf(stderr, "connect %s: %s\n", server.c_str(), flit::to_string(st).data());
    return 1;
  }

  flit::MsgBuffer req = rpc.alloc_msg_buffer(name.size());
  std::memcpy(req.data(), name.data(), name.size());
  flit::MsgBuffer resp = rpc.alloc_msg_buffer(64);

  // call() polls the Rpc until the reply arrives; enqueue_request() is the
  // asynchronous form with a continuation.
  flit::Status st = rpc.call(session, kHello, req, &resp);
  if (st != flit::Status::kOk) {
    std::fprintf(stderr, "call: %s\n", flit::to_string(st).data());
    return 1;
  }
  std::printf("%.*s\n", static_cast<int>(resp.size()), reinterpret_cast<char*>(resp.data()));
  return 0;
}
