#include "runtime/template/PyText.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace modelrt::tmpl::py {

namespace {

// Bytes that are not well-formed UTF-8 decode to U+DC80..U+DCFF (Python's surrogateescape)
// and encode back to the same byte, so text round-trips unchanged.
constexpr uint32_t kEscapedByteBase = 0xDC00;

bool inRange(uint32_t cp, uint32_t lo, uint32_t hi) { return cp >= lo && cp <= hi; }

// Pairs laid out as (upper, lower) on even/odd or odd/even code points.
bool pairedUpper(uint32_t cp, uint32_t lo, uint32_t hi, bool upperEven) {
  return inRange(cp, lo, hi) && ((cp % 2 == 0) == upperEven);
}

} // namespace

uint32_t decode(std::string_view s, size_t &pos) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t lead = byte(pos);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  size_t need = lead >= 0xF0 && lead <= 0xF4   ? 4
                : lead >= 0xE0 && lead <= 0xEF ? 3
                : lead >= 0xC2 && lead <= 0xDF ? 2
                                               : 0;
  if (need == 0 || pos + need > s.size()) {
    ++pos;
    return kEscapedByteBase + lead;
  }
  uint32_t cp = lead & (need == 2 ? 0x1F : need == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < need; ++k) {
    uint8_t c = byte(pos + k);
    if ((c & 0xC0) != 0x80) {
      ++pos;
      return kEscapedByteBase + lead;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  bool overlong = (need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000);
  if (overlong || cp > 0x10FFFF || inRange(cp, 0xD800, 0xDFFF)) {
    ++pos;
    return kEscapedByteBase + lead;
  }
  pos += need;
  return cp;
}

void appendUtf8(std::string &out, uint32_t cp) {
  if (inRange(cp, 0xDC80, 0xDCFF)) {
    out.push_back(static_cast<char>(cp - kEscapedByteBase));
  } else if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool isAscii(std::string_view s) {
  for (char c : s)
    if (static_cast<uint8_t>(c) >= 0x80)
      return false;
  return true;
}

size_t length(std::string_view s) {
  if (isAscii(s))
    return s.size();
  size_t n = 0;
  for (size_t pos = 0; pos < s.size(); ++n)
    decode(s, pos);
  return n;
}

size_t byteOffset(std::string_view s, size_t index) {
  size_t pos = 0;
  for (size_t k = 0; k < index && pos < s.size(); ++k)
    decode(s, pos);
  return pos;
}

std::vector<std::string_view> codePoints(std::string_view s) {
  std::vector<std::string_view> out;
  for (size_t pos = 0; pos < s.size();) {
    size_t start = pos;
    decode(s, pos);
    out.push_back(s.substr(start, pos - start));
  }
  return out;
}

bool isSpace(uint32_t cp) {
  return inRange(cp, 0x09, 0x0D) || inRange(cp, 0x1C, 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || inRange(cp, 0x2000, 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool isLineBreak(uint32_t cp) {
  return inRange(cp, 0x0A, 0x0D) || inRange(cp, 0x1C, 0x1E) || cp == 0x85 || cp == 0x2028 ||
         cp == 0x2029;
}

uint32_t toUpper(uint32_t cp) {
  if (cp < 0x80)
    return inRange(cp, 'a', 'z') ? cp - 32 : cp;
  if ((inRange(cp, 0xE0, 0xFE) && cp != 0xF7))
    return cp - 32;
  if (cp == 0xFF)
    return 0x178;
  if (cp == 0xB5)
    return 0x39C;
  if (cp == 0x131)
    return 'I';
  if (cp == 0x17F)
    return 'S';
  if (pairedUpper(cp, 0x100, 0x12F, true) || pairedUpper(cp, 0x132, 0x137, true) ||
      pairedUpper(cp, 0x14A, 0x177, true) || pairedUpper(cp, 0x460, 0x481, true) ||
      pairedUpper(cp, 0x48A, 0x4BF, true) || pairedUpper(cp, 0x1E00, 0x1E95, true) ||
      pairedUpper(cp, 0x1EA0, 0x1EFF, true))
    return cp % 2 == 1 ? cp - 1 : cp;
  if (pairedUpper(cp, 0x139, 0x148, false) || pairedUpper(cp, 0x179, 0x17E, false))
    return cp % 2 == 0 ? cp - 1 : cp;
  if (inRange(cp, 0x3B1, 0x3C9) && cp != 0x3C2)
    return cp - 32;
  if (cp == 0x3C2)
    return 0x3A3;
  if (cp == 0x3AC)
    return 0x386;
  if (inRange(cp, 0x3AD, 0x3AF))
    return cp - 37;
  if (cp == 0x3CC)
    return 0x38C;
  if (inRange(cp, 0x3CD, 0x3CE))
    return cp - 63;
  if (inRange(cp, 0x430, 0x44F))
    return cp - 32;
  if (inRange(cp, 0x450, 0x45F))
    return cp - 80;
  if (inRange(cp, 0xFF41, 0xFF5A))
    return cp - 32;
  return cp;
}

uint32_t toLower(uint32_t cp) {
  if (cp < 0x80)
    return inRange(cp, 'A', 'Z') ? cp + 32 : cp;
  if (inRange(cp, 0xC0, 0xDE) && cp != 0xD7)
    return cp + 32;
  if (cp == 0x178)
    return 0xFF;
  if (cp == 0x130)
    return 'i';
  if (pairedUpper(cp, 0x100, 0x12F, true) || pairedUpper(cp, 0x132, 0x137, true) ||
      pairedUpper(cp, 0x14A, 0x177, true) || pairedUpper(cp, 0x460, 0x481, true) ||
      pairedUpper(cp, 0x48A, 0x4BF, true) || pairedUpper(cp, 0x1E00, 0x1E95, true) ||
      pairedUpper(cp, 0x1EA0, 0x1EFF, true))
    return cp + 1;
  if (pairedUpper(cp, 0x139, 0x148, false) || pairedUpper(cp, 0x179, 0x17E, false))
    return cp + 1;
  if (inRange(cp, 0x391, 0x3A9) && cp != 0x3A2)
    return cp + 32;
  if (cp == 0x386)
    return 0x3AC;
  if (inRange(cp, 0x388, 0x38A))
    return cp + 37;
  if (cp == 0x38C)
    return 0x3CC;
  if (inRange(cp, 0x38E, 0x38F))
    return cp + 63;
  if (inRange(cp, 0x410, 0x42F))
    return cp + 32;
  if (inRange(cp, 0x400, 0x40F))
    return cp + 80;
  if (inRange(cp, 0xFF21, 0xFF3A))
    return cp + 32;
  return cp;
}

bool isUpper(uint32_t cp) { return toLower(cp) != cp; }
bool isLower(uint32_t cp) { return toUpper(cp) != cp || cp == 0xDF || cp == 0x138 || cp == 0x149; }
bool isCased(uint32_t cp) { return isUpper(cp) || isLower(cp); }

bool isAlpha(uint32_t cp) {
  if (cp < 0x80)
    return inRange(cp, 'a', 'z') || inRange(cp, 'A', 'Z');
  return isCased(cp) || cp == 0xAA || cp == 0xBA || inRange(cp, 0x5D0, 0x5EA) ||
         inRange(cp, 0x620, 0x64A) || inRange(cp, 0x904, 0x939) || inRange(cp, 0xE01, 0xE30) ||
         inRange(cp, 0x3041, 0x3096) || inRange(cp, 0x30A1, 0x30FA) ||
         inRange(cp, 0x3400, 0x4DBF) || inRange(cp, 0x4E00, 0x9FFF) || inRange(cp, 0xAC00, 0xD7A3);
}

bool isDigit(uint32_t cp) {
  return inRange(cp, '0', '9') || cp == 0xB2 || cp == 0xB3 || cp == 0xB9 ||
         inRange(cp, 0x660, 0x669) || inRange(cp, 0x6F0, 0x6F9) || inRange(cp, 0x966, 0x96F) ||
         cp == 0x2070 || inRange(cp, 0x2074, 0x2079) || inRange(cp, 0x2080, 0x2089) ||
         inRange(cp, 0x2460, 0x2468) || inRange(cp, 0xFF10, 0xFF19);
}

namespace {

// Appends the upper case of cp; ß and ligature-like letters widen the way Python's do.
void appendUpper(std::string &out, uint32_t cp) {
  if (cp == 0xDF) {
    out += "SS";
    return;
  }
  appendUtf8(out, toUpper(cp));
}

void appendLower(std::string &out, uint32_t cp) {
  if (cp == 0x130) {
    out += "i\xCC\x87"; // i + combining dot above
    return;
  }
  appendUtf8(out, toLower(cp));
}

// Python lowers a capital sigma to final sigma when it ends a word.
bool isFinalSigma(std::string_view s, size_t start, size_t end) {
  bool casedBefore = false;
  for (size_t pos = 0; pos < start;) {
    uint32_t cp = decode(s, pos);
    casedBefore = isCased(cp);
  }
  if (!casedBefore)
    return false;
  if (end >= s.size())
    return true;
  size_t pos = end;
  return !isCased(decode(s, pos));
}

} // namespace

std::string upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();)
    appendUpper(out, decode(s, pos));
  return out;
}

std::string lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    size_t start = pos;
    uint32_t cp = decode(s, pos);
    if (cp == 0x3A3 && isFinalSigma(s, start, pos))
      appendUtf8(out, 0x3C2);
    else
      appendLower(out, cp);
  }
  return out;
}

std::string swapcase(std::string_view s) {
  std::string out;
  for (size_t pos = 0; pos < s.size();) {
    uint32_t cp = decode(s, pos);
    if (isUpper(cp))
      appendLower(out, cp);
    else if (isLower(cp))
      appendUpper(out, cp);
    else
      appendUtf8(out, cp);
  }
  return out;
}

std::string title(std::string_view s) {
  std::string out;
  bool previousCased = false;
  for (size_t pos = 0; pos < s.size();) {
    uint32_t cp = decode(s, pos);
    if (previousCased)
      appendLower(out, cp);
    else if (cp == 0xDF)
      out += "Ss";
    else
      appendUtf8(out, toUpper(cp));
    previousCased = isCased(cp);
  }
  return out;
}

std::string capitalize(std::string_view s) {
  std::string out;
  bool first = true;
  for (size_t pos = 0; pos < s.size();) {
    uint32_t cp = decode(s, pos);
    if (first && cp == 0xDF)
      out += "Ss";
    else if (first)
      appendUtf8(out, toUpper(cp));
    else
      appendLower(out, cp);
    first = false;
  }
  return out;
}

std::string_view strip(std::string_view s, bool left, bool right,
                       const std::optional<std::string_view> &chars) {
  std::vector<uint32_t> set;
  if (chars)
    for (size_t pos = 0; pos < chars->size();)
      set.push_back(decode(*chars, pos));
  auto strippable = [&](uint32_t cp) {
    if (!chars)
      return isSpace(cp);
    for (uint32_t c : set)
      if (c == cp)
        return true;
    return false;
  };
  // Code point boundaries, so the right end can be walked backwards.
  std::vector<size_t> starts;
  std::vector<uint32_t> cps;
  for (size_t pos = 0; pos < s.size();) {
    starts.push_back(pos);
    cps.push_back(decode(s, pos));
  }
  starts.push_back(s.size());
  size_t first = 0, last = cps.size();
  if (left)
    while (first < last && strippable(cps[first]))
      ++first;
  if (right)
    while (last > first && strippable(cps[last - 1]))
      --last;
  return s.substr(starts[first], starts[last] - starts[first]);
}

std::vector<std::string> split(std::string_view s, const std::optional<std::string_view> &sep,
                               long long maxsplit, bool fromRight) {
  std::vector<std::string> parts;
  if (sep) {
    if (!fromRight) {
      size_t pos = 0;
      while (maxsplit < 0 || static_cast<long long>(parts.size()) < maxsplit) {
        size_t hit = s.find(*sep, pos);
        if (hit == std::string_view::npos)
          break;
        parts.emplace_back(s.substr(pos, hit - pos));
        pos = hit + sep->size();
      }
      parts.emplace_back(s.substr(pos));
      return parts;
    }
    size_t end = s.size();
    while (maxsplit < 0 || static_cast<long long>(parts.size()) < maxsplit) {
      if (end < sep->size())
        break;
      size_t hit = s.rfind(*sep, end - sep->size());
      if (hit == std::string_view::npos)
        break;
      parts.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
      end = hit;
    }
    parts.emplace_back(s.substr(0, end));
    return {parts.rbegin(), parts.rend()};
  }
  // Whitespace runs separate words; the remainder after maxsplit keeps its inner spacing.
  std::vector<std::pair<size_t, size_t>> words; // byte ranges
  for (size_t pos = 0; pos < s.size();) {
    size_t start = pos;
    if (isSpace(decode(s, pos)))
      continue;
    size_t end = pos;
    while (pos < s.size()) {
      size_t next = pos;
      if (isSpace(decode(s, next)))
        break;
      end = pos = next;
    }
    words.emplace_back(start, end);
  }
  size_t n = words.size();
  if (maxsplit < 0 || static_cast<size_t>(maxsplit) >= n) {
    for (auto [b, e] : words)
      parts.emplace_back(s.substr(b, e - b));
    return parts;
  }
  size_t keep = static_cast<size_t>(maxsplit);
  if (!fromRight) {
    for (size_t k = 0; k < keep; ++k)
      parts.emplace_back(s.substr(words[k].first, words[k].second - words[k].first));
    std::string_view rest = s.substr(words[keep].first);
    parts.emplace_back(rest);
    return parts;
  }
  size_t firstKept = n - keep;
  parts.emplace_back(s.substr(0, words[firstKept - 1].second));
  for (size_t k = firstKept; k < n; ++k)
    parts.emplace_back(s.substr(words[k].first, words[k].second - words[k].first));
  return parts;
}

std::vector<std::string> splitlines(std::string_view s, bool keepends) {
  std::vector<std::string> lines;
  size_t lineStart = 0;
  for (size_t pos = 0; pos < s.size();) {
    size_t start = pos;
    uint32_t cp = decode(s, pos);
    if (!isLineBreak(cp))
      continue;
    if (cp == '\r' && pos < s.size() && s[pos] == '\n')
      ++pos;
    lines.emplace_back(s.substr(lineStart, (keepends ? pos : start) - lineStart));
    lineStart = pos;
  }
  if (lineStart < s.size())
    lines.emplace_back(s.substr(lineStart));
  return lines;
}

std::string replace(std::string_view s, std::string_view from, std::string_view to,
                    long long count) {
  std::string out;
  long long done = 0;
  if (from.empty()) {
    std::vector<std::string_view> cps = codePoints(s);
    for (size_t k = 0; k <= cps.size(); ++k) {
      if (count < 0 || done < count) {
        out += to;
        ++done;
      }
      if (k < cps.size())
        out += cps[k];
    }
    return out;
  }
  size_t pos = 0;
  while (count < 0 || done < count) {
    size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos)
      break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
    ++done;
  }
  out.append(s.substr(pos));
  return out;
}

