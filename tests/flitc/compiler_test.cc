// Unit tests of flitc's pipeline stages (lexer, parser + checker layout,
// import loading). The backend and the diagnostics are covered end to end
// by golden_test.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "checker.h"
#include "compilation.h"
#include "lexer.h"
#include "parser.h"

namespace flitc {
namespace {

std::vector<Token> lex_ok(const SourceFile& f) {
  Diagnostics d;
  std::vector<Token> t;
  EXPECT_TRUE(lex(f, d, &t));
  EXPECT_EQ(d.error_count(), 0);
  return t;
}

TEST(Lexer, TokensCarryPositionsAndValues) {
  SourceFile f("t.flit", "struct A {\n  x @0x1F : u32; // c\n}");
  std::vector<Token> t = lex_ok(f);
  ASSERT_EQ(t.size(), 11u);
  EXPECT_EQ(t[0].text, "struct");
  EXPECT_EQ(t[3].text, "x");
  EXPECT_EQ(t[3].loc.line, 2);
  EXPECT_EQ(t[3].loc.col, 3);
  EXPECT_EQ(t[4].kind, Tok::kAt);
  EXPECT_EQ(t[5].kind, Tok::kInt);
  EXPECT_EQ(t[5].value, 31u);
  EXPECT_EQ(t[9].kind, Tok::kRBrace);
  EXPECT_EQ(t[10].kind, Tok::kEof);
}

// A UTF-8 byte order mark at the start of a file is skipped (it was an
// unexpected character '\xEF'); anywhere else it is still refused.
TEST(Lexer, ByteOrderMarkAtTheStartIsSkipped) {
  SourceFile f("t.flit", "\xEF\xBB\xBFstruct A {}");
  std::vector<Token> t = lex_ok(f);
  ASSERT_EQ(t.size(), 5u);
  EXPECT_EQ(t[0].text, "struct");
  EXPECT_EQ(t[0].loc.line, 1);
  EXPECT_EQ(t[0].loc.col, 1);
  EXPECT_EQ(t[1].loc.col, 8);
  SourceFile late("t.flit",
                  "struct \xEF\xBB\xBF"
                  "A {}");
  Diagnostics d;
  std::vector<Token> toks;
  EXPECT_FALSE(lex(late, d, &toks));
  EXPECT_EQ(d.error_count(), 1);
}

TEST(Lexer, DocCommentsAttachToTheNextTokenOnly) {
  SourceFile f("t.flit",
               "// one\n// two\nstruct A {  // trailing\n"
               "  a @0 : u8;  // trailing too\n"
               "  // detached\n\n"
               "  b @1 : u8;\n"
               "  /* block */\n"
               "  c @2 : u8;\n}");
  std::vector<Token> t = lex_ok(f);
  EXPECT_EQ(t[0].doc, "one\ntwo");
  for (const Token& tok : t) {
    if (tok.text == "a" || tok.text == "b" || tok.text == "c") {
      EXPECT_EQ(tok.doc, "") << tok.text;
    }
  }
}

TEST(Lexer, RejectsIntegersBeyond64Bits) {
  SourceFile f("t.flit", "18446744073709551615 18446744073709551616");
  Diagnostics d;
  std::vector<Token> t;
  EXPECT_FALSE(lex(f, d, &t));
  EXPECT_EQ(t[0].value, 18446744073709551615u);
}

std::unique_ptr<Schema> parse_and_check(const SourceFile& f, bool* ok) {
  Diagnostics d;
  std::vector<Token> t;
  auto s = std::make_unique<Schema>();
  *ok = lex(f, d, &t) && parse(f, t, d, s.get()) && check(*s, d);
  return s;
}

// A long run of comment lines becomes one doc comment in linear time (it
// was rebuilt for every line), and only the first errors of a file of
// garbage are printed.
TEST(Lexer, LongDocCommentsAndManyErrorsStayCheap) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "// line of a long doc comment\n";
  text += "struct A {}\n";
  SourceFile f("t.flit", text);
  std::vector<Token> t = lex_ok(f);
  ASSERT_FALSE(t.empty());
  EXPECT_EQ(t[0].doc.size(), 20000 * std::string("line of a long doc comment\n").size() - 1);
  std::string garbage;
  for (int i = 0; i < 6000; ++i) garbage += "1a ";  // a malformed integer each
  SourceFile g("g.flit", garbage);
  Diagnostics d;
  std::vector<Token> gt;
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(lex(g, d, &gt));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(d.error_count(), 6000);  // all counted
  EXPECT_LT(err.size(), 60u * 400u) << "every error printed, each with the whole line";
}

TEST(Checker, LaysOutFieldsByNumberWithoutPadding) {
  SourceFile f("t.flit",
               "package p;\n"
               "enum E : u16 { z = 0; }\n"
               "struct S {\n"
               "  o @2 : optional<u64>;\n"
               "  b @0 : bool;\n"
               "  s @1 : string;\n"
               "  e @3 : E;\n"
               "  l @4 : optional<list<S2>>;\n"
               "}\n"
               "struct S2 { x @0 : f32; }\n");
  bool ok = false;
  auto s = parse_and_check(f, &ok);
  ASSERT_TRUE(ok);
  const StructDecl& st = *s->structs[0];
  ASSERT_EQ(st.fields.size(), 5u);
  EXPECT_EQ(st.fields[0].name, "b");
  EXPECT_EQ(st.fields[0].offset, 0u);
  EXPECT_EQ(st.fields[1].name, "s");
  EXPECT_EQ(st.fields[1].offset, 1u);
  EXPECT_EQ(st.fields[2].name, "o");
  EXPECT_EQ(st.fields[2].offset, 9u);
  EXPECT_EQ(st.fields[3].offset, 18u);
  EXPECT_EQ(st.fields[4].offset, 20u);
  EXPECT_EQ(st.fixed_size, 29u);
  EXPECT_EQ(s->structs[1]->fixed_size, 4u);
  EXPECT_EQ(st.fields[3].type.enum_decl, s->enums[0].get());
}

TEST(Checker, EnumeratorNamesBecomeConstants) {
  EXPECT_EQ(enumerator_cpp_name("not_found"), "kNotFound");
  EXPECT_EQ(enumerator_cpp_name("ok"), "kOk");
  EXPECT_EQ(enumerator_cpp_name("HTTP_2"), "kHTTP2");
}

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() /
        ("flitc_import_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "lib");
    std::filesystem::create_directories(dir_ / "src");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& rel, const std::string& text) { std::ofstream(dir_ / rel) << text; }
  // Loads dir_/rel into c and returns what it printed; *schema gets the
  // result (null on error).
  std::string load_printing(Compilation& c, const std::string& rel, const Schema** schema) {
    ::testing::internal::CaptureStderr();
    *schema = c.load((dir_ / rel).string());
    return ::testing::internal::GetCapturedStderr();
  }
  std::filesystem::path dir_;
};

