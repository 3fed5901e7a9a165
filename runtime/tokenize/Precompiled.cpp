#include "runtime/tokenize/Precompiled.h"

#include "runtime/tokenize/Unicode.h"
#include "runtime/tokenize/Utf8.h"

#include <algorithm>

namespace modelrt {
namespace {

// A double-array unit (darts-clone's layout): bits 0-7 the label of the edge into it (bit
// 31 set on a value unit), bit 8 whether a leaf hangs below, bits 10-31 the offset of its
// children, shifted left by 8 more when bit 9 is set; a value unit's low 31 bits are the value.
uint32_t label(uint32_t unit) { return unit & ((1u << 31) | 0xFF); }
bool hasLeaf(uint32_t unit) { return (unit >> 8) & 1; }
uint32_t offset(uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); }
uint32_t value(uint32_t unit) { return unit & ((1u << 31) - 1); }

} // namespace

Expected<CharsMap> CharsMap::parse(std::string_view blob) {
  auto bad = [](const std::string &what) {
    return Error(ErrorCode::InvalidFormat, "precompiled_charsmap: " + what);
  };
  if (blob.size() < 4)
    return bad("shorter than its 4-byte header");
  uint32_t trieBytes = 0;
  for (int k = 3; k >= 0; --k)
    trieBytes = (trieBytes << 8) | static_cast<uint8_t>(blob[k]);
  const size_t units = trieBytes / 4;
  if (units > (blob.size() - 4) / 4)
    return bad("its trie of " + std::to_string(trieBytes) + " bytes runs past the " +
               std::to_string(blob.size()) + "-byte map");
  if (units == 0)
    return bad("empty trie");
  CharsMap map;
  map.units_.resize(units);
  for (size_t k = 0; k < units; ++k) {
    const auto *p = reinterpret_cast<const uint8_t *>(blob.data()) + 4 + 4 * k;
    map.units_[k] = p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
  }
  map.replacements_ = std::string(blob.substr(4 + 4 * units));
  if (size_t at = utf8::firstInvalid(map.replacements_); at != map.replacements_.size())
    return bad("replacement strings are not valid UTF-8 at byte " + std::to_string(at));
  for (int c = 0; c < 128; ++c) {
    const char ch = static_cast<char>(c);
    const std::optional<std::string_view> m = map.firstPrefixMatch(std::string_view(&ch, 1));
    map.asciiAt_[c] = m ? static_cast<int32_t>(m->data() - map.replacements_.data()) : -1;
    map.asciiSize_[c] = m ? static_cast<uint32_t>(m->size()) : 0;
  }
  return map;
}

template <typename F> void CharsMap::forEachPrefix(std::string_view chunk, F found) const {
  const size_t n = units_.size();
  size_t node = offset(units_[0]);
  for (size_t k = 0; k < chunk.size(); ++k) {
    const auto c = static_cast<uint8_t>(chunk[k]);
    if (c == 0)
      return;
    node ^= c;
    if (node >= n || label(units_[node]) != c)
      return;
    const uint32_t unit = units_[node];
    node ^= offset(unit);
    if (node >= n)
      return;
    if (!hasLeaf(unit))
      continue;
    // The replacement runs from the leaf's value to the next NUL; one that starts outside
    // the strings or inside a character ends the search.
    const size_t at = value(units_[node]);
    if (at >= replacements_.size())
      return;
    std::string_view rest = std::string_view(replacements_).substr(at);
    std::string_view match = rest.substr(0, rest.find('\0'));
    if (!match.empty() && (static_cast<uint8_t>(match[0]) & 0xC0) == 0x80)
      return;
    if (!found(k + 1, match))
      return;
  }
}

std::optional<std::string_view> CharsMap::firstPrefixMatch(std::string_view chunk) const {
  std::optional<std::string_view> out;
  forEachPrefix(chunk, [&](size_t, std::string_view match) {
    out = match;
    return false;
  });
  return out;
}

std::optional<std::pair<size_t, std::string_view>>
CharsMap::longestPrefixMatch(std::string_view chunk) const {
  std::optional<std::pair<size_t, std::string_view>> out;
  forEachPrefix(chunk, [&](size_t length, std::string_view match) {
    out = std::make_pair(length, match);
    return true;
  });
  return out;
}

std::string CharsMap::normalize(std::string_view text) const {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    // Between two ASCII characters clusters break, CR LF apart (UAX #29).
    const auto c = static_cast<uint8_t>(text[pos]);
    if (c < 0x80 && (pos + 1 == text.size() || (static_cast<uint8_t>(text[pos + 1]) < 0x80 &&
                                                !(c == '\r' && text[pos + 1] == '\n')))) {
      if (asciiAt_[c] >= 0)
        out.append(replacements_, static_cast<size_t>(asciiAt_[c]), asciiSize_[c]);
      else
        out += static_cast<char>(c);
      ++pos;
      continue;
    }
    const size_t end = unicode::graphemeEnd(text, pos);
    const std::string_view cluster = text.substr(pos, end - pos);
    std::optional<std::string_view> whole;
    if (cluster.size() < 6)
      whole = firstPrefixMatch(cluster);
    if (whole) {
      out += *whole;
    } else {
      for (size_t at = 0; at < cluster.size();) {
        const size_t len = std::max<size_t>(1, utf8::sequenceLength(cluster.substr(at)));
        const std::string_view ch = cluster.substr(at, len);
        std::optional<std::string_view> m = firstPrefixMatch(ch);
        out += m ? *m : ch;
        at += len;
      }
    }
    pos = end;
  }
  return out;
}

std::optional<std::string> decodeBase64(std::string_view text) {
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z')
      return c - 'A';
    if (c >= 'a' && c <= 'z')
      return c - 'a' + 26;
    if (c >= '0' && c <= '9')
      return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  while (!text.empty() && text.back() == '=' && text.size() % 4 != 1)
    text.remove_suffix(1);
  if (text.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    const int v = sextet(c);
    if (v < 0)
      return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    if ((count += 6) >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  return out;
}

} // namespace modelrt
