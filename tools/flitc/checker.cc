#include "checker.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>

namespace flitc {
namespace {

// Keep in sync with flit::wire::kMaxDepth (include/flit/wire/format.h).
constexpr int kMaxDepth = 64;

const std::set<std::string>& reserved_words() {
  static const std::set<std::string> s = {
      // IDL keywords and built-in types.
      "package",
      "import",
      "enum",
      "struct",
      "service",
      "optional",
      "list",
      "bool",
      "i8",
      "i16",
      "i32",
      "i64",
      "u8",
      "u16",
      "u32",
      "u64",
      "f32",
      "f64",
      "string",
      "bytes",
      "true",
      "false",
      // C++ keywords and alternative tokens.
      "alignas",
      "alignof",
      "and",
      "and_eq",
      "asm",
      "auto",
      "bitand",
      "bitor",
      "break",
      "case",
      "catch",
      "char",
      "char8_t",
      "char16_t",
      "char32_t",
      "class",
      "compl",
      "concept",
      "const",
      "consteval",
      "constexpr",
      "constinit",
      "const_cast",
      "continue",
      "co_await",
      "co_return",
      "co_yield",
      "decltype",
      "default",
      "delete",
      "do",
      "double",
      "dynamic_cast",
      "else",
      "explicit",
      "export",
      "extern",
      "float",
      "for",
      "friend",
      "goto",
      "if",
      "inline",
      "int",
      "long",
      "mutable",
      "namespace",
      "new",
      "noexcept",
      "not",
      "not_eq",
      "nullptr",
      "operator",
      "or",
      "or_eq",
      "private",
      "protected",
      "public",
      "register",
      "reinterpret_cast",
      "requires",
      "return",
      "short",
      "signed",
      "sizeof",
      "static",
      "static_assert",
      "static_cast",
      "switch",
      "template",
      "this",
      "thread_local",
      "throw",
      "try",
      "typedef",
      "typeid",
      "typename",
      "union",
      "unsigned",
      "using",
      "virtual",
      "void",
      "volatile",
      "wchar_t",
      "while",
      "xor",
      "xor_eq",
      // Names the generated code and its includes use.
      "flit",
      "std",
      "NULL",
  };
  return s;
}

// Member names of generated views, builders and owning types.
const std::set<std::string>& reserved_members() {
  static const std::set<std::string> s = {
      "encode", "decode",   "encoded_size", "var_size", "build",   "from_view",
      "parse",  "validate", "init_root",    "reader",   "builder",
  };
  return s;
}

class Checker {
 public:
  Checker(Schema& s, Diagnostics& d) : s_(s), diag_(d) {}

  bool run() {
    int before = diag_.error_count();
    for (const auto& p : s_.package) check_name(p, s_.package_loc, "package name");
    top_level_names();
    for (auto& e : s_.enums) check_enum(*e);
    for (auto& st : s_.structs) check_struct(*st);
    for (auto& sv : s_.services) check_service(*sv);
    if (diag_.error_count() == before) check_recursion_and_depth();
    if (diag_.error_count() == before) {
      for (auto& st : s_.structs) layout(*st);
    }
    return diag_.error_count() == before;
  }

 private:
  void error(const Loc& l, const std::string& m) { diag_.error(l, m); }

  bool check_name(const std::string& n, const Loc& l, const char* what) {
    if (reserved_words().count(n) != 0) {
      error(l, std::string(what) + " '" + n + "' is a reserved word");
      return false;
    }
    if (n[0] == '_' || n.back() == '_' || n.find("__") != std::string::npos) {
      error(l, std::string(what) + " '" + n +
                   "' is reserved: names may not start or end with '_' or contain '__'");
      return false;
    }
    return true;
  }

