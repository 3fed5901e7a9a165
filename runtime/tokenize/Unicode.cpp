#include "runtime/tokenize/Unicode.h"

#include "runtime/tokenize/Utf8.h"

#include <algorithm>
#include <iterator>

namespace modelrt::unicode {
namespace {

struct CodepointRange {
  uint32_t first, last;
};
struct CodepointClass {
  uint32_t first, last;
  uint8_t packed; // see graphemeClass
};
template <int N> struct CodepointMapping {
  uint32_t from;
  uint8_t size;
  uint32_t to[N];
};

#include "runtime/tokenize/UnicodeTables.inc"

template <size_t N> bool inRanges(const CodepointRange (&table)[N], uint32_t cp) {
  auto it = std::upper_bound(std::begin(table), std::end(table), cp,
                             [](uint32_t c, const CodepointRange &r) { return c < r.first; });
  return it != std::begin(table) && cp <= std::prev(it)->last;
}

template <int W, size_t N>
const CodepointMapping<W> *find(const CodepointMapping<W> (&table)[N], uint32_t cp) {
  auto it = std::lower_bound(std::begin(table), std::end(table), cp,
                             [](const CodepointMapping<W> &m, uint32_t c) { return m.from < c; });
  return it != std::end(table) && it->from == cp ? &*it : nullptr;
}

// Hangul syllables decompose by formula (Unicode 3.12): a leading consonant, a vowel and
// maybe a trailing consonant, none of them marks.
constexpr uint32_t kHangulFirst = 0xAC00, kHangulCount = 11172;
constexpr uint32_t kLeadFirst = 0x1100, kVowelFirst = 0x1161, kTrailFirst = 0x11A7;
constexpr uint32_t kVowels = 21, kTrails = 28;

// Grapheme_Cluster_Break values (kGraphemeClasses' low 4 bits).
enum Gcb : uint8_t {
  Other, CR, LF, Control, Extend, ZWJ, RegionalIndicator, Prepend, SpacingMark, L, V, T, LV, LVT
};
// Indic_Conjunct_Break values (bits 5-6).
enum Incb : uint8_t { NoIncb, Linker, Consonant, IncbExtend };
struct GraphemeClass {
  Gcb gcb;
  bool pictographic; // Extended_Pictographic (bit 4)
  Incb incb;
};

GraphemeClass graphemeClass(uint32_t cp) {
  auto it = std::upper_bound(std::begin(kGraphemeClasses), std::end(kGraphemeClasses), cp,
                             [](uint32_t c, const CodepointClass &r) { return c < r.first; });
  uint8_t packed = it != std::begin(kGraphemeClasses) && cp <= std::prev(it)->last
                       ? std::prev(it)->packed
                       : 0;
  return {static_cast<Gcb>(packed & 15), (packed & 16) != 0, static_cast<Incb>(packed >> 5)};
}

uint32_t codepointAt(std::string_view s, size_t pos, size_t &len) {
  len = std::max<size_t>(1, utf8::sequenceLength(s.substr(pos)));
  return utf8::decode(s.substr(pos), len);
}

} // namespace

size_t graphemeEnd(std::string_view text, size_t start) {
  if (start >= text.size())
    return text.size();
  size_t len;
  GraphemeClass prev = graphemeClass(codepointAt(text, start, len));
  size_t pos = start + len;
  // The rules' state over the cluster so far: regional indicators ending it (GB12/13); an
  // Extended_Pictographic followed by Extend* (GB11), and a ZWJ after one; an
  // InCB=Consonant followed by InCB Extend/Linker characters, a Linker among them (GB9c).
  int regional = prev.gcb == RegionalIndicator;
  bool pictographic = prev.pictographic, zwjAfterPictographic = false;
  bool consonant = prev.incb == Consonant, linker = false;
  while (pos < text.size()) {
    const GraphemeClass cur = graphemeClass(codepointAt(text, pos, len));
    bool join;
    if (prev.gcb == CR && cur.gcb == LF)
      join = true; // GB3
    else if (prev.gcb == CR || prev.gcb == LF || prev.gcb == Control ||
             cur.gcb == CR || cur.gcb == LF || cur.gcb == Control)
      join = false; // GB4, GB5
    else if (prev.gcb == L && (cur.gcb == L || cur.gcb == V || cur.gcb == LV || cur.gcb == LVT))
      join = true; // GB6
    else if ((prev.gcb == LV || prev.gcb == V) && (cur.gcb == V || cur.gcb == T))
      join = true; // GB7
    else if ((prev.gcb == LVT || prev.gcb == T) && cur.gcb == T)
      join = true; // GB8
    else if (cur.gcb == Extend || cur.gcb == ZWJ || cur.gcb == SpacingMark || prev.gcb == Prepend)
      join = true; // GB9, GB9a, GB9b
    else if (cur.incb == Consonant && consonant && linker)
      join = true; // GB9c
    else if (prev.gcb == ZWJ && zwjAfterPictographic && cur.pictographic)
      join = true; // GB11
    else
      join = prev.gcb == RegionalIndicator && cur.gcb == RegionalIndicator && regional % 2 == 1;
    if (!join)
      break;
    regional = cur.gcb == RegionalIndicator ? regional + 1 : 0;
    zwjAfterPictographic = cur.gcb == ZWJ && pictographic;
    pictographic = cur.pictographic || (pictographic && cur.gcb == Extend);
    if (cur.incb == Consonant) {
      consonant = true;
      linker = false;
    } else if (consonant && (cur.incb == Linker || cur.incb == IncbExtend)) {
      linker = linker || cur.incb == Linker;
    } else {
      consonant = linker = false;
    }
    prev = cur;
    pos += len;
  }
  return pos;
}

bool isNonspacingMark(uint32_t cp) { return inRanges(kNonspacingMarks, cp); }
bool isPunctuation(uint32_t cp) {
  if (cp < 0x80)
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
           (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
  return inRanges(kPunctuationRanges, cp);
}
bool isOther(uint32_t cp) { return inRanges(kOtherRanges, cp); }
bool isWhiteSpace(uint32_t cp) { return inRanges(kWhiteSpaceRanges, cp); }

bool isCjkIdeograph(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         // 0x2B920, not 0x2B820: HF tokenizers' range, which transformers' BERT follows.
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

void appendLowercase(uint32_t cp, std::u32string &out) {
  if (cp < 0x80) {
    out += static_cast<char32_t>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
    return;
  }
  if (const auto *m = find(kLowercase, cp)) {
    out.append(m->to, m->to + m->size);
    return;
  }
  out += static_cast<char32_t>(cp);
}

void appendAccentStripped(uint32_t cp, std::u32string &out) {
  if (cp < 0x80) {
    out += static_cast<char32_t>(cp);
    return;
  }
  if (cp >= kHangulFirst && cp < kHangulFirst + kHangulCount) {
    const uint32_t s = cp - kHangulFirst;
    out += static_cast<char32_t>(kLeadFirst + s / (kVowels * kTrails));
    out += static_cast<char32_t>(kVowelFirst + (s % (kVowels * kTrails)) / kTrails);
    if (s % kTrails)
      out += static_cast<char32_t>(kTrailFirst + s % kTrails);
    return;
  }
  if (const auto *m = find(kAccentStripped, cp)) {
    out.append(m->to, m->to + m->size);
    return;
  }
  if (!isNonspacingMark(cp))
    out += static_cast<char32_t>(cp);
}

std::u32string decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    size_t n = utf8::sequenceLength(s.substr(pos));
    if (n == 0) { // callers pass valid UTF-8; a stray byte becomes U+FFFD
      out += U'\uFFFD';
      ++pos;
      continue;
    }
    out += static_cast<char32_t>(utf8::decode(s.substr(pos), n));
    pos += n;
  }
  return out;
}

std::string encode(std::u32string_view cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t c : cps)
    utf8::append(out, static_cast<uint32_t>(c));
  return out;
}

} // namespace modelrt::unicode
