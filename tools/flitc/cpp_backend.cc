#include "cpp_backend.h"

#include <functional>
#include <set>
#include <sstream>

#include "checker.h"

namespace flitc {
namespace {

std::string cpp_scalar(Kind k) {
  switch (k) {
    case Kind::kBool:
      return "bool";
    case Kind::kI8:
      return "int8_t";
    case Kind::kI16:
      return "int16_t";
    case Kind::kI32:
      return "int32_t";
    case Kind::kI64:
      return "int64_t";
    case Kind::kU8:
      return "uint8_t";
    case Kind::kU16:
      return "uint16_t";
    case Kind::kU32:
      return "uint32_t";
    case Kind::kU64:
      return "uint64_t";
    case Kind::kF32:
      return "float";
    case Kind::kF64:
      return "double";
    default:
      return "?";
  }
}

std::string cpp_namespace(const Schema& s) {
  std::string n;
  for (const auto& p : s.package) n += (n.empty() ? "" : "::") + p;
  return n;
}

// Writes doc (lines separated by \n) as // comments at indentation ind.
// Each line stays one C++ comment line: control characters (a carriage
// return would end the line for some tools) become spaces, and a line
// ending in a backslash, which would splice the next line of generated code
// into the comment, is closed with " //".
void emit_doc(std::ostream& out, const std::string& doc, const std::string& ind) {
  if (doc.empty()) return;
  size_t b = 0;
  for (;;) {
    size_t e = doc.find('\n', b);
    std::string line = doc.substr(b, e == std::string::npos ? std::string::npos : e - b);
    for (char& c : line) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (!line.empty() && line.back() == '\\') line += " //";
    out << ind << "//" << (line.empty() ? "" : " ") << line << "\n";
    if (e == std::string::npos) break;
    b = e + 1;
  }
}

class Gen {
 public:
  explicit Gen(const Schema& s) : s_(s) {}

  // A declaration's C++ name as seen from this file's namespace.
  std::string qualify(const Schema* owner, const std::string& name) const {
    if (owner == &s_ || owner->package == s_.package) return name;
    return "::" + cpp_namespace(*owner) + "::" + name;
  }
  std::string named(const TypeRef& t, const char* suffix = "") const {
    if (t.struct_decl != nullptr)
      return qualify(t.struct_decl->schema, t.struct_decl->name + suffix);
    return qualify(t.enum_decl->schema, t.enum_decl->name);
  }
  // Scalar-like: travels as a fixed-size little-endian value.
  static bool scalar_like(const TypeRef& t) { return is_scalar(t.kind) || t.is_enum(); }
  std::string scalar_type(const TypeRef& t) const {
    return t.is_enum() ? named(t) : cpp_scalar(t.kind);
  }

  std::string owning_type(const TypeRef& t) const {
    switch (t.kind) {
      case Kind::kString:
        return "std::string";
      case Kind::kBytes:
        return "std::vector<uint8_t>";
      case Kind::kList:
        return "std::vector<" + owning_type(*t.elem) + ">";
      case Kind::kOptional:
        return "std::optional<" + owning_type(*t.elem) + ">";
      case Kind::kNamed:
        return named(t);
      default:
        return cpp_scalar(t.kind);
    }
  }

  std::string view_type(const TypeRef& t) const {
    switch (t.kind) {
      case Kind::kString:
        return "std::string_view";
      case Kind::kBytes:
        return "std::span<const uint8_t>";
      case Kind::kOptional:
        return view_type(*t.elem);
      case Kind::kNamed:
        return t.is_struct() ? named(t, "View") : named(t);
      case Kind::kList: {
        const TypeRef& e = *t.elem;
        if (scalar_like(e)) return "flit::wire::ListView<" + scalar_type(e) + ">";
        if (e.kind == Kind::kString) return "flit::wire::StringListView";
        if (e.kind == Kind::kBytes) return "flit::wire::BytesListView";
        return "flit::wire::StructListView<" + named(e, "View") + ">";
      }
      default:
        return cpp_scalar(t.kind);
    }
  }