  void top_level_names() {
    // Every C++ name a declaration generates, mapped to who generates it.
    std::map<std::string, std::pair<std::string, Loc>> taken;
    auto claim = [&](const std::string& cpp, const std::string& decl, const Loc& l) {
      auto [it, fresh] = taken.emplace(cpp, std::make_pair(decl, l));
      if (fresh) return true;
      const Loc& o = it->second.second;
      std::string where = o.file->path + ":" + std::to_string(o.line) + ":" + std::to_string(o.col);
      if (it->second.first == decl) {
        error(l, "'" + decl + "' is already declared (at " + where + ")");
      } else {
        error(l, "'" + decl + "' generates the C++ name '" + cpp + "', which '" + it->second.first +
                     "' (at " + where + ") also uses");
      }
      return false;
    };
    for (auto& e : s_.enums) {
      if (check_name(e->name, e->loc, "enum name")) claim(e->name, e->name, e->loc);
    }
    for (auto& st : s_.structs) {
      if (!check_name(st->name, st->loc, "struct name")) continue;
      if (!claim(st->name, st->name, st->loc)) continue;
      if (!claim(st->name + "View", st->name, st->loc)) continue;
      claim(st->name + "Builder", st->name, st->loc);
    }
    for (auto& sv : s_.services) {
      if (!check_name(sv->name, sv->loc, "service name")) continue;
      if (!claim(sv->name, sv->name, sv->loc)) continue;
      for (const char* suffix : {"Client", "Service", "Methods"}) {
        if (!claim(sv->name + suffix, sv->name, sv->loc)) break;
      }
    }
  }

  void check_enum(EnumDecl& e) {
    uint32_t bits = scalar_size(e.underlying) * 8;
    bool is_signed = e.underlying == Kind::kI8 || e.underlying == Kind::kI16 ||
                     e.underlying == Kind::kI32 || e.underlying == Kind::kI64;
    std::map<std::string, Loc> names, cpp_names;
    std::map<int64_t, std::string> values;
    bool has_zero = false;
    if (e.values.empty()) error(e.loc, "enum '" + e.name + "' has no values");
    for (auto& v : e.values) {
      if (check_name(v.name, v.loc, "enumerator name")) {
        if (!names.emplace(v.name, v.loc).second) {
          error(v.loc, "duplicate enumerator '" + v.name + "' in enum '" + e.name + "'");
        } else if (!cpp_names.emplace(enumerator_cpp_name(v.name), v.loc).second) {
          error(v.loc, "enumerator '" + v.name + "' and another enumerator of '" + e.name +
                           "' both become '" + enumerator_cpp_name(v.name) + "' in C++");
        }
      }
      bool fits;
      if (is_signed) {
        uint64_t max_pos = (uint64_t{1} << (bits - 1)) - 1;
        fits = v.negative ? v.magnitude <= max_pos + 1 : v.magnitude <= max_pos;
      } else {
        fits = !v.negative || v.magnitude == 0;
        if (bits < 64) fits = fits && v.magnitude < (uint64_t{1} << bits);
      }
      if (!fits) {
        error(v.value_loc, "value of '" + v.name + "' does not fit in the enum's underlying type " +
                               kind_name(e.underlying));
        continue;
      }
      if (v.magnitude == 0) has_zero = true;
      auto [it, fresh] = values.emplace(v.value(), v.name);
      if (!fresh) {
        error(v.value_loc, "'" + v.name + "' repeats the value of '" + it->second + "'");
      }
    }
    if (!e.values.empty() && !has_zero) {
      error(e.loc, "enum '" + e.name +
                       "' needs a value 0: it is what a reader sees when a field is absent");
    }
  }

