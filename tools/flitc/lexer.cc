#include "lexer.h"

#include <cctype>

namespace flitc {

const char* tok_name(Tok t) {
  switch (t) {
    case Tok::kEof:
      return "end of file";
    case Tok::kIdent:
      return "identifier";
    case Tok::kInt:
      return "integer";
    case Tok::kString:
      return "string";
    case Tok::kSemi:
      return "';'";
    case Tok::kColon:
      return "':'";
    case Tok::kComma:
      return "','";
    case Tok::kDot:
      return "'.'";
    case Tok::kLBrace:
      return "'{'";
    case Tok::kRBrace:
      return "'}'";
    case Tok::kLParen:
      return "'('";
    case Tok::kRParen:
      return "')'";
    case Tok::kLAngle:
      return "'<'";
    case Tok::kRAngle:
      return "'>'";
    case Tok::kAt:
      return "'@'";
    case Tok::kEquals:
      return "'='";
    case Tok::kMinus:
      return "'-'";
    case Tok::kArrow:
      return "'->'";
  }
  return "?";
}

namespace {

class Lexer {
 public:
  Lexer(const SourceFile& f, Diagnostics& d) : f_(f), s_(f.text), diag_(d) {}

  bool run(std::vector<Token>* out) {
    bool ok = true;
    // A UTF-8 byte order mark, which some editors write first, is no text:
    // skipped, and columns on the first line count from after it.
    if (s_.size() >= 3 && s_.compare(0, 3, "\xEF\xBB\xBF") == 0) i_ = 3;
    for (;;) {
      if (!skip_space_and_comments()) return false;
      Token t;
      t.loc = loc();
      if (i_ >= s_.size()) {
        t.kind = Tok::kEof;
        out->push_back(t);
        return ok;
      }
      char c = s_[i_];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t b = i_;
        while (i_ < s_.size() &&
               (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) {
          advance();
        }
        t.kind = Tok::kIdent;
        t.text = s_.substr(b, i_ - b);
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        if (!number(&t)) ok = false;
      } else if (c == '"') {
        if (!string(&t)) return false;
      } else {
        advance();
        switch (c) {
          case ';':
            t.kind = Tok::kSemi;
            break;
          case ':':
            t.kind = Tok::kColon;
            break;
          case ',':
            t.kind = Tok::kComma;
            break;
          case '.':
            t.kind = Tok::kDot;
            break;
          case '{':
            t.kind = Tok::kLBrace;
            break;
          case '}':
            t.kind = Tok::kRBrace;
            break;
          case '(':
            t.kind = Tok::kLParen;
            break;
          case ')':
            t.kind = Tok::kRParen;
            break;
          case '<':
            t.kind = Tok::kLAngle;
            break;
          case '>':
            t.kind = Tok::kRAngle;
            break;
          case '@':
            t.kind = Tok::kAt;
            break;
          case '=':
            t.kind = Tok::kEquals;
            break;
          case '-':
            if (i_ < s_.size() && s_[i_] == '>') {
              advance();
              t.kind = Tok::kArrow;
            } else {
              t.kind = Tok::kMinus;
            }
            break;
          default: {
            std::string shown = std::isprint(static_cast<unsigned char>(c))
                                    ? std::string(1, c)
                                    : "\\x" + hex_byte(static_cast<unsigned char>(c));
            diag_.error(t.loc, "unexpected character '" + shown + "'");
            return false;
          }
        }
      }
      if (!doc_.empty() && doc_end_line_ == t.loc.line - 1) t.doc = doc_;
      doc_.clear();
      last_token_line_ = line_;
      out->push_back(std::move(t));
    }
  }

 private:
  static std::string hex_byte(unsigned char c) {
    const char* d = "0123456789abcdef";
    return {d[c >> 4], d[c & 15]};
  }
  Loc loc() const { return {&f_, line_, col_}; }
  void advance() {
    if (s_[i_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++i_;
  }

  bool skip_space_and_comments() {
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        advance();
      } else if (c == '/' && i_ + 1 < s_.size() && s_[i_ + 1] == '/') {
        int line = line_;
        size_t b = i_ + 2;
        while (i_ < s_.size() && s_[i_] != '\n') advance();
        if (line != last_token_line_) {  // not a trailing comment
          std::string text = s_.substr(b, i_ - b);
          if (!text.empty() && text[0] == ' ') text.erase(0, 1);
          while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.pop_back();
          if (doc_end_line_ == line - 1 && !doc_.empty()) {
            doc_ += '\n';  // appended in place: a long block stays linear
            doc_ += text;
          } else {
            doc_ = std::move(text);
          }
          doc_end_line_ = line;
        }
      } else if (c == '/' && i_ + 1 < s_.size() && s_[i_ + 1] == '*') {
        Loc start = loc();
        advance();
        advance();
        for (;;) {
          if (i_ >= s_.size()) {
            diag_.error(start, "unterminated comment");
            return false;
          }
          if (s_[i_] == '*' && i_ + 1 < s_.size() && s_[i_ + 1] == '/') {
            advance();
            advance();
            break;
          }
          advance();
        }
      } else {
        break;
      }
    }
    return true;
  }

  bool number(Token* t) {
    size_t b = i_;
    bool hex = s_[i_] == '0' && i_ + 1 < s_.size() && (s_[i_ + 1] == 'x' || s_[i_ + 1] == 'X');
    if (hex) {
      advance();
      advance();
    }
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) {
      advance();
    }
    t->kind = Tok::kInt;
    t->text = s_.substr(b, i_ - b);
    std::string digits = hex ? t->text.substr(2) : t->text;
    unsigned base = hex ? 16 : 10;
    if (digits.empty()) {
      diag_.error(t->loc, "malformed integer '" + t->text + "'");
      return false;
    }
    uint64_t v = 0;
    for (char c : digits) {
      unsigned d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (hex && c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (hex && c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        diag_.error(t->loc, "malformed integer '" + t->text + "'");
        return false;
      }
      if (v > (UINT64_MAX - d) / base) {
        diag_.error(t->loc, "integer '" + t->text + "' does not fit in 64 bits");
        return false;
      }
      v = v * base + d;
    }
    t->value = v;
    return true;
  }

  bool string(Token* t) {
    advance();  // opening quote
    t->kind = Tok::kString;
    for (;;) {
      if (i_ >= s_.size() || s_[i_] == '\n') {
        diag_.error(t->loc, "unterminated string");
        return false;
      }
      char c = s_[i_];
      advance();
      if (c == '"') return true;
      if (c == '\\') {
        if (i_ >= s_.size() || (s_[i_] != '"' && s_[i_] != '\\')) {
          diag_.error(loc(), "unknown escape in string (only \\\" and \\\\ are allowed)");
          return false;
        }
        c = s_[i_];
        advance();
      }
      t->text += c;
    }
  }

  const SourceFile& f_;
  const std::string& s_;
  Diagnostics& diag_;
  size_t i_ = 0;
  int line_ = 1;
  int col_ = 1;
  int last_token_line_ = 0;
  // The run of // comment lines seen since the last token, and its last line.
  std::string doc_;
  int doc_end_line_ = -1;
};

}  // namespace

bool lex(const SourceFile& file, Diagnostics& diag, std::vector<Token>* out) {
  out->clear();
  return Lexer(file, diag).run(out);
}

}  // namespace flitc
