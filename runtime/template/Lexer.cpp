#include "runtime/template/Lexer.h"
#include "runtime/template/PyText.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace modelrt::tmpl {

std::string normalizeSource(const std::string &raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t k = 0; k < raw.size(); ++k) {
    if (raw[k] == '\r') {
      out += '\n';
      if (k + 1 < raw.size() && raw[k + 1] == '\n')
        ++k;
    } else {
      out += raw[k];
    }
  }
  // keep_trailing_newline=False
  if (!out.empty() && out.back() == '\n')
    out.pop_back();
  return out;
}

namespace {

bool startsWith(const std::string &s, size_t pos, std::string_view prefix) {
  return s.compare(pos, prefix.size(), prefix) == 0;
}

bool isDigitAt(const std::string &s, size_t pos) {
  return pos < s.size() && s[pos] >= '0' && s[pos] <= '9';
}

class Lexer {
public:
  explicit Lexer(const std::string &source) : src_(source) {
    for (size_t k = 0; k < src_.size(); ++k)
      if (src_[k] == '\n')
        lineStarts_.push_back(k + 1);
  }

  std::vector<Token> run() {
    size_t pos = 0;
    bool lineStarting = true;
    while (pos < src_.size()) {
      size_t tag = findTagStart(pos);
      if (tag == std::string::npos) {
        addText(src_.substr(pos), pos);
        break;
      }
      char type = src_[tag + 1]; // '{', '%' or '#'
      char sign = tag + 2 < src_.size() && (src_[tag + 2] == '-' || src_[tag + 2] == '+')
                      ? src_[tag + 2]
                      : 0;
      size_t rawEnd = type == '%' ? matchRawBegin(tag) : std::string::npos;
      std::string text = src_.substr(pos, tag - pos);
      addText(stripBefore(text, sign, type != '{', lineStarting), pos);
      size_t body = tag + 2 + (sign ? 1 : 0);
      if (rawEnd != std::string::npos) {
        lineStarting = src_[rawEnd - 1] == '\n';
        pos = lexRaw(rawEnd, lineStarting);
      } else if (type == '#') {
        pos = skipComment(tag, body);
      } else {
        pos = lexTag(tag, body, type == '%');
      }
      lineStarting = pos > 0 && src_[pos - 1] == '\n';
    }
    push(Tok::Eof, "", src_.size());
    return std::move(tokens_);
  }

private:
  [[noreturn]] void fail(size_t offset, const std::string &message) const {
    uint32_t line, column;
    position(offset, line, column);
    throw Failure{ErrorCode::InvalidFormat, "line " + std::to_string(line) + ", column " +
                                                std::to_string(column) + ": " + message};
  }

  // Tokens arrive in source order, so the column continues from the previous token on the
  // same line instead of recounting the line (templates are often one long line).
  void position(size_t offset, uint32_t &line, uint32_t &column) const {
    auto it = std::upper_bound(lineStarts_.begin(), lineStarts_.end(), offset);
    line = static_cast<uint32_t>(it - lineStarts_.begin()) + 1;
    size_t start = it == lineStarts_.begin() ? 0 : *(it - 1);
    if (line == cacheLine_ && offset >= cacheOffset_) {
      start = cacheOffset_;
      column = cacheColumn_;
    } else {
      column = 1;
    }
    column +=
        static_cast<uint32_t>(py::length(std::string_view(src_).substr(start, offset - start)));
    cacheLine_ = line;
    cacheOffset_ = offset;
    cacheColumn_ = column;
  }

  Token &push(Tok kind, std::string text, size_t offset) {
    Token t;
    t.kind = kind;
    t.text = std::move(text);
    position(offset, t.line, t.column);
    tokens_.push_back(std::move(t));
    return tokens_.back();
  }

  void addText(const std::string &text, size_t offset) {
    if (!text.empty())
      push(Tok::Text, text, offset);
  }

  size_t findTagStart(size_t pos) const {
    for (size_t k = src_.find('{', pos); k != std::string::npos; k = src_.find('{', k + 1))
      if (k + 1 < src_.size() && (src_[k + 1] == '{' || src_[k + 1] == '%' || src_[k + 1] == '#'))
        return k;
    return std::string::npos;
  }

