#include "checker.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <variant>

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
      // Names the generated code and its includes use: the fixed-width
      // types it names unqualified, and macros of the standard headers it
      // includes (a macro would replace the name wherever it appears).
      "flit",
      "std",
      "NULL",
      "size_t",
      "ptrdiff_t",
      "int8_t",
      "int16_t",
      "int32_t",
      "int64_t",
      "uint8_t",
      "uint16_t",
      "uint32_t",
      "uint64_t",
      "intptr_t",
      "uintptr_t",
      "errno",
      "assert",
      "offsetof",
      "stdin",
      "stdout",
      "stderr",
      "EOF",
      "BUFSIZ",
      "CHAR_BIT",
      "SIZE_MAX",
      "RAND_MAX",
      "EXIT_SUCCESS",
      "EXIT_FAILURE",
      // Predefined by GCC and Clang outside strict ISO modes (-std=gnu++20,
      // the default when a build does not ask for c++20).
      "unix",
      "linux",
      // Function-like macros of glibc's <stdlib.h> (and <endian.h>, which it
      // includes) with _GNU_SOURCE, which g++ always defines: they replace an
      // accessor call `alloca()` or `htole32()`.
      "alloca",
      "htobe16",
      "htole16",
      "be16toh",
      "le16toh",
      "htobe32",
      "htole32",
      "be32toh",
      "le32toh",
      "htobe64",
      "htole64",
      "be64toh",
      "le64toh",
      // Object-like macros the same headers define (<endian.h>, <cstdlib>,
      // <cstdio>).
      "BYTE_ORDER",
      "LITTLE_ENDIAN",
      "BIG_ENDIAN",
      "PDP_ENDIAN",
      "MB_CUR_MAX",
      "SEEK_SET",
      "SEEK_CUR",
      "SEEK_END",
      "FILENAME_MAX",
      "FOPEN_MAX",
      "TMP_MAX",
      "L_tmpnam",
      // Reached through <cstdlib>, <cwchar> and <cstring> on glibc with
      // _GNU_SOURCE: <bits/waitflags.h> and <bits/waitstatus.h>,
      // <sys/select.h> (by <sys/types.h>), <wchar.h>, <string.h>,
      // <pthread.h> and <sched.h> (by the C++ library's threading headers).
      "WNOHANG",
      "WUNTRACED",
      "WCONTINUED",
      "WEXITSTATUS",
      "WTERMSIG",
      "WSTOPSIG",
      "WIFEXITED",
      "WIFSIGNALED",
      "WIFSTOPPED",
      "WIFCONTINUED",
      "WCOREDUMP",
      "FD_SETSIZE",
      "FD_SET",
      "FD_CLR",
      "FD_ISSET",
      "FD_ZERO",
      "NFDBITS",
      "WEOF",
      "strdupa",
      "strndupa",
      "pthread_cleanup_push",
      "pthread_cleanup_pop",
      "CPU_SETSIZE",
      "CPU_SET",
      "CPU_CLR",
      "CPU_ISSET",
      "CPU_ZERO",
      "CPU_COUNT",
  };
  return s;
}