  // Finds a struct or enum by the name as written.
  void resolve(TypeRef& t) {
    std::string pkg = s_.package_name(), name = t.name;
    size_t dot = t.name.rfind('.');
    if (dot != std::string::npos) {
      pkg = t.name.substr(0, dot);
      name = t.name.substr(dot + 1);
    }
    auto search = [&](const Schema& sc) {
      if (sc.package_name() != pkg) return false;
      for (auto& st : sc.structs) {
        if (st->name == name) {
          t.struct_decl = st.get();
          return true;
        }
      }
      for (auto& en : sc.enums) {
        if (en->name == name) {
          t.enum_decl = en.get();
          return true;
        }
      }
      return false;
    };
    if (search(s_)) return;
    for (auto& imp : s_.imports) {
      if (imp.schema != nullptr && search(*imp.schema)) return;
    }
    bool is_service = false;
    for (auto& sv : s_.services) is_service |= sv->name == t.name;
    error(t.loc, is_service ? "'" + t.name + "' is a service, not a type"
                            : "unknown type '" + t.name + "'" +
                                  (dot == std::string::npos ? "" : " (is its file imported?)"));
  }

  // Resolves and checks a field type. `in` is "list" / "optional" / "".
  bool check_type(TypeRef& t, const std::string& in) {
    switch (t.kind) {
      case Kind::kList:
        if (in == "list") {
          error(t.loc, "lists of lists are not supported: wrap the inner list in a struct");
          return false;
        }
        if (t.elem->kind == Kind::kOptional) {
          error(t.elem->loc, "list elements cannot be optional");
          return false;
        }
        return check_type(*t.elem, "list");
      case Kind::kOptional:
        if (!in.empty()) {
          error(t.loc, in == "list" ? "list elements cannot be optional"
                                    : "optional<optional<T>> is not allowed");
          return false;
        }
        return check_type(*t.elem, "optional");
      case Kind::kNamed:
        resolve(t);
        return t.struct_decl != nullptr || t.enum_decl != nullptr;
      default:
        return true;
    }
  }

  // A struct or enum of this file or of an import of the same package
  // (those are visible unqualified).
  bool is_type_name(const std::string& n) const {
    auto declares = [&](const Schema& sc) {
      for (auto& st : sc.structs) {
        if (st->name == n) return true;
      }
      for (auto& e : sc.enums) {
        if (e->name == n) return true;
      }
      return false;
    };
    if (declares(s_)) return true;
    for (auto& imp : s_.imports) {
      if (imp.schema != nullptr && imp.schema->package == s_.package && declares(*imp.schema)) {
        return true;
      }
    }
    return false;
  }

  void check_struct(StructDecl& st) {
    std::map<std::string, const Field*> names;
    std::map<uint64_t, const Field*> numbers;
    for (auto& f : st.fields) {
      bool ok = check_name(f.name, f.loc, "field name");
      if (ok && reserved_members().count(f.name) != 0) {
        error(f.loc, "field name '" + f.name + "' is reserved: generated code uses it");
        ok = false;
      }
      if (ok && is_type_name(f.name)) {
        // In C++ the member would hide the type inside the generated struct.
        error(f.loc, "field name '" + f.name + "' is also the name of a type");
        ok = false;
      }
      if (ok && !names.emplace(f.name, &f).second) {
        error(f.loc, "duplicate field name '" + f.name + "' in struct '" + st.name + "'");
      }
      auto [it, fresh] = numbers.emplace(f.number, &f);
      if (!fresh) {
        error(f.number_loc, "field number @" + std::to_string(f.number) + " is already used by '" +
                                it->second->name + "'");
      }
      check_type(f.type, "");
    }
    for (auto& f : st.fields) {
      if (f.name.rfind("has_", 0) == 0) {
        auto it = names.find(f.name.substr(4));
        if (it != names.end() && it->second->type.kind == Kind::kOptional) {
          error(f.loc, "field '" + f.name + "' collides with the presence accessor of optional '" +
                           it->second->name + "'");
        }
      }
    }
    // Numbers must be exactly 0..n-1: a gap would invite reusing a number
    // later for a field of another type, which old readers would misread.
    uint64_t expect = 0;
    for (auto& [n, f] : numbers) {
      if (n != expect) {
        error(f->number_loc, "field numbers must be @0, @1, ... without gaps: '" + f->name +
                                 "' is @" + std::to_string(n) + " but @" + std::to_string(expect) +
                                 " is missing");
        break;
      }
      ++expect;
    }
    std::stable_sort(st.fields.begin(), st.fields.end(),
                     [](const Field& a, const Field& b) { return a.number < b.number; });
  }