  // Python `\s`: any str.isspace() code point.
  size_t skipSpace(size_t pos) const {
    while (pos < src_.size()) {
      size_t next = pos;
      if (!py::isSpace(py::decode(src_, next)))
        break;
      pos = next;
    }
    return pos;
  }

  // The text before a tag: `-` strips all trailing whitespace; otherwise lstrip_blocks
  // removes the spaces that only indent a block or comment tag on its own line.
  std::string stripBefore(std::string text, char sign, bool blockOrComment,
                          bool lineStarting) const {
    if (sign == '-')
      return std::string(py::strip(text, false, true));
    if (sign == '+' || !blockOrComment)
      return text;
    size_t lpos = text.rfind('\n');
    lpos = lpos == std::string::npos ? 0 : lpos + 1;
    if (lpos == 0 && !lineStarting)
      return text;
    std::string_view tail = std::string_view(text).substr(lpos);
    if (!tail.empty() && py::strip(tail, true, false).empty())
      text.resize(lpos);
    return text;
  }

  // `{%[-+]? raw [-]?%}`: returns the offset after the tag, or npos when this is not one.
  size_t matchRawBegin(size_t tag) const {
    size_t p = tag + 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+'))
      ++p;
    p = skipSpace(p);
    if (!startsWith(src_, p, "raw"))
      return std::string::npos;
    p = skipSpace(p + 3);
    if (startsWith(src_, p, "-%}"))
      return skipSpace(p + 3);
    if (startsWith(src_, p, "%}"))
      return p + 2;
    return std::string::npos;
  }

  size_t lexRaw(size_t start, bool lineStarting) {
    for (size_t tag = src_.find("{%", start); tag != std::string::npos;
         tag = src_.find("{%", tag + 1)) {
      size_t p = tag + 2;
      char sign = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+'))
        sign = src_[p++];
      p = skipSpace(p);
      if (!startsWith(src_, p, "endraw"))
        continue;
      p = skipSpace(p + 6);
      size_t end = matchBlockEnd(p);
      if (end == std::string::npos)
        continue;
      addText(stripBefore(src_.substr(start, tag - start), sign, true, lineStarting), start);
      return end;
    }
    fail(start, "Missing end of raw directive");
  }

  // After a comment opener: up to and including the first `#}` (with its whitespace control).
  size_t skipComment(size_t tag, size_t body) {
    size_t close = src_.find("#}", body);
    if (close == std::string::npos)
      fail(tag, "Missing end of comment tag");
    if (close > body && src_[close - 1] == '-')
      return skipSpace(close + 2);
    if (close > body && src_[close - 1] == '+')
      return close + 2;
    return close + 2 + (close + 2 < src_.size() && src_[close + 2] == '\n' ? 1 : 0);
  }

  // `+%}`, `-%}` plus following whitespace, or `%}` plus one newline (trim_blocks).
  size_t matchBlockEnd(size_t p) const {
    if (startsWith(src_, p, "+%}"))
      return p + 3;
    if (startsWith(src_, p, "-%}"))
      return skipSpace(p + 3);
    if (startsWith(src_, p, "%}"))
      return p + 2 + (p + 2 < src_.size() && src_[p + 2] == '\n' ? 1 : 0);
    return std::string::npos;
  }

  size_t matchVariableEnd(size_t p) const {
    if (startsWith(src_, p, "-}}"))
      return skipSpace(p + 3);
    if (startsWith(src_, p, "}}"))
      return p + 2;
    return std::string::npos;
  }

  size_t lexTag(size_t tag, size_t p, bool block) {
    push(block ? Tok::BlockBegin : Tok::VarBegin, "", tag);
    std::vector<char> balance;
    while (true) {
      if (p >= src_.size())
        fail(tag, block ? "unexpected end of template, expected end of statement ('%}')"
                        : "unexpected end of template, expected end of print statement ('}}')");
      if (balance.empty()) {
        size_t end = block ? matchBlockEnd(p) : matchVariableEnd(p);
        if (end != std::string::npos) {
          push(block ? Tok::BlockEnd : Tok::VarEnd, "", p);
          return end;
        }
      }
      size_t next = p;
      if (py::isSpace(py::decode(src_, next))) {
        p = skipSpace(p);
        continue;
      }
      char c = src_[p];
      if (c >= '0' && c <= '9') {
        p = lexNumber(p);
      } else if (c == '\'' || c == '"') {
        p = lexString(p);
      } else if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 static_cast<uint8_t>(c) >= 0x80) {
        p = lexName(p);
      } else {
        p = lexOperator(p, balance);
      }
    }
  }