// Macro-style names (capitals, digits, '_') that C and POSIX reserve for
// the standard headers the generated code includes: E followed by a digit
// or capital (<cerrno>: EINTR, EAGAIN, ...), INT..._MAX/_MIN/_C/_WIDTH and
// UINT..._MAX/_C/_WIDTH, PTRDIFF_..., SIZE_..., WCHAR_..., WINT_...,
// SIG_ATOMIC_... (<cstdint>). Returns the header, or nullptr.
// Mixed-case names (ETag, Int32Max) are never macros.
const char* reserved_macro_header(const std::string& n) {
  for (char c : n) {
    if (!(std::isupper(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '_')) {
      return nullptr;
    }
  }
  auto starts = [&](const char* p) { return n.rfind(p, 0) == 0; };
  auto ends = [&](const char* p) {
    std::string q(p);
    return n.size() >= q.size() && n.compare(n.size() - q.size(), q.size(), q) == 0;
  };
  if (n.size() >= 2 && n[0] == 'E' && n[1] != '_') return "<cerrno>";
  if ((starts("INT") || starts("UINT")) &&
      (ends("_MAX") || ends("_MIN") || ends("_C") || ends("_WIDTH"))) {
    return "<cstdint>";
  }
  if (starts("PTRDIFF_") || starts("SIZE_") || starts("WCHAR_") || starts("WINT_") ||
      starts("SIG_ATOMIC_")) {
    return "<cstdint>";
  }
  return nullptr;
}

// Member names of generated views, builders and owning types.
const std::set<std::string>& reserved_members() {
  static const std::set<std::string> s = {
      "encode", "decode",   "encoded_size", "var_size", "build",   "from_view",
      "parse",  "validate", "init_root",    "reader",   "builder", "kFixedSize",
  };
  return s;
}

class Checker {
 public:
  Checker(Schema& s, Diagnostics& d) : s_(s), diag_(d) {}

  bool run() {
    int before = diag_.error_count();
    for (size_t i = 0; i < s_.package.size(); ++i)
      check_name(s_.package[i], s_.package_locs[i], "package name");
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
    const char* h = std::string_view(what) == "enumerator name" ? nullptr  // becomes kName
                                                                : reserved_macro_header(n);
    if (h != nullptr) {
      error(l, std::string(what) + " '" + n + "' is reserved: " + h +
                   " may define it as a macro, which generated code includes");
      return false;
    }
    if (n[0] == '_' || n.back() == '_' || n.find("__") != std::string::npos) {
      error(l, std::string(what) + " '" + n +
                   "' is reserved: names may not start or end with '_' or contain '__'");
      return false;
    }
    // A type named like a parameter or variable of the generated code would
    // be hidden by it there (`decode(std::span<const uint8_t> msg, msg* out)`
    // does not compile).
    const std::string_view w(what);
    if ((w == "struct name" || w == "enum name") && generated_locals().count(n) != 0) {
      error(l, std::string(what) + " '" + n +
                   "' is reserved: generated code uses it for a parameter or variable");
      return false;
    }
    return true;
  }

  // The parameter and variable names of the generated code that a type's
  // name could appear next to (cpp_backend.cc).
  static const std::set<std::string, std::less<>>& generated_locals() {
    static const std::set<std::string, std::less<>> k = {
        "b",   "call",   "capacity", "count",    "deadline", "depth", "done",   "h",      "i",
        "id",  "it",     "l",        "lifetime", "msg",      "n",     "nexus",  "out",    "place",
        "pos", "r",      "ref",      "req",      "resp",     "root",  "rpc",    "s",      "session",
        "st",  "status", "stride",   "v",        "value",    "w",     "writer", "written"};
    return k;
  }

  void top_level_names() {
    // Every C++ name a declaration generates, qualified by its package's
    // namespace ("a::b::X"), mapped to who generates it; and every
    // namespace the packages involved open ("a", "a::b").
    std::map<std::string, std::pair<std::string, Loc>> taken;
    std::map<std::string, std::string> namespaces;  // "a::b" -> "a.b"
    std::string ns;                                 // of the schema being claimed, with "::"
    auto where_of = [](const Loc& o) {
      return o.file->path + ":" + std::to_string(o.line) + ":" + std::to_string(o.col);
    };
    auto claim = [&](const std::string& cpp, const std::string& decl, const Loc& l) {
      const std::string key = ns + cpp;
      if (auto n = namespaces.find(key); n != namespaces.end()) {
        error(l, "'" + decl + "' generates the C++ name '" + key +
                     "', which is also the namespace of package '" + n->second + "'");
        return false;
      }
      auto [it, fresh] = taken.emplace(key, std::make_pair(decl, l));
      if (fresh) return true;
      const std::string where = where_of(it->second.second);
      if (it->second.first == decl) {
        error(l, "'" + decl + "' is already declared (at " + where + ")");
      } else {
        error(l, "'" + decl + "' generates the C++ name '" + cpp + "', which '" + it->second.first +
                     "' (at " + where + ") also uses");
      }
      return false;
    };
    // A generated header includes those of every file it imports, directly
    // or through others, whatever their package: a name two of them declare
    // in one namespace (two files of one package, or this file and one of
    // its package), or a type named like a package's namespace (struct b in
    // package a, and package a.b), would not compile. Imports first (each
    // was checked on its own), then this file.
    std::vector<const Schema*> order;
    std::set<const Schema*> seen{&s_};
    std::function<void(const Schema&)> collect = [&](const Schema& sc) {
      for (const auto& imp : sc.imports) {
        const Schema* is = imp.schema;
        if (is == nullptr || !seen.insert(is).second) continue;
        collect(*is);
        order.push_back(is);
      }
    };
    collect(s_);
    order.push_back(&s_);
    for (const Schema* sc : order) {
      std::string prefix;
      for (const auto& part : sc->package) {
        prefix += (prefix.empty() ? "" : "::") + part;
        namespaces.emplace(prefix, sc->package_name());
      }
    }
    for (const Schema* sc : order) {
      ns.clear();
      for (const auto& part : sc->package) ns += part + "::";
      claim_names(*sc, claim, sc == &s_);
    }
  }

  // Claims every C++ name sc's declarations generate; with check, first
  // checks each declared name.
  template <typename Claim>
  void claim_names(const Schema& sc, Claim& claim, bool check) {
    for (auto& e : sc.enums) {
      if (!check || check_name(e->name, e->loc, "enum name")) claim(e->name, e->name, e->loc);
    }
    for (auto& st : sc.structs) {
      if (check && !check_name(st->name, st->loc, "struct name")) continue;
      if (!claim(st->name, st->name, st->loc)) continue;
      if (!claim(st->name + "View", st->name, st->loc)) continue;
      claim(st->name + "Builder", st->name, st->loc);
    }
    for (auto& sv : sc.services) {
      if (check && !check_name(sv->name, sv->loc, "service name")) continue;
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

  // Finds a struct or enum by the name as written: in this file first, then
  // in the imports in order (index built once; a schema may declare many
  // thousands of types).
  void resolve(TypeRef& t) {
    std::string pkg = s_.package_name(), name = t.name;
    size_t dot = t.name.rfind('.');
    if (dot != std::string::npos) {
      pkg = t.name.substr(0, dot);
      name = t.name.substr(dot + 1);
    }
    if (decls_.empty()) {
      auto index = [&](const Schema& sc) {
        // emplace keeps the first: this file before imports, structs
        // before enums, as a linear search would find them.
        for (auto& st : sc.structs) decls_.emplace(sc.package_name() + "." + st->name, st.get());
        for (auto& en : sc.enums) decls_.emplace(sc.package_name() + "." + en->name, en.get());
      };
      index(s_);
      for (auto& imp : s_.imports) {
        if (imp.schema != nullptr) index(*imp.schema);
      }
    }
    if (auto it = decls_.find(pkg + "." + name); it != decls_.end()) {
      if (auto* const* st = std::get_if<StructDecl*>(&it->second)) {
        t.struct_decl = *st;
      } else {
        t.enum_decl = std::get<EnumDecl*>(it->second);
      }
      return;
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
  // Also the classes generated for them (FooView, FooBuilder) and for this
  // file's services (SClient, SService, SMethods): a member of that name
  // would hide the class inside the generated code that names it.
  bool is_type_name(const std::string& n) {
    if (type_names_.empty()) {
      for (auto& sv : s_.services) {
        for (const char* suffix : {"", "Client", "Service", "Methods"}) {
          type_names_.insert(sv->name + suffix);
        }
      }
      auto add = [&](const Schema& sc) {
        for (auto& st : sc.structs) {
          for (const char* suffix : {"", "View", "Builder"}) type_names_.insert(st->name + suffix);
        }
        for (auto& e : sc.enums) type_names_.insert(e->name);
      };
      add(s_);
      for (auto& imp : s_.imports) {
        if (imp.schema != nullptr && imp.schema->package == s_.package) add(*imp.schema);
      }
    }
    return type_names_.count(n) != 0;
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
        error(f.loc, "field name '" + f.name + "' is also the name of a type or generated class");
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
    std::map<std::string, const Method*> names, cpp_names;
    std::map<uint64_t, const Method*> numbers;
    for (auto& m : sv.methods) {
      if (!check_name(m.name, m.loc, "method name")) {
      } else if (m.name == "rpc" || m.name == "session" || m.name == "register_with") {
        error(m.loc, "method name '" + m.name +
                         "' is reserved: the generated client or service "
                         "uses it");
      } else if (is_type_name(m.name)) {
        error(m.loc, "method name '" + m.name + "' is also the name of a type or generated class");
      } else if (!names.emplace(m.name, &m).second) {
        error(m.loc, "duplicate method name '" + m.name + "' in service '" + sv.name + "'");
      } else if (auto [it, fresh] = cpp_names.emplace(enumerator_cpp_name(m.name), &m); !fresh) {
        error(m.loc, "methods '" + it->second->name + "' and '" + m.name + "' both become '" +
                         enumerator_cpp_name(m.name) + "' in C++");
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
  static constexpr int kTooDeep = 1 << 19;  // below the recursion sentinel, 1 << 20

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
      // Deeper than the limit already: stop here, so that a long chain of
      // structs cannot exhaust flitc's stack.
      if (stack.size() > static_cast<size_t>(kMaxDepth)) return kTooDeep;
      depth[st] = -1;
      stack.push_back(st);
      int d = 0;
      for (auto& f : st->fields) {
        if (const StructDecl* sub = struct_of(f.type)) d = std::max(d, 1 + visit(sub));
        if (d >= kTooDeep) break;
      }
      stack.pop_back();
      depth[st] = d;
      return d;
    };
    for (auto& st : s_.structs) {
      int d = visit(st.get());
      if (d < (1 << 20) && d > kMaxDepth) {
        error(st->loc,
              "struct '" + st->name + "' nests " +
                  (d >= kTooDeep ? "more than " + std::to_string(kMaxDepth) : std::to_string(d)) +
                  " levels deep; the limit is " + std::to_string(kMaxDepth));
        return;
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
  // Built on first use (after parsing, before any lookup).
  std::unordered_map<std::string, std::variant<StructDecl*, EnumDecl*>> decls_;
  std::unordered_set<std::string> type_names_;
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