long long find(std::string_view s, std::string_view sub, bool fromRight) {
  size_t hit = fromRight ? s.rfind(sub) : s.find(sub);
  if (hit == std::string_view::npos)
    return -1;
  return static_cast<long long>(length(s.substr(0, hit)));
}

long long count(std::string_view s, std::string_view sub) {
  if (sub.empty())
    return static_cast<long long>(length(s)) + 1;
  long long n = 0;
  for (size_t pos = s.find(sub); pos != std::string_view::npos; pos = s.find(sub, pos + sub.size()))
    ++n;
  return n;
}

namespace {

bool isPrintable(uint32_t cp) {
  if (cp < 0x20 || inRange(cp, 0x7F, 0xA0))
    return false;
  if (cp < 0x7F)
    return true;
  return !(cp == 0xAD || inRange(cp, 0x600, 0x605) || cp == 0x61C || cp == 0x6DD || cp == 0x70F ||
           cp == 0x1680 || cp == 0x180E || inRange(cp, 0x2000, 0x200F) ||
           inRange(cp, 0x2028, 0x202F) || inRange(cp, 0x205F, 0x2064) ||
           inRange(cp, 0x2066, 0x206F) || cp == 0x3000 || inRange(cp, 0xD800, 0xF8FF) ||
           cp == 0xFEFF || inRange(cp, 0xFFF9, 0xFFFB) || cp == 0xFFFE || cp == 0xFFFF ||
           inRange(cp, 0xE0000, 0xE007F) || cp >= 0xF0000);
}

} // namespace