  size_t lexName(size_t p) {
    size_t start = p;
    while (p < src_.size()) {
      char c = src_[p];
      if (c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        ++p;
        continue;
      }
      if (static_cast<uint8_t>(c) < 0x80)
        break;
      size_t next = p;
      if (py::isSpace(py::decode(src_, next)))
        break;
      p = next;
    }
    push(Tok::Name, src_.substr(start, p - start), start);
    return p;
  }

  // `(\d+_)*\d+`: digits, single underscores between them.
  size_t scanDigits(size_t p) const {
    if (!isDigitAt(src_, p))
      return std::string::npos;
    while (true) {
      while (isDigitAt(src_, p))
        ++p;
      if (p < src_.size() && src_[p] == '_' && isDigitAt(src_, p + 1))
        ++p;
      else
        return p;
    }
  }

  size_t lexNumber(size_t start) {
    // Jinja's float rule comes first and must not follow a '.' (as in `foo.0.1`).
    if (start == 0 || src_[start - 1] != '.') {
      size_t intEnd = scanDigits(start);
      size_t end = std::string::npos;
      size_t frac = intEnd;
      if (frac < src_.size() && src_[frac] == '.') {
        size_t f = scanDigits(frac + 1);
        if (f != std::string::npos)
          frac = f;
      }
      if (frac < src_.size() && (src_[frac] == 'e' || src_[frac] == 'E')) {
        size_t e = frac + 1;
        if (e < src_.size() && (src_[e] == '+' || src_[e] == '-'))
          ++e;
        size_t eEnd = scanDigits(e);
        if (eEnd != std::string::npos)
          end = eEnd;
      }
      if (end == std::string::npos && frac != intEnd)
        end = frac; // required fractional part, no exponent
      if (end != std::string::npos) {
        std::string text;
        for (size_t k = start; k < end; ++k)
          if (src_[k] != '_')
            text += src_[k];
        Token &t = push(Tok::Float, text, start);
        t.real = std::strtod(text.c_str(), nullptr);
        return end;
      }
    }
    return lexInteger(start);
  }

  size_t lexInteger(size_t start) {
    int base = 10;
    size_t p = start;
    auto digitOk = [&](char c) {
      c = static_cast<char>(c | 0x20);
      if (base == 2)
        return c == '0' || c == '1';
      if (base == 8)
        return c >= '0' && c <= '7';
      if (base == 16)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      return c >= '0' && c <= '9';
    };
    char prefix = p + 1 < src_.size() ? static_cast<char>(src_[p + 1] | 0x20) : 0;
    bool prefixed = src_[p] == '0' && (prefix == 'b' || prefix == 'o' || prefix == 'x');
    std::string digits;
    if (prefixed) {
      base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : 16;
      size_t q = p + 2;
      while (q < src_.size()) {
        if (src_[q] == '_' && q + 1 < src_.size() && digitOk(src_[q + 1]))
          ++q;
        if (!digitOk(src_[q]))
          break;
        digits += src_[q++];
      }
      if (digits.empty()) {
        prefixed = false;
        base = 10;
      } else {
        p = q;
      }
    }
    if (!prefixed) {
      // `[1-9](_?\d)*` or `0(_?0)*`
      bool zero = src_[p] == '0';
      digits = src_[p++];
      while (p < src_.size()) {
        size_t q = p;
        if (src_[q] == '_')
          ++q;
        if (q >= src_.size() || !(zero ? src_[q] == '0' : isDigitAt(src_, q)))
          break;
        digits += src_[q];
        p = q + 1;
      }
    }
    errno = 0;
    char *endp = nullptr;
    long long value = std::strtoll(digits.c_str(), &endp, base);
    if (errno == ERANGE)
      fail(start, "integer literal too large");
    Token &t = push(Tok::Integer, src_.substr(start, p - start), start);
    t.integer = value;
    return p;
  }

  size_t lexString(size_t start) {
    char quote = src_[start];
    size_t p = start + 1;
    while (p < src_.size() && src_[p] != quote) {
      if (src_[p] == '\\' && p + 1 < src_.size())
        ++p;
      ++p;
    }
    if (p >= src_.size())
      fail(start, std::string("unexpected char ") + (quote == '\'' ? "\"'\"" : "'\"'"));
    std::string value = unescape(src_.substr(start + 1, p - start - 1), start);
    push(Tok::String, std::move(value), start);
    return p + 1;
  }