  // The expression reading a (non-optional) value of type t at `off`.
  std::string view_read(const TypeRef& t, uint32_t off) const {
    std::string o = std::to_string(off);
    if (scalar_like(t)) {
      std::string ty = scalar_type(t);
      return "r_.scalar<" + ty + ">(" + o + ", " + ty + "{})";
    }
    switch (t.kind) {
      case Kind::kString:
        return "r_.string(" + o + ")";
      case Kind::kBytes:
        return "r_.bytes(" + o + ")";
      case Kind::kNamed:
        return named(t, "View") + "(r_.nested(" + o + "))";
      case Kind::kList: {
        const TypeRef& e = *t.elem;
        if (scalar_like(e)) return "r_.list<" + scalar_type(e) + ">(" + o + ")";
        if (e.kind == Kind::kString) return "r_.blob_list<std::string_view>(" + o + ")";
        if (e.kind == Kind::kBytes) return "r_.blob_list<std::span<const uint8_t>>(" + o + ")";
        return view_type(t) + "::from(r_, " + o + ")";
      }
      default:
        return "?";
    }
  }

  // Statements validating a (non-optional) value of type t at `off` in
  // reader `r`; each returns false on failure.
  void validate_value(std::ostream& out, const TypeRef& t, const std::string& off,
                      const std::string& ind) const {
    if (t.kind == Kind::kBool) {
      out << ind << "if (!flit::wire::Validator::check_bool(r, " << off << ")) return false;\n";
      return;
    }
    if (scalar_like(t)) return;  // any bit pattern is a valid integer, float or enum
    switch (t.kind) {
      case Kind::kString:
      case Kind::kBytes:
        out << ind << "if (flit::wire::Ref ref; !v.check_blob(r, " << off
            << ", 1, &ref)) return false;\n";
        return;
      case Kind::kNamed:
        // An absent (zero-length) struct has every field absent: valid
        // without walking its schema, which for a branching schema would be
        // exponential in its depth.
        out << ind << "if (flit::wire::StructReader s; !v.check_struct(r, " << off << ", &s) ||\n"
            << ind << "    (s.len() != 0 && !" << named(t, "View")
            << "::validate(v, s, depth + 1))) {\n"
            << ind << "  return false;\n"
            << ind << "}\n";
        return;
      case Kind::kList: {
        const TypeRef& e = *t.elem;
        if (e.kind == Kind::kBool) {
          out << ind << "if (!v.check_bool_list(r, " << off << ")) return false;\n";
        } else if (scalar_like(e)) {
          out << ind << "if (flit::wire::Ref ref; !v.check_blob(r, " << off << ", " << slot_size(e)
              << ", &ref)) return false;\n";
        } else if (e.kind == Kind::kString || e.kind == Kind::kBytes) {
          out << ind << "if (!v.check_blob_list(r, " << off << ")) return false;\n";
        } else {
          out << ind << "{\n"
              << ind << "  uint32_t pos, stride, count;\n"
              << ind << "  if (!v.check_struct_list(r, " << off
              << ", &pos, &stride, &count)) return false;\n"
              << ind << "  for (uint32_t i = 0; stride != 0 && i < count; ++i) {\n"
              << ind << "    flit::wire::StructReader s(v.msg(), pos + i * stride, stride);\n"
              << ind << "    if (!" << named(e, "View")
              << "::validate(v, s, depth + 1)) return false;\n"
              << ind << "  }\n"
              << ind << "}\n";
        }
        return;
      }
      default:
        return;
    }
  }

