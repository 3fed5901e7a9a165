#include "runtime/sample/Utf8Ranges.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace modelrt::sample::utf8 {

Ranges normalized(Ranges r) {
  Ranges split;
  for (auto [lo, hi] : r) {
    if (lo <= 0xD7FF || hi >= 0xE000) {
      if (lo < 0xD800 && hi >= 0xD800)
        split.push_back({lo, 0xD7FF});
      else if (lo < 0xD800)
        split.push_back({lo, hi});
      if (hi > 0xDFFF)
        split.push_back({std::max<uint32_t>(lo, 0xE000), hi});
    }
  }
  std::sort(split.begin(), split.end());
  Ranges out;
  for (auto [lo, hi] : split) {
    if (!out.empty() && lo <= out.back().second + 1)
      out.back().second = std::max(out.back().second, hi);
    else
      out.push_back({lo, hi});
  }
  return out;
}

Ranges complement(const Ranges &r) {
  Ranges out;
  uint32_t next = 0;
  for (auto [lo, hi] : normalized(r)) {
    if (lo > next)
      out.push_back({next, lo - 1});
    next = hi + 1;
  }
  if (next <= kMaxCodePoint)
    out.push_back({next, kMaxCodePoint});
  return normalized(out);
}

void encode(uint32_t c, uint8_t out[4]) {
  switch (length(c)) {
  case 1:
    out[0] = uint8_t(c);
    break;
  case 2:
    out[0] = uint8_t(0xC0 | (c >> 6));
    out[1] = uint8_t(0x80 | (c & 0x3F));
    break;
  case 3:
    out[0] = uint8_t(0xE0 | (c >> 12));
    out[1] = uint8_t(0x80 | ((c >> 6) & 0x3F));
    out[2] = uint8_t(0x80 | (c & 0x3F));
    break;
  default:
    out[0] = uint8_t(0xF0 | (c >> 18));
    out[1] = uint8_t(0x80 | ((c >> 12) & 0x3F));
    out[2] = uint8_t(0x80 | ((c >> 6) & 0x3F));
    out[3] = uint8_t(0x80 | (c & 0x3F));
  }
}

void append(uint32_t c, std::string &out) {
  uint8_t b[4];
  encode(c, b);
  out.append(reinterpret_cast<const char *>(b), size_t(length(c)));
}

int32_t decode(std::string_view text, size_t &pos) {
  const uint8_t b = static_cast<uint8_t>(text[pos]);
  const int n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
  if (n == 0 || pos + size_t(n) > text.size())
    return -1;
  uint32_t c = n == 1 ? b : n == 2 ? b & 0x1F : n == 3 ? b & 0x0F : b & 0x07;
  for (int k = 1; k < n; ++k) {
    const uint8_t cb = static_cast<uint8_t>(text[pos + size_t(k)]);
    if ((cb & 0xC0) != 0x80)
      return -1;
    c = (c << 6) | (cb & 0x3F);
  }
  if (length(c) != n || c > kMaxCodePoint || (c >= 0xD800 && c <= 0xDFFF))
    return -1;
  pos += size_t(n);
  return int32_t(c);
}

int32_t hexScalar(std::string_view text, size_t &pos, int count) {
  uint32_t v = 0;
  for (int k = 0; k < count; ++k, ++pos) {
    if (pos >= text.size() || !std::isxdigit(static_cast<unsigned char>(text[pos])))
      return -1;
    const char h = text[pos];
    v = v * 16 + uint32_t(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
  }
  if (v > kMaxCodePoint || (v >= 0xD800 && v <= 0xDFFF))
    return -2;
  return int32_t(v);
}

// Ranges are split where the encoded length changes, then until every byte position but the
// first covers whole continuation ranges, so that each piece is a product of byte ranges.
void sequences(uint32_t lo, uint32_t hi, std::vector<ByteSeq> &out) {
  for (uint32_t max : {0x7Fu, 0x7FFu, 0xFFFFu})
    if (lo <= max && hi > max) {
      sequences(lo, max, out);
      sequences(max + 1, hi, out);
      return;
    }
  const int n = length(lo);
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        sequences(lo, lo | m, out);
        sequences((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        sequences(lo, (hi & ~m) - 1, out);
        sequences(hi & ~m, hi, out);
        return;
      }
    }
  }
  uint8_t a[4], b[4];
  encode(lo, a);
  encode(hi, b);
  ByteSeq seq;
  for (int i = 0; i < n; ++i)
    seq.push_back({a[i], b[i]});
  out.push_back(std::move(seq));
}

} // namespace modelrt::sample::utf8
