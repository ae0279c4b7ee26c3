// tools/flitc/lexer.h: turns .flit text into tokens.
//
// Tokens: identifiers, integer literals (decimal or 0x hex; a leading '-' is
// a separate token), string literals ("..." with \" and \\ escapes, used by
// import), the punctuation ; : , . { } ( ) < > @ = and the arrow ->.
// Comments (// to end of line, /* ... */) and whitespace are skipped; a run
// of // lines directly above a token becomes that token's doc.
// Keywords are identifiers; the parser decides what they mean.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "source.h"

namespace flitc {

enum class Tok {
  kEof,
  kIdent,
  kInt,
  kString,
  kSemi,
  kColon,
  kComma,
  kDot,
  kLBrace,
  kRBrace,
  kLParen,
  kRParen,
  kLAngle,
  kRAngle,
  kAt,
  kEquals,
  kMinus,
  kArrow,
};

// How a token kind is named in error messages, e.g. "';'".
const char* tok_name(Tok t);

struct Token {
  Tok kind = Tok::kEof;
  std::string text;    // identifier name, string contents (unescaped), number digits
  uint64_t value = 0;  // kInt
  // The // comment lines directly above this token (none blank in between,
  // not trailing another token's line), without the slashes. Declarations
  // carry it into the generated code. Block comments are never docs.
  std::string doc;
  Loc loc;
};

// Lexes the whole file. Returns false (having reported errors) on a bad
// character, an unterminated string or comment, or an integer that does not
// fit in 64 bits. The token list always ends with kEof.
bool lex(const SourceFile& file, Diagnostics& diag, std::vector<Token>* out);

}  // namespace flitc
