// tools/flitc/parser.h: recursive-descent parser for the .flit grammar
// (docs/idl.md). Builds an unchecked Schema; stops at the first syntax
// error in a file (reported with its position) and returns false.
#pragma once

#include <vector>

#include "ir.h"
#include "lexer.h"

namespace flitc {

bool parse(const SourceFile& file, const std::vector<Token>& tokens, Diagnostics& diag,
           Schema* out);

}  // namespace flitc
