#include "parser.h"

#include <map>
#include <string>

namespace flitc {
namespace {

const std::map<std::string, Kind>& builtin_kinds() {
  static const std::map<std::string, Kind> m = {
      {"bool", Kind::kBool},   {"i8", Kind::kI8},     {"i16", Kind::kI16},
      {"i32", Kind::kI32},     {"i64", Kind::kI64},   {"u8", Kind::kU8},
      {"u16", Kind::kU16},     {"u32", Kind::kU32},   {"u64", Kind::kU64},
      {"f32", Kind::kF32},     {"f64", Kind::kF64},   {"string", Kind::kString},
      {"bytes", Kind::kBytes}, {"list", Kind::kList}, {"optional", Kind::kOptional},
  };
  return m;
}

class Parser {
 public:
  static constexpr int kMaxTypeNesting = 16;

  Parser(const std::vector<Token>& t, Diagnostics& d, Schema* s) : t_(t), diag_(d), s_(s) {}

  bool file() {
    if (!keyword("package", "a file must start with 'package NAME;'")) return false;
    do {
      if (!expect(Tok::kIdent, "package name")) return false;
      s_->package.push_back(prev().text);
      s_->package_locs.push_back(prev().loc);
    } while (accept(Tok::kDot));
    if (!expect(Tok::kSemi, "';' after the package name")) return false;
    while (is_keyword("import")) {
      ++i_;
      Import imp;
      imp.loc = cur().loc;
      if (!expect(Tok::kString, "a quoted file name after 'import'")) return false;
      imp.path = prev().text;
      if (!expect(Tok::kSemi, "';' after the import")) return false;
      s_->imports.push_back(std::move(imp));
    }
    while (cur().kind != Tok::kEof) {
      if (is_keyword("enum")) {
        if (!enum_decl()) return false;
      } else if (is_keyword("struct")) {
        if (!struct_decl()) return false;
      } else if (is_keyword("service")) {
        if (!service_decl()) return false;
      } else if (is_keyword("import")) {
        return fail(cur().loc, "imports must come before the first declaration");
      } else if (is_keyword("package")) {
        return fail(cur().loc, "a file has one package declaration");
      } else {
        return fail(cur().loc, "expected 'enum', 'struct' or 'service', found " + describe(cur()));
      }
    }
    return true;
  }

 private:
  const Token& cur() const { return t_[i_]; }
  const Token& prev() const { return t_[i_ - 1]; }
  bool is_keyword(const char* kw) const { return cur().kind == Tok::kIdent && cur().text == kw; }
  bool accept(Tok k) {
    if (cur().kind != k) return false;
    ++i_;
    return true;
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Tok::kIdent:
        return "'" + t.text + "'";
      case Tok::kInt:
        return "'" + t.text + "'";
      case Tok::kString:
        return "string \"" + t.text + "\"";
      default:
        return tok_name(t.kind);
    }
  }
  bool fail(const Loc& loc, const std::string& msg) {
    diag_.error(loc, msg);
    return false;
  }
  bool expect(Tok k, const std::string& what) {
    if (accept(k)) return true;
    return fail(cur().loc, "expected " + what + ", found " + describe(cur()));
  }
  bool keyword(const char* kw, const std::string& msg) {
    if (is_keyword(kw)) {
      ++i_;
      return true;
    }
    return fail(cur().loc, msg);
  }
  // '@' N
  bool number(uint64_t* n, Loc* loc) {
    if (!expect(Tok::kAt, "'@' and a number")) return false;
    *loc = cur().loc;
    if (!expect(Tok::kInt, "a number after '@'")) return false;
    *n = prev().value;
    return true;
  }

  // nesting: how many list< or optional< enclose this type. The checker
  // allows at most optional<list<T>>; the parser stops far earlier than
  // its own stack would.
  bool type(TypeRef* t, int nesting = 0) {
    t->loc = cur().loc;
    if (nesting > kMaxTypeNesting) {
      diag_.error(t->loc, "types nest more than " + std::to_string(kMaxTypeNesting) +
                              " deep (list<...> and optional<...>)");
      return false;
    }
    if (!expect(Tok::kIdent, "a type")) return false;
    std::string name = prev().text;
    auto it = builtin_kinds().find(name);
    if (it != builtin_kinds().end()) {
      t->kind = it->second;
      if (t->kind == Kind::kList || t->kind == Kind::kOptional) {
        if (!expect(Tok::kLAngle, "'<' after '" + name + "'")) return false;
        t->elem = std::make_unique<TypeRef>();
        if (!type(t->elem.get(), nesting + 1)) return false;
        if (!expect(Tok::kRAngle, "'>' to close '" + name + "<'")) return false;
      }
      return true;
    }
    t->kind = Kind::kNamed;
    t->name = name;
    while (accept(Tok::kDot)) {
      if (!expect(Tok::kIdent, "a name after '.'")) return false;
      t->name += "." + prev().text;
    }
    return true;
  }