  // Builder methods for field f (value at `off`; presence byte first for
  // optionals).
  void builder_methods(std::ostream& out, const Field& f) const {
    bool opt = f.type.kind == Kind::kOptional;
    const TypeRef& t = opt ? *f.type.elem : f.type;
    uint32_t off = opt ? f.offset + 1 : f.offset;
    std::string o = std::to_string(off);
    std::string presence =
        opt ? "    b_.put_present(" + std::to_string(f.offset) + ", true);\n" : "";
    if (scalar_like(t)) {
      std::string ty = scalar_type(t);
      out << "  void set_" << f.name << "(" << ty << " v) {\n"
          << presence << "    b_.put<" << ty << ">(" << o << ", v);\n  }\n";
      return;
    }
    switch (t.kind) {
      case Kind::kString:
        out << "  void set_" << f.name << "(std::string_view v) {\n"
            << presence << "    b_.put_string(" << o << ", v);\n  }\n";
        return;
      case Kind::kBytes:
        out << "  void set_" << f.name << "(std::span<const uint8_t> v) {\n"
            << presence << "    b_.put_bytes(" << o << ", v);\n  }\n";
        return;
      case Kind::kNamed: {
        std::string b = named(t, "Builder");
        out << "  // Appends the nested struct (all fields default) and returns its builder.\n"
            << "  " << b << " init_" << f.name << "() {\n"
            << presence << "    return " << b << "(b_.put_struct(" << o << ", " << b
            << "::kFixedSize));\n  }\n";
        return;
      }
      case Kind::kList: {
        const TypeRef& e = *t.elem;
        out << "  // Appends a list of `count` default elements; fill it through the result.\n";
        if (scalar_like(e)) {
          std::string ty = scalar_type(e);
          out << "  flit::wire::ListBuilder<" << ty << "> init_" << f.name << "(uint32_t count) {\n"
              << presence << "    return {b_.writer(), b_.put_array(" << o << ", count, "
              << slot_size(e) << "), count};\n  }\n";
        } else if (e.kind == Kind::kString || e.kind == Kind::kBytes) {
          out << "  flit::wire::BlobListBuilder init_" << f.name << "(uint32_t count) {\n"
              << presence << "    return {b_.writer(), b_.put_array(" << o
              << ", count, flit::wire::kRefSize), count};\n  }\n";
        } else {
          std::string b = named(e, "Builder");
          out << "  flit::wire::StructListBuilder<" << b << "> init_" << f.name
              << "(uint32_t count) {\n"
              << presence << "    constexpr uint32_t kStride = flit::wire::struct_list_stride(" << b
              << "::kFixedSize);\n"
              << "    return {b_.writer(), b_.put_struct_list(" << o
              << ", count, kStride), count, kStride};\n  }\n";
        }
        return;
      }
      default:
        return;
    }
  }

  // Expression: bytes of variable-size data value `x` (of type t) appends.
  std::string var_size(const TypeRef& t, const std::string& x) const {
    if (scalar_like(t)) return "";
    switch (t.kind) {
      case Kind::kString:
      case Kind::kBytes:
        return x + ".size()";
      case Kind::kNamed:
        return named(t) + "::kFixedSize + " + x + ".var_size()";
      case Kind::kList: {
        const TypeRef& e = *t.elem;
        if (scalar_like(e)) return x + ".size() * " + std::to_string(slot_size(e));
        if (e.kind == Kind::kString || e.kind == Kind::kBytes) {
          return "flit::wire::kRefSize * " + x + ".size() + flit::wire::detail::sum_sizes(" + x +
                 ")";
        }
        return "flit::wire::detail::struct_list_size(" + x + ")";
      }
      case Kind::kOptional: {
        std::string inner = var_size(*t.elem, "(*" + x + ")");
        if (inner.empty()) return "";
        return "(" + x + " ? " + inner + " : 0)";
      }
      default:
        return "";
    }
  }

  // Statements writing member `x` (type t, non-optional) through builder
  // method name `m` of builder `b`.
  void build_value(std::ostream& out, const TypeRef& t, const std::string& m, const std::string& x,
                   const std::string& ind) const {
    if (scalar_like(t) || t.kind == Kind::kString || t.kind == Kind::kBytes) {
      out << ind << "b.set_" << m << "(" << x << ");\n";
      return;
    }
    if (t.kind == Kind::kNamed) {
      out << ind << x << ".build(b.init_" << m << "());\n";
      return;
    }
    const TypeRef& e = *t.elem;
    if (scalar_like(e) && e.kind != Kind::kBool) {
      // std::vector<bool> has no contiguous storage; the others are copied whole.
      out << ind << "b.init_" << m << "(static_cast<uint32_t>(" << x << ".size())).assign(" << x
          << ");\n";
      return;
    }
    out << ind << "{\n"
        << ind << "  auto l = b.init_" << m << "(static_cast<uint32_t>(" << x << ".size()));\n"
        << ind << "  for (uint32_t i = 0; i < l.size(); ++i) ";
    if (e.is_struct()) {
      out << x << "[i].build(l[i]);\n";
    } else if (e.kind == Kind::kBytes) {
      out << "l.set(i, std::span<const uint8_t>(" << x << "[i]));\n";
    } else if (e.kind == Kind::kString) {
      out << "l.set(i, std::string_view(" << x << "[i]));\n";
    } else {
      out << "l.set(i, " << x << "[i]);\n";
    }
    out << ind << "}\n";
  }

