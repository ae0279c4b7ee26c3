// examples/kvstore/kv_client.cc: talks to kv_server through the generated
// client stub; each call reads like a local one.
//
//   kv_client URI put KEY VALUE
//   kv_client URI get KEY
//   kv_client URI del KEY
#include <cstdio>
#include <string>

#include "flit/flit.h"
#include "kv.flit.rpc.h"

namespace {
std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }
}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: kv_client URI put KEY VALUE | get KEY | del KEY\n");
    return 2;
  }
  std::string uri = argv[1], op = argv[2], key = argv[3];
  if ((op == "put") != (argc == 5) || (op != "put" && op != "get" && op != "del")) {
    std::fprintf(stderr, "usage: kv_client URI put KEY VALUE | get KEY | del KEY\n");
    return 2;
  }
  try {
    flit::Nexus nexus(flit::NexusConfig{});
    flit::Rpc rpc(nexus, 0);
    flit::SessionId session;
    if (flit::Status st = rpc.connect(uri, &session); st != flit::Status::kOk) {
      std::fprintf(stderr, "kv_client: connect %s: %s\n", uri.c_str(),
                   std::string(flit::to_string(st)).c_str());
      return 1;
    }
    kv::KvClient kv(rpc, session);
    flit::Status st;
    if (op == "put") {
      kv::PutRequest req;
      req.key = bytes(key);
      req.value = bytes(argv[4]);
      kv::PutResponse resp;
      st = kv.put(req, &resp);
      if (st == flit::Status::kOk) {
        if (resp.code != kv::Code::kOk) {
          std::printf(resp.code == kv::Code::kTooLarge ? "too large\n" : "refused\n");
          return 3;
        }
        std::printf("ok version %llu\n", (unsigned long long)resp.version);
      }
    } else if (op == "get") {
      kv::GetRequest req;
      req.key = bytes(key);
      kv::GetResponse resp;
      st = kv.get(req, &resp);
      if (st == flit::Status::kOk) {
        if (resp.code == kv::Code::kOk) {
          std::printf("%.*s\n", static_cast<int>(resp.value.size()),
                      reinterpret_cast<const char*>(resp.value.data()));
        } else {
          std::printf("not found\n");
          return 3;
        }
      }
    } else {
      kv::DeleteRequest req;
      req.key = bytes(key);
      kv::DeleteResponse resp;
      st = kv.del(req, &resp);
      if (st == flit::Status::kOk)
        std::printf(resp.code == kv::Code::kOk ? "deleted\n" : "not found\n");
    }
    if (st != flit::Status::kOk) {
      std::fprintf(stderr, "kv_client: %s: %s\n", op.c_str(),
                   std::string(flit::to_string(st)).c_str());
      return 1;
    }
  } catch (const flit::Error& e) {
    std::fprintf(stderr, "kv_client: %s\n", e.what());
    return 1;
  }
  return 0;
}
