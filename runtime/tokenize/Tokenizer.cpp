#include "runtime/tokenize/Tokenizer.h"
#include "runtime/tokenize/TokenizerImpl.h"
#include "runtime/tokenize/Unicode.h"
#include "runtime/tokenize/Utf8.h"

#include <algorithm>
#include <cstring>
#include <queue>

namespace modelrt {
namespace {

const char *const kSpmSpace = "\xE2\x96\x81"; // U+2581, SentencePiece's visible space

struct ByteLevelTables {
  std::string chars[256];
  int bytes[512]; // codepoint (< 512) -> byte, -1 if not in the alphabet
  ByteLevelTables() {
    std::fill(std::begin(bytes), std::end(bytes), -1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      int cp = printable ? b : 256 + extra++;
      utf8::append(chars[b], static_cast<uint32_t>(cp));
      bytes[cp] = b;
    }
  }
};
const ByteLevelTables &tables() {
  static const ByteLevelTables t;
  return t;
}

int parseByteToken(std::string_view t) { // "<0x0A>" -> 10
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>')
    return -1;
  auto hex = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
  };
  int hi = hex(t[3]), lo = hex(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string replaceAll(std::string_view s, std::string_view from, std::string_view to) {
  if (from.empty())
    return std::string(s); // (loaders refuse an empty pattern)
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos)
      break;
    out.append(s.substr(pos, hit - pos)).append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

// BPE over one piece: symbols start as characters (SentencePiece) or bytes (byte-level)
// and the best-priority adjacent pair is merged until none can be.
class BpeWord {
public:
  BpeWord(const Tokenizer::Impl &t, std::string_view piece) : t_(t), piece_(piece) {}

  void encode(std::vector<int32_t> &out) {
    initSymbols();
    for (size_t k = 0; k + 1 < syms_.size(); ++k)
      push(static_cast<int32_t>(k));
    while (!queue_.empty()) {
      Cand c = queue_.top();
      queue_.pop();
      Sym &l = syms_[c.left];
      if (l.len == 0 || l.next < 0)
        continue;
      Sym &r = syms_[l.next];
      if (l.len + r.len != c.len)
        continue; // stale: a side changed since it was queued
      l.id = c.merged;
      l.len += r.len;
      r.len = 0;
      l.next = r.next;
      if (l.next >= 0)
        syms_[l.next].prev = c.left;
      if (l.prev >= 0)
        push(l.prev);
      push(c.left);
    }
    for (int32_t k = 0; k >= 0 && !syms_.empty(); k = syms_[k].next)
      emit(syms_[k], out);
  }

private:
  struct Sym {
    int32_t id;
    uint32_t start, len;
    int32_t prev, next;
  };
  struct Cand {
    double priority; // lower first
    int32_t left;
    uint32_t len; // combined length when queued, to detect stale entries
    int32_t merged;
    bool operator<(const Cand &o) const { // priority_queue pops the "largest"
      if (priority != o.priority)
        return priority > o.priority;
      return left > o.left;
    }
  };

  void initSymbols() {
    bool byteLevel = t_.kind == Tokenizer::Kind::ByteLevelBpe;
    for (size_t pos = 0; pos < piece_.size();) {
      size_t n = byteLevel ? 1 : std::max<size_t>(1, utf8::sequenceLength(piece_.substr(pos)));
      int32_t id;
      if (byteLevel) {
        id = t_.byteIds[static_cast<uint8_t>(piece_[pos])];
      } else {
        auto it = t_.ids.find(std::string(piece_.substr(pos, n)));
        id = it == t_.ids.end() ? -1 : it->second;
      }
      int32_t k = static_cast<int32_t>(syms_.size());
      syms_.push_back({id, static_cast<uint32_t>(pos), static_cast<uint32_t>(n), k - 1, -1});
      if (k > 0)
        syms_[k - 1].next = k;
      pos += n;
    }
  }

  void push(int32_t left) {
    const Sym &l = syms_[left];
    if (l.next < 0)
      return;
    const Sym &r = syms_[l.next];
    if (t_.useScores) {
      auto it = t_.ids.find(std::string(piece_.substr(l.start, l.len + r.len)));
      if (it == t_.ids.end())
        return;
      queue_.push({-static_cast<double>(t_.scores[it->second]), left, l.len + r.len, it->second});
    } else {
      if (l.id < 0 || r.id < 0)
        return;
      auto it = t_.merges.find((static_cast<uint64_t>(l.id) << 32) | static_cast<uint32_t>(r.id));
      if (it == t_.merges.end())
        return;
      queue_.push({static_cast<double>(it->second.first), left, l.len + r.len, it->second.second});
    }
  }

  void emit(const Sym &s, std::vector<int32_t> &out) const {
    if (s.id >= 0) {
      out.push_back(s.id);
      return;
    }
    if (t_.byteFallback) {
      bool all = true;
      for (uint32_t k = 0; k < s.len; ++k)
        all &= t_.byteIds[static_cast<uint8_t>(piece_[s.start + k])] >= 0;
      if (all) {
        for (uint32_t k = 0; k < s.len; ++k)
          out.push_back(t_.byteIds[static_cast<uint8_t>(piece_[s.start + k])]);
        return;
      }
    }
    if (t_.unk >= 0)
      out.push_back(t_.unk);
  }

  const Tokenizer::Impl &t_;
  std::string_view piece_;
  std::vector<Sym> syms_;
  std::priority_queue<Cand> queue_;
};

void encodePiece(const Tokenizer::Impl &t, std::string_view piece, std::vector<int32_t> &out) {
  if (t.ignoreMerges) {
    auto it = t.ids.find(std::string(piece));
    if (it != t.ids.end()) {
      out.push_back(it->second);
      return;
    }
  }
  BpeWord(t, piece).encode(out);
}

constexpr size_t kCacheLimit = 1 << 16;
constexpr size_t kCachedPieceMax = 64;

void encodeByteLevelPiece(const Tokenizer::Impl &t, std::string_view piece,
                          std::vector<int32_t> &out) {
  if (piece.size() > kCachedPieceMax) {
    encodePiece(t, piece, out);
    return;
  }
  std::string key(piece);
  {
    std::lock_guard<std::mutex> lock(t.cacheMutex);
    auto it = t.cache.find(key);
    if (it != t.cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t before = out.size();
  encodePiece(t, piece, out);
  std::lock_guard<std::mutex> lock(t.cacheMutex);
  if (t.cache.size() >= kCacheLimit)
    t.cache.clear();
  t.cache.emplace(std::move(key), std::vector<int32_t>(out.begin() + before, out.end()));
}

// tokenizers' BertNormalizer: control characters dropped and white space made a space,
// spaces around CJK ideographs, accents stripped (NFD without marks), lower case; in that
// order, character by character.
std::u32string bertNormalize(const Tokenizer::Impl::BertNormalizer &n, std::u32string in) {
  if (!n.on)
    return in;
  std::u32string out;
  out.reserve(in.size());
  if (n.cleanText) {
    for (char32_t c : in) {
      const bool keptControl = c == U'\t' || c == U'\n' || c == U'\r';
      if (c == 0 || c == 0xFFFD || (!keptControl && unicode::isOther(c)))
        continue;
      out += keptControl || unicode::isWhiteSpace(c) ? U' ' : c;
    }
    in.swap(out);
    out.clear();
  }
  if (n.chineseChars) {
    for (char32_t c : in)
      if (unicode::isCjkIdeograph(c))
        out.append({U' ', c, U' '});
      else
        out += c;
    in.swap(out);
    out.clear();
  }
  if (n.stripAccents) {
    for (char32_t c : in)
      unicode::appendAccentStripped(c, out);
    in.swap(out);
    out.clear();
  }
  if (n.lowercase) {
    for (char32_t c : in)
      unicode::appendLowercase(c, out);
    in.swap(out);
  }
  return in;
}

// One word's WordPiece tokens: the longest vocabulary piece at each point (later pieces
// with the subword prefix), or the unknown token for the whole word.
void encodeWord(const Tokenizer::Impl &t, std::u32string_view word, std::vector<int32_t> &out) {
  if (word.size() > t.maxWordChars) {
    if (t.unk >= 0)
      out.push_back(t.unk);
    return;
  }
  const size_t before = out.size();
  for (size_t start = 0; start < word.size();) {
    int32_t found = -1;
    size_t end = std::min(word.size(), start + t.longestPiece);
    for (; end > start; --end) {
      std::string piece = start > 0 ? t.subwordPrefix : std::string();
      piece += unicode::encode(word.substr(start, end - start));
      auto it = t.ids.find(piece);
      if (it != t.ids.end() && (t.attr[it->second] == TokenAttr::Normal ||
                                t.attr[it->second] == TokenAttr::Unknown)) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {
      out.resize(before);
      if (t.unk >= 0)
        out.push_back(t.unk);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

// BERT's pipeline over a run of text between special tokens: normalized, split into words
// at white space and around each punctuation character (BertPreTokenizer), each word
// WordPiece-encoded.
void encodeWordPiece(const Tokenizer::Impl &t, std::string_view text, std::vector<int32_t> &out) {
  const std::u32string norm = bertNormalize(t.bert, unicode::decode(text));
  size_t start = 0;
  auto flush = [&](size_t end) {
    if (end > start)
      encodeWord(t, std::u32string_view(norm).substr(start, end - start), out);
  };
  for (size_t k = 0; k < norm.size(); ++k) {
    const char32_t c = norm[k];
    if (unicode::isWhiteSpace(c)) {
      flush(k);
      start = k + 1;
    } else if (unicode::isPunctuation(c)) {
      flush(k);
      encodeWord(t, std::u32string_view(norm).substr(k, 1), out);
      start = k + 1;
    }
  }
  flush(norm.size());
}

// The best-scoring segmentation of `piece` into vocabulary pieces (Viterbi over the
// positions where characters start; ties keep the shorter piece, then the earlier start).
void encodeUnigram(const Tokenizer::Impl &t, std::string_view piece, std::vector<int32_t> &out) {
  struct Node {
    double score = 0;
    int32_t id = -1; // -1: not reached
    uint32_t start = 0;
  };
  const size_t n = piece.size();
  std::vector<Node> best(n + 1);
  auto offer = [&](size_t end, int32_t id, double score, size_t start) {
    Node &node = best[end];
    if (node.id < 0 || score > node.score)
      node = {score, id, static_cast<uint32_t>(start)};
  };
  std::string key;
  for (size_t pos = 0; pos < n;) {
    const size_t charLen = std::max<size_t>(1, utf8::sequenceLength(piece.substr(pos)));
    const double base = best[pos].score;
    bool single = false;
    t.pieceTrie.prefixes(piece.substr(pos), [&](size_t len, int32_t id) {
      const bool userDefined = t.attr[id] == TokenAttr::UserDefined;
      offer(pos + len, id, base + (userDefined ? 0.0 : t.pieceScores[id]), pos);
      single = single || len == charLen;
    });
    if (!single)
      offer(pos + charLen, t.unk, base + t.unkScore, pos);
    pos += charLen;
  }
  // Back from the end; runs of unknown characters become one piece, which is the vocabulary
  // token of that text if there is one, else its bytes (byte fallback), else unknown.
  std::vector<int32_t> ids;
  for (size_t end = n; end > 0;) {
    const Node &node = best[end];
    size_t start = node.start;
    if (node.id != t.unk) {
      ids.push_back(node.id);
      end = start;
      continue;
    }
    while (start > 0 && best[start].id == t.unk)
      start = best[start].start;
    if (t.ggufUgm) { // the GGUF UGM convention: the run is one unknown token
      ids.push_back(t.unk);
      end = start;
      continue;
    }
    const std::string_view text = piece.substr(start, end - start);
    key.assign(text);
    auto it = t.ids.find(key);
    bool bytes = t.byteFallback && it == t.ids.end();
    for (char c : text)
      bytes = bytes && t.byteIds[static_cast<uint8_t>(c)] >= 0;
    if (it != t.ids.end())
      ids.push_back(it->second);
    else if (bytes)
      for (size_t k = text.size(); k-- > 0;)
        ids.push_back(t.byteIds[static_cast<uint8_t>(text[k])]);
    else
      ids.push_back(t.unk);
    end = start;
  }
  out.insert(out.end(), ids.rbegin(), ids.rend());
}

std::string normalizeUnigram(const Tokenizer::Impl &t, std::string_view text) {
  using Op = Tokenizer::Impl::NormalizerStep::Op;
  std::string s(text);
  for (const Tokenizer::Impl::NormalizerStep &step : t.normalizer) {
    switch (step.op) {
    case Op::Precompiled:
      s = step.charsMap->normalize(s);
      break;
    case Op::Replace:
      s = replaceAll(s, step.from, step.to);
      break;
    case Op::RegexReplace:
      s = step.regex->replaceAll(s, step.to);
      break;
    case Op::Prepend:
      if (!s.empty())
        s = step.to + s;
      break;
    case Op::Strip: {
      const std::u32string cps = unicode::decode(s);
      size_t b = 0, e = cps.size();
      while (step.left && b < e && unicode::isWhiteSpace(cps[b]))
        ++b;
      while (step.right && e > b && unicode::isWhiteSpace(cps[e - 1]))
        --e;
      s = unicode::encode(std::u32string_view(cps).substr(b, e - b));
      break;
    }
    }
  }
  return s;
}

// The GGUF UGM normalizer (see Impl::ggufUgm).
std::string normalizeGgufUgm(const Tokenizer::Impl &t, std::string_view text) {
  const bool prepend = t.spmPrefix == Tokenizer::Impl::SpacePrefix::Prepend;
  const bool merge = t.removeExtraWhitespaces;
  std::string out;
  out.reserve(text.size() * 3);
  bool prepended = false, inRun = false;
  for (size_t pos = 0; pos < text.size();) {
    // (The format keeps a user-defined token's text as it is here; encode has already split
    // every user-defined token out of the text.)
    const std::string_view rest = text.substr(pos);
    std::string_view piece;
    size_t consumed = 0;
    if (auto m = t.ugmCharsMap ? t.ugmCharsMap->longestPrefixMatch(rest) : std::nullopt) {
      consumed = m->first;
      piece = m->second;
    } else {
      consumed = std::max<size_t>(1, utf8::sequenceLength(rest));
      piece = rest.substr(0, consumed);
    }
    for (char c : piece) {
      if (c != ' ') {
        if (!inRun) {
          inRun = true;
          if ((prepend && !prepended) || merge) {
            out += kSpmSpace;
            prepended = true;
          }
        }
        out += c;
      } else {
        inRun = false;
        if (!merge)
          out += kSpmSpace;
      }
    }
    pos += consumed;
  }
  return out;
}

// The Unigram pipeline of one run of text between special tokens.
void encodeUnigramText(const Tokenizer::Impl &t, std::string_view text, bool atStart,
                       std::vector<int32_t> &out) {
  using SpacePrefix = Tokenizer::Impl::SpacePrefix;
  if (t.ggufUgm) {
    encodeUnigram(t, normalizeGgufUgm(t, text), out);
    return;
  }
  const std::string norm = normalizeUnigram(t, text);
  std::vector<std::string_view> words;
  if (t.whitespaceSplit) {
    size_t start = 0;
    for (size_t pos = 0; pos < norm.size();) {
      size_t len = std::max<size_t>(1, utf8::sequenceLength(std::string_view(norm).substr(pos)));
      if (unicode::isWhiteSpace(utf8::decode(std::string_view(norm).substr(pos), len))) {
        if (pos > start)
          words.push_back(std::string_view(norm).substr(start, pos - start));
        start = pos + len;
      }
      pos += len;
    }
    if (start < norm.size())
      words.push_back(std::string_view(norm).substr(start));
  } else if (!norm.empty()) {
    words.push_back(norm);
  }
  std::vector<std::string_view> pieces;
  for (std::string_view word : words) {
    std::string w(word);
    if (t.metaspacePre) {
      w = replaceAll(w, " ", kSpmSpace);
      const bool spaced = w.rfind(kSpmSpace, 0) == 0;
      const bool first = atStart && word.data() == norm.data();
      if (!spaced && (t.spmPrefix == SpacePrefix::MetaspaceAlways ||
                      (t.spmPrefix == SpacePrefix::MetaspaceFirst && first)))
        w = kSpmSpace + w;
    }
    pieces.clear();
    t.pre.split(w, pieces);
    for (std::string_view p : pieces)
      encodeUnigram(t, p, out);
  }
}

void encodeText(const Tokenizer::Impl &t, std::string_view text, bool atStart,
                std::vector<int32_t> &out) {
  if (t.kind == Tokenizer::Kind::Unigram) {
    encodeUnigramText(t, text, atStart, out);
    return;
  }
  if (t.kind == Tokenizer::Kind::WordPiece) {
    encodeWordPiece(t, text, out);
    return;
  }
  if (t.kind == Tokenizer::Kind::SentencePieceBpe) {
    using SpacePrefix = Tokenizer::Impl::SpacePrefix;
    bool startsWithSpace = !text.empty() && text[0] == ' ';
    bool prefix = t.spmPrefix == SpacePrefix::Prepend ||
                  (t.spmPrefix == SpacePrefix::MetaspaceAlways && !startsWithSpace) ||
                  (t.spmPrefix == SpacePrefix::MetaspaceFirst && atStart && !startsWithSpace);
    std::string norm;
    if (prefix)
      norm = kSpmSpace;
    norm += replaceAll(text, " ", kSpmSpace);
    if (t.pre.empty()) {
      encodePiece(t, norm, out);
    } else {
      std::vector<std::string_view> pieces;
      t.pre.split(norm, pieces);
      for (std::string_view p : pieces)
        encodePiece(t, p, out);
    }
    return;
  }
  std::string prefixed;
  if (t.addPrefixSpace && !text.empty() && text[0] != ' ') {
    prefixed = " " + std::string(text);
    text = prefixed;
  }
  std::vector<std::string_view> pieces;
  t.pre.split(text, pieces);
  for (std::string_view p : pieces)
    encodeByteLevelPiece(t, p, out);
}

} // namespace

const std::string &byteLevelChar(uint8_t byte) { return tables().chars[byte]; }
int byteLevelByte(uint32_t cp) { return cp < 512 ? tables().bytes[cp] : -1; }

Tokenizer::Impl::Impl() { std::fill(std::begin(byteIds), std::end(byteIds), -1); }

Status Tokenizer::Impl::finish(const std::string &name) {
  size_t n = text.size();
  attr.resize(n, TokenAttr::Normal);
  bytes.resize(n);
  ids.reserve(n);
  for (size_t k = 0; k < n; ++k) {
    int32_t id = static_cast<int32_t>(k);
    if (attr[k] == TokenAttr::Unused && text[k].empty())
      continue;
    ids.emplace(text[k], id); // first wins, as GGUF readers do, for duplicated pieces
    const std::string &s = text[k];
    if (kind == Kind::WordPiece) { // decoded joined by spaces, "##" pieces to the word before
      const bool subword = attr[k] == TokenAttr::Normal && !subwordPrefix.empty() &&
                           s.size() > subwordPrefix.size() && s.rfind(subwordPrefix, 0) == 0;
      bytes[k] = subword ? s.substr(subwordPrefix.size()) : " " + s;
      longestPiece = std::max(longestPiece, unicode::decode(subword ? bytes[k] : s).size());
      if (attr[k] != TokenAttr::Normal && !s.empty()) // [UNK] too: HF finds it in text
        specials.push_back(id);
      continue;
    }
    if (attr[k] == TokenAttr::Control || attr[k] == TokenAttr::UserDefined ||
        attr[k] == TokenAttr::Unknown) {
      bytes[k] = kind == Kind::SentencePieceBpe || kind == Kind::Unigram
                     ? replaceAll(s, kSpmSpace, " ")
                     : s;
      // (A Unigram vocabulary's <unk> is one of the file's special tokens: HF finds it in text.)
      if ((attr[k] != TokenAttr::Unknown || kind == Kind::Unigram) && !s.empty())
        specials.push_back(id);
      continue;
    }
    if (kind == Kind::SentencePieceBpe || kind == Kind::Unigram) {
      int b = parseByteToken(s);
      if (b >= 0 && (attr[k] == TokenAttr::Byte || byteFallback)) {
        bytes[k] = std::string(1, static_cast<char>(b));
        if (byteIds[b] < 0)
          byteIds[b] = id;
      } else {
        bytes[k] = replaceAll(s, kSpmSpace, " ");
      }
      continue;
    }
    std::string out;
    for (size_t pos = 0; pos < s.size();) {
      size_t len = utf8::sequenceLength(std::string_view(s).substr(pos));
      if (len == 0) { // not UTF-8: keep the byte as is
        out += s[pos++];
        continue;
      }
      int b = byteLevelByte(utf8::decode(std::string_view(s).substr(pos), len));
      if (b >= 0)
        out += static_cast<char>(b);
      else
        out.append(s, pos, len);
      pos += len;
    }
    bytes[k] = std::move(out);
  }
  if (kind == Kind::Unigram) {
    std::vector<std::pair<std::string_view, int32_t>> pieces;
    for (const auto &[text, id] : ids)
      if (inLattice(id))
        pieces.emplace_back(text, id);
    pieceTrie.build(std::move(pieces));
  }
  if (kind == Kind::ByteLevelBpe) {
    for (int b = 0; b < 256; ++b) {
      auto it = ids.find(byteLevelChar(static_cast<uint8_t>(b)));
      if (it != ids.end())
        byteIds[b] = it->second;
    }
  }
  std::stable_sort(specials.begin(), specials.end(),
                   [&](int32_t a, int32_t b) { return text[a].size() > text[b].size(); });
  for (int32_t *id : {&bos, &eos, &pad, &unk, &appendedEos})
    if (*id >= static_cast<int32_t>(n) || *id < -1)
      return Error(ErrorCode::InvalidFormat, name + ": special token id " + std::to_string(*id) +
                                                 " is outside the vocabulary of " +
                                                 std::to_string(n));
  if (n == 0)
    return Error(ErrorCode::InvalidFormat, name + ": empty vocabulary");
  std::vector<int32_t> endList;
  if (eos >= 0)
    endList.push_back(eos);
  for (int32_t id : ends) {
    if (id < 0 || id >= static_cast<int32_t>(n))
      return Error(ErrorCode::InvalidFormat, name + ": end-of-answer token id " +
                                                 std::to_string(id) +
                                                 " is outside the vocabulary of " +
                                                 std::to_string(n));
    if (std::find(endList.begin(), endList.end(), id) == endList.end())
      endList.push_back(id);
  }
  ends = std::move(endList);
  return Status();
}

void Tokenizer::Impl::PieceTrie::build(std::vector<std::pair<std::string_view, int32_t>> pieces) {
  std::sort(pieces.begin(), pieces.end());
  nodes.assign(1, Node{});
  labels.clear();
  targets.clear();
  // Breadth first: a node's children are added together, so its edges are contiguous. A
  // node stands for the pieces [lo, hi) that share its first `depth` bytes.
  struct Range {
    uint32_t node;
    size_t lo, hi, depth;
  };
  std::queue<Range> queue;
  queue.push({0, 0, pieces.size(), 0});
  while (!queue.empty()) {
    auto [node, lo, hi, depth] = queue.front();
    queue.pop();
    if (lo < hi && pieces[lo].first.size() == depth) // sorted: the piece the prefix is comes first
      nodes[node].id = pieces[lo++].second;
    nodes[node].edges = static_cast<uint32_t>(labels.size());
    for (size_t g = lo; g < hi;) {
      const char c = pieces[g].first[depth];
      size_t h = g;
      while (h < hi && pieces[h].first[depth] == c)
        ++h;
      const auto child = static_cast<uint32_t>(nodes.size());
      nodes.emplace_back();
      labels.push_back(static_cast<uint8_t>(c));
      targets.push_back(child);
      queue.push({child, g, h, depth + 1});
      g = h;
    }
    nodes[node].count = static_cast<uint32_t>(labels.size()) - nodes[node].edges;
  }
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

Expected<std::vector<int32_t>> Tokenizer::encode(std::string_view text,
                                                 const EncodeOptions &options) const {
  const Impl &t = *impl_;
  size_t bad = utf8::firstInvalid(text);
  if (bad != text.size())
    return Error(ErrorCode::InvalidArgument,
                 "text is not valid UTF-8 at byte " + std::to_string(bad));
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (options.addSpecial && t.addBos && t.bos >= 0)
    out.push_back(t.bos);

  // Split around special tokens: find the earliest occurrence (longest on ties) of any token
  // allowed in text; `next` caches each token's next occurrence so the scan stays linear.
  std::vector<int32_t> allowed;
  for (int32_t id : t.specials)
    if (t.attr[id] == TokenAttr::UserDefined || options.parseSpecial)
      allowed.push_back(id);
  std::vector<size_t> next(allowed.size());
  for (size_t k = 0; k < allowed.size(); ++k)
    next[k] = text.find(t.text[allowed[k]]);
  size_t pos = 0;
  bool atStart = true;
  while (pos <= text.size()) {
    size_t best = std::string_view::npos;
    int32_t bestId = -1;
    for (size_t k = 0; k < allowed.size(); ++k) {
      if (next[k] != std::string_view::npos && next[k] < pos)
        next[k] = text.find(t.text[allowed[k]], pos);
      if (next[k] < best) { // allowed is longest first, so ties keep the longer token
        best = next[k];
        bestId = allowed[k];
      }
    }
    size_t end = best == std::string_view::npos ? text.size() : best;
    if (end > pos)
      encodeText(t, text.substr(pos, end - pos), atStart, out);
    if (bestId < 0)
      break;
    out.push_back(bestId);
    atStart = false;
    pos = best + t.text[bestId].size();
  }
  if (const int32_t end = t.appendedEos >= 0 ? t.appendedEos : t.eos;
      options.addSpecial && t.addEos && end >= 0)
    out.push_back(end);
  return out;
}

Expected<std::vector<int32_t>> Tokenizer::encodePair(std::string_view first,
                                                     std::string_view second,
                                                     const EncodeOptions &options,
                                                     std::vector<int32_t> *types) const {
  const Impl &t = *impl_;
  const bool templated = options.addSpecial && !t.pairTemplate.empty();
  EncodeOptions each = options;
  if (templated)
    each.addSpecial = false;
  Expected<std::vector<int32_t>> a = encode(first, each);
  if (!a)
    return a.error();
  Expected<std::vector<int32_t>> b = encode(second, each);
  if (!b)
    return b.error();
  if (!templated) {
    if (types) {
      types->assign(a->size(), 0);
      types->resize(a->size() + b->size(), 1);
    }
    a->insert(a->end(), b->begin(), b->end());
    return a;
  }
  std::vector<int32_t> out;
  out.reserve(a->size() + b->size() + t.pairTemplate.size());
  if (types)
    types->clear();
  for (size_t k = 0; k < t.pairTemplate.size(); ++k) {
    const int32_t item = t.pairTemplate[k];
    if (item == Impl::kPairFirst)
      out.insert(out.end(), a->begin(), a->end());
    else if (item == Impl::kPairSecond)
      out.insert(out.end(), b->begin(), b->end());
    else
      out.push_back(item);
    if (types)
      types->resize(out.size(), k < t.pairTemplateTypes.size() ? t.pairTemplateTypes[k] : 0);
  }
  return out;
}

Expected<std::string> Tokenizer::decode(const std::vector<int32_t> &ids, bool skipSpecial) const {
  const Impl &t = *impl_;
  std::string out;
  bool first = true;
  for (int32_t id : ids) {
    if (id < 0 || id >= t.size())
      return Error(ErrorCode::OutOfRange, "token id " + std::to_string(id) +
                                              " is outside the vocabulary of " +
                                              std::to_string(t.size()));
    if (skipSpecial && (t.attr[id] == TokenAttr::Control ||
                        (t.attr[id] == TokenAttr::Unknown &&
                         (t.kind == Kind::WordPiece || t.kind == Kind::Unigram))))
      continue; // (HF skips a WordPiece or Unigram vocabulary's unknown token too: it is
                // one of the file's special tokens)
    const std::string &b = t.bytes[id];
    if (first && (t.spmPrefix != Impl::SpacePrefix::None || t.kind == Kind::WordPiece) &&
        !b.empty() && b[0] == ' ')
      out.append(b, 1, std::string::npos);
    else
      out += b;
    first = false;
  }
  return out;
}

Tokenizer::Kind Tokenizer::kind() const { return impl_->kind; }
size_t Tokenizer::vocabSize() const { return impl_->text.size(); }
std::string_view Tokenizer::tokenBytes(int32_t id) const {
  return id >= 0 && id < impl_->size() ? std::string_view(impl_->bytes[id]) : std::string_view();
}
std::string_view Tokenizer::tokenText(int32_t id) const {
  return id >= 0 && id < impl_->size() ? std::string_view(impl_->text[id]) : std::string_view();
}
TokenAttr Tokenizer::tokenAttr(int32_t id) const {
  return id >= 0 && id < impl_->size() ? impl_->attr[id] : TokenAttr::Unused;
}
int32_t Tokenizer::tokenId(std::string_view text) const {
  auto it = impl_->ids.find(std::string(text));
  return it == impl_->ids.end() ? -1 : it->second;
}
int32_t Tokenizer::bosId() const { return impl_->bos; }
int32_t Tokenizer::eosId() const { return impl_->eos; }
const std::vector<int32_t> &Tokenizer::endIds() const { return impl_->ends; }
bool Tokenizer::isEnd(int32_t id) const {
  return std::find(impl_->ends.begin(), impl_->ends.end(), id) != impl_->ends.end();
}
int32_t Tokenizer::padId() const { return impl_->pad; }
int32_t Tokenizer::unknownId() const { return impl_->unk; }
const std::string &Tokenizer::chatTemplate() const { return impl_->chatTemplate; }

Expected<std::string> StreamingDetokenizer::push(int32_t id) {
  Expected<std::string> piece = tokenizer_.decode({id}, skipSpecial_);
  if (!piece)
    return piece.error();
  // Only the stream's first token loses its SentencePiece space prefix; decode({id}) strips
  // it from every token, so put it back after the first.
  std::string_view raw = tokenizer_.tokenBytes(id);
  if (!first_ && raw.size() == piece->size() + 1 && !raw.empty() && raw[0] == ' ')
    pending_ += ' ';
  if (!piece->empty() || !(skipSpecial_ && tokenizer_.tokenAttr(id) == TokenAttr::Control))
    first_ = false;
  pending_ += *piece;
  // Emit the longest prefix of complete characters; bytes that can never start or continue
  // a character become U+FFFD right away.
  std::string out;
  size_t pos = 0;
  while (pos < pending_.size()) {
    std::string_view rest = std::string_view(pending_).substr(pos);
    size_t n = utf8::sequenceLength(rest);
    if (n > 0) {
      out.append(rest.substr(0, n));
      pos += n;
      continue;
    }
    size_t want = utf8::expectedLength(static_cast<uint8_t>(rest[0]));
    bool couldComplete = want > rest.size();
    for (size_t k = 1; couldComplete && k < rest.size(); ++k)
      couldComplete = (static_cast<uint8_t>(rest[k]) & 0xC0) == 0x80;
    if (couldComplete && want > 0)
      break; // wait for the rest of the character
    out += "\xEF\xBF\xBD";
    pos += 1;
  }
  pending_.erase(0, pos);
  return out;
}

std::string StreamingDetokenizer::finish() {
  std::string out;
  if (!pending_.empty())
    out = "\xEF\xBF\xBD";
  pending_.clear();
  return out;
}

} // namespace modelrt
