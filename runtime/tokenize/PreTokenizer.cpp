#include "runtime/tokenize/PreTokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace modelrt {

namespace pretok {
const char *const kGpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char *const kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char *const kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// The o200k rules (GGUF presets gpt-4o, llama4): words also split where case changes.
const char *const kO200k =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char *const kDigit = R"(\p{N})";
// The o200k rules without contractions, every digit on its own.
const char *const kTekken =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char *const kDeepseekV3Digits = R"(\p{N}{1,3})";
const char *const kDeepseekV3Cjk = R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)";
const char *const kDeepseekV3 =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char *const kDeepseekCoderBreaks = R"([\r\n])";
const char *const kDeepseekCoderLetters = R"(\s?\p{L}+)";
const char *const kDeepseekCoderPunctuation = R"(\s?\p{P}+)";
const char *const kDeepseekCoderCjk = R"([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
} // namespace pretok

struct PreTokenizer::Stage {
  pcre2_code *code = nullptr;
  ~Stage() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer &&) noexcept = default;
PreTokenizer &PreTokenizer::operator=(PreTokenizer &&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

bool PreTokenizer::empty() const { return stages_.empty(); }

Expected<PreTokenizer> PreTokenizer::create(const std::vector<std::string> &patterns) {
  PreTokenizer out;
  for (const std::string &pattern : patterns) {
    int err = 0;
    PCRE2_SIZE errOffset = 0;
    auto stage = std::make_unique<Stage>();
    stage->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                PCRE2_UTF | PCRE2_UCP, &err, &errOffset, nullptr);
    if (!stage->code) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      return Error(ErrorCode::InvalidFormat, "pre-tokenizer regex '" + pattern +
                                                 "': " + reinterpret_cast<const char *>(msg) +
                                                 " at offset " + std::to_string(errOffset));
    }
    pcre2_jit_compile(stage->code, PCRE2_JIT_COMPLETE); // falls back to the interpreter
    out.stages_.push_back(std::move(stage));
  }
  return out;
}

namespace {

// Bounds backtracking, so a pathological regex from a tokenizer.json cannot hang encode; the
// built-in rules never come near it.
constexpr uint32_t kMatchLimit = 1'000'000;

struct MatchData {
  pcre2_match_data *md = pcre2_match_data_create(1, nullptr);
  pcre2_match_context *ctx = pcre2_match_context_create(nullptr);
  MatchData() { pcre2_set_match_limit(ctx, kMatchLimit); }
  ~MatchData() {
    pcre2_match_data_free(md);
    pcre2_match_context_free(ctx);
  }
};

void splitOne(pcre2_code *code, std::string_view text, std::vector<std::string_view> &out) {
  thread_local MatchData data;
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0, gapStart = 0;
  while (pos < text.size()) {
    // On no match (or the match limit) the rest of the text stays one piece.
    int rc = pcre2_match(code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, data.md, data.ctx);
    if (rc < 0)
      break;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(data.md);
    size_t b = ov[0], e = ov[1];
    if (e == b) { // an empty match: step over one character so the loop always advances
      pos = b + 1;
      while (pos < text.size() && (static_cast<uint8_t>(text[pos]) & 0xC0) == 0x80)
        ++pos;
      continue;
    }
    if (b > gapStart)
      out.push_back(text.substr(gapStart, b - gapStart));
    out.push_back(text.substr(b, e - b));
    pos = gapStart = e;
  }
  if (gapStart < text.size())
    out.push_back(text.substr(gapStart));
}

} // namespace

void PreTokenizer::split(std::string_view text, std::vector<std::string_view> &out) const {
  if (stages_.empty()) {
    if (!text.empty())
      out.push_back(text);
    return;
  }
  std::vector<std::string_view> cur{text}, next;
  for (size_t s = 0; s < stages_.size(); ++s) {
    std::vector<std::string_view> &dst = s + 1 == stages_.size() ? out : next;
    for (std::string_view piece : cur)
      splitOne(stages_[s]->code, piece, dst);
    if (s + 1 < stages_.size()) {
      cur.swap(next);
      next.clear();
    }
  }
}

} // namespace modelrt