  // Statements copying view value `src` (type t, non-optional) into owning
  // lvalue `dst`.
  void copy_value(std::ostream& out, const TypeRef& t, const std::string& dst,
                  const std::string& src, const std::string& ind) const {
    if (scalar_like(t)) {
      out << ind << dst << " = " << src << ";\n";
    } else if (t.kind == Kind::kString) {
      out << ind << dst << ".assign(" << src << ");\n";
    } else if (t.kind == Kind::kBytes) {
      out << ind << "{\n"
          << ind << "  auto s = " << src << ";\n"
          << ind << "  " << dst << ".assign(s.begin(), s.end());\n"
          << ind << "}\n";
    } else if (t.kind == Kind::kNamed) {
      out << ind << named(t) << "::from_view(" << src << ", &" << dst << ");\n";
    } else {
      const TypeRef& e = *t.elem;
      out << ind << "{\n"
          << ind << "  auto l = " << src << ";\n"
          << ind << "  " << dst << ".resize(l.size());\n"
          << ind << "  for (uint32_t i = 0; i < l.size(); ++i) {\n";
      if (e.is_struct()) {
        out << ind << "    " << named(e) << "::from_view(l[i], &" << dst << "[i]);\n";
      } else if (e.kind == Kind::kString) {
        out << ind << "    " << dst << "[i].assign(l[i]);\n";
      } else if (e.kind == Kind::kBytes) {
        out << ind << "    auto s = l[i];\n"
            << ind << "    " << dst << "[i].assign(s.begin(), s.end());\n";
      } else {
        out << ind << "    " << dst << "[i] = l[i];\n";
      }
      out << ind << "  }\n" << ind << "}\n";
    }
  }

  std::string idl_type(const TypeRef& t) const {
    switch (t.kind) {
      case Kind::kList:
        return "list<" + idl_type(*t.elem) + ">";
      case Kind::kOptional:
        return "optional<" + idl_type(*t.elem) + ">";
      case Kind::kNamed:
        return t.name;
      default:
        return kind_name(t.kind);
    }
  }

  void gen_enum(std::ostream& out, const EnumDecl& e) const {
    emit_doc(out, e.doc, "");
    out << "enum class " << e.name << " : " << cpp_scalar(e.underlying) << " {\n";
    for (const auto& v : e.values) {
      emit_doc(out, v.doc, "  ");
      out << "  " << enumerator_cpp_name(v.name) << " = ";
      int64_t val = v.value();
      // INT64_MIN cannot be written as a literal.
      if (v.negative && v.magnitude == (uint64_t{1} << 63)) {
        out << "INT64_MIN";
      } else if (v.negative) {
        out << val;
      } else {
        out << v.magnitude << (e.underlying == Kind::kU64 ? "u" : "");
      }
      out << ",\n";
    }
    out << "};\n\n";
  }

