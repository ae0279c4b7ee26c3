// tools/flitc/source.h: source files and compiler diagnostics.
//
// Every error flitc reports names a position in a SourceFile and is printed
// the way C compilers print them:
//
//   kv.flit:3:18: error: unknown type 'Strng'
//     struct A { s @0 : Strng; }
//                       ^
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace flitc {

// One .flit file's text. Owned by the Compilation; Locs point at it.
struct SourceFile {
  std::string path;  // as given on the command line or resolved from an import
  std::string text;
  std::vector<size_t> line_starts;  // byte offset of each line's first byte

  SourceFile(std::string p, std::string t);
  // The text of line `line` (1-based), without its newline.
  std::string_view line_text(int line) const;
};

// A position: 1-based line and column (in bytes).
struct Loc {
  const SourceFile* file = nullptr;
  int line = 0;
  int col = 0;
};

// Collects errors and prints them to stderr as they arrive.
class Diagnostics {
 public:
  void error(const Loc& loc, const std::string& msg);
  // An error with no position (bad command line, unreadable file).
  void error(const std::string& msg);
  int error_count() const { return errors_; }

 private:
  bool printing();  // counts one more error; false once too many were shown
  int errors_ = 0;
};

}  // namespace flitc