TEST_F(ImportTest, SearchesImportDirsAndLoadsEachFileOnce) {
  write("lib/base.flit", "package base;\nstruct B { x @0 : u8; }\n");
  write("lib/left.flit", "package base;\nimport \"base.flit\";\nstruct L { b @0 : B; }\n");
  write("lib/right.flit", "package base;\nimport \"base.flit\";\nstruct R { b @0 : B; }\n");
  write("src/top.flit",
        "package top;\nimport \"left.flit\";\nimport \"right.flit\";\nimport \"base.flit\";\n"
        "struct T { l @0 : base.L; r @1 : base.R; b @2 : base.B; }\n");
  Diagnostics d;
  Compilation c({(dir_ / "lib").string()}, d);
  const Schema* s = c.load((dir_ / "src/top.flit").string());
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(c.files_read().size(), 4u);  // base.flit once despite three imports
  EXPECT_EQ(s->structs[0]->fields[2].type.struct_decl,
            s->structs[0]->fields[0].type.struct_decl->fields[0].type.struct_decl);
}

// A file that fails is read and reported once, however many files import
// it: a lattice of imports (each level's two files importing both of the
// next level's) above one bad file reported its error once per path, 2^12
// times here, and took exponential time.
TEST_F(ImportTest, AFailedImportIsReportedOnceWhateverImportsIt) {
  constexpr int kLevels = 12;
  write("src/bad.flit", "package p;\nstruct X { x @0 : Nope; }\n");
  auto name = [](int level, char side) { return "l" + std::to_string(level) + side + ".flit"; };
  for (int level = 0; level < kLevels; ++level) {
    for (char side : {'a', 'b'}) {
      std::string text = "package p;\n";
      if (level + 1 < kLevels) {
        text +=
            "import \"" + name(level + 1, 'a') + "\";\nimport \"" + name(level + 1, 'b') + "\";\n";
      } else {
        text += "import \"bad.flit\";\n";
      }
      text += std::string("struct S") + std::to_string(level) + side + " {}\n";
      write("src/" + name(level, side), text);
    }
  }
  Diagnostics d;
  Compilation c({}, d);
  EXPECT_EQ(c.load((dir_ / "src" / name(0, 'a')).string()), nullptr);
  EXPECT_EQ(d.error_count(), 1);
  EXPECT_EQ(c.files_read().size(), size_t{2 * kLevels});  // l0a, both of every other level, bad
}

