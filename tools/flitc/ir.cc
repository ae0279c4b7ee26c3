#include "ir.h"

namespace flitc {

std::string Schema::package_name() const {
  std::string s;
  for (const auto& p : package) {
    if (!s.empty()) s += '.';
    s += p;
  }
  return s;
}

bool is_integer(Kind k) {
  switch (k) {
    case Kind::kI8:
    case Kind::kI16:
    case Kind::kI32:
    case Kind::kI64:
    case Kind::kU8:
    case Kind::kU16:
    case Kind::kU32:
    case Kind::kU64:
      return true;
    default:
      return false;
  }
}

bool is_scalar(Kind k) {
  return is_integer(k) || k == Kind::kBool || k == Kind::kF32 || k == Kind::kF64;
}

uint32_t scalar_size(Kind k) {
  switch (k) {
    case Kind::kBool:
    case Kind::kI8:
    case Kind::kU8:
      return 1;
    case Kind::kI16:
    case Kind::kU16:
      return 2;
    case Kind::kI32:
    case Kind::kU32:
    case Kind::kF32:
      return 4;
    case Kind::kI64:
    case Kind::kU64:
    case Kind::kF64:
      return 8;
    default:
      return 0;
  }
}

uint32_t slot_size(const TypeRef& t) {
  if (is_scalar(t.kind)) return scalar_size(t.kind);
  switch (t.kind) {
    case Kind::kString:
    case Kind::kBytes:
    case Kind::kList:
      return 8;
    case Kind::kOptional:
      return 1 + slot_size(*t.elem);
    case Kind::kNamed:
      if (t.enum_decl != nullptr) return scalar_size(t.enum_decl->underlying);
      return 8;
    default:
      return 0;
  }
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kBool:
      return "bool";
    case Kind::kI8:
      return "i8";
    case Kind::kI16:
      return "i16";
    case Kind::kI32:
      return "i32";
    case Kind::kI64:
      return "i64";
    case Kind::kU8:
      return "u8";
    case Kind::kU16:
      return "u16";
    case Kind::kU32:
      return "u32";
    case Kind::kU64:
      return "u64";
    case Kind::kF32:
      return "f32";
    case Kind::kF64:
      return "f64";
    case Kind::kString:
      return "string";
    case Kind::kBytes:
      return "bytes";
    case Kind::kList:
      return "list";
    case Kind::kOptional:
      return "optional";
    case Kind::kNamed:
      return "named type";
  }
  return "?";
}

}  // namespace flitc
