// Pre-tokenization: splits text into pieces that BPE encodes independently, as a sequence
// of regex stages (Hugging Face `Split` with the Isolated behavior: matches and the gaps
// between them both become pieces). Regexes use Unicode categories through PCRE2 (JIT).
#pragma once

#include "runtime/support/Error.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace modelrt {

// The regexes of the pre-tokenizers we know (the same strings as their tokenizer.json).
namespace pretok {
extern const char *const kGpt2;
extern const char *const kLlama3;
extern const char *const kQwen2;
extern const char *const kO200k;
extern const char *const kDigit; // every digit on its own (HF Digits(individual_digits))
extern const char *const kTekken; // Mistral's tekken (Nemo, Small 3, Ministral, Pixtral)
// DeepSeek-V3 / R1: numbers of up to three digits, runs of CJK ideographs and kana, then words.
extern const char *const kDeepseekV3Digits, *const kDeepseekV3Cjk, *const kDeepseekV3;
// DeepSeek-Coder: line breaks, letters, punctuation, CJK / Hangul runs, single digits.
extern const char *const kLineBreak, *const kDeepseekCoderLetters,
    *const kDeepseekCoderPunctuation, *const kDeepseekCjkHangul;
// DeepSeek-LLM (DeepSeek-V2): line breaks, letters of cased scripts, ASCII and CJK
// punctuation, trailing spaces, CJK / Hangul runs, numbers.
extern const char *const kDeepseekLlmLetters, *const kDeepseekLlmPunctuation,
    *const kDeepseekLlmTrailingSpace, *const kDigits;
} // namespace pretok

class PreTokenizer {
public:
  PreTokenizer(); // no stages: the whole text is one piece
  static Expected<PreTokenizer> create(const std::vector<std::string> &patterns);
  PreTokenizer(PreTokenizer &&) noexcept;
  PreTokenizer &operator=(PreTokenizer &&) noexcept;
  ~PreTokenizer();

  // Appends the pieces of `text` (valid UTF-8) to `out`, as views into `text`.
  void split(std::string_view text, std::vector<std::string_view> &out) const;
  bool empty() const;
  // `text` with every non-empty match of the first stage's regex replaced by `content` (Hugging
  // Face's Replace normalizer with a Regex pattern).
  std::string replaceAll(std::string_view text, std::string_view content) const;

private:
  struct Stage;
  std::vector<std::unique_ptr<Stage>> stages_;
};

} // namespace modelrt