std::string repr(std::string_view s) {
  bool hasSingle = s.find('\'') != std::string_view::npos;
  bool hasDouble = s.find('"') != std::string_view::npos;
  char quote = hasSingle && !hasDouble ? '"' : '\'';
  std::string out(1, quote);
  for (size_t pos = 0; pos < s.size();) {
    uint32_t cp = decode(s, pos);
    char buf[16];
    if (cp == static_cast<uint32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (isPrintable(cp)) {
      appendUtf8(out, cp);
    } else {
      if (cp < 0x100)
        std::snprintf(buf, sizeof buf, "\\x%02x", cp);
      else if (cp < 0x10000)
        std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      else
        std::snprintf(buf, sizeof buf, "\\U%08x", cp);
      out += buf;
    }
  }
  out += quote;
  return out;
}

std::string floatRepr(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  // sci is "[-]d[.ddd]e[+-]XX": split it into sign, digits and decimal exponent.
  bool negative = sci[0] == '-';
  size_t ePos = sci.find('e');
  std::string mantissa = sci.substr(negative ? 1 : 0, ePos - (negative ? 1 : 0));
  int exponent = std::stoi(sci.substr(ePos + 1));
  std::string digits;
  for (char c : mantissa)
    if (c != '.')
      digits += c;
  int decpt = exponent + 1; // value = 0.digits * 10^decpt
  std::string out = negative ? "-" : "";
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0.";
      out.append(static_cast<size_t>(-decpt), '0');
      out += digits;
    } else if (static_cast<size_t>(decpt) >= digits.size()) {
      out += digits;
      out.append(static_cast<size_t>(decpt) - digits.size(), '0');
      out += ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(decpt));
      out += '.';
      out += digits.substr(static_cast<size_t>(decpt));
    }
    return out;
  }
  out += digits[0];
  if (digits.size() > 1) {
    out += '.';
    out += digits.substr(1);
  }
  int e = decpt - 1;
  std::snprintf(buf, sizeof buf, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
  out += buf;
  return out;
}

} // namespace modelrt::tmpl::py
