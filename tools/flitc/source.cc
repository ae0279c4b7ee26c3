#include "source.h"

#include <cstdio>

namespace flitc {

SourceFile::SourceFile(std::string p, std::string t) : path(std::move(p)), text(std::move(t)) {
  line_starts.push_back(0);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') line_starts.push_back(i + 1);
  }
}

std::string_view SourceFile::line_text(int line) const {
  if (line < 1 || static_cast<size_t>(line) > line_starts.size()) return {};
  size_t begin = line_starts[line - 1];
  size_t end = static_cast<size_t>(line) < line_starts.size() ? line_starts[line] - 1 : text.size();
  std::string_view s(text.data() + begin, end - begin);
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

void Diagnostics::error(const Loc& loc, const std::string& msg) {
  ++errors_;
  if (loc.file == nullptr) {
    error(msg);
    --errors_;
    return;
  }
  std::fprintf(stderr, "%s:%d:%d: error: %s\n", loc.file->path.c_str(), loc.line, loc.col,
               msg.c_str());
  std::string_view src = loc.file->line_text(loc.line);
  std::string caret;
  // Keep tabs so the caret lines up under the same characters.
  for (int i = 0; i + 1 < loc.col && static_cast<size_t>(i) < src.size(); ++i) {
    caret += src[i] == '\t' ? '\t' : ' ';
  }
  caret += '^';
  std::fprintf(stderr, "  %.*s\n  %s\n", static_cast<int>(src.size()), src.data(), caret.c_str());
}

void Diagnostics::error(const std::string& msg) {
  ++errors_;
  std::fprintf(stderr, "flitc: error: %s\n", msg.c_str());
}

}  // namespace flitc
