// tests/fuzz/fuzz_flitc.cc: the flitc front end (lexer, parser, checker) and
// back end against arbitrary .flit text.
//
// Oracle: no crash, and a file is rejected exactly when an error was
// reported (a rejection always says why; an accepted file reports nothing),
// and every accepted file generates both headers. Imports are not followed
// (there is no file system here). Diagnostics go to /dev/null while a case
// runs. Seeds: a schema using every construct; the driver also takes the
// test .flit files (tests/flitc/*.flit and errors/*.flit) as seeds.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "checker.h"
#include "cpp_backend.h"
#include "fuzz.h"
#include "ir.h"
#include "lexer.h"
#include "parser.h"
#include "source.h"

namespace {

const char kSeed[] = R"(package fuzz.demo;

enum Code : u8 { ok = 0; not_found = 1; }

struct Point { x @0 : i32; y @1 : i32; label @2 : optional<string>; }

struct Everything {
  b @0 : bool; i @1 : i64; u @2 : u16; f @3 : f64;
  s @4 : string; d @5 : bytes; l @6 : list<Point>; c @7 : Code;
  o @8 : optional<list<u32>>;
}

service Demo {
  get @1 (Point) -> Everything;
  put @2 (Everything) -> Point;
}
)";

// Runs f with stderr sent to /dev/null.
template <typename F>
bool quietly(F f) {
  std::fflush(stderr);
  const int saved = dup(2);
  const int null = open("/dev/null", O_WRONLY);
  if (null >= 0) dup2(null, 2);
  const bool r = f();
  std::fflush(stderr);
  if (saved >= 0) {
    dup2(saved, 2);
    close(saved);
  }
  if (null >= 0) close(null);
  return r;
}

}  // namespace

std::vector<std::vector<uint8_t>> flit_fuzz_seeds() {
  return {std::vector<uint8_t>(kSeed, kSeed + sizeof kSeed - 1)};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  flitc::Diagnostics diag;
  bool accepted = false, skipped = false;
  std::string messages, rpc;
  quietly([&] {
    flitc::SourceFile src("fuzz.flit", std::string(reinterpret_cast<const char*>(data), size));
    std::vector<flitc::Token> tokens;
    if (!flitc::lex(src, diag, &tokens)) return false;
    flitc::Schema schema;
    if (!flitc::parse(src, tokens, diag, &schema)) return false;
    if (!schema.imports.empty()) {  // not followed here
      skipped = true;
      return false;
    }
    if (!flitc::check(schema, diag)) return false;
    messages = flitc::generate_messages_header(schema);
    rpc = flitc::generate_rpc_header(schema);
    accepted = true;
    return true;
  });
  if (skipped) return 0;
  if (accepted != (diag.error_count() == 0)) {
    std::fprintf(stderr, "fuzz_flitc: %s\n",
                 accepted ? "accepted a file after reporting an error"
                          : "rejected a file without reporting an error");
    std::abort();
  }
  if (accepted && messages.empty()) {
    std::fprintf(stderr, "fuzz_flitc: an accepted file generated nothing\n");
    std::abort();
  }
  return 0;
}