  bool enum_decl() {
    ++i_;
    auto e = std::make_unique<EnumDecl>();
    e->doc = prev().doc;
    e->schema = s_;
    e->loc = cur().loc;
    if (!expect(Tok::kIdent, "an enum name")) return false;
    e->name = prev().text;
    if (!expect(Tok::kColon,
                "':' and the underlying integer type (e.g. 'enum " + e->name + " : u8 {')")) {
      return false;
    }
    TypeRef under;
    if (!type(&under)) return false;
    if (!is_integer(under.kind)) {
      return fail(under.loc,
                  "the underlying type of an enum must be an integer type (i8..i64, "
                  "u8..u64)");
    }
    e->underlying = under.kind;
    e->underlying_loc = under.loc;
    if (!expect(Tok::kLBrace, "'{'")) return false;
    while (!accept(Tok::kRBrace)) {
      EnumValue v;
      v.loc = cur().loc;
      v.doc = cur().doc;
      if (!expect(Tok::kIdent, "an enumerator name or '}'")) return false;
      v.name = prev().text;
      if (!expect(Tok::kEquals, "'=' and a value after '" + v.name + "'")) return false;
      v.value_loc = cur().loc;
      v.negative = accept(Tok::kMinus);
      if (!expect(Tok::kInt, "an integer value")) return false;
      v.magnitude = prev().value;
      if (!expect(Tok::kSemi, "';' after the enumerator")) return false;
      e->values.push_back(std::move(v));
    }
    s_->enums.push_back(std::move(e));
    return true;
  }

  bool struct_decl() {
    ++i_;
    auto s = std::make_unique<StructDecl>();
    s->doc = prev().doc;
    s->schema = s_;
    s->loc = cur().loc;
    if (!expect(Tok::kIdent, "a struct name")) return false;
    s->name = prev().text;
    if (!expect(Tok::kLBrace, "'{'")) return false;
    while (!accept(Tok::kRBrace)) {
      Field f;
      f.loc = cur().loc;
      f.doc = cur().doc;
      if (!expect(Tok::kIdent, "a field name or '}'")) return false;
      f.name = prev().text;
      if (!number(&f.number, &f.number_loc)) return false;
      if (!expect(Tok::kColon, "':' and the field's type")) return false;
      if (!type(&f.type)) return false;
      if (!expect(Tok::kSemi, "';' after the field")) return false;
      s->fields.push_back(std::move(f));
    }
    s_->structs.push_back(std::move(s));
    return true;
  }

  bool service_decl() {
    ++i_;
    auto s = std::make_unique<ServiceDecl>();
    s->doc = prev().doc;
    s->loc = cur().loc;
    if (!expect(Tok::kIdent, "a service name")) return false;
    s->name = prev().text;
    if (!expect(Tok::kLBrace, "'{'")) return false;
    while (!accept(Tok::kRBrace)) {
      Method m;
      m.loc = cur().loc;
      m.doc = cur().doc;
      if (!expect(Tok::kIdent, "a method name or '}'")) return false;
      m.name = prev().text;
      if (!number(&m.number, &m.number_loc)) return false;
      if (!expect(Tok::kLParen, "'(' and the request type")) return false;
      if (!type(&m.request)) return false;
      if (!expect(Tok::kRParen, "')'")) return false;
      if (!expect(Tok::kArrow, "'->' and the response type")) return false;
      if (!type(&m.response)) return false;
      if (!expect(Tok::kSemi, "';' after the method")) return false;
      s->methods.push_back(std::move(m));
    }
    s_->services.push_back(std::move(s));
    return true;
  }

  const std::vector<Token>& t_;
  Diagnostics& diag_;
  Schema* s_;
  size_t i_ = 0;
};

}  // namespace

bool parse(const SourceFile& file, const std::vector<Token>& tokens, Diagnostics& diag,
           Schema* out) {
  out->file = &file;
  return Parser(tokens, diag, out).file();
}

}  // namespace flitc
