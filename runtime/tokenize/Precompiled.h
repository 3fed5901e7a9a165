// SentencePiece's precompiled normalization map: the `precompiled_charsmap` of a
// tokenizer.json `Precompiled` normalizer (XLM-RoBERTa, mBART, T5 and other Unigram
// tokenizers converted from SentencePiece), which holds SentencePiece's normalization rules
// (nmt_nfkc: NFKC plus its own fixes) as data.
//
// The blob is a little-endian u32 byte size of a double-array trie, the trie's u32 units
// over UTF-8 bytes, then NUL-terminated replacement strings that the trie's leaves index.
#pragma once

#include "runtime/support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace modelrt {

class CharsMap {
public:
  // Checks the layout (sizes, UTF-8 replacements); the trie itself is bounds-checked on use.
  static Expected<CharsMap> parse(std::string_view blob);

  // The replacement of the shortest prefix of `chunk` that the trie holds (what Hugging
  // Face tokenizers' Precompiled normalizer uses), or nothing.
  std::optional<std::string_view> firstPrefixMatch(std::string_view chunk) const;
  // The longest prefix of `chunk` that the trie holds: its length in bytes and replacement
  // (what SentencePiece and llama.cpp use), or nothing.
  std::optional<std::pair<size_t, std::string_view>> longestPrefixMatch(std::string_view chunk) const;

  // Hugging Face tokenizers' Precompiled normalizer: each extended grapheme cluster of
  // under 6 bytes with a match is replaced whole by that match; any other cluster has each
  // character replaced by its own match, or kept. (Not SentencePiece's own longest-match
  // rule: the two differ where a cluster's first character has a match of its own, as
  // "Ａ" + U+0301, which becomes "A".) `text` must be valid UTF-8.
  std::string normalize(std::string_view text) const;

private:
  // Calls found(length, replacement) for each prefix the trie holds, shortest first, while
  // it returns true.
  template <typename F> void forEachPrefix(std::string_view chunk, F found) const;

  std::vector<uint32_t> units_;
  std::string replacements_;
  // Each ASCII character's own match (parse()) as an offset into replacements_ and a length
  // (offset -1: none; not a view, which a move of a short string would leave dangling): a
  // cluster of one ASCII character (one followed by another ASCII character, CR LF apart)
  // needs no trie walk.
  int32_t asciiAt_[128];
  uint32_t asciiSize_[128];
};

// RFC 4648 base64 (padding optional, no white space); nothing for any other character.
std::optional<std::string> decodeBase64(std::string_view text);

} // namespace modelrt