  void gen_struct(std::ostream& out, const StructDecl& st) const {
    const std::string& n = st.name;
    std::string fs = std::to_string(st.fixed_size);

    // ---- View ----
    emit_doc(out, st.doc, "");
    out << "// " << n << " read in place from a validated message. Copyable; valid while the\n"
        << "// message bytes are. Absent fields (an older writer) read as defaults.\n"
        << "class " << n << "View {\n"
        << " public:\n"
        << "  static constexpr uint32_t kFixedSize = " << fs << ";\n\n"
        << "  " << n << "View() = default;\n"
        << "  // Over a block that validate() accepted.\n"
        << "  explicit " << n << "View(const flit::wire::StructReader& r) : r_(r) {}\n\n"
        << "  // Validates `msg` (a message with " << n << " at its root) and points *out at\n"
        << "  // it. kInvalidArgument if the bytes are malformed. O(msg.size()).\n"
        << "  [[nodiscard]] static flit::Status parse(std::span<const uint8_t> msg, " << n
        << "View* out) {\n"
        << "    flit::wire::Validator v(msg);\n"
        << "    flit::wire::StructReader r;\n"
        << "    if (!v.root(&r) || !validate(v, r, 0)) return flit::Status::kInvalidArgument;\n"
        << "    *out = " << n << "View(r);\n"
        << "    return flit::Status::kOk;\n"
        << "  }\n\n"
        << "  // Checks block r and everything reachable from it.\n"
        << "  [[nodiscard]] static bool validate(flit::wire::Validator& v,\n"
        << "                                     const flit::wire::StructReader& r, int depth) {\n"
        << "    if (!v.enter_struct(depth)) return false;\n";
    bool uses_v = true, uses_r = false;
    for (const auto& f : st.fields) {
      std::ostringstream body;
      if (f.type.kind == Kind::kOptional) {
        std::string po = std::to_string(f.offset);
        std::string slot = std::to_string(slot_size(f.type));
        body << "    if (!flit::wire::Validator::check_presence(r, " << po << ", " << slot
             << ")) return false;\n";
        std::ostringstream inner;
        validate_value(inner, *f.type.elem, std::to_string(f.offset + 1), "      ");
        if (!inner.str().empty()) {
          body << "    if (r.present(" << po << ", " << slot << ")) {\n"
               << inner.str() << "    }\n";
        }
      } else {
        validate_value(body, f.type, std::to_string(f.offset), "    ");
      }
      // Every check takes the reader as its first argument.
      if (body.str().find("v.") != std::string::npos) uses_v = true;
      if (body.str().find("(r, ") != std::string::npos) uses_r = true;
      out << body.str();
    }
    if (!uses_v) out << "    (void)v;\n";
    if (!uses_r) out << "    (void)r;\n";
    out << "    return true;\n"
        << "  }\n";
    for (const auto& f : st.fields) {
      out << "\n  // @" << f.number << " " << f.name << " : " << idl_type(f.type) << "\n";
      emit_doc(out, f.doc, "  ");
      if (f.type.kind == Kind::kOptional) {
        const TypeRef& e = *f.type.elem;
        out << "  bool has_" << f.name << "() const { return r_.present(" << f.offset << ", "
            << slot_size(f.type) << "); }\n"
            << "  // The default when absent.\n"
            << "  " << view_type(e) << " " << f.name << "() const {\n"
            << "    return has_" << f.name << "() ? " << view_read(e, f.offset + 1) << " : "
            << view_type(e) << "{};\n"
            << "  }\n";
      } else {
        out << "  " << view_type(f.type) << " " << f.name << "() const { return "
            << view_read(f.type, f.offset) << "; }\n";
      }
    }
    out << "\n  const flit::wire::StructReader& reader() const { return r_; }\n\n"
        << " private:\n"
        << "  flit::wire::StructReader r_;\n"
        << "};\n\n";

    // ---- Builder ----
    out << "// Writes one " << n << " in place (flit/wire/builder.h: lifetime, capacity).\n"
        << "class " << n << "Builder {\n"
        << " public:\n"
        << "  static constexpr uint32_t kFixedSize = " << fs << ";\n\n"
        << "  explicit " << n << "Builder(flit::wire::StructBuilder b) : b_(b) {}\n"
        << "  // Starts a message with " << n << " at its root; w must be empty.\n"
        << "  static " << n << "Builder init_root(flit::wire::Writer& w) {\n"
        << "    return " << n << "Builder(flit::wire::StructBuilder::root(w, kFixedSize));\n"
        << "  }\n";
    for (const auto& f : st.fields) {
      out << "\n  // @" << f.number << " " << f.name << " : " << idl_type(f.type) << "\n";
      emit_doc(out, f.doc, "  ");
      builder_methods(out, f);
    }
    out << "\n  const flit::wire::StructBuilder& builder() const { return b_; }\n\n"
        << " private:\n"
        << "  flit::wire::StructBuilder b_;\n"
        << "};\n\n";

    // ---- Owning type ----
    emit_doc(out, st.doc, "");
    out << "// " << n << " as a plain value: copies out of views (decode) and into\n"
        << "// builders (encode). Convenient, not zero-copy: strings and lists allocate.\n"
        << "struct " << n << " {\n"
        << "  static constexpr uint32_t kFixedSize = " << fs << ";\n\n";
    for (const auto& f : st.fields) {
      emit_doc(out, f.doc, "  ");
      out << "  " << owning_type(f.type) << " " << f.name;
      if (scalar_like(f.type)) out << "{}";
      out << ";  // @" << f.number << "\n";
    }
    if (!st.fields.empty()) out << "\n";
    out << "  // Exact number of bytes encode() writes.\n"
        << "  size_t encoded_size() const {\n"
        << "    return flit::wire::kRootHeaderSize + kFixedSize + var_size();\n"
        << "  }\n"
        << "  // Encodes into out[0, encoded_size()); *written = bytes used.\n"
        << "  // kResourceExhausted (nothing written) if out is too small.\n"
        << "  [[nodiscard]] flit::Status encode(std::span<uint8_t> out, size_t* written) const {\n"
        << "    size_t n = encoded_size();\n"
        << "    *written = 0;\n"
        << "    if (n > out.size() || n > flit::wire::kMaxMessageSize) {\n"
        << "      return flit::Status::kResourceExhausted;\n"
        << "    }\n"
        << "    flit::wire::Writer w(out.first(n));\n"
        << "    build(" << n << "Builder::init_root(w));\n"
        << "    *written = w.size();\n"
        << "    return w.finish();\n"
        << "  }\n"
        << "  // Encodes into a buffer's capacity and sets its size (e.g. a flit::MsgBuffer).\n"
        << "  template <flit::wire::ResizableBuffer B>\n"
        << "  [[nodiscard]] flit::Status encode(B& out) const {\n"
        << "    size_t written;\n"
        << "    flit::Status st = encode(std::span<uint8_t>(out.data(), out.capacity()), "
           "&written);\n"
        << "    if (st == flit::Status::kOk) out.resize(written);\n"
        << "    return st;\n"
        << "  }\n"
        << "  // Validates msg and copies it into *out. kInvalidArgument if malformed.\n"
        << "  [[nodiscard]] static flit::Status decode(std::span<const uint8_t> msg, " << n
        << "* out) {\n"
        << "    " << n << "View v;\n"
        << "    flit::Status st = " << n << "View::parse(msg, &v);\n"
        << "    if (st == flit::Status::kOk) from_view(v, out);\n"
        << "    return st;\n"
        << "  }\n\n"
        << "  // Bytes this value appends after its own block.\n"
        << "  size_t var_size() const {\n"
        << "    size_t n = 0;\n";
    for (const auto& f : st.fields) {
      std::string e = var_size(f.type, "this->" + f.name);
      if (!e.empty()) out << "    n += " << e << ";\n";
    }
    out << "    return n;\n"
        << "  }\n"
        << "  // Writes every field through b.\n"
        << "  void build(" << n << "Builder b) const {\n";
    for (const auto& f : st.fields) {
      std::string member = "this->" + f.name;
      if (f.type.kind == Kind::kOptional) {
        out << "    if (" << member << ") {\n";
        build_value(out, *f.type.elem, f.name, "(*" + member + ")", "      ");
        out << "    }\n";
      } else {
        build_value(out, f.type, f.name, member, "    ");
      }
    }
    if (st.fields.empty()) out << "    (void)b;\n";
    out << "  }\n"
        << "  // Copies every field out of a validated view.\n"
        << "  static void from_view(const " << n << "View& v, " << n << "* out) {\n";
    for (const auto& f : st.fields) {
      if (f.type.kind == Kind::kOptional) {
        out << "    if (v.has_" << f.name << "()) {\n"
            << "      out->" << f.name << ".emplace();\n";
        copy_value(out, *f.type.elem, "(*out->" + f.name + ")", "v." + f.name + "()", "      ");
        out << "    } else {\n"
            << "      out->" << f.name << ".reset();\n"
            << "    }\n";
      } else {
        copy_value(out, f.type, "out->" + f.name, "v." + f.name + "()", "    ");
      }
    }
    if (st.fields.empty()) out << "    (void)v;\n    (void)out;\n";
    out << "  }\n\n"
        << "  bool operator==(const " << n << "&) const = default;\n"
        << "};\n\n";
  }