  void check_service(ServiceDecl& sv) {
    std::map<std::string, const Method*> names;
    std::map<uint64_t, const Method*> numbers;
    for (auto& m : sv.methods) {
      if (!check_name(m.name, m.loc, "method name")) {
      } else if (m.name == "rpc" || m.name == "session" || m.name == "register_with") {
        error(m.loc, "method name '" + m.name +
                         "' is reserved: the generated client or service "
                         "uses it");
      } else if (is_type_name(m.name)) {
        error(m.loc, "method name '" + m.name + "' is also the name of a type");
      } else if (!names.emplace(m.name, &m).second) {
        error(m.loc, "duplicate method name '" + m.name + "' in service '" + sv.name + "'");
      }
      if (m.number > 0xFFFF) {
        error(m.number_loc, "method number @" + std::to_string(m.number) +
                                " is out of range: method ids are 16-bit (0..65535)");
      } else if (auto [it, fresh] = numbers.emplace(m.number, &m); !fresh) {
        error(m.number_loc, "method number @" + std::to_string(m.number) + " is already used by '" +
                                it->second->name + "'");
      }
      for (TypeRef* t : {&m.request, &m.response}) {
        if (t->kind != Kind::kNamed) {
          error(t->loc, std::string("a method's request and response must be structs, not ") +
                            kind_name(t->kind));
          continue;
        }
        resolve(*t);
        if (t->enum_decl != nullptr) {
          error(t->loc,
                "a method's request and response must be structs; '" + t->name + "' is an enum");
        }
      }
    }
  }

  static const StructDecl* struct_of(const TypeRef& t) {
    if (t.kind == Kind::kList || t.kind == Kind::kOptional) return struct_of(*t.elem);
    return t.struct_decl;
  }

  // Imported structs cannot refer back to this file (imports are acyclic),
  // so a cycle, if any, lies within this file.
  void check_recursion_and_depth() {
    std::map<const StructDecl*, int> depth;  // -1: on the DFS stack
    std::vector<const StructDecl*> stack;
    std::function<int(const StructDecl*)> visit = [&](const StructDecl* st) -> int {
      auto it = depth.find(st);
      if (it != depth.end()) {
        if (it->second >= 0) return it->second;
        std::string path;
        auto b = std::find(stack.begin(), stack.end(), st);
        for (auto p = b; p != stack.end(); ++p) path += (*p)->name + " -> ";
        error(st->loc, "struct '" + st->name + "' contains itself (" + path + st->name +
                           "); recursive structs are not supported");
        return 1 << 20;
      }
      depth[st] = -1;
      stack.push_back(st);
      int d = 0;
      for (auto& f : st->fields) {
        if (const StructDecl* sub = struct_of(f.type)) d = std::max(d, 1 + visit(sub));
        if (d >= (1 << 20)) break;
      }
      stack.pop_back();
      depth[st] = d;
      return d;
    };
    for (auto& st : s_.structs) {
      int d = visit(st.get());
      if (d < (1 << 20) && d > kMaxDepth) {
        error(st->loc, "struct '" + st->name + "' nests " + std::to_string(d) +
                           " levels deep; the limit is " + std::to_string(kMaxDepth));
      }
      if (d >= (1 << 20)) return;
    }
  }

  void layout(StructDecl& st) {
    uint32_t off = 0;
    for (auto& f : st.fields) {
      f.offset = off;
      off += slot_size(f.type);
    }
    st.fixed_size = off;
  }

  Schema& s_;
  Diagnostics& diag_;
};

}  // namespace

std::string enumerator_cpp_name(const std::string& idl_name) {
  std::string out = "k";
  bool up = true;
  for (char c : idl_name) {
    if (c == '_') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out;
}

bool check(Schema& schema, Diagnostics& diag) { return Checker(schema, diag).run(); }

}  // namespace flitc
