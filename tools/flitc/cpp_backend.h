// tools/flitc/cpp_backend.h: C++ code generation from a checked Schema.
//
// For X.flit it produces two headers:
//   X.flit.h      enums; per struct Foo: FooView (validate once, read in
//                 place), FooBuilder (write in place, no allocation) and the
//                 owning struct Foo (encoded_size / encode / decode). Includes
//                 only flit/wire/wire.h and the headers of imported files, so
//                 it needs nothing of the RPC engine.
//   X.flit.rpc.h  per service S: SMethods (method ids), SClient (async and
//                 blocking stubs) and SService (the skeleton to subclass).
//                 Includes X.flit.h and flit/wire/stub.h (the engine API).
// The output depends only on the schema and the input's file name, so it is
// byte-for-byte reproducible (golden tests rely on this).
#pragma once

#include <string>

#include "ir.h"

namespace flitc {

// Base name of the outputs: "dir/kv.flit" -> "kv".
std::string output_stem(const std::string& input_path);

std::string generate_messages_header(const Schema& schema);
std::string generate_rpc_header(const Schema& schema);

}  // namespace flitc
