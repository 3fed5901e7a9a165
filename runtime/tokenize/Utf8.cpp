#include "runtime/tokenize/Utf8.h"

namespace modelrt::utf8 {

size_t expectedLength(uint8_t c) {
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return 2;
  if (c >= 0xE0 && c <= 0xEF)
    return 3;
  if (c >= 0xF0 && c <= 0xF4)
    return 4;
  return 0;
}

size_t sequenceLength(std::string_view s) {
  if (s.empty())
    return 0;
  const uint8_t *p = reinterpret_cast<const uint8_t *>(s.data());
  size_t n = expectedLength(p[0]);
  if (n == 0 || n > s.size())
    return 0;
  for (size_t k = 1; k < n; ++k)
    if ((p[k] & 0xC0) != 0x80)
      return 0;
  if (n == 3) {
    if (p[0] == 0xE0 && p[1] < 0xA0)
      return 0; // overlong
    if (p[0] == 0xED && p[1] >= 0xA0)
      return 0; // surrogate
  } else if (n == 4) {
    if (p[0] == 0xF0 && p[1] < 0x90)
      return 0; // overlong
    if (p[0] == 0xF4 && p[1] >= 0x90)
      return 0; // past U+10FFFF
  }
  return n;
}

size_t firstInvalid(std::string_view s) {
  size_t k = 0;
  while (k < s.size()) {
    if (static_cast<uint8_t>(s[k]) < 0x80) {
      ++k;
      continue;
    }
    size_t n = sequenceLength(s.substr(k));
    if (n == 0)
      return k;
    k += n;
  }
  return s.size();
}

void append(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

uint32_t decode(std::string_view s, size_t n) {
  const auto *p = reinterpret_cast<const uint8_t *>(s.data());
  uint32_t cp = p[0] & (n == 1 ? 0x7F : n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < n; ++k)
    cp = (cp << 6) | (p[k] & 0x3F);
  return cp;
}

} // namespace modelrt::utf8