  // Structs of this file, each after the structs it contains.
  std::vector<const StructDecl*> ordered_structs() const {
    std::vector<const StructDecl*> order;
    std::set<const StructDecl*> done;
    std::function<void(const StructDecl*)> visit = [&](const StructDecl* st) {
      if (st->schema != &s_ || !done.insert(st).second) return;
      for (const auto& f : st->fields) {
        const TypeRef* t = &f.type;
        while (t->kind == Kind::kList || t->kind == Kind::kOptional) t = t->elem.get();
        if (t->struct_decl != nullptr) visit(t->struct_decl);
      }
      order.push_back(st);
    };
    for (const auto& st : s_.structs) visit(st.get());
    return order;
  }

  std::string messages() const {
    std::ostringstream out;
    std::string stem = output_stem(s_.file->path);
    out << "// " << stem << ".flit.h: generated by flitc from " << stem << ".flit. Do not edit.\n"
        << "//\n"
        << "// Messages of package " << s_.package_name()
        << ": per struct Foo, FooView (validate once, read in\n"
        << "// place), FooBuilder (write in place) and Foo (plain value with encode/decode).\n"
        << "// Wire format: docs/wire-format.md (Messages).\n"
        << "#pragma once\n\n"
        << "#include <cstddef>\n#include <cstdint>\n#include <optional>\n#include <span>\n"
        << "#include <string>\n#include <string_view>\n#include <vector>\n\n"
        << "#include \"flit/wire/wire.h\"\n";
    for (const auto& imp : s_.imports) {
      std::string inc = imp.path;
      if (inc.size() > 5 && inc.compare(inc.size() - 5, 5, ".flit") == 0)
        inc.resize(inc.size() - 5);
      out << "#include \"" << inc << ".flit.h\"\n";
    }
    out << "\nnamespace " << cpp_namespace(s_) << " {\n\n";
    for (const auto& e : s_.enums) gen_enum(out, *e);
    for (const StructDecl* st : ordered_structs()) gen_struct(out, *st);
    out << "}  // namespace " << cpp_namespace(s_) << "\n";
    return out.str();
  }

