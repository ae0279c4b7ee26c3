// tools/flitc/ir.h: the schema model shared by parser, checker and backend.
//
// The parser builds it from tokens with names unresolved; the checker
// resolves every type reference (TypeRef::struct_decl / enum_decl), rejects
// what the language forbids, and computes the wire layout (Field::offset,
// StructDecl::fixed_size). The backend reads only checked schemas, so it can
// assume every invariant the checker enforces.
//
// Ownership: a Compilation owns every SourceFile and Schema; declarations
// point at each other with raw pointers that stay valid for its lifetime.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "source.h"

namespace flitc {

enum class Kind {
  kBool,
  kI8,
  kI16,
  kI32,
  kI64,
  kU8,
  kU16,
  kU32,
  kU64,
  kF32,
  kF64,
  kString,
  kBytes,
  kList,
  kOptional,
  kNamed,  // a struct or an enum, by name
};

struct StructDecl;
struct EnumDecl;
struct Schema;

struct TypeRef {
  Kind kind = Kind::kBool;
  Loc loc;
  std::string name;               // kNamed: as written, e.g. "Code" or "common.Point"
  std::unique_ptr<TypeRef> elem;  // kList, kOptional
  // Set by the checker for kNamed: exactly one is non-null.
  const StructDecl* struct_decl = nullptr;
  const EnumDecl* enum_decl = nullptr;

  bool is_struct() const { return kind == Kind::kNamed && struct_decl != nullptr; }
  bool is_enum() const { return kind == Kind::kNamed && enum_decl != nullptr; }
};

struct Field {
  std::string name;
  std::string doc;  // the // comment above the declaration
  Loc loc;
  uint64_t number = 0;
  Loc number_loc;
  TypeRef type;
  uint32_t offset = 0;  // checker: byte offset in the struct block
};

struct StructDecl {
  std::string name;
  std::string doc;  // the // comment above the declaration
  Loc loc;
  const Schema* schema = nullptr;
  std::vector<Field> fields;  // in field-number order once checked
  uint32_t fixed_size = 0;    // checker: bytes of the struct block
};

struct EnumValue {
  std::string name;
  std::string doc;  // the // comment above the declaration
  Loc loc;
  bool negative = false;
  uint64_t magnitude = 0;
  Loc value_loc;
  // Two's complement, computed unsigned: -2^63 (magnitude 2^63) has no
  // positive int64_t to negate.
  int64_t value() const {
    return static_cast<int64_t>(negative ? uint64_t{0} - magnitude : magnitude);
  }
};

struct EnumDecl {
  std::string name;
  std::string doc;  // the // comment above the declaration
  Loc loc;
  const Schema* schema = nullptr;
  Kind underlying = Kind::kU32;
  Loc underlying_loc;
  std::vector<EnumValue> values;
};

struct Method {
  std::string name;
  std::string doc;  // the // comment above the declaration
  Loc loc;
  uint64_t number = 0;
  Loc number_loc;
  TypeRef request;
  TypeRef response;
};

struct ServiceDecl {
  std::string name;
  std::string doc;  // the // comment above the declaration
  Loc loc;
  std::vector<Method> methods;
};

struct Import {
  std::string path;  // as written
  Loc loc;
  const Schema* schema = nullptr;  // set by the loader
};

// One parsed .flit file.
struct Schema {
  const SourceFile* file = nullptr;
  std::vector<std::string> package;  // "a.b" -> {"a", "b"}
  std::vector<Loc> package_locs;     // one per component of package
  std::vector<Import> imports;
  std::vector<std::unique_ptr<EnumDecl>> enums;
  std::vector<std::unique_ptr<StructDecl>> structs;
  std::vector<std::unique_ptr<ServiceDecl>> services;

  std::string package_name() const;  // "a.b"
};

// Wire size of a field slot of type t (checked schema).
uint32_t slot_size(const TypeRef& t);
// Size of a scalar kind (bool and integers and floats).
uint32_t scalar_size(Kind k);
bool is_scalar(Kind k);
bool is_integer(Kind k);
// The IDL spelling of a kind ("u32", "list", ...).
const char* kind_name(Kind k);

}  // namespace flitc
