// tools/flitc/checker.h: semantic checks and wire layout.
//
// Rejects, each with an error at the offending token:
//   - names that are reserved (IDL keywords, C++ keywords, names starting
//     with '_', member names the generated code uses such as `encode`, and
//     `has_x` beside an optional `x`), or that repeat within their scope,
//     including names that collide after generation (struct `A` and
//     struct `AView`, enumerators `not_found` and `NotFound`);
//   - field numbers that repeat or leave a gap (fields are @0, @1, ... in
//     any order: a number can never be reused for a different field);
//   - unknown types, types used where they cannot be (list<list<T>>,
//     optional<optional<T>>, a method whose request is not a struct);
//   - enum values outside the underlying type, repeated values, and enums
//     without a value 0 (the default of an absent field);
//   - method numbers that repeat or exceed 65535;
//   - structs that contain themselves (directly or through other structs)
//     and nesting deeper than flit::wire::kMaxDepth.
// Then assigns every field its offset and every struct its fixed size.
#pragma once

#include "ir.h"

namespace flitc {

// Checks `schema`, whose imports are already loaded (and checked). Returns
// false if any error was reported.
bool check(Schema& schema, Diagnostics& diag);

// The C++ name of an enumerator: "not_found" -> "kNotFound".
std::string enumerator_cpp_name(const std::string& idl_name);

}  // namespace flitc