  std::string rpc() const {
    std::ostringstream out;
    std::string stem = output_stem(s_.file->path);
    out << "// " << stem << ".flit.rpc.h: generated by flitc from " << stem
        << ".flit. Do not edit.\n"
        << "//\n"
        << "// Services of package " << s_.package_name()
        << ": per service S, SMethods (the method ids), SClient\n"
        << "// (client stub) and SService (server skeleton to subclass). Messages are in\n"
        << "// " << stem << ".flit.h.\n"
        << "#pragma once\n\n"
        << "#include <cstdint>\n#include <utility>\n\n"
        << "#include \"" << stem << ".flit.h\"\n";
    if (!s_.services.empty()) out << "#include \"flit/wire/stub.h\"\n";
    out << "\nnamespace " << cpp_namespace(s_) << " {\n\n";
    for (const auto& sv : s_.services) gen_service(out, *sv);
    out << "}  // namespace " << cpp_namespace(s_) << "\n";
    return out.str();
  }

  void gen_service(std::ostream& out, const ServiceDecl& sv) const {
    const std::string& n = sv.name;
    out << "// Method ids of service " << n << ": the @numbers of " << stem()
        << ".flit, used as flit method ids\n"
        << "// on the wire. Services registered with one Nexus need disjoint ids.\n"
        << "struct " << n << "Methods {\n";
    for (const auto& m : sv.methods) {
      out << "  static constexpr uint16_t " << enumerator_cpp_name(m.name) << " = " << m.number
          << ";\n";
    }
    out << "};\n\n";

    emit_doc(out, sv.doc, "");
    out << "// Client stub of service " << n << " over one session. Owner thread of the Rpc\n"
        << "// only, like the Rpc itself. Cheap to copy.\n"
        << "class " << n << "Client {\n"
        << " public:\n"
        << "  " << n
        << "Client(flit::Rpc& rpc, flit::SessionId session) : rpc_(&rpc), session_(session) {}\n\n"
        << "  flit::Rpc& rpc() const { return *rpc_; }\n"
        << "  flit::SessionId session() const { return session_; }\n";
    for (const auto& m : sv.methods) {
      std::string req = named(m.request), resp = named(m.response);
      std::string id = n + "Methods::" + enumerator_cpp_name(m.name);
      std::string call = "flit::wire::ClientCall<" + named(m.response, "View") + ">";
      out << "\n  // " << m.name << " @" << m.number << " (" << m.request.name << ") -> "
          << m.response.name << "\n";
      emit_doc(out, m.doc, "  ");
      out << "  //\n"
          << "  // Asynchronous: encodes req into call->request(), sends it and returns.\n"
          << "  // done(status) runs once, on the owner thread, from the event loop; on kOk\n"
          << "  // call->reply() is the validated response. Returns non-Ok without running\n"
          << "  // done if the call was not accepted (flit::wire::ClientCall::send).\n"
          << "  // *call must stay where it is until done runs.\n"
          << "  [[nodiscard]] flit::Status " << m.name << "(const " << req << "& req, " << call
          << "* call,\n"
          << "      flit::wire::CallDone done, flit::Duration deadline = flit::Duration::zero()) "
             "{\n"
          << "    flit::Status st = call->encode_request(*rpc_, req);\n"
          << "    if (st != flit::Status::kOk) return st;\n"
          << "    return call->send(*rpc_, session_, " << id << ", std::move(done), deadline);\n"
          << "  }\n"
          << "  // Asynchronous, zero-copy: sends call->request() as the caller built it\n"
          << "  // (with " << named(m.request, "Builder") << ").\n"
          << "  [[nodiscard]] flit::Status " << m.name << "(" << call << "* call,\n"
          << "      flit::wire::CallDone done, flit::Duration deadline = flit::Duration::zero()) "
             "{\n"
          << "    return call->send(*rpc_, session_, " << id << ", std::move(done), deadline);\n"
          << "  }\n"
          << "  // Blocking: sends req and polls the Rpc (running other work on it) until\n"
          << "  // the reply arrives; on kOk *resp holds it. Needs the server to be\n"
          << "  // polled by another thread or process.\n"
          << "  [[nodiscard]] flit::Status " << m.name << "(const " << req << "& req, " << resp
          << "* resp,\n"
          << "      flit::Duration deadline = flit::Duration::zero()) {\n"
          << "    " << call << " call;\n"
          << "    return call.call(*rpc_, session_, " << id << ", req, resp, deadline);\n"
          << "  }\n";
    }
    out << "\n private:\n"
        << "  flit::Rpc* rpc_;\n"
        << "  flit::SessionId session_;\n"
        << "};\n\n";

    emit_doc(out, sv.doc, "");
    out << "// Server skeleton of service " << n << ": subclass it, override the methods you\n"
        << "// serve (the others answer kUnimplemented), and register_with() a Nexus before\n"
        << "// its first Rpc is created. Requests are validated before a method runs; an\n"
        << "// invalid one is answered with kInvalidArgument and never reaches your code.\n"
        << "class " << n << "Service {\n"
        << " public:\n"
        << "  virtual ~" << n << "Service() = default;\n\n"
        << "  // Registers one handler per method. *this must outlive the Nexus's Rpcs.\n"
        << "  // Throws flit::Error if a method id is taken (see " << n << "Methods); then\n"
        << "  // no method of the service is registered.\n"
        << "  void register_with(flit::Nexus& nexus) {\n";
    if (sv.methods.empty()) {
      out << "    (void)nexus;\n";
    } else {
      out << "    for (uint16_t id : {";
      for (size_t i = 0; i < sv.methods.size(); ++i) {
        out << (i == 0 ? "" : ", ") << n << "Methods::" << enumerator_cpp_name(sv.methods[i].name);
      }
      out << "}) {\n"
          << "      if (nexus.is_registered(id)) {\n"
          << "        throw flit::Error(\"" << n
          << "Service::register_with: method id \" + "
             "std::to_string(id) +\n"
          << "                          \" is already registered; no method of " << n
          << "Service was registered\");\n"
          << "      }\n"
          << "    }\n";
    }
    for (const auto& m : sv.methods) {
      std::string view = named(m.request, "View");
      out << "    nexus.register_handler(" << n << "Methods::" << enumerator_cpp_name(m.name)
          << ", [this](flit::ReqHandle* h) {\n"
          << "      " << view << " req;\n"
          << "      if (" << view << "::parse(h->request(), &req) != flit::Status::kOk) {\n"
          << "        h->rpc()->enqueue_response(h, flit::Status::kInvalidArgument);\n"
          << "        return;\n"
          << "      }\n"
          << "      "
          << "this->" << m.name << "(req, flit::wire::Responder<" << named(m.response) << ">(h));\n"
          << "    });\n";
    }
    out << "  }\n\n"
        << " protected:\n";
    for (const auto& m : sv.methods) {
      emit_doc(out, m.doc, "  ");
      out << "  // " << m.name << " @" << m.number
          << ": req is valid until this method returns (to respond later,\n"
          << "  // read it again then with resp.request<" << named(m.request, "View")
          << ">()). Respond exactly once\n"
          << "  // through `resp`, now or later; a Responder dropped unanswered answers "
             "kInternal.\n"
          << "  virtual void " << m.name << "(const " << named(m.request, "View") << "& req,\n"
          << "      flit::wire::Responder<" << named(m.response) << "> resp) {\n"
          << "    (void)req;\n"
          << "    resp.fail(flit::Status::kUnimplemented);\n"
          << "  }\n";
    }
    out << "};\n\n";
  }

  std::string stem() const { return output_stem(s_.file->path); }

 private:
  const Schema& s_;
};

}  // namespace

std::string output_stem(const std::string& input_path) {
  std::string base = input_path;
  size_t slash = base.find_last_of('/');
  if (slash != std::string::npos) base = base.substr(slash + 1);
  if (base.size() > 5 && base.compare(base.size() - 5, 5, ".flit") == 0)
    base.resize(base.size() - 5);
  return base;
}

std::string generate_messages_header(const Schema& schema) { return Gen(schema).messages(); }
std::string generate_rpc_header(const Schema& schema) { return Gen(schema).rpc(); }

}  // namespace flitc
