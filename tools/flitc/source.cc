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

// Errors printed before the rest are only counted: a file of garbage says
// what is wrong in its first few, not in a flood.
constexpr int kMaxPrintedErrors = 50;
// Source shown around an error's column, at most this many bytes each side.
constexpr size_t kContext = 80;

bool Diagnostics::printing() {
  ++errors_;
  if (errors_ <= kMaxPrintedErrors) return true;
  if (errors_ == kMaxPrintedErrors + 1) {
    std::fprintf(stderr, "flitc: too many errors; the rest are not shown\n");
  }
  return false;
}

void Diagnostics::error(const Loc& loc, const std::string& msg) {
  if (loc.file == nullptr) {
    error(msg);
    return;
  }
  if (!printing()) return;
  std::fprintf(stderr, "%s:%d:%d: error: %s\n", loc.file->path.c_str(), loc.line, loc.col,
               msg.c_str());
  std::string_view src = loc.file->line_text(loc.line);
  // A long line (over 2 x kContext) is cut to the part around the column.
  const size_t col = loc.col > 0 ? static_cast<size_t>(loc.col - 1) : 0;
  size_t from = 0;
  std::string pre, post;
  if (src.size() > 2 * kContext) {
    if (col > kContext) {
      from = col - kContext;
      pre = "...";
    }
    if (src.size() > col + kContext) {
      src = src.substr(0, col + kContext);
      post = "...";
    }
  }
  src.remove_prefix(std::min(from, src.size()));
  std::string caret(pre.size(), ' ');
  // Keep tabs so the caret lines up under the same characters.
  for (size_t i = 0; from + i < col && i < src.size(); ++i) caret += src[i] == '\t' ? '\t' : ' ';
  caret += '^';
  std::fprintf(stderr, "  %s%.*s%s\n  %s\n", pre.c_str(), static_cast<int>(src.size()), src.data(),
               post.c_str(), caret.c_str());
}

void Diagnostics::error(const std::string& msg) {
  if (!printing()) return;
  std::fprintf(stderr, "flitc: error: %s\n", msg.c_str());
}

}  // namespace flitc