  // Python's unicode-escape codec, applied the way Jinja applies it (non-ASCII text passes
  // through; a backslash before a non-ASCII character escapes the backslash itself).
  std::string unescape(const std::string &raw, size_t offset) const {
    std::string out;
    auto hexValue = [&](size_t p, size_t n, const char *what) -> uint32_t {
      if (p + n > raw.size())
        fail(offset, std::string("truncated ") + what + " escape");
      uint32_t v = 0;
      for (size_t k = p; k < p + n; ++k) {
        char c = static_cast<char>(raw[k] | 0x20);
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (d < 0)
          fail(offset, std::string("truncated ") + what + " escape");
        v = v * 16 + static_cast<uint32_t>(d);
      }
      return v;
    };
    for (size_t p = 0; p < raw.size();) {
      if (raw[p] != '\\') {
        out += raw[p++];
        continue;
      }
      if (p + 1 >= raw.size())
        fail(offset, "\\ at end of string");
      char c = raw[p + 1];
      p += 2;
      switch (c) {
      case '\n':
        break;
      case '\\':
      case '\'':
      case '"':
        out += c;
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
        py::appendUtf8(out, hexValue(p, 2, "\\xXX"));
        p += 2;
        break;
      case 'u':
        py::appendUtf8(out, hexValue(p, 4, "\\uXXXX"));
        p += 4;
        break;
      case 'U': {
        uint32_t cp = hexValue(p, 8, "\\UXXXXXXXX");
        if (cp > 0x10FFFF)
          fail(offset, "illegal Unicode character");
        py::appendUtf8(out, cp);
        p += 8;
        break;
      }
      case 'N':
        fail(offset, "malformed \\N character escape");
      default:
        if (c >= '0' && c <= '7') {
          uint32_t v = static_cast<uint32_t>(c - '0');
          for (int k = 0; k < 2 && p < raw.size() && raw[p] >= '0' && raw[p] <= '7'; ++k)
            v = v * 8 + static_cast<uint32_t>(raw[p++] - '0');
          py::appendUtf8(out, v);
        } else if (static_cast<uint8_t>(c) >= 0x80) {
          // backslashreplace turned the character into \xNN / \uNNNN / \UNNNNNNNN, whose
          // backslash the escaped backslash then consumed.
          size_t q = p - 1;
          uint32_t cp = py::decode(raw, q);
          p = q;
          char buf[16];
          std::snprintf(buf, sizeof buf,
                        cp < 0x100     ? "\\x%02x"
                        : cp < 0x10000 ? "\\u%04x"
                                       : "\\U%08x",
                        cp);
          out += buf;
        } else {
          out += '\\';
          out += c;
        }
      }
    }
    return out;
  }

  size_t lexOperator(size_t p, std::vector<char> &balance) {
    static const char *const kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char *op : kTwo)
      if (startsWith(src_, p, op)) {
        push(Tok::Op, op, p);
        return p + 2;
      }
    char c = src_[p];
    static const std::string kOne = "+-/*%~[](){}><=.:|,;";
    if (kOne.find(c) == std::string::npos) {
      size_t next = p;
      uint32_t cp = py::decode(src_, next);
      std::string shown;
      py::appendUtf8(shown, cp);
      fail(p, "unexpected char " + py::repr(shown));
    }
    if (c == '(' || c == '[' || c == '{')
      balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    if (c == ')' || c == ']' || c == '}') {
      if (balance.empty())
        fail(p, std::string("unexpected '") + c + "'");
      if (balance.back() != c)
        fail(p, std::string("unexpected '") + c + "', expected '" + balance.back() + "'");
      balance.pop_back();
    }
    push(Tok::Op, std::string(1, c), p);
    return p + 1;
  }

  const std::string &src_;
  std::vector<size_t> lineStarts_;
  std::vector<Token> tokens_;
  mutable uint32_t cacheLine_ = 0;
  mutable size_t cacheOffset_ = 0;
  mutable uint32_t cacheColumn_ = 1;
};

} // namespace

std::vector<Token> tokenize(const std::string &source) { return Lexer(source).run(); }

} // namespace modelrt::tmpl