// An import chain deeper than flitc follows is an error at the import that
// goes too deep, not a stack overflow or a failure to open a file.
TEST_F(ImportTest, ImportsNestedTooDeepAreAnError) {
  constexpr int kFiles = 300;
  for (int i = 0; i < kFiles; ++i) {
    std::string text = "package p;\n";
    if (i + 1 < kFiles) text += "import \"c" + std::to_string(i + 1) + ".flit\";\n";
    text += "struct C" + std::to_string(i) + " {}\n";
    write("src/c" + std::to_string(i) + ".flit", text);
  }
  Diagnostics d;
  Compilation c({}, d);
  EXPECT_EQ(c.load((dir_ / "src/c0.flit").string()), nullptr);
  EXPECT_EQ(d.error_count(), 1);
}

// A header includes every file it imports, whatever their package: two
// files of package q declaring P, imported by a file of another package,
// would define q::P twice; and a struct inner of package a clashes with the
// namespace a::inner of a package a.inner imported with it.
TEST_F(ImportTest, NamesClashAcrossPackagesThroughImports) {
  write("src/q1.flit", "package q;\nstruct P { x @0 : u8; }\n");
  write("src/q2.flit", "package q;\nstruct P { y @0 : u8; }\n");
  write("src/m.flit", "package m;\nimport \"q1.flit\";\nimport \"q2.flit\";\nstruct M {}\n");
  {
    Diagnostics d;
    Compilation c({}, d);
    const Schema* m = nullptr;
    const std::string err = load_printing(c, "src/m.flit", &m);
    EXPECT_EQ(m, nullptr);
    EXPECT_EQ(d.error_count(), 1);
    EXPECT_NE(err.find("q2.flit:2:8: error: 'P' is already declared (at "), std::string::npos)
        << err;
  }
  write("src/ab.flit", "package a.inner;\nstruct Deep {}\n");
  write("src/a.flit", "package a;\nimport \"ab.flit\";\nstruct inner { x @0 : u8; }\n");
  write("src/a2.flit", "package a;\nimport \"ab.flit\";\nstruct Inner { x @0 : u8; }\n");
  {
    Diagnostics d;
    Compilation c({}, d);
    const Schema* a = nullptr;
    const std::string err = load_printing(c, "src/a.flit", &a);
    EXPECT_EQ(a, nullptr);
    EXPECT_NE(err.find("'inner' generates the C++ name 'a::inner', which is also the namespace "
                       "of package 'a.inner'"),
              std::string::npos)
        << err;
    EXPECT_NE(c.load((dir_ / "src/a2.flit").string()), nullptr);  // Inner is fine
  }
}

TEST_F(ImportTest, WithoutTheImportDirTheImportIsNotFound) {
  write("lib/base.flit", "package base;\nstruct B {}\n");
  write("src/top.flit", "package top;\nimport \"base.flit\";\nstruct T { b @0 : base.B; }\n");
  Diagnostics d;
  Compilation c({}, d);
  EXPECT_EQ(c.load((dir_ / "src/top.flit").string()), nullptr);
  EXPECT_EQ(d.error_count(), 1);
}

TEST_F(ImportTest, TypesOfAFileNotImportedAreNotVisible) {
  // top imports mid, mid imports base: base's types are not visible in top.
  write("src/base.flit", "package base;\nstruct B {}\n");
  write("src/mid.flit", "package mid;\nimport \"base.flit\";\nstruct M { b @0 : base.B; }\n");
  write("src/top.flit", "package top;\nimport \"mid.flit\";\nstruct T { b @0 : base.B; }\n");
  Diagnostics d;
  Compilation c({}, d);
  EXPECT_EQ(c.load((dir_ / "src/top.flit").string()), nullptr);
  EXPECT_EQ(d.error_count(), 1);
}

// Files of one package share a C++ namespace, and a generated header
// includes those it imports: a name declared in two of them is an error
// flitc reports, with both positions, not one the C++ compiler finds later.
TEST_F(ImportTest, ANameTheSamePackageImportsDeclaresIsTaken) {
  write("src/common.flit", "package kv;\nstruct Point { x @0 : i32; }\nservice Kv {}\n");
  write("src/other.flit", "package kv;\nstruct Shape { x @0 : i32; }\n");
  write("src/twin.flit", "package kv;\nstruct Point { z @0 : i32; }\n");
  write("src/mid.flit", "package kv;\nimport \"common.flit\";\nstruct Mid { p @0 : Point; }\n");
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"package kv;\nimport \"common.flit\";\nstruct Point { y @0 : i32; }\n",
       "'Point' is already declared (at "},
      {"package kv;\nimport \"mid.flit\";\nstruct PointView { y @0 : i32; }\n",
       "'PointView' generates the C++ name 'PointView', which 'Point' (at "},
      {"package kv;\nimport \"common.flit\";\nstruct KvClient {}\n", "which 'Kv' (at "},
      {"package kv;\nimport \"common.flit\";\nimport \"twin.flit\";\nstruct Ok {}\n",
       "'Point' is already declared (at "},
      {"package kv;\nimport \"mid.flit\";\nimport \"other.flit\";\nstruct Ok {}\n", nullptr},
  };
  int i = 0;
  for (const Case& k : cases) {
    const std::string top = "src/top" + std::to_string(i++) + ".flit";
    write(top, k.text);
    Diagnostics d;
    Compilation c({}, d);
    const Schema* s = nullptr;
    const std::string err = load_printing(c, top, &s);
    if (k.message == nullptr) {
      EXPECT_NE(s, nullptr) << err;
      continue;
    }
    EXPECT_EQ(s, nullptr) << k.text;
    EXPECT_EQ(d.error_count(), 1) << err;
    EXPECT_NE(err.find(k.message), std::string::npos) << err;
    EXPECT_NE(err.find("common.flit:"), std::string::npos) << err;
  }
  // Another package may use the same names: its own namespace.
  write("src/elsewhere.flit",
        "package geo;\nimport \"common.flit\";\nstruct Point { p @0 : kv.Point; }\n");
  Diagnostics d;
  Compilation c({}, d);
  EXPECT_NE(c.load((dir_ / "src/elsewhere.flit").string()), nullptr);
}

}  // namespace
}  // namespace flitc
